"""The report's "Model monitoring" section: realised against expected performance over score dates
(ML.MODEL_PERFORMANCE_REALISED), feature and score drift (ML.MODEL_DRIFT) and the latest retraining
signal (ML.RETRAINING_SIGNAL). Each part says plainly when its table has no rows yet."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from retail_control_tower.ml import plots
from retail_control_tower.pipelines.reporting.html import Card, Cell, badge, fmt, missing, table

# Realised metrics in display order (the names of ML.MODEL_METRICS); others follow in name order.
REALISED_METRICS = ("roc_auc", "pr_auc", "lift_at_10", "ece", "brier")
DRIFT_STATUSES = ("stable", "watch", "act")


def _three_decimals(value: object) -> Cell:
    """Metrics and PSI to the third decimal, so a column's values line up and compare at a glance."""
    return Cell("–" if missing(value) else f"{float(value):.3f}", numeric=True)


def _metrics(realised: pd.DataFrame) -> list[str]:
    present = set(realised["METRIC"].astype(str))
    return [m for m in REALISED_METRICS if m in present] + sorted(present - set(REALISED_METRICS))


def figures(realised: pd.DataFrame, drift: pd.DataFrame, psi_watch: float, psi_act: float) -> dict[str, go.Figure]:
    """``realised_<metric>`` per metric with realised rows, and ``drift_psi`` when drift was measured."""
    shown: dict[str, go.Figure] = {}
    if not realised.empty:
        shown |= {f"realised_{m}": plots.realised_performance_figure(realised, m) for m in _metrics(realised)}
    if not drift.empty:
        shown["drift_psi"] = plots.drift_heatmap_figure(drift, psi_watch, psi_act)
    return shown


def _latest(frame: pd.DataFrame, keys: list[str], order: str) -> pd.DataFrame:
    """One row per ``keys``: the one written last by ``order`` (a re-measured date counts once)."""
    if order in frame:
        frame = frame.sort_values(order, kind="stable")
    return frame.drop_duplicates(keys, keep="last")


def _realised(realised: pd.DataFrame, drift: pd.DataFrame) -> dict | None:
    if realised.empty:
        return None
    dates = pd.to_datetime(realised["SCORE_DATE"])
    latest_date = dates.max()
    rows = _latest(realised[dates == latest_date], ["MODEL_VERSION", "VARIANT", "METRIC"], "COMPUTED_AT")
    baseline = rows["VARIANT"].isin(list(plots.BASELINES))
    rows = rows.assign(LINE=plots.realised_line(rows))
    metrics = _metrics(rows)
    wide = rows.pivot_table(index="LINE", columns="METRIC", values="VALUE", aggfunc="last").reindex(columns=metrics)
    sizes = rows.groupby("LINE")[[c for c in ("N", "EVENTS") if c in rows]].max()
    champion_lines = list(pd.unique(rows.loc[~baseline, "LINE"]))
    expected = rows[~baseline].pivot_table(index="LINE", columns="METRIC", values="EXPECTED", aggfunc="last")
    expected = expected.reindex(columns=metrics).rename(index=lambda line: f"{line} expected (holdout)")
    order = [*champion_lines, *(line for line in expected.index if line.removesuffix(" expected (holdout)") in champion_lines),
             *(line for line in plots.BASELINES if line in wide.index)]
    frame = pd.concat([wide.join(sizes), expected]).reindex(order).rename_axis("LINE").reset_index()
    number = dict.fromkeys(metrics, _three_decimals)
    headers = {"LINE": "scores", **{m: m for m in metrics}, "N": "N", "EVENTS": "events"}
    later = 0
    if not drift.empty:
        later = int((pd.to_datetime(pd.Series(pd.unique(drift["SCORE_DATE"]))) > latest_date).sum())
    return {"dates": int(dates.nunique()), "latest_date": fmt(latest_date), "later_dates": later,
            "table": table(frame, headers, formats=number,
                           highlight=lambda row: str(row["LINE"]) in champion_lines)}


def _drift(drift: pd.DataFrame) -> dict | None:
    if drift.empty:
        return None
    dates = pd.to_datetime(drift["SCORE_DATE"])
    latest_date = dates.max()
    rows = _latest(drift[dates == latest_date], ["FEATURE"], "COMPUTED_AT")
    status = rows["STATUS"].astype(str).str.lower()
    counts = [Card(f"{word}", fmt(int((status == word).sum())), f"features on {fmt(latest_date)}") for word in DRIFT_STATUSES]
    flagged = rows[status.isin(["watch", "act"])].sort_values("PSI", ascending=False)
    headers = {"FEATURE": "feature", "PSI": "PSI", "STATUS": "status", "N": "N"}
    return {"latest_date": fmt(latest_date), "dates": int(dates.nunique()), "cards": counts,
            "flagged": table(flagged, headers, formats={"STATUS": badge, "PSI": _three_decimals}) if not flagged.empty else None}


def _signal(signal: pd.DataFrame) -> dict | None:
    if signal.empty:
        return None
    last = (signal.sort_values("DECIDED_AT", kind="stable") if "DECIDED_AT" in signal else signal).iloc[-1]
    recommended = None if missing(last.get("RECOMMENDED")) else bool(last["RECOMMENDED"])
    return {"recommended": recommended, "reason": fmt(last.get("REASON")), "model": fmt(last.get("MODEL_NAME")),
            "version": fmt(last.get("MODEL_VERSION")), "decided_at": fmt(last.get("DECIDED_AT")), "run_id": fmt(last.get("RUN_ID")),
            "since": fmt(last.get("RECOMMENDED_SINCE")) if recommended and not missing(last.get("RECOMMENDED_SINCE")) else None}


def section(realised: pd.DataFrame, drift: pd.DataFrame, signal: pd.DataFrame, churn_window_days: int) -> dict:
    """What the monitoring template shows; a part is None when its table has no rows."""
    return {"realised": _realised(realised, drift), "drift": _drift(drift), "signal": _signal(signal),
            "churn_window_days": churn_window_days, "metrics": _metrics(realised) if not realised.empty else []}
