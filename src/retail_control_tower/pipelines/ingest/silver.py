"""Silver: typed, trimmed, validated and deduplicated; bad rows go to quarantine with a reason.

A Silver table is built in three steps, each its own node, so no expression reads a table
that the same node writes:
1. ``stage_silver``: the Bronze rows of loads not yet applied, typed, each with a reason code
   when invalid (``SILVER.STG_<ENTITY>``, replaced every run);
2. ``apply_silver``: the valid rows, latest load per business key, upserted on ``BUSINESS_KEY``;
3. ``quarantine_rows``: the invalid rows with their raw values, appended to
   ``SILVER.<ENTITY>_QUARANTINE``.
Re-running with nothing new in Bronze stages nothing, so the upsert and append change nothing.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir

from retail_control_tower.pipelines.ingest.bronze import row_hash

ENGINE_TYPES = {
    "string": "string",
    "int": "int64",
    "decimal": "decimal(18, 2)",
    "date": "date",
    "timestamp": "timestamp",
}
LINEAGE = ["LOAD_ID", "LOADED_AT", "SOURCE_FILE", "SOURCE_ROW"]


def clean_text(value: ir.StringValue) -> ir.StringValue:
    """Trimmed text; an empty string counts as missing."""
    return value.strip().nullif("")


def business_key(parts: list[ir.StringValue]) -> ir.StringValue:
    """One text key per row; composite keys are joined with ``|`` (``O0001|2``)."""
    return parts[0] if len(parts) == 1 else ibis.literal("|").join(parts)


def unapplied_loads(bronze: ir.Table, *prior_tables: ir.Table | None) -> ir.Table:
    """Bronze rows of loads newer than the newest load already applied (Silver or quarantine)."""
    applied = [t.select("LOAD_ID") for t in prior_tables if t is not None]
    if not applied:
        return bronze
    watermark = ibis.union(*applied).LOAD_ID.max().fill_null("")
    return bronze.filter(bronze.LOAD_ID > watermark)


def _reasons(
    text: dict[str, ir.StringValue],
    typed: dict[str, ir.Value],
    spec: dict[str, Any],
    validation: dict[str, Any],
    run_context: dict[str, Any],
    references: dict[str, ir.Table],
    key_of: dict[tuple[str, ...], ir.StringValue],
) -> list[tuple[ir.BooleanValue, str, ir.StringValue]]:
    """(condition, reason code, detail) in priority order; the first that holds is recorded."""
    rules: list[tuple[ir.BooleanValue, str, ir.StringValue]] = []
    key_columns = spec["key"]
    for name in key_columns:
        rules.append((text[name].isnull(), "NULL_KEY", ibis.literal(f"{name} is empty")))
    for name, column in spec["columns"].items():
        if name not in key_columns and column.get("nullable", True) is False:
            rules.append((text[name].isnull(), "MISSING_VALUE", ibis.literal(f"{name} is empty")))
    for name, column in spec["columns"].items():
        if column["type"] != "string":
            rules.append(
                (
                    text[name].notnull() & typed[name].isnull(),
                    "INVALID_TYPE",
                    ibis.literal(f"{name}='").concat(text[name], f"' is not a valid {column['type']}"),
                )
            )
    for name, column in spec["columns"].items():
        for bound, op, words in (("min", "__lt__", ">="), ("min_exclusive", "__le__", ">")):
            if bound in column:
                rules.append(
                    (
                        getattr(typed[name], op)(column[bound]),
                        "OUT_OF_RANGE",
                        ibis.literal(f"{name}=").concat(text[name], f" must be {words} {column[bound]}"),
                    )
                )
    earliest = date.fromisoformat(str(validation["min_event_date"]))
    latest = run_context["started_at"] + timedelta(days=int(validation["max_future_days"]))
    for name, column in spec["columns"].items():
        if column.get("event_date"):
            value = typed[name].cast("timestamp")
            rules.append(
                (
                    (value < ibis.literal(earliest).cast("timestamp")) | (value > ibis.literal(latest)),
                    "DATE_OUT_OF_RANGE",
                    ibis.literal(f"{name}=").concat(
                        text[name], f" is before {earliest} or after {latest:%Y-%m-%d %H:%M}"
                    ),
                )
            )
    for reference in spec.get("references", []):
        columns = tuple(reference["columns"])
        target = references[reference["entity"]]
        # A dimension that was not supplied is derived from the facts later: nothing to check.
        supplied = target.count() > 0
        unknown = supplied & key_of[columns].notnull() & ~key_of[columns].isin(target.BUSINESS_KEY)
        rules.append(
            (
                unknown,
                "UNKNOWN_" + "_".join(columns),
                ibis.literal(f"{'|'.join(columns)}='").concat(
                    key_of[columns], f"' not found in {reference['entity']}"
                ),
            )
        )
    return rules


def stage_silver(
    bronze: ir.Table,
    prior_silver: ir.Table | None,
    prior_quarantine: ir.Table | None,
    run_context: dict[str, Any],
    spec: dict[str, Any],
    validation: dict[str, Any],
    **references: ir.Table,
) -> ir.Table:
    """Types and validates the unapplied Bronze rows; ``REASON_CODE`` is null for a valid row."""
    batch = unapplied_loads(bronze, prior_silver, prior_quarantine)
    names = list(spec["columns"])
    text = {n: clean_text(batch[n]) for n in names}
    typed = {
        n: text[n] if spec["columns"][n]["type"] == "string" else text[n].try_cast(ENGINE_TYPES[spec["columns"][n]["type"]])
        for n in names
    }
    key_sets = [tuple(spec["key"])] + [tuple(r["columns"]) for r in spec.get("references", [])]
    key_of = {cols: business_key([text[c] for c in cols]) for cols in key_sets}
    rules = _reasons(text, typed, spec, validation, run_context, references, key_of)
    # The first rule that holds, by number: each condition is evaluated once per row.
    rule = ibis.cases(*[(cond, number) for number, (cond, _, _) in enumerate(rules)], else_=ibis.null("int16"))
    checked = batch.mutate(_RULE=rule)
    first_rule = checked._RULE
    staged = checked.select(
        BUSINESS_KEY=key_of[tuple(spec["key"])],
        **typed,
        **{f"RAW_{n}": batch[n] for n in names},
        **{c: batch[c] for c in LINEAGE},
        ROW_HASH=row_hash(list(text.values())),
        REASON_CODE=ibis.cases(*[(first_rule == n, code) for n, (_, code, _) in enumerate(rules)], else_=ibis.null("string")),
        REASON_DETAIL=ibis.cases(*[(first_rule == n, detail) for n, (_, _, detail) in enumerate(rules)], else_=ibis.null("string")),
    )
    # Within one load, the last row of a business key wins; earlier copies are quarantined as
    # exact duplicates or as conflicting versions. Across loads the newer load simply wins.
    valid = staged.REASON_CODE.isnull()
    window = ibis.window(
        group_by=[staged.BUSINESS_KEY, staged.LOAD_ID, valid],
        order_by=[staged.SOURCE_FILE.desc(), staged.SOURCE_ROW.desc()],
    )
    duplicate = valid & (ibis.row_number().over(window) > 0)
    exact = duplicate & (staged.ROW_HASH == staged.ROW_HASH.first().over(window))
    decided = staged.mutate(
        REASON_CODE=ibis.cases((exact, "DUPLICATE_ROW"), (duplicate, "DUPLICATE_KEY"), else_=staged.REASON_CODE),
        REASON_DETAIL=ibis.cases(
            (exact, ibis.literal("exact copy of a later row of the same load")),
            (duplicate, ibis.literal("superseded by a later row of the same load with different values")),
            else_=staged.REASON_DETAIL,
        ),
    )
    # Raw values are kept for the quarantine only; valid rows carry their typed values.
    keep_raw = decided.REASON_CODE.notnull()
    return decided.mutate(
        **{f"RAW_{n}": ibis.ifelse(keep_raw, decided[f"RAW_{n}"], ibis.null("string")) for n in names}
    ).drop("ROW_HASH")


def apply_silver(staged: ir.Table, spec: dict[str, Any]) -> ir.Table:
    """The valid staged rows, one per business key (latest load), to upsert on ``BUSINESS_KEY``."""
    valid = staged.filter(staged.REASON_CODE.isnull())
    newest = ibis.row_number().over(group_by=valid.BUSINESS_KEY, order_by=valid.LOAD_ID.desc())
    latest = valid.mutate(_POSITION=newest).filter(lambda t: t._POSITION == 0)
    return latest.select("BUSINESS_KEY", *spec["columns"], *LINEAGE)


def quarantine_rows(staged: ir.Table, spec: dict[str, Any], run_context: dict[str, Any]) -> ir.Table:
    """The invalid staged rows with the raw values as received and the reason."""
    bad = staged.filter(staged.REASON_CODE.notnull())
    return bad.select(
        "BUSINESS_KEY",
        "REASON_CODE",
        "REASON_DETAIL",
        *[bad[f"RAW_{n}"].name(n) for n in spec["columns"]],
        *LINEAGE,
        QUARANTINED_AT=ibis.literal(run_context["started_at"], type="timestamp"),
    )
