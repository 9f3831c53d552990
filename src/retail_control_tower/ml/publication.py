"""What a training run records in MLflow: one nested run per variant, a registered version of the
challenger, and the champion / challenger aliases moved by the promotion decision; after a
promotion, the refit of the promoted configuration as a run and a version of its own, which takes
the ``champion`` alias while the version it was validated as keeps ``validated``.

MLflow's tracking and registry URIs and the experiment are kedro-mlflow's (``conf/<env>/mlflow.yml``),
set up for the Kedro run, which is the parent MLflow run of the variant runs logged here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import mlflow
import mlflow.sklearn
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature


@dataclass
class VariantResult:
    """One candidate model (or rule) of a training run: logged as one MLflow run."""

    variant: str  # e.g. "hgb_calibrated_ext"; also the MLflow run name
    feature_set: str  # "base" | "ext"
    params: dict[str, Any]  # flat; values are stringified when logged
    metrics: pd.DataFrame  # SPLIT ("fold_1".., "holdout"), METRIC, VALUE → "<split>_<metric>"
    tables: dict[str, pd.DataFrame]  # logged as "<key>.csv"
    figures: dict[str, Any]  # plotly figures, logged as "<key>.html"
    model: Any | None  # fitted estimator with predict_proba; None for rule-based variants
    input_example: pd.DataFrame | None  # a few feature rows: the model signature is inferred from them


@dataclass
class Publication:
    """A training run's variants and its promotion decision; recording it registers one model version."""

    kedro_run_id: str
    git_commit: str | None
    tags: dict[str, str]  # added to every MLflow run of the publication
    training_window: str  # e.g. "2025-01-31..2026-06-30"
    variants: list[VariantResult]
    challenger: str  # chosen on CV; one of ``variants`` and one with a model
    promote: bool  # True → the challenger becomes champion
    reason: str
    decided_at: datetime
    trained_at: datetime


@dataclass
class RegisteredModel:
    """The registered model version that holds an alias (e.g. champion), loaded for scoring."""

    model_name: str
    version: str
    variant: str | None
    mlflow_run_id: str | None
    model: Any
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class LoggedVariant:
    """Where MLflow keeps a variant of this run: its run and, for a trained variant, its logged model."""

    run_id: str
    model_uri: str | None
    model_id: str | None


class PublicationError(ValueError):
    """A publication MLflow must not record (it would register a version nobody can score with)."""


class MlflowRecordingError(RuntimeError):
    """MLflow's store refused part of a training run's record."""


def log_variant_runs(publication: Publication) -> dict[str, LoggedVariant]:
    """Every variant as a run nested in the Kedro run's MLflow run: params, ``<split>_<metric>``
    metrics, CSV tables, HTML figures and the model, if any."""
    _check(publication)
    try:
        return {variant.variant: _log_variant(variant, publication) for variant in publication.variants}
    except Exception as error:
        raise _recording_error(publication, error) from error


def register_challenger(publication: Publication, logged: dict[str, LoggedVariant], model_name: str) -> str:
    """A new version of ``model_name`` from the challenger's logged model, tagged with the decision."""
    chosen = next(v for v in publication.variants if v.variant == publication.challenger)
    tags = _version_tags(publication, chosen, logged[chosen.variant], publication.training_window)
    tags["decision"] = "promoted" if publication.promote else "not_promoted"
    return _register(publication, logged[chosen.variant], model_name, tags)


def log_refit_run(publication: Publication, refit: VariantResult, training_window: str, lineage: dict[str, str]) -> LoggedVariant:
    """The refit as a run nested in the Kedro run's, named ``<variant>_refit``, tagged with its
    ``training_window`` and ``lineage`` (the validated version and its run)."""
    try:
        return _log_variant(refit, publication, {"training_window": training_window, "refit": "true", **lineage},
                            run_name=f"{refit.variant}_refit")
    except Exception as error:
        raise _recording_error(publication, error) from error


def register_refit(publication: Publication, refit: VariantResult, logged: LoggedVariant, model_name: str,
                   training_window: str, lineage: dict[str, str]) -> str:
    """A new version of ``model_name`` from the refit's logged model, promoted with the decision
    of the version it was validated as (``lineage``)."""
    tags = {**_version_tags(publication, refit, logged, training_window), **lineage, "decision": "promoted"}
    tags["reason"] = (f"refit of validated version {lineage['validated_version']} (MLflow run {lineage['validated_run_id']}) "
                      f"on the labelled snapshots {training_window}; {publication.reason}")
    return _register(publication, logged, model_name, tags)


def deploy_refit(publication: Publication, model_name: str, validated_version: str, refit_version: str) -> dict[str, str]:
    """``champion`` to the refit, ``validated`` to the version it was validated as. Returns the
    aliases as they stand afterwards."""
    client = mlflow.MlflowClient()
    try:
        client.set_registered_model_alias(model_name, "validated", validated_version)
        client.set_registered_model_alias(model_name, "champion", refit_version)
        return {alias: str(v) for alias, v in client.get_registered_model(model_name).aliases.items()}
    except Exception as error:
        raise _recording_error(publication, error) from error


def version_tag(model_name: str, versions: list[str], tag: str) -> dict[str, str]:
    """Each of ``versions`` that has ``tag`` → its value."""
    client = mlflow.MlflowClient()
    found = {}
    for version in dict.fromkeys(versions):
        value = client.get_model_version(model_name, version).tags.get(tag)
        if value is not None:
            found[version] = value
    return found


