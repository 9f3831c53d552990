"""GOLD: business views over the MODEL layer, one table per question the business asks."""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from retail_control_tower.aggregates import most_frequent


def _money(value: ir.NumericValue) -> ir.NumericValue:
    return value.fill_null(0).cast("decimal(18, 2)")


def sales_daily(order_lines: ir.Table, returns: ir.Table, products: ir.Table) -> ir.Table:
    """Sales and returns by day × store × category; returns count on the day they came back.

    Distinct orders and distinct customers are counted in two separate aggregations joined on
    the group: one aggregation with two distinct counts keeps both sets of every group in memory
    at once.
    """
    category = products.select("PRODUCT_ID", "CATEGORY")
    lines = order_lines.inner_join(category, "PRODUCT_ID")
    sales = lines.group_by(DATE_DAY=lines.ORDER_DATE, STORE_ID=lines.STORE_ID, CATEGORY=lines.CATEGORY).aggregate(
        ORDERS=lines.ORDER_ID.nunique(),
        ORDER_LINES=lines.count(),
        UNITS=lines.QUANTITY.sum(),
        GROSS_AMOUNT=lines.GROSS_AMOUNT.sum(),
        DISCOUNT_AMOUNT=lines.DISCOUNT_AMOUNT.sum(),
        NET_AMOUNT=lines.NET_AMOUNT.sum(),
    )
    # Its own projection of the facts, so the engine scans two columns again rather than
    # keeping the joined facts for both aggregations.
    buyers = order_lines.select("ORDER_DATE", "STORE_ID", "PRODUCT_ID", "CUSTOMER_ID").inner_join(category, "PRODUCT_ID")
    customers = buyers.group_by(DATE_DAY=buyers.ORDER_DATE, STORE_ID=buyers.STORE_ID, CATEGORY=buyers.CATEGORY).aggregate(
        CUSTOMERS=buyers.CUSTOMER_ID.nunique()
    )
    sales = sales.inner_join(customers, ["DATE_DAY", "STORE_ID", "CATEGORY"])
    back = returns.inner_join(products.select("PRODUCT_ID", "CATEGORY"), "PRODUCT_ID")
    refunds = back.group_by(DATE_DAY=back.RETURN_DATE, STORE_ID=back.STORE_ID, CATEGORY=back.CATEGORY).aggregate(
        RETURNED_UNITS=back.QUANTITY.sum(), REFUND_AMOUNT=back.REFUND_AMOUNT.sum()
    )
    keys = ["DATE_DAY", "STORE_ID", "CATEGORY"]
    joined = sales.outer_join(refunds, keys)
    coalesced = {k: ibis.coalesce(joined[k], joined[f"{k}_right"]) for k in keys}
    return joined.select(
        **coalesced,
        ORDERS=joined.ORDERS.fill_null(0),
        CUSTOMERS=joined.CUSTOMERS.fill_null(0),
        ORDER_LINES=joined.ORDER_LINES.fill_null(0),
        UNITS=joined.UNITS.fill_null(0),
        GROSS_AMOUNT=_money(joined.GROSS_AMOUNT),
        DISCOUNT_AMOUNT=_money(joined.DISCOUNT_AMOUNT),
        NET_AMOUNT=_money(joined.NET_AMOUNT),
        RETURNED_UNITS=joined.RETURNED_UNITS.fill_null(0),
        REFUND_AMOUNT=_money(joined.REFUND_AMOUNT),
        NET_AFTER_RETURNS=_money(joined.NET_AMOUNT.fill_null(0) - joined.REFUND_AMOUNT.fill_null(0)),
    )


