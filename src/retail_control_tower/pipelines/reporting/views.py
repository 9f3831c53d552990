"""REPORTING views: what dashboards (Power BI, Alteryx) read, always from the latest run only.

They are views, so they answer from the warehouse's current state when queried (pushed down;
the same expressions compile for DuckDB and Snowflake). Each picks "latest" explicitly, so a
dashboard never mixes metrics from different runs.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from retail_control_tower.contracts.event_dates import event_date_range
from retail_control_tower.publish.log import with_publish_targets

HOLDOUT_METRICS = ("roc_auc", "pr_auc", "lift_at_10", "precision_at_10", "capture_at_20", "ece", "brier", "log_loss")


def _latest(table: ir.Table, by: list[str], order: str) -> ir.Table:
    """The newest row (by ``order``) of each ``by`` group."""
    rank = ibis.row_number().over(group_by=by, order_by=ibis.desc(order))
    return table.mutate(_RANK=rank).filter(lambda t: t._RANK == 0).drop("_RANK")


def v_champion_model(registry: ir.Table, model_metrics: ir.Table) -> ir.Table:
    """The current champion: its registry record and its holdout metrics, one row."""
    current = _latest(registry, ["MODEL_NAME", "MODEL_VERSION"], "RECORDED_AT")
    champion = current.filter(current.ALIAS.contains("champion"))
    holdout = model_metrics.filter(model_metrics.SPLIT == "holdout")
    wide = holdout.group_by(["MODEL_NAME", "MODEL_VERSION"]).aggregate(
        HOLDOUT_DATE=holdout.VALIDATION_DATE.max(),
        **{f"HOLDOUT_{m.upper()}": holdout.VALUE.max(where=holdout.METRIC == m) for m in HOLDOUT_METRICS},
    )
    # A refit champion was not evaluated itself: its holdout figures are its validated version's.
    champion = champion.mutate(_EVALUATED_VERSION=ibis.coalesce(champion.VALIDATED_VERSION, champion.MODEL_VERSION))
    joined = champion.left_join(
        wide, [champion.MODEL_NAME == wide.MODEL_NAME, champion._EVALUATED_VERSION == wide.MODEL_VERSION]
    )
    return joined.select(
        "MODEL_NAME", "MODEL_VERSION", "VARIANT", "FEATURE_SET", "ALIAS", "MLFLOW_RUN_ID", "TRAINED_AT",
        "TRAINING_WINDOW", "DECISION", "REASON", "DECIDED_AT", "RUN_ID", "HOLDOUT_DATE",
        *[f"HOLDOUT_{m.upper()}" for m in HOLDOUT_METRICS],
    )


def latest_run(table: ir.Table, order: str, complete: ir.Table | None = None) -> ir.Table:
    """The rows of the run (``RUN_ID``) that wrote last, by ``order``; with ``complete`` (a table
    of run ids, e.g. ML.MODEL_REGISTRY), only among the runs it holds."""
    if complete is not None:
        table = table.semi_join(complete.select("RUN_ID").distinct(), "RUN_ID")
    latest = table.aggregate(_LATEST_RUN_ID=table.RUN_ID.argmax(table[order]))
    return table.inner_join(latest, table.RUN_ID == latest._LATEST_RUN_ID).select(*table.columns)


def v_latest_model_metrics(model_metrics: ir.Table, registry: ir.Table) -> ir.Table:
    """Every metric of the latest complete train_eval run (all variants, folds and holdout):
    a run counts once its decision is in ML.MODEL_REGISTRY, written last."""
    return latest_run(model_metrics, "COMPUTED_AT", complete=registry)


def v_latest_churn_scores(scores: ir.Table) -> ir.Table:
    """The champion's scores of the latest score date only."""
    latest = scores.aggregate(LATEST_SCORE_DATE=scores.SCORE_DATE.max())
    return scores.inner_join(latest, scores.SCORE_DATE == latest.LATEST_SCORE_DATE).select(*scores.columns)


