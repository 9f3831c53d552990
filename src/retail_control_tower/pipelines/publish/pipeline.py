"""The ``publish`` pipeline: after a good run, refresh Power BI and run the Alteryx workflows.

Off by default (``publish.enabled``). Its first node reads the DQ gate's rows, the champion and
the scores, so it runs after them and never after a failed gate (the gate stops the run). Run
alone (``kedro run --pipeline publish``) it publishes the latest good state in the warehouse; in
the default run the registry adds this run's scoring outcome and the report
(:func:`readiness` with ``in_full_run``), so it is the last step.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from retail_control_tower.pipelines.publish import nodes

READINESS_INPUTS = {
    "params": "params:publish",
    "gate": "OPS_DQ_GATE",
    "dq_results": "OPS_DQ_RESULTS",
    "champion": "REPORTING_V_CHAMPION_MODEL",
    "scores": "REPORTING_V_LATEST_CHURN_SCORES",
    "run_context": "run_context",
}


def readiness(in_full_run: bool = False) -> Pipeline:
    """The node that decides whether there is a good state to publish; in a full run it also
    judges this run's scoring outcome and waits for the report."""
    inputs = dict(READINESS_INPUTS)
    if in_full_run:
        inputs.update(scoring_outcome="scoring_outcome", report="control_tower_report")
    return Pipeline([Node(nodes.check_publish_ready, inputs, "publish_state", name="check_publish_ready")])


def create_pipeline(**kwargs) -> Pipeline:
    return readiness() + Pipeline(
        [
            Node(
                nodes.refresh_power_bi,
                ["publish_state", "params:publish", "powerbi_service_principal"],
                "publish_power_bi_outcomes",
                name="refresh_power_bi",
            ),
            Node(
                nodes.trigger_alteryx,
                ["publish_state", "params:publish", "alteryx_server_api"],
                "publish_alteryx_outcomes",
                name="trigger_alteryx",
            ),
            Node(
                nodes.record_publish,
                ["publish_state", "publish_power_bi_outcomes", "publish_alteryx_outcomes", "run_context"],
                "OPS_PUBLISH_LOG",
                name="record_publish",
            ),
            Node(nodes.require_published, ["OPS_PUBLISH_LOG", "run_context"], None, name="require_published"),
        ]
    )
