import numpy as np
import pandas as pd
import pytest

from videoperf.data.splits import forward_chaining_splits, split_by_date


def _frame(n_videos: int = 20, rows_per_video: int = 3) -> pd.DataFrame:
    start = pd.Timestamp("2026-01-01", tz="UTC")
    rows = []
    for v in range(n_videos):
        published = start + pd.Timedelta(days=v)
        for r in range(rows_per_video):
            rows.append({"video_id": f"v{v:02d}", "published_at": published,
                         "observed_at": published + pd.Timedelta(days=r + 1)})
    # Shuffle so that nothing relies on the input order.
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0).reset_index(drop=True)


def test_forward_chaining_is_time_ordered_and_keeps_videos_whole():
    frame = _frame()
    splits = forward_chaining_splits(frame, n_splits=3, min_train_fraction=0.4)
    assert len(splits) == 3
    previous_valid_end = None
    for train, valid in splits:
        assert len(np.intersect1d(train, valid)) == 0
        train_videos = set(frame.loc[train, "video_id"])
        valid_videos = set(frame.loc[valid, "video_id"])
        assert not train_videos & valid_videos
        assert frame.loc[train, "published_at"].max() < frame.loc[valid, "published_at"].min()
        # every row of a validation video is in the fold
        assert len(valid) == 3 * len(valid_videos)
        if previous_valid_end is not None:
            assert frame.loc[valid, "published_at"].min() > previous_valid_end
        previous_valid_end = frame.loc[valid, "published_at"].max()
    # the first 40% (8 videos) only ever train; folds cover the other 12
    assert len(set(frame.loc[splits[0][0], "video_id"])) == 8
    assert sum(len(set(frame.loc[v, "video_id"])) for _, v in splits) == 12


def test_forward_chaining_refuses_bad_arguments():
    with pytest.raises(ValueError, match="n_splits"):
        forward_chaining_splits(_frame(), n_splits=0)
    with pytest.raises(ValueError, match="too few"):
        forward_chaining_splits(_frame(n_videos=3), n_splits=4)


def test_split_by_date_truncates_training_observations():
    frame = _frame()
    train, test = split_by_date(frame, "2026-01-11")
    assert train["published_at"].max() < pd.Timestamp("2026-01-11", tz="UTC")
    assert test["published_at"].min() >= pd.Timestamp("2026-01-11", tz="UTC")
    assert train["observed_at"].max() < pd.Timestamp("2026-01-11", tz="UTC")
    assert set(test["video_id"]) == {f"v{v:02d}" for v in range(10, 20)}
    with pytest.raises(ValueError, match="split_date"):
        split_by_date(frame, "not a date")
    with pytest.raises(ValueError, match="split_date"):
        split_by_date(frame, "2030-01-01")
