"""The ``monitoring`` pipeline: realised performance of past scores, drift and the retraining signal."""

from retail_control_tower.pipelines.monitoring.pipeline import create_pipeline

__all__ = ["create_pipeline"]
