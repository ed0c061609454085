"""Predict how a YouTube video will perform: views at any age, like ratio, lifecycle stage, peak and decay.

    import videoperf
    videoperf.train("synthetic", speed="fast", artifacts_dir="A")
    videoperf.predict_performance(title="...", tags=["a"], categories=["Music"], duration_seconds=600,
                                  channel_avg_views=50000, channel_video_count=25, artifacts_dir="A")

The names below come from ``videoperf.api`` on first use, so ``import videoperf`` stays cheap. The layers are
subpackages, lowest first: ``data``, ``lifecycle``, ``features``, ``models``, ``forecasting``, ``training``,
``evaluation``, ``serving``, ``distributed``, ``notebook`` (``docs/architecture.md``).
"""

import os
from typing import Any

# torch's OpenMP runtime busy-waits by default. On a shared 2-core machine a second busy process then stalls
# every parallel region; passive waiting costs nothing measurable alone. It must be set before torch is first
# imported, hence here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = ["Bundle", "build_targets", "calibrate", "calibration_check", "evaluate", "fit", "generate_synthetic",
           "load_bundle", "load_data", "predict_batch", "predict_many", "predict_performance", "predict_trajectory",
           "save", "simulated_uploads", "train", "typical_performance"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from videoperf import api

        return getattr(api, name)
    raise AttributeError(f"module 'videoperf' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
