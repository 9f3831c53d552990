"""Silver nodes on in-memory tables: increments, latest-wins, repeated keys, references, date ranges."""

from __future__ import annotations

from datetime import datetime

import ibis
import pytest

from retail_control_tower.pipelines.silver import nodes as silver
from retail_control_tower.pipelines.silver.profile import profile_batches

RUN = {"run_id": "2026-11-26T10.00.00.000Z", "env": "test", "started_at": datetime(2026, 11, 26, 10, 0, 0)}
STORES = {"columns": {"STORE_ID": {"type": "string"}, "REGION": {"type": "string"}}, "key": ["STORE_ID"]}


@pytest.fixture
def con():
    return ibis.duckdb.connect()


def _rows(con, expr, *columns: str) -> list[list]:
    table = con.to_pyarrow(expr.select(*columns) if columns else expr)
    return [list(row.values()) for row in table.to_pylist()]


EVENT_DATES = {"min": "2000-01-01", "max_future_days": 1, "reference_time": None}


def _bronze(con, name: str, rows: dict):
    """A Bronze table of stores (nodes get warehouse tables); lineage filled in when not given."""
    count = len(rows["STORE_ID"])
    rows = {"LOADED_AT": [datetime(2026, 1, 1)] * count, **rows}
    return con.create_table(name, ibis.memtable(rows))


def _batch(spec, bronze, prior_silver=None, prior_quarantine=None, **referenced):
    """What profile_silver_batches hands the Silver nodes of this entity; ``referenced``: the
    Bronze tables of the entities it references (keyed by their first column), by entity."""
    entities = {"this": spec, **{e: {"columns": {t.columns[0]: {"type": "string"}}, "key": [t.columns[0]]} for e, t in referenced.items()}}
    tables = {"BRONZE_THIS": bronze, "prior_SILVER_THIS": prior_silver, "prior_SILVER_THIS_QUARANTINE": prior_quarantine}
    for entity, table in referenced.items():
        tables |= {f"BRONZE_{entity.upper()}": table, f"prior_SILVER_{entity.upper()}": None, f"prior_SILVER_{entity.upper()}_QUARANTINE": None}
    return profile_batches(entities, **tables)["this"]


def _silver_build(con, bronze_table, prior_silver=None, prior_quarantine=None, batch=None):
    """Both Silver nodes in their order: the quarantine is appended, then the rest is applied."""
    batch = batch or _batch(STORES, bronze_table, prior_silver, prior_quarantine)
    quarantined = con.create_table(
        f"q_{bronze_table.get_name()}",
        silver.quarantine_batch(bronze_table, prior_silver, prior_quarantine, RUN, STORES, EVENT_DATES, batch=batch),
    )
    if prior_quarantine is not None:
        quarantined = con.create_table(f"all_{bronze_table.get_name()}", ibis.union(prior_quarantine, quarantined))
    return quarantined, silver.apply_silver(bronze_table, prior_silver, quarantined, STORES, EVENT_DATES, batch)


def test_silver_applies_only_new_loads_and_the_latest_load_wins(con):
    bronze_table = _bronze(con, "bronze", {
        "STORE_ID": ["S1", "S2", "S1"],
        "REGION": ["north", "south", "east"],
        "LOAD_ID": ["L1", "L1", "L2"],
        "SOURCE_FILE": ["a.csv", "a.csv", "b.csv"],
        "SOURCE_ROW": [1, 2, 1],
    })
    quarantined, applied = _silver_build(con, bronze_table)
    assert con.execute(quarantined).empty
    assert _rows(con, applied.order_by("STORE_ID"), "STORE_ID", "REGION", "LOAD_ID") == [["S1", "east", "L2"], ["S2", "south", "L1"]]
    prior = con.create_table("prior", ibis.memtable({"LOAD_ID": ["L1"]}))
    increment = silver.apply_silver(bronze_table, prior, quarantined, STORES, EVENT_DATES, _batch(STORES, bronze_table, prior))
    assert _rows(con, increment, "STORE_ID", "LOAD_ID") == [["S1", "L2"]]


