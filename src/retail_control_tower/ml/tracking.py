"""MLflow for the runs and sessions that use it, through kedro-mlflow's hook."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline
from kedro_mlflow.framework.hooks import MlflowHook
from sqlalchemy.engine import make_url

from retail_control_tower.datasets.mlflow_registry import AliasedModelDataset, ModelVersionsDataset

logger = logging.getLogger(__name__)
MLFLOW_DATASETS = (AliasedModelDataset, ModelVersionsDataset)


class MlflowUnavailableError(RuntimeError):
    """MLflow's stores of this environment could not be set up (conf/<env>/mlflow.yml)."""


class MlflowTrackingHook:
    """kedro-mlflow's ``MlflowHook`` (tracking and registry URIs and the experiment from
    ``conf/<env>/mlflow.yml``, one MLflow run per Kedro run, the nodes' parameters logged to it),
    engaged only where MLflow is used.

    Registered here instead of as a plugin (settings: ``DISABLE_HOOKS_FOR_PLUGINS``): the plugin
    sets MLflow up whenever a Kedro context is created, which creates a new local SQLite store
    (MLflow's schema migrations) for every session, ingest-only ones included, and contacts
    Databricks from every command of dev and prod, ``retail-control-tower-sql`` included.

    - A run whose pipeline reads the registry (an MLflow dataset of this module's list) sets MLflow
      up when it starts and is an MLflow run. A failure there (Databricks unreachable, no
      credentials) is raised by the first MLflow dataset the run loads, inside the run's error
      handling (run log, alerts), so the run's first real problem is the one reported.
    - A session on a local store that exists already (a notebook in the read-only ``notebook``
      environment) is set up when its context is created, so ``catalog.load`` reads that store.
    """

    def __init__(self) -> None:
        self._context = None
        self._hook: MlflowHook | None = None
        self._error: Exception | None = None
        self._run_hook: MlflowHook | None = None
        self._run_datasets: set[str] = set()

    @hook_impl
    def after_context_created(self, context) -> None:
        self._context, self._hook, self._error = context, None, None
        if _existing_local_store(_server(context)):
            self._set_up()

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog) -> None:
        self._run_hook = None
        self._run_datasets = _mlflow_datasets(pipeline, catalog)
        if not self._run_datasets:
            return
        if self._hook is None and self._error is None:
            self._set_up()
        if self._hook is None:
            return
        try:
            self._hook.before_pipeline_run(run_params=run_params, pipeline=pipeline, catalog=catalog)
        except Exception as error:  # raised here it would escape the run's error handling
            self._fail(error)
            return
        self._run_hook = self._hook

    @hook_impl
    def before_dataset_loaded(self, dataset_name: str, node) -> None:
        if self._error is not None and dataset_name in self._run_datasets:
            raise MlflowUnavailableError(
                f"MLflow could not be set up from conf/{self._context.env or 'local'}/mlflow.yml: "
                f"{type(self._error).__name__}: {self._error}"
            ) from self._error

    @hook_impl
    def before_node_run(self, node, catalog, inputs: dict[str, Any], is_async: bool) -> None:
        if self._run_hook is not None:
            self._run_hook.before_node_run(node=node, catalog=catalog, inputs=inputs, is_async=is_async)

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog) -> None:
        if self._run_hook is not None:
            self._run_hook.after_pipeline_run(run_params=run_params, pipeline=pipeline, catalog=catalog)
            self._run_hook = None

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], pipeline: Pipeline, catalog) -> None:
        if self._run_hook is not None:
            self._run_hook.on_pipeline_error(error=error, run_params=run_params, pipeline=pipeline, catalog=catalog)
            self._run_hook = None

    def _set_up(self) -> None:
        hook = MlflowHook()
        try:
            hook.after_context_created(context=self._context)
        except Exception as error:
            self._fail(error)
            return
        self._hook = hook

    def _fail(self, error: Exception) -> None:
        self._error = error
        logger.error("MLflow could not be set up: %s: %s", type(error).__name__, error)


def _server(context) -> dict[str, Any]:
    try:
        return dict(context.config_loader["mlflow"].get("server") or {})
    except Exception:  # no mlflow.yml: kedro-mlflow's defaults, set up by a run that needs them
        return {}


def _existing_local_store(server: dict[str, Any]) -> bool:
    """Whether both stores are SQLite files that exist: opening them is quick and changes nothing."""
    uris = {server.get("mlflow_tracking_uri"), server.get("mlflow_registry_uri") or server.get("mlflow_tracking_uri")}
    return all(uri and _sqlite_file(uri) is not None and _sqlite_file(uri).is_file() for uri in uris)


def _sqlite_file(uri: str) -> Path | None:
    if not uri.startswith("sqlite"):
        return None
    url = make_url(uri)
    database = url.database or ""
    if url.query.get("uri") == "true":  # SQLite's URI form: file:<path>?mode=ro
        database = database.removeprefix("file:")
    return Path(database) if database and database != ":memory:" else None


def _mlflow_datasets(pipeline: Pipeline, catalog) -> set[str]:
    names = set()
    for name in pipeline.datasets():
        if name.startswith("params:") or name == "parameters" or name not in catalog:
            continue
        if isinstance(catalog.get(name), MLFLOW_DATASETS):
            names.add(name)
    return names
