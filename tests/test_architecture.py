"""The shape of the code: no import cycle, dependencies pointing one way, predicting without training code."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ("predict", "model_update")
# Modules only training and evaluation need; predicting must import none of them.
TRAINING = {"videoperf.pipeline", "videoperf.deep_training", "videoperf.validation", "videoperf.evaluation",
            "videoperf.backtest", "videoperf.live_level", "videoperf.settings", "videoperf.sampling",
            "videoperf.report",
            "videoperf.run_settings", "videoperf.data", "videoperf.synthetic", "videoperf.plots", "model_update",
            "videoperf.api_export", "videoperf.population", "videoperf.tables", "videoperf.dask_data",
            "videoperf.dask_training"}
# data -> targets -> features -> models -> bundle -> predict / serve; a module imports its own layer or lower ones.
LAYERS = {
    "videoperf.config": 0, "videoperf.plain": 0, "videoperf.progress": 0, "videoperf.cluster": 0,
    "videoperf.data": 1, "videoperf.synthetic": 1, "videoperf.api_export": 1, "videoperf.population": 1,
    "videoperf.lifecycle": 2, "videoperf.validation": 2, "videoperf.sampling": 2, "videoperf.metrics": 2,
    "videoperf.curve": 2, "videoperf.observed": 2, "videoperf.observed_intervals": 2, "videoperf.shape_select": 2,
    "videoperf.channel_history": 3, "videoperf.content_features": 3, "videoperf.target_encoding": 3,
    "videoperf.features": 3, "videoperf.dask_data": 3,
    "videoperf.intervals": 4, "videoperf.fast_trees": 4, "videoperf.ensemble": 4, "videoperf.text_encoders": 4,
    "videoperf.bert_inference": 4,
    "videoperf.deep": 4,
    "videoperf.deep_training": 4, "videoperf.family": 4, "videoperf.artifacts": 4, "videoperf.ensemble_family": 4,
    "videoperf.deep_family": 4, "videoperf.registry": 4, "videoperf.calibration": 4, "videoperf.forecasting": 4,
    "videoperf.bundle": 5, "videoperf.settings": 5, "videoperf.pipeline": 5,
    "videoperf.inputs": 6, "videoperf.predictions": 6, "videoperf.service": 6, "videoperf.evaluation": 6,
    "videoperf.live_level": 6,
    "videoperf.backtest": 6, "videoperf.report": 6, "videoperf.run_settings": 6, "videoperf.plots": 6,
    "videoperf.tables": 6, "videoperf.dask_training": 6, "videoperf.dask_scoring": 6, "videoperf.family_curve": 6,
    "predict": 7, "model_update": 7,
}


def _modules() -> dict[str, Path]:
    out = {f"videoperf.{path.stem}": path for path in (ROOT / "videoperf").glob("*.py") if path.stem != "__init__"}
    out.update({name: ROOT / f"{name}.py" for name in SCRIPTS})
    return out


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(path: Path, known: set[str], nested: bool = True) -> set[str]:
    """Repository modules ``path`` imports, except under ``if TYPE_CHECKING``: anywhere (inside functions too),
    or with ``nested=False`` only those run when the module is imported (outside functions)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if _type_checking(node) or (not nested and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))):
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return found & known


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, set(modules)) - {name} for name, path in modules.items()}


def test_every_module_has_a_layer():
    assert set(_modules()) == set(LAYERS), set(_modules()) ^ set(LAYERS)


def test_no_import_cycle():
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_dependencies_point_one_way():
    upward = sorted(f"{a} ({LAYERS[a]}) imports {b} ({LAYERS[b]})" for a, targets in _graph().items()
                    for b in targets if LAYERS[b] > LAYERS[a])
    assert not upward, upward


def test_the_package_imports_no_script():
    offending = {a: targets & set(SCRIPTS) for a, targets in _graph().items() if a.startswith("videoperf.")}
    assert not any(offending.values()), offending


def test_importing_the_inference_modules_imports_no_training_module():
    modules = _modules()
    graph = {name: _imports(path, set(modules), nested=False) - {name} for name, path in modules.items()}
    for start in ("videoperf.bundle", "videoperf.predictions", "videoperf.service", "videoperf.inputs",
                  "videoperf.family_curve", "predict"):
        reached, todo = set(), [start]
        while todo:  # everything importing ``start`` imports, transitively
            for nxt in graph[todo.pop()] - reached:
                reached.add(nxt)
                todo.append(nxt)
        assert not reached & TRAINING, (start, sorted(reached & TRAINING))


PREDICT_AND_LIST_MODULES = """
import json, sys
sys.path.insert(0, {root!r})
import predict
call = dict(title="Amazing makeup tutorial", tags=["makeup"], categories=["Howto & Style"], duration_seconds=600,
            channel_avg_views=50000, channel_video_count=25, artifacts_dir={folder!r})
for model_type in ("ensemble", "deep_learning"):
    assert predict.predict_performance(**call, model_type=model_type)["predicted_views"] >= 0
print(json.dumps(sorted(sys.modules)))
"""


def test_predicting_imports_no_training_module(full_bundle):
    script = PREDICT_AND_LIST_MODULES.format(root=str(ROOT), folder=str(full_bundle))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "videoperf.bundle" in loaded and "videoperf.deep" in loaded  # both families really predicted
    assert not loaded & TRAINING, sorted(loaded & TRAINING)
