"""Re-runs change nothing; a new batch reaches Gold; minimal and Parquet inputs work."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from conftest import days_ago, small_retailer

TABLES = [
    "BRONZE.ORDERS", "BRONZE.ORDER_ITEMS", "BRONZE.RETURNS", "SILVER.ORDERS", "SILVER.ORDER_ITEMS",
    "SILVER.RETURNS", "SILVER.ORDERS_QUARANTINE", "MODEL.FCT_ORDER_LINE", "MODEL.FCT_RETURN",
    "MODEL.DIM_CUSTOMER", "GOLD.SALES_DAILY", "GOLD.CUSTOMER_360",
]


def _counts(workspace) -> dict[str, int]:
    return {table: workspace.count(table) for table in TABLES}


def test_running_ingest_twice_changes_no_row_count(workspace):
    tables = small_retailer()
    tables["orders"].append(["O9", "C404", "S1", days_ago(2), "store"])  # one quarantined row too
    workspace.write_retailer(tables)
    workspace.run("ingest")
    first = _counts(workspace)
    workspace.run("ingest")
    assert _counts(workspace) == first
    statuses = workspace.rows("SELECT STATUS, COUNT(*) FROM OPS.LOAD_LOG GROUP BY 1 ORDER BY 1")
    assert statuses == [("already_loaded", 6), ("loaded", 6)]


def test_the_same_file_under_another_name_is_not_loaded_again(workspace):
    workspace.write_retailer(small_retailer())
    workspace.run("ingest")
    shutil.copy(workspace.raw / "orders.csv", workspace.raw / "orders_resent.csv")
    workspace.run("ingest")
    assert workspace.count("BRONZE.ORDERS") == 4
    assert workspace.rows(
        "SELECT STATUS, LOADED_FILE FROM OPS.LOAD_LOG WHERE SOURCE_FILE = 'orders_resent.csv'"
    ) == [("already_loaded", "orders.csv")]


def test_a_new_batch_propagates_to_gold_without_touching_the_rest(workspace):
    workspace.write_retailer(small_retailer())
    workspace.run("ingest", "dq")
    first_load = workspace.scalar("SELECT MAX(LOAD_ID) FROM SILVER.ORDERS")
    net_before = workspace.scalar("SELECT SUM(NET_AMOUNT) FROM GOLD.SALES_DAILY")

    # Next day's batch: a new order, a corrected order (O2 moves to store S1) and a late return.
    workspace.write_csv("orders_batch2", [["O5", "C2", "S1", days_ago(0.5), "store"], ["O2", "C2", "S1", days_ago(20), "store"]], entity="orders")
    workspace.write_csv("order_items_batch2", [["O5", "1", "P2", "3", "8.00", "0", ""]], entity="order_items")
    workspace.write_csv("returns_batch2", [["R2", "O3", "2", days_ago(0.2), "1", "15.00", "late"]], entity="returns")
    workspace.run("ingest", "dq")

    assert workspace.count("BRONZE.ORDERS") == 6 and workspace.count("SILVER.ORDERS") == 5
    assert workspace.scalar("SELECT STORE_ID FROM MODEL.FCT_ORDER_LINE WHERE ORDER_ID = 'O2'") == "S1"
    untouched = workspace.rows("SELECT DISTINCT LOAD_ID FROM SILVER.ORDERS WHERE ORDER_ID IN ('O1', 'O3', 'O4')")
    assert untouched == [(first_load,)]
    assert workspace.scalar("SELECT SUM(NET_AMOUNT) FROM GOLD.SALES_DAILY") == net_before + 24
    assert workspace.scalar("SELECT SUM(REFUND_AMOUNT) FROM GOLD.SALES_DAILY") == 35
    assert workspace.scalar("SELECT RETURNS FROM GOLD.CUSTOMER_360 WHERE CUSTOMER_ID = 'C1'") == 1
    assert workspace.scalar("SELECT COUNT(*) FROM OPS.DQ_RESULTS WHERE SEVERITY = 'error' AND STATUS = 'fail'") == 0


def test_minimal_input_of_orders_and_order_items_derives_the_dimensions(workspace):
    tables = small_retailer()
    workspace.write_retailer({"orders": tables["orders"], "order_items": tables["order_items"]})
    workspace.run("ingest", "dq")
    assert workspace.rows("SELECT CUSTOMER_ID, LOYALTY_TIER, IS_DERIVED FROM MODEL.DIM_CUSTOMER ORDER BY 1") == [
        ("C1", "unknown", True), ("C2", "unknown", True), ("C3", "unknown", True)
    ]
    assert workspace.count("MODEL.DIM_PRODUCT") == 3 and workspace.count("MODEL.DIM_STORE") == 2
    assert workspace.count("GOLD.SALES_DAILY") > 0
    assert workspace.scalar("SELECT COUNT(*) FROM OPS.DQ_GATE") == 1


def test_parquet_input_in_another_folder(workspace, tmp_path, monkeypatch):
    elsewhere = tmp_path / "exports"
    elsewhere.mkdir()
    workspace.write_retailer(small_retailer())
    for csv_file in workspace.raw.glob("*.csv"):
        table = pacsv.read_csv(csv_file, convert_options=pacsv.ConvertOptions(column_types={"line_number": pa.int64()}))
        pq.write_table(table, elsewhere / f"{csv_file.stem}.parquet")
        csv_file.unlink()
    monkeypatch.setenv("RCT_RAW_DIR", str(elsewhere))
    workspace.run("ingest")
    assert workspace.count("MODEL.FCT_ORDER_LINE") == 6
    assert workspace.scalar("SELECT SOURCE_FILE FROM BRONZE.ORDERS LIMIT 1") == "orders.parquet"
