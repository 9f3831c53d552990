"""What the report's templates are given: values formatted as plain text, tables and cards as data,
and the Jinja2 environment that renders them with autoescaping on, so REASON, DETAIL and error
messages (free text written by pipelines and people) are escaped by the template engine, never here."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

import jinja2
import pandas as pd

# Status words used by the dq results, freshness view and run log, mapped onto three badge colours.
BADGE_CLASS = {"pass": "b-good", "ok": "b-good", "success": "b-good", "stable": "b-good",
               "warn": "b-warn", "running": "b-warn", "watch": "b-warn",
               "fail": "b-bad", "failed": "b-bad", "error": "b-bad", "act": "b-bad"}


@dataclass(frozen=True)
class Cell:
    """One table cell: plain text, right-aligned when a number, optionally shown as a status badge
    (``badge`` is its CSS class) or followed by a green tag (the champion's)."""

    text: str
    numeric: bool = False
    badge: str | None = None
    tag: str | None = None


@dataclass(frozen=True)
class Row:
    cells: list[Cell]
    highlight: bool = False


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[Row]


@dataclass(frozen=True)
class Card:
    """A KPI card; ``trend`` ("up", "down", "muted") colours ``change``, shown before ``note``."""

    label: str
    value: str
    note: str
    change: str | None = None
    trend: str | None = None


CellFormat = Callable[[object], Cell]


def missing(value: object) -> bool:
    """None, NaN and NaT (scalars only; pd.isna on a list would return an array)."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def is_number(value: object) -> bool:
    """Real numbers including numpy scalars, but not booleans (shown as words, not 1/0)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def fmt(value: object) -> str:
    """A value as display text: timestamps without seconds noise, whole numbers with thousands
    separators, other floats with 4 significant digits."""
    if missing(value):
        return "–"
    if isinstance(value, (datetime, pd.Timestamp)):
        stamp = pd.Timestamp(value)
        return stamp.strftime("%Y-%m-%d") if stamp == stamp.normalize() else stamp.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if is_number(value):
        number = float(value)  # type: ignore[arg-type]
        if math.isfinite(number) and number.is_integer() and abs(number) < 1e15:
            return f"{number:,.0f}"
        return f"{number:,.1f}" if abs(number) >= 1000 else f"{number:.4g}"
    return str(value)


def percent(value: object, digits: int = 1) -> Cell:
    return Cell("–" if missing(value) else f"{float(value):.{digits}%}")  # type: ignore[arg-type]


def badge(status: object) -> Cell:
    word = fmt(status)
    return Cell(word, badge=BADGE_CLASS.get(word.lower(), ""))


def plain(value: object) -> Cell:
    return Cell(fmt(value), numeric=is_number(value))


def table(
    frame: pd.DataFrame,
    headers: Mapping[str, str],
    *,
    formats: Mapping[str, CellFormat] | None = None,
    highlight: Callable[[pd.Series], bool] | None = None,
) -> Table:
    """``frame``'s columns named in ``headers`` (column -> header), in that order; columns the frame
    lacks are skipped, so an older warehouse schema still renders. ``formats`` maps a column to the
    function making its cells; ``highlight`` marks rows."""
    formats = formats or {}
    columns = [c for c in headers if c in frame.columns]
    rows = [
        Row([formats.get(column, plain)(row[column]) for column in columns], highlight is not None and bool(highlight(row)))
        for _, row in frame.iterrows()
    ]
    return Table([headers[c] for c in columns], rows)


def environment() -> jinja2.Environment:
    """The templates of this package, autoescaped, failing on an undefined name (a typo in a
    template must not render as an empty string)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("retail_control_tower.pipelines.reporting", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
