"""Cross-cutting work of a run: the run context handed to nodes and the warehouse schemas."""

from __future__ import annotations

import functools
import logging
import subprocess
from datetime import datetime
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline
from kedro_datasets.ibis import TableDataset

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
            schema = getattr(dataset, "_database", None)
            if not isinstance(dataset, TableDataset) or not schema:
                continue
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
