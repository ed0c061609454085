"""Lifecycle targets from each video's daily snapshot series: the one place where their rules live.

Input: the canonical snapshot table, one row per video per UTC day of observation, with at least
``video_id, observed_at, published_at, views, likes`` (timestamps tz-aware UTC, counts numeric).
Output of ``build_targets``: one row per input row, sorted by ``(video_id, observed_at)``, with
``OUTPUT_COLUMNS``. Video-level targets are repeated on every row of the video; a target the series
cannot determine is NaN, never a guess.

Rules (a contract; ``tests/test_lifecycle.py`` pins them and measures them on the simulator's truth):

1. ``age_days`` = (observed_at - published_at) in days. Observation i covers the interval
   (age_{i-1}, age_i]; the first interval starts at publish (age 0, views 0).
2. ``daily_rate`` = (views_i - views_{i-1}) / (age_i - age_{i-1}); for the first point views / age.
   Negative increments (YouTube recounts) are clipped to 0. An interval of zero or negative length, or
   a missing count, gives NaN. ``log_views`` = log1p(views).
3. ``lifecycle_stage``: the peak observation is the first argmax of the rate. It is *confirmed* when a
   later observation's rate is below ``(1 - peak_tolerance)`` x the maximum (``PEAK_TOLERANCE`` = 5%,
   so that day-to-day noise does not confirm a peak). Rates are interval averages, and growth is
   usually much faster than decay, so when the true peak falls late in an interval the *next* interval
   (all decay, starting near the peak) has the higher average. Hence: if at least 2 positive rates
   follow the argmax, a log-linear line is fitted to them (as in rule 5), and if the argmax interval is
   not more than ``decay_line_tol`` (``DECAY_LINE_TOL`` = 0.15 in log rate) below that line
   extrapolated to its midpoint, the argmax interval is itself pure decay and the peak moves to the
   interval before it (never before the first). With a confirmed peak: earlier points ``growth``, the
   peak point ``peak``, later points ``decay``. Without one (the rate is still at its maximum, up to
   the tolerance, at the last point): all points ``growth``. A single observation, or a video without
   a usable rate, has NaN stage: one point cannot show a trend.
   The true stage this approximates: ``peak`` if the true peak day lies in the interval, ``growth`` if
   it comes after it, ``decay`` if it is at or before the interval's start.
4. ``time_to_peak_days``: the midpoint of the peak interval, only when the peak is confirmed and that
   interval is at most ``MAX_PEAK_INTERVAL_DAYS`` (1.5) long; else NaN (e.g. a video that entered the
   chart already past its peak has a long first interval, so its peak time is unknown).
5. ``decay_rate`` (per day): minus the least-squares slope of log(rate) on the interval midpoints, over
   the intervals strictly after the peak interval (the peak interval mixes growth and decay) with a
   positive rate; at least 2 such intervals are needed, else NaN. For an exponential decay
   r(t) = R exp(-lam t), interval averages over equal-length intervals are exactly log-linear in the
   midpoint with slope -lam. It can be negative when views pick up again after the peak.
6. ``like_ratio``: likes / views at the video's last observation, clipped to [0, 1]; NaN when views is
   0 or missing or likes is missing.
7. ``n_observations``: the number of observations of the video.

Everything is vectorised (groupby sums and transforms), no Python loop over videos.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

STAGES: tuple[str, str, str] = ("growth", "peak", "decay")
PEAK_TOLERANCE = 0.05
MAX_PEAK_INTERVAL_DAYS = 1.5
DECAY_LINE_TOL = 0.15
REQUIRED_COLUMNS: tuple[str, ...] = ("video_id", "observed_at", "published_at", "views", "likes")
OUTPUT_COLUMNS: tuple[str, ...] = (
    "video_id", "observed_at", "age_days", "views", "log_views", "daily_rate", "like_ratio",
    "lifecycle_stage", "time_to_peak_days", "decay_rate", "n_observations",
)
_DAY_SECONDS = 86400.0


def _validate(snapshots: pd.DataFrame, peak_tolerance: float, max_peak_interval_days: float) -> None:
    """Raise ValueError naming the argument for input that the rules cannot handle."""
    if not isinstance(snapshots, pd.DataFrame):
        raise ValueError(f"snapshots must be a pandas DataFrame, got {type(snapshots).__name__}")
    missing = [c for c in REQUIRED_COLUMNS if c not in snapshots.columns]
    if missing:
        raise ValueError(f"snapshots is missing columns {missing}")
    for col in ("observed_at", "published_at"):
        dtype = snapshots[col].dtype
        if not isinstance(dtype, pd.DatetimeTZDtype):
            raise ValueError(f"snapshots[{col!r}] must be tz-aware UTC datetimes, got dtype {dtype}")
    if snapshots.duplicated(["video_id", "observed_at"]).any():
        raise ValueError("snapshots has duplicate (video_id, observed_at) rows; expected one row per "
                         "video per observation")
    if not 0.0 <= peak_tolerance < 1.0:
        raise ValueError(f"peak_tolerance must be in [0, 1), got {peak_tolerance}")
    if not max_peak_interval_days > 0:
        raise ValueError(f"max_peak_interval_days must be > 0, got {max_peak_interval_days}")


def build_targets(snapshots: pd.DataFrame, *, peak_tolerance: float = PEAK_TOLERANCE,
                  max_peak_interval_days: float = MAX_PEAK_INTERVAL_DAYS,
                  decay_line_tol: float = DECAY_LINE_TOL) -> pd.DataFrame:
    """Derive the lifecycle targets (see the module docstring) for every observation.

    Returns a new DataFrame with ``OUTPUT_COLUMNS``, one row per input row, sorted by
    ``(video_id, observed_at)`` with a fresh index. Raises ``ValueError`` on missing columns,
    non-tz-aware timestamps or duplicate ``(video_id, observed_at)`` rows.
    """
    _validate(snapshots, peak_tolerance, max_peak_interval_days)
    df = (snapshots.loc[:, list(REQUIRED_COLUMNS)]
          .sort_values(["video_id", "observed_at"], kind="stable").reset_index(drop=True))
    if df.empty:
        return pd.DataFrame({c: pd.Series(dtype=_empty_dtype(c, df)) for c in OUTPUT_COLUMNS})

    codes = pd.factorize(df["video_id"])[0]  # sorted, so each video is one contiguous block
    first = np.r_[True, codes[1:] != codes[:-1]]
    views = pd.to_numeric(df["views"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    likes = pd.to_numeric(df["likes"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    age = (df["observed_at"] - df["published_at"]).dt.total_seconds().to_numpy(float) / _DAY_SECONDS

    # Rule 2: interval rates; the first interval starts at publish with zero views.
    prev_age = np.where(first, 0.0, np.r_[np.nan, age[:-1]])
    prev_views = np.where(first, 0.0, np.r_[np.nan, views[:-1]])
    span = age - prev_age
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(span > 0, np.clip(views - prev_views, 0.0, None) / span, np.nan)
    mid = (prev_age + age) / 2.0

    grp = pd.Series(codes)
    pos = grp.groupby(codes).cumcount().to_numpy()
    n_obs = grp.groupby(codes).transform("size").to_numpy()
    finite = np.isfinite(rate)
    rate_or_low = np.where(finite, rate, -np.inf)
    rmax = _per_video_max(rate_or_low, codes)

    # Rule 3: first argmax of the rate, confirmed by a clearly lower later rate.
    peak_pos = (pd.Series(np.where(finite & (rate_or_low == rmax), pos, np.iinfo(np.int64).max))
                .groupby(codes).transform("min").to_numpy())
    later_lower = (pos > peak_pos) & finite & (rate < rmax * (1.0 - peak_tolerance))
    confirmed = pd.Series(later_lower).groupby(codes).transform("any").to_numpy()
    has_rate = np.isfinite(rmax)
    positive = finite & (rate > 0)

    # Rule 3b: interval averages shift the argmax one interval late when the peak falls near the end
    # of an interval and decay is slow: the next interval, all decay but starting at the peak, then has
    # the higher average. Such an argmax interval lies on the decay line of the intervals after it;
    # one that contains the peak lies clearly below it (its growth part lowers the average).
    after = confirmed & (pos > peak_pos) & positive
    n_after, slope, xbar, ybar = _loglinear_fit(after, mid, rate, codes)
    mid_peak = _per_video_max(np.where(pos == peak_pos, mid, np.nan), codes)
    line_at_peak = ybar[codes] + slope[codes] * (mid_peak - xbar[codes])
    with np.errstate(divide="ignore", invalid="ignore"):
        on_decay_line = np.log(rmax) >= line_at_peak - decay_line_tol
    shift = confirmed & (n_after[codes] >= 2) & (peak_pos > 0) & on_decay_line
    peak_pos = peak_pos - shift

    stage = np.where(pos < peak_pos, STAGES[0], np.where(pos == peak_pos, STAGES[1], STAGES[2]))
    stage = np.where(confirmed, stage, STAGES[0]).astype(object)
    stage[(n_obs < 2) | ~has_rate] = None

    # Rule 4: the peak interval's midpoint, when the interval is short enough to locate the peak.
    at_peak = confirmed & (pos == peak_pos) & (span <= max_peak_interval_days)
    ttp = _per_video_max(np.where(at_peak, mid, np.nan), codes)

    # Rule 5: log-linear least squares on the intervals after the peak interval.
    n_fit, slope, _, _ = _loglinear_fit(confirmed & (pos > peak_pos) & positive, mid, rate, codes)
    decay = np.where(n_fit >= 2, -slope, np.nan)[codes]

    # Rule 6: like ratio at the last observation.
    last = np.r_[codes[1:] != codes[:-1], True]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio_last = np.where(views[last] > 0, np.clip(likes[last] / views[last], 0.0, 1.0), np.nan)
    like_ratio = ratio_last[codes]

    with np.errstate(invalid="ignore"):
        log_views = np.log1p(views)  # negative counts (the loader drops them) give NaN, not an error
    out = pd.DataFrame({
        "video_id": df["video_id"], "observed_at": df["observed_at"], "age_days": age, "views": views,
        "log_views": log_views, "daily_rate": rate, "like_ratio": like_ratio,
        "lifecycle_stage": pd.Series(stage, dtype="object"), "time_to_peak_days": ttp,
        "decay_rate": decay, "n_observations": n_obs.astype(np.int64),
    })
    return out.loc[:, list(OUTPUT_COLUMNS)]


def log_views(snapshots: pd.DataFrame) -> np.ndarray:
    """``log1p`` of each row's views (negative counts as 0): what the view models are fitted on."""
    return np.log1p(snapshots["views"].to_numpy(float).clip(0, None))


