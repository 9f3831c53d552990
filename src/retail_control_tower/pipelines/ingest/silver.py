"""Silver: typed, trimmed, validated and deduplicated; bad rows go to quarantine with a reason.

A Silver table is built in three steps, each its own node, so no expression reads a table
that the same node writes:
1. ``stage_silver``: the Bronze rows of loads not yet applied, typed, each with a reason code
   when invalid and ``IS_CURRENT`` on the one valid row per business key that wins (the
   latest load) (``SILVER.STG_<ENTITY>``, replaced every run);
2. ``apply_silver``: the current rows, upserted on ``BUSINESS_KEY``;
3. ``quarantine_rows``: the invalid rows with their raw values, appended to
   ``SILVER.<ENTITY>_QUARANTINE``.
Re-running with nothing new in Bronze stages nothing, so the upsert and append change nothing.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir


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


def row_hash(values: list[ir.StringValue]) -> ir.IntegerValue:
    """Hash of a row's text values; visible separator and null marker keep the SQL portable."""
    return ibis.literal("\u241f").join([value.fill_null("\u2400") for value in values]).hash()


def unapplied_loads(bronze: ir.Table, *prior_tables: ir.Table | None) -> ir.Table:
    """Bronze rows of loads newer than the newest load already applied (Silver or quarantine)."""
    applied = [t.select("LOAD_ID") for t in prior_tables if t is not None]
    if not applied:
        return bronze
    watermark = ibis.union(*applied).LOAD_ID.max().fill_null("")
    return bronze.filter(bronze.LOAD_ID > watermark)


def evaluate_once(table: ir.Table, name: str) -> ir.Table:
    """A barrier that makes the engine compute ``table``'s columns once (as a named CTE).

    Ibis inlines the expressions of one projection into the next, so a trimmed value used by
    eight validation rules would be trimmed eight times; referencing a CTE avoids that (it made
    staging 1M order lines ~40% faster on DuckDB). Its inputs must be warehouse tables: an
    in-memory table inside the CTE would not be registered with the engine.
    """
    return table.alias(name).sql(f"SELECT * FROM {name}")


def _typed(table: ir.Table, spec: dict[str, Any]) -> dict[str, ir.Value]:
    return {
        name: table[name] if column["type"] == "string" else table[name].try_cast(ENGINE_TYPES[column["type"]])
        for name, column in spec["columns"].items()
    }


