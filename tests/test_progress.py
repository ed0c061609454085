"""Progress and log output: which bar a context gets, one line per stage in batch, only errors on stderr."""

from __future__ import annotations

import logging
import sys
import types
import warnings

import pytest

from videoperf import progress


class _Kernel:
    def __init__(self, allow_stdin: bool | None) -> None:
        self.parent = {} if allow_stdin is None else {"content": {"allow_stdin": allow_stdin}}

    def get_parent(self, channel: str = "shell") -> dict:
        return self.parent


@pytest.fixture
def kernel(monkeypatch):
    """Pretend to run inside an IPython kernel whose current request allows stdin or not."""
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    monkeypatch.delenv("VIDEOPERF_PROGRESS", raising=False)

    def install(allow_stdin: bool | None) -> None:
        shell = types.SimpleNamespace(kernel=_Kernel(allow_stdin))
        monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))

    return install


def test_a_person_gets_widgets_and_papermill_gets_lines(kernel):
    kernel(True)
    assert progress.progress_mode() == "widgets"
    kernel(False)  # papermill / nbconvert execute with allow_stdin False
    assert progress.progress_mode() == "lines"
    kernel(None)
    assert progress.progress_mode() == "lines"


def test_outside_a_kernel_bars_are_text_and_the_environment_decides_first(monkeypatch, kernel):
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: None))
    assert progress.progress_mode() == "text"
    kernel(True)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert progress.progress_mode() == "off"
    monkeypatch.setenv("VIDEOPERF_PROGRESS", "lines")
    assert progress.progress_mode() == "lines"


def test_a_stage_prints_one_line_when_it_ends_and_an_inner_bar_nothing(kernel, capsys):
    kernel(False)
    with progress.progress(total=5, desc="ensemble", unit="fit") as bar:
        for _ in range(5):
            bar.set_postfix_str("fold 1/4 xgboost")
            bar.update()
    assert list(progress.progress(range(3), desc="folds", unit="fold")) == [0, 1, 2]
    assert list(progress.progress(range(4), desc="epoch 1", unit="batch", transient=True)) == [0, 1, 2, 3]
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 2 and not captured.err
    assert lines[0].startswith("ensemble: 5/5 fits in ") and lines[1].startswith("folds: 3/3 folds in ")


def test_a_disabled_bar_prints_nothing(kernel, capsys):
    kernel(False)
    bar = progress.progress(total=2, desc="quiet", enabled=False)
    bar.update(2)
    bar.close()
    assert capsys.readouterr() == ("", "")


def test_notebook_logging_puts_only_errors_on_stderr(capsys):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        progress.configure_logging(verbose=False)
        progress.configure_logging(verbose=False)  # a cell run twice does not print twice
        log = logging.getLogger("notebook_test")  # conftest quiets "videoperf"
        log.info("hidden")
        log.warning("careful")
        log.error("broken")
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("a library warning", UserWarning, stacklevel=1)
        captured = capsys.readouterr()
        assert "hidden" not in captured.out + captured.err
        assert captured.out.count("careful") == 1 and "a library warning" in captured.out
        assert captured.err.strip() == "ERROR notebook_test: broken"
        progress.configure_logging(verbose=True)
        log.info("shown")
        assert "shown" in capsys.readouterr().out
    finally:
        logging.captureWarnings(False)
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
