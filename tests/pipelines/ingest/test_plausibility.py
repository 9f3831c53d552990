"""Absurd values (issue 14): plausibility bounds quarantine a line as OUT_OF_RANGE, money in exponent
notation is INVALID_TYPE, and DQ flags a GOLD daily cell far from its store × category's usual day."""

from __future__ import annotations

from datetime import datetime, timedelta

from conftest import small_retailer


def test_implausible_lines_are_quarantined_before_they_reach_gold(workspace):
    tables = small_retailer()
    tables["order_items"] += [
        ["O4", "2", "P1", "1000000000", "2.50", "0", ""],  # a billion units
        ["O4", "3", "P1", "1", "1e12", "0", ""],           # money in exponent notation
        ["O4", "4", "P1", "1", "1E3", "0", ""],
        ["O4", "5", "P3", "1", "150000.00", "0", ""],      # above the absolute bound
        ["O4", "6", "P1", "1", "30.00", "0", ""],          # 12 x the list price of 2.50
        ["O4", "7", "P1", "1", "25.00", "0", ""],          # 10 x: still plausible
        ["O4", "8", "P1", "2", "2.50", "1.5e1", ""],
    ]
    workspace.write_retailer(tables)
    workspace.run("ingest", "dq")

    reasons = workspace.rows("SELECT BUSINESS_KEY, REASON_CODE, REASON_DETAIL FROM SILVER.ORDER_ITEMS_QUARANTINE ORDER BY SOURCE_ROW")
    assert reasons == [
        ("O4|2", "OUT_OF_RANGE", "QUANTITY=1000000000 must be <= 10000"),
        ("O4|3", "INVALID_TYPE", "UNIT_PRICE='1e12' is not a valid decimal"),
        ("O4|4", "INVALID_TYPE", "UNIT_PRICE='1E3' is not a valid decimal"),
        ("O4|5", "OUT_OF_RANGE", "UNIT_PRICE=150000.00 must be <= 100000"),
        ("O4|6", "OUT_OF_RANGE", "UNIT_PRICE=30.00 must be <= 10 x LIST_PRICE of products (2.50)"),
        ("O4|8", "INVALID_TYPE", "DISCOUNT_AMOUNT='1.5e1' is not a valid decimal"),
    ]
    assert workspace.scalar("SELECT MAX(UNITS) FROM GOLD.SALES_DAILY") < 10
    assert workspace.scalar("SELECT MAX(NET_AMOUNT) FROM GOLD.SALES_DAILY") < 100
    assert workspace.scalar("SELECT PASSED FROM OPS.DQ_GATE") is True


def test_without_a_products_file_only_the_absolute_bounds_apply(workspace):
    tables = small_retailer()
    tables["order_items"] += [["O4", "2", "P1", "1", "30.00", "0", ""], ["O4", "3", "P1", "20000", "2.50", "0", ""]]
    workspace.write_retailer({"orders": tables["orders"], "order_items": tables["order_items"]})
    workspace.run("ingest")
    assert workspace.rows("SELECT BUSINESS_KEY, REASON_CODE FROM SILVER.ORDER_ITEMS_QUARANTINE") == [("O4|3", "OUT_OF_RANGE")]


def _history(days: int) -> dict[str, list[list]]:
    """A month of ordinary days at store S1 (one to three teas a day), ending yesterday."""
    tables = small_retailer()
    start = datetime.now() - timedelta(days=days)
    orders, items = [], []
    for day in range(days):
        order = f"H{day}"
        orders.append([order, "C1", "S1", (start + timedelta(days=day)).strftime("%Y-%m-%d 10:00:00"), "store"])
        items.append([order, "1", "P1", str(1 + day % 3), "2.50", "0", ""])
    tables["orders"] += orders
    tables["order_items"] += items
    return tables


def test_a_daily_cell_far_from_its_usual_day_is_flagged_as_a_warning(workspace):
    tables = _history(30)
    # Within every bound (10,000 units at the list price), yet 5,000 times a usual day's tea sales.
    tables["order_items"].append(["H29", "2", "P1", "10000", "2.50", "0", ""])
    workspace.write_retailer(tables)
    workspace.run("ingest", "dq")

    flagged = workspace.rows(
        "SELECT SEVERITY, STATUS, OBSERVED, SAMPLE_KEYS FROM OPS.DQ_RESULTS WHERE CHECK_NAME = 'sales_anomaly'"
    )
    day = (datetime.now() - timedelta(days=1)).strftime("%Y-%m-%d")
    assert flagged == [("warn", "fail", 1.0, f"{day}|S1|grocery")]
    assert workspace.scalar("SELECT PASSED FROM OPS.DQ_GATE") is True


def test_ordinary_days_pass_the_anomaly_check(workspace):
    workspace.write_retailer(_history(30))
    workspace.run("ingest", "dq")
    assert workspace.rows("SELECT STATUS, OBSERVED FROM OPS.DQ_RESULTS WHERE CHECK_NAME = 'sales_anomaly'") == [("pass", 0.0)]
