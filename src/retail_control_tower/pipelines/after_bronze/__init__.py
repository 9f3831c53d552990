"""Silver → MODEL → GOLD → dq → features → scoring → reporting: everything after a Bronze change."""

from retail_control_tower.pipelines.after_bronze.pipeline import create_pipeline

__all__ = ["create_pipeline"]
