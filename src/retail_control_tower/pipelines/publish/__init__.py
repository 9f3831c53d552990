"""The ``publish`` pipeline: Power BI refreshes and Alteryx jobs after a good run, logged in OPS.PUBLISH_LOG."""

from retail_control_tower.pipelines.publish.pipeline import create_pipeline

__all__ = ["create_pipeline"]
