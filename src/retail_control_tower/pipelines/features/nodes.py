"""Point-in-time customer features and churn labels, computed in the warehouse.

A snapshot date ``t`` sees only events dated on or before ``t`` (orders by order date, returns
by return date); its label sees only the window ``(t, t + churn_window_days]``. A customer is
eligible at ``t`` when they bought at least once in the ``lookback_days`` up to ``t``. Every
feature is an aggregate over that same lookback, except tenure and category breadth, which use
each customer's first purchase (of anything, of a category) — a minimum that is on or before
``t`` for an eligible customer, so it never reads the future.

Windowed features take their windows from ``params:features.windows`` and carry them in their
names (:func:`window_columns`): with the default windows ``ORDERS_30``, ``ORDERS_90``,
``ORDERS_PRIOR_90`` (the 90 days before those), ``ORDER_RATE_30D`` (orders per 30 days),
``RETURN_LINES_90``. A changed window renames its columns, so no column claims a window it does
not hold, and a model trained on the old names refuses the new table instead of misreading it.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

FREQUENCIES = ("month_end", "week_end")  # week_end = Sundays
WINDOWS = ("recent_days", "trend_days", "returns_days", "rate_period_days")


def window_columns(windows: dict[str, int]) -> dict[str, str]:
    """The names of the windowed feature columns, by role, for ``params:features.windows``."""
    recent, trend, returns, rate = (windows[key] for key in WINDOWS)
    return {
        "orders_recent": f"ORDERS_{recent}",
        "orders_trend": f"ORDERS_{trend}",
        "orders_prior": f"ORDERS_PRIOR_{trend}",
        "order_rate": f"ORDER_RATE_{rate}D",
        "trend_recent_vs_rate": f"TREND_{recent}_VS_RATE",
        "trend_vs_prior": f"TREND_{trend}_VS_PRIOR",
        "net_trend_vs_prior": f"NET_TREND_{trend}_VS_PRIOR",
        "lifetime_rate": f"LIFETIME_RATE_{rate}D",
        "rate_before_trend": f"RATE_BEFORE_{trend}D",
        "return_lines_recent": f"RETURN_LINES_{returns}",
    }


def _windows(params: dict[str, Any]) -> dict[str, int]:
    """``params:features.windows``, checked: whole days, distinct names, inside the lookback."""
    windows = params["windows"]
    missing = [key for key in WINDOWS if key not in windows]
    if missing:
        raise ValueError(f"features.windows lacks {missing} (expected {list(WINDOWS)})")
    bad = {key: windows[key] for key in WINDOWS if isinstance(windows[key], bool) or not isinstance(windows[key], int) or windows[key] <= 0}
    if bad:
        raise ValueError(f"features.windows must be whole numbers of days > 0, got {bad}")
    if windows["recent_days"] >= windows["trend_days"]:
        raise ValueError(
            f"features.windows.recent_days ({windows['recent_days']}) must be shorter than trend_days ({windows['trend_days']})"
        )
    lookback = params["lookback_days"]
    reach = {"2 x trend_days": 2 * windows["trend_days"], "returns_days": windows["returns_days"]}
    beyond = {what: days for what, days in reach.items() if days > lookback}
    if beyond:
        raise ValueError(f"features windows reach beyond lookback_days ({lookback}), so they would be cut short: {beyond}")
    return {key: windows[key] for key in WINDOWS}


def snapshot_calendar(dim_date: ir.Table, order_lines: ir.Table, params: dict[str, Any], dq_run_id: str) -> ir.Table:
    """ML.FEATURE_SNAPSHOTS: snapshot dates at the configured frequency plus the latest data date
    (the scoring date), with the data-quality run that vouched for the data.

    ``IS_LABELLED`` marks snapshots whose whole churn window lies on or before the latest data
    date; only those get a label.
    """
    frequency = params["snapshot_frequency"]
    if frequency not in FREQUENCIES:
        raise ValueError(f"features.snapshot_frequency must be one of {sorted(FREQUENCIES)}, got {frequency!r}")
    bounds = order_lines.aggregate(FIRST_DAY=order_lines.ORDER_DATE.min(), DATA_DATE=order_lines.ORDER_DATE.max())
    days = dim_date.cross_join(bounds)
    first = days.FIRST_DAY + ibis.interval(days=params["min_history_days"])
    if params.get("first_snapshot"):
        first = ibis.greatest(first, ibis.date(params["first_snapshot"]))
    last = days.DATA_DATE
    if params.get("last_snapshot"):
        last = ibis.least(last, ibis.date(params["last_snapshot"]))
    periodic = days.IS_MONTH_END if frequency == "month_end" else days.DAY_OF_WEEK == 6
    in_range = (days.DATE_DAY >= first) & (days.DATE_DAY <= last)
    chosen = days.filter(in_range & (periodic | (days.DATE_DAY == last)))
    window = params["churn_window_days"]
    return chosen.select(
        SNAPSHOT_DATE=chosen.DATE_DAY,
        IS_LABELLED=(chosen.DATE_DAY + ibis.interval(days=window)) <= chosen.DATA_DATE,
        IS_SCORING=chosen.DATE_DAY == last,
        LABEL_WINDOW_END=chosen.DATE_DAY + ibis.interval(days=window),
        DATA_DATE=chosen.DATA_DATE,
        DQ_RUN_ID=ibis.literal(dq_run_id),
    )


def _purchase_days(order_lines: ir.Table) -> ir.Table:
    """One row per customer and purchase day, with the gap to the previous purchase day."""
    orders = order_lines.group_by(["ORDER_ID", "CUSTOMER_ID", "ORDER_DATE", "CHANNEL"]).aggregate(
        LINES=order_lines.count(),
        UNITS=order_lines.QUANTITY.sum(),
        GROSS=order_lines.GROSS_AMOUNT.sum().cast("float64"),
        DISCOUNT=order_lines.DISCOUNT_AMOUNT.sum().cast("float64"),
        NET=order_lines.NET_AMOUNT.sum().cast("float64"),
        PROMO_LINES=order_lines.IS_PROMO.cast("int64").sum(),
    )
    days = orders.group_by(["CUSTOMER_ID", "ORDER_DATE"]).aggregate(
        ORDERS=orders.count(),
        ONLINE_ORDERS=(orders.CHANNEL == "online").cast("int64").sum(),
        LINES=orders.LINES.sum(),
        UNITS=orders.UNITS.sum(),
        GROSS=orders.GROSS.sum(),
        DISCOUNT=orders.DISCOUNT.sum(),
        NET=orders.NET.sum(),
        PROMO_LINES=orders.PROMO_LINES.sum(),
    )
    # Rows up to and including this day: ibis.window() without bounds would span the whole
    # partition and leak later purchases into earlier snapshots.
    history = ibis.cumulative_window(group_by="CUSTOMER_ID", order_by="ORDER_DATE")
    previous = days.ORDER_DATE.lag().over(ibis.window(group_by="CUSTOMER_ID", order_by="ORDER_DATE"))
    return days.mutate(
        GAP_DAYS=days.ORDER_DATE.delta(previous, unit="day"),
        ORDERS_TO_DATE=days.ORDERS.sum().over(history),
        NET_TO_DATE=days.NET.sum().over(history),
    )


def _days(later: ir.Value, earlier: ir.Value) -> ir.Value:
    return later.delta(earlier, unit="day").cast("float64")


def _ratio(numerator: ir.Value, denominator: ir.Value) -> ir.Value:
    return ibis.ifelse(denominator > 0, numerator.cast("float64") / denominator, ibis.null("float64"))


def customer_features(
    snapshots: ir.Table,
    order_lines: ir.Table,
    returns: ir.Table,
    customers: ir.Table,
    products: ir.Table,
    params: dict[str, Any],
    run_context: dict[str, Any],
) -> ir.Table:
    """ML.CUSTOMER_FEATURES: one row per eligible customer and snapshot date, features and label."""
    lookback = params["lookback_days"]
    windows = _windows(params)
    recent, trend, rate = windows["recent_days"], windows["trend_days"], windows["rate_period_days"]
    names = window_columns(windows)
    purchases = _purchase_days(order_lines)
    cal = snapshots.select("SNAPSHOT_DATE", "IS_LABELLED", "IS_SCORING", "LABEL_WINDOW_END")
    t = cal.SNAPSHOT_DATE
    history = purchases.inner_join(
        cal, [purchases.ORDER_DATE <= t, purchases.ORDER_DATE > t - ibis.interval(days=lookback)]
    )
    age = _days(history.SNAPSHOT_DATE, history.ORDER_DATE)  # 0 = bought on the snapshot day

    def within(days: int, value: ir.Value) -> ir.Value:
        return ibis.ifelse(age < days, value, 0).sum()

    def between(start: int, end: int, value: ir.Value) -> ir.Value:
        return ibis.ifelse((age >= start) & (age < end), value, 0).sum()

    window = history.group_by(["CUSTOMER_ID", "SNAPSHOT_DATE", "IS_LABELLED", "IS_SCORING", "LABEL_WINDOW_END"]).aggregate(
        LAST_PURCHASE=history.ORDER_DATE.max(),
        PURCHASE_DAYS=history.count(),
        ORDERS=history.ORDERS.sum(),
        NET=history.NET.sum(),
        GROSS=history.GROSS.sum(),
        DISCOUNT=history.DISCOUNT.sum(),
        LINES=history.LINES.sum(),
        UNITS=history.UNITS.sum(),
        PROMO_LINES=history.PROMO_LINES.sum(),
        ONLINE_ORDERS=history.ONLINE_ORDERS.sum(),
        ORDERS_IN_RECENT=within(recent, history.ORDERS),
        ORDERS_IN_TREND=within(trend, history.ORDERS),
        ORDERS_IN_PRIOR=between(trend, 2 * trend, history.ORDERS),
        NET_IN_TREND=within(trend, history.NET),
        NET_IN_PRIOR=between(trend, 2 * trend, history.NET),
        GAP_MEAN=history.GAP_DAYS.cast("float64").mean(),
        GAP_STD=history.GAP_DAYS.cast("float64").std(),
        GAP_MAX=history.GAP_DAYS.max().cast("float64"),
        LAST_GAP=history.GAP_DAYS.argmax(history.ORDER_DATE).cast("float64"),
        LIFETIME_ORDERS=history.ORDERS_TO_DATE.max(),
        LIFETIME_NET=history.NET_TO_DATE.max(),
    )

    firsts = order_lines.group_by("CUSTOMER_ID").aggregate(FIRST_PURCHASE=order_lines.ORDER_DATE.min())
    categories = order_lines.inner_join(products.select("PRODUCT_ID", "CATEGORY"), "PRODUCT_ID")
    category_firsts = categories.group_by(["CUSTOMER_ID", "CATEGORY"]).aggregate(FIRST_DAY=categories.ORDER_DATE.min())
    breadth_join = category_firsts.inner_join(cal.select("SNAPSHOT_DATE"), category_firsts.FIRST_DAY <= cal.SNAPSHOT_DATE)
    breadth = breadth_join.group_by(["CUSTOMER_ID", "SNAPSHOT_DATE"]).aggregate(CATEGORY_BREADTH=breadth_join.count())

    returned = returns.group_by(["CUSTOMER_ID", "RETURN_DATE"]).aggregate(RETURN_LINES=returns.count())
    rcal = cal.select("SNAPSHOT_DATE")
    return_history = returned.inner_join(
        rcal,
        [returned.RETURN_DATE <= rcal.SNAPSHOT_DATE, returned.RETURN_DATE > rcal.SNAPSHOT_DATE - ibis.interval(days=lookback)],
    )
    return_age = _days(return_history.SNAPSHOT_DATE, return_history.RETURN_DATE)
    return_window = return_history.group_by(["CUSTOMER_ID", "SNAPSHOT_DATE"]).aggregate(
        RETURN_LINES=return_history.RETURN_LINES.sum(),
        RETURN_LINES_IN_WINDOW=ibis.ifelse(return_age < windows["returns_days"], return_history.RETURN_LINES, 0).sum(),
        LAST_RETURN=return_history.RETURN_DATE.max(),
    )

    labelled = cal.filter(cal.IS_LABELLED).select("SNAPSHOT_DATE", "LABEL_WINDOW_END")
    future = purchases.select("CUSTOMER_ID", "ORDER_DATE").inner_join(
        labelled, [purchases.ORDER_DATE > labelled.SNAPSHOT_DATE, purchases.ORDER_DATE <= labelled.LABEL_WINDOW_END]
    )
    bought_again = future.group_by(["CUSTOMER_ID", "SNAPSHOT_DATE"]).aggregate(FUTURE_PURCHASE_DAYS=future.count())

    joined = (
        window.left_join(firsts, "CUSTOMER_ID")
        .left_join(customers.select("CUSTOMER_ID", "SIGNUP_DATE", "HOME_STORE_ID", "LOYALTY_TIER"), "CUSTOMER_ID")
        .left_join(breadth, ["CUSTOMER_ID", "SNAPSHOT_DATE"])
        .left_join(return_window, ["CUSTOMER_ID", "SNAPSHOT_DATE"])
        .left_join(bought_again, ["CUSTOMER_ID", "SNAPSHOT_DATE"])
    )
    snapshot = joined.SNAPSHOT_DATE
    tenure = _days(snapshot, joined.FIRST_PURCHASE)
    observed_days = ibis.least(tenure + 1, lookback)  # days of the lookback the customer existed
    # Rates are orders per rate period. The rate before the trend window divides by at least one
    # period, so a customer who was there only a few days before it does not get an inflated rate.
    order_rate = joined.ORDERS * float(rate) / observed_days
    lifetime_rate = joined.LIFETIME_ORDERS * float(rate) / (tenure + 1)
    earlier_rate = (joined.ORDERS - joined.ORDERS_IN_TREND) * float(rate) / ibis.greatest(observed_days - trend, rate)
    recency = _days(snapshot, joined.LAST_PURCHASE)
    return_lines = joined.RETURN_LINES.fill_null(0)
    return joined.select(
        CUSTOMER_ID=joined.CUSTOMER_ID,
        SNAPSHOT_DATE=snapshot,
        IS_SCORING=joined.IS_SCORING,
        # base (RFM + tenure)
        RECENCY_DAYS=recency,
        FREQUENCY=joined.ORDERS.cast("float64"),
        MONETARY=joined.NET,
        TENURE_DAYS=tenure,
        # ext
        PURCHASE_DAYS=joined.PURCHASE_DAYS.cast("float64"),
        **{names["orders_recent"]: joined.ORDERS_IN_RECENT.cast("float64")},
        **{names["orders_trend"]: joined.ORDERS_IN_TREND.cast("float64")},
        **{names["orders_prior"]: joined.ORDERS_IN_PRIOR.cast("float64")},
        **{names["order_rate"]: order_rate},
        # orders in the recent window against those expected in as many days at the lookback's rate
        **{names["trend_recent_vs_rate"]: _ratio(joined.ORDERS_IN_RECENT, order_rate * (recent / rate))},
        **{names["trend_vs_prior"]: _ratio(joined.ORDERS_IN_TREND + 1, joined.ORDERS_IN_PRIOR + 1)},
        **{names["net_trend_vs_prior"]: _ratio(joined.NET_IN_TREND + 1, joined.NET_IN_PRIOR + 1)},
        GAP_MEAN_DAYS=joined.GAP_MEAN,
        GAP_STD_DAYS=joined.GAP_STD,
        GAP_MAX_DAYS=joined.GAP_MAX,
        OVERDUE_RATIO=_ratio(recency, joined.GAP_MEAN),
        LAST_GAP_DAYS=joined.LAST_GAP,
        LIFETIME_ORDERS=joined.LIFETIME_ORDERS.cast("float64"),
        LIFETIME_NET=joined.LIFETIME_NET,
        **{names["lifetime_rate"]: lifetime_rate},
        **{names["rate_before_trend"]: earlier_rate},
        EXPECTED_ORDERS_MISSED=recency * lifetime_rate / float(rate),
        AVG_ORDER_VALUE=_ratio(joined.NET, joined.ORDERS),
        LINES_PER_ORDER=_ratio(joined.LINES, joined.ORDERS),
        UNITS_PER_ORDER=_ratio(joined.UNITS, joined.ORDERS),
        DISCOUNT_SHARE=_ratio(joined.DISCOUNT, joined.GROSS),
        PROMO_LINE_SHARE=_ratio(joined.PROMO_LINES, joined.LINES),
        ONLINE_ORDER_SHARE=_ratio(joined.ONLINE_ORDERS, joined.ORDERS),
        CATEGORY_BREADTH=joined.CATEGORY_BREADTH.fill_null(0).cast("float64"),
        RETURN_RATE=_ratio(return_lines, joined.LINES),
        **{names["return_lines_recent"]: joined.RETURN_LINES_IN_WINDOW.fill_null(0).cast("float64")},
        DAYS_SINCE_LAST_RETURN=_days(snapshot, joined.LAST_RETURN),
        SIGNUP_TENURE_DAYS=_days(snapshot, joined.SIGNUP_DATE),
        LOYALTY_TIER=joined.LOYALTY_TIER.fill_null("unknown"),
        HOME_STORE_ID=joined.HOME_STORE_ID.fill_null("unknown"),
        # label: 1 = no purchase in (t, t + churn_window_days]; null while the window is open
        LABEL_WINDOW_END=joined.LABEL_WINDOW_END,
        CHURNED=ibis.ifelse(
            joined.IS_LABELLED, (joined.FUTURE_PURCHASE_DAYS.fill_null(0) == 0).cast("int8"), ibis.null("int8")
        ),
        FEATURES_RUN_ID=ibis.literal(run_context["run_id"]),
        COMPUTED_AT=ibis.literal(run_context["started_at"], type="timestamp"),
    )
