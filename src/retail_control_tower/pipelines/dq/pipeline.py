"""The ``dq`` pipeline: every check family writes rows to OPS.DQ_RESULTS, then the gate decides."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from retail_control_tower.pipelines.dq import anomalies, checks, gate, reconciliation
from retail_control_tower.contracts import ENTITIES, GOLD_TABLES, MODEL_TABLES

SILVER = [f"SILVER_{e.upper()}" for e in ENTITIES]
MODEL = list(MODEL_TABLES)
GOLD = list(GOLD_TABLES)
BRONZE = [f"BRONZE_{e.upper()}" for e in ENTITIES]
QUARANTINE = [f"SILVER_{e.upper()}_QUARANTINE" for e in ENTITIES]


def _tables(names: list[str]) -> dict[str, str]:
    return {name: name for name in names}


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                reconciliation.check_reconciliation,
                {
                    "params": "params:dq.reconciliation",
                    "specs": "params:ingest.entities",
                    "load_log": "OPS_LOAD_LOG",
                    **_tables(BRONZE + SILVER + QUARANTINE),
                },
                "dq_reconciliation",
                name="check_reconciliation",
            ),
            Node(
                reconciliation.count_silver_model_rows,
                _tables(reconciliation.silver_model_inputs()),
                "dq_silver_model_counts",
                name="count_silver_model_rows",
            ),
            Node(
                reconciliation.check_silver_model,
                {
                    "params": "params:dq.reconciliation",
                    "counts": "dq_silver_model_counts",
                    **_tables(reconciliation.silver_model_inputs() + ["SILVER_ORDERS"]),
                },
                "dq_silver_model",
                name="check_silver_model",
            ),
            Node(
                reconciliation.check_model_gold,
                {"params": "params:dq.reconciliation", **_tables(reconciliation.model_gold_inputs())},
                "dq_model_gold",
                name="check_model_gold",
            ),
            Node(
                checks.check_duplicate_keys,
                {"params": "params:dq.duplicate_keys", "specs": "params:ingest.entities", **_tables(SILVER + MODEL + GOLD)},
                "dq_duplicate_keys",
                name="check_duplicate_keys",
            ),
            Node(
                checks.check_not_null_keys,
                {"params": "params:dq.not_null_keys", "specs": "params:ingest.entities", **_tables(SILVER + MODEL + GOLD)},
                "dq_not_null_keys",
                name="check_not_null_keys",
            ),
            Node(
                checks.check_orphan_keys,
                {"params": "params:dq.orphan_keys", **_tables(sorted({n for fact, table in MODEL_TABLES.items() for reference in table.references for n in (fact, reference.table)}))},
                "dq_orphan_keys",
                name="check_orphan_keys",
            ),
            Node(
                checks.check_value_ranges,
                ["params:dq.value_ranges", "params:event_dates", "run_context", "MODEL_FCT_ORDER_LINE", "MODEL_FCT_RETURN", "params:ingest.entities"],
                "dq_value_ranges",
                name="check_value_ranges",
            ),
            Node(anomalies.check_sales_anomaly, ["params:dq.sales_anomaly", "GOLD_SALES_DAILY"], "dq_sales_anomaly", name="check_sales_anomaly"),
            Node(
                checks.check_freshness,
                ["params:dq.freshness", "params:event_dates", "run_context", "MODEL_FCT_ORDER_LINE"],
                "dq_freshness",
                name="check_freshness",
            ),
            Node(checks.check_volume, ["params:dq.volume", "OPS_LOAD_LOG"], "dq_volume", name="check_volume"),
            Node(
                checks.check_quarantine_rate,
                {"params": "params:dq.quarantine_rate", **_tables(BRONZE + QUARANTINE)},
                "dq_quarantine_rate",
                name="check_quarantine_rate",
            ),
            Node(
                gate.collect_results,
                ["run_context", "dq_reconciliation", "dq_silver_model", "dq_model_gold", "dq_duplicate_keys", "dq_not_null_keys", "dq_orphan_keys",
                 "dq_value_ranges", "dq_sales_anomaly", "dq_freshness", "dq_volume", "dq_quarantine_rate"],
                "OPS_DQ_RESULTS",
                name="collect_dq_results",
            ),
            Node(gate.enforce_gate, ["OPS_DQ_RESULTS", "run_context"], "OPS_DQ_GATE", name="dq_gate"),
        ]
    )
