"""The run report: one self-contained HTML page (plotly.js inlined once, opens offline) and the
figures it shows, built from the latest-run data gathered by ``nodes.gather_report_data``."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from retail_control_tower.ml import plots

HOLDOUT_COLUMNS = ["roc_auc", "pr_auc", "lift_at_10", "capture_at_20", "ece", "brier"]
DEFINITIONS = [
    ("Label", "churned = no purchase in the 90 days after the snapshot date; features use only events on or before it."),
    ("Holdout", "the latest fully labelled snapshot; never used for fitting, tuning or selection."),
    ("ECE", "Σ_b (n_b/N)·|mean(y)_b − mean(p)_b| over 10 equal-width probability bins."),
    ("lift@k%", "event rate among the top k% scored / overall event rate (ceiling 1 / base rate)."),
    ("Decile table", "per decile of score (1 = highest): customers, churners, churn rate, lift, cumulative share of churners captured."),
]
STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0 auto;max-width:1200px;padding:1rem 2rem;color:#1f2933}
h1{margin-bottom:.2rem} h2{border-bottom:2px solid #d9e2ec;padding-bottom:.3rem;margin-top:2.2rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem} th,td{border:1px solid #d9e2ec;padding:.3rem .6rem;text-align:left}
th{background:#f0f4f8} tr.hl td{background:#fff8e1;font-weight:600} .muted{color:#627d98}
.badge{padding:.1rem .5rem;border-radius:.6rem;color:#fff;font-size:.8rem} .ok,.pass{background:#2f9e44} .warn{background:#f08c00}
.error,.fail{background:#e03131} .cards{display:flex;gap:1rem;flex-wrap:wrap} .card{border:1px solid #d9e2ec;border-radius:.5rem;padding:.6rem 1rem}
.card b{display:block;font-size:1.3rem}
"""


@dataclass
class ReportData:
    generated_at: datetime
    env: str
    run_id: str
    deciles: pd.DataFrame
    calibration: pd.DataFrame
    metrics: pd.DataFrame
    decisions: pd.DataFrame
    champion: dict | None
    dq: pd.DataFrame
    freshness: pd.DataFrame
    sales: pd.DataFrame
    runs: pd.DataFrame


def _dq_figure(dq: pd.DataFrame) -> go.Figure:
    counts = dq.groupby(["SEVERITY", "STATUS"]).size().unstack(fill_value=0)
    figure = go.Figure()
    for status, colour in (("pass", "#2f9e44"), ("fail", "#e03131")):
        if status in counts:
            figure.add_bar(name=status, x=list(counts.index), y=counts[status].tolist(), marker_color=colour)
    figure.update_layout(title="Data-quality checks by severity and result", barmode="stack", xaxis_title="severity", yaxis_title="checks")
    return figure


def _sales_figure(sales: pd.DataFrame) -> go.Figure:
    recent = sales.assign(DATE_DAY=pd.to_datetime(sales.DATE_DAY)).sort_values("DATE_DAY")
    recent = recent[recent.DATE_DAY > recent.DATE_DAY.max() - pd.Timedelta(days=180)]
    net = recent.NET_SALES.astype(float)
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_bar(x=recent.DATE_DAY, y=net, name="net sales", marker_color="#9fb3c8")
    figure.add_scatter(x=recent.DATE_DAY, y=net.rolling(7, min_periods=1).mean(), name="net sales, 7-day mean", line={"color": "#102a43"})
    figure.add_scatter(x=recent.DATE_DAY, y=recent.ORDERS, name="orders", line={"color": "#f08c00", "dash": "dot"}, secondary_y=True)
    figure.update_layout(title="Sales, last 180 days", xaxis_title="day")
    figure.update_yaxes(title_text="net sales", secondary_y=False)
    figure.update_yaxes(title_text="orders", secondary_y=True)
    return figure


