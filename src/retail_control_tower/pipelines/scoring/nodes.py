"""Score every eligible customer at the latest data date with the champion (and the legacy rule)."""

from __future__ import annotations

import logging
from typing import Any

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from retail_control_tower.ml import tables
from retail_control_tower.ml.estimators import LegacyRfmScore
from retail_control_tower.ml.publication import RegisteredModel

logger = logging.getLogger(__name__)
NOT_FEATURES = {"CUSTOMER_ID", "SNAPSHOT_DATE", "IS_SCORING", "LABEL_WINDOW_END", "CHURNED", "FEATURES_RUN_ID", "COMPUTED_AT"}


class NoChampionError(RuntimeError):
    """Scoring was asked for but the registry holds no champion model."""


def _scoring_rows(features: ir.Table) -> ir.Table:
    return features.filter(features.IS_SCORING)


def _deciles(probability: np.ndarray, customer_ids: np.ndarray) -> np.ndarray:
    """1 = the highest tenth of probabilities; equal-count groups. Equal probabilities are ranked
    by customer id, so every engine and every run gives a tied customer the same decile (the
    order a warehouse returns rows in is not fixed)."""
    order = np.lexsort((customer_ids, -probability))
    ranks = np.empty(len(probability), dtype=np.int64)
    ranks[order] = np.arange(len(probability))
    return (ranks * 10 // max(len(probability), 1) + 1).astype("int8")


def _risk_bands(deciles: np.ndarray, bands: list[dict[str, Any]]) -> np.ndarray:
    labels = np.full(len(deciles), None, dtype=object)
    for band in reversed(bands):  # the first matching band wins
        labels[deciles <= band["max_decile"]] = band["band"]
    return labels


def _finish(scored: pd.DataFrame, params: dict[str, Any], model: dict[str, Any], run_context: dict[str, Any]) -> ir.Table:
    probability = scored["CHURN_PROBABILITY"].to_numpy(dtype="float64")
    deciles = _deciles(probability, scored["CUSTOMER_ID"].to_numpy(dtype=str))
    frame = scored.assign(
        DECILE=deciles,
        RISK_BAND=_risk_bands(deciles, params["risk_bands"]),
        RUN_ID=run_context["run_id"],
        SCORED_AT=pd.Timestamp(run_context["started_at"]),
        **model,
    )
    return tables.as_table(frame, tables.CUSTOMER_CHURN_SCORE)


def latest_training_decision(registry: ir.Table | None) -> dict[str, Any]:
    """ML.MODEL_REGISTRY's latest decision (``RUN_ID``, ``REASON``), empty before the first
    training run: what explains a missing champion. Reading ML.MODEL_REGISTRY also orders scoring
    after training in a full run."""
    if registry is None:
        return {}
    last = registry.order_by(registry.DECIDED_AT.desc()).limit(1).select("RUN_ID", "REASON").to_pyarrow().to_pylist()
    return last[0] if last else {}


def score_customers(
    features: ir.Table,
    champion: RegisteredModel | None,
    last_decision: dict[str, Any],
    params: dict[str, Any],
    run_context: dict[str, Any],
) -> tuple[ir.Table, dict[str, Any]]:
    """ML.CUSTOMER_CHURN_SCORE rows for the latest data date, scored chunk by chunk, and the
    outcome (``scored``, ``message``) that :func:`require_champion` judges.

    Without a champion no row is written (the table keeps its earlier dates) and the outcome
    says why (``last_decision``, from :func:`latest_training_decision`): the run goes on to
    reporting, which shows it, and then fails in ``require_champion``.
    """
    if champion is None:
        message = _no_champion_message(last_decision)
        logger.error("%s", message)
        empty = pd.DataFrame({"CUSTOMER_ID": [], "SCORE_DATE": pd.to_datetime([]), "CHURN_PROBABILITY": []})
        unscored = {"MODEL_NAME": None, "MODEL_VERSION": None, "VARIANT": None}
        return _finish(empty, params, unscored, run_context), {
            "scored": False, "message": message,
        }
    rows = _scoring_rows(features)
    columns = [c for c in rows.columns if c not in NOT_FEATURES]
    parts = []
    for batch in rows.select("CUSTOMER_ID", "SNAPSHOT_DATE", *columns).to_pyarrow_batches(chunk_size=params["chunk_rows"]):
        chunk = batch.to_pandas()
        if chunk.empty:
            continue
        parts.append(
            pd.DataFrame(
                {
                    "CUSTOMER_ID": chunk["CUSTOMER_ID"],
                    "SCORE_DATE": pd.to_datetime(chunk["SNAPSHOT_DATE"]),
                    "CHURN_PROBABILITY": champion.model.predict_proba(chunk[columns])[:, 1],
                }
            )
        )
    if not parts:
        raise ValueError("ML.CUSTOMER_FEATURES has no customer at the scoring date: run the `features` pipeline.")
    model = {"MODEL_NAME": champion.model_name, "MODEL_VERSION": str(champion.version), "VARIANT": champion.variant}
    scored = _finish(pd.concat(parts, ignore_index=True), params, model, run_context)
    return scored, {"scored": True, "message": f"scored with champion {champion.model_name} v{champion.version} ({champion.variant})"}


def require_champion(outcome: dict[str, Any], *written_first: Any) -> None:
    """Fails the run with ``NoChampionError`` when scoring found no champion.

    In a full run this is the last node (``written_first`` are the report's outputs), so the
    report and the REPORTING views that explain the missing champion exist when the run fails.
    """
    if not outcome["scored"]:
        raise NoChampionError(outcome["message"])


def _no_champion_message(last_decision: dict[str, Any] | None) -> str:
    message = "No champion model in the MLflow registry (alias 'champion' of the churn model): "
    if not last_decision:
        return message + "run `kedro run --pipeline train_eval` first."
    return (
        message + f"the last training run ({last_decision['RUN_ID']}) did not promote one: {last_decision['REASON']}. "
        "See ML.MODEL_REGISTRY and ML.MODEL_METRICS, then re-run `kedro run --pipeline train_eval`."
    )


def score_legacy(features: ir.Table, params: dict[str, Any], run_context: dict[str, Any]) -> ir.Table:
    """ML.CUSTOMER_CHURN_SCORE_LEGACY: the legacy RFM rule on the same customers and date."""
    rule = LegacyRfmScore()
    rows = _scoring_rows(features).select("CUSTOMER_ID", "SNAPSHOT_DATE", rule.recency, rule.frequency, rule.monetary)
    frame = rows.to_pandas()
    if frame.empty:
        raise ValueError("ML.CUSTOMER_FEATURES has no customer at the scoring date: run the `features` pipeline.")
    scored = pd.DataFrame(
        {
            "CUSTOMER_ID": frame["CUSTOMER_ID"],
            "SCORE_DATE": pd.to_datetime(frame["SNAPSHOT_DATE"]),
            "CHURN_PROBABILITY": rule.fit(frame).predict_proba(frame)[:, 1],
        }
    )
    model = {"MODEL_NAME": "legacy_rfm", "MODEL_VERSION": "rule", "VARIANT": "legacy_rfm"}
    return _finish(scored, params, model, run_context)
