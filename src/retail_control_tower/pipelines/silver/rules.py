"""Silver's validation rules: what makes a row invalid, in priority order, and the values of the
referenced rows they compare with (``silver.quarantine_batch`` applies them).

The rules are Ibis expressions rather than a pandera schema on its Ibis backend: pandera
validates when called (a query inside the node) and reports failure cases per check, where the
quarantine needs every bad row with its lineage and its first reason, in the same expression
as the valid rows; measured on the same range rules it was also slower.
"""

from __future__ import annotations

import operator
from functools import reduce
from typing import Any

import ibis
import ibis.expr.types as ir

from retail_control_tower.pipelines.silver import returns
from retail_control_tower.contracts.event_dates import event_date_range
from retail_control_tower.contracts.values import TEXT_TYPES, business_key, has_utc_offset, invalid_type, typed_columns

Rule = tuple[ir.BooleanValue, str, ir.StringValue]  # (condition, reason code, detail)


def reasons(table: ir.Table, spec: dict[str, Any], event_dates: dict[str, Any], run_context: dict[str, Any], checked: dict[int, ir.Table]) -> list[Rule]:
    """(condition, reason code, detail) in priority order, over a table of cleaned text columns.

    ``checked`` holds the references to check (by number in the contract), from ``references_to_check``.
    """
    time_zone = event_dates.get("time_zone")
    typed = typed_columns(table, spec, time_zone)
    columns = spec["columns"]
    rules: list[Rule] = []
    key_columns = spec["key"]
    for name in key_columns:
        rules.append((table[name].isnull(), "NULL_KEY", ibis.literal(f"{name} is empty")))
    for name, column in columns.items():
        if name not in key_columns and column.get("nullable", True) is False:
            rules.append((table[name].isnull(), "MISSING_VALUE", ibis.literal(f"{name} is empty")))
    for name, column in columns.items():
        if column["type"] not in TEXT_TYPES:
            detail = ibis.literal(f"{name}='").concat(table[name], f"' is not a valid {column['type']}")
            rules.append((invalid_type(table[name], typed[name], column["type"]), "INVALID_TYPE", detail))
    for name, column in columns.items():
        if column["type"] == "timestamp" and not time_zone:
            detail = ibis.literal(f"{name}='").concat(table[name], "' has a UTC offset and event_dates.time_zone is not set")
            rules.append((table[name].notnull() & has_utc_offset(table[name]), "TIME_ZONE_OFFSET", detail))
    for name, column in columns.items():
        for bound, op, words in (("min", "__lt__", ">="), ("min_exclusive", "__le__", ">"), ("max", "__gt__", "<=")):
            if column.get(bound) is not None:
                detail = ibis.literal(f"{name}=").concat(table[name], f" must be {words} {column[bound]}")
                rules.append((getattr(typed[name], op)(column[bound]), "OUT_OF_RANGE", detail))
    for name, column in columns.items():
        factors = column.get("max_product_of")
        if factors:  # e.g. a line's discount at most its units x unit price
            limit = reduce(operator.mul, [typed[f] for f in factors])
            detail = ibis.literal(f"{name}=").concat(table[name], f" must be <= {' x '.join(factors)} (", limit.cast("string"), ")")
            rules.append((typed[name] > limit, "OUT_OF_RANGE", detail))
    valid = event_date_range(event_dates, run_context)
    for name, column in columns.items():
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
        names = reference["columns"]
        key = business_key([table[c] for c in names])
        rules.append(
            (
                ibis.or_(*[table[c].notnull() for c in names]) & table[f"_FOUND_{number}"].isnull(),
                "UNKNOWN_" + "_".join(names),
                ibis.literal(f"{'|'.join(names)}='").concat(key, f"' not found in {reference['entity']}"),
            )
        )
    for number, reference in enumerate(spec.get("references", [])):
        if number in checked:
            rules += _relative_bounds(table, typed, number, reference)
    if spec.get("sold_line"):
        rules.append(returns.before_order_rule(table, typed))
    return rules


