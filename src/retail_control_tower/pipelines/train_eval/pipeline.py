"""The ``train_eval`` pipeline: labelled frame → CV and holdout → challenger → decision → MLflow → ML tables.

All or nothing: the warehouse rows of a run are written only after MLflow has recorded it (its
variant runs, the registered version, the aliases), and its ML.MODEL_REGISTRY row last. The
REPORTING views and the report read metrics, deciles and calibration only of runs in the
registry, so a run that failed half-way shows nowhere.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from retail_control_tower.pipelines.train_eval import nodes, recording


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(nodes.labelled_frame, ["ML_CUSTOMER_FEATURES", "params:train_eval"], "training_frame", name="labelled_frame"),
            Node(nodes.screen_features, ["training_frame", "params:train_eval"], "training_config", name="screen_features"),
            Node(nodes.cross_validate, ["training_frame", "training_config"], "cv_metrics", name="cross_validate"),
            Node(nodes.evaluate_holdout, ["training_frame", "training_config"], "holdout_evaluation", name="evaluate_holdout"),
            Node(nodes.choose_challenger, ["cv_metrics", "training_config"], "challenger", name="choose_challenger"),
            Node(
                nodes.decide_promotion,
                ["holdout_evaluation", "challenger", "champion_model", "training_config"],
                "promotion_decision",
                name="decide_promotion",
            ),
            Node(
                recording.build_publication,
                {
                    "cv_metrics": "cv_metrics",
                    "holdout": "holdout_evaluation",
                    "challenger": "challenger",
                    "decision": "promotion_decision",
                    "params": "training_config",
                    "run_context": "run_context",
                },
                "publication",
                name="build_publication",
            ),
            Node(recording.record_variant_runs, "publication", "variant_runs", name="publish_to_mlflow"),
            Node(
                recording.register_challenger,
                ["publication", "variant_runs", "params:model_registry"],
                "registered_version",
                name="register_challenger",
            ),
            Node(
                recording.move_aliases,
                ["publication", "registered_version", "params:model_registry"],
                "model_aliases",
                name="move_aliases",
            ),
            Node(
                recording.holdout_diagnostics,
                ["holdout_evaluation", "run_context", "model_aliases"],
                ["ML_MODEL_DECILES", "ML_MODEL_CALIBRATION"],
                name="holdout_diagnostics",
            ),
            Node(
                recording.mirror_metrics,
                ["cv_metrics", "holdout_evaluation", "churn_model_registry", "run_context", "model_aliases"],
                "ML_MODEL_METRICS",
                name="mirror_metrics",
            ),
            Node(
                recording.mirror_registry,
                ["churn_model_registry", "run_context", "ML_MODEL_METRICS", "ML_MODEL_DECILES", "ML_MODEL_CALIBRATION"],
                "ML_MODEL_REGISTRY",
                name="mirror_registry",
            ),
        ]
    )
