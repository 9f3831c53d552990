"""SILVER.ORDER_ITEMS on its own: one Bronze batch of order lines through the two Silver nodes
under the project's contract (conf/base), against Silver orders and products, on a DuckDB in memory."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import ibis
import pyarrow as pa
import pytest
from conftest import PROJECT
from kedro.config import OmegaConfigLoader

from retail_control_tower.pipelines.silver import nodes
from retail_control_tower.pipelines.silver.profile import profile_batches
from retail_control_tower.settings import CONFIG_LOADER_ARGS

RUN = {"run_id": "2026-11-26T10.00.00.000Z", "env": "test", "started_at": datetime(2026, 11, 26, 10, 0, 0)}
LINEAGE = {"LOAD_ID": "string", "LOADED_AT": "timestamp", "SOURCE_FILE": "string", "SOURCE_ROW": "int64"}


@pytest.fixture(scope="module")
def params() -> dict:
    return OmegaConfigLoader(conf_source=str(PROJECT / "conf"), **{**CONFIG_LOADER_ARGS, "default_run_env": "base"})["parameters"]


def _bronze(con, name: str, columns: list[str], rows: list[tuple]):
    lineage = [(RUN["run_id"], RUN["started_at"], f"{name}.csv", number) for number in range(1, len(rows) + 1)]
    schema = ibis.schema({**{c: "string" for c in columns}, **LINEAGE})
    records = [dict(zip(schema.names, (*row, *lin))) for row, lin in zip(rows, lineage)]
    return con.create_table(f"bronze_{name}", ibis.memtable(pa.Table.from_pylist(records, schema=schema.to_pyarrow())))


def test_order_items_are_typed_checked_against_orders_and_products_and_quarantined_with_a_reason(params):
    con = ibis.duckdb.connect()
    spec = params["ingest"]["entities"]["order_items"]
    columns = list(spec["columns"])
    bronze = _bronze(con, "order_items", columns, [
        ("o1", "1", "p1", "2", "2.50", "", ""),               # 1: valid; ids upper-cased, an empty discount is missing
        (" O1 ", "2", "P2", "1", "8.00", "2.00", " SPRING "),  # 2: valid; trimmed
        ("O1", "3", "P1", "0", "2.50", "", ""),               # 3: no units
        ("O1", "4", "P1", "abc", "2.50", "", ""),             # 4: not a number
        ("O9", "1", "P1", "1", "2.50", "", ""),               # 5: an order Silver does not hold
        ("O1", "5", "P1", "1", "30.00", "", ""),              # 6: more than 10 x P1's list price
        ("O1", "6", "P2", "1", "8.00", "", ""),               # 7: repeated exactly by row 8
        ("O1", "6", "P2", "1", "8.00", "", ""),               # 8: valid, the later copy
        ("O1", "7", "P1", "2", "2.50", "5.01", ""),           # 9: a discount above 2 x 2.50
        ("O1", "8", "P1", "2", "2.50", "5.00", ""),           # 10: valid, the whole line discounted
    ])
    orders = con.create_table("silver_orders", ibis.memtable({"ORDER_ID": ["O1"]}, schema={"ORDER_ID": "string"}))
    products = con.create_table(
        "silver_products", ibis.memtable({"PRODUCT_ID": ["P1", "P2"], "LIST_PRICE": [Decimal("2.50"), Decimal("8.00")]},
                                         schema={"PRODUCT_ID": "string", "LIST_PRICE": "decimal(18, 2)"}),
    )
    tables = {"SILVER_ORDERS": orders, "SILVER_PRODUCTS": products}

    # What profile_silver_batches finds: one load, a repeated key, orders and products supplied.
    contract = params["ingest"]["entities"]
    bronze_of = {
        "orders": _bronze(con, "orders", list(contract["orders"]["columns"]), [("O1", "C1", "S1", "2026-01-01 10:00:00", "")]),
        "products": _bronze(con, "products", list(contract["products"]["columns"]), [("P1", "Tea", "", "", "1.00", "2.50")]),
        "order_items": bronze,
    }
    priors = {f"prior_SILVER_{e.upper()}{suffix}": None for e in bronze_of for suffix in ("", "_QUARANTINE")}
    batch = profile_batches({e: contract[e] for e in bronze_of}, **{f"BRONZE_{e.upper()}": t for e, t in bronze_of.items()}, **priors)["order_items"]
    assert batch == {"keys_repeat": True, "several_loads": False, "loads_to_apply": 1, "supplied": {"orders": True, "products": True, "order_items": True}}
    quarantined = nodes.quarantine_batch(bronze, None, None, RUN, spec, params["event_dates"], params["ingest"]["entities"], batch=batch, **tables)
    quarantine = con.create_table("order_items_quarantine", quarantined)
    assert [tuple(r.values()) for r in con.to_pyarrow(quarantine.select("SOURCE_ROW", "BUSINESS_KEY", "REASON_CODE", "REASON_DETAIL").order_by("SOURCE_ROW")).to_pylist()] == [
        (3, "O1|3", "OUT_OF_RANGE", "QUANTITY=0 must be > 0"),
        (4, "O1|4", "INVALID_TYPE", "QUANTITY='abc' is not a valid int"),
        (5, "O9|1", "UNKNOWN_ORDER_ID", "ORDER_ID='O9' not found in orders"),
        (6, "O1|5", "OUT_OF_RANGE", "UNIT_PRICE=30.00 must be <= 10 x LIST_PRICE of products (2.50)"),
        (7, "O1|6", "DUPLICATE_ROW", "exact copy of a later row of the same load"),
        (9, "O1|7", "OUT_OF_RANGE", "DISCOUNT_AMOUNT=5.01 must be <= QUANTITY x UNIT_PRICE (5.00)"),
    ]
    # The quarantine keeps the values as they came.
    assert con.to_pyarrow(quarantine.filter(quarantine.SOURCE_ROW == 4).select(*columns)).to_pylist() == [
        {"ORDER_ID": "O1", "LINE_NUMBER": "4", "PRODUCT_ID": "P1", "QUANTITY": "abc", "UNIT_PRICE": "2.50", "DISCOUNT_AMOUNT": "", "PROMO_CODE": ""}
    ]

    applied = nodes.apply_silver(bronze, None, quarantine, spec, params["event_dates"], batch)
    assert {name: str(dtype) for name, dtype in applied.select(*columns).schema().items()} == {
        "ORDER_ID": "string", "LINE_NUMBER": "int64", "PRODUCT_ID": "string", "QUANTITY": "int64",
        "UNIT_PRICE": "decimal(18, 2)", "DISCOUNT_AMOUNT": "decimal(18, 2)", "PROMO_CODE": "string",
    }
    assert [tuple(r.values()) for r in con.to_pyarrow(applied.select(*columns, "SOURCE_ROW").order_by("SOURCE_ROW")).to_pylist()] == [
        ("O1", 1, "P1", 2, Decimal("2.50"), None, None, 1),
        ("O1", 2, "P2", 1, Decimal("8.00"), Decimal("2.00"), "SPRING", 2),
        ("O1", 6, "P2", 1, Decimal("8.00"), None, None, 8),
        ("O1", 8, "P1", 2, Decimal("2.50"), Decimal("5.00"), None, 10),
    ]
