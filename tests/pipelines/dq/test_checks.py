"""Each check family finds the defect it exists for, and passes clean data."""

from __future__ import annotations

from datetime import datetime

import ibis
import pyarrow as pa
import pytest

from retail_control_tower.pipelines.dq import checks, reconciliation
from retail_control_tower.pipelines.dq.gate import DataQualityError, collect_results, enforce_gate
from retail_control_tower.pipelines.dq.results import RESULT_SCHEMA

RUN = {"run_id": "2026-11-26T10.00.00.000Z", "env": "test", "started_at": datetime(2026, 11, 26, 10, 0, 0)}
BASE = {"severity": "error", "sample_size": 2}
# The part of the input contract value_ranges reads: the lower bounds of a line's units and price.
CONTRACT = {"order_items": {"columns": {"QUANTITY": {"type": "int", "min_exclusive": 0}, "UNIT_PRICE": {"type": "decimal", "min": 0}}}}
ORDERS = {"key": ["ORDER_ID"], "columns": {"ORDER_ID": {"type": "string"}}}


@pytest.fixture
def con():
    return ibis.duckdb.connect()


def _results(con, expr) -> list[dict]:
    return con.to_pyarrow(expr).to_pylist()


def test_duplicate_keys_counts_keys_and_samples_them(con):
    clean = ibis.memtable({"CUSTOMER_ID": ["C1", "C2"]})
    dirty = ibis.memtable({"ORDER_ID": ["O1", "O1", "O2", "O3", "O3", "O3", "O4", "O4"]})
    rows = _results(con, checks.check_duplicate_keys(BASE, {"orders": ORDERS}, MODEL_DIM_CUSTOMER=clean, SILVER_ORDERS=dirty))
    by_table = {r["TABLE_NAME"]: r for r in rows}
    assert by_table["MODEL.DIM_CUSTOMER"]["STATUS"] == "pass"
    assert (by_table["SILVER.ORDERS"]["STATUS"], by_table["SILVER.ORDERS"]["OBSERVED"]) == ("fail", 3)
    assert by_table["SILVER.ORDERS"]["SAMPLE_KEYS"] == "O1, O3"


def test_orphan_keys_name_the_missing_members(con):
    tables = {
        "MODEL_FCT_ORDER_LINE": ibis.memtable(
            {"CUSTOMER_ID": ["C1", "C9"], "PRODUCT_ID": ["P1", "P1"], "STORE_ID": ["S1", "S1"],
             "ORDER_DATE": [datetime(2026, 1, 1).date()] * 2, "ORDER_ID": ["O1", "O2"], "LINE_NUMBER": [1, 1]}
        ),
        "MODEL_DIM_CUSTOMER": ibis.memtable({"CUSTOMER_ID": ["C1"]}),
        "MODEL_DIM_PRODUCT": ibis.memtable({"PRODUCT_ID": ["P1"]}),
        "MODEL_DIM_STORE": ibis.memtable({"STORE_ID": ["S1"]}),
        "MODEL_DIM_DATE": ibis.memtable({"DATE_DAY": [datetime(2026, 1, 1).date()]}),
        # Both key columns must match: O1 has a line 1 but no line 2, and a partly empty key
        # matches no line; a return with no sold line at all references nothing.
        "MODEL_FCT_RETURN": ibis.memtable(
            {"ORDER_ID": ["O2", "O7", "O1", "O1", None], "LINE_NUMBER": [1, 1, 2, None, None], "CUSTOMER_ID": ["C1"] * 5},
            schema={"ORDER_ID": "string", "LINE_NUMBER": "int64", "CUSTOMER_ID": "string"},
        ),
    }
    rows = _results(con, checks.check_orphan_keys(BASE, **tables))
    failed = sorted((r["TABLE_NAME"], r["DETAIL"], r["OBSERVED"], r["SAMPLE_KEYS"]) for r in rows if r["STATUS"] == "fail")
    assert failed == [
        ("MODEL.FCT_ORDER_LINE", "CUSTOMER_ID not found in MODEL.DIM_CUSTOMER", 1, "C9"),
        ("MODEL.FCT_RETURN", "ORDER_ID|LINE_NUMBER not found in MODEL.FCT_ORDER_LINE", 3, "O1, O1|2"),  # the first two, by sample_size
    ]


