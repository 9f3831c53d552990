"""The run log: one row per run in OPS.PIPELINE_RUN_LOG, one per node in OPS.NODE_RUN_LOG.

Modelled on what dbt's ``run_results.json`` records: what ran, when, for how long, with what
result, from which code and configuration. A run is recorded as ``running`` when it starts and
its row is replaced by the outcome when it ends, so a run killed half-way stays visible (the
REPORTING view calls it abandoned once it is stale). A failed run is recorded as failed with its
error; when the warehouse itself cannot take the rows (the connection is the failure, or another
run holds the warehouse), they go to a local JSON-lines file instead, and the next run that can
write the warehouse moves them into the log.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.operations as ops
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa
import sqlglot as sg
import sqlglot.expressions as sge
from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline

from retail_control_tower.hooks import git_commit

logger = logging.getLogger(__name__)

PIPELINE_RUN_LOG = ibis.schema(
    {
        "RUN_ID": "string", "PIPELINES": "string", "ENV": "string", "STARTED_AT": "timestamp",
        "FINISHED_AT": "timestamp", "DURATION_SECONDS": "float64", "STATUS": "string", "ERROR_CLASS": "string",
        "ERROR_MESSAGE": "string", "FAILED_NODE": "string", "NODES_RUN": "int64", "GIT_COMMIT": "string",
        "PACKAGE_VERSION": "string", "KEDRO_VERSION": "string", "PARAMETERS_HASH": "string", "RUN_USER": "string",
    }
)
NODE_RUN_LOG = ibis.schema(
    {
        "RUN_ID": "string", "NODE_NAME": "string", "STARTED_AT": "timestamp", "FINISHED_AT": "timestamp",
        "DURATION_SECONDS": "float64", "STATUS": "string", "ROWS_WRITTEN": "int64", "OUTPUTS": "string",
        "ERROR_MESSAGE": "string",
    }
)
FALLBACK_FILE = "08_reporting/run_log_fallback.jsonl"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _rows(value: Any) -> int | None:
    """Rows of an output when they are known without querying the warehouse again."""
    if isinstance(value, pd.DataFrame):
        return len(value)
    if not isinstance(value, ir.Table):
        return None
    # An Ibis table over one in-memory frame (the nodes' pandas results), only projected or
    # cast: its row count is the frame's. Warehouse expressions would need another query.
    op = value.op()
    frames = op.find(ops.InMemoryTable)
    if len(frames) != 1 or op.find((ops.Filter, ops.Aggregate, ops.JoinChain, ops.Limit, ops.Union, ops.Distinct)):
        return None
    return len(frames[0].data.to_frame())


def parameters_hash(parameters: dict[str, Any]) -> str:
    """A short, stable fingerprint of every parameter value the run used."""
    canonical = json.dumps(parameters, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass
class _Run:
    run_id: str
    pipelines: str
    env: str
    started_at: datetime
    parameters_hash: str
    git_commit: str | None
    clock: float = field(default_factory=time.perf_counter)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    node_clocks: dict[str, tuple[datetime, float]] = field(default_factory=dict)
    # Nodes whose function returned but whose outputs are still being saved: node, rows, unsaved outputs.
    unsaved: dict[str, tuple[Any, int | None, set[str]]] = field(default_factory=dict)


class RunLogHook:
    """Records every run and node; writes the rows when the run ends, however it ends."""

    def __init__(self, default_pipelines: tuple[str, ...] = ()) -> None:
        self._default_pipelines = default_pipelines
        self._run: _Run | None = None
        self._data_dir = Path("data")

    @hook_impl
    def after_context_created(self, context) -> None:
        self._data_dir = Path(context.config_loader["globals"].get("data_dir", "data"))

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog) -> None:
        names = run_params.get("pipeline_names") or [run_params.get("pipeline_name") or "__default__"]
        expanded = [part for name in names for part in (self._default_pipelines if name == "__default__" else (name,))]
        try:
            parameters = catalog.load("parameters")
        except Exception:  # a catalog without parameters still gets a run log
            parameters = {}
        self._run = _Run(
            run_id=run_params["run_id"],
            pipelines=",".join(expanded),
            env=run_params.get("env") or "local",
            started_at=datetime.now().replace(microsecond=0),
            parameters_hash=parameters_hash(parameters),
            git_commit=git_commit(run_params.get("project_path")),
        )
        try:  # the REPORTING views read the log, so it exists from the first run on
            runs, node_log = self._ensure_tables(catalog)
            self._import_fallback(runs, node_log)
            runs.save(_typed([self._summary(self._run, "running", None, finished=False)], PIPELINE_RUN_LOG))
        except Exception as error:  # a broken warehouse fails the run in its nodes, not here
            logger.warning("Run log tables could not be prepared: %s: %s", type(error).__name__, error)

    def record_refusal(self, run_params: dict[str, Any], error: Exception) -> None:
        """A run refused before it started (another run holds the warehouse): recorded in the
        fallback file, which the next run that gets the warehouse moves into the log."""
        run = _Run(
            run_id=run_params["run_id"], pipelines=",".join(run_params.get("pipeline_names") or ["__default__"]),
            env=run_params.get("env") or "local", started_at=datetime.now().replace(microsecond=0),
            parameters_hash="", git_commit=git_commit(run_params.get("project_path")),
        )
        self.record_elsewhere(self._summary(run, "refused", error), [], "another run holds the warehouse", quiet=True)

    @hook_impl
    def before_node_run(self, node) -> None:
        if self._run:
            self._run.node_clocks[node.name] = (datetime.now(), time.perf_counter())

    @hook_impl
    def after_node_run(self, node, outputs: dict[str, Any]) -> None:
        """The node's function has returned; its warehouse work happens when its outputs are saved."""
        if not self._run:
            return
        known = [_rows(value) for value in outputs.values()]
        rows = sum(r for r in known if r is not None) if any(r is not None for r in known) else None
        if node.outputs:
            self._run.unsaved[node.name] = (node, rows, set(node.outputs))
        else:
            self._node_done(node, rows)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, node) -> None:
        """A node is done, and timed, when its last output is saved: an Ibis node only builds a
        query, which the warehouse runs when the table is written."""
        if not self._run or node is None or node.name not in self._run.unsaved:
            return
        _, rows, unsaved = self._run.unsaved[node.name]
        unsaved.discard(dataset_name)
        if not unsaved:
            del self._run.unsaved[node.name]
            self._node_done(node, rows)

    def _node_done(self, node, rows: int | None) -> None:
        record = self._node_record(node, "success", rows=rows)
        logger.info(
            "Node %s finished in %.1f s%s", node.name, record["DURATION_SECONDS"],
            f" ({rows:,} rows written)" if rows is not None else "",
        )

    @hook_impl
    def on_node_error(self, error: Exception, node) -> None:
        if self._run:
            self._node_record(node, "failed", error=f"{type(error).__name__}: {error}")

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], catalog) -> None:
        self._finish(catalog, "success", None)

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], catalog) -> None:
        self._finish(catalog, "failed", error)

    def _node_record(self, node, status: str, rows: int | None = None, error: str | None = None) -> dict[str, Any]:
        started, clock = self._run.node_clocks.pop(node.name, (datetime.now(), time.perf_counter()))
        record = {
            "RUN_ID": self._run.run_id, "NODE_NAME": node.name, "STARTED_AT": started.replace(microsecond=0),
            "FINISHED_AT": datetime.now().replace(microsecond=0), "DURATION_SECONDS": round(time.perf_counter() - clock, 3),
            "STATUS": status, "ROWS_WRITTEN": rows, "OUTPUTS": ",".join(node.outputs), "ERROR_MESSAGE": error,
        }
        self._run.nodes.append(record)
        return record

    def _finish(self, catalog, status: str, error: Exception | None) -> None:
        if self._run is not None and error is not None:
            # A node that failed while its outputs were saved (the query itself failed) has no
            # record yet: it is the failed node.
            for node, _, _ in list(self._run.unsaved.values()):
                del self._run.unsaved[node.name]
                self._node_record(node, "failed", error=f"{type(error).__name__}: {error}")
        run, self._run = self._run, None
        if run is None:
            return
        summary = self._summary(run, status, error)
        try:
            self._write(catalog, summary, run.nodes)
        except Exception as write_error:  # the warehouse may be what failed; never lose the record
            self.record_elsewhere(summary, run.nodes, write_error)

    def record_elsewhere(self, summary: dict[str, Any], nodes: list[dict[str, Any]], write_error: Exception | str, quiet: bool = False) -> Path:
        """Appends a run's record to the fallback file, for the next run to move into the log."""
        path = self._data_dir / FALLBACK_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"run": summary, "nodes": nodes, "warehouse_error": str(write_error)}, default=str) + "\n")
        if quiet:
            return path
        logger.warning(
            "Run %s (%s) could not be recorded in OPS.PIPELINE_RUN_LOG (%s); recorded in %s instead.",
            summary["RUN_ID"], summary["STATUS"], write_error, path,
        )
        return path

    @staticmethod
    def _summary(run: _Run, status: str, error: Exception | None, finished: bool = True) -> dict[str, Any]:
        failed = next((n["NODE_NAME"] for n in run.nodes if n["STATUS"] == "failed"), None)
        return {
            "RUN_ID": run.run_id, "PIPELINES": run.pipelines, "ENV": run.env, "STARTED_AT": run.started_at,
            "FINISHED_AT": datetime.now().replace(microsecond=0) if finished else None,
            "DURATION_SECONDS": round(time.perf_counter() - run.clock, 3) if finished else None,
            "STATUS": status, "ERROR_CLASS": type(error).__name__ if error else None,
            "ERROR_MESSAGE": str(error)[:4000] if error else None, "FAILED_NODE": failed,
            "NODES_RUN": sum(n["STATUS"] == "success" for n in run.nodes), "GIT_COMMIT": run.git_commit,
            "PACKAGE_VERSION": _version("retail-control-tower"), "KEDRO_VERSION": _version("kedro"),
            "PARAMETERS_HASH": run.parameters_hash, "RUN_USER": getpass.getuser(),
        }

    def _import_fallback(self, runs, node_log) -> None:
        """Moves the records of runs that could not write the warehouse into the log."""
        path = self._data_dir / FALLBACK_FILE
        if not path.exists() or not path.stat().st_size:
            return
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        summaries = [{**r["run"], "STARTED_AT": _timestamp(r["run"]["STARTED_AT"]), "FINISHED_AT": _timestamp(r["run"]["FINISHED_AT"])} for r in records]
        _replace_runs(runs, [s["RUN_ID"] for s in summaries])
        runs.save(_typed(summaries, PIPELINE_RUN_LOG))
        nodes = [
            {**n, "STARTED_AT": _timestamp(n["STARTED_AT"]), "FINISHED_AT": _timestamp(n["FINISHED_AT"])} for r in records for n in r["nodes"]
        ]
        if nodes:
            node_log.save(_typed(nodes, NODE_RUN_LOG))
        path.rename(path.with_name(f"{path.stem}.imported-{datetime.now():%Y%m%dT%H%M%S}{path.suffix}"))
        logger.info("Moved %d run record(s) from %s into OPS.PIPELINE_RUN_LOG", len(records), path)

    @staticmethod
    def _ensure_tables(catalog) -> tuple[Any, Any]:
        runs = catalog.get("OPS_PIPELINE_RUN_LOG", fallback_to_runtime_pattern=True)
        node_log = catalog.get("OPS_NODE_RUN_LOG", fallback_to_runtime_pattern=True)
        connection, schema_name = runs.connection, runs.database
        if schema_name not in connection.list_databases():
            connection.create_database(schema_name)
        existing = set(connection.list_tables(database=schema_name))
        for dataset, schema in ((runs, PIPELINE_RUN_LOG), (node_log, NODE_RUN_LOG)):
            if dataset.table_name not in existing:
                connection.create_table(dataset.table_name, schema=schema, database=schema_name)
        return runs, node_log

    @classmethod
    def _write(cls, catalog, summary: dict[str, Any], nodes: list[dict[str, Any]]) -> None:
        runs, node_log = cls._ensure_tables(catalog)
        _replace_runs(runs, [summary["RUN_ID"]])
        runs.save(_typed([summary], PIPELINE_RUN_LOG))
        if nodes:
            node_log.save(_typed(nodes, NODE_RUN_LOG))


def _timestamp(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _typed(rows: list[dict[str, Any]], schema: ibis.Schema) -> ir.Table:
    """Rows as an in-memory table typed by ``schema`` from the start: a column that is null in
    every row (FAILED_NODE of a good run) must not reach the engine untyped (Snowflake refuses
    a NULL-typed column in the table it uploads the rows to)."""
    arrow = schema.to_pyarrow()
    return ibis.memtable(pa.Table.from_pylist([{name: row.get(name) for name in schema.names} for row in rows], schema=arrow))


def _replace_runs(runs, run_ids: list[str]) -> None:
    """Deletes the log rows of these runs (the ``running`` row a run's outcome replaces)."""
    table = sg.table(runs.table_name, db=runs.database, quoted=True)
    condition = sg.column("RUN_ID", quoted=True).isin(*[sge.Literal.string(r) for r in run_ids])
    runs.connection.raw_sql(sge.Delete(this=table, where=sge.Where(this=condition)).sql(dialect=runs.connection.dialect))
