"""The live level: as of each time, from ended chart runs only, shrunk, shifting point and interval alike."""

import numpy as np
import pandas as pd
import pytest

from videoperf.evaluation.live_level import LevelSettings, RecentLevel, apply_level, ended_run_spans


def t(stamps):
    return np.array(pd.to_datetime(stamps).to_numpy(), dtype="datetime64[ns]")


def days(times):
    return (pd.Series(times).dt.tz_localize("UTC") - pd.Timestamp("2026-03-01", tz="UTC")).dt.days.tolist()


def _snapshots(rows):
    frame = pd.DataFrame(rows, columns=["video_id", "observed_at"])
    frame["observed_at"] = pd.to_datetime(frame["observed_at"], utc=True)
    return frame.sort_values(["video_id", "observed_at"]).reset_index(drop=True)


def test_a_row_counts_only_while_it_is_its_videos_latest_and_stale():
    snaps = _snapshots([("a", "2026-03-01"), ("a", "2026-03-02"), ("a", "2026-03-10"), ("b", "2026-03-05")])
    start, end = ended_run_spans(snaps, LevelSettings(gap_days=2, window_days=14))
    # a@03-01 is followed a day later: never counts; a@03-02 counts from 03-04 until a is seen again on 03-10
    assert days(start) == [2, 3, 11, 6] and days(end) == [2, 9, 25, 20]


def test_offsets_use_nothing_observed_at_or_after_the_time_asked():
    level = RecentLevel(LevelSettings(shrinkage=0.0))
    level.fit(t(["2026-03-03", "2026-03-05"]), t(["2026-03-10", "2026-03-12"]), np.array([1.0, -3.0]))
    at = pd.Series(pd.to_datetime(["2026-03-02", "2026-03-04", "2026-03-06", "2026-03-11", "2026-03-13"], utc=True))
    np.testing.assert_allclose(level.offsets(at), [0.0, 1.0, -1.0, -3.0, 0.0])


def test_shrinkage_pulls_a_thin_level_towards_zero():
    level = RecentLevel(LevelSettings(shrinkage=3.0)).fit(t(["2026-03-01"]), t(["2026-03-20"]), np.array([2.0]))
    assert level.offsets(pd.Series(pd.to_datetime(["2026-03-05"], utc=True)))[0] == pytest.approx(0.5)


def test_apply_level_shifts_point_and_interval_in_log1p():
    frame = pd.DataFrame({"predicted_views": [99.0], "views_lo": [9.0], "views_hi": [999.0]})
    out = apply_level(frame, np.array([np.log(2.0)]))
    np.testing.assert_allclose(out.to_numpy()[0], [199.0, 19.0, 1999.0])
    assert frame["predicted_views"].iloc[0] == 99.0  # the input is not changed


def test_settings_reject_nonsense():
    with pytest.raises(ValueError, match="window_days"):
        LevelSettings(window_days=0.0)
    with pytest.raises(ValueError, match="shrinkage"):
        LevelSettings(shrinkage=-1.0)