def v_customer_risk(latest_scores: ir.Table, legacy: ir.Table, customer_360: ir.Table) -> ir.Table:
    """Latest churn scores with what the business knows about each customer, the legacy
    rule's score of the same date beside them."""
    old = legacy.select(
        "CUSTOMER_ID", "SCORE_DATE", LEGACY_CHURN_PROBABILITY=legacy.CHURN_PROBABILITY,
        LEGACY_DECILE=legacy.DECILE, LEGACY_RISK_BAND=legacy.RISK_BAND,
    )
    profile = customer_360.select(
        "CUSTOMER_ID", "LOYALTY_TIER", "HOME_STORE_ID", "FIRST_ORDER_DATE", "LAST_ORDER_DATE", "ORDERS", "NET_AMOUNT",
        "AVG_ORDER_VALUE", "RETURN_RATE", "FAVOURITE_CATEGORY",
    )
    joined = latest_scores.left_join(old, ["CUSTOMER_ID", "SCORE_DATE"]).left_join(profile, "CUSTOMER_ID")
    return joined.select(
        "CUSTOMER_ID", "SCORE_DATE", "CHURN_PROBABILITY", "DECILE", "RISK_BAND", "MODEL_NAME", "MODEL_VERSION",
        "VARIANT", "LEGACY_CHURN_PROBABILITY", "LEGACY_DECILE", "LEGACY_RISK_BAND", "LOYALTY_TIER", "HOME_STORE_ID",
        "FIRST_ORDER_DATE", "LAST_ORDER_DATE", "ORDERS", "NET_AMOUNT", "AVG_ORDER_VALUE", "RETURN_RATE",
        "FAVOURITE_CATEGORY",
    )


def v_dq_latest(dq_results: ir.Table) -> ir.Table:
    """Every result of the latest data-quality run. (Not one row per check and table: a check
    such as orphan_keys records one row per foreign key of a table, and a failing one must not
    hide behind a passing sibling.)"""
    return latest_run(dq_results, "CHECKED_AT")


# A run names each registered pipeline at most once; there are fewer than this many.
MAX_PIPELINES_PER_RUN = 16


def _nth_pipeline(pipelines: ir.StringValue, position: int) -> ir.StringValue:
    """The name at ``position`` (0-based) of a comma-separated list, null past its end (the same
    regular expression on DuckDB and Snowflake: REGEXP_EXTRACT / REGEXP_SUBSTR)."""
    if position == 0:
        return pipelines.re_extract(r"^([^,]*)", 1).nullif("")
    return pipelines.re_extract(rf"^([^,]*,){{{position}}}([^,]*)", 2).nullif("")