EVENT_DATES = {"min": "2000-01-01", "max_future_days": 1, "reference_time": None}
FRESHNESS = {"warn_after_hours": 48, "error_after_hours": 168}


def test_freshness_has_a_warn_age_and_an_error_age(con):
    lines = ibis.memtable({"ORDER_TS": [datetime(2026, 11, 20, 10, 0, 0), datetime(2026, 11, 22, 10, 0, 0)]})
    rows = {r["CHECK_NAME"]: r for r in _results(con, checks.check_freshness(FRESHNESS, EVENT_DATES, RUN, lines))}
    assert rows["freshness_warn"]["OBSERVED"] == pytest.approx(96.0)
    assert (rows["freshness_warn"]["STATUS"], rows["freshness_error"]["STATUS"]) == ("fail", "pass")
    historical = {**EVENT_DATES, "reference_time": "2026-11-22T12:00:00"}
    rows = {r["CHECK_NAME"]: r for r in _results(con, checks.check_freshness(FRESHNESS, historical, RUN, lines))}
    assert rows["freshness_warn"]["OBSERVED"] == pytest.approx(2.0) and rows["freshness_warn"]["STATUS"] == "pass"


def test_freshness_with_no_sale_fails_and_says_why(con):
    no_lines = ibis.memtable(pa.table({"ORDER_TS": pa.array([], pa.timestamp("us"))}))
    rows = _results(con, checks.check_freshness(FRESHNESS, EVENT_DATES, RUN, no_lines))
    assert [(r["CHECK_NAME"], r["STATUS"], r["OBSERVED"]) for r in rows] == [("freshness_warn", "fail", None), ("freshness_error", "fail", None)]
    assert rows[1]["DETAIL"].startswith("no sales in MODEL.FCT_ORDER_LINE, so no age to measure at 2026-11-26 10:00")


def test_value_ranges_take_the_order_dates_from_event_dates(con):
    lines = ibis.memtable({
        "ORDER_ID": ["O1", "O2", "O3"], "LINE_NUMBER": [1, 1, 1], "QUANTITY": [1, 1, 1], "UNIT_PRICE": [1.0] * 3,
        "DISCOUNT_AMOUNT": [0.0] * 3, "GROSS_AMOUNT": [1.0] * 3,
        "ORDER_DATE": [datetime(1996, 12, 31).date(), datetime(1997, 6, 1).date(), datetime(1999, 1, 3).date()],
    })
    returns = ibis.memtable(ibis.schema(
        {"RETURN_ID": "string", "ORDER_ID": "string", "LINE_NUMBER": "int64", "QUANTITY": "int64", "RETURN_DATE": "date", "ORDER_DATE": "date"}
    ).to_pyarrow().empty_table())
    historical = {"min": "1997-01-01", "max_future_days": 1, "reference_time": "1998-12-31T23:59:59"}
    rows = _results(con, checks.check_value_ranges(BASE, historical, RUN, lines, returns, CONTRACT))
    dates = [r for r in rows if r["DETAIL"].startswith("ORDER_DATE")]
    assert [(r["STATUS"], r["OBSERVED"], r["SAMPLE_KEYS"], r["DETAIL"]) for r in dates] == [
        ("fail", 2, "O1|1, O3|1", "ORDER_DATE outside [1997-01-01, 1999-01-01] (event_dates)")
    ]


