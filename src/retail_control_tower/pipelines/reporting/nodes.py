"""The run report: gathers the latest-run views and tables, renders HTML and plotly figures."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import ibis.expr.types as ir
import pandas as pd
import plotly.graph_objects as go

from retail_control_tower.pipelines.reporting.report import FIGURE_KEYS, ReportData, ReportSettings, render_report, report_figures
from retail_control_tower.pipelines.reporting.views import latest_run


def _frame(table: ir.Table | None, limit: int | None = None) -> pd.DataFrame:
    if table is None:
        return pd.DataFrame()
    return (table.limit(limit) if limit else table).to_pandas()


def _latest_run(table: ir.Table | None, order: str, complete: ir.Table | None = None) -> ir.Table | None:
    return None if table is None else latest_run(table, order, complete)


def gather_report_data(
    champion: ir.Table,
    metrics: ir.Table,
    dq_latest: ir.Table,
    health: ir.Table,
    sales: ir.Table,
    deciles: ir.Table | None,
    calibration: ir.Table | None,
    registry: ir.Table | None,
    run_log: ir.Table | None,
    run_context: dict[str, Any],
    report_params: dict[str, Any],
    churn_window_days: int,
    realised: ir.Table | None,
    drift: ir.Table | None,
    signal: ir.Table | None,
    drift_params: dict[str, Any],
) -> ReportData:
    """Everything the report shows, each part from the latest run that produced it; the monitoring
    tables whole (they are small: a row per score date and metric or feature), drawn with the
    monitoring's own PSI thresholds so the heat-map's colours agree with each row's STATUS."""
    champions = _frame(champion)
    freshness = _frame(health.limit(1)).rename(
        columns={"LATEST_SALE_AT": "LATEST_EVENT_AT", "DATA_AGE_HOURS": "AGE_HOURS", "FRESHNESS_STATUS": "STATUS",
                 "FRESHNESS_WARN_AFTER_HOURS": "WARN_AFTER_HOURS", "FRESHNESS_ERROR_AFTER_HOURS": "ERROR_AFTER_HOURS"}
    )
    if not freshness.empty:
        freshness = freshness.assign(TABLE_NAME="MODEL.FCT_ORDER_LINE")[
            ["TABLE_NAME", "LATEST_EVENT_AT", "AGE_HOURS", "WARN_AFTER_HOURS", "ERROR_AFTER_HOURS", "STATUS"]
        ]
    runs = run_log.order_by(run_log.STARTED_AT.desc()) if run_log is not None else None
    return ReportData(
        generated_at=datetime.now().replace(microsecond=0),
        env=run_context["env"],
        run_id=run_context["run_id"],
        settings=ReportSettings.from_params(report_params, churn_window_days, drift_params),
        deciles=_frame(_latest_run(deciles, "COMPUTED_AT", registry)),
        calibration=_frame(_latest_run(calibration, "COMPUTED_AT", registry)),
        metrics=_frame(metrics),
        decisions=_frame(_latest_run(registry, "RECORDED_AT")),
        champion=champions.iloc[0].to_dict() if not champions.empty else None,
        dq=_frame(dq_latest),
        freshness=freshness,
        sales=_frame(sales.order_by(sales.DATE_DAY)),
        runs=_frame(runs, limit=20),
        realised=_frame(realised),
        drift=_frame(drift),
        signal=_frame(signal),
    )


def _placeholder(name: str) -> go.Figure:
    figure = go.Figure()
    figure.update_layout(title=f"{name.replace('_', ' ')}: no data yet")
    return figure


def build_report(data: ReportData) -> dict[str, str | go.Figure]:
    """The self-contained HTML report (``html``), and its ``FIGURE_KEYS`` figures for kedro-viz (a
    placeholder where a part has no data yet, so every figure dataset is always written)."""
    figures = report_figures(data)
    return {"html": render_report(data, figures), **{name: figures.get(name) or _placeholder(name) for name in FIGURE_KEYS}}
