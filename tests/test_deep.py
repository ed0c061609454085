"""The deep multi-task model on simulated data with the tiny random encoder (no files, no network)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch

from videoperf.config import load_config
from videoperf.features.builder import FeatureBuilder
from videoperf.lifecycle.targets import build_targets
from videoperf.models.deep.losses import task_losses, weighted_total
from videoperf.models.deep.network import TASKS, VideoPerformanceNet, encode_targets
from videoperf.models.deep.training import fit_deep_model
from videoperf.models.deep.training_data import (
    AS_OF_TARGETS,
    as_of_targets,
    sample_rows,
    time_ordered_split,
    training_rows,
)
from videoperf.models.deep.video_text import video_text, video_texts

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def _tiny_config(**changes):
    base = load_config().preset("fast").deep
    settings = {"encoder": "tiny", "epochs": 2, "hidden_dim": 32, "batch_size": 64, "learning_rate": 0.003,
                "patience": 5, "max_minutes": 2.0, "mixed_precision": False, "max_train_rows": 5000}
    settings.update(changes)
    return dataclasses.replace(base, **settings)


@pytest.fixture(scope="module")
def training_data(synthetic_snapshots):
    snapshots = synthetic_snapshots.reset_index(drop=True)
    rows = training_rows(snapshots)
    features = FeatureBuilder(load_config().preset("fast").features, seed=0)
    numeric = features.fit_transform(snapshots)  # row i of rows is row i of snapshots
    return rows, numeric, features


@pytest.fixture(scope="module")
def fitted(training_data):
    torch.set_num_threads(2)
    rows, numeric, features = training_data
    return fit_deep_model(rows, numeric, _tiny_config(), seed=0, progress=False), features


def _request(title: str, channel_avg_views: float = 50_000.0) -> pd.DataFrame:
    return pd.DataFrame({
        "title": [title], "tags": [["music", "official video"]], "categories": [["Music"]],
        "duration_seconds": [240.0], "published_at": [pd.Timestamp("2026-03-01T15:00:00Z")], "age_days": [7.0],
        "channel_avg_views": [channel_avg_views], "channel_video_count": [25.0]})


def test_training_loss_goes_down_over_two_epochs(fitted):
    history = fitted[0].history
    assert len(history) == 2
    assert history[1]["train_total"] < history[0]["train_total"]
    assert history[1]["train_log_views"] < history[0]["train_log_views"]
    assert all(np.isfinite(row["valid_total"]) for row in history)
    assert {f"valid_{task}" for task in TASKS} <= set(history[0])


def test_title_casing_and_whitespace_do_not_move_predictions(fitted):
    result, features = fitted
    titles = ["Official Music Video - New Song Remix", "official music video - new song remix",
              "  OFFICIAL   Music  Video -   NEW song REMIX  "]
    predicted = []
    for title in titles:
        request = _request(title)
        predicted.append(result.model.predict(video_texts(request), features.transform_videos(request))["log_views"][0])
    assert max(predicted) - min(predicted) < 0.05
    assert video_text(titles[0]) == video_text(titles[2])  # the text path itself is exactly invariant


def test_larger_channel_average_never_lowers_predicted_views(fitted):
    result, features = fitted
    averages = np.logspace(1, 8, 40)
    requests = pd.concat([_request("Official music video remix", avg) for avg in averages], ignore_index=True)
    predicted = result.model.predict(video_texts(requests), features.transform_videos(requests))["log_views"]
    assert np.all(np.diff(predicted) >= -1e-9)
    assert predicted[-1] > predicted[0]  # and the channel history is actually used


def test_monotone_path_holds_for_random_inputs():
    torch.manual_seed(0)
    names = ["a", "channel_log_avg_views", "channel_log_gap", "b"]
    model = VideoPerformanceNet(encoder="tiny", numeric_names=names, hidden_dim=16,
                                monotone_features={"channel_log_avg_views": 1, "channel_log_gap": -1}).eval()
    with torch.no_grad():
        for param in model.parameters():  # a random, not a freshly initialised, network
            param.add_(torch.randn_like(param) * 0.5)
    embedding = torch.randn(64, model.text_encoder.dim)
    numeric = torch.randn(64, 4)
    grid = torch.linspace(-5, 5, 21)
    def sweep(column: int) -> torch.Tensor:
        with torch.no_grad():
            return torch.stack([model(embedding, numeric.index_fill(1, torch.tensor([column]), float(v)))["log_views"]
                                for v in grid])

    rising, falling = sweep(1), sweep(2)
    assert bool((rising.diff(dim=0) >= -1e-6).all())
    assert bool((falling.diff(dim=0) <= 1e-6).all())


def test_checkpoint_reloads_in_a_fresh_process_with_identical_predictions(fitted, training_data, tmp_path):
    result = fitted[0]
    rows, numeric, _ = training_data
    path = result.model.save(tmp_path / "video_performance_model.pt")
    checkpoint = torch.load(path, weights_only=True)
    assert set(checkpoint) == {"model_args", "state_dict", "intervals"}
    assert checkpoint["model_args"]["encoder"] == "tiny"
    # The conformal intervals calibrated after training travel with the weights.
    assert checkpoint["intervals"] == result.model.intervals.to_dict()
    assert VideoPerformanceNet.load(path).intervals.to_dict() == result.model.intervals.to_dict()
    texts = video_texts(rows.head(50))
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    np.save(tmp_path / "numeric.npy", numeric.head(50)[result.model.numeric_names].to_numpy(np.float32))
    expected = result.model.predict(texts, numeric.head(50))
    script = textwrap.dedent(f"""
        import json, sys, numpy as np, torch
        sys.path.insert(0, {str(ROOT)!r})
        torch.set_num_threads(2)
        from videoperf.models.deep.network import VideoPerformanceNet
        model = VideoPerformanceNet.load({str(path)!r})
        texts = json.load(open({str(tmp_path / "texts.json")!r}))
        out = model.predict(texts, np.load({str(tmp_path / "numeric.npy")!r}))
        np.savez({str(tmp_path / "out.npz")!r}, **{{k: v for k, v in out.items() if k != "lifecycle_stage"}},
                 stage=out["lifecycle_stage"].astype(str))
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120,
                   env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    got = np.load(tmp_path / "out.npz")
    for key in ("log_views", "like_ratio", "stage_probabilities", "time_to_peak_days", "decay_rate"):
        np.testing.assert_allclose(got[key], expected[key], atol=1e-6, rtol=0)
    assert list(got["stage"]) == list(expected["lifecycle_stage"])