def test_value_ranges_hold_a_fact_s_discount_to_the_contract(con):
    """The discount's lower bound and its cap at units x unit price come from the Silver contract
    (``min``, ``max_product_of``), as Silver applied them: a fact line past either fails."""
    contract = {"order_items": {"columns": {
        **CONTRACT["order_items"]["columns"],
        "DISCOUNT_AMOUNT": {"type": "decimal", "min": 0, "max_product_of": ["QUANTITY", "UNIT_PRICE"]},
    }}}
    lines = ibis.memtable({
        "ORDER_ID": ["O1", "O2", "O3", "O4"], "LINE_NUMBER": [1, 1, 1, 1], "QUANTITY": [2, 2, 2, 1], "UNIT_PRICE": [2.5] * 4,
        "DISCOUNT_AMOUNT": [5.0, 5.01, -1.0, 0.0], "GROSS_AMOUNT": [5.0, 5.0, 5.0, 2.5], "ORDER_DATE": [datetime(2026, 11, 1).date()] * 4,
    })
    returns = ibis.memtable(ibis.schema(
        {"RETURN_ID": "string", "ORDER_ID": "string", "LINE_NUMBER": "int64", "QUANTITY": "int64", "RETURN_DATE": "date", "ORDER_DATE": "date"}
    ).to_pyarrow().empty_table())
    rows = _results(con, checks.check_value_ranges(BASE, EVENT_DATES, RUN, lines, returns, contract))
    discounts = sorted((r["DETAIL"], r["STATUS"], r["OBSERVED"], r["SAMPLE_KEYS"]) for r in rows if r["DETAIL"].startswith("DISCOUNT"))
    assert discounts == [("DISCOUNT_AMOUNT < 0", "fail", 1, "O3|1"), ("DISCOUNT_AMOUNT > QUANTITY x UNIT_PRICE", "fail", 1, "O2|1")]
    # without the rules in the contract, nothing is checked
    assert not [r for r in _results(con, checks.check_value_ranges(BASE, EVENT_DATES, RUN, lines, returns, CONTRACT)) if r["DETAIL"].startswith("DISCOUNT")]


def test_volume_anomaly_compares_the_latest_load_with_the_trailing_mean(con):
    log = ibis.memtable(
        {
            "ENTITY": ["orders"] * 4 + ["returns"],
            "RUN_ID": ["r1", "r2", "r3", "r4", "r4"],
            "STATUS": ["loaded"] * 5,
            "BRONZE_ROWS": [100, 110, 90, 10, 7],
        }
    )
    params = {"severity": "warn", "trailing_loads": 7, "min_ratio": 0.2, "max_ratio": 5.0}
    rows = {r["TABLE_NAME"]: r for r in _results(con, checks.check_volume(params, log))}
    assert rows["BRONZE.ORDERS"]["STATUS"] == "fail" and rows["BRONZE.ORDERS"]["OBSERVED"] == pytest.approx(0.1)
    assert rows["BRONZE.RETURNS"]["STATUS"] == "pass" and rows["BRONZE.RETURNS"]["DETAIL"].startswith("first load")


def test_reconciliation_finds_a_lost_row_and_a_raw_bronze_mismatch(con):
    lineage = {"LOAD_ID": ["L1"] * 3, "SOURCE_FILE": ["stores.csv"] * 3, "SOURCE_ROW": [1, 2, 3]}
    bronze = ibis.memtable({"STORE_ID": ["S1", " S2", "S3"], **lineage})
    silver = ibis.memtable({"STORE_ID": ["S1"], "LOAD_ID": ["L1"], "SOURCE_FILE": ["stores.csv"], "SOURCE_ROW": [1]})
    quarantine = ibis.memtable({"LOAD_ID": ["L1"], "SOURCE_FILE": ["stores.csv"], "SOURCE_ROW": [3]})
    log = ibis.memtable({"RUN_ID": ["L1"], "SOURCE_FILE": ["stores.csv"], "RAW_ROWS": [4], "BRONZE_ROWS": [3]})
    result = reconciliation.check_reconciliation(
        BASE, {"stores": {"key": ["STORE_ID"], "columns": {"STORE_ID": {"type": "string"}}}}, log,
        BRONZE_STORES=bronze, SILVER_STORES=silver, SILVER_STORES_QUARANTINE=quarantine,
    )
    rows = {r["CHECK_NAME"]: r for r in _results(con, result)}
    assert rows["reconciliation_raw_bronze"]["SAMPLE_KEYS"] == "stores.csv"
    silver_row = rows["reconciliation_bronze_silver"]
    assert (silver_row["STATUS"], silver_row["OBSERVED"], silver_row["SAMPLE_KEYS"]) == ("fail", 1, "S2")
    assert silver_row["DETAIL"] == "bronze STORES 3 = silver 1 + quarantine 1 + superseded 1"


