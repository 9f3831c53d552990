"""The ``train_eval`` pipeline: labelled frame → CV and holdout → challenger → decision → MLflow → ML tables.

After a promotion the promoted configuration is refitted on the newest labelled snapshots
(``refit_promoted``, :mod:`.refit`) and deployed as champion.

All or nothing: the warehouse rows of a run are written only after MLflow has recorded it (its
variant runs, the registered versions, the aliases), and its ML.MODEL_REGISTRY rows last. The
REPORTING views and the report read metrics, deciles and calibration only of runs in the
registry, so a run that failed half-way shows nowhere.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from retail_control_tower.pipelines.train_eval import nodes, recording, refit


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
            Node(
                refit.refit_promoted, ["training_frame", "training_config", "promotion_decision"], "refit_model", name="refit_promoted"
            ),
            Node(recording.record_variant_runs, ["publication", "refit_model"], "variant_runs", name="publish_to_mlflow"),
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
                recording.deploy_refit,
                ["publication", "refit_model", "variant_runs", "registered_version", "model_aliases", "params:model_registry"],
                "refit_lineage",
                name="deploy_refit",
            ),
            Node(
                recording.holdout_diagnostics,
                ["holdout_evaluation", "run_context", "refit_lineage"],
                ["ML_MODEL_DECILES", "ML_MODEL_CALIBRATION"],
                name="holdout_diagnostics",
            ),
            Node(
                recording.mirror_metrics,
                ["cv_metrics", "holdout_evaluation", "churn_model_registry", "run_context", "refit_lineage"],
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
