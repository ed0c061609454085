"""The installed package as a newcomer meets it: the console script, ``import videoperf`` from any folder, and a
wheel that carries every subpackage and its data files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ("train", "evaluate", "calibrate", "predict", "trajectory", "batch", "serve")
SCRIPT = Path(sys.executable).with_name("videoperf")


def _run(*args: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # only what the install provides
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def script() -> Path:
    if not SCRIPT.exists():
        pytest.skip(f"{SCRIPT} not found: the package is not installed in this environment (pip install -e .)")
    return SCRIPT


def test_the_console_script_lists_every_subcommand(script, tmp_path):
    done = _run(str(script), "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for command in COMMANDS:
        assert command in done.stdout, command
    for command in COMMANDS:
        sub = _run(str(script), command, "--help", cwd=tmp_path)
        assert sub.returncode == 0 and "usage: videoperf " + command in sub.stdout, (command, sub.stderr)


def test_the_console_script_tells_its_version(script, tmp_path):
    from importlib import metadata

    done = _run(str(script), "--version", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == f"videoperf {metadata.version('videoperf')}"


def test_an_unknown_subcommand_is_refused(script, tmp_path):
    done = _run(str(script), "forecast", cwd=tmp_path)
    assert done.returncode == 2 and "invalid choice" in done.stderr


PREDICT_ELSEWHERE = """
import json, sys
import videoperf
assert "videoperf.api" not in sys.modules  # the public names load on first use
result = videoperf.predict_performance(title="Amazing makeup tutorial", tags=["makeup"], categories=["Howto & Style"],
                                       duration_seconds=600, channel_avg_views=50000, channel_video_count=25,
                                       published_at="2026-03-01T12:00:00Z", artifacts_dir="bundle")
print(json.dumps({"views": result["predicted_views"], "file": videoperf.__file__}))
"""


def test_import_videoperf_predicts_from_another_folder_with_a_relative_bundle(full_bundle, tmp_path):
    (tmp_path / "bundle").symlink_to(full_bundle, target_is_directory=True)
    done = _run(sys.executable, "-c", PREDICT_ELSEWHERE, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["views"] > 0 and Path(out["file"]).parent == ROOT / "videoperf"


def test_the_cli_predicts_from_another_folder(script, full_bundle, tmp_path):
    (tmp_path / "bundle").symlink_to(full_bundle, target_is_directory=True)
    done = _run(str(script), "predict", "--title", "Amazing makeup tutorial", "--tags", "makeup",
                "--channel-avg-views", "50000", "--channel-video-count", "25", "--published-at",
                "2026-03-01T12:00:00Z", "--artifacts", "bundle", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["predicted_views"] > 0


def test_the_wheel_carries_every_subpackage_and_its_data(tmp_path):
    source = tmp_path / "source"  # a copy: building in the checkout would leave build/ behind
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "videoperf", source / "videoperf", ignore=shutil.ignore_patterns("__pycache__"))
    done = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                str(tmp_path), str(source), cwd=tmp_path, timeout=600)
    if done.returncode != 0 and "No module named" in done.stderr:
        pytest.skip(f"cannot build a wheel here: {done.stderr.strip()[-300:]}")
    assert done.returncode == 0, done.stderr[-3000:]
    wheel = next(tmp_path.glob("videoperf-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = {p.relative_to(ROOT).as_posix() for p in (ROOT / "videoperf").rglob("__init__.py")}
    assert packages <= names, sorted(packages - names)
    assert {"videoperf/model_config.json", "videoperf/data/youtube_categories.json"} <= names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "videoperf = videoperf.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