def _reconcile(con, bronze: dict, silver: dict, quarantine: dict) -> dict:
    log = ibis.memtable({"RUN_ID": ["L2"], "SOURCE_FILE": ["orders_2.csv"], "RAW_ROWS": [2], "BRONZE_ROWS": [2]})
    result = reconciliation.check_reconciliation(
        BASE, {"orders": ORDERS}, log,
        BRONZE_ORDERS=ibis.memtable(bronze), SILVER_ORDERS=ibis.memtable(silver),
        SILVER_ORDERS_QUARANTINE=ibis.memtable(quarantine, schema={"LOAD_ID": "string", "SOURCE_FILE": "string", "SOURCE_ROW": "int64"}),
    )
    return {r["CHECK_NAME"]: r for r in _results(con, result)}["reconciliation_bronze_silver"]


# Two loads of orders: O1 and O2 in the first file, a newer O2 and O3 in the second.
TWO_LOADS = {
    "ORDER_ID": ["O1", "O2", "O2", "O3"],
    "LOAD_ID": ["L1", "L1", "L2", "L2"],
    "SOURCE_FILE": ["orders_1.csv", "orders_1.csv", "orders_2.csv", "orders_2.csv"],
    "SOURCE_ROW": [1, 2, 1, 2],
}


def _silver(*rows: tuple[str, str, str, int]) -> dict:
    return {name: [row[i] for row in rows] for i, name in enumerate(["ORDER_ID", "LOAD_ID", "SOURCE_FILE", "SOURCE_ROW"])}


def test_reconciliation_accepts_a_superseded_version_and_finds_a_lost_key_in_an_older_file(con):
    current = _silver(("O1", "L1", "orders_1.csv", 1), ("O2", "L2", "orders_2.csv", 1), ("O3", "L2", "orders_2.csv", 2))
    row = _reconcile(con, TWO_LOADS, current, {})
    assert (row["STATUS"], row["OBSERVED"]) == ("pass", 0)
    assert row["DETAIL"] == "bronze ORDERS 4 = silver 3 + quarantine 0 + superseded 1"
    without_o1 = _silver(("O2", "L2", "orders_2.csv", 1), ("O3", "L2", "orders_2.csv", 2))
    row = _reconcile(con, TWO_LOADS, without_o1, {})
    assert (row["STATUS"], row["OBSERVED"], row["SAMPLE_KEYS"]) == ("fail", 1, "O1")
    quarantined = {"LOAD_ID": ["L1"], "SOURCE_FILE": ["orders_1.csv"], "SOURCE_ROW": [1]}
    assert _reconcile(con, TWO_LOADS, without_o1, quarantined)["STATUS"] == "pass"


def test_reconciliation_finds_silver_rows_without_their_own_bronze_row(con):
    row = _reconcile(con, TWO_LOADS, _silver(
        ("O1", "L1", "orders_1.csv", 1),
        ("O2", "L2", "orders_2.csv", 1),
        ("O3", "L2", "orders_2.csv", 2),
        ("O8", "L2", "orders_2.csv", 3),    # past the file's last Bronze row
        ("O9", "L9", "orders_9.csv", 1),    # a load Bronze never had
    ), {})
    assert (row["STATUS"], row["OBSERVED"], row["SAMPLE_KEYS"]) == ("fail", 2, "O8, O9")
    # A Silver row on a Bronze row that was quarantined is not a traced row either.
    quarantined = {"LOAD_ID": ["L2"], "SOURCE_FILE": ["orders_2.csv"], "SOURCE_ROW": [2]}
    current = _silver(("O1", "L1", "orders_1.csv", 1), ("O2", "L2", "orders_2.csv", 1), ("O3", "L2", "orders_2.csv", 2))
    row = _reconcile(con, TWO_LOADS, current, quarantined)
    assert (row["STATUS"], row["SAMPLE_KEYS"]) == ("fail", "O3")


