"""Warehouse tables upserted on a composite business key, in a real DuckDB file."""

from __future__ import annotations

import ibis
import pytest
from kedro.io import DatasetError

from retail_control_tower.datasets import WarehouseTableDataset

KEYS = {"ORDER_ITEMS": ["ORDER_ID", "LINE_NUMBER"], "ORDERS": ["ORDER_ID"]}


def _dataset(path, table: str = "ORDER_ITEMS", on=KEYS):
    return WarehouseTableDataset(
        table_name=table,
        database="SILVER",
        connection={"backend": "duckdb", "database": str(path)},
        save_args={"materialized": "table", "mode": "upsert", "on": on},
    )


def _lines(con, name: str, rows: list[tuple[str, int, int, str]]):
    columns = ["ORDER_ID", "LINE_NUMBER", "QUANTITY", "LOAD_ID"]
    return con.create_table(name, ibis.memtable({c: [r[i] for r in rows] for i, c in enumerate(columns)}), temp=True)


def test_an_upsert_on_two_key_columns_updates_matches_and_inserts_the_rest(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    dataset = _dataset(path)
    con = dataset.connection
    con.create_database("SILVER")
    dataset.save(_lines(con, "first", [("O1", 1, 5, "L1"), ("O1", 2, 1, "L1"), ("O2", 1, 3, "L1")]))
    # O1 line 2 changes; O2 gets a line 2 (same order, new line: a new key); O3 is new.
    dataset.save(_lines(con, "second", [("O1", 2, 4, "L2"), ("O2", 2, 7, "L2"), ("O3", 1, 1, "L2")]))
    dataset.save(_lines(con, "again", [("O1", 2, 4, "L2")]))  # the same rows again change nothing

    rows = con.table("ORDER_ITEMS", database="SILVER").order_by(["ORDER_ID", "LINE_NUMBER"]).to_pyarrow().to_pylist()
    assert [(r["ORDER_ID"], r["LINE_NUMBER"], r["QUANTITY"], r["LOAD_ID"]) for r in rows] == [
        ("O1", 1, 5, "L1"),
        ("O1", 2, 4, "L2"),
        ("O2", 1, 3, "L1"),
        ("O2", 2, 7, "L2"),
        ("O3", 1, 1, "L2"),
    ]
    assert dataset._describe()["upsert_on"] == ["ORDER_ID", "LINE_NUMBER"]


def test_a_table_without_a_key_is_a_clear_error_when_the_catalog_is_read(tmp_path):
    with pytest.raises(DatasetError, match=r"No upsert key for SILVER\.RETURNS: 'on' names \['ORDERS', 'ORDER_ITEMS'\]"):
        _dataset(tmp_path / "warehouse.duckdb", table="RETURNS")
    with pytest.raises(DatasetError, match=r"An upsert into SILVER\.RETURNS needs 'on'"):
        _dataset(tmp_path / "warehouse.duckdb", table="RETURNS", on=None)


def test_the_upsert_compiles_to_a_snowflake_merge_on_both_key_columns(tmp_path):
    """Dev and prod upsert on Snowflake: the same statement, in its dialect, must parse."""
    import sqlglot
    from sqlglot import expressions as exp

    dataset = _dataset(tmp_path / "warehouse.duckdb")
    rows = _lines(dataset.connection, "rows", [("O1", 2, 4, "L2")])
    sql = dataset.merge_sql(rows, ["ORDER_ID", "LINE_NUMBER"], ["ORDER_ID", "LINE_NUMBER", "QUANTITY", "LOAD_ID", "BUSINESS_KEY"], "snowflake")
    merge = sqlglot.parse_one(sql, read="snowflake")
    assert isinstance(merge, exp.Merge)
    assert merge.this.sql("snowflake") == '"SILVER"."ORDER_ITEMS" AS "target"'
    assert merge.args["on"].sql("snowflake") == '"target"."ORDER_ID" = "source"."ORDER_ID" AND "target"."LINE_NUMBER" = "source"."LINE_NUMBER"'
    assert "BUSINESS_KEY" not in sql  # a column only the table has is left alone
