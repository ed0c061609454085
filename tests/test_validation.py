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


def test_an_empty_split_names_the_time_that_decided_it_and_when_the_data_was_observed():
    # The export's only snapshot before the split day was taken 26 minutes into it.
    frame = pd.DataFrame({"video_id": ["old", "new", "new"],
                          "published_at": pd.to_datetime(["2013-05-05T10:00:00Z", "2026-02-01T08:00:00Z",
                                                          "2026-02-01T08:00:00Z"]),
                          "observed_at": pd.to_datetime(["2026-01-28T00:26:00Z", "2026-02-02T03:28:00Z",
                                                         "2026-02-04T03:30:00Z"])})
    with pytest.raises(ValueError) as error:
        split_by_date(frame, "2026-01-28")
    message = str(error.value)
    assert message.startswith("split_date: 2026-01-28T00:00:00Z leaves 0 training and 2 test rows")
    assert "1 observation(s) of videos published before it were made at or after it" in message
    assert "published 2013-05-05T10:00:00Z .. 2026-02-01T08:00:00Z" in message
    assert "observed 2026-01-28T00:26:00Z .. 2026-02-04T03:30:00Z" in message
    with pytest.raises(ValueError, match=r"2030-01-01T00:00:00Z leaves 3 training and 0 test rows; the videos"):
        split_by_date(frame, "2030-01-01")
