"""Ingest nodes on in-memory tables: fingerprints, increments, latest-wins, derived members, Gold sums."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import ibis
import pytest

from retail_control_tower.pipelines.ingest import bronze, gold, model, silver

RUN = {"run_id": "2026-11-26T10.00.00.000Z", "env": "test", "started_at": datetime(2026, 11, 26, 10, 0, 0)}
STORES = {"columns": {"STORE_ID": {"type": "string"}, "REGION": {"type": "string"}}, "key": ["STORE_ID"]}


@pytest.fixture
def con():
    return ibis.duckdb.connect()


def _rows(con, expr, *columns: str) -> list[list]:
    table = con.to_pyarrow(expr.select(*columns) if columns else expr)
    return [list(row.values()) for row in table.to_pylist()]


def _raw(rows: list[tuple[str, str]], source: str = "stores.csv", fingerprint: str = "f1", duplicate_of: str | None = None):
    return ibis.memtable(
        {
            "STORE_ID": [r[0] for r in rows],
            "REGION": [r[1] for r in rows],
            "SOURCE_FILE": [source] * len(rows),
            "SOURCE_ROW": list(range(1, len(rows) + 1)),
            "FILE_FINGERPRINT": [fingerprint] * len(rows),
            "DUPLICATE_OF": [duplicate_of] * len(rows),
        }
    ).cast({"DUPLICATE_OF": "string"})


def test_bronze_loads_only_files_it_has_not_seen(con):
    first = con.create_table("bronze", bronze.load_bronze(_raw([("S1", "north")]), None, RUN, STORES, "stores"))
    assert con.execute(first)[["STORE_ID", "LOAD_ID"]].values.tolist() == [["S1", RUN["run_id"]]]
    again = bronze.load_bronze(_raw([("S1", "north")], "renamed.csv"), first, {**RUN, "run_id": "later"}, STORES, "stores")
    assert con.execute(again).empty
    twin = ibis.union(_raw([("S2", "south")], "b.csv", "f2"), _raw([("S2", "south")], "c.csv", "f2", duplicate_of="b.csv"))
    assert _rows(con, bronze.load_bronze(twin, first, RUN, STORES, "stores"), "SOURCE_FILE") == [["b.csv"]]


def test_bronze_names_the_file_when_columns_do_not_match(con):
    raw = _raw([("S1", "north")]).rename(AREA="REGION")
    with pytest.raises(bronze.InputContractError, match=r"\['stores.csv'\]: missing columns \['REGION'\]; unexpected columns \['AREA'\]"):
        bronze.load_bronze(raw, None, RUN, STORES, "stores")


def test_silver_applies_only_new_loads_and_the_latest_load_wins(con):
    rows = {
        "STORE_ID": ["S1", "S2", "S1"],
        "REGION": ["north", "south", "east"],
        "LOAD_ID": ["L1", "L1", "L2"],
        "LOADED_AT": [datetime(2026, 1, 1)] * 3,
        "SOURCE_FILE": ["a.csv", "a.csv", "b.csv"],
        "SOURCE_ROW": [1, 2, 1],
    }
    bronze_table = con.create_table("bronze", ibis.memtable(rows))  # nodes get warehouse tables
    validation = {"min_event_date": "2000-01-01", "max_future_days": 1}
    staged = silver.stage_silver(bronze_table, None, None, RUN, STORES, validation)
    applied = con.execute(silver.apply_silver(staged, STORES).order_by("BUSINESS_KEY"))
    assert applied[["BUSINESS_KEY", "REGION", "LOAD_ID"]].values.tolist() == [["S1", "east", "L2"], ["S2", "south", "L1"]]
    prior = con.create_table("prior", ibis.memtable({"LOAD_ID": ["L1"]}))
    increment = con.execute(silver.stage_silver(bronze_table, prior, None, RUN, STORES, validation))
    assert increment["LOAD_ID"].tolist() == ["L2"]


def _decisions(con, staged) -> list[list]:
    return _rows(con, staged.order_by(["LOAD_ID", "SOURCE_FILE", "SOURCE_ROW"]), "STORE_ID", "LOAD_ID", "REASON_CODE", "IS_CURRENT")


def test_repeated_keys_are_decided_per_load_and_the_newest_load_is_current(con):
    rows = {
        "STORE_ID": ["S1", "S1", " S1", "S2", "S3", None, "S1"],
        "REGION": ["north", "south", "south", "west", "x", "y", "east"],
        "LOAD_ID": ["L1", "L1", "L1", "L1", "L1", "L1", "L2"],
        "LOADED_AT": [datetime(2026, 1, 1)] * 7,
        "SOURCE_FILE": ["a.csv"] * 6 + ["b.csv"],
        "SOURCE_ROW": [1, 2, 3, 4, 5, 6, 1],
    }
    bronze_table = con.create_table("bronze", ibis.memtable(rows))
    validation = {"min_event_date": "2000-01-01", "max_future_days": 1}
    assert silver.keys_repeat(bronze_table, STORES)
    staged = silver.stage_silver(bronze_table, None, None, RUN, STORES, validation)
    assert _decisions(con, staged) == [
        ["S1", "L1", "DUPLICATE_KEY", False],  # superseded within load L1 by a different row
        ["S1", "L1", "DUPLICATE_ROW", False],  # the same values as L1's last S1 row (after trimming)
        ["S1", "L1", None, False],  # L1's version of S1, superseded by the newer load L2
        ["S2", "L1", None, True],
        ["S3", "L1", None, True],
        [None, "L1", "NULL_KEY", False],
        ["S1", "L2", None, True],
    ]


def test_a_repeated_key_is_found_beside_missing_keys(con):
    batch = con.create_table("batch", ibis.memtable({"STORE_ID": ["S1", " S1", None, None, "S2"]}))
    assert silver.keys_repeat(batch, STORES)
    assert not silver.keys_repeat(batch.filter(batch.STORE_ID.isnull() | (batch.STORE_ID != " S1")), STORES)


def test_a_batch_without_repeated_keys_skips_the_ordering_and_decides_the_same(con, monkeypatch):
    rows = {
        "STORE_ID": ["S1", "S2", None, "S3"],
        "REGION": ["north", "south", "east", "west"],
        "LOAD_ID": ["L1", "L1", "L1", "L2"],
        "LOADED_AT": [datetime(2026, 1, 1)] * 4,
        "SOURCE_FILE": ["a.csv", "a.csv", "a.csv", "b.csv"],
        "SOURCE_ROW": [1, 2, 3, 1],
    }
    bronze_table = con.create_table("bronze", ibis.memtable(rows))
    validation = {"min_event_date": "2000-01-01", "max_future_days": 1}
    assert not silver.keys_repeat(bronze_table, STORES)
    fast = _decisions(con, silver.stage_silver(bronze_table, None, None, RUN, STORES, validation))
    monkeypatch.setattr(silver, "keys_repeat", lambda batch, spec: True)
    ordered = _decisions(con, silver.stage_silver(bronze_table, None, None, RUN, STORES, validation))
    assert fast == ordered == [
        ["S1", "L1", None, True], ["S2", "L1", None, True], [None, "L1", "NULL_KEY", False], ["S3", "L2", None, True],
    ]


def test_dimensions_add_derived_members_for_ids_only_the_facts_know(con):
    customers = ibis.memtable({"CUSTOMER_ID": ["C1"], "SIGNUP_DATE": [date(2024, 1, 1)], "HOME_STORE_ID": ["S1"], "LOYALTY_TIER": ["gold"]})
    orders = ibis.memtable(
        {"CUSTOMER_ID": ["C1", "C2", "C2", "C2"], "STORE_ID": ["S1", "S2", "S3", "S3"],
         "ORDER_TS": [datetime(2025, 1, 1), datetime(2025, 2, 1), datetime(2025, 3, 1), datetime(2025, 4, 1)]}
    )
    assert _rows(con, model.dim_customer(customers, orders).order_by("CUSTOMER_ID")) == [
        ["C1", date(2024, 1, 1), "S1", "gold", False],
        ["C2", date(2025, 2, 1), "S3", "unknown", True],
    ]


def test_sales_daily_adds_returns_on_the_day_they_came_back(con):
    lines = ibis.memtable(
        {"ORDER_DATE": [date(2026, 1, 1)] * 2, "STORE_ID": ["S1"] * 2, "PRODUCT_ID": ["P1", "P2"], "ORDER_ID": ["O1", "O1"],
         "CUSTOMER_ID": ["C1", "C1"], "QUANTITY": [2, 1], "GROSS_AMOUNT": [10.0, 5.0], "DISCOUNT_AMOUNT": [1.0, 0.0], "NET_AMOUNT": [9.0, 5.0]}
    )
    returns = ibis.memtable({"RETURN_DATE": [date(2026, 1, 3)], "STORE_ID": ["S1"], "PRODUCT_ID": ["P1"], "QUANTITY": [1], "REFUND_AMOUNT": [4.5]})
    products = ibis.memtable({"PRODUCT_ID": ["P1", "P2"], "CATEGORY": ["tea", "tea"]})
    daily = gold.sales_daily(lines, returns, products).order_by("DATE_DAY")
    assert _rows(con, daily, "DATE_DAY", "ORDERS", "UNITS", "NET_AMOUNT", "RETURNED_UNITS", "NET_AFTER_RETURNS") == [
        [date(2026, 1, 1), 1, 3, Decimal("14.00"), 0, Decimal("14.00")],
        [date(2026, 1, 3), 0, 0, Decimal("0.00"), 1, Decimal("-4.50")],
    ]


def test_both_staging_plans_compile_to_snowflake_sql(con, monkeypatch):
    """The production compile sees empty tables (no repeats); the ordered plan must port too."""
    import sqlglot

    bronze_table = con.create_table("bronze", ibis.memtable({
        "STORE_ID": ["S1"], "REGION": ["north"], "LOAD_ID": ["L1"], "LOADED_AT": [datetime(2026, 1, 1)],
        "SOURCE_FILE": ["a.csv"], "SOURCE_ROW": [1],
    }))
    validation = {"min_event_date": "2000-01-01", "max_future_days": 1}
    for repeated in (False, True):
        monkeypatch.setattr(silver, "keys_repeat", lambda batch, spec, answer=repeated: answer)
        sql = ibis.to_sql(silver.stage_silver(bronze_table, None, None, RUN, STORES, validation), dialect="snowflake")
        sqlglot.parse(sql, read="snowflake", error_level=sqlglot.ErrorLevel.RAISE)
        assert ("ROW_NUMBER()" in sql) is repeated