def v_pipeline_health(
    run_log: ir.Table,
    order_lines: ir.Table,
    freshness: dict[str, Any],
    run_health: dict[str, Any],
    event_dates: dict[str, Any],
    run_context: dict[str, Any],
) -> ir.Table:
    """Per pipeline: the last run, last success and last failure (with its error); and the
    age of the newest sale against the freshness SLA, measured when the view is queried, or at
    ``event_dates.reference_time`` when one is set (a historical data set is judged at its own
    time, as dq's freshness checks judge it).

    A run is logged as ``running`` when it starts; one still running after
    ``abandoned_after_hours`` died without recording its end (killed, machine lost) and is
    shown as ``abandoned``."""
    started_hours_ago = (ibis.now().cast("timestamp").epoch_seconds() - run_log.STARTED_AT.epoch_seconds()) / 3600.0
    status = ibis.ifelse(
        (run_log.STATUS == "running") & (started_hours_ago > run_health["abandoned_after_hours"]), "abandoned", run_log.STATUS
    )
    # One row per pipeline a run names (PIPELINES is "ingest,dq,..."): the n-th name of each run,
    # for every position a run can have. Not `split(",").unnest()`: Ibis compiles that for
    # Snowflake to a LATERAL FLATTEN over a random separator, new SQL on every build (ARCHITECTURE §1).
    runs = ibis.union(
        *[
            run_log.select(
                "RUN_ID", "STARTED_AT", "FINISHED_AT", "ERROR_CLASS", "ERROR_MESSAGE", "FAILED_NODE",
                STATUS=status,
                PIPELINE=_nth_pipeline(run_log.PIPELINES, position),
            )
            for position in range(MAX_PIPELINES_PER_RUN)
        ]
    )
    runs = runs.filter(runs.PIPELINE.notnull())
    runs = with_publish_targets(runs, run_log)  # and each publish target's requests, as pipeline "publish:<system>/<target>"
    last = _latest(runs, ["PIPELINE"], "STARTED_AT")
    by_pipeline = runs.group_by("PIPELINE").aggregate(
        LAST_SUCCESS_AT=runs.FINISHED_AT.max(where=runs.STATUS == "success"),
        LAST_FAILURE_AT=runs.FINISHED_AT.max(where=runs.STATUS == "failed"),
        RUNS=runs.count(),
    )
    newest = order_lines.aggregate(LATEST_SALE_AT=order_lines.ORDER_TS.max())
    health = last.inner_join(by_pipeline, "PIPELINE").cross_join(newest)
    judged_at = (
        ibis.literal(event_date_range(event_dates, run_context).reference, "timestamp")
        if event_dates.get("reference_time")
        else ibis.now().cast("timestamp")
    )
    age_hours = (judged_at.epoch_seconds() - health.LATEST_SALE_AT.epoch_seconds()) / 3600.0
    warn, error = freshness["warn_after_hours"], freshness["error_after_hours"]
    return health.select(
        "PIPELINE",
        LAST_RUN_ID=health.RUN_ID,
        LAST_STATUS=health.STATUS,
        LAST_FINISHED_AT=health.FINISHED_AT,
        LAST_SUCCESS_AT=health.LAST_SUCCESS_AT,
        LAST_FAILURE_AT=health.LAST_FAILURE_AT,
        LAST_ERROR=ibis.ifelse(health.STATUS == "failed", health.ERROR_CLASS.concat(": ", health.ERROR_MESSAGE), ibis.null("string")),
        LAST_FAILED_NODE=health.FAILED_NODE,
        RUNS=health.RUNS,
        LATEST_SALE_AT=health.LATEST_SALE_AT,
        DATA_AGE_HOURS=age_hours,
        FRESHNESS_WARN_AFTER_HOURS=ibis.literal(float(warn)),
        FRESHNESS_ERROR_AFTER_HOURS=ibis.literal(float(error)),
        FRESHNESS_STATUS=ibis.cases((age_hours > error, "error"), (age_hours > warn, "warn"), else_="ok"),
    )


def v_sales_kpis(sales_daily: ir.Table, order_lines: ir.Table) -> ir.Table:
    """Daily company-wide sales KPIs with a trailing 7-day net sales. Orders and customers are
    counted distinct across stores and categories (GOLD.SALES_DAILY counts them per category)."""
    daily = sales_daily.group_by("DATE_DAY").aggregate(
        ORDER_LINES=sales_daily.ORDER_LINES.sum(),
        UNITS=sales_daily.UNITS.sum(),
        GROSS_SALES=sales_daily.GROSS_AMOUNT.sum(),
        DISCOUNTS=sales_daily.DISCOUNT_AMOUNT.sum(),
        NET_SALES=sales_daily.NET_AMOUNT.sum(),
        REFUNDS=sales_daily.REFUND_AMOUNT.sum(),
        NET_AFTER_RETURNS=sales_daily.NET_AFTER_RETURNS.sum(),
    )
    buyers = order_lines.group_by(DATE_DAY=order_lines.ORDER_DATE).aggregate(
        ORDERS=order_lines.ORDER_ID.nunique(), CUSTOMERS=order_lines.CUSTOMER_ID.nunique()
    )
    daily = daily.left_join(buyers, "DATE_DAY").drop("DATE_DAY_right")
    week = ibis.window(order_by="DATE_DAY", preceding=6, following=0)
    return daily.mutate(
        NET_SALES_7D=daily.NET_SALES.sum().over(week),
        AVG_ORDER_VALUE=(daily.NET_SALES / ibis.ifelse(daily.ORDERS > 0, daily.ORDERS, ibis.null("int64"))).cast("decimal(18, 2)"),
        DISCOUNT_RATE=daily.DISCOUNTS.cast("float64") / ibis.ifelse(daily.GROSS_SALES > 0, daily.GROSS_SALES.cast("float64"), ibis.null("float64")),
    )