def test_predict_returns_every_head_on_its_scale(fitted, training_data):
    rows, numeric, _ = training_data
    out = fitted[0].model.predict(video_texts(rows.head(20)), numeric.head(20))
    assert set(out) >= {"log_views", "views", "like_ratio", "lifecycle_stage", "stage_probabilities",
                        "time_to_peak_days", "decay_rate"}
    assert ((out["like_ratio"] > 0) & (out["like_ratio"] < 1)).all()
    np.testing.assert_allclose(out["stage_probabilities"].sum(1), 1.0, atol=1e-6)
    assert set(out["lifecycle_stage"]) <= {"growth", "peak", "decay"}
    assert (out["time_to_peak_days"] >= 0).all()
    with pytest.raises(ValueError, match="numeric"):
        fitted[0].model.predict(video_texts(rows.head(2)), numeric.head(2).drop(columns=numeric.columns[3]))


def test_masked_missing_targets_give_finite_losses_and_gradients():
    torch.manual_seed(0)
    model = VideoPerformanceNet(encoder="tiny", numeric_names=["x", "y"], hidden_dim=16)
    frame = pd.DataFrame({"log_views": [10.0, np.nan, 8.0, np.nan], "like_ratio": [np.nan] * 4,
                          "lifecycle_stage": [None, "peak", np.nan, None], "time_to_peak_days": [np.nan] * 4,
                          "decay_rate": [0.3, np.nan, np.nan, -0.1]})
    encoded = encode_targets(frame, model.stage_classes)
    targets = {task: torch.as_tensor(values) if task == "lifecycle_stage"
               else torch.as_tensor(values, dtype=torch.float32) for task, values in encoded.items()}
    numeric = torch.tensor([[1.0, np.nan], [0.0, 2.0], [np.nan, np.nan], [3.0, 1.0]])
    outputs = model(torch.randn(4, model.text_encoder.dim), numeric)
    losses = task_losses(outputs, targets)
    present = {"log_views": True, "like_ratio": False, "lifecycle_stage": True, "time_to_peak_days": False,
               "decay_rate": True}
    total = weighted_total(losses, model.log_vars, present)
    total.backward()
    assert torch.isfinite(total)
    assert all(torch.isfinite(loss) for loss in losses.values())
    assert float(losses["like_ratio"].detach()) == 0.0
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_training_without_any_lifecycle_target_is_finite(training_data):
    rows, numeric, _ = training_data
    rows = rows.head(300).assign(time_to_peak_days=np.nan, decay_rate=np.nan, lifecycle_stage=None)
    result = fit_deep_model(rows, numeric.head(300), _tiny_config(epochs=1), seed=1, progress=False)
    assert np.isfinite(result.history[0]["train_total"])
    assert np.isfinite(result.history[0]["valid_log_views"])


def test_same_seed_same_model(training_data):
    rows, numeric, _ = training_data
    rows, numeric = rows.head(400), numeric.head(400)
    config = _tiny_config(epochs=1)
    first = fit_deep_model(rows, numeric, config, seed=3, progress=False)
    second = fit_deep_model(rows, numeric, config, seed=3, progress=False)
    texts = video_texts(rows.head(30))
    np.testing.assert_array_equal(first.model.predict(texts, numeric.head(30))["log_views"],
                                  second.model.predict(texts, numeric.head(30))["log_views"])


