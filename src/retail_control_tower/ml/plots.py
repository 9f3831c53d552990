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


# Status colours shared by the report's figures: good, watch, act.
GREEN, AMBER, RED = "#2f9e44", "#f08c00", "#e03131"
LEGACY_VARIANT, ORACLE_VARIANT = "legacy_rfm", "oracle"
BASELINES = {LEGACY_VARIANT: "#627d98", ORACLE_VARIANT: "#9fb3c8"}  # the lines a champion is compared with, and their colours


def realised_line(realised: pd.DataFrame) -> pd.Series:
    """The line each realised row belongs to: "<variant> v<version>" for the champion's scores; the
    legacy rule and the oracle by name alone, since they do not depend on the champion's version."""
    variant = realised["VARIANT"].astype(str)
    return variant.where(variant.isin(list(BASELINES)), variant + " v" + realised["MODEL_VERSION"].astype(str))


def realised_performance_figure(realised: pd.DataFrame, metric: str) -> go.Figure:
    """One metric of ML.MODEL_PERFORMANCE_REALISED over SCORE_DATE: one line per champion model
    version ("<variant> v<version>"), the legacy rule and the oracle as their own lines, and each
    champion version's EXPECTED (its holdout value) as a dashed reference line of the same colour.
    A score date re-measured keeps its latest value (COMPUTED_AT)."""
    _require(realised, ["SCORE_DATE", "MODEL_VERSION", "VARIANT", "METRIC", "VALUE", "EXPECTED"], "realised performance table")
    rows = realised[realised["METRIC"] == metric].copy()
    if rows.empty:
        raise ValueError(f"metric {metric!r} not found in the realised performance table")
    rows["SCORE_DATE"] = pd.to_datetime(rows["SCORE_DATE"])
    rows["LINE"] = realised_line(rows)
    if "COMPUTED_AT" in rows:
        rows = rows.sort_values("COMPUTED_AT", kind="stable")
    rows = rows.drop_duplicates(["LINE", "SCORE_DATE"], keep="last").sort_values("SCORE_DATE", kind="stable")
    fig = go.Figure()
    present = list(pd.unique(rows["LINE"]))
    lines = [line for line in present if line not in BASELINES] + [line for line in BASELINES if line in present]
    for i, line in enumerate(lines):
        part = rows[rows["LINE"] == line]
        colour = BASELINES.get(line, PALETTE[i % len(PALETTE)])
        custom = part[["N", "EVENTS"]].to_numpy().tolist() if {"N", "EVENTS"} <= set(part) else None
        fig.add_trace(
            go.Scatter(
                x=part["SCORE_DATE"].tolist(),
                y=part["VALUE"].tolist(),
                mode="lines+markers",
                name=line,
                legendgroup=line,
                line={"color": colour, "dash": "dot" if line == ORACLE_VARIANT else "solid"},
                customdata=custom,
                hovertemplate="%{x|%Y-%m-%d}<br>%{y:.4f}"
                + ("<br>n = %{customdata[0]}, events = %{customdata[1]}" if custom is not None else "")
                + "<extra>%{fullData.name}</extra>",
            )
        )
        expected = part.dropna(subset=["EXPECTED"])
        if line not in BASELINES and not expected.empty:
            fig.add_trace(
                go.Scatter(
                    x=expected["SCORE_DATE"].tolist(),
                    y=expected["EXPECTED"].tolist(),
                    mode="lines",
                    name=f"{line} expected (holdout)",
                    legendgroup=line,
                    line={"color": colour, "dash": "dash", "width": 1.5},
                    hovertemplate="expected %{y:.4f}<extra>%{fullData.name}</extra>",
                )
            )
    fig = _layout(fig, f"Realised {metric} by score date", "Score date", metric)
    fig.update_layout(legend_title_text="Scores")
    return fig


def drift_heatmap_figure(drift: pd.DataFrame, watch: float, act: float) -> go.Figure:
    """PSI of every FEATURE (rows; CHURN_PROBABILITY, the score distribution, first) at every
    SCORE_DATE (columns) from ML.MODEL_DRIFT, coloured green below ``watch``, amber from ``watch``
    and red from ``act``; each cell shows its PSI. A score date measured twice keeps its latest
    row (COMPUTED_AT); a feature not measured on a date is a blank cell."""
    _require(drift, ["SCORE_DATE", "FEATURE", "PSI"], "drift table")
    if not 0 < watch < act:
        raise ValueError(f"PSI thresholds must satisfy 0 < watch < act, got watch={watch}, act={act}")
    rows = drift.assign(SCORE_DATE=pd.to_datetime(drift["SCORE_DATE"]).dt.strftime("%Y-%m-%d"))
    if "COMPUTED_AT" in rows:
        rows = rows.sort_values("COMPUTED_AT", kind="stable")
    rows = rows.drop_duplicates(["FEATURE", "SCORE_DATE"], keep="last")
    grid = rows.pivot(index="FEATURE", columns="SCORE_DATE", values="PSI").sort_index(axis=1)
    order = sorted(grid.index, key=lambda feature: (feature != "CHURN_PROBABILITY", feature))
    grid = grid.reindex(order)
    top = 2 * act  # beyond this every cell is equally red; the text still shows the PSI
    colours = [[0, GREEN], [watch / top, GREEN], [watch / top, AMBER], [act / top, AMBER], [act / top, RED], [1, RED]]
    fig = go.Figure(
        go.Heatmap(
            z=grid.to_numpy(dtype=float).tolist(),
            x=list(grid.columns),
            y=list(grid.index),
            zmin=0,
            zmax=top,
            colorscale=colours,
            texttemplate="%{z:.2f}",
            hovertemplate="%{y}<br>%{x}<br>PSI %{z:.3f}<extra></extra>",
            colorbar={"title": {"text": "PSI"}, "tickvals": [0, watch, act, top],
                      "ticktext": ["0", f"watch {watch:g}", f"act {act:g}", f"≥ {top:g}"]},
            xgap=2,
            ygap=2,
        )
    )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category")
    fig.update_layout(title="Drift: population stability index by score date", xaxis_title="Score date",
                      yaxis_title="Feature", template="plotly_white", height=max(320, 120 + 26 * len(grid)))
    return fig
