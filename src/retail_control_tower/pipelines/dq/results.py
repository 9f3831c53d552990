"""The shape of a DQ result row, and how one is built from a set of offending rows."""

from __future__ import annotations

from typing import Callable

import ibis
import ibis.expr.types as ir

from retail_control_tower.contracts.values import business_key

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


def key_text(columns: list[str]) -> Callable[[ir.Table], ir.StringValue]:
    """A row's key as one text, as the quarantine shows it (``O0001|2``): how results name offenders."""
    return lambda t: business_key([t[c].cast("string") for c in columns])


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
    """A result counting ``offenders`` rows, with the first ``sample_size`` of their keys.

    The offenders are computed once: counted per key, and the count total and the first keys
    are read off that one aggregation. (Counting and sampling them separately ran each check's
    scan or join twice.)
    """
    per_key = offenders.group_by(KEY=key(offenders).cast("string")).aggregate(_ROWS=offenders.count())
    ranked = per_key.mutate(
        _TOTAL=per_key._ROWS.sum().over(), _RANK=ibis.row_number().over(order_by=per_key.KEY.asc(nulls_first=False))
    )
    first = ranked.filter(ranked._RANK < sample_size)
    measures = first.aggregate(
        OBSERVED=first._TOTAL.max().fill_null(0),
        SAMPLE_KEYS=first.KEY.group_concat(", ", order_by=first.KEY),
    )
    return result_row(
        measures,
        check=check,
        table=table,
        severity=severity,
        threshold=threshold,
        detail=detail,
        sample_keys=measures.SAMPLE_KEYS,
    )
