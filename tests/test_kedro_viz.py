"""Lineage review: `kedro viz build` produces a static site that renders the project's pipelines
in a real headless Chromium (Debian's `chromium`, installed by `make chromium`), served over
HTTP on 127.0.0.1. `kedro viz build` exits 0 even when it fails, so its output is checked too.

What it proves: the build (made in a copy of the project, so the checkout's build/ is untouched)
lists every registered pipeline with its nodes and every dataset with a layer, in the layer order
raw -> ... -> reporting; and the browser draws the flowchart with one node of each pipeline of a
normal run and the layer bands, and a non-trivial screenshot, watching the page in real time
over the DevTools protocol until the graph is laid out. Chromium is kept off the network:
every host but 127.0.0.1 resolves to nothing and goes through a dead proxy (the page asks for
Google Fonts, Chromium for its own services)."""

from __future__ import annotations

import base64
import contextlib
import functools
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import PROJECT
from websockets.sync.client import connect

KEDRO = Path(sys.executable).parent / "kedro"
LAYERS = ["raw", "bronze", "silver", "model", "gold", "ops", "features", "model_input", "models", "model_output", "reporting", "publish"]
# one node of each pipeline a normal run draws
EXPECTED_NODES = {"apply_silver_orders", "dq_gate", "customer_features", "publish_to_mlflow", "score_customers", "build_report"}
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1600,1000"]
OFFLINE_FLAGS = ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--proxy-server=http://127.0.0.1:9",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-domain-reliability"]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The static build, made in a copy of the project so the checkout's build/ is untouched."""
    root = tmp_path_factory.mktemp("viz")
    project = root / "project"
    project.mkdir()
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(PROJECT / name, project / name)
    shutil.copytree(PROJECT / "conf", project / "conf", ignore=shutil.ignore_patterns("local"))
    (project / "conf" / "local").mkdir()
    shutil.copytree(PROJECT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "MLFLOW_DISABLE_TELEMETRY": "true",
           "RCT_DATA_DIR": str(root / "data"), "RCT_RAW_DIR": str(root / "raw")}
    result = subprocess.run([str(KEDRO), "viz", "build"], cwd=project, env=env, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "Failed" not in output and "Success" in output, output[-3000:]
    assert (project / "build" / "index.html").exists()
    return project / "build"


@pytest.fixture(scope="module")
def url(site: Path):
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def _chromium(profile: Path):
    """Headless Chromium with its DevTools protocol on 127.0.0.1; closed on exit."""
    binary = shutil.which("chromium")
    assert binary, "Debian's chromium is needed for this test: run `make chromium` (make test does)"
    log = profile.with_suffix(".log")
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, *OFFLINE_FLAGS, "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        active_port = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (active_port.exists() and len(active_port.read_text().splitlines()) == 2):
            assert process.poll() is None, f"chromium exited: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "chromium opened no DevTools port in 60 s"
            time.sleep(0.1)
        port, path = active_port.read_text().splitlines()
        with connect(f"ws://127.0.0.1:{port}{path}", max_size=None, open_timeout=30) as socket:
            yield _Browser(socket)
    finally:
        process.terminate()
        process.wait(timeout=30)


class _Browser:
    """Headless Chromium driven over the DevTools protocol (a websocket on 127.0.0.1).

    kedro-viz lays the graph out in a web worker after the page has loaded, so the page is
    watched in real time until the nodes are drawn (or `deadline` seconds pass), whatever the
    machine's speed; a one-shot `--dump-dom` judges the page at a moment unrelated to the drawing."""

    def __init__(self, socket):
        self._socket = socket
        self._ids = itertools.count(1)
        target = self._call("Target.createTarget", url="about:blank")["targetId"]
        self._session = self._call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def _call(self, method: str, session: str | None = None, **params) -> dict:
        message_id = next(self._ids)
        message = {"id": message_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self._socket.send(json.dumps(message))
        while True:
            reply = json.loads(self._socket.recv(timeout=120))
            if reply.get("id") == message_id:
                assert "error" not in reply, (method, reply["error"])
                return reply["result"]

    def page(self, method: str, **params) -> dict:
        return self._call(method, session=self._session, **params)

    def evaluate(self, expression: str):
        return self.page("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def open(self, url: str, done: str, deadline: float) -> bool:
        """Load `url` and wait until the JavaScript expression `done` is true; False at the deadline."""
        self.page("Page.navigate", url=url)
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.evaluate(done):
                return True
            time.sleep(0.5)
        return False


def _registered_pipelines() -> set[str]:
    """What `find_pipelines` registers: one package per folder of pipelines/, plus __default__."""
    folder = PROJECT / "src" / "retail_control_tower" / "pipelines"
    return {p.parent.name for p in folder.glob("*/__init__.py")} | {"__default__"}


def _drawn_task_labels(dom: str) -> dict[str, str]:
    """Task nodes drawn in the flowchart: full name (data-node-fullname) -> the label shown."""
    labels = {}
    for group in dom.split('<g tabindex="0" class="pipeline-node pipeline-node--task"')[1:]:
        name = re.search(r'data-node-fullname="([^"]+)"', group)
        text = re.search(r'<text class="pipeline-node__text"[^>]*>([^<]*)</text>', group)
        if name and text:
            labels[name.group(1)] = text.group(1)
    return labels


def test_the_build_lists_every_pipeline_and_draws_layers_in_order(site: Path):
    main = json.loads((site / "api" / "main").read_text())
    assert main["layers"] == LAYERS
    assert {p["id"] for p in main["pipelines"]} == _registered_pipelines()
    for pipeline in _registered_pipelines():
        graph = json.loads((site / "api" / "pipelines" / pipeline).read_text())
        assert any(n["type"] == "task" for n in graph["nodes"]), f"pipeline {pipeline} has no nodes in the build"
    tasks = {n["name"] for n in main["nodes"] if n["type"] == "task"}
    assert EXPECTED_NODES <= tasks
    datasets = [n for n in main["nodes"] if n["type"] == "data" and n["name"] != "run_context"]
    assert all(n.get("layer") for n in datasets), [n["name"] for n in datasets if not n.get("layer")]


def test_the_flowchart_renders_in_headless_chromium(url: str, tmp_path: Path):
    with _chromium(tmp_path / "profile") as browser:
        names = json.dumps(sorted(EXPECTED_NODES))
        drawn_all = (f"{names}.every(n => document.querySelector("
                     "`g.pipeline-node--task[data-node-fullname=\"${n}\"] text.pipeline-node__text`))")
        finished = browser.open(url, drawn_all, deadline=180)
        dom = browser.evaluate("document.documentElement.outerHTML")
        screenshot = base64.b64decode(browser.page("Page.captureScreenshot", format="png")["data"])
    assert 'class="pipeline-flowchart kedro"' in dom, dom[:2000]
    drawn = _drawn_task_labels(dom)
    assert finished and EXPECTED_NODES <= set(drawn), sorted(drawn)[:20]
    # kedro-viz 12.5 shows the node names as they are (its "pretty names" are off by default)
    assert all(drawn[name] == name for name in EXPECTED_NODES), {name: drawn[name] for name in EXPECTED_NODES}
    bands = re.findall(r'data-id="layer-label--([a-z_]+)"', dom)
    assert bands == LAYERS
    assert screenshot[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(screenshot) > 20_000
    (tmp_path / "kedro-viz.png").write_bytes(screenshot)
