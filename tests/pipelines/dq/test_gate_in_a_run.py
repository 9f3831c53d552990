"""In a real run, a failed error check stops the run after recording every result."""

from __future__ import annotations

import pytest
from conftest import small_retailer

from retail_control_tower.pipelines.dq.gate import DataQualityError


def _stale(tables: dict) -> dict:
    """The same retailer, a year older: every sale is far past the freshness error age."""
    tables["customers"] = [[c[0], f"2024-0{i + 1}-01", *c[2:]] for i, c in enumerate(tables["customers"])]
    tables["orders"] = [[o[0], o[1], o[2], "2025-0" + str(i + 1) + "-15 10:00:00", o[4]] for i, o in enumerate(tables["orders"])]
    tables["returns"] = [[r[0], r[1], r[2], "2025-03-01 10:00:00", *r[4:]] for r in tables["returns"]]
    return tables


def test_stale_data_stops_the_run_and_is_recorded(workspace):
    workspace.write_retailer(_stale(small_retailer()))
    with pytest.raises(DataQualityError, match=r"freshness_error on MODEL\.FCT_ORDER_LINE"):
        workspace.run("ingest", "dq")
    recorded = workspace.rows("SELECT CHECK_NAME, SEVERITY, STATUS FROM OPS.DQ_RESULTS WHERE STATUS = 'fail' ORDER BY 1")
    assert recorded == [("freshness_error", "error", "fail"), ("freshness_warn", "warn", "fail")]
    assert workspace.scalar("SELECT COUNT(DISTINCT CHECK_NAME) FROM OPS.DQ_RESULTS") >= 9
    assert "DQ_GATE" not in {name for (name,) in workspace.rows("SELECT table_name FROM information_schema.tables")}


def test_a_historical_data_set_is_judged_at_its_own_reference_time(workspace):
    workspace.write_retailer(_stale(small_retailer()))
    workspace.run("ingest", "dq", params={"event_dates": {"reference_time": "2025-04-16T00:00:00"}})
    assert workspace.scalar("SELECT PASSED FROM OPS.DQ_GATE") is True


def test_an_order_line_lost_between_silver_and_the_fact_stops_the_run_naming_it(workspace):
    workspace.write_retailer(small_retailer())
    workspace.run("ingest", "dq")
    # A line that vanishes on its way to MODEL (as lines did when their order was quarantined).
    workspace.rows("DELETE FROM MODEL.FCT_ORDER_LINE WHERE ORDER_ID = 'O3' AND LINE_NUMBER = 2")
    workspace.rows("DELETE FROM MODEL.FCT_RETURN")
    with pytest.raises(DataQualityError) as stopped:
        workspace.run("dq")
    message = str(stopped.value)
    assert "reconciliation_silver_model on MODEL.FCT_ORDER_LINE: observed 1" in message
    assert "sample keys: O3|2" in message
    assert "reconciliation_silver_model on MODEL.FCT_RETURN: observed 1" in message and "sample keys: R1" in message
    details = dict(workspace.rows(
        "SELECT TABLE_NAME, DETAIL FROM OPS.DQ_RESULTS WHERE CHECK_NAME = 'reconciliation_silver_model' AND STATUS = 'fail'"
    ))
    assert details["MODEL.FCT_ORDER_LINE"] == "silver ORDER_ITEMS 6 = MODEL.FCT_ORDER_LINE 5 + missing 1"


def test_a_gold_table_that_no_longer_adds_up_to_the_facts_stops_the_run(workspace):
    workspace.write_retailer(small_retailer())
    workspace.run("ingest", "dq")
    day, store, category, lines = workspace.rows(
        "SELECT DATE_DAY, STORE_ID, CATEGORY, ORDER_LINES FROM GOLD.SALES_DAILY WHERE ORDER_LINES > 0 ORDER BY ALL LIMIT 1"
    )[0]
    workspace.rows(f"DELETE FROM GOLD.SALES_DAILY WHERE DATE_DAY = '{day}' AND STORE_ID = '{store}' AND CATEGORY = '{category}'")
    with pytest.raises(DataQualityError, match=r"reconciliation_model_gold on GOLD\.SALES_DAILY: observed \d+ .*sample keys: ORDER_LINES, UNITS"):
        workspace.run("dq")
    total = workspace.scalar("SELECT COUNT(*) FROM MODEL.FCT_ORDER_LINE")
    detail = workspace.scalar(
        "SELECT DETAIL FROM OPS.DQ_RESULTS WHERE CHECK_NAME = 'reconciliation_model_gold' AND TABLE_NAME = 'GOLD.SALES_DAILY' AND STATUS = 'fail'"
    )
    assert detail.startswith(f"ORDER_LINES {total - lines} = MODEL.FCT_ORDER_LINE rows {total};")
    passed = workspace.rows(
        "SELECT TABLE_NAME FROM OPS.DQ_RESULTS WHERE CHECK_NAME = 'reconciliation_model_gold' AND STATUS = 'pass'"
        " AND RUN_ID = (SELECT MAX(RUN_ID) FROM OPS.DQ_RESULTS) ORDER BY 1"
    )
    assert passed == [("GOLD.CUSTOMER_360",), ("GOLD.PRODUCT_PERFORMANCE",), ("GOLD.STORE_PERFORMANCE",)]
