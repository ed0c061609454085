"""The notebook executed end to end with papermill, in fast mode on a small simulated set."""

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

from videoperf.notebook.run_settings import KNOWN_PARAMETERS

NOTEBOOK = ROOT / "Video_Performance_Prediction.ipynb"
MAX_STDERR_LINES = 40  # what a reader of the executed notebook sees on red


def _code_cells(notebook: dict) -> list[dict]:
    return [c for c in notebook["cells"] if c["cell_type"] == "code"]


def _is_figure_cell(cell: dict) -> bool:
    return cell["cell_type"] == "code" and "plots." in "".join(cell["source"])


def _papermill(tmp_path, *parameters: str, artifacts=None) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "papermill", str(NOTEBOOK), str(tmp_path / "executed.ipynb"), "-k", "python3",
            "--cwd", str(ROOT), "-p", "ARTIFACTS_DIR", str(artifacts or tmp_path / "artifacts"), *parameters]
    env = {key: value for key, value in os.environ.items() if key != "TQDM_DISABLE"}  # as `make run` prints
    return subprocess.run(args, capture_output=True, text=True, timeout=1200, cwd=ROOT, env=env)


def test_committed_notebook_has_no_outputs_and_short_cells():
    notebook = json.loads(NOTEBOOK.read_text())
    code_cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert [c for c in code_cells if "parameters" in c["metadata"].get("tags", [])], "no parameters cell"
    for cell in code_cells:
        source = "".join(cell["source"])
        assert not cell.get("outputs") and cell.get("execution_count") is None
        assert len(source.splitlines()) <= 15
        assert "def " not in source and "class " not in source


def test_every_figure_has_a_sentence_above_it_saying_what_to_look_for():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    figures = [i for i, cell in enumerate(cells) if _is_figure_cell(cell)]
    assert len(figures) >= 8
    for i in figures:
        above = cells[i - 1]
        assert above["cell_type"] == "markdown" and "Look " in "".join(above["source"]), "".join(cells[i]["source"])


def test_papermill_parses_every_parameter_with_its_help():
    import papermill

    inferred = papermill.inspect_notebook(str(NOTEBOOK))
    assert list(inferred) == list(KNOWN_PARAMETERS)
    assert all(parameter["help"] and parameter["inferred_type_name"] != "None" for parameter in inferred.values())
    result = subprocess.run([sys.executable, "-m", "papermill", "--help-notebook", str(NOTEBOOK)],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0 and "Unable to parse" not in result.stdout + result.stderr
    for name, parameter in inferred.items():
        assert f"{name}: " in result.stdout and parameter["help"] in " ".join(result.stdout.split())


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    """One papermill run of the notebook (fast preset, 600 simulated videos) shared by the tests below."""
    tmp_path = tmp_path_factory.mktemp("notebook")
    artifacts = tmp_path / "artifacts"
    result = _papermill(tmp_path, "-p", "SPEED", "fast", "-p", "DATA_SOURCE", "synthetic",
                        "-p", "N_SYNTHETIC_VIDEOS", "600", "-p", "SEED", "3", artifacts=artifacts)
    return result, tmp_path / "executed.ipynb", artifacts


@pytest.mark.slow
def test_executed_notebook_reads_cleanly(fast_run):
    result, executed, _ = fast_run
    assert result.returncode == 0, result.stderr[-3000:]
    cells = _code_cells(json.loads(executed.read_text()))
    outputs = [output for cell in cells for output in cell["outputs"]]
    assert "TqdmWarning" not in json.dumps(outputs)
    assert not [o for o in outputs if o["output_type"] == "error"]
    stderr = sum(len("".join(o["text"]).splitlines()) for o in outputs
                 if o["output_type"] == "stream" and o["name"] == "stderr")
    assert stderr <= MAX_STDERR_LINES, f"{stderr} lines on stderr"
    training = next(cell for cell in cells if "videoperf.fit(" in "".join(cell["source"]))
    printed = "".join("".join(o["text"]) for o in training["outputs"] if o["output_type"] == "stream")
    assert 2 <= len(printed.splitlines()) <= 8, printed  # one line per stage, no bar refreshes
    for cell in filter(_is_figure_cell, cells):
        images = [o for o in cell["outputs"] if "image/png" in o.get("data", {})]
        assert len(images) == 1, "".join(cell["source"])


@pytest.mark.slow
def test_notebook_runs_in_fast_mode_and_records_metrics(fast_run):
    result, _, artifacts = fast_run
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

    from videoperf import predict_performance

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