def test_reconciliation_looks_rows_up_in_a_bronze_file_with_a_gap(con):
    # Bronze rows 1, 3, 3 of one file: the count (3) matches the range 1..3, but row 2 is not there.
    bronze = {"ORDER_ID": ["O1", "O3", "O3"], "LOAD_ID": ["L1"] * 3, "SOURCE_FILE": ["orders_1.csv"] * 3, "SOURCE_ROW": [1, 3, 3]}
    gap = _silver(("O1", "L1", "orders_1.csv", 1), ("O2", "L1", "orders_1.csv", 2), ("O3", "L1", "orders_1.csv", 3))
    row = _reconcile(con, bronze, gap, {})
    assert (row["STATUS"], row["SAMPLE_KEYS"]) == ("fail", "O2")
    # Rows 1, 3, 3 with a different key on each row 3: the Silver row 3 counts once, so the
    # file has a row left over and the key nobody holds is found.
    bronze = {"ORDER_ID": ["O1", "O3", "O4"], "LOAD_ID": ["L1"] * 3, "SOURCE_FILE": ["orders_1.csv"] * 3, "SOURCE_ROW": [1, 3, 3]}
    row = _reconcile(con, bronze, _silver(("O1", "L1", "orders_1.csv", 1), ("O3", "L1", "orders_1.csv", 3)), {})
    assert (row["STATUS"], row["OBSERVED"], row["SAMPLE_KEYS"]) == ("fail", 1, "O4")
    # Rows 1, 3 (a real gap): the file is looked up row by row and its rows are traced.
    bronze = {"ORDER_ID": ["O1", "O3"], "LOAD_ID": ["L1"] * 2, "SOURCE_FILE": ["orders_1.csv"] * 2, "SOURCE_ROW": [1, 3]}
    row = _reconcile(con, bronze, _silver(("O1", "L1", "orders_1.csv", 1), ("O3", "L1", "orders_1.csv", 3)), {})
    assert (row["STATUS"], row["OBSERVED"]) == ("pass", 0)


def test_gate_stops_on_a_failed_error_check_and_names_it(con):
    failing = ibis.memtable(
        {"CHECK_NAME": ["orphan_keys", "volume_anomaly"], "TABLE_NAME": ["MODEL.FCT_RETURN", "BRONZE.ORDERS"],
         "SEVERITY": ["error", "warn"], "STATUS": ["fail", "fail"], "OBSERVED": [2.0, 0.1], "THRESHOLD": [0.0, 5.0],
         "DETAIL": ["ORDER_ID|LINE_NUMBER not found", "latest load"], "SAMPLE_KEYS": ["O7|1, O8|1", "r4"]}
    )
    recorded = con.create_table("results", collect_results(RUN, failing))
    with pytest.raises(DataQualityError, match=r"orphan_keys on MODEL\.FCT_RETURN: observed 2 .*sample keys: O7\|1, O8\|1"):
        enforce_gate(recorded, RUN)
    warnings_only = con.create_table("warnings", collect_results(RUN, failing.filter(failing.SEVERITY == "warn")))
    assert _results(con, enforce_gate(warnings_only, RUN))[0] | {"CHECKED_AT": None} == {
        "RUN_ID": RUN["run_id"], "CHECKS": 1, "FAILED_WARNINGS": 1, "PASSED": True, "CHECKED_AT": None
    }


def test_gate_reports_a_failure_with_nothing_measured_as_a_data_quality_error(con):
    """A check with no figure (freshness of an empty fact) records nulls: still a DataQualityError."""
    empty = ibis.memtable(pa.Table.from_pylist(
        [{"CHECK_NAME": "freshness_error", "TABLE_NAME": "MODEL.FCT_ORDER_LINE", "SEVERITY": "error", "STATUS": "fail"}],
        schema=RESULT_SCHEMA.to_pyarrow(),
    ))
    recorded = con.create_table("nulls", collect_results(RUN, empty))
    with pytest.raises(DataQualityError, match=r"freshness_error on MODEL\.FCT_ORDER_LINE: observed null \(threshold null; no detail\)"):
        enforce_gate(recorded, RUN)


