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
Re-running with nothing new in Bronze quarantines nothing and upserts nothing. What the plan
depends on (a repeated key, several loads) is asked once, before, by ``profile.profile_batches``.

Silver holds the typed key columns, not a key joined into one text, which would be an extra
text column on every row that nothing joins on. The quarantine keeps the joined text
(``BUSINESS_KEY``) for the few rows it holds.

How a text value is read (trimmed, identifiers upper-cased, times converted) is ``values``; the
rules a row must pass are ``rules``, and a return's against its sale ``returns``.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from retail_control_tower.pipelines.silver import returns, rules
from retail_control_tower.pipelines.silver.profile import unapplied
from retail_control_tower.contracts.values import TEXT_TYPES, business_key, cleaned_columns, typed_columns

LINEAGE = ["LOAD_ID", "LOADED_AT", "SOURCE_FILE", "SOURCE_ROW"]


def row_hash(values: list[ir.StringValue]) -> ir.IntegerValue:
    """Hash of a row's text values; visible separator and null marker keep the SQL portable."""
    return ibis.literal("\u241f").join([value.fill_null("\u2400") for value in values]).hash()


def unapplied_loads(bronze: ir.Table, *prior_tables: ir.Table | None) -> ir.Table:
    """Bronze rows of loads newer than the newest load already applied (Silver or quarantine)."""
    if all(t is None for t in prior_tables):
        return bronze
    return bronze.filter(unapplied(bronze, *prior_tables))


def evaluate_once(table: ir.Table, name: str) -> ir.Table:
    """A barrier that makes the engine compute ``table``'s columns once (as a named CTE).

    Ibis inlines the expressions of one projection into the next, so a trimmed value used by
    eight validation rules would be trimmed eight times; referencing a CTE avoids that. Its
    inputs must be warehouse tables: an in-memory table inside the CTE would not be registered
    with the engine.
    """
    return table.alias(name).sql(f"SELECT * FROM {name}")


def _checked(
    batch: ir.Table,
    spec: dict[str, Any],
    event_dates: dict[str, Any],
    run_context: dict[str, Any],
    checked_references: dict[int, ir.Table],
    orders: ir.Table | None,
) -> tuple[ir.Table, list[rules.Rule]]:
    """The batch's cleaned text, raw values and lineage, with ``_RULE``: the number of the first
    rule the row breaks (null for a valid row); and the rules over that table."""
    names = list(spec["columns"])
    cleaned = evaluate_once(
        batch.select(
            **cleaned_columns(batch, spec),
            **{f"RAW_{n}": batch[n] for n in names},
            **{c: batch[c] for c in LINEAGE},
        ),
        "cleaned",
    )
    # Each value is parsed once, for the type, range and reference rules together.
    parsed = typed_columns(cleaned, spec, event_dates.get("time_zone"))
    typed_only = {n: v for n, v in parsed.items() if spec["columns"][n]["type"] not in TEXT_TYPES}
    cleaned = evaluate_once(cleaned.mutate(**{f"_TYPED_{n}": v for n, v in typed_only.items()}), "parsed")
    # Each condition is evaluated once per row; the reason's code and detail are only built
    # for the rows that are quarantined.
    marked = rules.mark_references(cleaned, spec, checked_references, rules.carried_columns(spec))
    if spec.get("sold_line"):
        marked = returns.mark_order_day(marked, typed_columns(marked, spec), orders)
    conditions = [cond for cond, _, _ in rules.reasons(marked, spec, event_dates, run_context, checked_references)]
    rule = ibis.cases(*[(cond, n) for n, cond in enumerate(conditions)], else_=ibis.null("int16"))
    checked = evaluate_once(marked.mutate(_RULE=rule), "checked")
    return checked, rules.reasons(checked, spec, event_dates, run_context, checked_references)


