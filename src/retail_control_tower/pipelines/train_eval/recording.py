"""train_eval's record: MLflow first (a run per variant nested in the Kedro run's MLflow run, a
registered version of the challenger, the champion / challenger aliases, and after a promotion the
refit's run, version and aliases: :mod:`.refit`), then the ML tables, ML.MODEL_REGISTRY's rows last.

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
from retail_control_tower.pipelines.train_eval.refit import Deployment
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


def record_variant_runs(run: Publication, *fitted_first: Any) -> dict[str, LoggedVariant]:
    """Every variant as an MLflow run nested in the Kedro run's: params, metrics, tables, figures,
    model. ``fitted_first`` (the refit) orders every fit before MLflow records anything."""
    return publication.log_variant_runs(run)


def register_challenger(run: Publication, logged: dict[str, LoggedVariant], registry: dict[str, Any]) -> str:
    """A new version of the registered model from the challenger's run; returns the version."""
    return publication.register_challenger(run, logged, registry["model_name"])


def move_aliases(run: Publication, version: str, registry: dict[str, Any]) -> dict[str, str]:
    """The alias rule (:func:`retail_control_tower.ml.publication.move_aliases`); the aliases after it."""
    return publication.move_aliases(run, registry["model_name"], version)


def deploy_refit(
    run: Publication, deployment: Deployment, logged: dict[str, LoggedVariant], validated_version: str,
    aliases: dict[str, str], registry: dict[str, Any],
) -> dict[str, str]:
    """After a promotion with ``deployment.refit`` on: the refit as a run nested in the Kedro run's
    and a new version tagged with its lineage (``validated_version``, ``validated_run_id``, the
    refit window), ``champion`` moved to it and ``validated`` to the version the holdout accepted.
    Returns the refit's lineage with its ``refit_version``; empty without a refit. ``aliases`` (as
    :func:`move_aliases` left them) orders this after the promotion's own alias moves."""
    refit = deployment.refit
    if refit is None:
        return {}
    variant = next(v for v in run.variants if v.variant == refit.variant)
    result = VariantResult(
        variant=variant.variant, feature_set=variant.feature_set, params=variant.params,
        metrics=pd.DataFrame(columns=["SPLIT", "METRIC", "VALUE"]), tables={}, figures={},
        model=refit.model, input_example=refit.input_example,
    )
    window = refit.split.window
    lineage = {
        "validated_version": validated_version,
        "validated_run_id": logged[refit.variant].run_id,
        "validated_training_window": run.training_window,
        "refit_window": window,
        "refit_calibration_snapshots": ",".join(map(str, refit.split.calibration_dates)) or "none",
    }
    name = registry["model_name"]
    refit_run = publication.log_refit_run(run, result, window, lineage)
    version = publication.register_refit(run, result, refit_run, name, window, lineage)
    publication.deploy_refit(run, name, validated_version, version)
    return {**lineage, "refit_version": version, "refit_run_id": refit_run.run_id}


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
    """ML.MODEL_REGISTRY rows of this run: the versions it registered (with a refit, the validated
    version and the refit, whose VALIDATED_VERSION names the other) and any champion it retired,
    with the aliases as they stand after the decision. Written after the run's metrics, deciles
    and calibration (``written_first``): a run's registry row is what makes its rows count."""
    mine = registry[registry.KEDRO_RUN_ID == run_context["run_id"]]
    retired = registry[registry.RETIRED_BY_VERSION.isin(mine.MODEL_VERSION) & registry.RETIRED_BY_VERSION.notna()]
    retired = retired.assign(DECISION="retired", REASON="champion replaced by version " + retired.RETIRED_BY_VERSION)
    rows_ = pd.concat([mine, retired], ignore_index=True)
    validated = {}
    for name, versions in rows_.groupby("MODEL_NAME").MODEL_VERSION:
        validated.update({(name, v): w for v, w in publication.version_tag(name, list(versions), "validated_version").items()})
    rows_ = rows_.assign(
        RUN_ID=run_context["run_id"], RECORDED_AT=pd.Timestamp(run_context["started_at"]),
        VALIDATED_VERSION=[validated.get((n, v)) for n, v in zip(rows_.MODEL_NAME, rows_.MODEL_VERSION)],
    )
    return tables.as_table(rows_, tables.MODEL_REGISTRY)


def mirror_metrics(
    cv_metrics: pd.DataFrame, holdout: HoldoutEvaluation, registry: pd.DataFrame, run_context: dict[str, Any], refit_lineage: dict[str, str]
) -> ir.Table:
    """ML.MODEL_METRICS rows of this run: every variant, fold and holdout metric; the model
    version is set for the variant this run registered and validated (``registry`` read after
    MLflow has the run, ``refit_lineage`` being its last record; a refit has no metrics)."""
    all_metrics = pd.concat([cv_metrics, holdout.metrics], ignore_index=True)
    mine = registry[(registry.KEDRO_RUN_ID == run_context["run_id"]) & (registry.MODEL_VERSION != refit_lineage.get("refit_version"))]
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
