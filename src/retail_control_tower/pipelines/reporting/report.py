"""The run report: one self-contained HTML page (plotly.js inlined once, opens offline) rendered from
the Jinja2 templates in ``templates/``, and the figures it shows, built from the latest-run data
gathered by ``nodes.gather_report_data``.

Every section renders from empty frames too (a "No data yet" sentence), because the first runs of a
fresh environment have no models, no dq results and no run log, and the report is written anyway."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
import plotly.graph_objects as go
from markupsafe import Markup
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from retail_control_tower.ml import plots
from retail_control_tower.ml.plots import AMBER, GREEN, RED
from retail_control_tower.pipelines.reporting import report_monitoring as monitoring
from retail_control_tower.pipelines.reporting.html import Card, Cell, badge, environment, fmt, missing, percent, table

TITLE = "Retail Control Tower — run report"
# The figures also written as plotly JSON for kedro-viz, in the order the report shows them.
FIGURE_KEYS = ("decile_lift", "cumulative_gains", "calibration", "cv_roc_auc", "cv_lift_at_10", "dq_summary", "sales_trend")
GREY = "#9fb3c8"

# Holdout metrics in display order: header and how to show the value (lift as a multiple, capture as
# a share of all churners, the rest as plain scores).
HOLDOUT_METRICS: dict[str, tuple[str, str]] = {
    "roc_auc": ("ROC AUC", "{:.3f}"), "pr_auc": ("PR AUC", "{:.3f}"), "lift_at_10": ("lift@10%", "{:.2f}×"),
    "capture_at_20": ("capture@20%", "{:.1%}"), "ece": ("ECE", "{:.3f}"), "brier": ("Brier", "{:.3f}"),
}


@dataclass(frozen=True)
class ReportSettings:
    """The periods and thresholds the report is drawn with: ``reporting.report``, the features'
    churn window and the monitoring's PSI thresholds (``monitoring.drift``)."""

    churn_window_days: int
    sales_window_days: int
    sales_mean_days: int
    kpi_periods_days: tuple[int, ...]
    psi_watch: float
    psi_act: float

    @classmethod
    def from_params(cls, report: dict, churn_window_days: int, drift: dict) -> ReportSettings:
        return cls(churn_window_days=int(churn_window_days), sales_window_days=int(report["sales_window_days"]),
                   sales_mean_days=int(report["sales_mean_days"]),
                   kpi_periods_days=tuple(int(days) for days in report["kpi_periods_days"]),
                   psi_watch=float(drift["watch"]), psi_act=float(drift["act"]))


@dataclass
class ReportData:
    generated_at: datetime
    env: str
    run_id: str
    settings: ReportSettings
    deciles: pd.DataFrame
    calibration: pd.DataFrame
    metrics: pd.DataFrame
    decisions: pd.DataFrame
    champion: dict | None
    dq: pd.DataFrame
    freshness: pd.DataFrame
    sales: pd.DataFrame
    runs: pd.DataFrame
    realised: pd.DataFrame = field(default_factory=pd.DataFrame)
    drift: pd.DataFrame = field(default_factory=pd.DataFrame)
    signal: pd.DataFrame = field(default_factory=pd.DataFrame)


def definitions(settings: ReportSettings) -> list[tuple[str, str]]:
    return [
        ("Label", f"churned = no purchase in the {settings.churn_window_days} days after the snapshot date; "
                  "features use only events on or before it."),
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
        ("Realised performance", f"a score date's metrics against what happened in the {settings.churn_window_days} days after it, "
                                 "once that window has fully elapsed; expected = the model version's holdout value."),
        ("PSI", f"population stability index of a feature (or the score) at a score date against the champion's training "
                f"window; below {settings.psi_watch:g} stable, from {settings.psi_watch:g} watch, from {settings.psi_act:g} act."),
        ("Sales KPIs", "sums of the daily rows over the period ending on the latest day with data, compared with the period "
                       "just before it; customers are distinct per day, so a customer buying on two days counts twice."),
    ]


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


