"""``model_update.py evaluate`` / ``train`` end to end on the simulator (tiny learners)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from _tiny import tiny_config

import model_update
from videoperf.data.synthetic import REAL_EXPORT_END, generate_synthetic
from videoperf.training import settings

LEADING_COLUMNS = ["video_id", "age_days", "actual_views", "predicted_views", "views_lo", "views_hi"]


@pytest.fixture()
def tiny(monkeypatch):
    config = tiny_config()
    monkeypatch.setattr(settings, "load_config", lambda *a, **k: config)
    return config


@pytest.fixture(scope="module")
def raw():
    return generate_synthetic(700, seed=8, end=REAL_EXPORT_END)[0]


def test_evaluate_split_date_writes_the_leading_columns_first(tmp_path, raw, tiny, capsys):
    snapshots = model_update.load_data(raw)
    split = str(snapshots["published_at"].quantile(0.7).date())
    path = tmp_path / "pred.csv"
    result = model_update.evaluate(data=snapshots, split_date=split, predictions=path, progress=False)
    frame = pd.read_csv(path)
    assert list(frame.columns[:6]) == LEADING_COLUMNS
    assert {"actual_like_ratio", "actual_lifecycle_stage"} <= set(frame.columns)
    test_videos = snapshots.loc[snapshots["published_at"] >= pd.Timestamp(split, tz="UTC"), "video_id"].nunique()
    assert len(frame) == test_videos == result["test_videos"]
    table = result["metrics"]
    assert list(table.columns) == ["ensemble", "global_mean", "channel_mean"]
    assert table.loc["views_log_r2", "ensemble"] > table.loc["views_log_r2", "channel_mean"]
    assert {"views_rmse", "views_mape", "interval_coverage", "like_ratio_mae"} <= set(table.index)


def test_cli_train_and_evaluate(tmp_path, raw, tiny, capsys):
    source = tmp_path / "raw.csv"
    raw.to_csv(source, index=False)
    code = model_update.main(["train", "--data", str(source), "--speed", "fast", "--artifacts", str(tmp_path / "a"),
                              "--models", "ensemble", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0 and "stack (Ridge)" in out and (tmp_path / "a" / "manifest.json").is_file()
    report = tmp_path / "report.json"
    code = model_update.main(["evaluate", "--train", str(source), "--test", str(source), "--quiet",
                              "--predictions", str(tmp_path / "p.csv"), "--report", str(report)])
    out = capsys.readouterr().out
    assert code == 0 and "channel_mean" in out and "views_log_r2" in out
    assert "ensemble" in json.loads(report.read_text())["metrics"]
    code = model_update.main(["evaluate", "--data", str(source), "--quiet"])
    assert code == 2 and "split_date" in capsys.readouterr().err
    code = model_update.main(["train", "--data", str(source), "--models", "ensemble,svm", "--quiet",
                              "--artifacts", str(tmp_path / "b")])
    assert code == 2 and "models" in capsys.readouterr().err


def test_cli_history_modes_and_seed(tmp_path, raw, tiny, capsys):
    source = tmp_path / "raw.csv"
    raw.to_csv(source, index=False)
    snapshots = model_update.load_data(raw)
    split = str(snapshots["published_at"].quantile(0.6).date())
    reports = {}
    for history in ("live", "train"):
        report = tmp_path / f"{history}.json"
        code = model_update.main(["evaluate", "--data", str(source), "--split-date", split, "--quiet", "--models",
                                  "ensemble", "--history", history, "--report", str(report)])
        assert code == 0, capsys.readouterr().err
        reports[history] = json.loads(report.read_text())["metrics"]
    # The same trained models; only the test videos' channel history (and the channel baseline) differ.
    assert reports["live"]["ensemble"]["views_log_r2"] != reports["train"]["ensemble"]["views_log_r2"]
    assert reports["live"]["global_mean"] == reports["train"]["global_mean"]
    with pytest.raises(SystemExit):
        model_update.main(["evaluate", "--data", str(source), "--split-date", split, "--history", "later"])
    assert "history" in capsys.readouterr().err
    code = model_update.main(["train", "--data", str(source), "--models", "ensemble", "--quiet", "--seed", "3",
                              "--artifacts", str(tmp_path / "s")])
    assert code == 0
    assert json.loads((tmp_path / "s" / "manifest.json").read_text())["config"]["seed"] == 3
