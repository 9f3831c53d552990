"""Aggregations the engines do badly when written the obvious way."""

from __future__ import annotations

import ibis.expr.types as ir


def most_frequent(table: ir.Table, by: str, value: str, name: str) -> ir.Table:
    """Per ``by``, the ``value`` that occurs most often, as column ``name``.

    Counting per (by, value), then keeping the values with the largest count, is a few hash
    aggregations and a join of the (small) counts; ``mode()`` keeps a value map per group. A tie
    goes to the smallest of the tied values, so every engine and every run agree (``mode()`` and
    ``argmax`` give any of them): a customer's favourite store does not change between runs.
    """
    counts = table.group_by([by, value]).aggregate(_OCCURRENCES=table.count())
    top = counts.group_by(by).aggregate(_TOP=counts._OCCURRENCES.max())
    tied = counts.inner_join(top, [by, counts._OCCURRENCES == top._TOP])
    return tied.group_by(by).aggregate(**{name: tied[value].min()})