def report_figures(data: ReportData) -> dict[str, go.Figure]:
    """The report's figures; a figure whose data is missing is left out."""
    figures: dict[str, go.Figure] = {}
    if not data.deciles.empty:
        figures["decile_lift"] = plots.decile_lift_figure(data.deciles)
        figures["cumulative_gains"] = plots.cumulative_gains_figure(data.deciles)
    if not data.calibration.empty:
        figures["calibration"] = plots.calibration_figure(data.calibration)
    if not data.metrics.empty:
        figures["cv_roc_auc"] = plots.cv_metric_figure(data.metrics, "roc_auc")
        figures["cv_lift_at_10"] = plots.cv_metric_figure(data.metrics, "lift_at_10")
    if not data.dq.empty:
        figures["dq_summary"] = _dq_figure(data.dq)
    if not data.sales.empty:
        figures["sales_trend"] = _sales_figure(data.sales)
    return figures


def _e(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return html.escape(f"{value:.4g}" if isinstance(value, float) else str(value))


def _table(frame: pd.DataFrame, highlight: str | None = None) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in frame.columns)
    marked = " class='hl'"
    rows = "".join(
        f"<tr{marked if highlight is not None and str(index) == highlight else ''}>"
        + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>"
        for index, row in zip(frame.index, frame.itertuples(index=False))
    )
    return f"<table><tr>{head}</tr>{rows}</table>"


def _none(what: str) -> str:
    return f"<p class='muted'>No {html.escape(what)} yet.</p>"


def _figure(figures: dict[str, go.Figure], key: str) -> str:
    return figures[key].to_html(full_html=False, include_plotlyjs=False, default_height="420px") if key in figures else ""


def _model_sections(data: ReportData, figures: dict[str, go.Figure]) -> list[str]:
    champion = data.champion
    if champion:
        card = (f"<div class='cards'><div class='card'>champion<b>{_e(champion.get('VARIANT'))}</b>"
                f"{_e(champion.get('MODEL_NAME'))} version {_e(champion.get('MODEL_VERSION'))}, trained {_e(champion.get('TRAINED_AT'))}</div></div>")
    else:
        card = "<p><b>No champion yet</b>: run <code>kedro run --pipeline train_eval</code>.</p>"
    decisions = data.decisions
    shown = [c for c in ("MODEL_VERSION", "VARIANT", "ALIAS", "DECISION", "REASON", "DECIDED_AT") if c in decisions]
    parts = ["<h2>Champion and challenger</h2>", card, _table(decisions[shown]) if not decisions.empty else _none("training decision")]
    parts.append("<h2>Model quality on the holdout</h2>")
    holdout = data.metrics[data.metrics.SPLIT == "holdout"] if not data.metrics.empty else data.metrics
    if holdout.empty:
        parts.append(_none("holdout metrics"))
    else:
        wide = holdout.pivot_table(index="VARIANT", columns="METRIC", values="VALUE")
        wide = wide[[c for c in HOLDOUT_COLUMNS if c in wide]].sort_values(HOLDOUT_COLUMNS[0], ascending=False)
        parts.append(_table(wide.reset_index().set_index(wide.index), highlight=(champion or {}).get("VARIANT")))
    parts += [_figure(figures, k) for k in ("decile_lift", "cumulative_gains", "calibration")]
    parts.append("<h2>Cross-validation over time</h2>")
    parts += [_figure(figures, k) for k in ("cv_roc_auc", "cv_lift_at_10")] if "cv_roc_auc" in figures else [_none("cross-validation results")]
    return parts


