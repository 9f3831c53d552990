"""The ``train_eval`` pipeline: out-of-time CV and holdout, challenger selection, promotion, MLflow."""

from retail_control_tower.pipelines.train_eval.pipeline import create_pipeline

__all__ = ["create_pipeline"]
