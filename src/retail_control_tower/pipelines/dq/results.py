"""The shape of a DQ result row, and how one is built from a set of offending rows."""

from __future__ import annotations

from typing import Callable

import ibis
import ibis.expr.types as ir

RESULT_SCHEMA = ibis.schema(
    {
        "CHECK_NAME": "string",
        "TABLE_NAME": "string",
        "SEVERITY": "string",
        "STATUS": "string",
        "OBSERVED": "float64",
        "THRESHOLD": "float64",
        "DETAIL": "string",
        "SAMPLE_KEYS": "string",
    }
)


def table_label(dataset_name: str) -> str:
    """``SILVER_ORDER_ITEMS`` → ``SILVER.ORDER_ITEMS`` (the name a warehouse user knows)."""
    schema, _, table = dataset_name.partition("_")
    return f"{schema}.{table}"


def result_row(
    measures: ir.Table,
    *,
    check: str,
    table: str,
    severity: str,
    threshold: float,
    detail: ir.StringValue | str,
    sample_keys: ir.StringValue | None = None,
    failed: Callable[[ir.Table], ir.BooleanValue] | None = None,
) -> ir.Table:
    """A result from a one-row table holding ``OBSERVED`` (fails when above ``threshold`` unless
    ``failed`` says otherwise)."""
    failing = failed(measures) if failed else measures.OBSERVED > threshold
    return measures.select(
        CHECK_NAME=ibis.literal(check),
        TABLE_NAME=ibis.literal(table),
        SEVERITY=ibis.literal(severity),
        STATUS=ibis.ifelse(failing, "fail", "pass"),
        OBSERVED=measures.OBSERVED.cast("float64"),
        THRESHOLD=ibis.literal(float(threshold)),
        DETAIL=detail if not isinstance(detail, str) else ibis.literal(detail),
        SAMPLE_KEYS=sample_keys if sample_keys is not None else ibis.null("string"),
    )


def offenders_result(
    offenders: ir.Table,
    key: Callable[[ir.Table], ir.StringValue],
    *,
    check: str,
    table: str,
    severity: str,
    detail: str,
    sample_size: int,
    threshold: float = 0,
) -> ir.Table:
    """A result counting ``offenders`` rows, with up to ``sample_size`` of their keys."""
    counted = offenders.aggregate(OBSERVED=offenders.count())
    keys = offenders.select(KEY=key(offenders).cast("string")).distinct().order_by("KEY").limit(sample_size)
    sample = keys.aggregate(SAMPLE_KEYS=keys.KEY.group_concat(", "))
    measures = counted.cross_join(sample)
    return result_row(
        measures,
        check=check,
        table=table,
        severity=severity,
        threshold=threshold,
        detail=detail,
        sample_keys=measures.SAMPLE_KEYS,
    )
