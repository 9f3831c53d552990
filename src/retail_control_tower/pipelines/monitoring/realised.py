"""Realised performance: past scores against what happened in their churn window.

**Backfill.** A team that starts today has one score date, whose window is still open. The
backfill scores the champion (and the legacy rule) as of past snapshot dates, point in time from
ML.CUSTOMER_FEATURES, into ML.CUSTOMER_CHURN_SCORE_BACKFILL, so realised performance is known at
once. By default the dates are the labelled snapshots after the champion's training window
(ML.MODEL_REGISTRY.TRAINING_WINDOW): out of sample. ``monitoring.backfill.dates`` names others.
Backfilled scores live in their own table, rebuilt by every run: ML.CUSTOMER_CHURN_SCORE (and
the views of its latest score date) never sees them, and a date that was really scored keeps its
real scores. Their realised metrics stay in ML.MODEL_PERFORMANCE_REALISED.

**Realised metrics.** Every score date of ML.CUSTOMER_CHURN_SCORE(_LEGACY) and of the backfill
whose churn window has elapsed is labelled from MODEL.FCT_ORDER_LINE in the warehouse (churned =
no purchase in (score date, score date + window], the features' own definition and window) and
measured with the metrics of ``ml/metrics.py``. A really scored date wins over its backfill. Rows
are appended once per (SCORE_DATE, MODEL_VERSION, VARIANT, METRIC): a re-run adds nothing.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from retail_control_tower.ml import tables
from retail_control_tower.ml.monitoring import REALISED_METRICS, realised_metrics
from retail_control_tower.ml.publication import RegisteredModel
from retail_control_tower.pipelines.scoring.nodes import score_customers, score_legacy

logger = logging.getLogger(__name__)
ORACLE = {"MODEL_NAME": "synthetic_oracle", "MODEL_VERSION": "truth", "VARIANT": "oracle"}
KEY = ["SCORE_DATE", "MODEL_VERSION", "VARIANT"]
SCORE_COLUMNS = ["CUSTOMER_ID", "SCORE_DATE", "CHURN_PROBABILITY", "MODEL_NAME", "MODEL_VERSION", "VARIANT"]


def training_window(registry: ir.Table | None, champion: RegisteredModel) -> tuple[date, date] | None:
    """The champion's training window (first and last training snapshot) from ML.MODEL_REGISTRY."""
    if registry is None:
        return None
    mine = registry.filter(
        (registry.MODEL_NAME == champion.model_name)
        & (registry.MODEL_VERSION == str(champion.version))
        & registry.TRAINING_WINDOW.notnull()
    )
    windows = mine.select("TRAINING_WINDOW").distinct().to_pyarrow()["TRAINING_WINDOW"].to_pylist()
    if not windows:
        return None
    first, _, last = windows[0].partition("..")
    return date.fromisoformat(first), date.fromisoformat(last)


def backfill_dates(features: ir.Table, registry: ir.Table | None, champion: RegisteredModel, params: dict[str, Any]) -> list[date]:
    """The snapshot dates to backfill: ``params["dates"]`` when given (each must be a snapshot of
    ML.CUSTOMER_FEATURES), else the labelled snapshots after the champion's training window; the
    latest ``max_dates`` of them."""
    snapshots = features.select("SNAPSHOT_DATE", LABELLED=features.CHURNED.notnull()).distinct().to_pandas()
    known = {pd.Timestamp(d).date() for d in snapshots.SNAPSHOT_DATE}
    if params.get("dates"):
        wanted = sorted({date.fromisoformat(str(d)) for d in params["dates"]})
        missing = [str(d) for d in wanted if d not in known]
        if missing:
            raise ValueError(
                f"monitoring.backfill.dates {missing} are not snapshot dates of ML.CUSTOMER_FEATURES "
                f"(it has {len(known)}, from {min(known, default=None)} to {max(known, default=None)})"
            )
    else:
        window = training_window(registry, champion)
        if window is None:
            logger.warning("No training window of champion v%s in ML.MODEL_REGISTRY: no default backfill", champion.version)
            return []
        labelled = {pd.Timestamp(d).date() for d in snapshots.SNAPSHOT_DATE[snapshots.LABELLED]}
        wanted = sorted(d for d in labelled if d > window[1])
    return wanted[-params["max_dates"]:] if params.get("max_dates") else wanted


