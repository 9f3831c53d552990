"""Train every variant out of time, choose a challenger on CV, decide promotion on the holdout.

Only the labelled customer-level frame comes into Python; everything before it was computed in
the warehouse by the ``features`` pipeline.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from retail_control_tower.ml import metrics, plots, tables
from retail_control_tower.ml.publication import Publication, RegisteredModel, VariantResult
from retail_control_tower.pipelines.train_eval.splits import Split, plan_splits, rows
from retail_control_tower.pipelines.train_eval.variants import LABEL, feature_columns, fit_variant

KEYS = ["CUSTOMER_ID", "SNAPSHOT_DATE", "LABEL_WINDOW_END", LABEL]
SAMPLE_BUCKETS = 10_000
logger = logging.getLogger(__name__)


@dataclass
class HoldoutEvaluation:
    split: Split
    models: dict[str, Any]  # variant → fitted estimator
    features: pd.DataFrame  # the holdout snapshot's rows, as every variant (and the champion) sees them
    predictions: pd.DataFrame  # CUSTOMER_ID, SNAPSHOT_DATE, CHURNED, one probability column per variant
    metrics: pd.DataFrame  # VARIANT, SPLIT, VALIDATION_DATE, METRIC, VALUE


def labelled_frame(features: ir.Table, params: dict[str, Any]) -> pd.DataFrame:
    """The labelled snapshots with the columns any variant uses.

    Beyond ``max_training_rows`` labelled rows, a deterministic sample of customers (by a hash
    of the id, taken in the warehouse) keeps every snapshot of the customers it keeps, so the
    frame that comes into Python stays bounded whatever the number of customers.
    """
    wanted = list(dict.fromkeys(KEYS + [c for fs in params["feature_sets"].values() for part in fs.values() for c in part]))
    labelled = features.filter(features[LABEL].notnull())
    limit = params.get("max_training_rows")
    if limit:
        total = labelled.count().to_pyarrow().as_py()
        if total > limit:
            kept = math.ceil(SAMPLE_BUCKETS * limit / total)
            labelled = labelled.filter(labelled.CUSTOMER_ID.hash().abs() % SAMPLE_BUCKETS < kept)
            logger.info("Training on a %.1f%% sample of customers (%d labelled rows > max_training_rows %d)", 100 * kept / SAMPLE_BUCKETS, total, limit)
    frame = labelled.select(*wanted).order_by(["SNAPSHOT_DATE", "CUSTOMER_ID"]).to_pandas()
    if frame.empty:
        raise ValueError("ML.CUSTOMER_FEATURES holds no labelled snapshot: run the `features` pipeline on enough history.")
    for column in ("SNAPSHOT_DATE", "LABEL_WINDOW_END"):
        frame[column] = pd.to_datetime(frame[column])
    frame[LABEL] = frame[LABEL].astype("int8")
    return frame


def _fit(variant: dict[str, Any], params: dict[str, Any], frame: pd.DataFrame, split: Split) -> Any:
    """Uncalibrated variants train on all of the split's training snapshots; calibrated ones
    fit on the earlier ones and calibrate on the latest."""
    calibrated = bool(variant.get("calibration"))
    fit_rows = rows(frame, split.fit_dates if calibrated else split.training_dates)
    calibration_rows = rows(frame, split.calibration_dates) if calibrated else None
    return fit_variant(variant, params["feature_sets"], fit_rows, calibration_rows, params["seed"])


def _metric_rows(variant: str, split: Split, y_true: np.ndarray, y_prob: np.ndarray) -> list[dict[str, Any]]:
    values = metrics.classification_metrics(y_true, y_prob)
    return [
        {"VARIANT": variant, "SPLIT": split.name, "VALIDATION_DATE": pd.Timestamp(split.validation_date), "METRIC": key, "VALUE": float(value)}
        for key, value in values.items()
    ]


def cross_validate(frame: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """Per variant and CV fold, every metric on the fold's validation snapshot (long format)."""
    records: list[dict[str, Any]] = []
    fitted: dict[tuple, Any] = {}  # neighbouring folds often share their training snapshots
    for split in plan_splits(frame, params)[:-1]:
        validation = rows(frame, [split.validation_date])
        for name, variant in params["variants"].items():
            key = (name, split.fit_dates, split.calibration_dates)
            if key not in fitted:
                fitted[key] = _fit(variant, params, frame, split)
            scores = fitted[key].predict_proba(validation)[:, 1]
            records += _metric_rows(name, split, validation[LABEL].to_numpy(), scores)
    return pd.DataFrame.from_records(records)


def evaluate_holdout(frame: pd.DataFrame, params: dict[str, Any]) -> HoldoutEvaluation:
    """Fits every variant for the holdout split and scores the holdout snapshot."""
    split = plan_splits(frame, params)[-1]
    validation = rows(frame, [split.validation_date]).reset_index(drop=True)
    predictions = validation[["CUSTOMER_ID", "SNAPSHOT_DATE", LABEL]].copy()
    models, records = {}, []
    for name, variant in params["variants"].items():
        model = _fit(variant, params, frame, split)
        predictions[name] = model.predict_proba(validation)[:, 1]
        models[name] = model
        records += _metric_rows(name, split, validation[LABEL].to_numpy(), predictions[name].to_numpy())
    return HoldoutEvaluation(split, models, validation, predictions, pd.DataFrame.from_records(records))


