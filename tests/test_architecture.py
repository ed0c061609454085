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
TRAINING = {
    "videoperf.data.sources", "videoperf.data.synthetic", "videoperf.data.synthetic_fields",
    "videoperf.data.api_export", "videoperf.data.analytics_reports", "videoperf.data.population",
    "videoperf.data.splits", "videoperf.data.sampling",
    "videoperf.models.deep.training", "videoperf.models.deep.training_data", "videoperf.models.deep.training_loop",
    "videoperf.models.deep.losses", "videoperf.training.pipeline", "videoperf.training.settings",
    "videoperf.evaluation.holdout", "videoperf.evaluation.backtest", "videoperf.evaluation.live_level",
    "videoperf.distributed.data", "videoperf.distributed.training", "videoperf.notebook.report",
    "videoperf.notebook.tables", "videoperf.notebook.plots", "videoperf.notebook.run_settings", "model_update",
}
# The layers, lowest first: a module imports its own layer or lower ones, never a higher one. The modules at the
# top of the package are either the base every layer may use or the public face that may use every layer.
BASE = {"videoperf.config", "videoperf.plain", "videoperf.progress", "videoperf.library_internals"}
SUBPACKAGES = ("data", "lifecycle", "features", "models", "forecasting", "training", "evaluation", "serving",
               "distributed", "notebook")
FACE = {"videoperf", "videoperf.api", "videoperf.cli", "videoperf.__main__"}
MAX_TOP_MODULES = 8
MAX_LINES = 400


def _layer(module: str) -> int:
    if module in BASE:
        return 0
    if module in SCRIPTS:
        return len(SUBPACKAGES) + 2
    if module in FACE:
        return len(SUBPACKAGES) + 1
    return 1 + SUBPACKAGES.index(module.split(".")[1])


def _name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    out = {_name(path): path for path in (ROOT / "videoperf").rglob("*.py")}
    out.update({name: ROOT / f"{name}.py" for name in SCRIPTS})
    return out


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(path: Path, known: set[str], nested: bool = True, type_checking: bool = True) -> set[str]:
    """Repository modules ``path`` imports: anywhere (inside functions too), or with ``nested=False`` only those
    run when the module is imported (outside functions); ``type_checking=False`` leaves out the imports under
    ``if TYPE_CHECKING``, which never run but still tie one module to another."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if (not type_checking and _type_checking(node)) or (
                not nested and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))):
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import (the package imports absolutely)"
            if node.module != "videoperf":  # ``from videoperf import config`` imports config, not the public face
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
    for name in _modules():
        assert name in BASE | FACE or name in SCRIPTS or name.split(".")[1] in SUBPACKAGES, name


def test_the_top_of_the_package_holds_few_modules():
    top = sorted(path.name for path in (ROOT / "videoperf").glob("*.py"))
    assert len(top) <= MAX_TOP_MODULES, top
    assert {_name(ROOT / "videoperf" / name) for name in top} <= BASE | FACE, top


def test_no_module_is_long():
    long = {name: n for name, path in _modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, long


def test_every_subpackage_says_what_it_owns_and_may_import():
    for name in SUBPACKAGES:
        doc = ast.get_docstring(ast.parse((ROOT / "videoperf" / name / "__init__.py").read_text())) or ""
        assert "may import" in " ".join(doc.split()), f"videoperf.{name}: its docstring names what it may import"


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
    upward = sorted(f"{a} ({_layer(a)}) imports {b} ({_layer(b)})" for a, targets in _graph().items()
                    for b in targets if _layer(b) > _layer(a))
    assert not upward, upward


def test_the_package_imports_no_script():
    offending = {a: targets & set(SCRIPTS) for a, targets in _graph().items() if a.startswith("videoperf.")}
    assert not any(offending.values()), offending


def test_importing_the_inference_modules_imports_no_training_module():
    modules = _modules()
    graph = {name: _imports(path, set(modules), nested=False, type_checking=False) - {name}
             for name, path in modules.items()}
    for start in ("videoperf.serving.bundle", "videoperf.serving.predictions", "videoperf.serving.service",
                  "videoperf.serving.service_schemas", "videoperf.serving.request", "videoperf.serving.rules",
                  "videoperf.serving.batch_checks", "videoperf.serving.family_curve", "predict"):
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
    # both families really predicted
    assert "videoperf.serving.bundle" in loaded and "videoperf.models.deep.network" in loaded
    assert not loaded & TRAINING, sorted(loaded & TRAINING)


# The libraries whose internals only ``videoperf.library_internals`` may touch, and their private modules whose names
# do not start with an underscore.
LIBRARIES = ("sklearn", "xgboost", "lightgbm", "torch")
PRIVATE_MODULES = {"sklearn.utils.sparsefuncs_fast"}
# Underscore names of other libraries that their documentation tells users to read.
DOCUMENTED = {"_meta": "a Dask collection's empty frame of its columns and dtypes (Dask DataFrame design docs)"}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _own_names(trees: list[ast.AST]) -> set[str]:
    """Underscore names the package defines: functions, classes, variables, arguments, import aliases and
    attributes it sets on ``self`` or ``cls``."""
    names: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, ast.alias) and node.asname:
                names.add(node.asname)
            elif (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
                  and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                names.add(node.attr)
    return {name for name in names if _private(name)}


def _library_internals_used(tree: ast.AST, own: set[str]) -> list[str]:
    """Each import of a private name or module of ``LIBRARIES``, and each underscore attribute the package does
    not define itself (``x._name``, or its name given to ``getattr`` / ``hasattr`` / ``setattr``)."""
    found = []

    def private_module(dotted: str) -> bool:
        parts = dotted.split(".")
        return parts[0] in LIBRARIES and (any(map(_private, parts)) or dotted in PRIVATE_MODULES)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names if private_module(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in LIBRARIES:
            if private_module(node.module) or any(private_module(f"{node.module}.{a.name}") for a in node.names):
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in own | set(DOCUMENTED):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("getattr", "hasattr", "setattr") and len(node.args) > 1
              and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
              and _private(node.args[1].value) and node.args[1].value not in own):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_only_library_internals_touches_the_libraries_internals():
    trees = {name: ast.parse(path.read_text()) for name, path in _modules().items()
             if name != "videoperf.library_internals"}
    own = _own_names(list(trees.values()))
    used = {name: found for name, tree in trees.items() if (found := _library_internals_used(tree, own))}
    assert not used, used


def test_the_internals_check_finds_private_imports_and_attributes():
    own = {"_cache"}
    for source in ("from sklearn.utils import _safe_indexing", "import torch._C", "from torch import _C as c",
                   "from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2",
                   "from sklearn.utils import sparsefuncs_fast", "from xgboost.core import _array_interface",
                   "from lightgbm.basic import _LIB", "vectorizer._tfidf.idf_", "model._predictors[0]",
                   "getattr(model, '_baseline_prediction')", "module._modules", "self._unknown"):
        assert _library_internals_used(ast.parse(source), own), source
    for source in ("from sklearn.utils import check_array", "import torch.nn.functional as F", "self._cache",
                   "x.__class__", "frame._meta", "from videoperf.plain import _private_helper",
                   "getattr(self, '_cache', None)"):
        assert not _library_internals_used(ast.parse(source), own), source