def test_repeated_keys_are_decided_per_load_and_the_newest_load_is_applied(con):
    bronze_table = _bronze(con, "bronze", {
        "STORE_ID": ["S1", "S1", " S1", "S2", "S3", None, "S1"],
        "REGION": ["north", "south", "south", "west", "x", "y", "east"],
        "LOAD_ID": ["L1", "L1", "L1", "L1", "L1", "L1", "L2"],
        "SOURCE_FILE": ["a.csv"] * 6 + ["b.csv"],
        "SOURCE_ROW": [1, 2, 3, 4, 5, 6, 1],
    })
    assert _batch(STORES, bronze_table)["keys_repeat"]
    quarantined, applied = _silver_build(con, bronze_table)
    assert _rows(con, quarantined.order_by("SOURCE_ROW"), "STORE_ID", "SOURCE_ROW", "REASON_CODE") == [
        ["S1", 1, "DUPLICATE_KEY"],  # superseded within load L1 by a row with other values
        ["S1", 2, "DUPLICATE_ROW"],  # the same values as L1's last S1 row (after trimming)
        [None, 6, "NULL_KEY"],
    ]
    # L1's last S1 row (row 3) is valid but superseded by the newer load L2: neither applied nor quarantined.
    assert _rows(con, applied.order_by("STORE_ID"), "STORE_ID", "REGION", "LOAD_ID") == [
        ["S1", "east", "L2"], ["S2", "west", "L1"], ["S3", "x", "L1"],
    ]


def test_a_load_quarantined_by_an_earlier_run_is_not_applied_and_an_unapplied_one_is(con):
    bronze_table = _bronze(con, "bronze", {
        "STORE_ID": ["S1", None, "S2"],
        "REGION": ["north", "y", "south"],
        "LOAD_ID": ["L1", "L2", "L3"],
        "SOURCE_FILE": ["a.csv", "b.csv", "c.csv"],
        "SOURCE_ROW": [1, 1, 1],
    })
    silver_l1 = con.create_table("silver_l1", ibis.memtable({"STORE_ID": ["S1"], "LOAD_ID": ["L1"]}))
    # An earlier run quarantined all of L2, and validated L3 but stopped before applying it.
    earlier = silver.quarantine_batch(bronze_table, silver_l1, None, RUN, STORES, EVENT_DATES, batch=_batch(STORES, bronze_table, silver_l1))
    quarantine = con.create_table("quarantine", earlier)
    assert _rows(con, quarantine, "LOAD_ID", "REASON_CODE") == [["L2", "NULL_KEY"]]
    quarantined, applied = _silver_build(con, bronze_table, silver_l1, quarantine)
    assert _rows(con, quarantined, "LOAD_ID") == [["L2"]]  # nothing new was quarantined
    assert _rows(con, applied, "STORE_ID", "LOAD_ID") == [["S2", "L3"]]


def test_a_repeated_key_is_found_beside_missing_keys(con):
    batch = _bronze(con, "batch", {
        "STORE_ID": ["S1", " S1", None, None, "S2"], "LOAD_ID": ["L1"] * 5, "SOURCE_FILE": ["a.csv"] * 5, "SOURCE_ROW": [1, 2, 3, 4, 5],
    })
    assert _batch(STORES, batch)["keys_repeat"]
    assert not _batch(STORES, batch.filter(batch.STORE_ID.isnull() | (batch.STORE_ID != " S1")))["keys_repeat"]


def test_without_repeats_the_ordering_is_skipped_and_decides_the_same(con):
    bronze_table = _bronze(con, "bronze", {
        "STORE_ID": ["S1", "S2", None, "S3"],
        "REGION": ["north", "south", "east", "west"],
        "LOAD_ID": ["L1", "L1", "L1", "L1"],
        "SOURCE_FILE": ["a.csv", "a.csv", "a.csv", "b.csv"],
        "SOURCE_ROW": [1, 2, 3, 1],
    })
    fast_plan = _batch(STORES, bronze_table)
    assert not fast_plan["keys_repeat"] and not fast_plan["several_loads"] and fast_plan["loads_to_apply"] == 1

    def decisions(quarantined, applied):
        return _rows(con, quarantined, "STORE_ID", "REASON_CODE"), _rows(con, applied.order_by("STORE_ID"), "STORE_ID")

    fast = decisions(*_silver_build(con, bronze_table))
    ordered_plan = {**fast_plan, "keys_repeat": True, "several_loads": True, "loads_to_apply": 2}
    ordered = decisions(*_silver_build(con, con.create_table("bronze_again", bronze_table), batch=ordered_plan))
    assert fast == ordered == ([[None, "NULL_KEY"]], [["S1"], ["S2"], ["S3"]])


