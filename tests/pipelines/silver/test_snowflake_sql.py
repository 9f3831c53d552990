"""The Silver nodes as Snowflake runs them (issue 14): every value typed with TRY_CAST (one bad value
quarantines a row, it does not fail the query), and times with an offset converted the same way as on
DuckDB. Compiled from the project's own input contract and parsed back with sqlglot."""

from __future__ import annotations

from datetime import datetime

import ibis
import pytest
import sqlglot
from conftest import PROJECT
from kedro.config import OmegaConfigLoader
from sqlglot import exp

from retail_control_tower.contracts import values
from retail_control_tower.pipelines.silver import nodes as silver
from retail_control_tower.pipelines.silver.profile import profile_batches
from retail_control_tower.settings import CONFIG_LOADER_ARGS
from retail_control_tower.warehouse import snowflake_sql

RUN = {"run_id": "2026-11-26T10.00.00.000Z", "env": "test", "started_at": datetime(2026, 11, 26, 10, 0, 0)}


@pytest.fixture(scope="module")
def params() -> dict:
    """The project's parameters as conf/base sets them (the input contract, event_dates)."""
    args = {**CONFIG_LOADER_ARGS, "default_run_env": "base"}
    return OmegaConfigLoader(conf_source=str(PROJECT / "conf"), **args)["parameters"]


def _tables(con, params: dict, entity: str) -> dict:
    """Empty Bronze and Silver tables of ``entity`` and of the entities it references."""
    entities = params["ingest"]["entities"]
    tables = {}
    for name in {entity, *[r["entity"] for r in entities[entity].get("references", [])], "orders"}:
        columns = entities[name]["columns"]
        text = {c: "string" for c in columns} | {"LOAD_ID": "string", "LOADED_AT": "timestamp", "SOURCE_FILE": "string", "SOURCE_ROW": "int64"}
        typed = {c: values.ENGINE_TYPES[spec["type"]] for c, spec in columns.items()} | {"LOAD_ID": "string"}
        tables[f"BRONZE_{name.upper()}"] = con.create_table(f"bronze_{name}", schema=ibis.schema(text), overwrite=True)
        tables[f"SILVER_{name.upper()}"] = con.create_table(f"silver_{name}", schema=ibis.schema(typed), overwrite=True)
    return tables


def _batch(params: dict, tables: dict, entity: str) -> dict:
    """What profile_silver_batches says of ``entity``'s batch, from the Bronze tables in ``tables`` (first loads)."""
    names = [name.removeprefix("BRONZE_") for name in tables if name.startswith("BRONZE_")]
    entities = {name.lower(): params["ingest"]["entities"][name.lower()] for name in names}
    priors = {f"prior_SILVER_{name}{suffix}": None for name in names for suffix in ("", "_QUARANTINE")}
    return profile_batches(entities, **{f"BRONZE_{name}": tables[f"BRONZE_{name}"] for name in names}, **priors)[entity]


def _snowflake(expr) -> exp.Expression:
    sql = snowflake_sql(expr)  # as the project's Snowflake connection compiles it
    return sqlglot.parse_one(sql, read="snowflake", error_level=sqlglot.ErrorLevel.RAISE)


def _casts_from_text(tree: exp.Expression, spec: dict) -> list[str]:
    """Plain CASTs (not TRY_CAST) of a contract column's text to another type: on Snowflake each
    fails the whole query on one bad value. (A ``_TYPED_`` column, or a value inside a TRY_CAST,
    is typed already.)"""
    text_columns = set(spec["columns"]) | {f"RAW_{name}" for name in spec["columns"]}

    def untyped(column: exp.Column, cast: exp.Cast) -> bool:
        node = column.parent
        while node is not None and node is not cast:
            if isinstance(node, exp.TryCast):
                return False
            node = node.parent
        return column.name in text_columns

    return [
        cast.sql("snowflake")
        for cast in tree.find_all(exp.Cast)
        if not isinstance(cast, exp.TryCast) and not cast.to.is_type(*exp.DataType.TEXT_TYPES)
        and any(untyped(column, cast) for column in cast.this.find_all(exp.Column))
    ]


