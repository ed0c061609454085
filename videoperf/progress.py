"""What long steps print: widget bars for a person in Jupyter, one line per stage in batch runs.

``tqdm.auto`` cannot tell JupyterLab from papermill: both run an IPython kernel, so under papermill it draws
text bars on stderr (every refresh a new red line in the saved notebook). The kernel does know whether the
request it is executing came from a frontend with a person at it: JupyterLab, Notebook and VS Code send
``allow_stdin=True`` (they can answer ``input()``), papermill and nbconvert (nbclient) send ``False``.

Modes (``VIDEOPERF_PROGRESS`` overrides the choice; ``TQDM_DISABLE=1`` means ``off``):

- ``widgets``: tqdm's ipywidgets bars (a person's frontend with ipywidgets installed);
- ``lines``: nothing while a stage runs, one line on stdout when it ends (a kernel run in batch);
- ``text``: tqdm's text bars on stderr (a terminal, e.g. ``videoperf train``);
- ``off``: nothing.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

MODES = ("widgets", "lines", "text", "off")


def _kernel() -> Any | None:
    """The running IPython kernel, or None outside one (a plain interpreter or terminal IPython)."""
    shell_module = sys.modules.get("IPython")
    if shell_module is None:
        return None
    shell = shell_module.get_ipython()
    return getattr(shell, "kernel", None)


def _person_at_frontend(kernel: Any) -> bool:
    """True when the request being executed allows stdin, as a person's frontend's requests do."""
    try:
        parent = kernel.get_parent("shell")
    except Exception:  # an older or unusual kernel: assume batch, which never prints more than a line
        return False
    return bool((parent or {}).get("content", {}).get("allow_stdin", False))


def progress_mode() -> str:
    """The mode for a bar created now (see the module docstring)."""
    override = os.environ.get("VIDEOPERF_PROGRESS", "").strip().lower()
    if override in MODES:
        return override
    if os.environ.get("TQDM_DISABLE", "").strip().lower() in ("1", "true", "yes"):
        return "off"
    kernel = _kernel()
    if kernel is None:
        return "text"
    if _person_at_frontend(kernel) and importlib.util.find_spec("ipywidgets") is not None:
        return "widgets"
    return "lines"


class StageLine:
    """A stand-in for a tqdm bar that counts silently and prints one line when closed."""

    def __init__(self, iterable: Iterable | None, total: int | None, desc: str, unit: str) -> None:
        self.iterable, self.desc, self.unit = iterable, desc, unit
        self.total = total if total is not None else _length(iterable)
        self.n = 0
        self._started = time.perf_counter()
        self._closed = False

    def __iter__(self) -> Iterator:
        for item in self.iterable or ():
            yield item
            self.n += 1
        self.close()

    def __enter__(self) -> StageLine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        """Accepted and ignored: a batch log wants the result of a stage, not its changing state."""

    def set_postfix_str(self, *args: Any, **kwargs: Any) -> None:
        """Accepted and ignored, like ``set_postfix``."""

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        done = f"{self.n}/{self.total}" if self.total else str(self.n)
        print(f"{self.desc}: {done} {self.unit}s in {time.perf_counter() - self._started:.1f} s", flush=True)


def _length(iterable: Iterable | None) -> int | None:
    try:
        return len(iterable)  # type: ignore[arg-type]
    except TypeError:
        return None


def progress(iterable: Iterable | None = None, *, total: int | None = None, desc: str = "", unit: str = "it",
             enabled: bool = True, transient: bool = False) -> Any:
    """A progress bar for one stage (``tqdm`` interface: iterate, ``update``, ``set_postfix``, ``close``).

    ``transient``: an inner bar (the batches of one epoch) that vanishes when done and prints nothing in
    ``lines`` mode, where the enclosing stage's line says enough.
    """
    mode = progress_mode() if enabled else "off"
    if mode == "lines" and not transient:
        return StageLine(iterable, total, desc, unit)
    if mode == "widgets":
        from tqdm.notebook import tqdm as bar
    else:
        from tqdm.std import tqdm as bar
    disable = mode in ("off", "lines")
    return bar(iterable, total=total, desc=desc, unit=unit, leave=not transient, disable=disable)


class _LevelStream(logging.StreamHandler):
    """Records below ERROR to stdout, errors to stderr, looked up at each record.

    A notebook paints stderr red, so an INFO line on stderr reads like a failure. Looking the stream up at
    emit time follows the kernel's per-cell streams and pytest's capture.
    """

    def emit(self, record: logging.LogRecord) -> None:
        self.setStream(sys.stderr if record.levelno >= logging.ERROR else sys.stdout)
        super().emit(record)


def configure_logging(verbose: bool = False) -> None:
    """Notebook logging: WARNING and up (INFO and up when ``verbose``), Python warnings included, only errors on stderr.

    Replaces the handlers of the root logger, so running the cell twice does not print every line twice.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = _LevelStream()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    logging.captureWarnings(True)  # warnings.warn() would otherwise go to stderr, red
