"""The notebook executed end to end with papermill, in fast mode on a small simulated set."""

import json
import subprocess
import sys

import pytest
from conftest import ROOT

NOTEBOOK = ROOT / "Video_Performance_Prediction.ipynb"


def _papermill(tmp_path, *parameters: str, artifacts=None) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "papermill", str(NOTEBOOK), str(tmp_path / "executed.ipynb"), "-k", "python3",
            "--cwd", str(ROOT), "-p", "ARTIFACTS_DIR", str(artifacts or tmp_path / "artifacts"), *parameters]
    return subprocess.run(args, capture_output=True, text=True, timeout=1200, cwd=ROOT)


def test_committed_notebook_has_no_outputs_and_short_cells():
    notebook = json.loads(NOTEBOOK.read_text())
    code_cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert [c for c in code_cells if "parameters" in c["metadata"].get("tags", [])], "no parameters cell"
    for cell in code_cells:
        source = "".join(cell["source"])
        assert not cell.get("outputs") and cell.get("execution_count") is None
        assert len(source.splitlines()) <= 15
        assert "def " not in source and "class " not in source


@pytest.mark.slow
def test_notebook_runs_in_fast_mode_and_records_metrics(tmp_path):
    artifacts = tmp_path / "artifacts"
    result = _papermill(tmp_path, "-p", "SPEED", "fast", "-p", "DATA_SOURCE", "synthetic",
                        "-p", "N_SYNTHETIC_VIDEOS", "600", "-p", "SEED", "3", artifacts=artifacts)
    assert result.returncode == 0, result.stderr[-3000:]
    recorded = json.loads((artifacts / "metrics.json").read_text())
    assert recorded["speed"] == "fast" and recorded["models"] == ["ensemble", "deep_learning"]
    metrics = recorded["metrics"]
    # On the simulator, where channel popularity and content drive views, both models must beat the
    # channel-mean baseline on log-views R².
    for model in ("ensemble", "deep_learning"):
        assert metrics[model]["views_log_r2"] > metrics["channel_mean"]["views_log_r2"]
        assert metrics[model]["views_log_r2"] > 0.5
    assert 0.5 < metrics["ensemble"]["interval_coverage"] <= 1.0
    assert metrics["deep_learning"]["stage_accuracy"] > 0.0

    from predict import predict_performance

    example = dict(title="Top 10 goals of the week", tags=["football", "goals"], categories=["Sports"],
                   duration_seconds=420, channel_avg_views=20000, channel_video_count=40, artifacts_dir=artifacts)
    ensemble = predict_performance(**example, model_type="ensemble")
    deep = predict_performance(**example, model_type="deep_learning")
    assert ensemble["predicted_views"] > 0 and ensemble["views_lo"] <= ensemble["predicted_views"]
    assert deep["lifecycle_stage"] in ("growth", "peak", "decay")
    assert 0.0 <= deep["predicted_like_ratio"] <= 1.0


def test_unknown_parameter_fails_the_run_with_its_name(tmp_path):
    result = _papermill(tmp_path, "-p", "SPEEED", "full", "-p", "N_SYNTHETIC_VIDEOS", "60")
    assert result.returncode != 0
    assert "SPEEED" in result.stderr + result.stdout