def quarantine_batch(
    bronze: ir.Table,
    prior_silver: ir.Table | None,
    prior_quarantine: ir.Table | None,
    run_context: dict[str, Any],
    spec: dict[str, Any],
    event_dates: dict[str, Any],
    entities: dict[str, dict] | None = None,
    *,
    batch: dict[str, Any],
    **tables: ir.Table,
) -> ir.Table:
    """The invalid rows of the unapplied loads, with their raw values as received and the reason.

    A row is invalid when it breaks a rule (``rules.reasons``) or, within one load, is an earlier
    copy of a business key that a later row of the load repeats (``DUPLICATE_ROW`` when the
    values are the same, ``DUPLICATE_KEY`` when they differ); a return, also when it takes its
    line past the units sold (``returns.exceeding_sold``). ``entities`` is the whole input
    contract and ``tables`` the Silver tables of the entities ``spec`` references (``SILVER_ORDERS``),
    see ``references_to_check``; for returns also ``SILVER_ORDERS``, the orders' days. ``batch`` is
    the entity's profile (``profile.profile_batches``): whether a key repeats, how many loads, which
    entities were supplied; it decides the plan, so this node only builds an expression.
    """
    rows_to_check = unapplied_loads(bronze, prior_silver, prior_quarantine)
    references = rules.references_to_check(spec, entities or {}, tables, batch["supplied"])
    checked, broken = _checked(rows_to_check, spec, event_dates, run_context, references, tables.get("SILVER_ORDERS"))
    names = list(spec["columns"])
    repeated = batch["keys_repeat"]
    sold_line = bool(spec.get("sold_line"))
    rows = checked.select(
        "_RULE",
        BUSINESS_KEY=business_key([checked[c] for c in spec["key"]]),
        **{n: checked[f"RAW_{n}"] for n in names},
        **{c: checked[c] for c in LINEAGE},
        REASON_CODE=ibis.cases(*[(checked._RULE == n, code) for n, (_, code, _) in enumerate(broken)], else_=ibis.null("string")),
        REASON_DETAIL=ibis.cases(*[(checked._RULE == n, detail) for n, (_, _, detail) in enumerate(broken)], else_=ibis.null("string")),
        **({"ROW_HASH": row_hash([checked[n] for n in names])} if repeated else {}),
        **(returns.counted_columns(checked, typed_columns(checked, spec), rules.sold_units(checked, spec)) if sold_line else {}),
    )
    if repeated:
        rows = _duplicates_within_load(rows)
    if sold_line:
        rows = returns.exceeding_sold(rows, prior_silver, batch["several_loads"])
    # Without a repeated key or a return a row is invalid only when it breaks a rule. (Filtering
    # on the rule's number, not on the reason built from it, keeps the scan of a large batch cheap.)
    bad = rows.filter(rows.REASON_CODE.notnull()) if repeated or sold_line else rows.filter(rows._RULE.notnull())
    return bad.select(
        "BUSINESS_KEY",
        "REASON_CODE",
        "REASON_DETAIL",
        *names,
        *LINEAGE,
        QUARANTINED_AT=ibis.literal(run_context["started_at"], type="timestamp"),
    )


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


def apply_silver(
    bronze: ir.Table,
    prior_silver: ir.Table | None,
    quarantine: ir.Table,
    spec: dict[str, Any],
    event_dates: dict[str, Any],
    batch: dict[str, Any],
) -> ir.Table:
    """The rows of the loads newer than Silver's newest that were not quarantined, typed, one per
    business key: the newest load's (upserted on the key's columns). Times with an offset are
    converted to ``event_dates.time_zone``, as they were validated.

    ``quarantine`` is the quarantine after this run's rows were appended. A load newer than
    Silver's newest whose rows were all quarantined by an earlier run has nothing left to
    apply; a load validated by a run that stopped before applying it is applied now. ``batch`` is
    the entity's profile (``profile.profile_batches``): how many loads are newer than Silver's newest.
    """
    valid = unapplied_loads(bronze, prior_silver).anti_join(quarantine, LINEAGE)
    cleaned = evaluate_once(
        valid.select(**cleaned_columns(valid, spec), **{c: valid[c] for c in LINEAGE}),
        "valid",
    )
    rows = cleaned.select(
        **typed_columns(cleaned, spec, event_dates.get("time_zone")),
        **{c: cleaned[c] for c in LINEAGE},
    )
    if batch["loads_to_apply"] <= 1:
        # Copies of a key within one load were quarantined: every key occurs once.
        return rows
    # Several loads (an earlier run stopped before applying its load): the newest load wins.
    newest = ibis.window(
        group_by=[rows[c] for c in spec["key"]],
        order_by=[rows.LOAD_ID.desc(), rows.SOURCE_FILE.desc(), rows.SOURCE_ROW.desc()],
    )
    return rows.filter(ibis.row_number().over(newest) == 0)
