"""Point-in-time customer features and churn labels, computed in the warehouse.

A snapshot date ``t`` sees only events dated on or before ``t`` (orders by order date, returns
by return date); its label sees only the window ``(t, t + churn_window_days]``. A customer is
eligible at ``t`` when they bought at least once in the ``lookback_days`` up to ``t``. Every
feature is an aggregate over that same lookback, except tenure and category breadth, which use
each customer's first purchase (of anything, of a category) — a minimum that is on or before
``t`` for an eligible customer, so it never reads the future.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

FREQUENCIES = ("month_end", "week_end")  # week_end = Sundays


def require_quality_gate(dq_results: ir.Table, dq_gate: ir.Table) -> str:
    """The run id of the latest data-quality run, which must have passed its gate.

    Features read the MODEL tables; this refuses to build them from data whose latest checks
    failed (in a full run the gate has already stopped the run; this covers ``--pipeline``).
    """
    latest = dq_results.aggregate(RUN_ID=dq_results.RUN_ID.argmax(dq_results.CHECKED_AT)).to_pyarrow()
    run_id = latest["RUN_ID"][0].as_py()
    if run_id is None:
        raise RuntimeError("No data-quality results in OPS.DQ_RESULTS: run `kedro run --pipeline dq` first.")
    if dq_gate.filter(dq_gate.RUN_ID == run_id).count().to_pyarrow().as_py() == 0:
        raise RuntimeError(
            f"The latest data-quality run {run_id} did not pass its gate (see OPS.DQ_RESULTS); "
            "features are not built from data that failed its checks."
        )
    return run_id


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
        ORDERS_30=within(30, history.ORDERS),
        ORDERS_90=within(90, history.ORDERS),
        ORDERS_PRIOR_90=between(90, 180, history.ORDERS),
        NET_90=within(90, history.NET),
        NET_PRIOR_90=between(90, 180, history.NET),
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
        RETURN_LINES_90=ibis.ifelse(return_age < 90, return_history.RETURN_LINES, 0).sum(),
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
    monthly_rate = joined.ORDERS * 30.0 / observed_days
    lifetime_rate = joined.LIFETIME_ORDERS * 30.0 / (tenure + 1)
    earlier_rate = (joined.ORDERS - joined.ORDERS_90) * 30.0 / ibis.greatest(observed_days - 90, 30)
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
        ORDERS_30=joined.ORDERS_30.cast("float64"),
        ORDERS_90=joined.ORDERS_90.cast("float64"),
        ORDERS_PRIOR_90=joined.ORDERS_PRIOR_90.cast("float64"),
        ORDER_RATE_30D=monthly_rate,
        TREND_30_VS_RATE=_ratio(joined.ORDERS_30, monthly_rate),
        TREND_90_VS_PRIOR=_ratio(joined.ORDERS_90 + 1, joined.ORDERS_PRIOR_90 + 1),
        NET_TREND_90_VS_PRIOR=_ratio(joined.NET_90 + 1, joined.NET_PRIOR_90 + 1),
        GAP_MEAN_DAYS=joined.GAP_MEAN,
        GAP_STD_DAYS=joined.GAP_STD,
        GAP_MAX_DAYS=joined.GAP_MAX,
        OVERDUE_RATIO=_ratio(recency, joined.GAP_MEAN),
        LAST_GAP_DAYS=joined.LAST_GAP,
        LIFETIME_ORDERS=joined.LIFETIME_ORDERS.cast("float64"),
        LIFETIME_NET=joined.LIFETIME_NET,
        LIFETIME_RATE_30D=lifetime_rate,
        RATE_BEFORE_90D=earlier_rate,
        EXPECTED_ORDERS_MISSED=recency * lifetime_rate / 30.0,
        AVG_ORDER_VALUE=_ratio(joined.NET, joined.ORDERS),
        LINES_PER_ORDER=_ratio(joined.LINES, joined.ORDERS),
        UNITS_PER_ORDER=_ratio(joined.UNITS, joined.ORDERS),
        DISCOUNT_SHARE=_ratio(joined.DISCOUNT, joined.GROSS),
        PROMO_LINE_SHARE=_ratio(joined.PROMO_LINES, joined.LINES),
        ONLINE_ORDER_SHARE=_ratio(joined.ONLINE_ORDERS, joined.ORDERS),
        CATEGORY_BREADTH=joined.CATEGORY_BREADTH.fill_null(0).cast("float64"),
        RETURN_RATE=_ratio(return_lines, joined.LINES),
        RETURN_LINES_90=joined.RETURN_LINES_90.fill_null(0).cast("float64"),
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
