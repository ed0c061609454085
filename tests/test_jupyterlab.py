"""The path a user clicks through: JupyterLab serves the notebook, a kernel started by the server runs its first cells.

A real JupyterLab server on a free loopback port (root allowed: CI runs as root), the notebook read through the
server's contents API, a kernel started through its sessions API as the Lab frontend does, and the cells sent
over the kernel's websocket as JupyterLab sends them (``allow_stdin: true``).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import websocket
from conftest import ROOT

NOTEBOOK = "Video_Performance_Prediction.ipynb"
START_TIMEOUT = 60.0
CELL_TIMEOUT = 120.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Lab:
    """A running JupyterLab server and an HTTP client that carries its token."""

    def __init__(self, tmp: Path) -> None:
        self.port, self.token = _free_port(), secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        # Config, runtime and IPython folders in tmp: the test leaves the user's Jupyter settings alone.
        env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp / "config"), "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
               "IPYTHONDIR": str(tmp / "ipython")}
        env.pop("TQDM_DISABLE", None)  # conftest quiets bars; a user's kernel has them
        self.log = (tmp / "lab.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
             f"--ServerApp.root_dir={ROOT}", "--LabApp.news_url=None",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.http = httpx.Client(base_url=self.base, headers={"Authorization": f"token {self.token}"}, timeout=30)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.process.returncode}: {self.log_text()[-2000:]}")
            try:
                if self.http.get("/api/status").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"JupyterLab did not answer in {START_TIMEOUT:.0f} s: {self.log_text()[-2000:]}")

    def log_text(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()

    def stop(self) -> None:
        try:
            if self.process.poll() is None:
                self.http.post("/api/shutdown")
                self.process.wait(timeout=20)
        except (httpx.TransportError, subprocess.TimeoutExpired):
            self.process.terminate()
            self.process.wait(timeout=10)
        finally:
            self.http.close()
            self.log.close()


def _execute(channel: websocket.WebSocket, session: str, code: str) -> list[dict]:
    """Run ``code`` as JupyterLab's requestExecute does; the iopub messages it caused, up to idle."""
    msg_id = uuid.uuid4().hex
    channel.send(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": session, "username": "test",
                   "version": "5.3", "date": ""},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                    "allow_stdin": True, "stop_on_error": False}}))
    messages, deadline = [], time.monotonic() + CELL_TIMEOUT
    while time.monotonic() < deadline:
        message = json.loads(channel.recv())
        if message.get("parent_header", {}).get("msg_id") != msg_id or message.get("channel") != "iopub":
            continue
        if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
            return messages
        messages.append(message)
    raise TimeoutError(f"no reply to {code[:60]!r} in {CELL_TIMEOUT:.0f} s")


def _outputs(messages: list[dict], kind: str) -> list[dict]:
    return [m["content"] for m in messages if m["msg_type"] == kind]


@pytest.fixture
def lab(tmp_path):
    server = Lab(tmp_path)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
    assert server.process.returncode is not None, "the server is still running"


def test_jupyterlab_serves_the_notebook_and_runs_its_first_cells(lab, tmp_path):
    page = lab.http.get(f"/lab/tree/{NOTEBOOK}")
    assert page.status_code == 200 and "JupyterLab" in page.text

    model = lab.http.get(f"/api/contents/{NOTEBOOK}", params={"content": "1"}).json()
    assert model["type"] == "notebook"
    cells = [c for c in model["content"]["cells"] if c["cell_type"] == "code"]
    parameters, imports, load_data, first_figure = cells[0], cells[1], cells[2], cells[3]
    assert "parameters" in parameters["metadata"].get("tags", [])
    assert "plots." in first_figure["source"]

    session = lab.http.post("/api/sessions", json={"path": NOTEBOOK, "type": "notebook", "name": NOTEBOOK,
                                                   "kernel": {"name": "python3"}}).json()
    kernel_id = session["kernel"]["id"]
    channel = websocket.create_connection(
        f"ws://127.0.0.1:{lab.port}/api/kernels/{kernel_id}/channels?session_id={session['id']}",
        header=[f"Authorization: token {lab.token}"], timeout=CELL_TIMEOUT)
    try:
        replies = {}
        # The user's edit of the parameters cell: a small simulated run, artifacts kept out of the repository.
        edited = (parameters["source"].replace("N_SYNTHETIC_VIDEOS: int = 3000", "N_SYNTHETIC_VIDEOS: int = 60")
                  .replace('ARTIFACTS_DIR: str = "artifacts"', f'ARTIFACTS_DIR: str = "{tmp_path / "artifacts"}"'))
        assert edited != parameters["source"]
        for name, source in (("parameters", edited), ("imports", imports["source"]),
                             ("data", load_data["source"]), ("figure", first_figure["source"])):
            replies[name] = _execute(channel, session["id"], source)
            assert not _outputs(replies[name], "error"), (name, _outputs(replies[name], "error"))
            stderr = [o["text"] for o in _outputs(replies[name], "stream") if o["name"] == "stderr"]
            assert not stderr, (name, stderr)  # a red box in JupyterLab
        settings = _outputs(replies["imports"], "execute_result")[0]["data"]
        assert "speed preset" in settings["text/html"] and "60 simulated videos" in settings["text/html"]
        assert len(settings["text/plain"].splitlines()) <= 20  # compact, not the repr of every preset
        assert "daily snapshots" in _outputs(replies["data"], "execute_result")[0]["data"]["text/html"]
        assert any("image/png" in o["data"] for o in _outputs(replies["figure"], "display_data"))

        # A person's frontend gets widget bars (the same bar is one printed line under papermill).
        mode = _execute(channel, session["id"], "progress.progress_mode()")
        assert _outputs(mode, "execute_result")[0]["data"]["text/plain"] == "'widgets'"
        bar = _execute(channel, session["id"], "for _ in progress.progress(range(3), desc='check'): pass")
        assert any("application/vnd.jupyter.widget-view+json" in o["data"] for o in _outputs(bar, "display_data"))
    finally:
        channel.close()
        lab.http.delete(f"/api/sessions/{session['id']}")