def _relative_bounds(table: ir.Table, typed: dict[str, ir.Value], number: int, reference: dict[str, Any]) -> list[Rule]:
    """OUT_OF_RANGE for a value too far from the referenced row's (``bounds`` of a reference, e.g. a
    unit price above 10 x the product's list price). A missing or non-positive basis judges nothing."""
    rules = []
    for name, bound in reference.get("bounds", {}).items():
        basis = table[f"_REF_{number}_{bound['column']}"]
        for ratio_key, op, words in (("max_ratio", "__gt__", "<="), ("min_ratio", "__lt__", ">=")):
            if bound.get(ratio_key) is None:
                continue
            ratio = bound[ratio_key]
            detail = ibis.literal(f"{name}=").concat(
                table[name], f" must be {words} {ratio} x {bound['column']} of {reference['entity']} (", basis.cast("string"), ")"
            )
            rules.append(((basis > 0) & getattr(typed[name], op)(basis * ratio), "OUT_OF_RANGE", detail))
    return rules


def references_to_check(
    spec: dict[str, Any], entities: dict[str, dict], tables: dict[str, ir.Table], supplied: dict[str, bool]
) -> dict[int, ir.Table]:
    """The references of ``spec`` to check, by number, with the Silver table each must match.

    A required entity's keys are always checked, even when its Silver table is empty: with every
    order quarantined, every order line must be quarantined too, not accepted and then dropped
    on the way to the fact. An optional entity is checked when it was supplied, i.e. its Bronze
    table has rows (``supplied``, from the batch profile): a file whose every row was quarantined
    still was supplied.
    An optional entity never supplied is derived from the facts later: nothing to check.
    """
    checked = {}
    for number, reference in enumerate(spec.get("references", [])):
        required = entities.get(reference["entity"], {}).get("required", False)
        if required or supplied.get(reference["entity"], False):
            checked[number] = tables[f"SILVER_{reference['entity'].upper()}"]
    return checked


def carried_columns(spec: dict[str, Any]) -> dict[int, list[str]]:
    """Per reference, the referenced table's columns the rules compare with (``bounds``, and the
    units sold of the line a return brings back)."""
    carried = {}
    for number, reference in enumerate(spec.get("references", [])):
        columns = [bound["column"] for bound in reference.get("bounds", {}).values()]
        if spec.get("sold_line") and reference["entity"] == "order_items":
            columns.append(returns.SOLD)
        carried[number] = sorted(set(columns))
    return carried


def mark_references(cleaned: ir.Table, spec: dict[str, Any], checked: dict[int, ir.Table], carried: dict[int, list[str]]) -> ir.Table:
    """``cleaned`` with ``_FOUND_<n>`` for each checked reference: true when the row's values of
    the n-th reference are a key of the referenced Silver table, null when not; and the referenced
    row's ``carried[n]`` columns as ``_REF_<n>_<column>``.

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
            **{f"_REF_{c}": target[c] for c in reference["columns"]},
            **{f"_FOUND_{number}": ibis.literal(True)},
            **{f"_REF_{number}_{c}": target[c] for c in carried.get(number, [])},
        )
        joined = cleaned.left_join(keys, [typed[c] == keys[f"_REF_{c}"] for c in reference["columns"]])
        cleaned = joined.select(*cleaned.columns, f"_FOUND_{number}", *[f"_REF_{number}_{c}" for c in carried.get(number, [])])
        typed = typed_columns(cleaned, spec)
    return cleaned


def sold_units(checked: ir.Table, spec: dict[str, Any]) -> ir.Value:
    """The units sold of the line a return brings back, carried by its order_items reference."""
    numbers = [n for n, reference in enumerate(spec.get("references", [])) if reference["entity"] == "order_items"]
    carried = [f"_REF_{n}_{returns.SOLD}" for n in numbers if f"_REF_{n}_{returns.SOLD}" in checked.columns]
    return checked[carried[0]] if carried else ibis.null("int64")
