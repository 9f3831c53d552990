"""train_eval's record: MLflow first (a run per variant nested in the Kedro run's MLflow run, a
registered version of the challenger, the champion / challenger aliases), then the ML tables,
ML.MODEL_REGISTRY's rows last.

MLflow's stores and the Kedro run's MLflow run are kedro-mlflow's (``conf/<env>/mlflow.yml``); the
registered model's name is ``params:model_registry.model_name``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import ibis.expr.types as ir
import pandas as pd

from retail_control_tower.ml import metrics, plots, publication, tables
from retail_control_tower.ml.publication import LoggedVariant, Publication, VariantResult
from retail_control_tower.pipelines.train_eval.nodes import HoldoutEvaluation, dropped_text
from retail_control_tower.pipelines.train_eval.variants import LABEL, feature_columns


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
            "dropped_features": dropped_text(params.get("dropped_features") or {}) or "none",
        },
        training_window=split.window,
        variants=results,
        challenger=decision["challenger"],
        promote=decision["promote"],
        reason=decision["reason"],
        decided_at=now,
        trained_at=now,
    )


def record_variant_runs(run: Publication) -> dict[str, LoggedVariant]:
    """Every variant as an MLflow run nested in the Kedro run's: params, metrics, tables, figures, model."""
    return publication.log_variant_runs(run)


def register_challenger(run: Publication, logged: dict[str, LoggedVariant], registry: dict[str, Any]) -> str:
    """A new version of the registered model from the challenger's run; returns the version."""
    return publication.register_challenger(run, logged, registry["model_name"])


def move_aliases(run: Publication, version: str, registry: dict[str, Any]) -> dict[str, str]:
    """The alias rule (:func:`retail_control_tower.ml.publication.move_aliases`); the aliases after it."""
    return publication.move_aliases(run, registry["model_name"], version)


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


def holdout_diagnostics(holdout: HoldoutEvaluation, run_context: dict[str, Any], *recorded_first: Any) -> tuple[ir.Table, ir.Table]:
    """ML.MODEL_DECILES and ML.MODEL_CALIBRATION: every variant's holdout tables, stamped with the
    run; ``recorded_first`` (the aliases as moved) orders them after MLflow has the run."""
    deciles, calibration = _diagnostics(holdout, run_context)
    return tables.as_table(deciles, tables.MODEL_DECILES), tables.as_table(calibration, tables.MODEL_CALIBRATION)


def mirror_registry(registry: pd.DataFrame, run_context: dict[str, Any], *written_first: Any) -> ir.Table:
    """ML.MODEL_REGISTRY rows of this run: the version it registered and any champion it retired,
    with the aliases as they stand after the decision. Written after the run's metrics, deciles
    and calibration (``written_first``): a run's registry row is what makes its rows count."""
    mine = registry[registry.KEDRO_RUN_ID == run_context["run_id"]]
    retired = registry[registry.RETIRED_BY_VERSION.isin(mine.MODEL_VERSION) & registry.RETIRED_BY_VERSION.notna()]
    retired = retired.assign(DECISION="retired", REASON="champion replaced by version " + retired.RETIRED_BY_VERSION)
    rows_ = pd.concat([mine, retired], ignore_index=True)
    rows_ = rows_.assign(RUN_ID=run_context["run_id"], RECORDED_AT=pd.Timestamp(run_context["started_at"]))
    return tables.as_table(rows_, tables.MODEL_REGISTRY)


def mirror_metrics(
    cv_metrics: pd.DataFrame, holdout: HoldoutEvaluation, registry: pd.DataFrame, run_context: dict[str, Any], *recorded_first: Any
) -> ir.Table:
    """ML.MODEL_METRICS rows of this run: every variant, fold and holdout metric; the model
    version is set for the variant this run registered (``registry`` read after
    ``recorded_first``, the aliases as moved)."""
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
