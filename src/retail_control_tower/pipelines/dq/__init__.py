"""Data-quality checks recorded as data in OPS.DQ_RESULTS, and the gate that stops a bad run."""

from retail_control_tower.pipelines.dq.pipeline import create_pipeline

__all__ = ["create_pipeline"]
