"""The ``ingest`` pipeline: the four stages in one, raw files → BRONZE → SILVER → MODEL → GOLD.

Each stage is its own pipeline (``bronze``, ``silver``, ``model``, ``gold``), whose module
docstring names the node of each table.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

from retail_control_tower.pipelines import bronze, gold, model, silver


def create_pipeline(**kwargs) -> Pipeline:
    return bronze.create_pipeline() + silver.create_pipeline() + model.create_pipeline() + gold.create_pipeline()
