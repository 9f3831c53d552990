"""Synthetic retailer: writes the raw input files (and the churn oracle) for the embedded default."""

from retail_control_tower.pipelines.generate.pipeline import create_pipeline

__all__ = ["create_pipeline"]