def test_sampling_balances_videos_and_validation_is_latest():
    ids = np.array(["a"] * 90 + ["b"] * 5 + ["c"] * 5)
    keep = sample_rows(ids, 20, seed=0)
    assert len(keep) == 20 and len(set(keep)) == 20
    assert (ids[keep] == "a").sum() < 15  # without balancing "a" would take ~18 of the 20
    frame = pd.DataFrame({"video_id": list("abcdefghij"),
                          "published_at": pd.date_range("2026-01-01", periods=10, tz="UTC")})
    train, valid = time_ordered_split(frame, 0.2)
    assert list(frame["video_id"].iloc[valid]) == ["i", "j"]
    assert frame["published_at"].iloc[train].max() < frame["published_at"].iloc[valid].min()


def test_frozen_encoder_uses_the_embedding_cache(training_data, tmp_path, monkeypatch):
    rows, numeric, _ = training_data
    model = VideoPerformanceNet(encoder="tiny", numeric_names=list(numeric.columns), hidden_dim=16)
    texts = video_texts(rows.head(40))
    first = model.embed_texts(texts, cache_dir=tmp_path)
    assert list((tmp_path / "embeddings").glob("*/shard-*.npz"))

    def no_encoding(*args, **kwargs):
        raise AssertionError("the encoder ran although every text was cached")

    fresh = VideoPerformanceNet(encoder="tiny", numeric_names=list(numeric.columns), hidden_dim=16)
    monkeypatch.setattr(fresh.text_encoder, "embed", no_encoding)
    np.testing.assert_array_equal(fresh.embed_texts(texts, cache_dir=tmp_path), first)


def test_as_of_targets_use_no_later_observation(synthetic_snapshots):
    snapshots = synthetic_snapshots.sample(frac=1.0, random_state=0)  # any row order
    as_of = as_of_targets(snapshots)
    assert len(as_of) == len(snapshots) and list(as_of.columns) == list(AS_OF_TARGETS)
    hindsight = build_targets(snapshots)
    frame = pd.concat([snapshots.reset_index(drop=True), as_of.add_prefix("as_of_")], axis=1)
    frame = frame.sort_values(["video_id", "observed_at"]).reset_index(drop=True)
    assert frame["as_of_lifecycle_stage"].dropna().isin(["growth", "decay"]).all()  # a peak needs a later point
    first = frame.groupby("video_id").cumcount() == 0
    assert frame.loc[first, "as_of_lifecycle_stage"].isna().all()  # one point cannot show a trend
    age = (frame["observed_at"] - frame["published_at"]).dt.total_seconds() / 86400
    known = frame["as_of_time_to_peak_days"].notna()
    assert known.any() and (frame.loc[known, "as_of_time_to_peak_days"] <= age[known] + 1e-9).all()
    # At a video's last observation as-of and hindsight agree.
    last = (frame.groupby("video_id").cumcount(ascending=False) == 0).to_numpy()
    for column in AS_OF_TARGETS:
        np.testing.assert_array_equal(frame.loc[last, f"as_of_{column}"].fillna(-1).to_numpy(),
                                      hindsight.loc[last, column].fillna(-1).to_numpy())
    # Truncating a series never changes the as-of targets of the observations that remain.
    video = frame.loc[frame.groupby("video_id")["video_id"].transform("size") >= 5, "video_id"].iloc[0]
    series = snapshots[snapshots["video_id"] == video].sort_values("observed_at")
    pd.testing.assert_frame_equal(as_of_targets(series.iloc[:3]), as_of_targets(series).iloc[:3])


def test_fine_tuning_phase_follows_the_frozen_phase_and_checkpoints_the_encoder(training_data, tmp_path):
    rows, numeric, _ = training_data
    rows, numeric = rows.head(300), numeric.head(300)
    config = _tiny_config(epochs=1, finetune_epochs=1, trainable_encoder_layers=1)
    result = fit_deep_model(rows, numeric, config, seed=0, progress=False)
    assert [row["phase"] for row in result.history] == ["frozen", "finetune"]
    assert result.info["best_phase"] in ("frozen", "finetune")
    path = result.model.save(tmp_path / "model.pt")
    state = torch.load(path, weights_only=True)["state_dict"]
    assert any(key.startswith("text_encoder.") for key in state)
    texts = video_texts(rows.head(10))
    np.testing.assert_allclose(VideoPerformanceNet.load(path).predict(texts, numeric.head(10))["log_views"],
                               result.model.predict(texts, numeric.head(10))["log_views"], atol=1e-6)


def test_views_interval_is_calibrated_on_the_latest_videos_and_brackets_the_prediction(fitted, training_data):
    from videoperf.models.deep.family import DeepModel, predict

    result = fitted[0]
    rows, numeric, _ = training_data
    intervals = result.model.intervals
    assert intervals is not None and intervals.coverage == pytest.approx(0.8)
    assert intervals.pooled_[0] < 0 < intervals.pooled_[1]
    model = DeepModel(result.model, result.numeric_scaler, result.stage_encoder)
    frame = predict(model, numeric.head(200), rows.head(200))
    assert (frame["views_lo"] <= frame["predicted_views"] + 1e-6).all()
    assert (frame["predicted_views"] <= frame["views_hi"] + 1e-6).all()