def _per_video_max(values: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Each row gets the maximum of ``values`` over its video (NaN when all are NaN)."""
    return pd.Series(values).groupby(codes).transform("max").to_numpy()


def _loglinear_fit(mask: np.ndarray, x: np.ndarray, rate: np.ndarray,
                   codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per video least squares of log(rate) on x over the masked rows, from group sums (vectorised).

    Returns per-video arrays (indexed by code): n, slope (NaN when n < 2 or x is constant), mean x,
    mean log rate.
    """
    xm = np.where(mask, x, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ym = np.where(mask, np.log(np.where(mask, rate, 1.0)), 0.0)
    sums = (pd.DataFrame({"n": mask.astype(float), "x": xm, "y": ym, "xx": xm * xm, "xy": xm * ym})
            .groupby(codes).sum())
    n = sums["n"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        xbar = sums["x"].to_numpy() / n
        ybar = sums["y"].to_numpy() / n
        sxx = sums["xx"].to_numpy() - n * xbar**2
        sxy = sums["xy"].to_numpy() - n * xbar * ybar
        slope = np.where((n >= 2) & (sxx > 1e-12), sxy / sxx, np.nan)
    return n, slope, xbar, ybar


def _empty_dtype(column: str, df: pd.DataFrame) -> object:
    """dtype of an output column for an empty input, so that empty output still concatenates cleanly."""
    if column in ("video_id", "observed_at"):
        return df[column].dtype
    if column == "lifecycle_stage":
        return "object"
    return "int64" if column == "n_observations" else "float64"


def score_against_truth(targets: pd.DataFrame, truth_snapshots: pd.DataFrame,
                        truth_videos: pd.DataFrame, *, min_days: int = 3) -> dict[str, float]:
    """Measure ``build_targets`` output against simulator truth (``videoperf.data.synthetic.SyntheticTruth``).

    Returns stage accuracy on the observations of videos with at least ``min_days`` observations,
    the share of videos whose ``time_to_peak_days`` is within 1 day of the true peak day (where
    defined), the median relative error of ``decay_rate`` (where defined), and how many videos get
    each target.
    """
    keys = ["video_id", "observed_at"]
    obs = targets.merge(truth_snapshots[[*keys, "stage"]], on=keys, how="inner", validate="one_to_one")
    if len(obs) != len(targets):
        raise ValueError(f"targets has {len(targets)} rows but only {len(obs)} match truth_snapshots")
    sel = obs["n_observations"] >= min_days
    videos = obs.groupby("video_id", sort=False).tail(1).merge(
        truth_videos[["video_id", "peak_day", "decay_rate"]], on="video_id", suffixes=("", "_true"))
    ttp = videos["time_to_peak_days"].notna()
    dec = videos["decay_rate"].notna()
    fitted, true = videos.loc[dec, "decay_rate"], videos.loc[dec, "decay_rate_true"]
    rel = (fitted - true).abs() / true
    return {
        "n_videos": float(len(videos)),
        "n_observations": float(len(obs)),
        "stage_accuracy_min_days": float(
            (obs.loc[sel, "lifecycle_stage"] == obs.loc[sel, "stage"]).mean()),
        "stage_accuracy_all_labelled": float(
            (obs["lifecycle_stage"] == obs["stage"])[obs["lifecycle_stage"].notna()].mean()),
        "n_obs_min_days": float(sel.sum()),
        "n_videos_with_stage": float(videos["lifecycle_stage"].notna().sum()),
        "n_videos_with_time_to_peak": float(ttp.sum()),
        "time_to_peak_within_1_day": float(
            ((videos.loc[ttp, "time_to_peak_days"] - videos.loc[ttp, "peak_day"]).abs() <= 1.0).mean()),
        "time_to_peak_mae_days": float(
            (videos.loc[ttp, "time_to_peak_days"] - videos.loc[ttp, "peak_day"]).abs().mean()),
        "n_videos_with_decay_rate": float(dec.sum()),
        "decay_rate_median_rel_error": float(rel.median()),
    }