def customer_360(customers: ir.Table, order_lines: ir.Table, returns: ir.Table, products: ir.Table) -> ir.Table:
    """One row per customer: profile, lifetime value, recency, returns, discount reliance, favourites."""
    as_of = order_lines.aggregate(AS_OF_DATE=order_lines.ORDER_DATE.max())
    lines = order_lines
    activity = lines.group_by("CUSTOMER_ID").aggregate(
        FIRST_ORDER_DATE=lines.ORDER_DATE.min(),
        LAST_ORDER_DATE=lines.ORDER_DATE.max(),
        ORDERS=lines.ORDER_ID.nunique(),
        ORDER_LINES=lines.count(),
        UNITS=lines.QUANTITY.sum(),
        NET_AMOUNT=lines.NET_AMOUNT.sum(),
        DISCOUNT_AMOUNT=lines.DISCOUNT_AMOUNT.sum(),
        GROSS_AMOUNT=lines.GROSS_AMOUNT.sum(),
        ONLINE_LINES=(lines.CHANNEL == "online").sum(),
    )
    with_category = lines.inner_join(products.select("PRODUCT_ID", "CATEGORY"), "PRODUCT_ID")
    favourite_store = most_frequent(lines, "CUSTOMER_ID", "STORE_ID", "FAVOURITE_STORE_ID")
    favourite = most_frequent(with_category, "CUSTOMER_ID", "CATEGORY", "FAVOURITE_CATEGORY")
    refunds = returns.group_by("CUSTOMER_ID").aggregate(
        RETURNS=returns.count(), RETURNED_UNITS=returns.QUANTITY.sum(), REFUND_AMOUNT=returns.REFUND_AMOUNT.sum(),
        LAST_RETURN_DATE=returns.RETURN_DATE.max(),
    )
    joined = (
        customers.left_join(activity, "CUSTOMER_ID")
        .left_join(favourite_store, "CUSTOMER_ID")
        .left_join(favourite, "CUSTOMER_ID")
        .left_join(refunds, "CUSTOMER_ID")
        .cross_join(as_of)
    )
    orders = joined.ORDERS.fill_null(0)
    return joined.select(
        "CUSTOMER_ID", "SIGNUP_DATE", "HOME_STORE_ID", "LOYALTY_TIER", "IS_DERIVED",
        "FIRST_ORDER_DATE", "LAST_ORDER_DATE",
        DAYS_SINCE_LAST_ORDER=joined.AS_OF_DATE.delta(joined.LAST_ORDER_DATE, unit="day").cast("int32"),
        ORDERS=orders,
        ORDER_LINES=joined.ORDER_LINES.fill_null(0),
        UNITS=joined.UNITS.fill_null(0),
        NET_AMOUNT=_money(joined.NET_AMOUNT),
        AVG_ORDER_VALUE=ibis.ifelse(orders > 0, joined.NET_AMOUNT / orders, ibis.null()).cast("decimal(18, 2)"),
        DISCOUNT_SHARE=ibis.ifelse(joined.GROSS_AMOUNT > 0, joined.DISCOUNT_AMOUNT / joined.GROSS_AMOUNT, 0).cast("float64"),
        ONLINE_SHARE=ibis.ifelse(joined.ORDER_LINES > 0, joined.ONLINE_LINES / joined.ORDER_LINES, 0).cast("float64"),
        RETURNS=joined.RETURNS.fill_null(0),
        REFUND_AMOUNT=_money(joined.REFUND_AMOUNT),
        RETURN_RATE=ibis.ifelse(joined.UNITS > 0, joined.RETURNED_UNITS.fill_null(0) / joined.UNITS, 0).cast("float64"),
        LAST_RETURN_DATE=joined.LAST_RETURN_DATE,
        FAVOURITE_STORE_ID=joined.FAVOURITE_STORE_ID,
        FAVOURITE_CATEGORY=joined.FAVOURITE_CATEGORY,
        AS_OF_DATE=joined.AS_OF_DATE,
    )