def _version_tags(publication: Publication, chosen: VariantResult, run: LoggedVariant, training_window: str) -> dict[str, str]:
    return {
        "variant": chosen.variant,
        "feature_set": chosen.feature_set,
        "kedro_run_id": publication.kedro_run_id,
        "mlflow_run_id": run.run_id,
        "trained_at": publication.trained_at.isoformat(),
        "training_window": training_window,
        "decided_at": publication.decided_at.isoformat(),
        "reason": publication.reason,
    }


def _register(publication: Publication, run: LoggedVariant, model_name: str, tags: dict[str, str]) -> str:
    client = mlflow.MlflowClient()
    try:
        if registered_model(client, model_name) is None:
            client.create_registered_model(model_name)
        version = client.create_model_version(model_name, source=run.model_uri, run_id=run.run_id, tags=tags, model_id=run.model_id)
    except Exception as error:
        raise _recording_error(publication, error) from error
    return str(version.version)


def move_aliases(publication: Publication, model_name: str, version: str) -> dict[str, str]:
    """The alias rule: a promoted version becomes ``champion`` (the challenger alias goes, and so
    does ``validated``, which named the version an earlier champion was refitted from; the
    champion it replaces is tagged as retired by it); a version not promoted is the ``challenger``.
    Returns the aliases as they stand afterwards."""
    client = mlflow.MlflowClient()
    try:
        previous = dict(client.get_registered_model(model_name).aliases)
        if not publication.promote:
            client.set_registered_model_alias(model_name, "challenger", version)
        else:
            client.set_registered_model_alias(model_name, "champion", version)
            for alias in ("challenger", "validated"):
                if alias in previous:
                    client.delete_registered_model_alias(model_name, alias)
            retired = previous.get("champion")
            if retired is not None and str(retired) != version:
                client.set_model_version_tag(model_name, str(retired), "retired_by_version", version)
                client.set_model_version_tag(model_name, str(retired), "retired_at", publication.decided_at.isoformat())
        return {alias: str(v) for alias, v in client.get_registered_model(model_name).aliases.items()}
    except Exception as error:
        raise _recording_error(publication, error) from error


def _log_variant(variant: VariantResult, publication: Publication, extra_tags: dict[str, str] | None = None,
                 run_name: str | None = None) -> LoggedVariant:
    tags = {key: str(value) for key, value in publication.tags.items()}
    tags.update(kedro_run_id=publication.kedro_run_id, variant=variant.variant,
                feature_set=variant.feature_set, training_window=publication.training_window)
    tags.update(extra_tags or {})
    if publication.git_commit:
        tags["git_commit"] = publication.git_commit
    with mlflow.start_run(run_name=run_name or variant.variant, tags=tags, nested=True) as run:
        if variant.params:
            mlflow.log_params({key: str(value) for key, value in variant.params.items()})
        values = _metric_values(variant.metrics)
        if values:
            mlflow.log_metrics(values)
        for key, table in variant.tables.items():
            mlflow.log_text(table.to_csv(index=False), f"{key}.csv")
        for key, figure in variant.figures.items():
            mlflow.log_figure(figure, f"{key}.html")
        model_info = _log_model(variant) if variant.model is not None else None
    return LoggedVariant(run.info.run_id, model_info and model_info.model_uri, model_info and model_info.model_id)


def _check(publication: Publication) -> None:
    names = [variant.variant for variant in publication.variants]
    if len(set(names)) != len(names):
        raise PublicationError(f"Variant names must be unique (they name the MLflow runs): {names}")
    chosen = [v for v in publication.variants if v.variant == publication.challenger]
    if not chosen or chosen[0].model is None:
        raise PublicationError(f"Challenger {publication.challenger!r} must be one of the variants {names} and have a model")


def registered_model(client: mlflow.MlflowClient, name: str):
    """The registered model ``name``, or None before its first version."""
    try:
        return client.get_registered_model(name)
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise


def _metric_values(metrics: pd.DataFrame) -> dict[str, float]:
    values = pd.to_numeric(metrics["VALUE"], errors="coerce")
    keys = metrics["SPLIT"].astype(str) + "_" + metrics["METRIC"].astype(str)
    return {key: float(value) for key, value in zip(keys, values) if pd.notna(value)}


def _log_model(variant: VariantResult):
    signature = None
    if variant.input_example is not None:
        signature = infer_signature(variant.input_example, variant.model.predict_proba(variant.input_example)[:, 1])
    # cloudpickle: skops refuses HistGradientBoosting and our own estimator classes unless each type
    # is listed as trusted (ARCHITECTURE §4). Explicit requirements: inferring them starts a
    # subprocess that reloads the model.
    return mlflow.sklearn.log_model(
        variant.model, name="model", signature=signature, serialization_format="cloudpickle",
        pip_requirements=mlflow.sklearn.get_default_pip_requirements(include_cloudpickle=True),
    )


def _recording_error(publication: Publication, error: Exception) -> MlflowRecordingError:
    # MLflow's store errors run to pages (SQL, an autoflush hint); say what and where in one line.
    first = next((line for line in str(error).splitlines() if line.strip()), "")
    try:
        run = mlflow.active_run()
        artifacts = mlflow.get_experiment(run.info.experiment_id).artifact_location if run else "the server default"
    except Exception:  # the store that just failed may fail again; the message must still be written
        artifacts = "unknown"
    return MlflowRecordingError(
        f"MLflow could not record training run {publication.kedro_run_id} in the tracking store {mlflow.get_tracking_uri()} "
        f"(artifacts: {artifacts}): {type(error).__name__}: {first}"
    )
