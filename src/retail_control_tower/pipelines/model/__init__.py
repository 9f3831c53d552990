"""SILVER → MODEL: conformed dimensions and facts."""

from retail_control_tower.pipelines.model.pipeline import create_pipeline

__all__ = ["create_pipeline"]
