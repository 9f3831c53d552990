"""Plotly figures comparing model variants. Inputs are the tables of ``ml.metrics`` stacked with a
``VARIANT`` column; every figure has one trace per variant (in order of first appearance) plus a
reference line showing what random targeting or perfect calibration would give."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

REFERENCE_LINE = {"color": "grey", "dash": "dash", "width": 1}
PALETTE = qualitative.Plotly


def _require(table: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{what} is missing required column(s): {', '.join(missing)}")


def _variants(table: pd.DataFrame) -> list:
    return list(pd.unique(table["VARIANT"]))


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str) -> go.Figure:
    fig.update_layout(
        title=title,
        xaxis_title=x_title,
        yaxis_title=y_title,
        template="plotly_white",
        legend_title_text="Variant",
        hovermode="closest",
    )
    return fig


def decile_lift_figure(deciles: pd.DataFrame) -> go.Figure:
    """Grouped bars of LIFT by DECILE (1 = highest scores), one bar trace per VARIANT, with a dashed
    line at lift 1 (random targeting)."""
    _require(deciles, ["VARIANT", "DECILE", "LIFT"], "decile table")
    fig = go.Figure()
    for variant in _variants(deciles):
        part = deciles[deciles["VARIANT"] == variant].sort_values("DECILE")
        fig.add_trace(go.Bar(x=part["DECILE"].tolist(), y=part["LIFT"].tolist(), name=str(variant)))
    fig.add_hline(y=1, line=REFERENCE_LINE, annotation_text="random", annotation_position="top right")
    fig.update_layout(barmode="group")
    fig.update_xaxes(tickmode="linear", dtick=1)
    return _layout(fig, "Lift by score decile", "Decile (1 = highest scores)", "Lift (event rate / overall rate)")


def cumulative_gains_figure(deciles: pd.DataFrame) -> go.Figure:
    """Cumulative gains: CUMULATIVE_CAPTURE against the share of customers targeted (DECILE divided
    by the variant's number of deciles, i.e. DECILE / 10), from (0, 0), one line per VARIANT, plus
    the diagonal a random ordering would give."""
    _require(deciles, ["VARIANT", "DECILE", "CUMULATIVE_CAPTURE"], "decile table")
    fig = go.Figure()
    for variant in _variants(deciles):
        part = deciles[deciles["VARIANT"] == variant].sort_values("DECILE")
        share = part["DECILE"] / part["DECILE"].max()
        fig.add_trace(
            go.Scatter(
                x=[0.0, *share.tolist()],
                y=[0.0, *part["CUMULATIVE_CAPTURE"].tolist()],
                mode="lines+markers",
                name=str(variant),
            )
        )
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="random", line=REFERENCE_LINE))
    fig.update_xaxes(range=[0, 1], tickformat=".0%")
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    return _layout(fig, "Cumulative gains", "Share of customers targeted", "Share of all events captured")


def calibration_figure(calibration: pd.DataFrame) -> go.Figure:
    """Reliability diagram: OBSERVED_RATE against MEAN_PREDICTED per probability bin, one line per
    VARIANT (empty bins skipped), plus the diagonal of perfect calibration; both axes 0..1."""
    _require(calibration, ["VARIANT", "MEAN_PREDICTED", "OBSERVED_RATE"], "calibration table")
    fig = go.Figure()
    for variant in _variants(calibration):
        part = calibration[calibration["VARIANT"] == variant]
        part = part.dropna(subset=["MEAN_PREDICTED", "OBSERVED_RATE"])
        if "N" in part.columns:
            part = part[part["N"] > 0]
        part = part.sort_values("MEAN_PREDICTED")
        fig.add_trace(
            go.Scatter(
                x=part["MEAN_PREDICTED"].tolist(),
                y=part["OBSERVED_RATE"].tolist(),
                mode="lines+markers",
                name=str(variant),
                customdata=part["N"].tolist() if "N" in part.columns else None,
                hovertemplate="predicted %{x:.3f}<br>observed %{y:.3f}"
                + ("<br>n = %{customdata}" if "N" in part.columns else "")
                + "<extra>%{fullData.name}</extra>",
            )
        )
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration", line=REFERENCE_LINE))
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1])
    return _layout(fig, "Calibration", "Mean predicted probability", "Observed event rate")


def cv_metric_figure(metrics: pd.DataFrame, metric: str) -> go.Figure:
    """One metric over VALIDATION_DATE, one lines+markers trace per VARIANT over its cross-validation
    folds (every SPLIT except "holdout"). Holdout rows that have a VALIDATION_DATE are added as a
    separate marker-only trace per variant ("<variant> holdout", diamond symbol, same colour);
    holdout rows without a date are left out."""
    _require(metrics, ["VARIANT", "SPLIT", "VALIDATION_DATE", "METRIC", "VALUE"], "metrics table")
    rows = metrics[metrics["METRIC"] == metric].copy()
    if rows.empty:
        available = ", ".join(map(str, pd.unique(metrics["METRIC"])))
        raise ValueError(f"metric {metric!r} not found in the metrics table (available: {available})")
    variants = _variants(rows)
    rows["VALIDATION_DATE"] = pd.to_datetime(rows["VALIDATION_DATE"])
    rows = rows.sort_values("VALIDATION_DATE", kind="stable")
    holdout = rows["SPLIT"] == "holdout"
    fig = go.Figure()
    for i, variant in enumerate(variants):
        colour = PALETTE[i % len(PALETTE)]
        mine = rows["VARIANT"] == variant
        folds = rows[mine & ~holdout]
        fig.add_trace(
            go.Scatter(
                x=folds["VALIDATION_DATE"].tolist(),
                y=folds["VALUE"].tolist(),
                mode="lines+markers",
                name=str(variant),
                legendgroup=str(variant),
                line={"color": colour},
                text=folds["SPLIT"].tolist(),
                hovertemplate="%{text}<br>%{x|%Y-%m-%d}<br>%{y:.4f}<extra>%{fullData.name}</extra>",
            )
        )
        held = rows[mine & holdout & rows["VALIDATION_DATE"].notna()]
        if not held.empty:
            fig.add_trace(
                go.Scatter(
                    x=held["VALIDATION_DATE"].tolist(),
                    y=held["VALUE"].tolist(),
                    mode="markers",
                    name=f"{variant} holdout",
                    legendgroup=str(variant),
                    marker={"color": colour, "symbol": "diamond", "size": 11, "line": {"width": 1, "color": "black"}},
                    text=held["SPLIT"].tolist(),
                    hovertemplate="%{text}<br>%{x|%Y-%m-%d}<br>%{y:.4f}<extra>%{fullData.name}</extra>",
                )
            )
    return _layout(fig, f"{metric} by validation date", "Validation date", metric)
