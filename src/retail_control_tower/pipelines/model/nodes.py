"""MODEL: conformed dimensions and facts built from Silver.

Dimensions are the supplied master data plus members derived from the facts for ids the
master data does not hold (``IS_DERIVED``), so a minimal input of orders and order items
still yields complete dimensions and no fact row is orphaned.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from retail_control_tower.aggregates import most_frequent

UNKNOWN = "unknown"
MAX_CALENDAR_DAYS = 36_525  # a century of history


def _missing(facts: ir.Table, key: str, master: ir.Table) -> ir.Table:
    return facts.filter(~facts[key].isin(master[key]))


def _derived(facts: ir.Table, key: str, master: ir.Table, **attributes: ir.Value) -> ir.Table:
    missing = _missing(facts, key, master)
    return missing.group_by(key).aggregate(**attributes).mutate(IS_DERIVED=True)


def dim_customer(customers: ir.Table, orders: ir.Table) -> ir.Table:
    """One row per customer; derived members take their first order date and most used store."""
    supplied = customers.select(
        "CUSTOMER_ID", "SIGNUP_DATE", "HOME_STORE_ID", LOYALTY_TIER=customers.LOYALTY_TIER.fill_null(UNKNOWN), IS_DERIVED=False
    )
    missing = _missing(orders, "CUSTOMER_ID", customers)
    derived = (
        missing.group_by("CUSTOMER_ID")
        .aggregate(SIGNUP_DATE=missing.ORDER_TS.min().date())
        .inner_join(most_frequent(missing, "CUSTOMER_ID", "STORE_ID", "HOME_STORE_ID"), "CUSTOMER_ID")
        .mutate(LOYALTY_TIER=ibis.literal(UNKNOWN), IS_DERIVED=True)
    )
    return ibis.union(supplied, derived.select(supplied.columns))


def dim_product(products: ir.Table, order_items: ir.Table) -> ir.Table:
    """One row per product; derived members are priced at their average selling price."""
    supplied = products.select(
        "PRODUCT_ID",
        PRODUCT_NAME=products.PRODUCT_NAME.fill_null(products.PRODUCT_ID),
        CATEGORY=products.CATEGORY.fill_null(UNKNOWN),
        BRAND=products.BRAND.fill_null(UNKNOWN),
        UNIT_COST=products.UNIT_COST,
        LIST_PRICE=products.LIST_PRICE,
        IS_DERIVED=False,
    )
    derived = _derived(
        order_items,
        "PRODUCT_ID",
        products,
        # Rounded first: Ibis takes the mean of a decimal(18, 2) for one already and would drop
        # a bare cast, leaving each engine's AVG type (DOUBLE, NUMBER(38, 8)).
        LIST_PRICE=order_items.UNIT_PRICE.mean().round(2).cast("decimal(18, 2)"),
    ).mutate(
        PRODUCT_NAME=lambda t: t.PRODUCT_ID,
        CATEGORY=ibis.literal(UNKNOWN),
        BRAND=ibis.literal(UNKNOWN),
        UNIT_COST=ibis.null("decimal(18, 2)"),
    )
    return ibis.union(supplied, derived.select(supplied.columns))


def dim_store(stores: ir.Table, orders: ir.Table) -> ir.Table:
    """One row per store; derived members are named after their id."""
    supplied = stores.select(
        "STORE_ID",
        STORE_NAME=stores.STORE_NAME.fill_null(stores.STORE_ID),
        REGION=stores.REGION.fill_null(UNKNOWN),
        FORMAT=stores.FORMAT.fill_null(UNKNOWN),
        OPENED_DATE=stores.OPENED_DATE,
        IS_DERIVED=False,
    )
    derived = _derived(orders, "STORE_ID", stores, OPENED_DATE=orders.ORDER_TS.min().date()).mutate(
        STORE_NAME=lambda t: t.STORE_ID, REGION=ibis.literal(UNKNOWN), FORMAT=ibis.literal(UNKNOWN)
    )
    return ibis.union(supplied, derived.select(supplied.columns))


def dim_date(orders: ir.Table, returns: ir.Table) -> ir.Table:
    """Every calendar day from the first order to the last order or return.

    The spine is a day offset from the first day, taken from a constant table of offsets: this
    compiles to plain SQL on every engine (a generated range does not transpile cleanly).
    """
    first = orders.ORDER_TS.min().date()
    last = ibis.greatest(orders.ORDER_TS.max(), returns.RETURN_TS.max().fill_null(orders.ORDER_TS.max())).date()
    offsets = ibis.memtable({"OFFSET": list(range(MAX_CALENDAR_DAYS))})
    spine = offsets.select(DATE_DAY=first + offsets.OFFSET.as_interval("D")).filter(lambda t: t.DATE_DAY <= last)
    day = spine.DATE_DAY
    return spine.select(
        DATE_KEY=(day.year() * 10000 + day.month() * 100 + day.day()).cast("int32"),
        DATE_DAY=day,
        YEAR=day.year().cast("int16"),
        QUARTER=day.quarter().cast("int8"),
        MONTH=day.month().cast("int8"),
        MONTH_NAME=day.strftime("%B"),
        ISO_WEEK=day.week_of_year().cast("int8"),
        DAY_OF_WEEK=day.day_of_week.index().cast("int8"),
        DAY_NAME=day.day_of_week.full_name(),
        IS_WEEKEND=day.day_of_week.index() >= 5,
        IS_MONTH_END=(day + ibis.interval(days=1)).day() == 1,
    )


def fct_order_line(order_items: ir.Table, orders: ir.Table) -> ir.Table:
    """One row per order line with the order's customer, store, time and channel; amounts net of discount.

    The grain is (``ORDER_ID``, ``LINE_NUMBER``). There is no concatenated line key: a text
    column on every line that nothing joins on.
    """
    lines = order_items.inner_join(orders, "ORDER_ID")
    gross = (lines.QUANTITY * lines.UNIT_PRICE).cast("decimal(18, 2)")
    discount = lines.DISCOUNT_AMOUNT.fill_null(0).cast("decimal(18, 2)")
    return lines.select(
        ORDER_ID=lines.ORDER_ID,
        LINE_NUMBER=lines.LINE_NUMBER,
        CUSTOMER_ID=lines.CUSTOMER_ID,
        STORE_ID=lines.STORE_ID,
        PRODUCT_ID=lines.PRODUCT_ID,
        ORDER_TS=lines.ORDER_TS,
        ORDER_DATE=lines.ORDER_TS.date(),
        CHANNEL=lines.CHANNEL.fill_null(UNKNOWN),
        QUANTITY=lines.QUANTITY,
        UNIT_PRICE=lines.UNIT_PRICE,
        GROSS_AMOUNT=gross,
        DISCOUNT_AMOUNT=discount,
        NET_AMOUNT=(gross - discount).cast("decimal(18, 2)"),
        PROMO_CODE=lines.PROMO_CODE,
        IS_PROMO=lines.PROMO_CODE.notnull() | (discount > 0),
    )


def fct_return(returns: ir.Table, order_lines: ir.Table) -> ir.Table:
    """One row per return, carrying the sold line's customer, product and store."""
    joined = returns.inner_join(
        order_lines.select("ORDER_ID", "LINE_NUMBER", "CUSTOMER_ID", "PRODUCT_ID", "STORE_ID", "ORDER_DATE"),
        ["ORDER_ID", "LINE_NUMBER"],
    )
    return joined.select(
        "RETURN_ID",
        "ORDER_ID",
        "LINE_NUMBER",
        "CUSTOMER_ID",
        "PRODUCT_ID",
        "STORE_ID",
        "ORDER_DATE",
        RETURN_TS=joined.RETURN_TS,
        RETURN_DATE=joined.RETURN_TS.date(),
        QUANTITY=joined.QUANTITY,
        REFUND_AMOUNT=joined.REFUND_AMOUNT.fill_null(0).cast("decimal(18, 2)"),
        REASON=joined.REASON.fill_null(UNKNOWN),
    )
