"""Built-in simulator of the YouTube Data API trending export, with ground truth.

``generate_synthetic(n_videos, seed, end=...)`` returns ``(raw, truth)``:

* ``raw`` has exactly the columns of the real trending export (``synthetic_fields.RAW_COLUMNS``), every value a
  string (``""`` = missing), one row per (video, country, fetch), so it goes through the same loader as real data.
* ``truth`` (``SyntheticTruth``) holds the generating parameters per video and the true lifecycle stage of
  every daily observation, so target derivation can be measured against it.

Generative story (chosen to resemble the real export, see ``../shared/data/README.md``):

* ~n/8 channels, each with a persistent popularity (lognormal scale), a main category, a language and
  habits (tags, captions). A video mostly uses its channel's category.
* Popularity (peak daily view rate R) = channel scale x category effect x publish hour / weekday effect x
  a mild duration effect x video noise; between-channel variation dominates, as in real data.
* Daily view rate r(t), t = age in days: ``R*exp(-g*(t_p - t))`` before the peak day ``t_p`` and
  ``R*exp(-lam*(t - t_p))`` after it. Cumulative views are the closed-form integral; the increment between
  two observations gets ~5% multiplicative noise, so views stay monotone. The lifecycle distributions are
  calibrated on the real export's observable series: most videos peak within hours (their first observed
  rate is already the highest), 12% are slow burners peaking after days (``benchmarks/lifecycle_accuracy.py``
  prints real vs simulated statistics).
* Observation: the video enters the chart at some age, then is seen once per UTC day (rare gaps) for a
  heavy-tailed number of days, in 1-5 countries per day. Each day has one fetch around 03:28 UTC; the
  country rows of a day are seconds apart and carry (nearly) the same global counts.
* Calendar: videos are published over the 182 UTC days that end on ``end``. Given an ``end``, the daily fetches
  follow the charted videos past that day, for up to a few weeks, and the seed and the end date determine the
  output (``REAL_EXPORT_END`` gives the real export's calendar). Without one the export is taken now: publishing
  ends today, no fetch lies in the future (the latest videos have short series, and one not yet fetched is not
  in the export), so a model trained on it is as fresh as one trained on a new export.

``videoperf.data.population`` is the simulator's population mode: every upload of ordinary channels, the daily
regional chart that samples them, and the channel-uploads export of all of them, from one ground truth.

True stage of an observation (the contract ``videoperf.lifecycle.targets`` is tested against): its interval is
(previous observation's age, this age], the first interval starting at age 0 (publish); the stage is
``peak`` if ``t_p`` lies in the interval, ``growth`` if ``t_p`` is after it, ``decay`` if ``t_p`` is at or
before its start.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from videoperf.data.api_export import utc_timestamp
from videoperf.data.synthetic_fields import (
    CATEGORIES,
    CATEGORY_SHARE,
    COUNTRIES,
    LANGUAGE_CODES,
    LANGUAGE_SHARE,
    channel_titles,
    country_weights,
    format_raw,
    random_ids,
    video_fields,
)

# The real export's last day (trending_2025-12-10_2026-05-31): tests and benchmarks that name dates simulate it.
REAL_EXPORT_END = "2026-05-31"
_PUBLISH_DAYS = 182  # the publishing window: the end date and the 181 days before it
# Share of videos published at each UTC hour, shaped like the real export (afternoon UTC peak).
_HOUR_SHARE = np.array([31, 15, 12, 13, 18, 22, 14, 17, 29, 37, 54, 57, 57, 66, 77, 77, 86, 73, 54, 46,
                        38, 40, 36, 31], dtype=float)
_HOUR_SHARE /= _HOUR_SHARE.sum()
_DAY = 86400.0
_INCREMENT_NOISE = 0.05  # sd of the log multiplicative noise on each observed view increment
_FETCH_CLOCK_S = 3 * 3600 + 28 * 60  # the daily fetch runs around 03:28 UTC
_LOG_PEAK_MEDIAN = 10.8  # ln of the median peak daily views (~50k/day; trending videos are popular)
# Lifecycle distributions, calibrated so that the observable series (stage patterns, rate ratios,
# first age, fitted decay) resemble the real export; see benchmarks/lifecycle_accuracy.py.
_PEAK_DAY = (0.1, 0.7, 0.03, 10.0)  # median, ln sd, min, max of the peak day
_GROWTH_K = (3.0, 6.0)  # growth rate = U(k) / peak day: the rate at publish is exp(-k) x the peak
_SLOW_PEAK = (0.12, 2.5, 0.6)  # share of slow burners, their median peak day and ln sd
_DECAY = (0.5, 0.7, 0.05, 2.0)  # median, ln sd, min, max of the decay rate per day
_ENTRY = (0.15, 1.3, 0.15)  # chart entry age = median * LN(0, sd) + share * peak day
_DAYS = (1.4, 1.0, 0.3)  # days on the chart: 1 + floor(LN(ln median + effects, sd)); decay elasticity
_COUNTRY_SPREAD_S = 91  # the country rows of a day's fetch come within this many seconds of its clock
_CLOCK_DAYS = _PUBLISH_DAYS + 240  # fetch days simulated: publishing window + longest chart life


@dataclass(frozen=True)
class SyntheticTruth:
    """Ground truth of a simulation.

    ``videos``: one row per video with ``video_id, channel_id, category_id, category_name, language,
    published_at, duration_seconds, peak_day, growth_rate, decay_rate, peak_rate, like_ratio,
    comment_ratio, channel_log_scale, n_days``. Rates are per day; ``peak_rate`` is views/day at the peak.
    ``snapshots``: one row per video per observed UTC day with ``video_id, observed_at`` (latest fetch of
    the day, tz-aware UTC), ``age_days, views, stage`` (true stage, see the module docstring).
    """

    videos: pd.DataFrame
    snapshots: pd.DataFrame


def _check_int(value: object, name: str, minimum: int | None) -> int:
    """Return ``value`` as int, or raise ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        # ValueError (not TypeError) by the project contract: bad input always gets a ValueError.
        raise ValueError(f"{name} must be an int, got {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def end_day(end: str | date | None = None) -> pd.Timestamp:
    """The last publishing day of a simulation, midnight UTC: ``end``'s UTC date, today's without one."""
    if end is None:
        return pd.Timestamp.now(tz="UTC").normalize()
    if not isinstance(end, (str, date, np.datetime64)):
        raise ValueError(f"end: expected a date such as {REAL_EXPORT_END!r}, got {type(end).__name__}")
    stamp = utc_timestamp(end, "end", "a date")
    # The clock runs in epoch seconds from half a year before the end to months after it: kept after 1970 and far
    # from the end of pandas' nanosecond timestamps (2262).
    if not 1971 <= stamp.year <= 2200:
        raise ValueError(f"end: {stamp.date()} is outside 1971-2200")
    return stamp.normalize()


def window_start(end: str | date | None = None) -> pd.Timestamp:
    """The first publishing day (midnight UTC) of the window that ends on ``end`` (``end_day``)."""
    return end_day(end) - pd.Timedelta(days=_PUBLISH_DAYS - 1)


def _cumulative_views(t: np.ndarray, tp: np.ndarray, g: np.ndarray, lam: np.ndarray,
                      peak: np.ndarray) -> np.ndarray:
    """Closed-form integral from 0 to ``t`` of the rise-peak-decay daily rate."""
    before = peak / g * (np.exp(-g * (tp - np.minimum(t, tp))) - np.exp(-g * tp))
    after = peak / lam * (-np.expm1(-lam * np.maximum(t - tp, 0.0)))
    return before + after


def _make_channels(rng: np.random.Generator, n_channels: int) -> pd.DataFrame:
    """Channels with persistent popularity, main category, language and habits."""
    cat = rng.choice(len(CATEGORIES), size=n_channels, p=CATEGORY_SHARE)
    lang = rng.choice(len(LANGUAGE_CODES), size=n_channels, p=LANGUAGE_SHARE)
    titles = channel_titles(rng, cat)
    return pd.DataFrame({
        "channel_id": random_ids(rng, n_channels, 22, "UC"),
        "channel_title": titles,
        "cat": cat,
        "lang": lang,
        # ln-scale popularity; sd 1.4 makes the channel the dominant source of variance in log views.
        "log_scale": rng.normal(0.0, 1.4, n_channels),
        "like_mult": rng.lognormal(0.0, 0.35, n_channels),
        "p_tags": rng.beta(4, 1.3, n_channels),
        "p_caption": rng.beta(1, 5, n_channels),
    })


def _make_videos(rng: np.random.Generator, ch: pd.DataFrame, n: int, start: pd.Timestamp,
                 chan: np.ndarray | None = None) -> pd.DataFrame:
    """Per-video content, publish time (in the window from ``start``) and lifecycle parameters; ``chan``: each
    video's channel (default random)."""
    chan = rng.integers(0, len(ch), size=n) if chan is None else chan
    own_cat = rng.random(n) < 0.85
    cat = np.where(own_cat, ch["cat"].to_numpy()[chan], rng.choice(len(CATEGORIES), size=n, p=CATEGORY_SHARE))
    cat_tab = pd.DataFrame(CATEGORIES).iloc[cat].reset_index(drop=True)
    day = rng.integers(0, _PUBLISH_DAYS, size=n)
    hour = rng.choice(24, size=n, p=_HOUR_SHARE)
    pub_s = (start.value // 10**9 + day * 86400 + hour * 3600
             + rng.integers(0, 3600, size=n)).astype(np.int64)
    pub = pd.to_datetime(pub_s, unit="s", utc=True)
    shorts = rng.random(n) < 0.12
    duration = np.where(shorts, rng.integers(10, 61, size=n),
                        np.round(cat_tab[5].to_numpy(float) * rng.lognormal(0, 0.6, n))).astype(np.int64)
    duration = np.maximum(duration, 5)
    # Publish-time effects: afternoon UTC and Friday-Sunday releases reach more viewers.
    hour_eff = 0.25 * np.cos(2 * np.pi * (hour - 15) / 24)
    weekday_eff = np.where(pub.day_of_week >= 4, 0.12, 0.0)
    dur_eff = -0.08 * np.abs(np.log(duration / 400.0))  # very short or very long reaches fewer people
    log_peak = (_LOG_PEAK_MEDIAN + ch["log_scale"].to_numpy()[chan] + cat_tab[3].to_numpy(float) + hour_eff
                + weekday_eff + dur_eff + rng.normal(0, 0.6, n))
    # Most videos peak within hours; a minority of slow burners (e.g. songs catching on) after days.
    slow = rng.random(n) < _SLOW_PEAK[0]
    fast_peak = _PEAK_DAY[0] * rng.lognormal(0, _PEAK_DAY[1], n)
    slow_peak = _SLOW_PEAK[1] * rng.lognormal(0, _SLOW_PEAK[2], n)
    peak_day = np.clip(cat_tab[6].to_numpy(float) * np.where(slow, slow_peak, fast_peak), _PEAK_DAY[2], _PEAK_DAY[3])
    decay = np.clip(_DECAY[0] * cat_tab[7].to_numpy(float) * rng.lognormal(0, _DECAY[1], n),
                    _DECAY[2], _DECAY[3])
    # The growth rate scales with 1/peak_day so that the rate at publish is 0.25-5% of the peak.
    growth = np.clip(rng.uniform(_GROWTH_K[0], _GROWTH_K[1], n) / peak_day, 0.3, 60.0)
    like_ratio = np.clip(cat_tab[4].to_numpy(float) * ch["like_mult"].to_numpy()[chan]
                         * rng.lognormal(0, 0.25, n), 0.001, 0.3)
    return pd.DataFrame({
        "video_id": random_ids(rng, n, 11), "chan": chan, "channel_id": ch["channel_id"].to_numpy()[chan],
        "cat": cat, "category_id": cat_tab[0].to_numpy(), "category_name": cat_tab[1].to_numpy(),
        "language": np.array(LANGUAGE_CODES)[ch["lang"].to_numpy()[chan]], "published_at": pub,
        "pub_s": pub_s, "duration_seconds": duration, "peak_day": peak_day, "growth_rate": growth,
        "decay_rate": decay, "peak_rate": np.exp(log_peak), "like_ratio": like_ratio,
        "comment_ratio": like_ratio * rng.uniform(0.02, 0.12, n),
        "channel_log_scale": ch["log_scale"].to_numpy()[chan],
    })


def _observation_days(rng: np.random.Generator, v: pd.DataFrame,
                      clock: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per video: how many UTC days it is on the chart; per observation: its day index in ``clock``.

    ``clock[d]`` is the fetch time (epoch seconds) of day ``d`` counted from the publishing start.
    """
    n = len(v)
    # Popular and slowly decaying videos stay on the chart longer; lognormal gives the heavy tail.
    pop = (np.log(v["peak_rate"].to_numpy()) - _LOG_PEAK_MEDIAN) / 1.6
    mu = np.log(_DAYS[0]) + 0.35 * pop - _DAYS[2] * np.log(v["decay_rate"].to_numpy() / _DECAY[0])
    n_days = np.clip(1 + np.floor(rng.lognormal(mu, _DAYS[1])), 1, 30).astype(np.int64)
    # Entry age correlates with the peak day: videos chart when they gain momentum.
    entry = np.clip(_ENTRY[0] * rng.lognormal(0, _ENTRY[1], n) + _ENTRY[2] * v["peak_day"].to_numpy(),
                    0.02, 8.0)
    entry_s = v["pub_s"].to_numpy() + entry * _DAY
    first_day = np.searchsorted(clock, entry_s)  # first daily fetch after entering the chart
    owner = np.repeat(np.arange(n), n_days)
    step = np.where(rng.random(len(owner)) < 0.015, 1 + rng.geometric(0.5, len(owner)), 1)
    step[np.r_[0, np.cumsum(n_days)[:-1]]] = 0  # first observation of each video
    cum = np.cumsum(step)
    day = first_day[owner] + cum - np.repeat(cum[np.r_[0, np.cumsum(n_days)[:-1]]], n_days)
    return n_days, np.minimum(day, len(clock) - 1)


def _fetch_clock(rng: np.random.Generator, start: pd.Timestamp) -> np.ndarray:
    """Epoch seconds of the daily fetch (~03:28 UTC, minutes of jitter) for each simulated day from ``start``."""
    return (start.value / 1e9 + np.arange(_CLOCK_DAYS) * _DAY + _FETCH_CLOCK_S
            + rng.normal(0, 8 * 60, _CLOCK_DAYS) + rng.uniform(0, 1, _CLOCK_DAYS))


def _country_rows(rng: np.random.Generator, lang: np.ndarray,
                  pop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """1-5 distinct countries per observation: (observation index, country index) of each raw row.

    Countries are mostly where the channel's language is spoken; popular videos chart in more of them.
    """
    weights = country_weights()
    k = np.clip(1 + rng.poisson(np.exp(-0.4 + 0.5 * pop)), 1, 5)
    # Gumbel top-k: a vectorised weighted sample without replacement.
    keys = np.log(weights[lang]) + rng.gumbel(size=(len(lang), len(COUNTRIES)))
    row_obs = np.repeat(np.arange(len(lang)), k)
    slot = np.arange(len(row_obs)) - np.repeat(np.cumsum(k) - k, k)
    return row_obs, np.argsort(-keys, axis=1)[row_obs, slot]


def generate_synthetic(n_videos: int, seed: int = 0, *, end: str | date | None = None
                       ) -> tuple[pd.DataFrame, SyntheticTruth]:
    """Simulate ``n_videos`` trending videos published up to ``end`` (a UTC date; default today); return
    ``(raw, truth)``.

    ``raw`` has ``synthetic_fields.RAW_COLUMNS``, all strings, one row per (video, country, fetch); ``truth`` is
    a ``SyntheticTruth``. The same ``seed`` and ``end`` give identical output. Raises ``ValueError`` for a
    non-int, bool or non-positive ``n_videos``, a non-int / negative ``seed`` or an ``end`` that is no date.
    """
    n_videos = _check_int(n_videos, "n_videos", 1)
    seed = _check_int(seed, "seed", 0)
    start = window_start(end)
    rng = np.random.default_rng(seed)
    ch = _make_channels(rng, max(1, round(n_videos / 8)))
    v = _make_videos(rng, ch, n_videos, start)
    # One fetch per UTC day (same clock for all videos, minutes of jitter); countries are fetched in a
    # fixed order a few seconds apart, and rows within a country microseconds apart.
    clock = _fetch_clock(rng, start)
    n_days, day = _observation_days(rng, v, clock)
    if end is None:
        n_days, day = _fetched_before(n_days, day, clock, pd.Timestamp.now(tz="UTC"))
    owner = np.repeat(np.arange(n_videos), n_days)
    country_offset = np.sort(rng.uniform(0, _COUNTRY_SPREAD_S - 1, len(COUNTRIES)))
    pop = (np.log(v["peak_rate"].to_numpy()) - _LOG_PEAK_MEDIAN) / 1.6
    lang_idx = pd.Index(LANGUAGE_CODES).get_indexer(v["language"].to_numpy()[owner])
    row_obs, country = _country_rows(rng, lang_idx, pop[owner])
    fetch_s = clock[day][row_obs] + country_offset[country] + rng.uniform(0, 2e-3, len(row_obs))
    fetch_s = np.round(fetch_s * 1e6) / 1e6  # the export has microsecond timestamps
    latest_s = pd.Series(fetch_s).groupby(row_obs).max().to_numpy()

    # The age of each observation is that of the day's latest fetch, as the canonical loader keeps it.
    age = (latest_s - v["pub_s"].to_numpy()[owner]) / _DAY
    first = np.r_[True, owner[1:] != owner[:-1]]
    p = {c: v[c].to_numpy()[owner] for c in ("peak_day", "growth_rate", "decay_rate", "peak_rate")}
    views, likes, comments = _daily_counts(rng, v, owner, first, age, p)

    # Earlier country rows of the same day carry the count of their own (slightly earlier) moment.
    rate_now = p["peak_rate"] * np.exp(np.where(age < p["peak_day"], -p["growth_rate"], p["decay_rate"])
                                       * (p["peak_day"] - age))
    lag_days = (latest_s[row_obs] - fetch_s) / _DAY
    prev_views = np.where(first, 0.0, np.r_[0.0, views[:-1]])
    row_views = np.maximum(views[row_obs] - np.floor(rate_now[row_obs] * lag_days), prev_views[row_obs])

    tp = p["peak_day"]
    prev_age = np.where(first, 0.0, np.r_[0.0, age[:-1]])
    stage = np.where(tp > age, "growth", np.where(tp > prev_age, "peak", "decay"))
    observed_at = pd.to_datetime(np.round(latest_s * 1e6).astype(np.int64), unit="us", utc=True)
    snapshots = pd.DataFrame({"video_id": v["video_id"].to_numpy()[owner], "observed_at": observed_at,
                              "age_days": age, "views": views, "stage": stage})
    raw = format_raw(video_fields(rng, v, ch), owner[row_obs], country, fetch_s, row_views,
                      likes[row_obs], comments[row_obs])
    videos = v.drop(columns=["chan", "cat", "pub_s"]).assign(n_days=n_days)
    videos = videos[n_days > 0].reset_index(drop=True)  # only videos the export has seen
    return raw, SyntheticTruth(videos=videos, snapshots=snapshots)


def _fetched_before(n_days: np.ndarray, day: np.ndarray, clock: np.ndarray, cut: pd.Timestamp
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The observations whose day's fetches (the country rows come up to ``_COUNTRY_SPREAD_S`` after the clock)
    all happened before ``cut``; each video keeps a prefix of its days, possibly none."""
    keep = clock[day] + _COUNTRY_SPREAD_S < cut.value / 1e9
    owner = np.repeat(np.arange(len(n_days)), n_days)
    return np.bincount(owner[keep], minlength=len(n_days)), day[keep]


def _daily_counts(rng: np.random.Generator, v: pd.DataFrame, owner: np.ndarray, first: np.ndarray,
                  age: np.ndarray, p: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views, likes and comments at each observation: the true curve with noisy increments, monotone."""
    true_cum = _cumulative_views(age, p["peak_day"], p["growth_rate"], p["decay_rate"], p["peak_rate"])
    inc = np.diff(true_cum, prepend=0.0)
    inc[first] = true_cum[first]
    noise = rng.lognormal(-_INCREMENT_NOISE**2 / 2, _INCREMENT_NOISE, len(owner))  # mean-one noise
    views = np.floor(_video_cumsum(inc * noise, np.flatnonzero(first)))
    like_r = v["like_ratio"].to_numpy()[owner] * rng.lognormal(0, 0.02, len(owner))
    # Likes and comments are cumulative too: never let noise make them go down.
    likes = pd.Series(np.floor(views * like_r)).groupby(owner).cummax().to_numpy()
    comments = np.floor(views * v["comment_ratio"].to_numpy()[owner] * rng.lognormal(0, 0.05, len(owner)))
    comments = pd.Series(comments).groupby(owner).cummax().to_numpy()
    return views, likes, comments


def _video_cumsum(x: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting at each video's first observation."""
    cs = np.cumsum(x)
    before = np.r_[0.0, cs[starts[1:] - 1]]
    return cs - np.repeat(before, np.diff(np.r_[starts, len(x)]))


