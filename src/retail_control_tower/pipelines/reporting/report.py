"""The run report: one self-contained HTML page (plotly.js inlined once, opens offline) and the
figures it shows, built from the latest-run data gathered by ``nodes.gather_report_data``.

Every section renders from empty frames too (a "No data yet" sentence), because the first runs of a
fresh environment have no models, no dq results and no run log, and the report is written anyway."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from retail_control_tower.ml import plots
from retail_control_tower.pipelines.reporting.html import badge, cards, fmt, missing, no_data, page, percent, table, text

TITLE = "Retail Control Tower — run report"
FIGURE_KEYS = ("decile_lift", "cumulative_gains", "calibration", "cv_roc_auc", "cv_lift_at_10", "dq_summary", "sales_trend")
SALES_WINDOW_DAYS = 180
GREEN, AMBER, RED, GREY = "#2f9e44", "#f08c00", "#e03131", "#9fb3c8"

# Holdout metrics in display order: header and how to show the value (lift as a multiple, capture as
# a share of all churners, the rest as plain scores).
HOLDOUT_METRICS: dict[str, tuple[str, str]] = {
    "roc_auc": ("ROC AUC", "{:.3f}"), "pr_auc": ("PR AUC", "{:.3f}"), "lift_at_10": ("lift@10%", "{:.2f}×"),
    "capture_at_20": ("capture@20%", "{:.1%}"), "ece": ("ECE", "{:.3f}"), "brier": ("Brier", "{:.3f}"),
}
DEFINITIONS = [
    ("Label", "churned = no purchase in the 90 days after the snapshot date; features use only events on or before it."),
    ("Holdout", "the latest fully labelled snapshot; never used for fitting, tuning or model selection."),
    ("Cross-validation over time", "expanding-window folds: each fold trains on earlier snapshots and validates on the next one."),
    ("ROC AUC / PR AUC", "ranking quality over all thresholds; PR AUC (average precision) is read against the base churn rate."),
    ("ECE", "expected calibration error = Σ_b (n_b/N)·|mean(y)_b − mean(p)_b| over 10 equal-width probability bins; 0 is perfect."),
    ("Brier", "mean squared difference between the predicted probability and the 0/1 label; lower is better."),
    ("lift@k%", "event rate among the top k% scored / overall event rate; 1 is random targeting, the ceiling is 1 / base rate."),
    ("capture@k%", "share of all churners found in the top k% scored customers."),
    ("Decile table", "customers ranked by score and cut into 10 equal-count deciles (1 = highest scores): N customers, "
                     "EVENTS churners, EVENT_RATE = EVENTS / N, LIFT = EVENT_RATE / overall rate, "
                     "CUMULATIVE_CAPTURE = share of all churners in deciles 1..d."),
    ("Sales KPIs", "sums of the daily rows over the period ending on the latest day with data, compared with the period "
                   "just before it; customers are distinct per day, so a customer buying on two days counts twice."),
]


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


def _daily_sales(sales: pd.DataFrame) -> pd.DataFrame:
    """One row per calendar day (summed, in case a day arrives in parts), indexed by date."""
    frame = sales.assign(DATE_DAY=pd.to_datetime(sales["DATE_DAY"]).dt.normalize())
    columns = [c for c in ("NET_SALES", "ORDERS", "CUSTOMERS", "RETURNS_AMOUNT") if c in frame]
    return frame.groupby("DATE_DAY")[columns].sum().astype(float).sort_index()


def sales_kpis(sales: pd.DataFrame, days: int) -> dict[str, tuple[float, float | None]]:
    """Net sales, orders and customers summed over the last ``days`` days up to the latest day with
    data, each with its relative change against the ``days`` before. The change is None when the
    data does not reach back over the whole prior period or the prior total is 0, because a partial
    period would show a fake growth."""
    daily = _daily_sales(sales)
    end = daily.index.max()
    cut, prior_start = end - pd.Timedelta(days=days), end - pd.Timedelta(days=2 * days)
    current, prior = daily[daily.index > cut], daily[(daily.index > prior_start) & (daily.index <= cut)]
    complete_prior = daily.index.min() <= prior_start + pd.Timedelta(days=1)
    kpis: dict[str, tuple[float, float | None]] = {}
    for column in ("NET_SALES", "ORDERS", "CUSTOMERS"):
        now, before = float(current[column].sum()), float(prior[column].sum())
        kpis[column] = (now, now / before - 1 if complete_prior and before else None)
    return kpis


def _dq_figure(dq: pd.DataFrame) -> go.Figure:
    """Stacked bars per severity: passed checks green, failed ones amber (warn) or red (error)."""
    order = sorted(pd.unique(dq["SEVERITY"].astype(str)), key=lambda s: ({"error": 0, "warn": 1}.get(s, 2), s))
    counts = dq.assign(SEVERITY=dq["SEVERITY"].astype(str)).groupby(["SEVERITY", "STATUS"]).size()
    figure = go.Figure()
    figure.add_bar(name="passed", x=order, y=[int(counts.get((s, "pass"), 0)) for s in order], marker_color=GREEN)
    for severity in order:
        failed = int(counts.get((severity, "fail"), 0))
        figure.add_bar(name=f"failed ({severity})", x=[severity], y=[failed], marker_color=RED if severity == "error" else AMBER)
    figure.update_traces(texttemplate="%{y}", textposition="inside")
    figure.update_layout(title="Data-quality checks by severity: latest result per check", barmode="stack",
                         xaxis_title="severity", yaxis_title="checks", template="plotly_white", legend_title_text="Result")
    return figure


def _sales_figure(sales: pd.DataFrame) -> go.Figure:
    """Daily net sales (bars), their 7-day rolling mean and orders (right axis) over the last 180 days.
    The mean is time-based and computed before the cut, so the first days shown average real history."""
    daily = _daily_sales(sales)
    rolling = daily["NET_SALES"].rolling("7D", min_periods=1).mean()
    shown = daily.index > daily.index.max() - pd.Timedelta(days=SALES_WINDOW_DAYS)
    daily, rolling = daily[shown], rolling[shown]
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_bar(x=daily.index, y=daily["NET_SALES"], name="net sales (daily)", marker_color=GREY)
    figure.add_scatter(x=daily.index, y=rolling, name="net sales, 7-day mean", line={"color": "#102a43", "width": 2.5})
    figure.add_scatter(x=daily.index, y=daily["ORDERS"], name="orders", line={"color": AMBER, "dash": "dot"}, secondary_y=True)
    figure.update_layout(title=f"Sales, last {SALES_WINDOW_DAYS} days", template="plotly_white", hovermode="x unified")
    figure.update_yaxes(title_text="net sales", secondary_y=False)
    figure.update_yaxes(title_text="orders", secondary_y=True, showgrid=False)
    return figure


def _has_folds(metrics: pd.DataFrame, metric: str) -> bool:
    return bool(((metrics["METRIC"] == metric) & (metrics["SPLIT"] != "holdout")).any())


def report_figures(data: ReportData) -> dict[str, go.Figure]:
    """The report's figures keyed as in ``FIGURE_KEYS``; a key is left out when its data is empty
    (a cross-validation figure also when the metric has no fold rows: holdout points alone are no trend)."""
    figures: dict[str, go.Figure] = {}
    if not data.deciles.empty:
        figures["decile_lift"] = plots.decile_lift_figure(data.deciles)
        figures["cumulative_gains"] = plots.cumulative_gains_figure(data.deciles)
    if not data.calibration.empty:
        figures["calibration"] = plots.calibration_figure(data.calibration)
    for metric in ("roc_auc", "lift_at_10"):
        if not data.metrics.empty and _has_folds(data.metrics, metric):
            figures[f"cv_{metric}"] = plots.cv_metric_figure(data.metrics, metric)
    if not data.dq.empty:
        figures["dq_summary"] = _dq_figure(data.dq)
    if not data.sales.empty:
        figures["sales_trend"] = _sales_figure(data.sales)
    return figures


def _figure(figures: dict[str, go.Figure], key: str) -> str:
    # No plotly.js here: the page inlines it once in <head>; the modebar logo would link off-page.
    if key not in figures:
        return ""
    return figures[key].to_html(full_html=False, include_plotlyjs=False, default_height="440px",
                                config={"displaylogo": False, "responsive": True})


def _champion_section(data: ReportData) -> list[str]:
    champion = data.champion
    if champion:
        name, version, trained = (text(champion.get(k)) for k in ("MODEL_NAME", "MODEL_VERSION", "TRAINED_AT"))
        note = f"{name} version {version} · trained {trained}"
        head = cards([("champion", text(champion.get("VARIANT")), note)])
    elif data.decisions.empty:
        head = "<p class='nodata'>No champion yet: no model has been trained. Run <code>kedro run --pipeline train_eval</code>.</p>"
    else:
        last = data.decisions.sort_values("DECIDED_AT").iloc[-1]
        head = (
            f"<p class='nodata'><b>No champion: customers were not scored.</b> The latest training run "
            f"({text(last.get('RUN_ID'))}) did not promote its challenger {text(last.get('VARIANT'))}: "
            f"{text(last.get('REASON'))}</p><p>What to do: read each variant's figures below and in "
            "ML.MODEL_METRICS; if the data are right, give training more history or relax "
            "<code>train_eval.calibration_limit</code> / <code>train_eval.promotion</code> with care, then run "
            "<code>kedro run --pipeline train_eval</code> and <code>kedro run --pipeline scoring</code>.</p>"
        )
    headers = {"MODEL_VERSION": "version", "VARIANT": "variant", "ALIAS": "alias", "DECISION": "decision", "REASON": "reason"}
    if data.decisions.empty:
        decisions = no_data("the latest train_eval run recorded no champion/challenger decisions.")
    else:
        decisions = table(data.decisions, headers)
    return ["<h2>Champion and challenger</h2>", head, decisions]


def _holdout_table(metrics: pd.DataFrame, champion: str | None) -> str:
    holdout = metrics[metrics["SPLIT"] == "holdout"] if not metrics.empty else metrics
    if holdout.empty:
        return no_data("holdout metrics appear after a train_eval run.", "kedro run --pipeline train_eval")
    wide = holdout.pivot_table(index="VARIANT", columns="METRIC", values="VALUE", aggfunc="mean")
    wide = wide.reindex(columns=list(HOLDOUT_METRICS)).reset_index()
    # Champion first, then best ranking quality, so the comparison reads top-down.
    wide = wide.assign(_CHAMP=wide["VARIANT"].astype(str) != str(champion)).sort_values(["_CHAMP", "roc_auc"], ascending=[True, False])
    formats = {m: (lambda v, f=spec: "–" if missing(v) else text(f.format(v))) for m, (_, spec) in HOLDOUT_METRICS.items()}
    formats["VARIANT"] = lambda v: text(v) + (" <span class='badge b-good'>champion</span>" if str(v) == str(champion) else "")
    headers = {"VARIANT": "variant", **{m: label for m, (label, _) in HOLDOUT_METRICS.items()}}
    return table(wide, headers, formats=formats, highlight=lambda row: str(row["VARIANT"]) == str(champion))


def _model_quality_section(data: ReportData, figures: dict[str, go.Figure]) -> list[str]:
    parts = ["<h2>Model quality on the holdout</h2>", _holdout_table(data.metrics, (data.champion or {}).get("VARIANT"))]
    parts += [_figure(figures, key) for key in ("decile_lift", "cumulative_gains", "calibration")]
    if data.deciles.empty and data.calibration.empty:
        parts.append(no_data("decile and calibration tables appear after a train_eval run."))
    if not data.deciles.empty:
        headers = {"VARIANT": "variant", "DECILE": "decile", "N": "N", "EVENTS": "events", "EVENT_RATE": "event rate",
                   "LIFT": "lift", "CUMULATIVE_CAPTURE": "cumulative capture"}
        formats = {"EVENT_RATE": percent, "CUMULATIVE_CAPTURE": percent}
        parts.append(f"<details><summary>Decile table</summary>{table(data.deciles, headers, formats=formats)}</details>")
    parts.append("<h2>Cross-validation over time</h2>")
    shown = [_figure(figures, key) for key in ("cv_roc_auc", "cv_lift_at_10") if key in figures]
    return parts + (shown or [no_data("cross-validation folds appear after a train_eval run.")])


def _dq_section(data: ReportData, figures: dict[str, go.Figure]) -> list[str]:
    parts = ["<h2>Data quality</h2>"]
    dq = data.dq
    if dq.empty:
        return parts + [no_data("check results appear after a dq run.", "kedro run --pipeline dq")]
    failed = dq[dq["STATUS"] == "fail"]
    errors, warnings = int((failed["SEVERITY"] == "error").sum()), int((failed["SEVERITY"] == "warn").sum())
    parts.append(cards([("checks", text(len(dq)), "latest result per check"),
                        ("failed errors", text(errors), "block downstream pipelines"),
                        ("failed warnings", text(warnings), "reported, do not block")]))
    parts.append(_figure(figures, "dq_summary"))
    headers = {"CHECK_NAME": "check", "TABLE_NAME": "table", "SEVERITY": "severity", "STATUS": "status", "OBSERVED": "observed",
               "THRESHOLD": "threshold", "DETAIL": "detail", "CHECKED_AT": "checked at"}
    formats = {"STATUS": badge}
    # Errors before warnings: the failure that blocks a pipeline is the one to read first.
    failed = failed.assign(_RANK=failed["SEVERITY"].map({"error": 0, "warn": 1}).fillna(2)).sort_values(["_RANK", "CHECK_NAME"])
    parts.append(table(failed, headers, formats=formats) if not failed.empty else f"<p>All {len(dq)} checks passed.</p>")
    passed = dq[dq["STATUS"] != "fail"]
    if not passed.empty:
        parts.append(f"<details><summary>{len(passed)} passed checks</summary>{table(passed, headers, formats=formats)}</details>")
    return parts


def _freshness_section(data: ReportData) -> list[str]:
    if data.freshness.empty:
        return ["<h2>Freshness</h2>", no_data("freshness is measured from the order lines once they are loaded.")]
    headers = {"TABLE_NAME": "table", "LATEST_EVENT_AT": "newest event", "AGE_HOURS": "age (hours)",
               "WARN_AFTER_HOURS": "warn after (hours)", "ERROR_AFTER_HOURS": "error after (hours)", "STATUS": "status"}
    formats = {"STATUS": badge, "AGE_HOURS": lambda v: "–" if missing(v) else text(f"{float(v):,.1f}")}
    return ["<h2>Freshness</h2>", table(data.freshness, headers, formats=formats)]


def _sales_cards(sales: pd.DataFrame) -> str:
    end = fmt(pd.to_datetime(sales["DATE_DAY"]).max())
    rows = [f"<p class='muted'>Periods end on {text(end)}, the latest day with sales.</p>"]
    for days in (7, 30):  # one row of cards per period, so the two horizons read as two lines
        items = []
        for column, (value, change) in sales_kpis(sales, days).items():
            if change is None:
                note = "no full prior period to compare"
            else:
                trend = "up" if change > 0 else "down" if change < 0 else "muted"
                note = f"<span class='{trend}'>{change:+.1%}</span> vs prior {days} days"
            items.append((f"{column.lower().replace('_', ' ')}, last {days} days", text(f"{value:,.0f}"), note))
        rows.append(cards(items))
    return "".join(rows)


def _operations_sections(data: ReportData, figures: dict[str, go.Figure]) -> list[str]:
    parts = _dq_section(data, figures) + _freshness_section(data) + ["<h2>Sales KPIs</h2>"]
    if data.sales.empty:
        parts.append(no_data("daily sales appear once orders are ingested.", "kedro run --pipeline ingest"))
    else:
        parts += [_sales_cards(data.sales), _figure(figures, "sales_trend")]
    parts.append("<h2>Recent runs</h2>")
    if data.runs.empty:
        return parts + [no_data("the run log has no pipeline runs.")]
    headers = {"RUN_ID": "run", "PIPELINES": "pipelines", "STARTED_AT": "started", "FINISHED_AT": "finished", "STATUS": "status",
               "ERROR_CLASS": "error"}
    return parts + [table(data.runs, headers, formats={"STATUS": badge})]


def render_report(data: ReportData) -> str:
    """The whole report as one HTML document that needs no network: CSS and plotly.js inline."""
    figures = report_figures(data)
    header = [f"<h1>{text(TITLE)}</h1>",
              f"<p class='muted'>environment <b>{text(data.env)}</b> · run <code>{text(data.run_id)}</code>"
              f" · generated {text(data.generated_at)}</p>"]
    definitions = "".join(f"<dt>{text(term)}</dt><dd>{text(meaning)}</dd>" for term, meaning in DEFINITIONS)
    body = [*header, *_champion_section(data), *_model_quality_section(data, figures), *_operations_sections(data, figures),
            "<h2>Definitions</h2>", f"<dl>{definitions}</dl>"]
    return page(TITLE, get_plotlyjs(), [part for part in body if part])  # absent figures leave no blank lines
