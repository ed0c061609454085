"""The results tables of docs/results.md and the README's headline table are the committed benchmark measurements,
number for number; the README stays short and its links resolve."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from results_table import (  # noqa: E402
    RESULTS,
    generated_block,
    load_backtests,
    load_results,
    load_train_times,
    pages,
)

NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?")
DATE = re.compile(r"\b\d{4}-\d{2}(?:-\d{2})?\b")


# Parts of the reports that hold settings or diagnostics, not results: a published figure never comes from them.
NOT_RESULTS = {"preset", "params", "families", "ensemble_oof", "deep_fit", "machine"}


def json_numbers() -> list[float]:
    """Every result number in the committed accuracy / speed JSON; times also in minutes, memory also in GB."""
    values: list[float] = []

    def walk(node: object, path: tuple[str, ...]) -> None:
        if isinstance(node, dict):
            for key, item in node.items():
                if key not in NOT_RESULTS:
                    walk(item, (*path, str(key)))
        elif isinstance(node, list):
            for item in node:
                walk(item, path)
        elif isinstance(node, (int, float)) and not isinstance(node, bool):
            values.append(float(node))
            if "seconds" in path:
                values.append(node / 60)
            if path and path[-1].endswith("_mb"):
                values.append(node / 1024)

    files = [*sorted(RESULTS.glob("backtest_*.json")), *sorted(RESULTS.glob("accuracy_*.json")),
             *sorted(RESULTS.glob("train_*.json")), RESULTS / "speed.json"]
    for path in files:
        if path.is_file():
            walk(json.loads(path.read_text()), ())
    return values


def table_numbers(block: str) -> list[str]:
    """Numbers in the body cells of every markdown table of ``block`` (not the header, not the row label, not
    a date such as a backtest month)."""
    found = []
    lines = block.splitlines()
    for i, line in enumerate(lines):
        header = i + 1 < len(lines) and lines[i + 1].startswith("|---")
        if not line.startswith("|") or set(line) <= set("|-") or header:
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        for cell in cells[1:]:
            found += NUMBER.findall(DATE.sub("", cell.replace("`", "")))
    return found


def matches(token: str, values: list[float]) -> bool:
    """``token`` as printed equals some value rounded to the token's number of decimals."""
    text = token.replace(",", "")
    decimals = len(text.split(".")[1]) if "." in text else 0
    shown = f"{float(text):.{decimals}f}"
    return any(f"{value:.{decimals}f}" == shown for value in values)


README_MAX_LINES = 150
# Fewest numbers each generated block's tables hold: the full results, and the README's headline table.
MIN_NUMBERS = {"results.md": 50, "README.md": 12}


def _generated() -> list[tuple[str, str, str]]:
    """``(page name, block on the page, block the generator writes)`` for each page with a generated block."""
    return [(page.name, generated_block(page.read_text(), begin, end), block) for page, begin, end, block in pages()]


def test_the_generated_blocks_are_generated_from_the_committed_results() -> None:
    for name, on_page, generated in _generated():
        assert on_page == generated, (
            f"{name}: results differ from benchmarks/results/*.json: run `python benchmarks/results_table.py --write`")


def test_every_number_in_the_generated_tables_is_in_a_benchmark_json() -> None:
    values = json_numbers()
    for name, on_page, _ in _generated():
        tokens = table_numbers(on_page)
        assert len(tokens) >= MIN_NUMBERS[name], f"{name}: the results tables should hold the measured figures"
        missing = [token for token in tokens if not matches(token, values)]
        assert not missing, f"{name}: numbers not found in benchmarks/results/*.json: {missing}"


def test_the_readme_is_short() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail to docs/"


def test_the_readme_states_the_test_command_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "make test" in (ROOT / "README.md").read_text()


LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_the_links_of_the_readme_and_the_docs_resolve() -> None:
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in LINK.findall(page.read_text()):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), f"{page.relative_to(ROOT)}: broken link {target}"


def test_the_number_check_can_fail() -> None:
    values = json_numbers()
    assert not matches("123456789.123", values)
    assert not any(matches(token, values) for token in table_numbers("| row | 0.12345678 | 98765.4321 |"))


def test_the_backtest_the_split_and_the_speed_benchmark_are_committed() -> None:
    accuracy, speed = load_results()
    assert "fast" in load_backtests(), "benchmarks/results/backtest_fast.json is missing: run benchmarks/backtest.py"
    assert "fast" in accuracy, "benchmarks/results/accuracy_fast.json is missing: run benchmarks/accuracy.py"
    assert speed is not None, "benchmarks/results/speed.json is missing: run benchmarks/speed.py"


def test_every_preset_trains_within_its_goal() -> None:
    accuracy, speed = load_results()
    for name, report in accuracy.items():
        assert report["seconds"]["train_total"] <= 60 * report["training_goal_minutes"], name
        assert report["cold_cache"], f"{name}: the training time should start from an empty embedding cache"
    # speed.json's training step, when it has one, is the whole-file time train_<speed>.json holds: checked below
    if speed and speed.get("train"):
        whole = load_train_times().get(speed.get("speed", "fast"))
        assert whole is not None and whole["seconds"] == speed["train"]["seconds"], "train_<speed>.json is stale"


@pytest.mark.xfail(strict=True, reason="known miss: `fast` on the whole export took 323 s (train_fast.json) "
                   "against its 5-minute goal since the bundle also fits the observed-days forecaster with its per-K "
                   "shape choice (118 s of it, two shapes in two threads); strict, so this fails the day the goal "
                   "is met again")
def test_every_preset_trains_within_its_goal_on_the_whole_file() -> None:
    for name, report in load_train_times().items():  # the same presets trained on the whole file
        assert report["seconds"] <= 60 * report["goal_minutes"], name


def test_both_models_beat_the_channel_mean_in_every_committed_preset() -> None:
    accuracy, _ = load_results()
    for speed, report in accuracy.items():
        metrics = report["metrics"]
        for model in ("ensemble", "deep_learning"):
            for key in ("views_log_r2", "views_spearman"):
                assert metrics[key][model] > metrics[key]["channel_mean"], (speed, model, key)


# Bars of issue 11 that the committed backtest does not meet yet: each must keep failing until fixed (strict).
KNOWN_SHORTFALLS: dict[tuple[str, str], str] = {}


def _backtest_checks() -> list:
    cases = []
    for name, report in load_backtests().items():
        if "_" in name:  # a variant (one setting changed), kept to show what a change bought
            continue
        for check, passed in report["checks"].items():
            reason = KNOWN_SHORTFALLS.get((name, check))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            cases.append(pytest.param(passed, marks=marks, id=f"{name}-{check}"))
    return cases


@pytest.mark.parametrize("passed", _backtest_checks())
def test_the_backtest_holds_up_months_after_training(passed: bool) -> None:
    """Issue 11's bar, on each committed backtest with live channel history: accuracy 3 months ahead within 0.03 of
    1 month ahead (on the origins that reach 3 months), |mean log error| <= 0.10 and 80% coverage in 0.75..0.85 in
    every cell (ensemble), every model above the channel-mean baseline on log R² and Spearman in every cell."""
    assert passed