@pytest.mark.parametrize("entity", ["orders", "order_items", "returns"])
def test_every_value_is_typed_with_try_cast_on_snowflake(params, entity):
    con = ibis.duckdb.connect()
    tables = _tables(con, params, entity)
    spec = params["ingest"]["entities"][entity]
    event_dates = {**params["event_dates"], "time_zone": "Europe/Berlin"}
    bronze = tables[f"BRONZE_{entity.upper()}"]
    batch = _batch(params, tables, entity)
    quarantine = silver.quarantine_batch(bronze, None, None, RUN, spec, event_dates, params["ingest"]["entities"], batch=batch, **tables)
    quarantine_tree = _snowflake(quarantine)
    assert _casts_from_text(quarantine_tree, spec) == []
    applied = silver.apply_silver(bronze, None, con.create_table("q", quarantine, overwrite=True), spec, event_dates, batch)
    assert _casts_from_text(_snowflake(applied), spec) == []


def test_times_with_an_offset_are_converted_to_the_configured_zone_on_snowflake(params):
    con = ibis.duckdb.connect()
    tables = _tables(con, params, "orders")
    spec = params["ingest"]["entities"]["orders"]
    event_dates = {**params["event_dates"], "time_zone": "Europe/Berlin"}
    batch = _batch(params, tables, "orders")
    quarantine = con.create_table("q", silver.quarantine_batch(tables["BRONZE_ORDERS"], None, None, RUN, spec, event_dates, {}, batch=batch, **tables))
    tree = _snowflake(silver.apply_silver(tables["BRONZE_ORDERS"], None, quarantine, spec, event_dates, batch))
    conversions = list(tree.find_all(exp.ConvertTimezone))
    assert len(conversions) == 1
    # The instant is read with its offset (TIMESTAMP_TZ, not TIMESTAMP_NTZ, which drops it) and
    # its wall-clock time in the zone kept as TIMESTAMP_NTZ.
    sql = conversions[0].parent.sql("snowflake")
    assert sql.startswith("CAST(CONVERT_TIMEZONE('Europe/Berlin', TRY_CAST(") and sql.endswith("AS TIMESTAMPTZ)) AS TIMESTAMP)")
    assert "ORDER_TS" in sql


def test_without_a_zone_an_offset_is_recognised_on_snowflake_as_on_duckdb(params):
    """The test for an offset is plain text work, so both engines find the same rows."""
    con = ibis.duckdb.connect()
    spec = {"columns": {"ORDER_ID": {"type": "id"}, "ORDER_TS": {"type": "timestamp"}}, "key": ["ORDER_ID"]}
    sent = ["2026-02-12T12:33:07+02:00", "2026-02-12 12:33:07Z", "2026-02-12T12:33:07-05", "2026-02-12 12:33:07.5+0530",
            "2026-02-12 12:33:07", "2026-02-12T12:33", "2026-02-12", "2026-02-12 12:33:07 UTC"]
    bronze = con.create_table("bronze_ts", ibis.memtable({
        "ORDER_ID": [f"O{n}" for n in range(len(sent))], "ORDER_TS": sent,
        "LOAD_ID": ["L1"] * len(sent), "LOADED_AT": [datetime(2026, 1, 1)] * len(sent),
        "SOURCE_FILE": ["orders.csv"] * len(sent), "SOURCE_ROW": list(range(1, len(sent) + 1)),
    }))
    batch = profile_batches({"orders": spec}, BRONZE_ORDERS=bronze, prior_SILVER_ORDERS=None, prior_SILVER_ORDERS_QUARANTINE=None)["orders"]
    quarantined = silver.quarantine_batch(bronze, None, None, RUN, spec, params["event_dates"], batch=batch)
    assert sorted(r["ORDER_TS"] for r in con.to_pyarrow(quarantined).to_pylist()) == sorted(
        [sent[0], sent[1], sent[2], sent[3], sent[7]]
    )
    assert "TIME_ZONE_OFFSET" in ibis.to_sql(quarantined, dialect="snowflake")
