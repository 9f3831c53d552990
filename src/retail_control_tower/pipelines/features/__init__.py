"""The ``features`` pipeline: point-in-time customer churn features and labels."""

from retail_control_tower.pipelines.features.pipeline import create_pipeline

__all__ = ["create_pipeline"]
