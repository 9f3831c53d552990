"""Drift of a scoring run: how far the customers scored today have moved from those the champion
learnt from (PSI, ``ml/monitoring.py``).

Every feature the champion reads is compared between the scoring snapshot (IS_SCORING rows of
ML.CUSTOMER_FEATURES) and the labelled snapshots of its training window (the latest
``reference_snapshots`` of them: in a history younger than the features' lookback, the early
snapshots see less history, so against them recency and counts drift by the calendar alone;
the latest are also those a calibrated champion was calibrated on); the score distribution
(CHURN_PROBABILITY of ML.CUSTOMER_CHURN_SCORE on that date) against the champion's scores on its
holdout snapshot. Bins are fixed on the reference side.
"""

from __future__ import annotations

import logging
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd
from sklearn.compose import ColumnTransformer

from retail_control_tower.ml import tables
from retail_control_tower.ml.monitoring import drift_status, feature_psi
from retail_control_tower.ml.publication import RegisteredModel
from retail_control_tower.pipelines.monitoring.realised import training_window

logger = logging.getLogger(__name__)
SCORE = "CHURN_PROBABILITY"
NOT_FEATURES = {"CUSTOMER_ID", "SNAPSHOT_DATE", "IS_SCORING", "LABEL_WINDOW_END", "CHURNED", "FEATURES_RUN_ID", "COMPUTED_AT"}


def model_features(model: Any, available: list[str]) -> list[str]:
    """The columns the fitted model reads: those its column transformers select (found through
    scikit-learn's public ``get_params``), or every feature column for a model without one."""
    estimators = [model, *model.get_params(deep=True).values()] if hasattr(model, "get_params") else []
    read: list[str] = []
    for estimator in estimators:
        if isinstance(estimator, ColumnTransformer):
            for _, _, columns in estimator.transformers:
                read += [c for c in ([columns] if isinstance(columns, str) else list(columns)) if isinstance(c, str)]
    features = [c for c in dict.fromkeys(read) if c in available]
    return features or [c for c in available if c not in NOT_FEATURES]


def _as_numbers(table: ir.Table, columns: list[str]) -> ir.Table:
    """The columns, every numeric one as float64: a NUMBER column reaches pandas as Decimal
    objects from Snowflake and would otherwise be binned as categories."""
    return table.select(*[table[c].cast("float64").name(c) if table[c].type().is_numeric() else table[c] for c in columns])


def _holdout_date(model_metrics: ir.Table | None, champion: RegisteredModel, registry: ir.Table | None = None) -> Any:
    """The champion's holdout date; a refit's is its validated version's (ML.MODEL_REGISTRY.VALIDATED_VERSION)."""
    if model_metrics is None:
        return None
    versions = [str(champion.version)]
    if registry is not None and "VALIDATED_VERSION" in registry.columns:
        link = registry.filter((registry.MODEL_NAME == champion.model_name) & (registry.MODEL_VERSION == str(champion.version)))
        versions += [v for v in link.VALIDATED_VERSION.to_pyarrow().to_pylist() if v]
    mine = model_metrics.filter(
        (model_metrics.SPLIT == "holdout") & model_metrics.MODEL_VERSION.isin(versions)
        & (model_metrics.MODEL_NAME == champion.model_name)
    )
    return mine.aggregate(D=mine.VALIDATION_DATE.max()).to_pyarrow()["D"][0].as_py()


def model_drift(
    features: ir.Table,
    scores: ir.Table,
    champion: RegisteredModel | None,
    registry: ir.Table | None,
    model_metrics: ir.Table | None,
    params: dict[str, Any],
    run_context: dict[str, Any],
) -> ir.Table:
    """ML.MODEL_DRIFT rows of this run: PSI and status of every model feature and of the score."""
    rows: list[dict[str, Any]] = []
    window = training_window(registry, champion) if champion is not None else None
    if champion is None or window is None:
        logger.warning("No champion with a training window in ML.MODEL_REGISTRY: no drift measured")
    else:
        available = [c for c in features.columns if c not in NOT_FEATURES]
        columns = model_features(champion.model, available)
        current = features.filter(features.IS_SCORING)
        score_date = current.aggregate(D=current.SNAPSHOT_DATE.max()).to_pyarrow()["D"][0].as_py()
        reference = features.filter(
            features.CHURNED.notnull() & features.SNAPSHOT_DATE.between(ibis.literal(window[0]), ibis.literal(window[1]))
        )
        if params.get("reference_snapshots"):
            dates = sorted(reference.select("SNAPSHOT_DATE").distinct().to_pyarrow()["SNAPSHOT_DATE"].to_pylist())
            reference = reference.filter(reference.SNAPSHOT_DATE.isin(dates[-params["reference_snapshots"]:]))
        now, before = _as_numbers(current, columns).to_pandas(), _as_numbers(reference, columns).to_pandas()
        bins, epsilon = params["bins"], params["epsilon"]
        measured = [(c, feature_psi(before[c], now[c], bins, epsilon), len(now)) for c in columns]
        holdout_date = _holdout_date(model_metrics, champion, registry)
        latest = scores.filter((scores.SCORE_DATE == ibis.literal(score_date)) & (scores.MODEL_VERSION == str(champion.version)))
        scored = latest.select(SCORE).to_pandas()[SCORE]
        if holdout_date is not None and len(scored):
            holdout = features.filter(features.SNAPSHOT_DATE == ibis.literal(holdout_date)).select(*available).to_pandas()
            expected = pd.Series(champion.model.predict_proba(holdout)[:, 1], name=SCORE)
            measured.append((SCORE, feature_psi(expected, scored, bins, epsilon), len(scored)))
        else:
            logger.warning("No holdout date of champion v%s or no scores on %s: the score's PSI is not measured", champion.version, score_date)
        for name, value, n in measured:
            rows.append({
                "SCORE_DATE": pd.Timestamp(score_date), "MODEL_NAME": champion.model_name, "MODEL_VERSION": str(champion.version),
                "FEATURE": name, "PSI": value, "STATUS": drift_status(value, params["watch"], params["act"]), "N": n,
            })
    frame = pd.DataFrame(rows, columns=["SCORE_DATE", "MODEL_NAME", "MODEL_VERSION", "FEATURE", "PSI", "STATUS", "N"])
    frame = frame.assign(
        RUN_ID=run_context["run_id"], COMPUTED_AT=pd.Timestamp(run_context["started_at"]),
        SCORE_DATE=pd.to_datetime(frame.SCORE_DATE), PSI=frame.PSI.astype("float64"), N=frame.N.astype("int64"),
    )
    return tables.as_table(frame, tables.MODEL_DRIFT)
