"""The ``gold`` pipeline: GOLD's business tables, rebuilt from MODEL.

Node → table: ``sales_daily`` → GOLD.SALES_DAILY, ``customer_360`` → GOLD.CUSTOMER_360,
``product_performance`` → GOLD.PRODUCT_PERFORMANCE, ``store_performance`` → GOLD.STORE_PERFORMANCE
(each function of ``nodes`` has the node's name).
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from retail_control_tower.pipelines.gold import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(nodes.sales_daily, ["MODEL_FCT_ORDER_LINE", "MODEL_FCT_RETURN", "MODEL_DIM_PRODUCT"], "GOLD_SALES_DAILY", name="sales_daily"),
            Node(
                nodes.customer_360,
                ["MODEL_DIM_CUSTOMER", "MODEL_FCT_ORDER_LINE", "MODEL_FCT_RETURN", "MODEL_DIM_PRODUCT"],
                "GOLD_CUSTOMER_360",
                name="customer_360",
            ),
            Node(
                nodes.product_performance,
                ["MODEL_DIM_PRODUCT", "MODEL_FCT_ORDER_LINE", "MODEL_FCT_RETURN"],
                "GOLD_PRODUCT_PERFORMANCE",
                name="product_performance",
            ),
            Node(
                nodes.store_performance,
                ["MODEL_DIM_STORE", "MODEL_FCT_ORDER_LINE", "MODEL_FCT_RETURN", "params:gold.store_performance"],
                "GOLD_STORE_PERFORMANCE",
                name="store_performance",
            ),
        ]
    )
