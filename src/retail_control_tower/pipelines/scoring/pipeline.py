"""The ``scoring`` pipeline: champion from the registry → ML.CUSTOMER_CHURN_SCORE (+ the legacy rule's).

``require_champion`` fails the run when there is no champion. Run alone, it follows scoring; in
the default run the registry puts it after the report (:func:`champion_check`), so the report
that explains a missing champion is written before the run fails.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from retail_control_tower.pipelines.scoring import nodes


def champion_check(*written_first: str) -> Pipeline:
    """The node that fails the run without a champion, after the datasets ``written_first``."""
    return Pipeline([Node(nodes.require_champion, ["scoring_outcome", *written_first], None, name="require_champion")])


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(nodes.latest_training_decision, "ML_MODEL_REGISTRY", "latest_training_decision", name="latest_training_decision"),
            Node(
                nodes.score_customers,
                ["ML_CUSTOMER_FEATURES", "champion_model", "latest_training_decision", "params:scoring", "run_context"],
                ["ML_CUSTOMER_CHURN_SCORE", "scoring_outcome"],
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