def _sales_figure(sales: pd.DataFrame, settings: ReportSettings) -> go.Figure:
    """Daily net sales (bars), their rolling mean and orders (right axis) over the sales window.
    The mean is time-based and computed before the cut, so the first days shown average real history."""
    daily = _daily_sales(sales)
    rolling = daily["NET_SALES"].rolling(f"{settings.sales_mean_days}D", min_periods=1).mean()
    shown = daily.index > daily.index.max() - pd.Timedelta(days=settings.sales_window_days)
    daily, rolling = daily[shown], rolling[shown]
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_bar(x=daily.index, y=daily["NET_SALES"], name="net sales (daily)", marker_color=GREY)
    figure.add_scatter(x=daily.index, y=rolling, name=f"net sales, {settings.sales_mean_days}-day mean",
                       line={"color": "#102a43", "width": 2.5})
    figure.add_scatter(x=daily.index, y=daily["ORDERS"], name="orders", line={"color": AMBER, "dash": "dot"}, secondary_y=True)
    figure.update_layout(title=f"Sales, last {settings.sales_window_days} days", template="plotly_white", hovermode="x unified")
    figure.update_yaxes(title_text="net sales", secondary_y=False)
    figure.update_yaxes(title_text="orders", secondary_y=True, showgrid=False)
    return figure


def _has_folds(metrics: pd.DataFrame, metric: str) -> bool:
    return bool(((metrics["METRIC"] == metric) & (metrics["SPLIT"] != "holdout")).any())


def report_figures(data: ReportData) -> dict[str, go.Figure]:
    """The report's figures keyed as in ``FIGURE_KEYS``, then the monitoring figures (keyed
    ``realised_<metric>`` and ``drift_psi``); a key is left out when its data is empty (a
    cross-validation figure also when the metric has no fold rows: holdout points alone are no trend)."""
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
        figures["sales_trend"] = _sales_figure(data.sales, data.settings)
    return figures | monitoring.figures(data.realised, data.drift, data.settings.psi_watch, data.settings.psi_act)


def _figure_html(figure: go.Figure) -> Markup:
    # No plotly.js here: the page inlines it once in <head>; the modebar logo would link off-page.
    return Markup(figure.to_html(full_html=False, include_plotlyjs=False, default_height="440px",
                                 config={"displaylogo": False, "responsive": True}))


def _champion(champion: dict | None) -> list[Card]:
    if not champion:
        return []
    name, version, trained = (fmt(champion.get(k)) for k in ("MODEL_NAME", "MODEL_VERSION", "TRAINED_AT"))
    return [Card("champion", fmt(champion.get("VARIANT")), f"{name} version {version} · trained {trained}")]


def _last_decision(decisions: pd.DataFrame) -> dict:
    if decisions.empty:
        return {}
    last = decisions.sort_values("DECIDED_AT").iloc[-1]
    return {key.lower(): fmt(last.get(key)) for key in ("RUN_ID", "VARIANT", "REASON")}


def _holdout_table(metrics: pd.DataFrame, champion: str | None):
    holdout = metrics[metrics["SPLIT"] == "holdout"] if not metrics.empty else metrics
    if holdout.empty:
        return None
    wide = holdout.pivot_table(index="VARIANT", columns="METRIC", values="VALUE", aggfunc="mean")
    wide = wide.reindex(columns=list(HOLDOUT_METRICS)).reset_index()
    # Champion first, then best ranking quality, so the comparison reads top-down.
    wide = wide.assign(_CHAMP=wide["VARIANT"].astype(str) != str(champion)).sort_values(["_CHAMP", "roc_auc"], ascending=[True, False])
    formats = {m: (lambda v, f=spec: Cell("–" if missing(v) else f.format(v))) for m, (_, spec) in HOLDOUT_METRICS.items()}
    formats["VARIANT"] = lambda v: Cell(fmt(v), tag="champion" if str(v) == str(champion) else None)
    headers = {"VARIANT": "variant", **{m: label for m, (label, _) in HOLDOUT_METRICS.items()}}
    return table(wide, headers, formats=formats, highlight=lambda row: str(row["VARIANT"]) == str(champion))


