"""Predictions for a video before or after it is published: the ``videoperf`` package's prediction API and
its command line, kept here for scripts and notebooks that know this file.

    from predict import predict_performance            # same as: from videoperf import predict_performance
    python predict.py --title "..." --tags a,b ...      # same as: videoperf predict --title "..." ...
    python predict.py ... --trajectory | --batch FILE | serve
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from videoperf.api import (
    Bundle,
    load_bundle,
    predict_batch,
    predict_many,
    predict_performance,
    predict_trajectory,
    typical_performance,
)
from videoperf.cli import legacy_predict_argv
from videoperf.cli import main as _main

__all__ = ["Bundle", "load_bundle", "main", "predict_batch", "predict_many", "predict_performance",
           "predict_trajectory", "typical_performance"]


def main(argv: Sequence[str] | None = None) -> int:
    """``videoperf predict`` / ``trajectory`` / ``batch`` / ``serve`` under this file's older options."""
    return _main(legacy_predict_argv(sys.argv[1:] if argv is None else argv), prog="predict.py")


if __name__ == "__main__":
    sys.exit(main())