def test_both_plans_of_each_silver_node_compile_to_snowflake_sql(con):
    """The production compile sees empty tables (no repeats); the ordered plans must port too."""
    import sqlglot

    bronze_table = _bronze(con, "bronze", {
        "STORE_ID": ["S1"], "REGION": ["north"], "LOAD_ID": ["L1"], "SOURCE_FILE": ["a.csv"], "SOURCE_ROW": [1],
    })
    profiled = _batch(STORES, bronze_table)
    quarantine = con.create_table("quarantine", silver.quarantine_batch(bronze_table, None, None, RUN, STORES, EVENT_DATES, batch=profiled))
    for repeated in (False, True):
        plan = {**profiled, "keys_repeat": repeated, "several_loads": repeated, "loads_to_apply": 2 if repeated else 1}
        for expr in (
            silver.quarantine_batch(bronze_table, None, None, RUN, STORES, EVENT_DATES, batch=plan),
            silver.apply_silver(bronze_table, None, quarantine, STORES, EVENT_DATES, plan),
        ):
            sql = ibis.to_sql(expr, dialect="snowflake")
            sqlglot.parse(sql, read="snowflake", error_level=sqlglot.ErrorLevel.RAISE)
            assert ("ROW_NUMBER()" in sql) is repeated


RETURNS = {
    "columns": {"RETURN_ID": {"type": "string"}, "ORDER_ID": {"type": "string"}, "LINE_NUMBER": {"type": "int"}},
    "key": ["RETURN_ID"],
    "references": [{"entity": "order_items", "columns": ["ORDER_ID", "LINE_NUMBER"]}],
}


def test_a_composite_reference_matches_both_columns_typed(con):
    """A return names a sold line by order and line number; the values are compared as Silver types them."""
    lines = con.create_table("order_items", ibis.memtable({"ORDER_ID": ["O1", "O1", "O2"], "LINE_NUMBER": [1, 2, 1]}))
    bronze_returns = con.create_table("bronze_returns", ibis.memtable({
        "RETURN_ID": ["R1", "R2", "R3", "R4", "R5"],
        "ORDER_ID": ["O1", "O1", "O2", "O3", " O2 "],
        "LINE_NUMBER": ["2", "3", "01", "1", "1"],
        "LOAD_ID": ["L1"] * 5, "LOADED_AT": [datetime(2026, 1, 1)] * 5,
        "SOURCE_FILE": ["returns.csv"] * 5, "SOURCE_ROW": [1, 2, 3, 4, 5],
    }))
    batch = _batch(RETURNS, bronze_returns)
    quarantined = silver.quarantine_batch(
        bronze_returns, None, None, RUN, RETURNS, EVENT_DATES, {"order_items": {"required": True}}, batch=batch, SILVER_ORDER_ITEMS=lines
    )
    assert _rows(con, quarantined.order_by("RETURN_ID"), "RETURN_ID", "REASON_CODE", "REASON_DETAIL") == [
        ["R2", "UNKNOWN_ORDER_ID_LINE_NUMBER", "ORDER_ID|LINE_NUMBER='O1|3' not found in order_items"],  # order known, line not
        ["R4", "UNKNOWN_ORDER_ID_LINE_NUMBER", "ORDER_ID|LINE_NUMBER='O3|1' not found in order_items"],
    ]
    quarantine = con.create_table("returns_quarantine", quarantined)
    applied = silver.apply_silver(bronze_returns, None, quarantine, RETURNS, EVENT_DATES, batch)
    assert _rows(con, applied.order_by("RETURN_ID"), "RETURN_ID", "ORDER_ID", "LINE_NUMBER") == [
        ["R1", "O1", 2], ["R3", "O2", 1], ["R5", "O2", 1],
    ]


ORDER_ITEMS = {
    "columns": {"ORDER_ID": {"type": "string"}, "LINE_NUMBER": {"type": "int"}},
    "key": ["ORDER_ID", "LINE_NUMBER"],
    "references": [{"entity": "orders", "columns": ["ORDER_ID"]}],
}


def _lines(con):
    return con.create_table("bronze_lines", overwrite=True, obj=ibis.memtable({
        "ORDER_ID": ["O1", "O2"], "LINE_NUMBER": ["1", "1"],
        "LOAD_ID": ["L1"] * 2, "LOADED_AT": [datetime(2026, 1, 1)] * 2, "SOURCE_FILE": ["order_items.csv"] * 2, "SOURCE_ROW": [1, 2],
    }))


