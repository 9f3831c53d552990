"""Silver: typed, trimmed, validated and deduplicated; bad rows go to quarantine with a reason.

A Silver table is built in two steps, each its own node, so no expression reads a table that
the same node writes:
1. ``quarantine_batch``: the Bronze rows of loads not yet applied are validated; the invalid
   ones (and the earlier copies of a key repeated within one load) are appended to
   ``SILVER.<ENTITY>_QUARANTINE`` with a reason code and the raw values;
2. ``apply_silver``: the rows of those loads that were not quarantined, typed, the newest
   load's row per business key, upserted on the key's columns.
Only the rejected rows are written twice; the batch itself is typed straight from Bronze into
Silver. (An intermediate table holding the whole typed batch cost a 50M-row write per load.)
Re-running with nothing new in Bronze quarantines nothing and upserts nothing.

Silver holds the typed key columns, not a key joined into one text: on 49M order lines that
extra text column cost 6 s of the write (DuckDB, 2 cores). The quarantine keeps the joined
text (``BUSINESS_KEY``) for the few rows it holds.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from retail_control_tower.pipelines.ingest.event_dates import event_date_range


ENGINE_TYPES = {
    "string": "string",
    "int": "int64",
    "decimal": "decimal(18, 2)",
    "date": "date",
    "timestamp": "timestamp",
}
LINEAGE = ["LOAD_ID", "LOADED_AT", "SOURCE_FILE", "SOURCE_ROW"]


def clean_text(value: ir.StringValue) -> ir.StringValue:
    """Trimmed text; an empty string counts as missing.

    Only a value whose first or last character is a space or a control character is trimmed:
    trimming every value (of a set of whitespace characters) took 9.6 s for the 7 columns of 49M
    order lines on DuckDB, testing the two characters first 3.1 s.
    """
    edge = (value.substr(0, 1) <= " ") | (value.right(1) <= " ")
    return ibis.ifelse(edge, value.strip(), value).nullif("")


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


def typed_columns(table: ir.Table, spec: dict[str, Any]) -> dict[str, ir.Value]:
    """The contract's columns of ``table`` (trimmed text) as their types; null where a value does not parse.

    A table that already holds a column's typed value as ``_TYPED_<name>`` gives that column.
    """
    typed = {}
    for name, column in spec["columns"].items():
        if f"_TYPED_{name}" in table.columns:
            typed[name] = table[f"_TYPED_{name}"]
        elif name in table.columns:
            typed[name] = table[name] if column["type"] == "string" else table[name].try_cast(ENGINE_TYPES[column["type"]])
    return typed


def _reasons(
    table: ir.Table,
    spec: dict[str, Any],
    event_dates: dict[str, Any],
    run_context: dict[str, Any],
    checked: dict[int, ir.Table],
) -> list[tuple[ir.BooleanValue, str, ir.StringValue]]:
    """(condition, reason code, detail) in priority order, over a table of trimmed text columns.

    ``checked`` holds the references to check (by number in the contract), from ``references_to_check``.
    """
    typed = typed_columns(table, spec)
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
    valid = event_date_range(event_dates, run_context)
    for name, column in spec["columns"].items():
        if column.get("event_date"):
            value = typed[name].cast("timestamp")
            rules.append(
                (
                    (value < ibis.literal(valid.earliest).cast("timestamp")) | (value > ibis.literal(valid.latest)),
                    "DATE_OUT_OF_RANGE",
                    ibis.literal(f"{name}=").concat(
                        table[name], f" is before {valid.earliest} or after {valid.latest:%Y-%m-%d %H:%M}"
                    ),
                )
            )
    for number, reference in enumerate(spec.get("references", [])):
        if number not in checked:
            continue
        columns = reference["columns"]
        key = business_key([table[c] for c in columns])
        rules.append(
            (
                ibis.or_(*[table[c].notnull() for c in columns]) & table[f"_FOUND_{number}"].isnull(),
                "UNKNOWN_" + "_".join(columns),
                ibis.literal(f"{'|'.join(columns)}='").concat(key, f"' not found in {reference['entity']}"),
            )
        )
    return rules


def references_to_check(spec: dict[str, Any], entities: dict[str, dict], tables: dict[str, ir.Table]) -> dict[int, ir.Table]:
    """The references of ``spec`` to check, by number, with the Silver table each must match.

    A required entity's keys are always checked, even when its Silver table is empty: with every
    order quarantined, every order line must be quarantined too, not accepted and then dropped
    on the way to the fact. An optional entity is checked when it was supplied, i.e. its Bronze
    table has rows (one small query): a file whose every row was quarantined still was supplied.
    An optional entity never supplied is derived from the facts later: nothing to check.
    """
    checked = {}
    for number, reference in enumerate(spec.get("references", [])):
        table = reference["entity"].upper()
        required = entities.get(reference["entity"], {}).get("required", False)
        if required or tables[f"BRONZE_{table}"].limit(1).count().execute() > 0:
            checked[number] = tables[f"SILVER_{table}"]
    return checked


def _checked(
    batch: ir.Table,
    spec: dict[str, Any],
    event_dates: dict[str, Any],
    run_context: dict[str, Any],
    checked_references: dict[int, ir.Table],
) -> tuple[ir.Table, list[tuple[ir.BooleanValue, str, ir.StringValue]]]:
    """The batch's trimmed text, raw values and lineage, with ``_RULE``: the number of the first
    rule the row breaks (null for a valid row); and the rules over that table."""
    names = list(spec["columns"])
    cleaned = evaluate_once(
        batch.select(
            **{n: clean_text(batch[n]) for n in names},
            **{f"RAW_{n}": batch[n] for n in names},
            **{c: batch[c] for c in LINEAGE},
        ),
        "cleaned",
    )
    # Each value is parsed once, for the type, range and reference rules together.
    parsed = {n: v for n, v in typed_columns(cleaned, spec).items() if spec["columns"][n]["type"] != "string"}
    cleaned = evaluate_once(cleaned.mutate(**{f"_TYPED_{n}": v for n, v in parsed.items()}), "parsed")
    # Each condition is evaluated once per row; the reason's code and detail are only built
    # for the rows that are quarantined.
    marked = _mark_references(cleaned, spec, checked_references)
    conditions = [cond for cond, _, _ in _reasons(marked, spec, event_dates, run_context, checked_references)]
    rule = ibis.cases(*[(cond, n) for n, cond in enumerate(conditions)], else_=ibis.null("int16"))
    checked = evaluate_once(marked.mutate(_RULE=rule), "checked")
    return checked, _reasons(checked, spec, event_dates, run_context, checked_references)


def _mark_references(cleaned: ir.Table, spec: dict[str, Any], checked: dict[int, ir.Table]) -> ir.Table:
    """``cleaned`` with ``_FOUND_<n>`` for each checked reference: true when the row's values of
    the n-th reference are a key of the referenced Silver table, null when not.

    A reference names the referenced entity's business key, which is unique in its Silver
    table, so the left join keeps one row per batch row. The values are compared typed, as
    Silver holds them.
    """
    typed = typed_columns(cleaned, spec)
    for number, reference in enumerate(spec.get("references", [])):
        if number not in checked:
            continue
        target = checked[number]
        keys = target.select(
            **{f"_REF_{c}": target[c] for c in reference["columns"]}, **{f"_FOUND_{number}": ibis.literal(True)}
        )
        joined = cleaned.left_join(keys, [typed[c] == keys[f"_REF_{c}"] for c in reference["columns"]])
        cleaned = joined.select(*cleaned.columns, f"_FOUND_{number}")
        typed = typed_columns(cleaned, spec)
    return cleaned


def quarantine_batch(
    bronze: ir.Table,
    prior_silver: ir.Table | None,
    prior_quarantine: ir.Table | None,
    run_context: dict[str, Any],
    spec: dict[str, Any],
    event_dates: dict[str, Any],
    entities: dict[str, dict] | None = None,
    **tables: ir.Table,
) -> ir.Table:
    """The invalid rows of the unapplied loads, with their raw values as received and the reason.

    A row is invalid when it breaks a rule (``_reasons``) or, within one load, is an earlier
    copy of a business key that a later row of the load repeats (``DUPLICATE_ROW`` when the
    values are the same, ``DUPLICATE_KEY`` when they differ). ``entities`` is the whole input
    contract and ``tables`` the Silver and Bronze tables of the entities ``spec`` references
    (``SILVER_ORDERS``, ``BRONZE_ORDERS``), see ``references_to_check``.
    """
    batch = unapplied_loads(bronze, prior_silver, prior_quarantine)
    references = references_to_check(spec, entities or {}, tables)
    checked, rules = _checked(batch, spec, event_dates, run_context, references)
    names = list(spec["columns"])
    repeated = keys_repeat(batch, spec)
    rows = checked.select(
        "_RULE",
        BUSINESS_KEY=business_key([checked[c] for c in spec["key"]]),
        **{n: checked[f"RAW_{n}"] for n in names},
        **{c: checked[c] for c in LINEAGE},
        REASON_CODE=ibis.cases(*[(checked._RULE == n, code) for n, (_, code, _) in enumerate(rules)], else_=ibis.null("string")),
        REASON_DETAIL=ibis.cases(*[(checked._RULE == n, detail) for n, (_, _, detail) in enumerate(rules)], else_=ibis.null("string")),
        **({"ROW_HASH": row_hash([checked[n] for n in names])} if repeated else {}),
    )
    # Without a repeated key a row is invalid only when it breaks a rule. (Filtering on the
    # rule's number, not on the reason built from it, keeps the scan of a large batch cheap.)
    bad = _duplicates_within_load(rows).filter(lambda t: t.REASON_CODE.notnull()) if repeated else rows.filter(rows._RULE.notnull())
    return bad.select(
        "BUSINESS_KEY",
        "REASON_CODE",
        "REASON_DETAIL",
        *names,
        *LINEAGE,
        QUARANTINED_AT=ibis.literal(run_context["started_at"], type="timestamp"),
    )


def keys_repeat(batch: ir.Table, spec: dict[str, Any]) -> bool:
    """Whether any business key occurs more than once in the batch (one small query).

    Ordering rows by key is the costly part of validating a batch (a window that sorts every
    row with its values: 60% of the work for 49M order lines); it is only needed when a key
    repeats.
    """
    key = business_key([clean_text(batch[c]) for c in spec["key"]])
    # Distinct 64-bit hashes of the keys, not the keys: counting integers is cheaper than
    # counting text, and two keys sharing a hash only make the answer "yes" (the ordered
    # path, which is always correct), never "no" for a batch that does repeat a key.
    counts = batch.aggregate(ROWS=key.count(), KEYS=key.hash().nunique(where=key.notnull())).to_pyarrow().to_pylist()[0]
    return counts["ROWS"] > counts["KEYS"]


def _duplicates_within_load(rows: ir.Table) -> ir.Table:
    """Within one load the last row of a business key wins; the earlier valid copies get a
    reason: ``DUPLICATE_ROW`` (the same values) or ``DUPLICATE_KEY`` (different values)."""
    valid = rows.REASON_CODE.isnull()
    in_load = ibis.window(
        group_by=[rows.BUSINESS_KEY, rows.LOAD_ID, valid],
        order_by=[rows.SOURCE_FILE.desc(), rows.SOURCE_ROW.desc()],
    )
    duplicate = valid & (ibis.row_number().over(in_load) > 0)
    exact = duplicate & (rows.ROW_HASH == rows.ROW_HASH.first().over(in_load))
    return rows.mutate(
        REASON_CODE=ibis.cases((exact, "DUPLICATE_ROW"), (duplicate, "DUPLICATE_KEY"), else_=rows.REASON_CODE),
        REASON_DETAIL=ibis.cases(
            (exact, ibis.literal("exact copy of a later row of the same load")),
            (duplicate, ibis.literal("superseded by a later row of the same load with different values")),
            else_=rows.REASON_DETAIL,
        ),
    ).drop("ROW_HASH")


def apply_silver(bronze: ir.Table, prior_silver: ir.Table | None, quarantine: ir.Table, spec: dict[str, Any]) -> ir.Table:
    """The rows of the loads newer than Silver's newest that were not quarantined, typed, one per
    business key: the newest load's (upserted on the key's columns).

    ``quarantine`` is the quarantine after this run's rows were appended. A load newer than
    Silver's newest whose rows were all quarantined by an earlier run has nothing left to
    apply; a load validated by a run that stopped before applying it is applied now.
    """
    batch = unapplied_loads(bronze, prior_silver)
    valid = batch.anti_join(quarantine, LINEAGE)
    cleaned = evaluate_once(
        valid.select(**{n: clean_text(valid[n]) for n in spec["columns"]}, **{c: valid[c] for c in LINEAGE}),
        "valid",
    )
    rows = cleaned.select(
        **typed_columns(cleaned, spec),
        **{c: cleaned[c] for c in LINEAGE},
    )
    if loads_in(batch) <= 1:
        # Copies of a key within one load were quarantined: every key occurs once.
        return rows
    # Several loads (an earlier run stopped before applying its load): the newest load wins.
    newest = ibis.window(
        group_by=[rows[c] for c in spec["key"]],
        order_by=[rows.LOAD_ID.desc(), rows.SOURCE_FILE.desc(), rows.SOURCE_ROW.desc()],
    )
    return rows.filter(ibis.row_number().over(newest) == 0)


def loads_in(batch: ir.Table) -> int:
    """How many loads the batch holds: 0, 1, or 2 for more than one (one small query)."""
    bounds = batch.aggregate(N=batch.count(), FIRST=batch.LOAD_ID.min(), LAST=batch.LOAD_ID.max()).to_pyarrow().to_pylist()[0]
    if not bounds["N"]:
        return 0
    return 1 if bounds["FIRST"] == bounds["LAST"] else 2
