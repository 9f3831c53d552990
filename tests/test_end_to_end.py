"""The whole control tower on a small synthetic retailer, in real Kedro sessions."""

from __future__ import annotations

import os
import subprocess
import sys

import nbformat
import pytest
from conftest import PROJECT, release_warehouse_connections

from retail_control_tower.pipelines.ingest.pipeline import ENTITIES

SMALL = {"synthetic": {"customers": 400, "stores": 6, "products": 60, "history_days": 240, "target_order_lines": 12000}}


@pytest.fixture(scope="module")
def warehouse_after_a_run(tmp_path_factory):
    """Generates a small retailer and runs the default pipeline once for the module's tests."""
    monkeypatch = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("e2e")
    from conftest import Workspace

    workspace = Workspace(root, root / "raw", root / "data")
    workspace.raw.mkdir()
    workspace.data.mkdir()
    monkeypatch.setenv("RCT_DATA_DIR", str(workspace.data))
    monkeypatch.setenv("RCT_RAW_DIR", str(workspace.raw))
    workspace.run("generate", params=SMALL)
    workspace.run()
    yield workspace
    monkeypatch.undo()


def test_generate_then_default_run_fills_every_layer_and_passes_the_gate(warehouse_after_a_run):
    ws = warehouse_after_a_run
    for entity in ENTITIES:
        raw_lines = sum(1 for _ in (ws.raw / f"{entity}.csv").open()) - 1
        assert ws.count(f"BRONZE.{entity.upper()}") == raw_lines > 0
    assert ws.count("MODEL.FCT_ORDER_LINE") == ws.count("SILVER.ORDER_ITEMS") > 10_000
    for table in ("SALES_DAILY", "CUSTOMER_360", "PRODUCT_PERFORMANCE", "STORE_PERFORMANCE"):
        assert ws.count(f"GOLD.{table}") > 0
    assert ws.scalar("SELECT COUNT(*) FROM GOLD.CUSTOMER_360") == 400
    assert ws.rows("SELECT CHECK_NAME, TABLE_NAME FROM OPS.DQ_RESULTS WHERE STATUS = 'fail' AND SEVERITY = 'error'") == []
    assert ws.scalar("SELECT PASSED FROM OPS.DQ_GATE") is True
    gold_net = ws.scalar("SELECT SUM(NET_AMOUNT) FROM GOLD.SALES_DAILY")
    assert gold_net == ws.scalar("SELECT SUM(NET_AMOUNT) FROM MODEL.FCT_ORDER_LINE")


def test_the_oracle_is_kept_apart_from_the_raw_input(warehouse_after_a_run):
    ws = warehouse_after_a_run
    assert (ws.data / "00_synthetic_truth" / "churn_oracle.parquet").exists()
    assert not list(ws.raw.glob("*oracle*"))


def test_run_everything_after_a_bronze_change(warehouse_after_a_run):
    ws = warehouse_after_a_run
    before = ws.count("GOLD.SALES_DAILY")
    ws.run("ingest", from_nodes=[f"stage_silver_{entity}" for entity in ENTITIES])
    ws.run("dq")
    assert ws.count("GOLD.SALES_DAILY") == before
    assert ws.scalar("SELECT COUNT(*) FROM OPS.DQ_GATE") == 2


def test_the_notebook_runs_against_the_warehouse(warehouse_after_a_run, tmp_path):
    """Its code cells, in order, in a separate Python process (as a notebook kernel would be)."""
    release_warehouse_connections()
    notebook = nbformat.read(PROJECT / "notebooks" / "control_tower.ipynb", as_version=4)
    code = "\n\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    script = tmp_path / "notebook.py"
    script.write_text(code + "\nprint(len(monthly.to_pandas()), sorted(set(latest.to_pandas().STATUS)))\n")
    env = {**os.environ, "RCT_DATA_DIR": str(warehouse_after_a_run.data)}
    result = subprocess.run([sys.executable, str(script)], cwd=PROJECT / "notebooks", env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    months, statuses = result.stdout.strip().splitlines()[-1].split(" ", 1)
    assert int(months) >= 8 and statuses in ("['pass']", "['fail', 'pass']")
