"""MODEL → GOLD: one business table per question."""

from retail_control_tower.pipelines.gold.pipeline import create_pipeline

__all__ = ["create_pipeline"]
