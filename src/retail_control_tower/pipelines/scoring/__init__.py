"""The ``scoring`` pipeline: the champion's churn scores (and the legacy rule's) for every eligible customer."""

from retail_control_tower.pipelines.scoring.pipeline import create_pipeline

__all__ = ["create_pipeline"]