def backfill_scores(
    features: ir.Table,
    champion: RegisteredModel | None,
    registry: ir.Table | None,
    scoring: dict[str, Any],
    params: dict[str, Any],
    run_context: dict[str, Any],
    validated: RegisteredModel | None = None,
) -> ir.Table:
    """ML.CUSTOMER_CHURN_SCORE_BACKFILL: the champion's and the legacy rule's scores as of each
    backfill date, each date scored exactly as scoring scores the latest one. A champion refitted
    on every labelled snapshot (train_eval.deployment.refit) has no out-of-sample date to score:
    the version it was validated as (alias ``validated``) scores the backfill, under its own version."""
    frames: list[pd.DataFrame] = []
    champion = validated or champion
    if champion is not None and params["enabled"]:
        for as_of in backfill_dates(features, registry, champion, params):
            snapshot = features.mutate(IS_SCORING=features.SNAPSHOT_DATE == ibis.literal(as_of))
            scored, _ = score_customers(snapshot, champion, registry, scoring, run_context)
            frames += [scored.to_pandas(), score_legacy(snapshot, scoring, run_context).to_pandas()]
            logger.info("Backfilled the scores of %s with champion v%s", as_of, champion.version)
    empty = pd.DataFrame({name: pd.Series(dtype="object") for name in tables.CUSTOMER_CHURN_SCORE.names})
    frame = pd.concat(frames, ignore_index=True) if frames else empty.assign(SCORE_DATE=pd.to_datetime([]), SCORED_AT=pd.to_datetime([]))
    return tables.as_table(frame, tables.CUSTOMER_CHURN_SCORE)


def _all_scores(scores: ir.Table, legacy: ir.Table, backfill: ir.Table | None) -> ir.Table:
    live = ibis.union(scores.select(*SCORE_COLUMNS), legacy.select(*SCORE_COLUMNS))
    if backfill is None:
        return live
    live_keys = live.select(*KEY).distinct()
    return ibis.union(live, backfill.select(*SCORE_COLUMNS).anti_join(live_keys, KEY))


def labelled_scores(scores: ir.Table, order_lines: ir.Table, snapshots: ir.Table, done: ir.Table | None) -> ir.Table:
    """Every score whose churn window has elapsed by the latest data date, with CHURNED (1 = no
    purchase in the window), less the (date, version, variant) already in ``done``."""
    bounds = snapshots.aggregate(
        WINDOW_DAYS=snapshots.LABEL_WINDOW_END.delta(snapshots.SNAPSHOT_DATE, unit="day").max(),
        DATA_DATE=snapshots.DATA_DATE.max(),
    )
    dated = scores.cross_join(bounds)
    window_end = dated.SCORE_DATE + dated.WINDOW_DAYS.as_interval("D")
    elapsed = dated.filter(window_end <= dated.DATA_DATE).mutate(WINDOW_END=window_end).drop("WINDOW_DAYS", "DATA_DATE")
    if done is not None:
        elapsed = elapsed.anti_join(done.select(*KEY).distinct(), KEY)
    dates = elapsed.select("SCORE_DATE", "WINDOW_END").distinct()
    purchases = order_lines.select("CUSTOMER_ID", "ORDER_DATE").distinct()
    future = purchases.inner_join(
        dates, [purchases.ORDER_DATE > dates.SCORE_DATE, purchases.ORDER_DATE <= dates.WINDOW_END]
    )
    bought = future.select("CUSTOMER_ID", "SCORE_DATE").distinct().mutate(BOUGHT=ibis.literal(True))
    joined = elapsed.left_join(bought, ["CUSTOMER_ID", "SCORE_DATE"])
    return joined.select(*SCORE_COLUMNS, CHURNED=joined.BOUGHT.isnull().cast("int8"))


def _expected(model_metrics: ir.Table | None, registry: ir.Table | None = None) -> pd.DataFrame:
    """Each registered model version's holdout metrics (ML.MODEL_METRICS, SPLIT 'holdout'); a
    refit's are those of the version it was validated as (ML.MODEL_REGISTRY.VALIDATED_VERSION)."""
    if model_metrics is None:
        return pd.DataFrame(columns=["MODEL_NAME", "MODEL_VERSION", "METRIC", "EXPECTED"])
    holdout = model_metrics.filter((model_metrics.SPLIT == "holdout") & model_metrics.MODEL_VERSION.notnull())
    expected = holdout.group_by(["MODEL_NAME", "MODEL_VERSION", "METRIC"]).aggregate(EXPECTED=holdout.VALUE.max()).to_pandas()
    if registry is None or "VALIDATED_VERSION" not in registry.columns:
        return expected
    links = registry.filter(registry.VALIDATED_VERSION.notnull()).select("MODEL_NAME", "MODEL_VERSION", "VALIDATED_VERSION").distinct().to_pandas()
    refits = links.merge(expected.rename(columns={"MODEL_VERSION": "VALIDATED_VERSION"}), on=["MODEL_NAME", "VALIDATED_VERSION"])
    return pd.concat([expected, refits.drop(columns="VALIDATED_VERSION")], ignore_index=True)


