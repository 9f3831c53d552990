"""The ``reporting`` pipeline: latest-run REPORTING views and the HTML run report."""

from retail_control_tower.pipelines.reporting.pipeline import create_pipeline

__all__ = ["create_pipeline"]
