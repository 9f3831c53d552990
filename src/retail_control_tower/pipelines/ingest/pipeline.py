"""The ``ingest`` pipeline: one Bronze load and one Silver build per entity, then MODEL and GOLD."""

from __future__ import annotations

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from retail_control_tower.pipelines.ingest import bronze, gold, model, silver

ENTITIES = ("customers", "products", "stores", "orders", "order_items", "returns")

# Which entities an entity's rows must reference (mirrors `references` in parameters_ingest.yml): their
# Silver tables hold the keys, their Bronze tables tell whether an optional entity was supplied.
# Returns also read the orders: a return is checked against the day of its sale (`sold_line`).
REFERENCES = {
    "orders": ("customers", "stores"),
    "order_items": ("orders", "products"),
    "returns": ("order_items", "orders"),
}


def _named(func, **bound):
    return update_wrapper(partial(func, **bound), func)


def _entity_nodes(entity: str) -> list[Node]:
    table = entity.upper()
    spec = f"params:ingest.entities.{entity}"
    return [
        Node(
            func=_named(bronze.load_bronze, entity=entity),
            inputs=[f"raw_{entity}", f"prior_BRONZE_{table}", "run_context", spec],
            outputs=f"BRONZE_{table}",
            name=f"bronze_{entity}",
            tags=["bronze"],
        ),
        Node(
            func=silver.quarantine_batch,
            inputs={
                "bronze": f"BRONZE_{table}",
                "prior_silver": f"prior_SILVER_{table}",
                "prior_quarantine": f"prior_SILVER_{table}_QUARANTINE",
                "run_context": "run_context",
                "spec": spec,
                "event_dates": "params:event_dates",
                "entities": "params:ingest.entities",
                **{f"{layer}_{ref.upper()}": f"{layer}_{ref.upper()}" for ref in REFERENCES.get(entity, ()) for layer in ("SILVER", "BRONZE")},
            },
            outputs=f"SILVER_{table}_QUARANTINE",
            name=f"quarantine_{entity}",
            tags=["silver"],
        ),
        Node(
            func=silver.apply_silver,
            inputs=[f"BRONZE_{table}", f"prior_SILVER_{table}", f"SILVER_{table}_QUARANTINE", spec, "params:event_dates"],
            outputs=f"SILVER_{table}",
            name=f"apply_silver_{entity}",
            tags=["silver"],
        ),
    ]


def _load_log_node() -> Node:
    inputs = {"run_context": "run_context", "specs": "params:ingest.entities"}
    for entity in ENTITIES:
        inputs[f"raw_files_{entity}"] = f"raw_files_{entity}"
        inputs[f"bronze_{entity}"] = f"BRONZE_{entity.upper()}"
    return Node(func=bronze.log_loads, inputs=inputs, outputs="OPS_LOAD_LOG", name="log_loads", tags=["bronze"])


def create_pipeline(**kwargs) -> Pipeline:
    nodes = [node for entity in ENTITIES for node in _entity_nodes(entity)]
    nodes.append(_load_log_node())
    nodes += [
        Node(model.dim_customer, ["SILVER_CUSTOMERS", "SILVER_ORDERS"], "MODEL_DIM_CUSTOMER", name="dim_customer"),
        Node(model.dim_product, ["SILVER_PRODUCTS", "SILVER_ORDER_ITEMS"], "MODEL_DIM_PRODUCT", name="dim_product"),
        Node(model.dim_store, ["SILVER_STORES", "SILVER_ORDERS"], "MODEL_DIM_STORE", name="dim_store"),
        Node(model.dim_date, ["SILVER_ORDERS", "SILVER_RETURNS"], "MODEL_DIM_DATE", name="dim_date"),
        Node(model.fct_order_line, ["SILVER_ORDER_ITEMS", "SILVER_ORDERS"], "MODEL_FCT_ORDER_LINE", name="fct_order_line"),
        Node(model.fct_return, ["SILVER_RETURNS", "MODEL_FCT_ORDER_LINE"], "MODEL_FCT_RETURN", name="fct_return"),
        Node(
            gold.sales_daily,
            ["MODEL_FCT_ORDER_LINE", "MODEL_FCT_RETURN", "MODEL_DIM_PRODUCT"],
            "GOLD_SALES_DAILY",
            name="sales_daily",
        ),
        Node(
            gold.customer_360,
            ["MODEL_DIM_CUSTOMER", "MODEL_FCT_ORDER_LINE", "MODEL_FCT_RETURN", "MODEL_DIM_PRODUCT"],
            "GOLD_CUSTOMER_360",
            name="customer_360",
        ),
        Node(
            gold.product_performance,
            ["MODEL_DIM_PRODUCT", "MODEL_FCT_ORDER_LINE", "MODEL_FCT_RETURN"],
            "GOLD_PRODUCT_PERFORMANCE",
            name="product_performance",
        ),
        Node(
            gold.store_performance,
            ["MODEL_DIM_STORE", "MODEL_FCT_ORDER_LINE", "MODEL_FCT_RETURN"],
            "GOLD_STORE_PERFORMANCE",
            name="store_performance",
        ),
    ]
    return Pipeline(nodes)
