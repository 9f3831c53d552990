"""Absurd values (issue 14): plausibility bounds quarantine a line as OUT_OF_RANGE, and money in
exponent notation is INVALID_TYPE."""

from __future__ import annotations

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
