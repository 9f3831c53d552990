"""The ``generate`` pipeline: one node, deterministic for a seed, preset, scale and end date."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from retail_control_tower.pipelines.generate.nodes import CATALOG_ENTITIES, generate_raw_files


def create_pipeline(**kwargs) -> Pipeline:
    outputs = {name: f"synthetic_{name}" for name in CATALOG_ENTITIES}
    outputs["churn_oracle"] = "synthetic_churn_oracle"
    return Pipeline(
        [
            Node(
                generate_raw_files, ["params:synthetic", "params:synthetic_raw_dir"], outputs,
                name="generate_retail_data", tags=["synthetic"],
            )
        ]
    )
