"""Bridge 8 (``GAPS.md``): Snowflake's ``DATEADD`` of a DATE by days, weeks, months, quarters or
years is a DATE; fakesnow's DuckDB makes it a TIMESTAMP (``DATE + INTERVAL``), so a table built
from it gets a TIMESTAMP column and Ibis, reading the table back, refuses to compare it with a
date (the ``features`` pipeline stops). fakesnow casts the result back only when the operand is
written as ``CAST(x AS DATE)``.

Here each such ``DATEADD`` is cast back to DATE when DuckDB's binder confirms that its operand is
a DATE: the operand is probed as ``x + 0`` (DATE + INTEGER binds, TIMESTAMP + INTEGER does not)
with ``EXPLAIN``, which binds the statement without running it.

Bridge 9: Ibis writes an interval's amount as a text literal, negated for a subtraction
(``DATEADD(DAY, -'730', t)``); Snowflake casts the text to a number, fakesnow's DuckDB cannot
negate text. The amount is written as the number it is.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlglot
from sqlglot import exp

DATE_UNITS = {"DAY", "DAYS", "D", "WEEK", "WEEKS", "W", "MONTH", "MONTHS", "MM", "QUARTER", "Q", "YEAR", "YEARS", "Y", "YY", "YYYY"}


def _unit(node: exp.Expression) -> str | None:
    unit = node.args.get("unit")
    return unit.name.upper() if unit is not None else None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def cast_date_arithmetic(statement: str, binds: Callable[[exp.Expression], bool]) -> str:
    """``statement`` with every DATEADD of a DATE operand (as ``binds`` finds) cast to DATE."""
    if "DATEADD" not in statement.upper():
        return statement
    tree = sqlglot.parse_one(statement, read="snowflake")
    numbers = False
    for node in tree.find_all(exp.DateAdd, exp.DateSub):
        amount = node.expression
        literal = amount.this if isinstance(amount, exp.Neg) else amount
        if isinstance(literal, exp.Literal) and literal.is_string and _is_number(literal.this):
            literal.replace(exp.Literal.number(literal.this))
            numbers = True
    candidates = [n for n in tree.find_all(exp.DateAdd, exp.DateSub) if _unit(n) in DATE_UNITS and not isinstance(n.parent, exp.Cast)]
    if not candidates:
        return tree.sql(dialect="snowflake") if numbers else statement
    changed = numbers
    for node in candidates:
        probe = node.copy()
        probe.set("this", exp.Add(this=exp.Paren(this=node.this.copy()), expression=exp.Literal.number(0)))
        guarded = exp.Cast(this=probe, to=exp.DataType.build("DATE"))
        node.replace(guarded)
        if binds(tree):
            changed = True
        else:
            guarded.replace(node)
    return tree.sql(dialect="snowflake") if changed else statement
