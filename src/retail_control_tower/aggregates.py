"""Aggregations the engines do badly when written the obvious way."""

from __future__ import annotations

import ibis.expr.types as ir


def most_frequent(table: ir.Table, by: str, value: str, name: str) -> ir.Table:
    """Per ``by``, the ``value`` that occurs most often, as column ``name``.

    Counting per (by, value) and taking the value with the largest count is a plain two-level
    hash aggregation; ``mode()`` keeps a value map per group. Ties go to any of the tied values,
    as with ``mode()``.
    """
    counts = table.group_by([by, value]).aggregate(_OCCURRENCES=table.count())
    return counts.group_by(by).aggregate(**{name: counts[value].argmax(counts._OCCURRENCES)})
