"""The churn model's MLflow experiment and registered model, as a Kedro dataset."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import mlflow
import mlflow.sklearn
import pandas as pd
from kedro.io import AbstractDataset, DatasetError
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking._model_registry import utils as registry_utils
from mlflow.tracking._tracking_service import utils as tracking_utils

from retail_control_tower.ml.publication import Publication, RegisteredModel, VariantResult

logger = logging.getLogger(__name__)

REGISTRY_COLUMNS = [
    "MODEL_NAME", "MODEL_VERSION", "VARIANT", "FEATURE_SET", "ALIAS", "MLFLOW_RUN_ID", "KEDRO_RUN_ID",
    "TRAINED_AT", "TRAINING_WINDOW", "DECISION", "REASON", "DECIDED_AT", "RETIRED_BY_VERSION",
]
_URI_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


class MlflowModelRegistryDataset(AbstractDataset[Publication, "pd.DataFrame | RegisteredModel | None"]):
    """The churn model's MLflow side: runs per variant, one registered version per save, aliases.

    Without ``alias``, ``save`` takes a ``Publication``: every variant becomes an MLflow run
    (params, ``<split>_<metric>`` metrics, CSV tables, HTML figures, the model if any), the
    challenger's model becomes a new version of ``model_name``, and the decision moves the
    ``champion`` or ``challenger`` alias. ``load`` returns one row per registered version.

    With ``alias`` (e.g. ``champion``) the dataset is read-only: ``load`` returns the
    ``RegisteredModel`` holding the alias, or ``None`` when there is none yet.
    """

    def __init__(
        self,
        tracking_uri: str,
        model_name: str,
        experiment_name: str,
        artifact_location: str | None = None,
        alias: str | None = None,
        registry_uri: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._tracking_uri = tracking_uri
        # Without this the client would fall back to whatever global registry URI is set.
        self._registry_uri = registry_uri or tracking_uri
        self._model_name = model_name
        self._experiment_name = experiment_name
        self._artifact_location, self._artifact_dir = _artifact_location(artifact_location)
        self._alias = alias
        self.metadata = metadata

    def load(self) -> pd.DataFrame | RegisteredModel | None:
        client = self._client()
        registered = self._registered(client)
        if self._alias is None:
            return self._versions(client, registered)
        if registered is None or self._alias not in registered.aliases:
            return None
        version = str(registered.aliases[self._alias])
        model_version = client.get_model_version(self._model_name, version)
        with self._global_uris():
            # By version, not by alias: the alias could move between the two calls.
            model = mlflow.sklearn.load_model(f"models:/{self._model_name}/{version}")
        tags = dict(model_version.tags)
        return RegisteredModel(self._model_name, version, tags.get("variant"), model_version.run_id, model, tags)

    def save(self, data: Publication) -> None:
        if self._alias is not None:
            raise DatasetError(
                f"{self._model_name}@{self._alias} is read-only: save the Publication through the dataset without an alias"
            )
        _check(data)
        try:
            client = self._client()
            with self._global_uris():
                experiment_id = self._experiment_id(client)
                logged = {variant.variant: self._log_variant(variant, data, experiment_id) for variant in data.variants}
                self._register(client, data, *logged[data.challenger])
        except Exception as error:
            # MLflow's store errors run to pages (SQL, an autoflush hint); say what and where in one line.
            first = next((line for line in str(error).splitlines() if line.strip()), "")
            raise DatasetError(
                f"MLflow could not record training run {data.kedro_run_id} in the tracking store {self._tracking_uri} "
                f"(artifacts: {self._artifact_location or 'the server default'}): {type(error).__name__}: {first}"
            ) from error

    def _log_variant(self, variant: VariantResult, publication: Publication, experiment_id: str):
        tags = {key: str(value) for key, value in publication.tags.items()}
        tags.update(kedro_run_id=publication.kedro_run_id, variant=variant.variant,
                    feature_set=variant.feature_set, training_window=publication.training_window)
        if publication.git_commit:
            tags["git_commit"] = publication.git_commit
        with mlflow.start_run(experiment_id=experiment_id, run_name=variant.variant, tags=tags) as run:
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
        return run.info.run_id, model_info

    def _register(self, client: mlflow.MlflowClient, publication: Publication, run_id: str, model_info) -> None:
        name = self._model_name
        if self._registered(client) is None:
            client.create_registered_model(name)
        previous = dict(client.get_registered_model(name).aliases)
        chosen = next(v for v in publication.variants if v.variant == publication.challenger)
        decided_at = publication.decided_at.isoformat()
        tags = {
            "variant": chosen.variant,
            "feature_set": chosen.feature_set,
            "kedro_run_id": publication.kedro_run_id,
            "mlflow_run_id": run_id,
            "trained_at": publication.trained_at.isoformat(),
            "training_window": publication.training_window,
            "decided_at": decided_at,
            "decision": "promoted" if publication.promote else "not_promoted",
            "reason": publication.reason,
        }
        version = str(client.create_model_version(
            name, source=model_info.model_uri, run_id=run_id, tags=tags, model_id=model_info.model_id
        ).version)
        if not publication.promote:
            client.set_registered_model_alias(name, "challenger", version)
            return
        client.set_registered_model_alias(name, "champion", version)
        if "challenger" in previous:
            client.delete_registered_model_alias(name, "challenger")
        retired = previous.get("champion")
        if retired is not None and str(retired) != version:
            client.set_model_version_tag(name, str(retired), "retired_by_version", version)
            client.set_model_version_tag(name, str(retired), "retired_at", decided_at)

    def _versions(self, client: mlflow.MlflowClient, registered) -> pd.DataFrame:
        rows = []
        if registered is not None:
            # Search results carry no aliases in MLflow 3; the registered model has them all.
            aliases: dict[str, list[str]] = {}
            for alias, version in registered.aliases.items():
                aliases.setdefault(str(version), []).append(alias)
            for mv in self._all_versions(client):
                tag = mv.tags.get
                rows.append([
                    self._model_name, str(mv.version), tag("variant"), tag("feature_set"),
                    ",".join(sorted(aliases[str(mv.version)])) if str(mv.version) in aliases else None,
                    mv.run_id or tag("mlflow_run_id"), tag("kedro_run_id"), tag("trained_at"), tag("training_window"),
                    tag("decision"), tag("reason"), tag("decided_at"), tag("retired_by_version"),
                ])
        frame = pd.DataFrame(rows, columns=REGISTRY_COLUMNS)
        frame = frame.sort_values("MODEL_VERSION", key=lambda v: v.astype(int), ignore_index=True)
        for column in ("TRAINED_AT", "DECIDED_AT"):
            frame[column] = pd.to_datetime(frame[column], format="ISO8601")
        return frame

    def _all_versions(self, client: mlflow.MlflowClient) -> list:
        versions, token = [], None
        while True:
            page = client.search_model_versions(f"name='{self._model_name}'", page_token=token)
            versions.extend(page)
            token = page.token
            if not token:
                return versions

    def _registered(self, client: mlflow.MlflowClient):
        try:
            return client.get_registered_model(self._model_name)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise

    def _experiment_id(self, client: mlflow.MlflowClient) -> str:
        if self._artifact_dir is not None:
            self._artifact_dir.mkdir(parents=True, exist_ok=True)
        experiment = client.get_experiment_by_name(self._experiment_name)
        if experiment is None:
            # Without an explicit location MLflow would put artifacts in ./mlruns of the working directory.
            return client.create_experiment(self._experiment_name, artifact_location=self._artifact_location)
        if experiment.lifecycle_stage == "deleted":
            client.restore_experiment(experiment.experiment_id)
        if self._artifact_location and experiment.artifact_location.rstrip("/") != self._artifact_location.rstrip("/"):
            logger.warning("Experiment %s keeps its artifacts in %s, not %s (fixed when it was created)",
                           self._experiment_name, experiment.artifact_location, self._artifact_location)
        return experiment.experiment_id

    def _client(self) -> mlflow.MlflowClient:
        for uri in {self._tracking_uri, self._registry_uri}:
            if (path := _sqlite_file(uri)) is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
        return mlflow.MlflowClient(tracking_uri=self._tracking_uri, registry_uri=self._registry_uri)

    @contextmanager
    def _global_uris(self) -> Iterator[None]:
        # Run logging and models:/ loading only use the global URIs; put back exactly what was there
        # (including "unset", which the public getters cannot tell from the default).
        environment = {name: os.environ.get(name) for name in _URI_ENV}
        tracking, registry = tracking_utils._tracking_uri, registry_utils._registry_uri
        mlflow.set_tracking_uri(self._tracking_uri)
        mlflow.set_registry_uri(self._registry_uri)
        try:
            yield
        finally:
            mlflow.set_tracking_uri(tracking)
            mlflow.set_registry_uri(registry)
            for name, value in environment.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def _exists(self) -> bool:
        registered = self._registered(self._client())
        return registered is not None and (self._alias is None or self._alias in registered.aliases)

    def _describe(self) -> dict[str, Any]:
        return {"tracking_uri": self._tracking_uri, "registry_uri": self._registry_uri,
                "model_name": self._model_name, "alias": self._alias}


def _check(publication: Publication) -> None:
    names = [variant.variant for variant in publication.variants]
    if len(set(names)) != len(names):
        raise DatasetError(f"Variant names must be unique (they name the MLflow runs): {names}")
    chosen = [v for v in publication.variants if v.variant == publication.challenger]
    if not chosen or chosen[0].model is None:
        raise DatasetError(f"Challenger {publication.challenger!r} must be one of the variants {names} and have a model")


def _metric_values(metrics: pd.DataFrame) -> dict[str, float]:
    values = pd.to_numeric(metrics["VALUE"], errors="coerce")
    keys = metrics["SPLIT"].astype(str) + "_" + metrics["METRIC"].astype(str)
    return {key: float(value) for key, value in zip(keys, values) if pd.notna(value)}


def _log_model(variant: VariantResult):
    signature = None
    if variant.input_example is not None:
        signature = infer_signature(variant.input_example, variant.model.predict_proba(variant.input_example)[:, 1])
    # cloudpickle: skops refuses HistGradientBoosting and our own pipeline classes unless each type is
    # listed as trusted (ARCHITECTURE §4), so MLflow's warning about the choice is only noise here.
    # Explicit requirements: inferring them starts a subprocess that reloads the model (~3 s a model).
    def quiet(record: logging.LogRecord) -> bool:
        return "pickle or cloudpickle format" not in record.getMessage()

    sklearn_logger = logging.getLogger("mlflow.sklearn")
    sklearn_logger.addFilter(quiet)
    try:
        return mlflow.sklearn.log_model(
            variant.model, name="model", signature=signature, serialization_format="cloudpickle",
            pip_requirements=mlflow.sklearn.get_default_pip_requirements(include_cloudpickle=True),
        )
    finally:
        sklearn_logger.removeFilter(quiet)


def _sqlite_file(uri: str) -> Path | None:
    # sqlite:////abs/file.db is absolute; sqlite:///rel/file.db is relative to the working directory.
    if not uri.startswith("sqlite:///"):
        return None
    path = uri.removeprefix("sqlite:///").split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def _artifact_location(location: str | None) -> tuple[str | None, Path | None]:
    """The experiment's artifact URI, and the local folder behind it (None for remote stores;
    no location at all where the tracking server decides, as on Databricks)."""
    if not location:
        return None, None
    parsed = urlparse(location)
    if parsed.scheme == "file":
        folder = Path(url2pathname(parsed.path))
    elif len(parsed.scheme) <= 1:  # a plain path (one letter: a Windows drive)
        folder = Path(location)
    else:
        return location, None
    folder = folder.expanduser().resolve()
    return folder.as_uri(), folder
