"""The ``smoke`` pipeline: checks → OPS-independent JSON record → verdict."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from retail_control_tower.pipelines.smoke import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                nodes.smoke_checks,
                ["warehouse_connection", "churn_model_registry", "params:smoke", "run_context"],
                "smoke_results",
                name="smoke_checks",
            ),
            Node(nodes.smoke_verdict, "smoke_results", None, name="smoke_verdict"),
        ]
    )