def product_performance(products: ir.Table, order_lines: ir.Table, returns: ir.Table) -> ir.Table:
    """One row per product: units, revenue, margin at cost, discounting and return rate."""
    sold = order_lines.group_by("PRODUCT_ID").aggregate(
        ORDERS=order_lines.ORDER_ID.nunique(),
        CUSTOMERS=order_lines.CUSTOMER_ID.nunique(),
        UNITS=order_lines.QUANTITY.sum(),
        NET_AMOUNT=order_lines.NET_AMOUNT.sum(),
        DISCOUNT_AMOUNT=order_lines.DISCOUNT_AMOUNT.sum(),
        PROMO_LINES=order_lines.IS_PROMO.sum(),
        ORDER_LINES=order_lines.count(),
        LAST_SOLD_DATE=order_lines.ORDER_DATE.max(),
    )
    back = returns.group_by("PRODUCT_ID").aggregate(RETURNED_UNITS=returns.QUANTITY.sum(), REFUND_AMOUNT=returns.REFUND_AMOUNT.sum())
    joined = products.left_join(sold, "PRODUCT_ID").left_join(back, "PRODUCT_ID")
    units = joined.UNITS.fill_null(0)
    return joined.select(
        "PRODUCT_ID", "PRODUCT_NAME", "CATEGORY", "BRAND", "LIST_PRICE", "IS_DERIVED",
        ORDERS=joined.ORDERS.fill_null(0),
        CUSTOMERS=joined.CUSTOMERS.fill_null(0),
        UNITS=units,
        NET_AMOUNT=_money(joined.NET_AMOUNT),
        GROSS_MARGIN=ibis.ifelse(joined.UNIT_COST.notnull(), joined.NET_AMOUNT.fill_null(0) - units * joined.UNIT_COST, ibis.null()).cast("decimal(18, 2)"),
        DISCOUNT_AMOUNT=_money(joined.DISCOUNT_AMOUNT),
        PROMO_LINE_SHARE=ibis.ifelse(joined.ORDER_LINES > 0, joined.PROMO_LINES / joined.ORDER_LINES, 0).cast("float64"),
        RETURNED_UNITS=joined.RETURNED_UNITS.fill_null(0),
        REFUND_AMOUNT=_money(joined.REFUND_AMOUNT),
        RETURN_RATE=ibis.ifelse(units > 0, joined.RETURNED_UNITS.fill_null(0) / units, 0).cast("float64"),
        LAST_SOLD_DATE=joined.LAST_SOLD_DATE,
    )


def store_performance(stores: ir.Table, order_lines: ir.Table, returns: ir.Table, params: dict[str, Any]) -> ir.Table:
    """One row per store: revenue, customers, basket, returns, and the last ``window_days`` days
    (up to the newest sale) vs the as many days before (``params:gold.store_performance``): the
    columns are named for the window, not its length, which ``WINDOW_DAYS`` holds."""
    window = int(params["window_days"])
    lines = order_lines.cross_join(order_lines.aggregate(AS_OF_DATE=order_lines.ORDER_DATE.max()))
    age_days = lines.AS_OF_DATE.delta(lines.ORDER_DATE, unit="day")
    sold = lines.group_by("STORE_ID").aggregate(
        ORDERS=lines.ORDER_ID.nunique(),
        CUSTOMERS=lines.CUSTOMER_ID.nunique(),
        NET_AMOUNT=lines.NET_AMOUNT.sum(),
        NET_LAST_WINDOW=lines.NET_AMOUNT.sum(where=age_days < window),
        NET_PRIOR_WINDOW=lines.NET_AMOUNT.sum(where=(age_days >= window) & (age_days < 2 * window)),
        FIRST_SALE_DATE=lines.ORDER_DATE.min(),
        LAST_SALE_DATE=lines.ORDER_DATE.max(),
    )
    back = returns.group_by("STORE_ID").aggregate(RETURNS=returns.count(), REFUND_AMOUNT=returns.REFUND_AMOUNT.sum())
    joined = stores.left_join(sold, "STORE_ID").left_join(back, "STORE_ID")
    orders = joined.ORDERS.fill_null(0)
    return joined.select(
        "STORE_ID", "STORE_NAME", "REGION", "FORMAT", "IS_DERIVED",
        ORDERS=orders,
        CUSTOMERS=joined.CUSTOMERS.fill_null(0),
        NET_AMOUNT=_money(joined.NET_AMOUNT),
        AVG_ORDER_VALUE=ibis.ifelse(orders > 0, joined.NET_AMOUNT / orders, ibis.null()).cast("decimal(18, 2)"),
        WINDOW_DAYS=ibis.literal(window, "int32"),
        NET_LAST_WINDOW=_money(joined.NET_LAST_WINDOW),
        NET_PRIOR_WINDOW=_money(joined.NET_PRIOR_WINDOW),
        WINDOW_GROWTH=ibis.ifelse(
            joined.NET_PRIOR_WINDOW > 0, joined.NET_LAST_WINDOW.fill_null(0) / joined.NET_PRIOR_WINDOW - 1, ibis.null()
        ).cast("float64"),
        RETURNS=joined.RETURNS.fill_null(0),
        REFUND_AMOUNT=_money(joined.REFUND_AMOUNT),
        FIRST_SALE_DATE=joined.FIRST_SALE_DATE,
        LAST_SALE_DATE=joined.LAST_SALE_DATE,
    )
