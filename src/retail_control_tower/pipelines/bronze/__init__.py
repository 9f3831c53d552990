"""Raw files → BRONZE (append-only text with load lineage) and OPS.LOAD_LOG."""

from retail_control_tower.pipelines.bronze.pipeline import create_pipeline

__all__ = ["create_pipeline"]
