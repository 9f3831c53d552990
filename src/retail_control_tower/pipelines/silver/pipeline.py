"""The ``silver`` pipeline: per entity, its Bronze rows validated into a quarantine and the valid
ones typed into Silver (``nodes.quarantine_batch``, then ``nodes.apply_silver``). First,
``profile_silver_batches`` (``profile.profile_batches``) asks the warehouse once what the batches
hold (``silver_batch_<entity>``), so every other Silver node is a pure expression of its inputs.

Node → table:

- ``quarantine_customers`` → SILVER.CUSTOMERS_QUARANTINE, ``apply_silver_customers`` → SILVER.CUSTOMERS
- ``quarantine_products`` → SILVER.PRODUCTS_QUARANTINE, ``apply_silver_products`` → SILVER.PRODUCTS
- ``quarantine_stores`` → SILVER.STORES_QUARANTINE, ``apply_silver_stores`` → SILVER.STORES
- ``quarantine_orders`` → SILVER.ORDERS_QUARANTINE, ``apply_silver_orders`` → SILVER.ORDERS
- ``quarantine_order_items`` → SILVER.ORDER_ITEMS_QUARANTINE, ``apply_silver_order_items`` → SILVER.ORDER_ITEMS
- ``quarantine_returns`` → SILVER.RETURNS_QUARANTINE, ``apply_silver_returns`` → SILVER.RETURNS

The rules are the entity's contract (``ingest.entities.<entity>``, see ``contracts.tables``). A
quarantine node reads the Silver tables of every entity loaded before its own
(``contracts.ENTITIES``), so a reference the contract declares needs no change here.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from retail_control_tower.contracts import ENTITIES
from retail_control_tower.pipelines.silver import nodes, profile


def _silver(entity: str, quarantine: str, apply: str) -> list[Node]:
    table = entity.upper()
    spec = f"params:ingest.entities.{entity}"
    earlier = [e.upper() for e in ENTITIES[: ENTITIES.index(entity)]]
    return [
        Node(
            func=nodes.quarantine_batch,
            inputs={
                "bronze": f"BRONZE_{table}",
                "prior_silver": f"prior_SILVER_{table}",
                "prior_quarantine": f"prior_SILVER_{table}_QUARANTINE",
                "run_context": "run_context",
                "spec": spec,
                "event_dates": "params:event_dates",
                "entities": "params:ingest.entities",
                "batch": f"silver_batch_{entity}",
                **{f"SILVER_{name}": f"SILVER_{name}" for name in earlier},
            },
            outputs=f"SILVER_{table}_QUARANTINE",
            name=quarantine,
            tags=["silver"],
        ),
        Node(
            func=nodes.apply_silver,
            inputs=[f"BRONZE_{table}", f"prior_SILVER_{table}", f"SILVER_{table}_QUARANTINE", spec, "params:event_dates", f"silver_batch_{entity}"],
            outputs=f"SILVER_{table}",
            name=apply,
            tags=["silver"],
        ),
    ]


def _profile() -> Node:
    inputs = {"entities": "params:ingest.entities"}
    for name in (e.upper() for e in ENTITIES):
        inputs |= {f"BRONZE_{name}": f"BRONZE_{name}", f"prior_SILVER_{name}": f"prior_SILVER_{name}",
                   f"prior_SILVER_{name}_QUARANTINE": f"prior_SILVER_{name}_QUARANTINE"}
    return Node(
        func=profile.profile_batches,
        inputs=inputs,
        outputs={entity: f"silver_batch_{entity}" for entity in ENTITIES},
        name="profile_silver_batches",
        tags=["silver"],
    )


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            _profile(),
            *_silver("customers", quarantine="quarantine_customers", apply="apply_silver_customers"),
            *_silver("products", quarantine="quarantine_products", apply="apply_silver_products"),
            *_silver("stores", quarantine="quarantine_stores", apply="apply_silver_stores"),
            *_silver("orders", quarantine="quarantine_orders", apply="apply_silver_orders"),
            *_silver("order_items", quarantine="quarantine_order_items", apply="apply_silver_order_items"),
            *_silver("returns", quarantine="quarantine_returns", apply="apply_silver_returns"),
        ]
    )
