"""Small HTML building blocks for the run report: value formatting, tables, cards, badges and the
page shell. Every piece of text that can come from data passes through ``text`` (``html.escape``),
because REASON, DETAIL and error messages are free text written by pipelines and people."""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Callable, Mapping
from datetime import date, datetime

import pandas as pd

# Inline CSS only: the page must open offline and from an e-mail attachment, so nothing is fetched.
STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:1rem 2rem;color:#1f2933;line-height:1.4}
h1{margin-bottom:.2rem} h2{border-bottom:2px solid #d9e2ec;padding-bottom:.3rem;margin-top:2.4rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.88rem} th,td{border:1px solid #d9e2ec;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f0f4f8} td.num{text-align:right;font-variant-numeric:tabular-nums} tr.hl td{background:#fff8e1;font-weight:600}
.muted{color:#627d98} .nodata{color:#627d98;font-style:italic}
.badge{display:inline-block;padding:.05rem .55rem;border-radius:.7rem;color:#fff;font-size:.78rem;font-weight:600;background:#829ab1}
.b-good{background:#2f9e44} .b-warn{background:#f08c00} .b-bad{background:#e03131}
.cards{display:flex;gap:.8rem;flex-wrap:wrap;margin:.6rem 0} .card{border:1px solid #d9e2ec;border-radius:.5rem;padding:.5rem .9rem;min-width:9rem}
.card b{display:block;font-size:1.35rem} .card small{display:block;color:#627d98} .up{color:#2f9e44} .down{color:#e03131}
details{margin:.6rem 0} summary{cursor:pointer;color:#334e68} dt{font-weight:700;margin-top:.5rem} dd{margin-left:1.2rem}
code{background:#f0f4f8;padding:0 .25rem;border-radius:.2rem}
"""

# Status words used by the dq results, freshness view and run log, mapped onto three badge colours.
BADGE_CLASS = {"pass": "b-good", "ok": "b-good", "success": "b-good",
               "warn": "b-warn", "running": "b-warn",
               "fail": "b-bad", "failed": "b-bad", "error": "b-bad"}

Formatter = Callable[[object], str]


def missing(value: object) -> bool:
    """None, NaN and NaT (scalars only; pd.isna on a list would return an array)."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def fmt(value: object) -> str:
    """A cell value as plain (unescaped) text: timestamps without seconds noise, whole numbers with
    thousands separators, other floats with 4 significant digits."""
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


def is_number(value: object) -> bool:
    """Real numbers including numpy scalars, but not booleans (shown as words, not 1/0)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def text(value: object) -> str:
    """Escaped display text of any value."""
    return html.escape(fmt(value))


def percent(value: object, digits: int = 1) -> str:
    return "–" if missing(value) else html.escape(f"{float(value):.{digits}%}")  # type: ignore[arg-type]


def badge(status: object) -> str:
    word = fmt(status)
    return f"<span class='badge {BADGE_CLASS.get(word.lower(), '')}'>{html.escape(word)}</span>"


def no_data(sentence: str, command: str | None = None) -> str:
    """The placeholder shown instead of an empty section; always starts with "No data yet", and
    names the command that fills it, so a first-time reader knows what to run."""
    run = f" Run <code>{html.escape(command)}</code>." if command else ""
    return f"<p class='nodata'>No data yet: {html.escape(sentence)}{run}</p>"


def table(
    frame: pd.DataFrame,
    headers: Mapping[str, str],
    *,
    formats: Mapping[str, Formatter] | None = None,
    highlight: Callable[[pd.Series], bool] | None = None,
) -> str:
    """An HTML table of ``frame``'s columns named in ``headers`` (column -> header), in that order;
    columns the frame lacks are skipped, so an older warehouse schema still renders. ``formats``
    maps a column to a function returning ready (escaped) HTML; ``highlight`` marks rows."""
    formats = formats or {}
    columns = [c for c in headers if c in frame.columns]
    head = "".join(f"<th>{html.escape(headers[c])}</th>" for c in columns)
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for column in columns:
            value = row[column]
            if column in formats:
                cells.append(f"<td>{formats[column](value)}</td>")
            else:  # numbers right-aligned so magnitudes line up down a column
                cells.append(f"<td class='num'>{text(value)}</td>" if is_number(value) else f"<td>{text(value)}</td>")
        marked = " class='hl'" if highlight is not None and highlight(row) else ""
        rows.append(f"<tr{marked}>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def cards(items: list[tuple[str, str, str]]) -> str:
    """KPI cards from (label, value, note) triples of ready HTML."""
    inner = "".join(f"<div class='card'>{label}<b>{value}</b><small>{note}</small></div>" for label, value, note in items)
    return f"<div class='cards'>{inner}</div>"


def page(title: str, plotly_js: str, body: list[str]) -> str:
    """The complete document: CSS and plotly.js inline in <head>, so the file opens offline."""
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>\n"
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n"
        f"<script type='text/javascript'>{plotly_js}</script>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
