"""GOLD, one test per table: small MODEL-shaped inputs on an in-memory DuckDB, every expected row
worked out by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import ibis
import pyarrow as pa
import pytest

from retail_control_tower.pipelines.gold import nodes

D = Decimal
MONEY = "decimal(18, 2)"


@pytest.fixture
def con():
    return ibis.duckdb.connect()


def _table(columns: dict[str, list], schema: dict[str, str]) -> ibis.Table:
    return ibis.memtable(pa.table(columns, schema=ibis.schema(schema).to_pyarrow()))


def _rows(con, expr, order_by: list[str]) -> list[tuple]:
    return [tuple(row.values()) for row in con.to_pyarrow(expr.order_by(order_by)).to_pylist()]


# Four order lines of two customers in two stores; P1 and P3 are grocery, P2 home.
LINES = _table(
    {
        "ORDER_ID": ["O1", "O1", "O3", "O2"],
        "LINE_NUMBER": [1, 2, 1, 1],
        "CUSTOMER_ID": ["C1", "C1", "C1", "C2"],
        "STORE_ID": ["S1", "S1", "S2", "S2"],
        "PRODUCT_ID": ["P1", "P2", "P1", "P3"],
        "ORDER_DATE": [date(2025, 1, 5), date(2025, 1, 5), date(2025, 1, 10), date(2025, 1, 20)],
        "CHANNEL": ["store", "store", "online", "online"],
        "QUANTITY": [2, 1, 4, 1],
        "GROSS_AMOUNT": [D("5.00"), D("8.00"), D("10.00"), D("3.00")],
        "DISCOUNT_AMOUNT": [D("0.00"), D("2.00"), D("1.00"), D("0.00")],
        "NET_AMOUNT": [D("5.00"), D("6.00"), D("9.00"), D("3.00")],
        "IS_PROMO": [False, True, True, False],
    },
    {
        "ORDER_ID": "string", "LINE_NUMBER": "int64", "CUSTOMER_ID": "string", "STORE_ID": "string", "PRODUCT_ID": "string",
        "ORDER_DATE": "date", "CHANNEL": "string", "QUANTITY": "int64", "GROSS_AMOUNT": MONEY, "DISCOUNT_AMOUNT": MONEY,
        "NET_AMOUNT": MONEY, "IS_PROMO": "boolean",
    },
)
# One return: C1 brings back the P2 bought in S1, on 12 January.
RETURNS = _table(
    {
        "CUSTOMER_ID": ["C1"], "PRODUCT_ID": ["P2"], "STORE_ID": ["S1"], "RETURN_DATE": [date(2025, 1, 12)],
        "QUANTITY": [1], "REFUND_AMOUNT": [D("6.00")],
    },
    {"CUSTOMER_ID": "string", "PRODUCT_ID": "string", "STORE_ID": "string", "RETURN_DATE": "date", "QUANTITY": "int64", "REFUND_AMOUNT": MONEY},
)
PRODUCTS = _table(
    {
        "PRODUCT_ID": ["P1", "P2", "P3", "P4"], "PRODUCT_NAME": ["Tea", "Mug", "Rice", "Pan"],
        "CATEGORY": ["grocery", "home", "grocery", "home"], "BRAND": ["Leaf", "Clay", "Paddy", "Iron"],
        "UNIT_COST": [D("1.00"), None, D("1.50"), D("9.00")], "LIST_PRICE": [D("2.50"), D("8.00"), D("3.00"), D("20.00")],
        "IS_DERIVED": [False, True, False, False],
    },
    {
        "PRODUCT_ID": "string", "PRODUCT_NAME": "string", "CATEGORY": "string", "BRAND": "string", "UNIT_COST": MONEY,
        "LIST_PRICE": MONEY, "IS_DERIVED": "boolean",
    },
)


def test_sales_daily_sums_sales_by_day_store_and_category_and_refunds_on_the_day_of_return(con):
    assert _rows(con, nodes.sales_daily(LINES, RETURNS, PRODUCTS), ["DATE_DAY", "STORE_ID", "CATEGORY"]) == [
        # DATE_DAY, STORE_ID, CATEGORY, ORDERS, CUSTOMERS, ORDER_LINES, UNITS, GROSS, DISCOUNT, NET, RETURNED_UNITS, REFUND, NET_AFTER_RETURNS
        (date(2025, 1, 5), "S1", "grocery", 1, 1, 1, 2, D("5.00"), D("0.00"), D("5.00"), 0, D("0.00"), D("5.00")),
        (date(2025, 1, 5), "S1", "home", 1, 1, 1, 1, D("8.00"), D("2.00"), D("6.00"), 0, D("0.00"), D("6.00")),
        (date(2025, 1, 10), "S2", "grocery", 1, 1, 1, 4, D("10.00"), D("1.00"), D("9.00"), 0, D("0.00"), D("9.00")),
        (date(2025, 1, 12), "S1", "home", 0, 0, 0, 0, D("0.00"), D("0.00"), D("0.00"), 1, D("6.00"), D("-6.00")),
        (date(2025, 1, 20), "S2", "grocery", 1, 1, 1, 1, D("3.00"), D("0.00"), D("3.00"), 0, D("0.00"), D("3.00")),
    ]


def test_customer_360_profiles_every_customer_including_one_without_orders(con):
    customers = _table(
        {
            "CUSTOMER_ID": ["C1", "C2", "C3"], "SIGNUP_DATE": [date(2024, 1, 10), date(2024, 3, 1), date(2025, 1, 1)],
            "HOME_STORE_ID": ["S1", "S2", "S1"], "LOYALTY_TIER": ["gold", "unknown", "bronze"], "IS_DERIVED": [False, True, False],
        },
        {"CUSTOMER_ID": "string", "SIGNUP_DATE": "date", "HOME_STORE_ID": "string", "LOYALTY_TIER": "string", "IS_DERIVED": "boolean"},
    )
    rows = {row["CUSTOMER_ID"]: row for row in con.to_pyarrow(nodes.customer_360(customers, LINES, RETURNS, PRODUCTS)).to_pylist()}
    as_of = date(2025, 1, 20)  # the newest order line
    assert rows["C1"] == {
        "CUSTOMER_ID": "C1", "SIGNUP_DATE": date(2024, 1, 10), "HOME_STORE_ID": "S1", "LOYALTY_TIER": "gold", "IS_DERIVED": False,
        "FIRST_ORDER_DATE": date(2025, 1, 5), "LAST_ORDER_DATE": date(2025, 1, 10), "DAYS_SINCE_LAST_ORDER": 10,
        "ORDERS": 2, "ORDER_LINES": 3, "UNITS": 7, "NET_AMOUNT": D("20.00"), "AVG_ORDER_VALUE": D("10.00"),
        "DISCOUNT_SHARE": pytest.approx(3 / 23), "ONLINE_SHARE": pytest.approx(1 / 3),
        "RETURNS": 1, "REFUND_AMOUNT": D("6.00"), "RETURN_RATE": pytest.approx(1 / 7), "LAST_RETURN_DATE": date(2025, 1, 12),
        "FAVOURITE_STORE_ID": "S1", "FAVOURITE_CATEGORY": "grocery", "AS_OF_DATE": as_of,
    }
    assert rows["C2"] == {
        "CUSTOMER_ID": "C2", "SIGNUP_DATE": date(2024, 3, 1), "HOME_STORE_ID": "S2", "LOYALTY_TIER": "unknown", "IS_DERIVED": True,
        "FIRST_ORDER_DATE": as_of, "LAST_ORDER_DATE": as_of, "DAYS_SINCE_LAST_ORDER": 0,
        "ORDERS": 1, "ORDER_LINES": 1, "UNITS": 1, "NET_AMOUNT": D("3.00"), "AVG_ORDER_VALUE": D("3.00"),
        "DISCOUNT_SHARE": 0.0, "ONLINE_SHARE": 1.0, "RETURNS": 0, "REFUND_AMOUNT": D("0.00"), "RETURN_RATE": 0.0, "LAST_RETURN_DATE": None,
        "FAVOURITE_STORE_ID": "S2", "FAVOURITE_CATEGORY": "grocery", "AS_OF_DATE": as_of,
    }
    assert rows["C3"] == {
        "CUSTOMER_ID": "C3", "SIGNUP_DATE": date(2025, 1, 1), "HOME_STORE_ID": "S1", "LOYALTY_TIER": "bronze", "IS_DERIVED": False,
        "FIRST_ORDER_DATE": None, "LAST_ORDER_DATE": None, "DAYS_SINCE_LAST_ORDER": None,
        "ORDERS": 0, "ORDER_LINES": 0, "UNITS": 0, "NET_AMOUNT": D("0.00"), "AVG_ORDER_VALUE": None,
        "DISCOUNT_SHARE": 0.0, "ONLINE_SHARE": 0.0, "RETURNS": 0, "REFUND_AMOUNT": D("0.00"), "RETURN_RATE": 0.0, "LAST_RETURN_DATE": None,
        "FAVOURITE_STORE_ID": None, "FAVOURITE_CATEGORY": None, "AS_OF_DATE": as_of,
    }
    assert len(rows) == 3


def test_product_performance_measures_every_product_with_its_margin_at_cost(con):
    columns = ["PRODUCT_ID", "ORDERS", "CUSTOMERS", "UNITS", "NET_AMOUNT", "GROSS_MARGIN", "DISCOUNT_AMOUNT", "PROMO_LINE_SHARE",
               "RETURNED_UNITS", "REFUND_AMOUNT", "RETURN_RATE", "LAST_SOLD_DATE"]
    assert _rows(con, nodes.product_performance(PRODUCTS, LINES, RETURNS).select(columns), ["PRODUCT_ID"]) == [
        ("P1", 2, 1, 6, D("14.00"), D("8.00"), D("1.00"), 0.5, 0, D("0.00"), 0.0, date(2025, 1, 10)),  # 14.00 - 6 x 1.00
        ("P2", 1, 1, 1, D("6.00"), None, D("2.00"), 1.0, 1, D("6.00"), 1.0, date(2025, 1, 5)),  # no cost, no margin
        ("P3", 1, 1, 1, D("3.00"), D("1.50"), D("0.00"), 0.0, 0, D("0.00"), 0.0, date(2025, 1, 20)),
        ("P4", 0, 0, 0, D("0.00"), D("0.00"), D("0.00"), 0.0, 0, D("0.00"), 0.0, None),  # never sold
    ]


STORES = _table(
    {"STORE_ID": ["S1", "S2", "S3"], "STORE_NAME": ["High St", "Mall", "Kiosk"], "REGION": ["north", "south", "east"],
     "FORMAT": ["high_street", "mall", "kiosk"], "IS_DERIVED": [False, False, True]},
    {"STORE_ID": "string", "STORE_NAME": "string", "REGION": "string", "FORMAT": "string", "IS_DERIVED": "boolean"},
)
STORE_COLUMNS = ["STORE_ID", "ORDERS", "CUSTOMERS", "NET_AMOUNT", "AVG_ORDER_VALUE", "WINDOW_DAYS", "NET_LAST_WINDOW", "NET_PRIOR_WINDOW", "WINDOW_GROWTH",
                 "RETURNS", "REFUND_AMOUNT", "FIRST_SALE_DATE", "LAST_SALE_DATE"]


def test_store_performance_compares_the_last_window_with_the_one_before(con):
    """Windows end at the newest sale (20 January): with 7 days, the last window is 14-20 January
    and the one before 7-13 January; with the default 28 days every sale is in the last window."""
    weekly = nodes.store_performance(STORES, LINES, RETURNS, {"window_days": 7}).select(STORE_COLUMNS)
    assert _rows(con, weekly, ["STORE_ID"]) == [
        # S1 sold on 5 January only: in neither window.
        ("S1", 1, 1, D("11.00"), D("11.00"), 7, D("0.00"), D("0.00"), None, 1, D("6.00"), date(2025, 1, 5), date(2025, 1, 5)),
        # S2: 3.00 on 20 January against 9.00 on 10 January.
        ("S2", 2, 2, D("12.00"), D("6.00"), 7, D("3.00"), D("9.00"), pytest.approx(3 / 9 - 1), 0, D("0.00"), date(2025, 1, 10), date(2025, 1, 20)),
        ("S3", 0, 0, D("0.00"), None, 7, D("0.00"), D("0.00"), None, 0, D("0.00"), None, None),
    ]
    monthly = nodes.store_performance(STORES, LINES, RETURNS, {"window_days": 28}).select("STORE_ID", "WINDOW_DAYS", "NET_LAST_WINDOW", "NET_PRIOR_WINDOW")
    assert _rows(con, monthly, ["STORE_ID"]) == [
        ("S1", 28, D("11.00"), D("0.00")), ("S2", 28, D("12.00"), D("0.00")), ("S3", 28, D("0.00"), D("0.00"))
    ]


def test_sales_daily_adds_returns_on_the_day_they_came_back(con):
    lines = ibis.memtable(
        {"ORDER_DATE": [date(2026, 1, 1)] * 2, "STORE_ID": ["S1"] * 2, "PRODUCT_ID": ["P1", "P2"], "ORDER_ID": ["O1", "O1"],
         "CUSTOMER_ID": ["C1", "C1"], "QUANTITY": [2, 1], "GROSS_AMOUNT": [10.0, 5.0], "DISCOUNT_AMOUNT": [1.0, 0.0], "NET_AMOUNT": [9.0, 5.0]}
    )
    returns = ibis.memtable({"RETURN_DATE": [date(2026, 1, 3)], "STORE_ID": ["S1"], "PRODUCT_ID": ["P1"], "QUANTITY": [1], "REFUND_AMOUNT": [4.5]})
    products = ibis.memtable({"PRODUCT_ID": ["P1", "P2"], "CATEGORY": ["tea", "tea"]})
    daily = nodes.sales_daily(lines, returns, products).select("DATE_DAY", "ORDERS", "UNITS", "NET_AMOUNT", "RETURNED_UNITS", "NET_AFTER_RETURNS")
    assert _rows(con, daily, ["DATE_DAY"]) == [
        (date(2026, 1, 1), 1, 3, Decimal("14.00"), 0, Decimal("14.00")),
        (date(2026, 1, 3), 0, 0, Decimal("0.00"), 1, Decimal("-4.50")),
    ]