def choose_challenger(cv_metrics: pd.DataFrame, params: dict[str, Any]) -> dict[str, Any]:
    """The trainable variant with the best mean CV selection metric among the well-calibrated."""
    trainable = [n for n, v in params["variants"].items() if v["kind"] != "legacy_rfm"]
    means = cv_metrics.groupby(["VARIANT", "METRIC"])["VALUE"].mean().unstack("METRIC").loc[trainable]
    rule = params["selection"]
    metric, max_ece = rule["metric"], rule["max_cv_ece"]
    eligible = means[means["ece"] <= max_ece]
    if eligible.empty:
        best = means.sort_values("ece").index[0]
        return {
            "variant": best,
            "eligible": False,
            "reason": f"no variant has mean CV ECE <= {max_ece}; {best} has the lowest ({means.loc[best, 'ece']:.4f})",
        }
    breaker, tolerance = rule["tie_breaker"], rule["tie_tolerance"]
    tied = eligible[eligible[metric] >= eligible[metric].max() - tolerance]
    ranked = tied.sort_values([breaker, metric], ascending=False)
    best = ranked.index[0]
    others = ", ".join(f"{name} {row[metric]:.3f}" for name, row in eligible.drop(index=best).iterrows())
    tie_note = (
        f"; tied within {tolerance} with {', '.join(ranked.index[1:])}, decided by mean CV {breaker} "
        f"{ranked.iloc[0][breaker]:.4f}" if len(ranked) > 1 else ""
    )
    return {
        "variant": best,
        "eligible": True,
        "reason": (
            f"mean CV {metric} {ranked.iloc[0][metric]:.3f} (others: {others or 'none'}) among variants with "
            f"mean CV ECE <= {max_ece}{tie_note}"
        ),
    }


def decide_promotion(
    holdout: HoldoutEvaluation, challenger: dict[str, Any], champion: RegisteredModel | None, params: dict[str, Any]
) -> dict[str, Any]:
    """Promote or not, by the rule in ``params:train_eval.promotion``; the reason says why in figures."""
    rule = params["promotion"]
    name = challenger["variant"]
    y_true = holdout.predictions[LABEL].to_numpy()
    new_scores = holdout.predictions[name].to_numpy()
    ece = metrics.expected_calibration_error(y_true, new_scores)
    decision: dict[str, Any] = {"challenger": name, "champion_version": None, "holdout_ece": ece}
    if not challenger["eligible"]:
        return {**decision, "promote": False, "reason": f"{name} not promoted: {challenger['reason']}"}
    ece_ok = ece <= rule["max_holdout_ece"]
    ece_text = f"holdout ECE {ece:.4f} {'<=' if ece_ok else '>'} {rule['max_holdout_ece']}"
    if champion is None:
        verdict = "promoted: no champion yet" if ece_ok else "not promoted although there is no champion"
        return {**decision, "promote": ece_ok, "reason": f"{name} {verdict}; {ece_text}"}

    champion_scores = champion.model.predict_proba(holdout.features)[:, 1]
    boot = metrics.bootstrap_difference(
        y_true, new_scores, champion_scores, metric=metrics.lift_at,
        n_boot=rule["bootstrap_resamples"], confidence=rule["confidence"], seed=params["seed"],
    )
    gain_ok = boot.difference >= rule["min_lift_gain"] and boot.low > 0
    promote = bool(gain_ok and ece_ok)
    lift_text = (
        f"holdout lift@10% {metrics.lift_at(y_true, new_scores):.3f} vs champion v{champion.version} "
        f"({champion.variant}) {metrics.lift_at(y_true, champion_scores):.3f}: difference {boot.difference:+.3f}, "
        f"{rule['confidence']:.0%} CI [{boot.low:+.3f}, {boot.high:+.3f}], required >= {rule['min_lift_gain']} with CI above 0"
    )
    return {
        **decision,
        "promote": promote,
        "champion_version": champion.version,
        "lift_difference": boot.difference,
        "reason": f"{name} {'promoted' if promote else 'not promoted'}: {lift_text}; {ece_text}",
    }