def _silver_model(con, fct_lines: list[tuple[str, int]], fct_returns: list[str]) -> list[dict]:
    lines = {"ORDER_ID": ["O1", "O1", "O2", "O3"], "LINE_NUMBER": [1, 2, 1, 1]}
    tables = {
        "SILVER_ORDERS": ibis.memtable({"ORDER_ID": ["O1", "O2", "O3", "O4"]}),
        "SILVER_ORDER_ITEMS": ibis.memtable(lines),
        "SILVER_RETURNS": ibis.memtable({"RETURN_ID": ["R1", "R2"]}),
        "MODEL_FCT_ORDER_LINE": ibis.memtable(
            {"ORDER_ID": [k[0] for k in fct_lines], "LINE_NUMBER": [k[1] for k in fct_lines]}, schema={"ORDER_ID": "string", "LINE_NUMBER": "int64"}
        ),
        "MODEL_FCT_RETURN": ibis.memtable({"RETURN_ID": fct_returns}, schema={"RETURN_ID": "string"}),
    }
    params = {**BASE, "orders_without_lines": "warn"}
    counts = reconciliation.count_silver_model_rows(**{name: tables[name] for name in reconciliation.silver_model_inputs()})
    rows = _results(con, reconciliation.check_silver_model(params, counts, **tables))
    return sorted(rows, key=lambda r: (r["CHECK_NAME"] != "reconciliation_silver_model", r["TABLE_NAME"]))


def test_silver_model_reconciliation_names_lines_and_returns_lost_on_the_way_to_the_facts(con):
    complete = _silver_model(con, [("O1", 1), ("O1", 2), ("O2", 1), ("O3", 1)], ["R1", "R2"])
    assert [(r["TABLE_NAME"], r["STATUS"], r["OBSERVED"], r["DETAIL"]) for r in complete[:2]] == [
        ("MODEL.FCT_ORDER_LINE", "pass", 0, "silver ORDER_ITEMS 4 = MODEL.FCT_ORDER_LINE 4 + missing 0"),
        ("MODEL.FCT_RETURN", "pass", 0, "silver RETURNS 2 = MODEL.FCT_RETURN 2 + missing 0"),
    ]
    # O4 has no line at all: it reaches no fact, counted as a warning with its key.
    assert [(r["CHECK_NAME"], r["SEVERITY"], r["STATUS"], r["SAMPLE_KEYS"]) for r in complete[2:]] == [
        ("reconciliation_orders_without_lines", "warn", "fail", "O4")
    ]
    lost = _silver_model(con, [("O1", 1), ("O3", 1)], ["R2"])
    assert [(r["CHECK_NAME"], r["SEVERITY"], r["STATUS"], r["OBSERVED"], r["SAMPLE_KEYS"], r["DETAIL"]) for r in lost[:2]] == [
        ("reconciliation_silver_model", "error", "fail", 2, "O1|2, O2|1", "silver ORDER_ITEMS 4 = MODEL.FCT_ORDER_LINE 2 + missing 2"),
        ("reconciliation_silver_model", "error", "fail", 1, "R1", "silver RETURNS 2 = MODEL.FCT_RETURN 1 + missing 1"),
    ]
    # O2 lost its only line: now it reaches no fact either.
    assert lost[2]["SAMPLE_KEYS"] == "O2, O4"


def test_both_plans_of_the_silver_model_reconciliation_compile_to_snowflake_sql(con):
    """The production compile sees empty tables (equal counts): the anti-join plan must port too."""
    import sqlglot

    tables = {name: con.create_table(name, ibis.memtable({"ORDER_ID": ["O1"], "LINE_NUMBER": [1], "RETURN_ID": ["R1"]}))
              for name in ("SILVER_ORDERS", "SILVER_ORDER_ITEMS", "SILVER_RETURNS", "MODEL_FCT_ORDER_LINE", "MODEL_FCT_RETURN")}
    params = {**BASE, "orders_without_lines": "warn"}
    for counts_differ in (False, True):
        counts = {n: i * counts_differ for i, n in enumerate(reconciliation.silver_model_inputs())}
        sql = ibis.to_sql(reconciliation.check_silver_model(params, counts, **tables), dialect="snowflake")
        sqlglot.parse(sql, read="snowflake", error_level=sqlglot.ErrorLevel.RAISE)
        assert sql.count("NOT EXISTS") == 1 + 2 * counts_differ  # orders without lines, and the two facts
