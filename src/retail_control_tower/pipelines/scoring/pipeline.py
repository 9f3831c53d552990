"""The ``scoring`` pipeline: champion from the registry → ML.CUSTOMER_CHURN_SCORE (+ the legacy rule's)."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from retail_control_tower.pipelines.scoring import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                nodes.score_customers,
                ["ML_CUSTOMER_FEATURES", "champion_model", "ML_MODEL_REGISTRY", "params:scoring", "run_context"],
                "ML_CUSTOMER_CHURN_SCORE",
                name="score_customers",
            ),
            Node(
                nodes.score_legacy,
                ["ML_CUSTOMER_FEATURES", "params:scoring", "run_context"],
                "ML_CUSTOMER_CHURN_SCORE_LEGACY",
                name="score_legacy",
            ),
        ]
    )
