"""The ``smoke`` pipeline: proves an environment works (connection, identity, schemas, tables, writes, MLflow)."""

from retail_control_tower.pipelines.smoke.pipeline import create_pipeline

__all__ = ["create_pipeline"]
