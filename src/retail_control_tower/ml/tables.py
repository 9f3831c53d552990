"""Column contracts of the ML tables that Python writes (the warehouse contract of downstream tools).

Frames built in Python are handed to the warehouse with these explicit types, so an all-empty
column (no retired champion yet, no model version for a baseline) still has its declared type
and every run appends to the same shape.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pandas as pd

MODEL_REGISTRY = ibis.schema(
    {
        "MODEL_NAME": "string",
        "MODEL_VERSION": "string",
        "VARIANT": "string",
        "FEATURE_SET": "string",
        "ALIAS": "string",
        "MLFLOW_RUN_ID": "string",
        "TRAINED_AT": "timestamp",
        "TRAINING_WINDOW": "string",
        "DECISION": "string",
        "REASON": "string",
        "DECIDED_AT": "timestamp",
        "RETIRED_BY_VERSION": "string",
        "RUN_ID": "string",
        "RECORDED_AT": "timestamp",
        "VALIDATED_VERSION": "string",  # a refit: the version evaluated on the holdout that it was refitted from
    }
)

MODEL_METRICS = ibis.schema(
    {
        "RUN_ID": "string",
        "MODEL_NAME": "string",
        "MODEL_VERSION": "string",
        "VARIANT": "string",
        "SPLIT": "string",
        "VALIDATION_DATE": "date",
        "METRIC": "string",
        "VALUE": "float64",
        "COMPUTED_AT": "timestamp",
    }
)

MODEL_DECILES = ibis.schema(
    {
        "RUN_ID": "string",
        "VARIANT": "string",
        "HOLDOUT_DATE": "date",
        "DECILE": "int8",
        "N": "int64",
        "EVENTS": "int64",
        "EVENT_RATE": "float64",
        "LIFT": "float64",
        "CUMULATIVE_CAPTURE": "float64",
        "MIN_SCORE": "float64",
        "MAX_SCORE": "float64",
        "MEAN_SCORE": "float64",
        "COMPUTED_AT": "timestamp",
    }
)

MODEL_CALIBRATION = ibis.schema(
    {
        "RUN_ID": "string",
        "VARIANT": "string",
        "HOLDOUT_DATE": "date",
        "BIN": "int8",
        "LOWER": "float64",
        "UPPER": "float64",
        "N": "int64",
        "MEAN_PREDICTED": "float64",
        "OBSERVED_RATE": "float64",
        "COMPUTED_AT": "timestamp",
    }
)

CUSTOMER_CHURN_SCORE = ibis.schema(
    {
        "CUSTOMER_ID": "string",
        "SCORE_DATE": "date",
        "CHURN_PROBABILITY": "float64",
        "DECILE": "int8",
        "RISK_BAND": "string",
        "MODEL_NAME": "string",
        "MODEL_VERSION": "string",
        "VARIANT": "string",
        "RUN_ID": "string",
        "SCORED_AT": "timestamp",
    }
)

# Monitoring (pipelines/monitoring): realised metrics of past scores, drift, the retraining signal.
MODEL_PERFORMANCE_REALISED = ibis.schema(
    {
        "SCORE_DATE": "date",
        "MODEL_NAME": "string",
        "MODEL_VERSION": "string",
        "VARIANT": "string",
        "METRIC": "string",
        "VALUE": "float64",
        "EXPECTED": "float64",
        "N": "int64",
        "EVENTS": "int64",
        "COMPUTED_AT": "timestamp",
        "RUN_ID": "string",
    }
)

MODEL_DRIFT = ibis.schema(
    {
        "RUN_ID": "string",
        "SCORE_DATE": "date",
        "MODEL_NAME": "string",
        "MODEL_VERSION": "string",
        "FEATURE": "string",
        "PSI": "float64",
        "STATUS": "string",
        "N": "int64",
        "COMPUTED_AT": "timestamp",
    }
)

RETRAINING_SIGNAL = ibis.schema(
    {
        "RUN_ID": "string",
        "MODEL_NAME": "string",
        "MODEL_VERSION": "string",
        "RECOMMENDED": "boolean",
        "REASON": "string",
        "RECOMMENDED_SINCE": "timestamp",  # a recommendation: when the run of recommending runs began
        "DECIDED_AT": "timestamp",
    }
)


def as_table(frame: pd.DataFrame, schema: ibis.Schema) -> ir.Table:
    """``frame`` as an Ibis table with exactly the columns and types of ``schema``."""
    missing = [name for name in schema.names if name not in frame.columns]
    if missing:
        raise ValueError(f"Frame lacks column(s) {missing} of its table contract")
    # Typed from the start, not cast after: an all-empty column (RETIRED_BY_VERSION before any
    # champion is retired) would otherwise reach the engine as type NULL, which Snowflake refuses
    # in the temporary table an in-memory table is uploaded to.
    return ibis.memtable(frame[list(schema.names)], schema=schema)
