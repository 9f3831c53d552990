"""Lineage review: `kedro viz build` produces a static site that renders the project's pipelines
in a real headless Chromium (Debian's `chromium`, installed by `make chromium`), served over
HTTP on 127.0.0.1. `kedro viz build` exits 0 even when it fails, so its output is checked too.

What it proves: the build (made in a copy of the project, so the checkout's build/ is untouched)
lists every registered pipeline with its nodes and every dataset with a layer, in the layer order
raw -> ... -> reporting; and the browser draws the flowchart with one node of each pipeline of a
normal run and the layer bands, and a non-trivial screenshot. Chromium is kept off the network:
every host but 127.0.0.1 resolves to nothing and goes through a dead proxy (the page asks for
Google Fonts, Chromium for its own services)."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import PROJECT

KEDRO = Path(sys.executable).parent / "kedro"
LAYERS = ["raw", "bronze", "silver", "model", "gold", "ops", "features", "model_input", "models", "model_output", "reporting", "publish"]
# one node of each pipeline a normal run draws
EXPECTED_NODES = {"apply_silver_orders", "dq_gate", "customer_features", "publish_to_mlflow", "score_customers", "build_report"}
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--virtual-time-budget=15000", "--window-size=1600,1000"]
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


def _chromium(*args: str) -> subprocess.CompletedProcess:
    binary = shutil.which("chromium")
    assert binary, "Debian's chromium is needed for this test: run `make chromium` (make test does)"
    return subprocess.run([binary, *CHROMIUM_FLAGS, *OFFLINE_FLAGS, *args], capture_output=True, text=True, timeout=180)


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
    # kedro-viz lays the graph out in a web worker, which runs in real time while the page's
    # clock is fast-forwarded (--virtual-time-budget): on a loaded machine the DOM can be
    # dumped before the nodes are drawn. Up to three loads of the page; the last one is judged.
    for _ in range(3):
        dom = _chromium("--dump-dom", url)
        drawn = _drawn_task_labels(dom.stdout)
        if EXPECTED_NODES <= set(drawn):
            break
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'class="pipeline-flowchart kedro"' in dom.stdout, dom.stdout[:2000]
    assert EXPECTED_NODES <= set(drawn), sorted(drawn)[:20]
    # kedro-viz 12.5 shows the node names as they are (its "pretty names" are off by default)
    assert all(drawn[name] == name for name in EXPECTED_NODES), {name: drawn[name] for name in EXPECTED_NODES}
    bands = re.findall(r'data-id="layer-label--([a-z_]+)"', dom.stdout)
    assert bands == LAYERS
    screenshot = tmp_path / "kedro-viz.png"
    shot = _chromium(f"--screenshot={screenshot}", url)
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 20_000
