"""Shared fixtures: a temporary workspace with its own raw folder and DuckDB warehouse, and a
real Kedro session to run pipelines in it."""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from datetime import datetime, timedelta
from pathlib import Path

import ibis
import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

PROJECT = Path(__file__).resolve().parents[1]

HEADERS = {
    "customers": ["customer_id", "signup_date", "home_store_id", "loyalty_tier"],
    "products": ["product_id", "product_name", "category", "brand", "unit_cost", "list_price"],
    "stores": ["store_id", "store_name", "region", "format", "opened_date"],
    "orders": ["order_id", "customer_id", "store_id", "order_ts", "channel"],
    "order_items": ["order_id", "line_number", "product_id", "quantity", "unit_price", "discount_amount", "promo_code"],
    "returns": ["return_id", "order_id", "line_number", "return_ts", "quantity", "refund_amount", "reason"],
}


def days_ago(days: float) -> str:
    return (datetime.now() - timedelta(days=days)).strftime("%Y-%m-%d %H:%M:%S")


def small_retailer() -> dict[str, list[list]]:
    """A consistent little retailer: 3 customers, 3 products, 2 stores, 4 orders, 6 lines, 1 return."""
    return {
        "customers": [["C1", "2024-01-10", "S1", "gold"], ["C2", "2024-03-01", "S2", "silver"], ["C3", "2025-06-01", "S1", "bronze"]],
        "products": [["P1", "Tea", "grocery", "Leaf", "1.00", "2.50"], ["P2", "Mug", "home", "Clay", "3.00", "8.00"], ["P3", "Scarf", "apparel", "Wool", "5.00", "20.00"]],
        "stores": [["S1", "High St", "north", "high_street", "2015-01-01"], ["S2", "Mall", "south", "mall", "2018-05-01"]],
        "orders": [
            ["O1", "C1", "S1", days_ago(40), "store"],
            ["O2", "C2", "S2", days_ago(20), "store"],
            ["O3", "C1", "S2", days_ago(10), "online"],
            ["O4", "C3", "S1", days_ago(1), "store"],
        ],
        "order_items": [
            ["O1", "1", "P1", "2", "2.50", "0", ""],
            ["O1", "2", "P2", "1", "8.00", "2.00", "SPRING"],
            ["O2", "1", "P3", "1", "20.00", "0", ""],
            ["O3", "1", "P1", "4", "2.50", "0", ""],
            ["O3", "2", "P3", "1", "20.00", "5.00", "SALE"],
            ["O4", "1", "P2", "2", "8.00", "0", ""],
        ],
        "returns": [["R1", "O2", "1", days_ago(15), "1", "20.00", "damaged"]],
    }


@dataclass
class Workspace:
    root: Path
    raw: Path
    data: Path

    @classmethod
    def at(cls, root: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
        """Empty raw and data folders under ``root``, which the project reads and writes
        (``RCT_RAW_DIR`` / ``RCT_DATA_DIR``) while ``monkeypatch`` holds."""
        workspace = cls(root, root / "raw", root / "data")
        workspace.raw.mkdir()
        workspace.data.mkdir()
        monkeypatch.setenv("RCT_DATA_DIR", str(workspace.data))
        monkeypatch.setenv("RCT_RAW_DIR", str(workspace.raw))
        return workspace

    def write_csv(self, name: str, rows: list[list], header: list[str] | None = None, entity: str | None = None) -> Path:
        """Writes ``<raw>/<name>.csv``; the header defaults to the contract of ``entity`` (= name)."""
        path = self.raw / f"{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header or HEADERS[entity or name])
            writer.writerows(rows)
        return path

    def write_retailer(self, tables: dict[str, list[list]]) -> None:
        for name, rows in tables.items():
            self.write_csv(name, rows)

    def run(self, *pipelines: str, params: dict | None = None, **run_options):
        """A real Kedro session on this workspace (``run_options`` as for ``kedro run``)."""
        bootstrap_project(PROJECT)
        with KedroSession.create(project_path=PROJECT, runtime_params=params) as session:
            return session.run(pipeline_names=list(pipelines) or None, **run_options)

    @property
    def warehouse(self) -> Path:
        return self.data / "warehouse.duckdb"

    def rows(self, sql: str) -> list[tuple]:
        """Runs SQL on the warehouse; rows as tuples."""
        # DuckDB refuses a second in-process connection to a file with other settings than the
        # run's, so open it with the engine settings of conf/base/globals.yml.
        engine = yaml.safe_load((PROJECT / "conf" / "base" / "globals.yml").read_text())["warehouse"]
        settings = {k: v for k, v in engine.items() if k not in ("backend", "database")}
        con = ibis.duckdb.connect(str(self.warehouse), **settings)
        return [tuple(r) for r in con.raw_sql(sql).fetchall()]

    def scalar(self, sql: str):
        return self.rows(sql)[0][0]

    def count(self, table: str) -> int:
        return self.scalar(f"SELECT COUNT(*) FROM {table}")


def release_warehouse_connections() -> None:
    """Closes the engine connections Kedro datasets keep open in this process, so another
    process (a notebook, a second ``kedro run``) may open the DuckDB file."""
    from retail_control_tower.ops.lock import WarehouseLockHook
    from retail_control_tower.settings import HOOKS
    from retail_control_tower.warehouse import CONNECTIONS

    CONNECTIONS.close_all()
    for hook in HOOKS:
        if isinstance(hook, WarehouseLockHook):
            hook.release_all()


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    return Workspace.at(tmp_path, monkeypatch)


@contextmanager
def webhook_server() -> Iterator[tuple[str, list[dict]]]:
    """A real HTTP server on 127.0.0.1 standing in for Slack and Teams: yields its base URL and
    the list of requests it received (path, content type, JSON body)."""
    received: list[dict] = []

    class Recorder(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "type": self.headers["Content-Type"], "json": json.loads(body)})
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