def _orders(con, name: str, ids: list[str]):
    """Orders (Silver), or Bronze orders of one load."""
    rows = {"ORDER_ID": ids, "LOAD_ID": ["L1"] * len(ids), "SOURCE_FILE": ["orders.csv"] * len(ids), "SOURCE_ROW": list(range(1, len(ids) + 1))}
    schema = {"ORDER_ID": "string", "LOAD_ID": "string", "SOURCE_FILE": "string", "SOURCE_ROW": "int64"}
    return con.create_table(name, ibis.memtable(rows, schema=schema))


def test_lines_of_a_required_entity_are_checked_even_when_its_silver_table_is_empty(con):
    """Every order quarantined (Silver empty): every line must be quarantined, not accepted."""
    bronze_orders, no_orders = _orders(con, "bronze_orders", ["O1", "O2"]), _orders(con, "silver_orders", [])
    lines = _lines(con)
    quarantined = silver.quarantine_batch(
        lines, None, None, RUN, ORDER_ITEMS, EVENT_DATES, {"orders": {"required": True}},
        batch=_batch(ORDER_ITEMS, lines, orders=bronze_orders), SILVER_ORDERS=no_orders,
    )
    assert _rows(con, quarantined.order_by("ORDER_ID"), "ORDER_ID", "REASON_CODE") == [["O1", "UNKNOWN_ORDER_ID"], ["O2", "UNKNOWN_ORDER_ID"]]


def test_an_optional_entity_counts_as_supplied_when_its_bronze_table_has_rows(con):
    """A file whose every row was quarantined was supplied (the profile says so from its Bronze
    rows): its keys are still checked. An entity never supplied (no Bronze rows) is derived
    later, so nothing is checked."""
    optional = {"orders": {"required": False}}
    lines = _lines(con)
    supplied = silver.quarantine_batch(
        lines, None, None, RUN, ORDER_ITEMS, EVENT_DATES, optional,
        batch=_batch(ORDER_ITEMS, lines, orders=_orders(con, "bronze_orders", ["O1", "O2"])), SILVER_ORDERS=_orders(con, "silver_orders", ["O2"]),
    )
    assert _rows(con, supplied, "ORDER_ID", "REASON_CODE") == [["O1", "UNKNOWN_ORDER_ID"]]
    lines = _lines(con)
    all_quarantined = silver.quarantine_batch(
        lines, None, None, RUN, ORDER_ITEMS, EVENT_DATES, optional,
        batch=_batch(ORDER_ITEMS, lines, orders=_orders(con, "bronze_orders_2", ["O1"])), SILVER_ORDERS=_orders(con, "no_orders", []),
    )
    assert _rows(con, all_quarantined.order_by("ORDER_ID"), "ORDER_ID") == [["O1"], ["O2"]]
    lines = _lines(con)
    never_supplied = silver.quarantine_batch(
        lines, None, None, RUN, ORDER_ITEMS, EVENT_DATES, optional,
        batch=_batch(ORDER_ITEMS, lines, orders=_orders(con, "no_bronze", [])), SILVER_ORDERS=_orders(con, "no_orders_2", []),
    )
    assert _rows(con, never_supplied) == []


def test_the_event_date_range_is_judged_at_the_reference_time(con):
    orders = {"columns": {"ORDER_ID": {"type": "string"}, "ORDER_TS": {"type": "timestamp", "event_date": True}}, "key": ["ORDER_ID"]}
    bronze_orders = con.create_table("bronze_dated", ibis.memtable({
        "ORDER_ID": ["O1", "O2", "O3", "O4"],
        "ORDER_TS": ["1996-12-31 23:59:59", "1997-01-01 00:00:00", "1999-01-01 23:59:59", "1999-01-02 00:00:01"],
        "LOAD_ID": ["L1"] * 4, "LOADED_AT": [datetime(2026, 1, 1)] * 4, "SOURCE_FILE": ["orders.csv"] * 4, "SOURCE_ROW": [1, 2, 3, 4],
    }))
    historical = {"min": "1997-01-01", "max_future_days": 1, "reference_time": "1998-12-31T23:59:59"}
    quarantined = silver.quarantine_batch(bronze_orders, None, None, RUN, orders, historical, batch=_batch(orders, bronze_orders))
    assert _rows(con, quarantined.order_by("ORDER_ID"), "ORDER_ID", "REASON_CODE", "REASON_DETAIL") == [
        ["O1", "DATE_OUT_OF_RANGE", "ORDER_TS=1996-12-31 23:59:59 is before 1997-01-01 or after 1999-01-01 23:59"],
        ["O4", "DATE_OUT_OF_RANGE", "ORDER_TS=1999-01-02 00:00:01 is before 1997-01-01 or after 1999-01-01 23:59"],
    ]