def _dq(dq: pd.DataFrame) -> dict | None:
    if dq.empty:
        return None
    failed = dq[dq["STATUS"] == "fail"]
    errors, warnings = int((failed["SEVERITY"] == "error").sum()), int((failed["SEVERITY"] == "warn").sum())
    headers = {"CHECK_NAME": "check", "TABLE_NAME": "table", "SEVERITY": "severity", "STATUS": "status", "OBSERVED": "observed",
               "THRESHOLD": "threshold", "DETAIL": "detail", "CHECKED_AT": "checked at"}
    # Errors before warnings: the failure that blocks a pipeline is the one to read first.
    failed = failed.assign(_RANK=failed["SEVERITY"].map({"error": 0, "warn": 1}).fillna(2)).sort_values(["_RANK", "CHECK_NAME"])
    passed = dq[dq["STATUS"] != "fail"]
    return {
        "total": len(dq),
        "cards": [Card("checks", fmt(len(dq)), "latest result per check"),
                  Card("failed errors", fmt(errors), "block downstream pipelines"),
                  Card("failed warnings", fmt(warnings), "reported, do not block")],
        "failed": table(failed, headers, formats={"STATUS": badge}) if not failed.empty else None,
        "passed": table(passed, headers, formats={"STATUS": badge}) if not passed.empty else None,
        "passed_count": len(passed),
    }


def _sales_cards(sales: pd.DataFrame, periods: tuple[int, ...]) -> list[list[Card]]:
    rows = []
    for days in periods:  # one row of cards per period, so the horizons read as separate lines
        items = []
        for column, (value, change) in sales_kpis(sales, days).items():
            label = f"{column.lower().replace('_', ' ')}, last {days} days"
            if change is None:
                items.append(Card(label, f"{value:,.0f}", "no full prior period to compare"))
            else:
                trend = "up" if change > 0 else "down" if change < 0 else "muted"
                items.append(Card(label, f"{value:,.0f}", f"vs prior {days} days", change=f"{change:+.1%}", trend=trend))
        rows.append(items)
    return rows


DECISION_HEADERS = {"MODEL_VERSION": "version", "VARIANT": "variant", "ALIAS": "alias", "DECISION": "decision", "REASON": "reason"}
DECILE_HEADERS = {"VARIANT": "variant", "DECILE": "decile", "N": "N", "EVENTS": "events", "EVENT_RATE": "event rate",
                  "LIFT": "lift", "CUMULATIVE_CAPTURE": "cumulative capture"}
FRESHNESS_HEADERS = {"TABLE_NAME": "table", "LATEST_EVENT_AT": "newest event", "AGE_HOURS": "age (hours)",
                     "WARN_AFTER_HOURS": "warn after (hours)", "ERROR_AFTER_HOURS": "error after (hours)", "STATUS": "status"}
RUN_HEADERS = {"RUN_ID": "run", "PIPELINES": "pipelines", "STARTED_AT": "started", "FINISHED_AT": "finished", "STATUS": "status",
               "ERROR_CLASS": "error"}


def render_report(data: ReportData, figures: dict[str, go.Figure] | None = None) -> str:
    """The whole report as one HTML document that needs no network: CSS and plotly.js inline.
    ``figures`` are those of ``report_figures(data)``, passed in when the caller already has them."""
    figures = report_figures(data) if figures is None else figures
    champion_variant = (data.champion or {}).get("VARIANT")
    context = {
        "title": TITLE, "env": fmt(data.env), "run_id": fmt(data.run_id), "generated_at": fmt(data.generated_at),
        "plotly_js": Markup(get_plotlyjs()),
        "figures": {key: _figure_html(figure) for key, figure in figures.items()},
        "champion": _champion(data.champion), "last_decision": _last_decision(data.decisions),
        "decisions": table(data.decisions, DECISION_HEADERS) if not data.decisions.empty else None,
        "holdout": _holdout_table(data.metrics, champion_variant),
        "deciles": table(data.deciles, DECILE_HEADERS, formats={"EVENT_RATE": percent, "CUMULATIVE_CAPTURE": percent})
        if not data.deciles.empty else None,
        "has_model_tables": not (data.deciles.empty and data.calibration.empty),
        "monitoring": monitoring.section(data.realised, data.drift, data.signal, data.settings.churn_window_days),
        "dq": _dq(data.dq),
        "freshness": table(data.freshness, FRESHNESS_HEADERS,
                           formats={"STATUS": badge, "AGE_HOURS": lambda v: Cell("–" if missing(v) else f"{float(v):,.1f}")})
        if not data.freshness.empty else None,
        "sales": {"end": fmt(pd.to_datetime(data.sales["DATE_DAY"]).max()),
                  "cards": _sales_cards(data.sales, data.settings.kpi_periods_days)} if not data.sales.empty else None,
        "runs": table(data.runs, RUN_HEADERS, formats={"STATUS": badge}) if not data.runs.empty else None,
        "definitions": definitions(data.settings),
    }
    return environment().get_template("report.html.j2").render(context)