def _reasons(
    table: ir.Table,
    spec: dict[str, Any],
    validation: dict[str, Any],
    run_context: dict[str, Any],
    references: dict[str, ir.Table],
) -> list[tuple[ir.BooleanValue, str, ir.StringValue]]:
    """(condition, reason code, detail) in priority order, over a table of trimmed text columns."""
    typed = _typed(table, spec)
    rules: list[tuple[ir.BooleanValue, str, ir.StringValue]] = []
    key_columns = spec["key"]
    for name in key_columns:
        rules.append((table[name].isnull(), "NULL_KEY", ibis.literal(f"{name} is empty")))
    for name, column in spec["columns"].items():
        if name not in key_columns and column.get("nullable", True) is False:
            rules.append((table[name].isnull(), "MISSING_VALUE", ibis.literal(f"{name} is empty")))
    for name, column in spec["columns"].items():
        if column["type"] != "string":
            rules.append(
                (
                    table[name].notnull() & typed[name].isnull(),
                    "INVALID_TYPE",
                    ibis.literal(f"{name}='").concat(table[name], f"' is not a valid {column['type']}"),
                )
            )
    for name, column in spec["columns"].items():
        for bound, op, words in (("min", "__lt__", ">="), ("min_exclusive", "__le__", ">")):
            if bound in column:
                rules.append(
                    (
                        getattr(typed[name], op)(column[bound]),
                        "OUT_OF_RANGE",
                        ibis.literal(f"{name}=").concat(table[name], f" must be {words} {column[bound]}"),
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
                        table[name], f" is before {earliest} or after {latest:%Y-%m-%d %H:%M}"
                    ),
                )
            )
    for reference in spec.get("references", []):
        columns = reference["columns"]
        key = business_key([table[c] for c in columns])
        target = references[reference["entity"]]
        # A dimension that was not supplied is derived from the facts later: nothing to check.
        supplied = target.count() > 0
        rules.append(
            (
                supplied & key.notnull() & ~key.isin(target.BUSINESS_KEY),
                "UNKNOWN_" + "_".join(columns),
                ibis.literal(f"{'|'.join(columns)}='").concat(key, f"' not found in {reference['entity']}"),
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
    cleaned = evaluate_once(
        batch.select(
            **{n: clean_text(batch[n]) for n in names},
            **{f"RAW_{n}": batch[n] for n in names},
            **{c: batch[c] for c in LINEAGE},
        ),
        "cleaned",
    )
    # The number of the first rule that holds: each condition is evaluated once per row, and
    # the reason's code and detail are only built for that rule.
    conditions = [cond for cond, _, _ in _reasons(cleaned, spec, validation, run_context, references)]
    rule = ibis.cases(*[(cond, n) for n, cond in enumerate(conditions)], else_=ibis.null("int16"))
    checked = evaluate_once(cleaned.mutate(_RULE=rule), "checked")
    rules = _reasons(checked, spec, validation, run_context, references)
    repeated = keys_repeat(batch, spec)
    staged = checked.select(
        BUSINESS_KEY=business_key([checked[c] for c in spec["key"]]),
        **_typed(checked, spec),
        **{f"RAW_{n}": checked[f"RAW_{n}"] for n in names},
        **{c: checked[c] for c in LINEAGE},
        REASON_CODE=ibis.cases(*[(checked._RULE == n, code) for n, (_, code, _) in enumerate(rules)], else_=ibis.null("string")),
        REASON_DETAIL=ibis.cases(*[(checked._RULE == n, detail) for n, (_, _, detail) in enumerate(rules)], else_=ibis.null("string")),
        **({"ROW_HASH": row_hash([checked[n] for n in names])} if repeated else {}),
    )
    if repeated:
        decided = _decide_repeated_keys(staged)
    else:
        # Every key occurs once in the batch: each valid row is its key's current version.
        decided = staged.mutate(IS_CURRENT=staged.REASON_CODE.isnull())
    # Raw values are kept for the quarantine only; valid rows carry their typed values.
    keep_raw = decided.REASON_CODE.notnull()
    return decided.mutate(
        **{f"RAW_{n}": ibis.ifelse(keep_raw, decided[f"RAW_{n}"], ibis.null("string")) for n in names}
    )


def keys_repeat(batch: ir.Table, spec: dict[str, Any]) -> bool:
    """Whether any business key occurs more than once in the batch (one small query).

    Ordering rows by key is the costly part of staging (a window that sorts every row with
    its values: 60% of staging 49M order lines); it is only needed when a key repeats.
    """
    key = business_key([clean_text(batch[c]) for c in spec["key"]])
    # Distinct 64-bit hashes of the keys, not the keys: counting integers is cheaper than
    # counting text, and two keys sharing a hash only make the answer "yes" (the ordered
    # path, which is always correct), never "no" for a batch that does repeat a key.
    counts = batch.aggregate(ROWS=key.count(), KEYS=key.hash().nunique(where=key.notnull())).to_pyarrow().to_pylist()[0]
    return counts["ROWS"] > counts["KEYS"]


def _decide_repeated_keys(staged: ir.Table) -> ir.Table:
    """Duplicates within a load are quarantined; across loads the newest load is current.

    Within one load, the last row of a business key wins; earlier copies are quarantined as
    exact duplicates or as conflicting versions. Across loads the newer load simply wins,
    and the older load's version is superseded (neither current nor quarantined).
    """
    valid = staged.REASON_CODE.isnull()
    in_load = ibis.window(
        group_by=[staged.BUSINESS_KEY, staged.LOAD_ID, valid],
        order_by=[staged.SOURCE_FILE.desc(), staged.SOURCE_ROW.desc()],
    )
    newest = ibis.window(
        group_by=[staged.BUSINESS_KEY, valid],
        order_by=[staged.LOAD_ID.desc(), staged.SOURCE_FILE.desc(), staged.SOURCE_ROW.desc()],
    )
    duplicate = valid & (ibis.row_number().over(in_load) > 0)
    exact = duplicate & (staged.ROW_HASH == staged.ROW_HASH.first().over(in_load))
    return staged.mutate(
        REASON_CODE=ibis.cases((exact, "DUPLICATE_ROW"), (duplicate, "DUPLICATE_KEY"), else_=staged.REASON_CODE),
        REASON_DETAIL=ibis.cases(
            (exact, ibis.literal("exact copy of a later row of the same load")),
            (duplicate, ibis.literal("superseded by a later row of the same load with different values")),
            else_=staged.REASON_DETAIL,
        ),
        IS_CURRENT=valid & (ibis.row_number().over(newest) == 0),
    ).drop("ROW_HASH")


def apply_silver(staged: ir.Table, spec: dict[str, Any]) -> ir.Table:
    """The current staged rows, one per business key (latest load), to upsert on ``BUSINESS_KEY``."""
    return staged.filter(staged.IS_CURRENT).select("BUSINESS_KEY", *spec["columns"], *LINEAGE)


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
