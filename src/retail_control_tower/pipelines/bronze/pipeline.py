"""The ``bronze`` pipeline: each entity's new raw files appended to its Bronze table, and the load log.

Node → table: ``bronze_customers`` → BRONZE.CUSTOMERS, ``bronze_products`` → BRONZE.PRODUCTS,
``bronze_stores`` → BRONZE.STORES, ``bronze_orders`` → BRONZE.ORDERS, ``bronze_order_items`` →
BRONZE.ORDER_ITEMS, ``bronze_returns`` → BRONZE.RETURNS, ``log_loads`` → OPS.LOAD_LOG.
"""

from __future__ import annotations

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from retail_control_tower.contracts import ENTITIES
from retail_control_tower.pipelines.bronze import nodes


def _bronze(entity: str, name: str, table: str) -> Node:
    return Node(
        func=update_wrapper(partial(nodes.load_bronze, entity=entity), nodes.load_bronze),
        inputs=[f"raw_{entity}", f"prior_{table}", "run_context", f"params:ingest.entities.{entity}"],
        outputs=table,
        name=name,
        tags=["bronze"],
    )


def _load_log() -> Node:
    inputs = {"run_context": "run_context", "specs": "params:ingest.entities"}
    for entity in ENTITIES:
        inputs[f"raw_files_{entity}"] = f"raw_files_{entity}"
        inputs[f"bronze_{entity}"] = f"BRONZE_{entity.upper()}"
    return Node(func=nodes.log_loads, inputs=inputs, outputs="OPS_LOAD_LOG", name="log_loads", tags=["bronze"])


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            _bronze("customers", "bronze_customers", "BRONZE_CUSTOMERS"),
            _bronze("products", "bronze_products", "BRONZE_PRODUCTS"),
            _bronze("stores", "bronze_stores", "BRONZE_STORES"),
            _bronze("orders", "bronze_orders", "BRONZE_ORDERS"),
            _bronze("order_items", "bronze_order_items", "BRONZE_ORDER_ITEMS"),
            _bronze("returns", "bronze_returns", "BRONZE_RETURNS"),
            _load_log(),
        ]
    )
