"""Check families. Each returns rows of ``RESULT_SCHEMA``; tables arrive keyed by dataset name."""

from __future__ import annotations

import operator
from functools import reduce
from typing import Any

import ibis
import ibis.expr.types as ir

from retail_control_tower.pipelines.dq.results import key_text, offenders_result, result_row, table_label
from retail_control_tower.contracts import MODEL_TABLES, lower_bounds, product_bounds
from retail_control_tower.contracts import grain as contract_grain
from retail_control_tower.contracts.event_dates import event_date_range

def check_duplicate_keys(params: dict[str, Any], specs: dict[str, dict], **tables: ir.Table) -> ir.Table:
    """Business keys that occur more than once, in Silver and MODEL."""
    rows = []
    grain = contract_grain(specs)
    for name, table in tables.items():
        key = grain[name]
        counts = table.group_by(key).aggregate(_N=table.count())
        rows.append(
            offenders_result(
                counts.filter(counts._N > 1),
                key_text(key),
                check="duplicate_keys",
                table=table_label(name),
                severity=params["severity"],
                detail=f"keys ({', '.join(key)}) occurring more than once",
                sample_size=params["sample_size"],
            )
        )
    return ibis.union(*rows)


def check_not_null_keys(params: dict[str, Any], specs: dict[str, dict], **tables: ir.Table) -> ir.Table:
    """Rows whose key columns are null, in Silver and MODEL."""
    rows = []
    grain = contract_grain(specs)
    for name, table in tables.items():
        key = grain[name]
        missing = table.filter(ibis.or_(*[table[c].isnull() for c in key]))
        rows.append(
            offenders_result(
                missing,
                key_text(key),
                check="not_null_keys",
                table=table_label(name),
                severity=params["severity"],
                detail=f"rows with a null in ({', '.join(key)})",
                sample_size=params["sample_size"],
            )
        )
    return ibis.union(*rows)


def check_orphan_keys(params: dict[str, Any], **tables: ir.Table) -> ir.Table:
    """Fact rows whose customer, product, store, date or sold line is missing from its dimension."""
    rows = []
    foreign_keys = [(fact, reference) for fact, table in MODEL_TABLES.items() for reference in table.references]
    for fact, reference in foreign_keys:
        columns, dimension, dimension_columns = list(reference.columns), reference.table, list(reference.table_columns)
        facts, dims = tables[fact], tables[dimension]
        # An anti-join on the key columns, not on a key joined into one text per row first,
        # which builds a string for every row of both tables.
        # A row with no key at all references nothing; a partly empty key references no row.
        with_key = facts.filter(ibis.or_(*[facts[c].notnull() for c in columns]))
        orphans = with_key.anti_join(dims, [with_key[c] == dims[d] for c, d in zip(columns, dimension_columns)])
        rows.append(
            offenders_result(
                orphans,
                key_text(columns),
                check="orphan_keys",
                table=table_label(fact),
                severity=params["severity"],
                detail=f"{'|'.join(columns)} not found in {table_label(dimension)}",
                sample_size=params["sample_size"],
            )
        )
    return ibis.union(*rows)


def check_value_ranges(
    params: dict[str, Any],
    event_dates: dict[str, Any],
    run_context: dict[str, Any],
    order_lines: ir.Table,
    returns: ir.Table,
    specs: dict[str, dict],
) -> ir.Table:
    """Quantities, prices, discounts, refunds and dates outside what a sale can be.

    The lower bounds of quantities, prices and discounts, and a discount's cap at units x unit
    price, are the input contract's (``specs``, see ``contracts.lower_bounds`` and
    ``contracts.product_bounds``), the valid order dates ``event_dates``: what Silver validated.
    """
    valid = event_date_range(event_dates, run_context)
    earliest = ibis.literal(valid.earliest)
    max_day = ibis.literal(valid.latest.date())
    line = ["ORDER_ID", "LINE_NUMBER"]
    sold = returns.inner_join(order_lines.select(*line, SOLD=order_lines.QUANTITY), line)
    # Units returned over all the line's returns, as Silver quarantined them (RETURN_EXCEEDS_SOLD).
    per_line = sold.group_by([*line, "SOLD"]).aggregate(RETURNED=sold.QUANTITY.sum())
    below = {"min": ("__lt__", "<"), "min_exclusive": ("__le__", "<=")}
    rules = [
        *[
            ("MODEL_FCT_ORDER_LINE", order_lines, getattr(order_lines[name], below[bound][0])(value), line, f"{name} {below[bound][1]} {value}")
            for name, bound, value in lower_bounds("MODEL_FCT_ORDER_LINE", specs)
        ],
        *[
            ("MODEL_FCT_ORDER_LINE", order_lines, order_lines[name] > reduce(operator.mul, [order_lines[f] for f in factors]), line, f"{name} > {' x '.join(factors)}")
            for name, factors in product_bounds("MODEL_FCT_ORDER_LINE", specs)
        ],
        (
            "MODEL_FCT_ORDER_LINE",
            order_lines,
            (order_lines.ORDER_DATE < earliest) | (order_lines.ORDER_DATE > max_day),
            ["ORDER_ID", "LINE_NUMBER"],
            f"ORDER_DATE outside [{valid.earliest}, {valid.latest:%Y-%m-%d}] (event_dates)",
        ),
        ("MODEL_FCT_RETURN", per_line, per_line.RETURNED > per_line.SOLD, line, "units returned of a line (all its returns) above the units sold"),
        ("MODEL_FCT_RETURN", sold, sold.RETURN_DATE < sold.ORDER_DATE, ["RETURN_ID"], "RETURN_DATE before ORDER_DATE"),
    ]
    return ibis.union(
        *[
            offenders_result(
                table.filter(condition),
                key_text(key),
                check="value_ranges",
                table=table_label(name),
                severity=params["severity"],
                detail=detail,
                sample_size=params["sample_size"],
            )
            for name, table, condition, key, detail in rules
        ]
    )


