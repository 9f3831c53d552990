"""Node timing in the run log: an Ibis node's work happens when its output is saved, so a node
is timed until its last output is written, and a node whose write fails is the failed node."""

from __future__ import annotations

import time

import ibis
from kedro.framework.hooks.manager import _create_hook_manager
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline
from kedro.runner import SequentialRunner

from retail_control_tower.datasets import WarehouseTableDataset
from retail_control_tower.ops.run_log import RunLogHook


class SlowDataset(MemoryDataset):
    """Saving takes as long as a warehouse write would."""

    def save(self, data) -> None:
        time.sleep(0.5)
        super().save(data)


def _table(database: str, name: str, path) -> WarehouseTableDataset:
    return WarehouseTableDataset(
        table_name=name, database=database, connection={"backend": "duckdb", "database": str(path)},
        save_args={"materialized": "table", "mode": "overwrite"},
    )


def _run(tmp_path, pipeline: Pipeline, catalog: DataCatalog) -> tuple[RunLogHook, Exception | None]:
    hook = RunLogHook()
    hook._data_dir = tmp_path
    manager = _create_hook_manager()
    manager.register(hook)
    run_params = {"run_id": "2026-11-26T10.00.00.000Z", "pipeline_names": ["timing"], "env": "test"}
    hook.before_pipeline_run(run_params=run_params, pipeline=pipeline, catalog=catalog)
    try:
        SequentialRunner().run(pipeline, catalog, manager, run_id=run_params["run_id"])
    except Exception as error:  # what the session does on a failed run
        hook.on_pipeline_error(error=error, run_params=run_params, catalog=catalog)
        return hook, error
    hook.after_pipeline_run(run_params=run_params, catalog=catalog)
    return hook, None


def _catalog(path, **datasets) -> DataCatalog:
    return DataCatalog(
        {
            "OPS_PIPELINE_RUN_LOG": _table("OPS", "PIPELINE_RUN_LOG", path),
            "OPS_NODE_RUN_LOG": _table("OPS", "NODE_RUN_LOG", path),
            **datasets,
        }
    )


def _nodes(path) -> dict[str, tuple]:
    con = ibis.duckdb.connect(str(path))
    rows = con.raw_sql("SELECT NODE_NAME, STATUS, DURATION_SECONDS, ERROR_MESSAGE, OUTPUTS FROM OPS.NODE_RUN_LOG").fetchall()
    con.disconnect()
    return {name: (status, seconds, error, outputs) for name, status, seconds, error, outputs in rows}


def test_a_node_is_timed_until_its_outputs_are_saved(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    catalog = _catalog(path, slow=SlowDataset(), quick=MemoryDataset())
    pipeline = Pipeline([
        Node(lambda: ibis.memtable({"A": [1]}), None, "slow", name="builds_a_query"),
        Node(lambda table: 1, "slow", "quick", name="reads_it"),
    ])
    _, error = _run(tmp_path, pipeline, catalog)
    assert error is None
    nodes = _nodes(path)
    assert nodes["builds_a_query"][0] == "success"
    assert nodes["builds_a_query"][1] >= 0.5  # the save is part of the node's time
    assert nodes["reads_it"][1] < 0.5


def test_a_node_whose_write_fails_is_the_failed_node(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    catalog = _catalog(path, bad=_table("main", "BAD", path))
    # The query is only run by the save, where casting text to a number fails.
    pipeline = Pipeline([Node(lambda: ibis.memtable({"A": ["x"]}).select(N=ibis._.A.cast("int64")), None, "bad", name="writes_bad")])
    _, error = _run(tmp_path, pipeline, catalog)
    assert error is not None
    con = ibis.duckdb.connect(str(path))
    status, failed_node = con.raw_sql("SELECT STATUS, FAILED_NODE FROM OPS.PIPELINE_RUN_LOG").fetchall()[0]
    con.disconnect()
    assert (status, failed_node) == ("failed", "writes_bad")
    con = ibis.duckdb.connect(str(path))
    assert con.raw_sql("SELECT COUNT(*) FROM OPS.NODE_RUN_LOG WHERE NODE_NAME = 'writes_bad'").fetchone()[0] == 1
    con.disconnect()
    failed = _nodes(path)["writes_bad"]
    assert failed[0] == "failed"
    assert "x" in failed[2]
    assert failed[3] == "bad"
