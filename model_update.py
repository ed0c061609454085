"""Training, evaluation and calibration: the ``videoperf`` package's training API and its command line, kept
here for scripts and notebooks that know this file.

    import model_update; model_update.train("synthetic")        # same as: videoperf.train("synthetic")
    python model_update.py train --data SOURCE --speed fast     # same as: videoperf train --data SOURCE ...
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from videoperf.api import (
    build_targets,
    calibrate,
    calibration_check,
    evaluate,
    fit,
    generate_synthetic,
    load_data,
    save,
    simulated_uploads,
    train,
)
from videoperf.cli import main as _main

__all__ = ["build_targets", "calibrate", "calibration_check", "evaluate", "fit", "generate_synthetic", "load_data",
           "main", "save", "simulated_uploads", "train"]


def main(argv: Sequence[str] | None = None) -> int:
    """``videoperf train`` / ``evaluate`` / ``calibrate`` (and the other subcommands) under this file's name."""
    return _main(argv, prog="model_update.py")


if __name__ == "__main__":
    sys.exit(main())
