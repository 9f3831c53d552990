"""The ``generate`` pipeline: one node, deterministic for a seed, scale and end date."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from retail_control_tower.pipelines.generate.nodes import RAW_ENTITIES, generate_retail_data


def create_pipeline(**kwargs) -> Pipeline:
    outputs = {name: f"synthetic_{name}" for name in RAW_ENTITIES}
    outputs["churn_oracle"] = "synthetic_churn_oracle"
    return Pipeline(
        [Node(generate_retail_data, "params:synthetic", outputs, name="generate_retail_data", tags=["synthetic"])]
    )