def check_freshness(params: dict[str, Any], event_dates: dict[str, Any], run_context: dict[str, Any], order_lines: ir.Table) -> ir.Table:
    """Age of the newest sale against the reference time (``event_dates``), with a warn and an error age.

    With no sale at all there is no age to measure: ``OBSERVED`` is null, both checks fail, and
    the detail says so.
    """
    reference = event_date_range(event_dates, run_context).reference
    newest = order_lines.aggregate(NEWEST=order_lines.ORDER_TS.max())
    age = newest.mutate(
        OBSERVED=(ibis.literal(reference).epoch_seconds() - newest.NEWEST.epoch_seconds()) / 3600.0
    )
    detail = ibis.ifelse(
        age.NEWEST.isnull(),
        ibis.literal(
            f"no sales in MODEL.FCT_ORDER_LINE, so no age to measure at {reference:%Y-%m-%d %H:%M} "
            "(no order line loaded, or every one quarantined: see SILVER.ORDERS_QUARANTINE, SILVER.ORDER_ITEMS_QUARANTINE)"
        ),
        ibis.literal("hours since the newest sale (").concat(age.NEWEST.cast("string"), f") at {reference:%Y-%m-%d %H:%M}"),
    )
    return ibis.union(
        *[
            result_row(
                age,
                check=f"freshness_{severity}",
                table="MODEL.FCT_ORDER_LINE",
                severity=severity,
                threshold=float(params[f"{severity}_after_hours"]),
                detail=detail,
                failed=lambda t, limit=params[f"{severity}_after_hours"]: t.OBSERVED.isnull() | (t.OBSERVED > limit),
            )
            for severity in ("warn", "error")
        ]
    )


def check_volume(params: dict[str, Any], load_log: ir.Table) -> ir.Table:
    """Rows loaded by the latest load of each entity against the trailing average of earlier loads."""
    loaded = load_log.filter(load_log.STATUS == "loaded")
    per_load = loaded.group_by(["ENTITY", "RUN_ID"]).aggregate(ROWS=loaded.BRONZE_ROWS.sum())
    recency = ibis.row_number().over(group_by=per_load.ENTITY, order_by=per_load.RUN_ID.desc())
    ranked = per_load.mutate(RECENCY=recency)
    latest = ranked.filter(ranked.RECENCY == 0).select("ENTITY", "RUN_ID", LATEST_ROWS="ROWS")
    history = ranked.filter((ranked.RECENCY > 0) & (ranked.RECENCY <= int(params["trailing_loads"])))
    trailing = history.group_by("ENTITY").aggregate(TRAILING_MEAN=history.ROWS.mean(), LOADS=history.count())
    joined = latest.left_join(trailing, "ENTITY")
    ratio = joined.LATEST_ROWS / joined.TRAILING_MEAN
    measures = joined.mutate(OBSERVED=ibis.ifelse(joined.TRAILING_MEAN > 0, ratio, ibis.null("float64")))
    low, high = float(params["min_ratio"]), float(params["max_ratio"])
    detail = ibis.ifelse(
        measures.OBSERVED.isnull(),
        ibis.literal("first load: no trailing history yet (").concat(measures.LATEST_ROWS.cast("string"), " rows)"),
        ibis.literal("latest load ")
        .concat(measures.LATEST_ROWS.cast("string"), " rows vs trailing mean ")
        .concat(measures.TRAILING_MEAN.round(1).cast("string"), f"; allowed ratio [{low}, {high}]"),
    )
    return measures.select(
        CHECK_NAME=ibis.literal("volume_anomaly"),
        TABLE_NAME=ibis.literal("BRONZE.").concat(measures.ENTITY.upper()),
        SEVERITY=ibis.literal(params["severity"]),
        STATUS=ibis.ifelse(measures.OBSERVED.notnull() & ((measures.OBSERVED < low) | (measures.OBSERVED > high)), "fail", "pass"),
        OBSERVED=measures.OBSERVED.cast("float64"),
        THRESHOLD=ibis.literal(high),
        DETAIL=detail,
        SAMPLE_KEYS=measures.RUN_ID,
    )


def check_quarantine_rate(params: dict[str, Any], **tables: ir.Table) -> ir.Table:
    """Share of Bronze rows sent to quarantine, per entity, over all loads."""
    rows = []
    for name in sorted({n.removeprefix("BRONZE_") for n in tables if n.startswith("BRONZE_")}):
        bronze, quarantine = tables[f"BRONZE_{name}"], tables[f"SILVER_{name}_QUARANTINE"]
        counts = bronze.aggregate(N=bronze.count()).cross_join(quarantine.aggregate(Q=quarantine.count()))
        measures = counts.mutate(OBSERVED=ibis.ifelse(counts.N > 0, counts.Q / counts.N, 0.0))
        reasons = quarantine.group_by("REASON_CODE").aggregate(_N=quarantine.count())
        top = reasons.order_by([reasons._N.desc(), reasons.REASON_CODE]).limit(params["sample_size"])
        summary = top.aggregate(TOP=top.REASON_CODE.concat("=", top._N.cast("string")).group_concat(", "))
        measures = measures.cross_join(summary)
        rows.append(
            result_row(
                measures,
                check="quarantine_rate",
                table=f"SILVER.{name}_QUARANTINE",
                severity=params["severity"],
                threshold=float(params["max_share"]),
                detail=ibis.literal("quarantined ").concat(measures.Q.cast("string"), " of ", measures.N.cast("string"), " bronze rows"),
                sample_keys=measures.TOP,
            )
        )
    return ibis.union(*rows)