def _oracle_groups(frame: pd.DataFrame, oracle: pd.DataFrame | None) -> list[tuple[dict[str, Any], pd.DataFrame]]:
    """(labels, rows) of the oracle's probabilities on each date's scored customers, for the dates
    the oracle covers completely."""
    if oracle is None or frame.empty:
        return []
    truth = oracle.assign(SCORE_DATE=pd.to_datetime(oracle.snapshot_date).dt.date)[["customer_id", "SCORE_DATE", "churn_probability"]]
    truth = truth.rename(columns={"customer_id": "CUSTOMER_ID", "churn_probability": "CHURN_PROBABILITY"})
    customers = frame[["CUSTOMER_ID", "SCORE_DATE", "CHURNED"]].drop_duplicates(["CUSTOMER_ID", "SCORE_DATE"])
    groups = []
    for score_date, rows in customers.groupby("SCORE_DATE"):
        matched = rows.merge(truth, on=["CUSTOMER_ID", "SCORE_DATE"], how="left")
        if matched.CHURN_PROBABILITY.isna().any():
            logger.info("The oracle does not cover the %d customers scored on %s: no oracle row", len(rows), score_date)
            continue
        groups.append(({"SCORE_DATE": score_date, **ORACLE}, matched))
    return groups


def realised_performance(
    scores: ir.Table,
    legacy: ir.Table,
    backfill: ir.Table | None,
    order_lines: ir.Table,
    snapshots: ir.Table,
    model_metrics: ir.Table | None,
    done: ir.Table | None,
    oracle: pd.DataFrame | None,
    run_context: dict[str, Any],
    registry: ir.Table | None = None,
) -> ir.Table:
    """The new rows of ML.MODEL_PERFORMANCE_REALISED: per score date, model version and variant
    (champion, legacy rule, and the synthetic oracle where it exists), each realised metric with
    the version's holdout value as EXPECTED (a refit's: its validated version's, by ``registry``).
    ``done`` is the table as it stood before the run."""
    labelled = labelled_scores(_all_scores(scores, legacy, backfill), order_lines, snapshots, done)
    frame = labelled.to_pandas()
    frame["SCORE_DATE"] = pd.to_datetime(frame.SCORE_DATE).dt.date
    groups = [(dict(zip(["SCORE_DATE", "MODEL_NAME", "MODEL_VERSION", "VARIANT"], key)), rows)
              for key, rows in frame.groupby(["SCORE_DATE", "MODEL_NAME", "MODEL_VERSION", "VARIANT"])]
    done_oracle = set()
    if done is not None:
        old = done.filter(done.VARIANT == ORACLE["VARIANT"]).select("SCORE_DATE").distinct().to_pandas()
        done_oracle = {pd.Timestamp(d).date() for d in old.SCORE_DATE}
    groups += [g for g in _oracle_groups(frame, oracle) if g[0]["SCORE_DATE"] not in done_oracle]
    rows = []
    for labels, group in groups:
        measured = realised_metrics(group.CHURNED.to_numpy(), group.CHURN_PROBABILITY.to_numpy())
        rows += [{**labels, "METRIC": m, "VALUE": measured[m], "N": measured["n"], "EVENTS": measured["events"]} for m in REALISED_METRICS]
    columns = ["SCORE_DATE", "MODEL_NAME", "MODEL_VERSION", "VARIANT", "METRIC", "VALUE", "N", "EVENTS"]
    result = pd.DataFrame(rows, columns=columns).merge(_expected(model_metrics, registry), on=["MODEL_NAME", "MODEL_VERSION", "METRIC"], how="left")
    result = result.assign(
        SCORE_DATE=pd.to_datetime(result.SCORE_DATE),
        VALUE=result.VALUE.astype("float64"),
        EXPECTED=result.EXPECTED.astype("float64"),
        N=result.N.astype("int64"),
        EVENTS=result.EVENTS.astype("int64"),
        COMPUTED_AT=pd.Timestamp(run_context["started_at"]),
        RUN_ID=run_context["run_id"],
    )
    logger.info("Realised performance: %d new score date(s) x model(s)", len(groups))
    return tables.as_table(result, tables.MODEL_PERFORMANCE_REALISED)