def v_model_monitoring(realised: ir.Table, drift: ir.Table, signal: ir.Table) -> ir.Table:
    """Model monitoring in one view: every realised metric of ML.MODEL_PERFORMANCE_REALISED (one
    row per score date, model version, variant and metric, IS_LATEST_SCORE_DATE on each model
    version's and variant's latest), each row carrying the drift summary of the latest run of
    ML.MODEL_DRIFT (features at 'act' / 'watch', the largest PSI and its feature, the score's
    PSI) and the latest ML.RETRAINING_SIGNAL (RUN_ID and DECIDED_AT are the signal's run and
    time, RECOMMENDED_SINCE when a standing recommendation began). Before any realised metric,
    one row with the drift summary and the signal only."""
    latest_drift = latest_run(drift, "COMPUTED_AT")
    summary = latest_drift.aggregate(
        DRIFT_SCORE_DATE=latest_drift.SCORE_DATE.max(),
        DRIFT_MEASURES=latest_drift.count(),
        DRIFT_ACT=(latest_drift.STATUS == "act").cast("int64").sum(),
        DRIFT_WATCH=(latest_drift.STATUS == "watch").cast("int64").sum(),
        DRIFT_MAX_PSI=latest_drift.PSI.max(),
        DRIFT_MAX_PSI_FEATURE=latest_drift.FEATURE.argmax(latest_drift.PSI),
        SCORE_PSI=latest_drift.PSI.max(where=latest_drift.FEATURE == "CHURN_PROBABILITY"),
    )
    decided = signal.aggregate(
        RUN_ID=signal.RUN_ID.argmax(signal.DECIDED_AT),
        SIGNAL_MODEL_VERSION=signal.MODEL_VERSION.argmax(signal.DECIDED_AT),
        RETRAINING_RECOMMENDED=signal.RECOMMENDED.argmax(signal.DECIDED_AT),
        RETRAINING_REASON=signal.REASON.argmax(signal.DECIDED_AT),
        _SINCE=signal.RECOMMENDED_SINCE.argmax(signal.DECIDED_AT),
        DECIDED_AT=signal.DECIDED_AT.max(),
    )
    # an engine's arg-max may skip a null: the start of a recommendation only while it holds
    decided = decided.mutate(RECOMMENDED_SINCE=ibis.ifelse(decided.RETRAINING_RECOMMENDED, decided._SINCE, ibis.null("timestamp"))).drop("_SINCE")
    series = ["MODEL_NAME", "MODEL_VERSION", "VARIANT"]
    newest = realised.group_by(series).aggregate(LATEST_SCORE_DATE=realised.SCORE_DATE.max())
    metrics = realised.drop("RUN_ID").inner_join(newest, series)
    metrics = metrics.mutate(IS_LATEST_SCORE_DATE=metrics.SCORE_DATE == metrics.LATEST_SCORE_DATE).drop("LATEST_SCORE_DATE")
    state = summary.cross_join(decided)
    joined = state.left_join(metrics, ibis.literal(True))
    return joined.select(
        "SCORE_DATE", "MODEL_NAME", "MODEL_VERSION", "VARIANT", "METRIC", "VALUE", "EXPECTED", "N", "EVENTS",
        "IS_LATEST_SCORE_DATE", "COMPUTED_AT", "DRIFT_SCORE_DATE", "DRIFT_MEASURES", "DRIFT_ACT", "DRIFT_WATCH",
        "DRIFT_MAX_PSI", "DRIFT_MAX_PSI_FEATURE", "SCORE_PSI", "SIGNAL_MODEL_VERSION", "RETRAINING_RECOMMENDED",
        "RETRAINING_REASON", "RECOMMENDED_SINCE", "RUN_ID", "DECIDED_AT",
    )
