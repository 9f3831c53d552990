"""Raw files → BRONZE → SILVER (+ quarantine) → MODEL → GOLD: the stage pipelines in one."""

from retail_control_tower.pipelines.ingest.pipeline import create_pipeline

__all__ = ["create_pipeline"]