def _diagnostics(holdout: HoldoutEvaluation, run_context: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    y_true = holdout.predictions[LABEL].to_numpy()
    stamp = {"RUN_ID": run_context["run_id"], "HOLDOUT_DATE": pd.Timestamp(holdout.split.validation_date)}
    deciles, calibration = [], []
    for variant in holdout.models:
        scores = holdout.predictions[variant].to_numpy()
        deciles.append(metrics.decile_table(y_true, scores).assign(VARIANT=variant, **stamp))
        calibration.append(metrics.calibration_table(y_true, scores).assign(VARIANT=variant, **stamp))
    computed_at = pd.Timestamp(run_context["started_at"])
    return (
        pd.concat(deciles, ignore_index=True).assign(COMPUTED_AT=computed_at),
        pd.concat(calibration, ignore_index=True).assign(COMPUTED_AT=computed_at),
    )


def holdout_diagnostics(holdout: HoldoutEvaluation, run_context: dict[str, Any]) -> tuple[ir.Table, ir.Table]:
    """ML.MODEL_DECILES and ML.MODEL_CALIBRATION: every variant's holdout tables, stamped with the run."""
    deciles, calibration = _diagnostics(holdout, run_context)
    return tables.as_table(deciles, tables.MODEL_DECILES), tables.as_table(calibration, tables.MODEL_CALIBRATION)


def build_publication(
    cv_metrics: pd.DataFrame,
    holdout: HoldoutEvaluation,
    challenger: dict[str, Any],
    decision: dict[str, Any],
    params: dict[str, Any],
    run_context: dict[str, Any],
) -> Publication:
    """Everything MLflow records for this run: one entry per variant, and the decision."""
    all_metrics = pd.concat([cv_metrics, holdout.metrics], ignore_index=True)
    deciles, calibration = _diagnostics(holdout, run_context)
    split = holdout.split
    results = []
    for name, variant in params["variants"].items():
        mine = all_metrics[all_metrics.VARIANT == name]
        variant_deciles = deciles[deciles.VARIANT == name]
        variant_calibration = calibration[calibration.VARIANT == name]
        model = holdout.models[name] if variant["kind"] != "legacy_rfm" else None
        results.append(
            VariantResult(
                variant=name,
                feature_set=variant["feature_set"],
                params={"kind": variant["kind"], "calibration": variant.get("calibration") or "none", **(variant.get("params") or {})},
                metrics=mine[["SPLIT", "METRIC", "VALUE"]].reset_index(drop=True),
                tables={"decile_table": variant_deciles, "calibration_table": variant_calibration,
                        "cv_metrics": mine.reset_index(drop=True)},
                figures={
                    "decile_lift": plots.decile_lift_figure(variant_deciles),
                    "cumulative_gains": plots.cumulative_gains_figure(variant_deciles),
                    "calibration": plots.calibration_figure(variant_calibration),
                },
                model=model,
                input_example=holdout.features[feature_columns(variant, params["feature_sets"])].head(5) if model is not None else None,
            )
        )
    now = datetime.now().replace(microsecond=0)
    return Publication(
        kedro_run_id=run_context["run_id"],
        git_commit=run_context.get("git_commit"),
        tags={
            "holdout_date": str(split.validation_date),
            "data_window": f"{split.training_dates[0]}..{split.validation_date}",
            "challenger_reason": challenger["reason"],
        },
        training_window=split.window,
        variants=results,
        challenger=decision["challenger"],
        promote=decision["promote"],
        reason=decision["reason"],
        decided_at=now,
        trained_at=now,
    )


def mirror_registry(registry: pd.DataFrame, run_context: dict[str, Any]) -> ir.Table:
    """ML.MODEL_REGISTRY rows of this run: the version it registered and any champion it retired,
    with the aliases as they stand after the decision."""
    mine = registry[registry.KEDRO_RUN_ID == run_context["run_id"]]
    retired = registry[registry.RETIRED_BY_VERSION.isin(mine.MODEL_VERSION) & registry.RETIRED_BY_VERSION.notna()]
    retired = retired.assign(DECISION="retired", REASON="champion replaced by version " + retired.RETIRED_BY_VERSION)
    rows_ = pd.concat([mine, retired], ignore_index=True)
    rows_ = rows_.assign(RUN_ID=run_context["run_id"], RECORDED_AT=pd.Timestamp(run_context["started_at"]))
    return tables.as_table(rows_, tables.MODEL_REGISTRY)


def mirror_metrics(
    cv_metrics: pd.DataFrame, holdout: HoldoutEvaluation, registry: pd.DataFrame, run_context: dict[str, Any]
) -> ir.Table:
    """ML.MODEL_METRICS rows of this run: every variant, fold and holdout metric; the model
    version is set for the variant this run registered."""
    all_metrics = pd.concat([cv_metrics, holdout.metrics], ignore_index=True)
    mine = registry[registry.KEDRO_RUN_ID == run_context["run_id"]]
    versions = dict(zip(mine.VARIANT, mine.MODEL_VERSION))
    names = dict(zip(mine.VARIANT, mine.MODEL_NAME))
    frame = pd.DataFrame(
        {
            "RUN_ID": run_context["run_id"],
            "MODEL_NAME": all_metrics.VARIANT.map(names),
            "MODEL_VERSION": all_metrics.VARIANT.map(versions),
            "VARIANT": all_metrics.VARIANT,
            "SPLIT": all_metrics.SPLIT,
            "VALIDATION_DATE": all_metrics.VALIDATION_DATE,
            "METRIC": all_metrics.METRIC,
            "VALUE": all_metrics.VALUE.astype("float64"),
            "COMPUTED_AT": pd.Timestamp(run_context["started_at"]),
        }
    )
    return tables.as_table(frame, tables.MODEL_METRICS)
