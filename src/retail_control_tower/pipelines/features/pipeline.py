"""The ``features`` pipeline: quality gate → snapshot calendar → ML.CUSTOMER_FEATURES.

``features_quality_gate`` is its only node that queries the warehouse; the others are Ibis
expressions of their inputs.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from retail_control_tower.pipelines.features import gate, nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(gate.features_quality_gate, ["OPS_DQ_RESULTS", "OPS_DQ_GATE"], "dq_passed_run_id", name="features_quality_gate"),
            Node(
                nodes.snapshot_calendar,
                ["MODEL_DIM_DATE", "MODEL_FCT_ORDER_LINE", "params:features", "dq_passed_run_id"],
                "ML_FEATURE_SNAPSHOTS",
                name="snapshot_calendar",
            ),
            Node(
                nodes.customer_features,
                {
                    "snapshots": "ML_FEATURE_SNAPSHOTS",
                    "order_lines": "MODEL_FCT_ORDER_LINE",
                    "returns": "MODEL_FCT_RETURN",
                    "customers": "MODEL_DIM_CUSTOMER",
                    "products": "MODEL_DIM_PRODUCT",
                    "params": "params:features",
                    "run_context": "run_context",
                },
                "ML_CUSTOMER_FEATURES",
                name="customer_features",
            ),
        ]
    )
