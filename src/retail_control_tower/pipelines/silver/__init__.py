"""BRONZE → SILVER: typed, validated, one row per business key; bad rows to SILVER.<TABLE>_QUARANTINE."""

from retail_control_tower.pipelines.silver.pipeline import create_pipeline

__all__ = ["create_pipeline"]
