"""Calibrating a saved bundle to the user's own channels, and checking what calibration buys on later videos.

The data-loading modules are imported inside the functions: importing this module loads no training code.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from videoperf.models.calibration import MIN_VIDEOS, ChannelCalibration
from videoperf.serving.bundle import Bundle, clear_cache, resolve_folder
from videoperf.serving.rules import check_model_type, checked

MIN_CALIBRATION_HISTORY = 10  # earlier videos of its channel a video needs to calibrate a bundle (see calibrate)


def calibrate(artifacts_dir: str | Path | None, data: str | Path | pd.DataFrame, *,
              models: Sequence[str] | str | None = None, method: str = "offset", shrinkage: float = 5.0,
              observed_at: str | None = None) -> dict[str, Any]:
    """Calibrate the bundle of ``artifacts_dir`` to the channels of ``data`` (e.g. a channel-uploads export of the
    user's earlier videos) and store the calibration in the bundle; ``predict_*`` use it from then on.

    Each video of ``data`` is predicted at every observation, with channel history as of its publish time from
    ``data`` (videos whose channel had fewer than ``MIN_CALIBRATION_HISTORY`` earlier videos are left out when
    enough others remain); a ``videoperf.models.calibration.ChannelCalibration`` per model type (default: every model
    of the bundle) learns how those predictions map to the actual views. Returns the description the manifest records
    (``to``, videos, the mean log error before and after, in sample).
    """
    from videoperf.data.sources import as_snapshots, data_fingerprint

    folder = resolve_folder(artifacts_dir)
    bundle = Bundle.load(folder)
    types = bundle.model_types if models is None else [checked(check_model_type, m, "model_type") for m in
                                                       (models.split(",") if isinstance(models, str) else models)]
    snapshots = as_snapshots(data, observed_at)
    fitted, report = {}, {}
    for model_type in types:
        # Every observation: the videos at every age they were seen at, so the age slope is learned from young
        # and old observations alike.
        frame = bundle.predict_observed(snapshots, model_type, calibrated=False, every_observation=True)
        # Predictions are asked for videos with the channel's whole history before them; a channel's first videos
        # (little history) are in another regime of the bundle, so they calibrate only if nothing else can.
        settled = frame["channel_video_count"].to_numpy(float) >= MIN_CALIBRATION_HISTORY
        if settled.sum() >= MIN_VIDEOS:
            frame = frame[settled].reset_index(drop=True)
        predicted, actual = np.log1p(frame["predicted_views"].to_numpy(float)), np.log1p(frame["actual_views"])
        covariates = (frame["age_days"].to_numpy(float), frame["channel_video_count"].to_numpy(float))
        calibration = ChannelCalibration(shrinkage=shrinkage, method=method).fit(predicted, actual,
                                                                                 frame["channel_id"], *covariates)
        after = calibration.transform(predicted, frame["channel_id"], *covariates)
        fitted[model_type] = calibration
        report[model_type] = {**calibration.describe(), "log_bias_before": float(np.mean(predicted - actual)),
                              "log_bias_after_in_sample": float(np.mean(after - actual))}
    titles = snapshots.drop_duplicates("channel_id").set_index("channel_id")["channel_title"]
    to = f"channel {titles.iloc[0]}" if len(titles) == 1 else f"{len(titles)} channels"
    description = {"to": to, "data": data_fingerprint(snapshots), "models": report,
                   "videos": int(snapshots["video_id"].nunique()),
                   "observed_to": str(snapshots["observed_at"].max())}
    Bundle.save_calibration(folder, fitted, description)
    clear_cache()
    return description


def calibration_check(artifacts_dir: str | Path | None, data: str | Path | pd.DataFrame, *,
                      earlier_fraction: float = 0.6, min_videos: int = 20, observed_at: str | None = None
                      ) -> pd.DataFrame:
    """Before / after ``calibrate`` on the later videos of the channels of ``data``, on a copy of the bundle.

    Each channel with at least ``min_videos`` videos: its first ``earlier_fraction`` (by publish time) calibrate a
    temporary copy of the bundle (the bundle itself is left as it is), its other videos are predicted at their last
    observation, with channel history from ``data``, before and after. One row per model type.
    """
    from videoperf.data.sources import as_snapshots

    if not 0 < earlier_fraction < 1:
        raise ValueError(f"earlier_fraction: must be in (0, 1), got {earlier_fraction!r}")
    folder = resolve_folder(artifacts_dir)
    snapshots = as_snapshots(data, observed_at)
    firsts = snapshots.sort_values("published_at").drop_duplicates("video_id")
    sizes = firsts["channel_id"].value_counts()
    firsts = firsts[firsts["channel_id"].isin(sizes.index[sizes >= min_videos])]
    if firsts.empty:
        raise ValueError(f"data: no channel has {min_videos} videos (min_videos)")
    rank = firsts.groupby("channel_id").cumcount() / firsts["channel_id"].map(sizes)
    earlier = set(firsts.loc[rank < earlier_fraction, "video_id"])
    mine = snapshots[snapshots["video_id"].isin(set(firsts["video_id"]))]
    later = mine[~mine["video_id"].isin(earlier)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "bundle"
        shutil.copytree(folder, copy)
        before = Bundle.load(copy)
        raw = {model: before.predict_observed(later, model, history=mine) for model in before.model_types}
        calibrate(copy, mine[mine["video_id"].isin(earlier)])
        after = Bundle.load(copy)
        for model, frame in raw.items():
            calibrated = after.predict_observed(later, model, history=mine)
            errors = {name: np.log1p(f["predicted_views"].to_numpy(float))
                      - np.log1p(f["actual_views"].to_numpy(float))
                      for name, f in (("before", frame), ("after", calibrated))}
            rows.append({"model": model, "channels": int(firsts["channel_id"].nunique()),
                         "earlier videos": len(earlier), "later videos": int(later["video_id"].nunique()),
                         "mean log error before": float(errors["before"].mean()),
                         "mean log error after": float(errors["after"].mean()),
                         "log MAE before": float(np.abs(errors["before"]).mean()),
                         "log MAE after": float(np.abs(errors["after"]).mean())})
    return pd.DataFrame(rows).set_index("model")
