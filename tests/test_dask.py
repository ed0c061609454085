"""The Dask path (issue 16) on small simulated partitions, with an in-process LocalCluster: the same canonical
table, targets, features and batch predictions as the single-machine path; the single-machine path loads no Dask."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _tiny import tiny_config

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def partitions(tmp_path_factory):
    """A simulated export written as 4 parquet partitions in file order (videos spread over several files)."""
    from videoperf.data.synthetic import REAL_EXPORT_END, generate_synthetic

    folder = tmp_path_factory.mktemp("raw_parts")
    raw, _ = generate_synthetic(500, seed=11, end=REAL_EXPORT_END)
    # Some videos change channel id between fetches (the real export has 104): later rows under another channel.
    videos = raw["video_id"].drop_duplicates().to_numpy()[:40:4]
    later = raw["video_id"].isin(videos) & raw.duplicated("video_id")
    raw.loc[later, "channel_id"] = raw["channel_id"].iloc[0]
    for k, rows in enumerate(np.array_split(np.arange(len(raw)), 4)):
        raw.iloc[rows].to_parquet(folder / f"part-{k}.parquet", index=False)
    return folder


@pytest.fixture(scope="module")
def client():
    from videoperf.distributed.cluster import open_client

    with open_client("local", n_workers=1, processes=False) as connected:
        yield connected


@pytest.fixture(scope="module")
def single(partitions):
    from videoperf.data.sources import load_data

    return load_data(partitions)


def test_canonical_table_and_targets_equal_the_single_machine_rows(partitions, client, single):
    from videoperf.distributed import data as dask_data
    from videoperf.lifecycle.targets import build_targets

    canonical = dask_data.load_snapshots(partitions, npartitions=3)
    pd.testing.assert_frame_equal(dask_data.collect(canonical), single)
    pd.testing.assert_frame_equal(dask_data.collect(dask_data.targets(canonical)), build_targets(single))


def test_training_features_equal_the_single_machine_features(partitions, client, single):
    from videoperf.distributed import data as dask_data
    from videoperf.features.builder import FeatureBuilder
    from videoperf.training.pipeline import prepare_snapshots
    from videoperf.training.settings import resolve

    settings = resolve("fast", ("ensemble",), 3, tiny_config(400), progress=False)
    snapshots = prepare_snapshots(single)
    builder = FeatureBuilder(settings.preset.features, settings.seed)
    expected = builder.fit_training(snapshots).rows()
    rows = dask_data.collect(dask_data.feature_rows(dask_data.load_snapshots(partitions), builder))
    got = rows[builder.feature_names]
    assert len(got) == len(expected) and list(got.columns) == list(expected.columns)
    np.testing.assert_allclose(got.to_numpy(float), expected.to_numpy(float), rtol=1e-6, atol=1e-6)
    # Every video weighs 1 in total, as the single-machine balanced sample makes it.
    assert np.allclose(rows.groupby("video_id")[dask_data.WEIGHT].sum(), 1.0)


def test_train_on_the_cluster_and_score_partitions_as_without_it(partitions, client, single, tmp_path):
    import model_update
    import predict
    from videoperf.distributed import data as dask_data

    bundle = tmp_path / "bundle"
    result = model_update.train(partitions, "fast", bundle, models=("ensemble",), progress=False,
                                config=tiny_config(400), seed=3, cluster=client)
    manifest = json.loads((bundle / "manifest.json").read_text())
    distributed = manifest["metrics"]["oof"]["ensemble"]["distributed"]
    n_rows = len(single)
    assert distributed["learners_on_all_rows"]["xgboost"]["rows"] == n_rows
    assert distributed["learners_on_all_rows"]["lightgbm"]["rows"] == n_rows
    assert "catboost" in distributed["learners_on_sample"]
    assert result["models"] == ["ensemble"]

    requests = tmp_path / "requests"
    requests.mkdir()
    parts = dask_data.by_channel(dask_data.load_snapshots(partitions), 3).to_delayed()
    for k, part in enumerate(parts):
        dask_data.request_rows(part.compute()).to_parquet(requests / f"part-{k}.parquet", index=False)
    out = tmp_path / "scored"
    written = predict.predict_batch(requests, artifacts_dir=bundle, cluster=client, output=out)
    assert written["partitions"] == 3 and written["rows"] == n_rows
    on_cluster = pd.concat([pd.read_parquet(file) for file in sorted(out.glob("*.parquet"))], ignore_index=True)
    alone = pd.concat([predict.predict_batch(file, artifacts_dir=bundle) for file in sorted(requests.glob("*"))
                       if len(pd.read_parquet(file))], ignore_index=True)
    assert list(on_cluster["video_id"]) == list(alone["video_id"])
    for column in ("predicted_views", "views_lo", "views_hi"):
        np.testing.assert_allclose(on_cluster[column], alone[column], rtol=1e-6)
    with pytest.raises(ValueError, match="output"):
        predict.predict_batch(requests, artifacts_dir=bundle, cluster=client, output=out)


def test_evaluate_on_the_cluster_gives_the_single_machine_baselines(partitions, client, single):
    import model_update

    split = str((single["published_at"].min() + (single["published_at"].max() - single["published_at"].min())
                 * 0.7).date())
    config = tiny_config(400)
    alone = model_update.evaluate(data=single, split_date=split, progress=False, config=config, seed=3)
    dist = model_update.evaluate(data=partitions, split_date=split, progress=False, config=config, seed=3,
                                 cluster=client)
    assert dist["test_videos"] == alone["test_videos"]
    pd.testing.assert_frame_equal(dist["metrics"][["global_mean", "channel_mean"]],
                                  alone["metrics"][["global_mean", "channel_mean"]])
    assert abs(dist["metrics"].loc["views_log_r2", "ensemble"] - alone["metrics"].loc["views_log_r2", "ensemble"]) < 0.1


def test_the_live_level_on_the_cluster_equals_the_single_machine_level(partitions, client, single):
    from videoperf.data.splits import split_by_date
    from videoperf.distributed import data as dask_data
    from videoperf.distributed.training import live_levels
    from videoperf.evaluation.holdout import live_history
    from videoperf.evaluation.live_level import recent_level
    from videoperf.training.pipeline import train_models
    from videoperf.training.settings import resolve

    split = str((single["published_at"].min() + (single["published_at"].max() - single["published_at"].min())
                 * 0.6).date())
    train_frame, test_frame = split_by_date(single, split)
    trained = train_models(train_frame, resolve("fast", "ensemble", 3, tiny_config(400), False))
    until = pd.to_datetime(test_frame["published_at"], utc=True).max()
    alone = recent_level(trained, single, live_history(trained, single), until=until)["ensemble"]
    dist = live_levels(trained, dask_data.load_snapshots(partitions), client, until)["ensemble"]
    assert len(alone.times_) > 10  # the level has rows to learn from
    np.testing.assert_array_equal(dist.times_, alone.times_)
    np.testing.assert_allclose(dist.sums_, alone.sums_, rtol=1e-9, atol=1e-9)
    times = test_frame["published_at"]
    np.testing.assert_allclose(dist.offsets(times), alone.offsets(times), rtol=1e-9, atol=1e-12)
    assert np.abs(alone.offsets(times)).max() > 0


def test_bad_cluster_arguments_name_the_argument(partitions):
    import model_update
    from videoperf.distributed.cluster import check_cluster

    with pytest.raises(ValueError, match="cluster"):
        check_cluster("localhost:8786")
    with pytest.raises(ValueError, match="cluster"):
        check_cluster(8786)
    with pytest.raises(ValueError, match="cluster"):
        model_update.evaluate(partitions, partitions, cluster="local", progress=False)
    assert check_cluster("tcp://10.0.0.5:8786") == "tcp://10.0.0.5:8786"


SINGLE_MACHINE = """
import json, sys
sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r})
from _tiny import tiny_config
import model_update, predict
from videoperf.data.synthetic import REAL_EXPORT_END, generate_synthetic
raw, _ = generate_synthetic(200, seed=2, end=REAL_EXPORT_END)
model_update.train(raw, "fast", {folder!r}, models=("ensemble",), progress=False, config=tiny_config(300), seed=1)
rows = model_update.load_data(raw).groupby("video_id").tail(1)
rows = rows.assign(channel_avg_views=1000.0, channel_video_count=3, days_since_publish=2.0)
assert len(predict.predict_batch(rows, artifacts_dir={folder!r})) == len(rows)
print(json.dumps(sorted(sys.modules)))
"""


def test_the_single_machine_path_imports_no_dask(tmp_path):
    script = SINGLE_MACHINE.format(root=str(ROOT), tests=str(ROOT / "tests"), folder=str(tmp_path / "bundle"))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert not [name for name in loaded if name.split(".")[0] in ("dask", "distributed")]


def test_the_command_lines_check_cluster(partitions, tmp_path, capsys):
    import model_update
    import predict

    code = model_update.main(["evaluate", "--data", str(partitions), "--split-date", "2026-01-01", "--quiet",
                              "--cluster", "localhost:8786"])
    assert code == 2 and "cluster" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        predict.main(["--batch", str(partitions), "--cluster", "local"])  # no --output folder
    assert "--output" in capsys.readouterr().err


def test_the_client_sample_is_whole_videos_chosen_by_id(partitions, client, single):
    from videoperf.distributed import data as dask_data
    from videoperf.distributed.training import fit_videos

    canonical = dask_data.load_snapshots(partitions, npartitions=3)
    sample = fit_videos(canonical, max_videos=150)
    assert 75 <= sample["video_id"].nunique() <= 225
    whole = single[single["video_id"].isin(sample["video_id"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(sample, whole)
    again = fit_videos(dask_data.load_snapshots(partitions, npartitions=2), max_videos=150)
    assert set(again["video_id"]) == set(sample["video_id"])  # does not depend on the partitioning
    assert len(fit_videos(canonical)) == len(single)


def test_the_command_lines_take_the_simulator_on_a_local_cluster(tmp_path, monkeypatch, capsys):
    import dataclasses
    import functools

    import model_update
    from videoperf import config as config_module
    from videoperf.data.synthetic import REAL_EXPORT_END
    from videoperf.distributed import cluster, training

    small = tiny_config(300)
    small = dataclasses.replace(small, data=dataclasses.replace(small.data, n_synthetic_videos=150,
                                                                synthetic_end=REAL_EXPORT_END))
    monkeypatch.setattr(config_module, "load_config", lambda path=None: small)
    monkeypatch.setattr("videoperf.training.settings.load_config", lambda path=None: small)
    # The workers in this process: a LocalCluster of processes takes seconds to start.
    monkeypatch.setattr(training, "open_client", functools.partial(cluster.open_client, n_workers=1, processes=False))
    bundle = tmp_path / "bundle"
    code = model_update.main(["train", "--data", "synthetic", "--cluster", "local", "--models", "ensemble",
                              "--artifacts", str(bundle), "--quiet"])
    assert code == 0, capsys.readouterr().err
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["data"]["videos"] == 150 and "distributed" in manifest["metrics"]["oof"]["ensemble"]
    code = model_update.main(["evaluate", "--data", "synthetic", "--split-date", "2026-04-15", "--cluster", "local",
                              "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert "Test metrics on" in capsys.readouterr().out
    code = model_update.main(["train", "--data", "synthetic", "--cluster", "tcp://10.0.0.5:8786", "--quiet"])
    assert code == 2 and "cannot read" in capsys.readouterr().err
