"""The ``monitoring`` pipeline, after scoring: backfill → realised performance, drift → retraining
signal → REPORTING.V_MODEL_MONITORING.

    ML.CUSTOMER_CHURN_SCORE_BACKFILL   backfill_scores       (realised.py)
    ML.MODEL_PERFORMANCE_REALISED      realised_performance  (realised.py)
    ML.MODEL_DRIFT                     model_drift           (drift.py)
    ML.RETRAINING_SIGNAL               retraining_signal     (signal.py)
    REPORTING.V_MODEL_MONITORING       v_model_monitoring    (reporting/views.py)

The alert hook tells chat when ML.RETRAINING_SIGNAL is saved with a newly raised recommendation.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from retail_control_tower.pipelines.monitoring import drift, realised, signal
from retail_control_tower.pipelines.reporting import views


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                realised.backfill_scores,
                ["ML_CUSTOMER_FEATURES", "champion_model", "ML_MODEL_REGISTRY", "params:scoring", "params:monitoring.backfill", "run_context",
                 "validated_model"],
                "ML_CUSTOMER_CHURN_SCORE_BACKFILL",
                name="backfill_scores",
            ),
            Node(
                realised.realised_performance,
                {
                    "scores": "ML_CUSTOMER_CHURN_SCORE",
                    "legacy": "ML_CUSTOMER_CHURN_SCORE_LEGACY",
                    "backfill": "ML_CUSTOMER_CHURN_SCORE_BACKFILL",
                    "order_lines": "MODEL_FCT_ORDER_LINE",
                    "snapshots": "ML_FEATURE_SNAPSHOTS",
                    "model_metrics": "ML_MODEL_METRICS",
                    "done": "prior_ML_MODEL_PERFORMANCE_REALISED",
                    "oracle": "monitoring_churn_oracle",
                    "run_context": "run_context",
                    "registry": "ML_MODEL_REGISTRY",
                },
                "ML_MODEL_PERFORMANCE_REALISED",
                name="realised_performance",
            ),
            Node(
                drift.model_drift,
                ["ML_CUSTOMER_FEATURES", "ML_CUSTOMER_CHURN_SCORE", "champion_model", "ML_MODEL_REGISTRY", "ML_MODEL_METRICS",
                 "params:monitoring.drift", "run_context"],
                "ML_MODEL_DRIFT",
                name="model_drift",
            ),
            Node(
                signal.retraining_signal,
                ["ML_MODEL_PERFORMANCE_REALISED", "ML_MODEL_DRIFT", "champion_model", "params:monitoring.signal", "run_context", "ML_MODEL_REGISTRY",
                 "prior_ML_RETRAINING_SIGNAL"],
                "ML_RETRAINING_SIGNAL",
                name="retraining_signal",
            ),
            Node(
                views.v_model_monitoring,
                ["ML_MODEL_PERFORMANCE_REALISED", "ML_MODEL_DRIFT", "ML_RETRAINING_SIGNAL"],
                "REPORTING_V_MODEL_MONITORING",
                name="v_model_monitoring",
            ),
        ]
    )
