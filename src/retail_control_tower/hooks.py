"""Cross-cutting work of a run: the run context handed to nodes, the warehouse schemas, and
settings that moved (a value left at its old place would be ignored without a word)."""

from __future__ import annotations

import functools
import logging
import subprocess
from datetime import datetime
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline

from retail_control_tower.contracts import check_entities
from retail_control_tower.datasets.warehouse_table import WarehouseTableDataset

logger = logging.getLogger(__name__)

#: Name of the in-memory input through which nodes receive the run id, environment and start time.
RUN_CONTEXT = "run_context"


class RunContextHook:
    """Hands every node that asks for ``run_context`` the id, environment and start of this run.

    Bronze rows carry the run id as ``LOAD_ID`` and DQ results as ``RUN_ID``, which ties every
    warehouse row to the run log. The start time is taken once so all rows of a run agree; it is
    the machine's local wall-clock time without a zone, the convention of the source files'
    timestamps it is compared with (future dates, freshness).
    """

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog) -> None:
        if RUN_CONTEXT not in pipeline.inputs():
            return
        catalog[RUN_CONTEXT] = {
            "run_id": run_params["run_id"],
            "env": run_params["env"] or "local",
            "started_at": datetime.now().replace(microsecond=0),
            "git_commit": git_commit(run_params.get("project_path")),
        }


@functools.lru_cache(maxsize=8)
def git_commit(project_path: str | None) -> str | None:
    """The commit the project runs from, or None outside a git checkout (e.g. a packaged run)."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=project_path or None, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


class WarehouseSchemasHook:
    """Creates the warehouse schemas (BRONZE, SILVER, ...) that the run's tables live in.

    The schemas come from the ``database`` of each warehouse dataset the pipeline touches, so a
    new layer needs no code change. Creation is idempotent (``IF NOT EXISTS``).
    """

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog) -> None:
        try:
            self._create_schemas(pipeline, catalog)
        except Exception as error:
            # Raised here, the failure would escape the run's error handling (no failed run in
            # the run log, no alert); the first node that touches the warehouse fails instead.
            logger.error("Warehouse schemas could not be created: %s: %s", type(error).__name__, error)

    @staticmethod
    def _create_schemas(pipeline: Pipeline, catalog) -> None:
        created: set[tuple[int, str]] = set()
        for name in sorted(pipeline.datasets()):
            if name == RUN_CONTEXT or name.startswith("params:") or name == "parameters":
                continue
            dataset = catalog.get(name, fallback_to_runtime_pattern=True)
            if not isinstance(dataset, WarehouseTableDataset) or not dataset.database:
                continue
            schema = dataset.database
            connection = dataset.connection
            key = (id(connection), schema)
            if key in created:
                continue
            # Not force=True: on DuckDB that is CREATE OR REPLACE SCHEMA, which drops the tables.
            if schema not in connection.list_databases():
                connection.create_database(schema)
            created.add(key)
        if created:
            logger.info("Warehouse schemas ready: %s", ", ".join(sorted(s for _, s in created)))


#: Settings that moved: old key → new key. The event date range and the reference time used to be
#: set twice (for ingest and for dq); they are one setting now, read by both.
RETIRED_SETTINGS = {
    "ingest.validation.min_event_date": "event_dates.min",
    "ingest.validation.max_future_days": "event_dates.max_future_days",
    "dq.value_ranges.min_event_date": "event_dates.min",
    "dq.value_ranges.max_future_days": "event_dates.max_future_days",
    "dq.value_ranges.reference_time": "event_dates.reference_time",
    "dq.freshness.reference_time": "event_dates.reference_time",
}


class RetiredSettingError(ValueError):
    """A parameter is set where the project no longer reads it."""


class RetiredSettingsHook:
    """Stops a run, before anything is loaded, when a setting is given at a place that is no
    longer read (in conf/ or with ``--params``): the run would otherwise go on with the default."""

    @hook_impl
    def after_context_created(self, context) -> None:
        parameters = context.config_loader["parameters"]
        # The input contract is checked here too, so a contradiction in it stops the run before any load.
        check_entities(_setting(parameters, "ingest.entities") or {})
        found = [(old, new) for old, new in RETIRED_SETTINGS.items() if _setting(parameters, old) is not None]
        if found:
            moves = "; ".join(f"`{old}` is now `{new}`" for old, new in found)
            raise RetiredSettingError(
                f"Parameters set where they are no longer read: {moves} (conf/base/parameters_ingest.yml, "
                "`event_dates`: one valid date range and reference time for ingest and dq alike). Move the value, "
                "e.g. --params event_dates.reference_time=1998-12-31T23:59:59; see docs/data-contract.md, 'Bring your own data'."
            )


def _setting(parameters: dict[str, Any], dotted: str) -> Any:
    value: Any = parameters
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value
