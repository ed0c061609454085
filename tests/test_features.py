"""Features: channel history strictly from earlier videos, time-ordered target encoding, leakage guards."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from _tiny import tiny_config

from videoperf.data.sampling import balanced_rows
from videoperf.data.sources import load_data
from videoperf.data.splits import split_by_date
from videoperf.data.synthetic import REAL_EXPORT_END, generate_synthetic
from videoperf.features.builder import FEATURE_FAMILIES, FeatureBuilder, feature_families, video_table
from videoperf.features.channel_history import CHANNEL_FEATURES, ChannelHistory, channel_features, mask_optional_stats
from videoperf.features.target_encoding import TokenTargetEncoder
from videoperf.lifecycle.metrics import last_observation, r2
from videoperf.models.registry import FAMILIES
from videoperf.training.pipeline import prepare_snapshots, train_models
from videoperf.training.settings import resolve

DAY = pd.Timedelta(days=1)
T0 = pd.Timestamp("2026-01-01", tz="UTC")


def _snap(video: str, channel: str, published_day: float, observations: list[tuple[float, float]],
          likes_ratio: float = 0.05) -> list[dict]:
    return [{"video_id": video, "channel_id": channel, "published_at": T0 + published_day * DAY,
             "observed_at": T0 + day * DAY, "views": views, "likes": views * likes_ratio}
            for day, views in observations]


@pytest.fixture(scope="module")
def tiny():
    return tiny_config()


@pytest.fixture(scope="module")
def sim():
    raw, _ = generate_synthetic(900, seed=11, end=REAL_EXPORT_END)
    return prepare_snapshots(load_data(raw))


def test_channel_history_uses_only_observations_before_publishing():
    rows = (_snap("a", "c", 0, [(1, 100), (3, 300)]) + _snap("b", "c", 2, [(2.5, 1000)])
            + _snap("x", "other", 0, [(1, 5)]))
    history = ChannelHistory(pd.DataFrame(rows))
    queries = pd.DataFrame({"channel": ["c", "c", "c", "c", "new"],
                            "at": [T0 + 0.5 * DAY, T0 + 2 * DAY, T0 + 3 * DAY, T0 + 4 * DAY, T0 + 9 * DAY]})
    stats = history.stats(queries["channel"], queries["at"])
    assert stats["channel_video_count"].tolist() == [0, 1, 2, 2, 0]
    # At day 2, video a had only been seen at day 1 (100 views); at day 3 (exactly) its day-3 count is not yet known.
    assert stats["channel_avg_views"].iloc[1] == pytest.approx(100)
    assert stats["channel_avg_views"].iloc[2] == pytest.approx((100 + 1000) / 2)
    assert stats["channel_avg_views"].iloc[3] == pytest.approx((300 + 1000) / 2)
    assert stats["channel_max_log_views"].iloc[3] == pytest.approx(np.log1p(1000))
    assert stats["channel_like_ratio"].iloc[3] == pytest.approx(0.05)
    assert np.isnan(stats["channel_avg_views"].iloc[0]) and np.isnan(stats["channel_avg_views"].iloc[4])


def test_channel_features_from_user_input_match_history():
    rows = _snap("a", "c", 0, [(1, 1000)]) + _snap("b", "c", 1, [(2, 3000)])
    from_history = channel_features(ChannelHistory(pd.DataFrame(rows)).stats(["c"], [T0 + 5 * DAY]))
    from_user = channel_features(pd.DataFrame({"channel_video_count": [2], "channel_avg_views": [2000.0]}))
    for name in ("channel_log_count", "channel_log_avg_views"):
        assert from_user[name][0] == pytest.approx(from_history[name][0])
    assert np.isnan(from_user["channel_like_ratio"][0])  # unknown, not guessed
    new_channel = channel_features(pd.DataFrame({"channel_video_count": [0], "channel_avg_views": [50000.0]}))
    assert new_channel["channel_log_count"][0] == 0 and np.isnan(new_channel["channel_log_avg_views"][0])
    assert set(from_user) == set(CHANNEL_FEATURES)


def test_target_encoding_only_sees_earlier_videos():
    tokens = [["x"], ["x"], ["x", "y"], ["y"]]
    target = np.array([1.0, 3.0, 5.0, 7.0])
    times = pd.Series([T0, T0 + DAY, T0 + DAY, T0 + 2 * DAY])
    out = TokenTargetEncoder("t", smoothing=0.0).fit_transform(tokens, target, times)
    assert out["t_te_known"].tolist() == [0, 1, 1, 1]  # videos 1 and 2 share an instant: they do not see each other
    assert out["t_te_max"][1] == pytest.approx(1.0) and out["t_te_max"][2] == pytest.approx(1.0)
    assert out["t_te_max"][3] == pytest.approx(5.0)  # y was seen once before video 3, on video 2
    later = TokenTargetEncoder("t", 0.0).fit_transform(tokens + [["x"]], np.r_[target, 100.0],
                                                        pd.concat([times, pd.Series([T0 + 9 * DAY])]))
    for key in out:
        np.testing.assert_array_equal(later[key][:4], out[key])


def test_features_of_a_video_never_change_when_later_videos_are_added(sim, tiny):
    cut = sim["published_at"].quantile(0.6)
    early = sim[sim["published_at"] < cut].reset_index(drop=True)
    config = tiny.preset("fast").features
    a, b = FeatureBuilder(config, seed=3), FeatureBuilder(config, seed=3)
    fa, fb = a.fit_transform(early), b.fit_transform(sim)
    index_b = pd.MultiIndex.from_frame(sim[["video_id", "observed_at"]])
    rows_b = index_b.get_indexer(pd.MultiIndex.from_frame(early[["video_id", "observed_at"]]))
    assert (rows_b >= 0).all()
    # Channel history does not depend on anything fitted globally: it must be identical.
    for name in ("channel_log_count", "channel_log_avg_views", "channel_mean_log_views", "channel_max_log_views",
                 "channel_like_ratio", "log_age"):
        np.testing.assert_array_equal(fa[name].to_numpy(), fb[name].to_numpy()[rows_b], err_msg=name)
    # Transforming new rows: a video's features do not depend on which other videos are in the batch.
    late = sim[sim["published_at"] >= cut]
    one = late[late["video_id"] == late["video_id"].iloc[0]]
    history = a.channel_history(early)
    alone, together = a.transform(one, history), a.transform(late, history)
    first_rows = np.flatnonzero(late["video_id"].to_numpy() == one["video_id"].iloc[0])
    pd.testing.assert_frame_equal(alone, together.iloc[first_rows].reset_index(drop=True))


def test_test_channel_history_comes_from_training_only(sim, tiny):
    train, test = split_by_date(sim, sim["published_at"].quantile(0.7))
    builder = FeatureBuilder(tiny.preset("fast").features).fit(train)
    features = builder.transform(test, builder.channel_history(train))
    channel_counts = train.groupby("channel_id")["video_id"].nunique()
    expected = np.log1p(test["channel_id"].map(channel_counts).fillna(0).to_numpy())
    np.testing.assert_allclose(features["channel_log_count"].to_numpy(), expected, rtol=1e-6)


def test_no_outcome_columns_among_features(sim, tiny):
    builder = FeatureBuilder(tiny.preset("fast").features)
    first_rows = builder.fit_transform(sim, rows=np.arange(5))
    banned = ("views", "likes", "comments", "countries", "n_observations", "observed")
    offending = [name for name in builder.feature_names if name in banned or name.startswith(banned)]
    assert not offending
    assert len(builder.feature_names) == first_rows.shape[1]


def test_mask_is_per_video_and_stable():
    stats = pd.DataFrame({"channel_video_count": [3.0] * 4, "channel_like_ratio": [0.1] * 4,
                          "channel_mean_log_views": [5.0] * 4, "channel_max_log_views": [6.0] * 4,
                          "channel_mean_residual": [0.0] * 4, "channel_last_residual": [0.0] * 4})
    ids = np.array(["a", "b", "c", "d"], dtype=object)
    first = mask_optional_stats(stats, 0.5, 1, ids)
    again = mask_optional_stats(stats.iloc[[3, 2, 1, 0]].reset_index(drop=True), 0.5, 1, ids[::-1])
    assert first["channel_like_ratio"].isna().tolist() == again["channel_like_ratio"].isna().tolist()[::-1]
    assert mask_optional_stats(stats, 0.0, 1, ids).equals(stats)


def test_balanced_rows_take_every_video_once_first():
    ids = np.array(["a"] * 10 + ["b"] * 2 + ["c"])
    rows = balanced_rows(ids, 3, seed=0)
    assert sorted(ids[rows]) == ["a", "b", "c"]
    rows = balanced_rows(ids, 5, seed=0)
    assert sorted(ids[rows]) == ["a", "a", "b", "b", "c"]
    assert len(balanced_rows(ids, 100, seed=0)) == len(ids)


def test_video_table_keeps_first_observation(sim):
    videos, codes = video_table(sim)
    assert len(videos) == sim["video_id"].nunique() and len(codes) == len(sim)
    first = sim.groupby("video_id")["observed_at"].min()
    assert (videos.set_index("video_id")["observed_at"] == first.reindex(videos["video_id"])).all()


def test_shuffled_training_target_gives_no_skill(sim, tiny):
    """The leakage test: destroy the link between inputs and views in training; test R² must collapse."""
    train, test = split_by_date(sim, sim["published_at"].quantile(0.75))
    last = last_observation(test)
    actual = np.log1p(last["views"].to_numpy())

    def test_r2(training: pd.DataFrame) -> float:
        trained = train_models(training, resolve("fast", ("ensemble",), config=tiny, progress=False))
        X = trained.features.transform(last, trained.history)
        predicted = FAMILIES["ensemble"].predict(trained.models["ensemble"], X, last)["predicted_views"]
        return r2(actual, np.log1p(predicted.to_numpy(float)))

    honest = test_r2(train)
    rng = np.random.default_rng(0)
    # Shuffle the target (views, and likes with them) across the training rows.
    shuffled = train.copy()
    order = rng.permutation(len(train))
    shuffled[["views", "likes"]] = train[["views", "likes"]].to_numpy()[order]
    noise = test_r2(shuffled)
    assert honest > 0.5
    assert noise < 0.1, f"R² {noise:.3f} on a shuffled target: something leaks"


def test_every_ablation_family_finds_its_columns(sim, tiny):
    every = dataclasses.replace(tiny.preset("fast").features, excluded_families=())
    names = FeatureBuilder(every).fit(sim).feature_names
    families = feature_families(names)
    assert set(families) == set(FEATURE_FAMILIES)
    assert all(families.values()), {family: cols for family, cols in families.items() if not cols}
    assert "log_age" not in {name for cols in families.values() for name in cols}  # the horizon always stays
    assert set(families["channel_history"]) >= set(CHANNEL_FEATURES)
    assert "channel_vs_category" in families["tags_categories"]  # an interaction leaves with either parent


def test_excluded_families_reach_no_model_and_unknown_ones_are_named(sim, tiny):
    config = dataclasses.replace(tiny.preset("fast").features, excluded_families=("target_encodings",))
    builder = FeatureBuilder(config)
    training = builder.fit_training(sim)
    assert not [n for n in builder.feature_names if "_te_" in n or n == "channel_vs_category"]
    assert list(builder.transform(sim.head(50), history=training.history).columns) == builder.feature_names
    assert list(training.rows(np.arange(10)).columns) == builder.feature_names
    assert builder.encoders_ == {}  # no encoder whose columns no model reads is kept (nor saved)
    every = FeatureBuilder(dataclasses.replace(config, excluded_families=())).fit(sim.head(400))
    assert set(every.encoders_) == {"tag", "category", "word", "language"}
    with pytest.raises(ValueError, match="excluded_families"):
        FeatureBuilder(dataclasses.replace(config, excluded_families=("colour",))).fit(sim)


def test_token_encoder_finds_tokens_the_same_way_before_and_after_pickling():
    import pickle

    from videoperf.features.target_encoding import SEARCH_TOKENS

    rng = np.random.default_rng(4)
    vocabulary = np.array([f"tag {i}" for i in range(500)] + ["ünïcode", "Z", "a"], dtype=object)
    tokens = [list(dict.fromkeys(rng.choice(vocabulary, size=rng.integers(0, 6)))) for _ in range(400)]
    encoder = TokenTargetEncoder("t").fit(tokens, rng.normal(size=400))
    assert all(a < b for a, b in zip(encoder.tokens_[:-1], encoder.tokens_[1:]))  # sorted: binary search works
    loaded = pickle.loads(pickle.dumps(encoder))
    assert "_lookup" not in loaded.__dict__
    asked = [["tag 3", "unseen", "a"], [], ["Z", "ünïcode", "zzz"], ["tag 499"]]  # few tokens: binary search
    many = asked + tokens[: SEARCH_TOKENS]  # more tokens than SEARCH_TOKENS: the dict
    for rows in (asked, many):
        expected, got = encoder.transform(rows), loaded.transform(rows)
        for key in expected:
            np.testing.assert_array_equal(got[key], expected[key], err_msg=key)
    assert loaded.transform(asked)["t_te_known"].tolist() == [2, 0, 2, 1]