def _operations_sections(data: ReportData, figures: dict[str, go.Figure]) -> list[str]:
    parts = ["<h2>Data quality</h2>"]
    dq = data.dq
    if dq.empty:
        parts.append(_none("data-quality results"))
    else:
        failed = dq[dq.STATUS == "fail"]
        counts = [("checks", len(dq)), ("failed errors", int((failed.SEVERITY == "error").sum())), ("failed warnings", int((failed.SEVERITY == "warn").sum()))]
        parts.append("<div class='cards'>" + "".join(f"<div class='card'>{n}<b>{v}</b></div>" for n, v in counts) + "</div>")
        parts.append(_figure(figures, "dq_summary"))
        columns = [c for c in ("CHECK_NAME", "TABLE_NAME", "SEVERITY", "STATUS", "OBSERVED", "THRESHOLD", "DETAIL", "CHECKED_AT") if c in dq]
        parts.append(_table(failed[columns]) if not failed.empty else "<p>Every check passed.</p>")
        parts.append(f"<details><summary>{len(dq) - len(failed)} passed checks</summary>{_table(dq[dq.STATUS != 'fail'][columns])}</details>")
    parts.append("<h2>Freshness</h2>")
    if data.freshness.empty:
        parts.append(_none("freshness measurement"))
    else:
        fresh = data.freshness.copy()
        rows = "".join(
            f"<tr><td>{_e(r.TABLE_NAME)}</td><td>{_e(r.LATEST_EVENT_AT)}</td><td>{_e(round(float(r.AGE_HOURS), 1))}</td>"
            f"<td>{_e(r.WARN_AFTER_HOURS)} / {_e(r.ERROR_AFTER_HOURS)}</td><td><span class='badge {_e(r.STATUS)}'>{_e(r.STATUS)}</span></td></tr>"
            for r in fresh.itertuples()
        )
        parts.append(f"<table><tr><th>table</th><th>newest event</th><th>age (hours)</th><th>SLA warn / error (hours)</th><th>status</th></tr>{rows}</table>")
    parts.append("<h2>Sales KPIs</h2>")
    parts.append(_sales_cards(data.sales) + _figure(figures, "sales_trend") if not data.sales.empty else _none("sales"))
    parts.append("<h2>Recent runs</h2>")
    parts.append(_table(data.runs[[c for c in ("RUN_ID", "PIPELINES", "STARTED_AT", "FINISHED_AT", "STATUS", "ERROR_CLASS") if c in data.runs]]) if not data.runs.empty else _none("recorded runs"))
    return parts


def sales_kpis(sales: pd.DataFrame, days: int) -> dict[str, tuple[float, float | None]]:
    """Net sales, orders and customers (summed per day) over the last ``days`` days, each with its
    change against the ``days`` before (None when there is no earlier period)."""
    frame = sales.assign(DATE_DAY=pd.to_datetime(sales.DATE_DAY))
    end = frame.DATE_DAY.max()
    current = frame[frame.DATE_DAY > end - pd.Timedelta(days=days)]
    prior = frame[(frame.DATE_DAY <= end - pd.Timedelta(days=days)) & (frame.DATE_DAY > end - pd.Timedelta(days=2 * days))]
    kpis = {}
    for column in ("NET_SALES", "ORDERS", "CUSTOMERS"):
        now, before = float(current[column].astype(float).sum()), float(prior[column].astype(float).sum())
        kpis[column] = (now, (now / before - 1) if before else None)
    return kpis


def _sales_cards(sales: pd.DataFrame) -> str:
    cards = []
    for days in (7, 30):
        for column, (value, change) in sales_kpis(sales, days).items():
            delta = f"{change:+.1%} vs prior {days} days" if change is not None else "no prior period"
            cards.append(f"<div class='card'>{column.lower().replace('_', ' ')}, last {days} days<b>{value:,.0f}</b>{delta}</div>")
    return "<div class='cards'>" + "".join(cards) + "</div>"


def render_report(data: ReportData) -> str:
    figures = report_figures(data)
    body = [
        "<h1>Retail Control Tower — run report</h1>",
        f"<p class='muted'>environment <b>{_e(data.env)}</b> · run {_e(data.run_id)} · generated {_e(data.generated_at)}</p>",
        *_model_sections(data, figures),
        *_operations_sections(data, figures),
        "<h2>Definitions</h2>",
        "<dl>" + "".join(f"<dt><b>{html.escape(t)}</b></dt><dd>{html.escape(d)}</dd>" for t, d in DEFINITIONS) + "</dl>",
    ]
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Retail Control Tower — run report</title>"
        f"<style>{STYLE}</style><script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
        + "\n".join(body) + "</body></html>"
    )
