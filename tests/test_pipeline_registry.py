"""The ingest stages as pipelines of their own, ``after_bronze``, and a table's node found from its name."""

from __future__ import annotations

import re

from conftest import PROJECT
from kedro.framework.project import pipelines
from kedro.framework.startup import bootstrap_project

STAGES = ("bronze", "silver", "model", "gold")
PIPELINES = PROJECT / "src" / "retail_control_tower" / "pipelines"


def _names(name: str) -> set[str]:
    return {node.name for node in pipelines[name].nodes}


def test_ingest_is_its_four_stages_and_each_stage_writes_only_its_layer():
    bootstrap_project(PROJECT)
    assert _names("ingest") == set().union(*(_names(stage) for stage in STAGES))
    for stage in STAGES:
        layers = {output.split("_")[0].upper() for node in pipelines[stage].nodes for output in node.outputs}
        assert layers <= {stage.upper(), "OPS"}, (stage, layers)


def test_after_bronze_runs_silver_to_reporting_and_monitoring_without_bronze_or_training():
    bootstrap_project(PROJECT)
    expected = set().union(*(_names(name) for name in ("silver", "model", "gold", "dq", "features", "scoring", "monitoring", "reporting")))
    after_bronze = _names("after_bronze")
    assert after_bronze == expected
    assert not after_bronze & (_names("bronze") | _names("train_eval"))
    # Without a champion the run fails only after the report that says why.
    order = [node.name for node in pipelines["after_bronze"].nodes]
    assert order.index("require_champion") > order.index("build_report")


def test_a_run_of_after_bronze_or_ingest_alone_loads_what_it_needs():
    """`kedro run --pipelines after_bronze` loads only the packages it names (Kedro's filter)."""
    bootstrap_project(PROJECT)
    expected = {name: _names(name) for name in ("after_bronze", "ingest")}
    try:
        for name, nodes in expected.items():
            pipelines.set_requested([name])
            assert {node.name for node in pipelines[name].nodes} == nodes
    finally:
        pipelines.set_requested(None)


def test_every_stage_node_is_named_in_its_pipeline_module_with_the_table_it_writes():
    """``grep apply_silver_order_items`` finds the node in one step, and the module says which table it writes."""
    bootstrap_project(PROJECT)
    for stage in STAGES:
        source = (PIPELINES / stage / "pipeline.py").read_text()
        for node in pipelines[stage].nodes:
            assert re.search(rf"\b{node.name}\b", source), (stage, node.name)
            for output in (o for o in node.outputs if o.split("_")[0].isupper()):  # the warehouse tables it writes
                schema, table = output.split("_", 1)
                assert f"{schema}.{table}" in source, (stage, node.name, output)
