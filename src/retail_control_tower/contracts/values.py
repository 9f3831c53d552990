"""How Silver reads a raw text value: trimmed, identifiers in upper case, numbers in plain notation,
times in the business's local wall-clock time (docs/data-contract.md states the rules).

Every expression here compiles to DuckDB and Snowflake alike; the Snowflake SQL is tested
(tests/pipelines/silver/test_snowflake_sql.py).
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

ENGINE_TYPES = {
    "string": "string",
    "id": "string",  # an identifier: compared case-insensitively, kept in upper case
    "int": "int64",
    "decimal": "decimal(18, 2)",
    "date": "date",
    "timestamp": "timestamp",
}
TEXT_TYPES = ("string", "id")

# Plain notation only. The engines' casts also read `1e12`, `1_000`, `0x1F` and round `1.5` to an
# int; a source that writes those has sent something other than the contract's numbers. An int
# may carry a zero fraction (`2.0`, as exports of nullable integer columns write it).
# (`[.]`, not a backslash: a backslash in a Snowflake string literal is an escape.)
NUMBER_FORMATS = {
    "int": "^[+-]?[0-9]+([.]0*)?$",
    "decimal": "^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)$",
}
# A time followed by a zone: `Z`, `+02:00`, `-0500`, `+02`, ` UTC`.
UTC_OFFSET = ":[0-9][0-9]([.][0-9]*)? *([A-Za-z]|[+-][0-9])"


def business_key(parts: list[ir.StringValue]) -> ir.StringValue:
    """One text key per row; composite keys are joined with ``|`` (``O0001|2``)."""
    return parts[0] if len(parts) == 1 else ibis.literal("|").join(parts)


def clean_text(value: ir.StringValue) -> ir.StringValue:
    """Trimmed text; an empty string counts as missing.

    Only a value whose first or last character is a space or a control character is trimmed:
    trimming every value (of a set of whitespace characters) costs far more than testing the
    two characters first.
    """
    edge = (value.substr(0, 1) <= " ") | (value.right(1) <= " ")
    return ibis.ifelse(edge, value.strip(), value).nullif("")


def cleaned_columns(table: ir.Table, spec: dict[str, Any], names: list[str] | None = None) -> dict[str, ir.StringValue]:
    """The contract's columns of ``table`` (or ``names`` of them) as Silver reads their text:
    trimmed, and an identifier (``type: id``) in upper case, so ``c000010`` and ``C000010`` are one
    key everywhere."""
    columns = spec["columns"]
    return {
        name: clean_text(table[name]).upper() if columns[name]["type"] == "id" else clean_text(table[name])
        for name in (names or list(columns))
    }


def has_utc_offset(text: ir.StringValue) -> ir.BooleanValue:
    """Whether a time's text carries a zone (``Z``, ``±HH:MM``, ``±HHMM``, ``±HH``, a zone name)."""
    return text.re_search(UTC_OFFSET)


@ibis.udf.scalar.builtin(name="convert_timezone")
def _convert_timezone(zone: str, instant: dt.Timestamp(timezone="UTC")) -> dt.Timestamp(timezone="UTC"):
    """``CONVERT_TIMEZONE(zone, instant)``: sqlglot writes it as DuckDB's ``instant AT TIME ZONE zone``."""


def typed_timestamp(text: ir.StringValue, time_zone: str | None) -> ir.TimestampValue:
    """A time as local wall-clock time of ``time_zone``; null where the text is not a time.

    A time without an offset is local time already. One with an offset is read as the instant it
    names (``TIMESTAMP_TZ``: the engines' plain ``TIMESTAMP`` cast drops the offset) and converted
    to the zone's wall clock (``CONVERT_TIMEZONE``, daylight saving included). Without a zone
    there is nothing to convert to: such a row is quarantined (``TIME_ZONE_OFFSET``).
    """
    local = text.try_cast("timestamp")
    if not time_zone:
        return local
    instant = text.try_cast(dt.Timestamp(timezone="UTC"))
    return ibis.ifelse(has_utc_offset(text), _convert_timezone(time_zone, instant).cast("timestamp"), local)


def typed_columns(table: ir.Table, spec: dict[str, Any], time_zone: str | None = None) -> dict[str, ir.Value]:
    """The contract's columns of ``table`` (cleaned text) as their types; null where a value does not parse.

    A table that already holds a column's typed value as ``_TYPED_<name>`` gives that column.
    """
    typed = {}
    for name, column in spec["columns"].items():
        if f"_TYPED_{name}" in table.columns:
            typed[name] = table[f"_TYPED_{name}"]
        elif name not in table.columns:
            continue
        elif column["type"] in TEXT_TYPES:
            typed[name] = table[name]
        elif column["type"] == "timestamp":
            typed[name] = typed_timestamp(table[name], time_zone)
        else:
            typed[name] = table[name].try_cast(ENGINE_TYPES[column["type"]])
    return typed


def invalid_type(text: ir.StringValue, typed: ir.Value, type_name: str) -> ir.BooleanValue:
    """A value that is given but is not a valid ``type_name`` (or not in plain notation)."""
    unparsed = typed.isnull()
    if type_name in NUMBER_FORMATS:
        unparsed = unparsed | ~text.re_search(NUMBER_FORMATS[type_name])
    return text.notnull() & unparsed
