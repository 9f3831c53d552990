"""MODEL, one test per table: small Silver-typed inputs on an in-memory DuckDB, every expected row
worked out by hand."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import ibis
import pyarrow as pa
import pytest

from retail_control_tower.pipelines.model import nodes

D = Decimal


@pytest.fixture
def con():
    return ibis.duckdb.connect()


def _table(columns: dict[str, list], schema: dict[str, str]) -> ibis.Table:
    return ibis.memtable(pa.table(columns, schema=ibis.schema(schema).to_pyarrow()))


def _rows(con, expr, order_by: list[str]) -> list[tuple]:
    return [tuple(row.values()) for row in con.to_pyarrow(expr.order_by(order_by)).to_pylist()]


ORDERS = _table(
    {
        "ORDER_ID": ["O1", "O2", "O3", "O4", "O5"],
        "CUSTOMER_ID": ["C1", "C2", "C9", "C9", "C9"],
        "STORE_ID": ["S1", "S2", "S2", "S3", "S2"],
        "ORDER_TS": [datetime(2025, 1, d, 10) for d in (5, 6, 7, 8, 9)],
        "CHANNEL": ["store", "online", "store", None, "store"],
    },
    {"ORDER_ID": "string", "CUSTOMER_ID": "string", "STORE_ID": "string", "ORDER_TS": "timestamp", "CHANNEL": "string"},
)
ORDER_ITEMS = _table(
    {
        "ORDER_ID": ["O1", "O1", "O2", "O2", "O4"],
        "LINE_NUMBER": [1, 2, 1, 2, 1],
        "PRODUCT_ID": ["P1", "P2", "P7", "P7", "P1"],
        "QUANTITY": [2, 1, 3, 1, 1],
        "UNIT_PRICE": [D("2.50"), D("8.00"), D("4.00"), D("5.00"), D("2.50")],
        "DISCOUNT_AMOUNT": [None, D("2.00"), D("0.00"), D("0.50"), None],
        "PROMO_CODE": [None, "SPRING", None, None, None],
    },
    {
        "ORDER_ID": "string", "LINE_NUMBER": "int64", "PRODUCT_ID": "string", "QUANTITY": "int64",
        "UNIT_PRICE": "decimal(18, 2)", "DISCOUNT_AMOUNT": "decimal(18, 2)", "PROMO_CODE": "string",
    },
)


def test_dim_customer_keeps_master_data_and_derives_customers_only_orders_know(con):
    customers = _table(
        {"CUSTOMER_ID": ["C1", "C2"], "SIGNUP_DATE": [date(2024, 1, 10), date(2024, 3, 1)], "HOME_STORE_ID": ["S1", "S2"], "LOYALTY_TIER": ["gold", None]},
        {"CUSTOMER_ID": "string", "SIGNUP_DATE": "date", "HOME_STORE_ID": "string", "LOYALTY_TIER": "string"},
    )
    assert _rows(con, nodes.dim_customer(customers, ORDERS), ["CUSTOMER_ID"]) == [
        ("C1", date(2024, 1, 10), "S1", "gold", False),
        ("C2", date(2024, 3, 1), "S2", "unknown", False),
        # C9's first order on 7 January; two of its three orders in S2.
        ("C9", date(2025, 1, 7), "S2", "unknown", True),
    ]


def test_dim_product_fills_missing_attributes_and_prices_derived_products_at_their_mean_price(con):
    products = _table(
        {
            "PRODUCT_ID": ["P1", "P2"], "PRODUCT_NAME": ["Tea", None], "CATEGORY": ["grocery", None], "BRAND": ["Leaf", None],
            "UNIT_COST": [D("1.00"), D("3.00")], "LIST_PRICE": [D("2.50"), D("8.00")],
        },
        {
            "PRODUCT_ID": "string", "PRODUCT_NAME": "string", "CATEGORY": "string", "BRAND": "string",
            "UNIT_COST": "decimal(18, 2)", "LIST_PRICE": "decimal(18, 2)",
        },
    )
    assert _rows(con, nodes.dim_product(products, ORDER_ITEMS), ["PRODUCT_ID"]) == [
        ("P1", "Tea", "grocery", "Leaf", D("1.00"), D("2.50"), False),
        ("P2", "P2", "unknown", "unknown", D("3.00"), D("8.00"), False),
        ("P7", "P7", "unknown", "unknown", None, D("4.50"), True),  # sold at 4.00 and 5.00
    ]


def test_dim_store_names_derived_stores_after_their_id_and_opens_them_at_their_first_order(con):
    stores = _table(
        {"STORE_ID": ["S1", "S2"], "STORE_NAME": ["High St", None], "REGION": ["north", None], "FORMAT": ["high_street", None],
         "OPENED_DATE": [date(2015, 1, 1), None]},
        {"STORE_ID": "string", "STORE_NAME": "string", "REGION": "string", "FORMAT": "string", "OPENED_DATE": "date"},
    )
    assert _rows(con, nodes.dim_store(stores, ORDERS), ["STORE_ID"]) == [
        ("S1", "High St", "north", "high_street", date(2015, 1, 1), False),
        ("S2", "S2", "unknown", "unknown", None, False),
        ("S3", "S3", "unknown", "unknown", date(2025, 1, 8), True),
    ]


def test_dim_date_spans_the_first_order_to_the_last_order_or_return(con):
    orders = ORDERS.filter(ORDERS.ORDER_ID == "O1").mutate(ORDER_TS=ibis.literal(datetime(2024, 12, 30, 10)))
    orders = orders.union(orders.mutate(ORDER_ID=ibis.literal("O2"), ORDER_TS=ibis.literal(datetime(2024, 12, 31, 18))))
    returns = _table({"RETURN_TS": [datetime(2025, 1, 4, 9)]}, {"RETURN_TS": "timestamp"})
    columns = ["DATE_KEY", "DATE_DAY", "YEAR", "QUARTER", "MONTH", "MONTH_NAME", "ISO_WEEK", "DAY_OF_WEEK", "DAY_NAME", "IS_WEEKEND", "IS_MONTH_END"]
    assert _rows(con, nodes.dim_date(orders, returns).select(columns), ["DATE_DAY"]) == [
        # 30 December 2024 is the Monday of ISO week 1 of 2025.
        (20241230, date(2024, 12, 30), 2024, 4, 12, "December", 1, 0, "Monday", False, False),
        (20241231, date(2024, 12, 31), 2024, 4, 12, "December", 1, 1, "Tuesday", False, True),
        (20250101, date(2025, 1, 1), 2025, 1, 1, "January", 1, 2, "Wednesday", False, False),
        (20250102, date(2025, 1, 2), 2025, 1, 1, "January", 1, 3, "Thursday", False, False),
        (20250103, date(2025, 1, 3), 2025, 1, 1, "January", 1, 4, "Friday", False, False),
        (20250104, date(2025, 1, 4), 2025, 1, 1, "January", 1, 5, "Saturday", True, False),  # the return's day
    ]


def test_fct_order_line_carries_the_order_and_nets_the_discount(con):
    columns = ["ORDER_ID", "LINE_NUMBER", "CUSTOMER_ID", "STORE_ID", "PRODUCT_ID", "ORDER_DATE", "CHANNEL", "QUANTITY",
               "GROSS_AMOUNT", "DISCOUNT_AMOUNT", "NET_AMOUNT", "IS_PROMO"]
    assert _rows(con, nodes.fct_order_line(ORDER_ITEMS, ORDERS).select(columns), ["ORDER_ID", "LINE_NUMBER"]) == [
        ("O1", 1, "C1", "S1", "P1", date(2025, 1, 5), "store", 2, D("5.00"), D("0.00"), D("5.00"), False),
        ("O1", 2, "C1", "S1", "P2", date(2025, 1, 5), "store", 1, D("8.00"), D("2.00"), D("6.00"), True),  # promo code
        ("O2", 1, "C2", "S2", "P7", date(2025, 1, 6), "online", 3, D("12.00"), D("0.00"), D("12.00"), False),
        ("O2", 2, "C2", "S2", "P7", date(2025, 1, 6), "online", 1, D("5.00"), D("0.50"), D("4.50"), True),  # a discount
        ("O4", 1, "C9", "S3", "P1", date(2025, 1, 8), "unknown", 1, D("2.50"), D("0.00"), D("2.50"), False),
    ]


def test_fct_return_carries_the_sold_line_s_customer_product_store_and_day(con):
    returns = _table(
        {
            "RETURN_ID": ["R1", "R2"], "ORDER_ID": ["O1", "O2"], "LINE_NUMBER": [2, 1],
            "RETURN_TS": [datetime(2025, 1, 7, 9), datetime(2025, 1, 8, 16)], "QUANTITY": [1, 2],
            "REFUND_AMOUNT": [D("6.00"), None], "REASON": ["damaged", None],
        },
        {
            "RETURN_ID": "string", "ORDER_ID": "string", "LINE_NUMBER": "int64", "RETURN_TS": "timestamp", "QUANTITY": "int64",
            "REFUND_AMOUNT": "decimal(18, 2)", "REASON": "string",
        },
    )
    lines = nodes.fct_order_line(ORDER_ITEMS, ORDERS)
    columns = ["RETURN_ID", "ORDER_ID", "LINE_NUMBER", "CUSTOMER_ID", "PRODUCT_ID", "STORE_ID", "ORDER_DATE", "RETURN_DATE",
               "QUANTITY", "REFUND_AMOUNT", "REASON"]
    assert _rows(con, nodes.fct_return(returns, lines).select(columns), ["RETURN_ID"]) == [
        ("R1", "O1", 2, "C1", "P2", "S1", date(2025, 1, 5), date(2025, 1, 7), 1, D("6.00"), "damaged"),
        ("R2", "O2", 1, "C2", "P7", "S2", date(2025, 1, 6), date(2025, 1, 8), 2, D("0.00"), "unknown"),
    ]


def test_dimensions_add_derived_members_for_ids_only_the_facts_know(con):
    customers = ibis.memtable({"CUSTOMER_ID": ["C1"], "SIGNUP_DATE": [date(2024, 1, 1)], "HOME_STORE_ID": ["S1"], "LOYALTY_TIER": ["gold"]})
    orders = ibis.memtable(
        {"CUSTOMER_ID": ["C1", "C2", "C2", "C2"], "STORE_ID": ["S1", "S2", "S3", "S3"],
         "ORDER_TS": [datetime(2025, 1, 1), datetime(2025, 2, 1), datetime(2025, 3, 1), datetime(2025, 4, 1)]}
    )
    assert _rows(con, nodes.dim_customer(customers, orders), ["CUSTOMER_ID"]) == [
        ("C1", date(2024, 1, 1), "S1", "gold", False),
        ("C2", date(2025, 2, 1), "S3", "unknown", True),
    ]
