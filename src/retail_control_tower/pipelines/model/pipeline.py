"""The ``model`` pipeline: MODEL's dimensions and facts, rebuilt from Silver.

Node → table: ``dim_customer`` → MODEL.DIM_CUSTOMER, ``dim_product`` → MODEL.DIM_PRODUCT,
``dim_store`` → MODEL.DIM_STORE, ``dim_date`` → MODEL.DIM_DATE, ``fct_order_line`` →
MODEL.FCT_ORDER_LINE, ``fct_return`` → MODEL.FCT_RETURN (each function of ``nodes`` has the node's name).
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from retail_control_tower.pipelines.model import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(nodes.dim_customer, ["SILVER_CUSTOMERS", "SILVER_ORDERS"], "MODEL_DIM_CUSTOMER", name="dim_customer"),
            Node(nodes.dim_product, ["SILVER_PRODUCTS", "SILVER_ORDER_ITEMS"], "MODEL_DIM_PRODUCT", name="dim_product"),
            Node(nodes.dim_store, ["SILVER_STORES", "SILVER_ORDERS"], "MODEL_DIM_STORE", name="dim_store"),
            Node(nodes.dim_date, ["SILVER_ORDERS", "SILVER_RETURNS"], "MODEL_DIM_DATE", name="dim_date"),
            Node(nodes.fct_order_line, ["SILVER_ORDER_ITEMS", "SILVER_ORDERS"], "MODEL_FCT_ORDER_LINE", name="fct_order_line"),
            Node(nodes.fct_return, ["SILVER_RETURNS", "MODEL_FCT_ORDER_LINE"], "MODEL_FCT_RETURN", name="fct_return"),
        ]
    )
