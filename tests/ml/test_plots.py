"""Figure builders: one trace per variant with the right data, reference lines, clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from retail_control_tower.ml.metrics import calibration_table, decile_table
from retail_control_tower.ml.plots import (
    calibration_figure,
    cumulative_gains_figure,
    cv_metric_figure,
    decile_lift_figure,
    drift_heatmap_figure,
    realised_performance_figure,
)


def _deciles() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    y = (rng.random(200) < 0.3).astype(int)
    good = np.clip(0.2 + 0.5 * y * rng.random(200) + 0.2 * rng.random(200), 0, 1)
    return pd.concat(
        [
            decile_table(y, good).assign(VARIANT="new"),
            decile_table(y, rng.random(200)).assign(VARIANT="current"),
        ],
        ignore_index=True,
    )


def _titles(fig: go.Figure) -> tuple[str, str, str]:
    return fig.layout.title.text, fig.layout.xaxis.title.text, fig.layout.yaxis.title.text


def test_decile_lift_figure():
    deciles = _deciles()
    fig = decile_lift_figure(deciles)
    assert all(_titles(fig))
    assert [t.name for t in fig.data] == ["new", "current"]
    assert all(isinstance(t, go.Bar) for t in fig.data)
    new = deciles[deciles["VARIANT"] == "new"]
    assert list(fig.data[0].x) == list(range(1, 11))
    assert list(fig.data[0].y) == pytest.approx(new["LIFT"].tolist())
    assert fig.layout.barmode == "group"
    (line,) = fig.layout.shapes
    assert (line.y0, line.y1, line.line.dash) == (1, 1, "dash")


def test_cumulative_gains_figure():
    deciles = _deciles()
    fig = cumulative_gains_figure(deciles)
    assert all(_titles(fig))
    assert [t.name for t in fig.data] == ["new", "current", "random"]
    new = deciles[deciles["VARIANT"] == "new"]
    assert list(fig.data[0].x) == pytest.approx([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    assert list(fig.data[0].y) == pytest.approx([0.0, *new["CUMULATIVE_CAPTURE"]])
    assert fig.data[0].y[-1] == pytest.approx(1.0)
    assert (list(fig.data[2].x), list(fig.data[2].y)) == ([0, 1], [0, 1])


def test_calibration_figure_skips_empty_bins():
    y6, p6 = [0, 1, 0, 1, 1, 1], [0.05, 0.15, 0.30, 0.35, 0.80, 1.00]
    table = pd.concat(
        [
            calibration_table(y6, p6).assign(VARIANT="a"),  # bins with data: 1, 2, 4, 9, 10
            calibration_table([0, 1], [0.2, 0.7]).assign(VARIANT="b"),
        ],
        ignore_index=True,
    )
    fig = calibration_figure(table)
    assert all(_titles(fig))
    assert [t.name for t in fig.data] == ["a", "b", "perfect calibration"]
    assert list(fig.data[0].x) == pytest.approx([0.05, 0.15, 0.325, 0.8, 1.0])
    assert list(fig.data[0].y) == pytest.approx([0, 1, 0.5, 1, 1])
    assert list(fig.data[1].x) == pytest.approx([0.2, 0.7]) and list(fig.data[1].y) == [0, 1]
    assert fig.data[0].mode == "lines+markers"
    assert tuple(fig.layout.xaxis.range) == (0, 1) and tuple(fig.layout.yaxis.range) == (0, 1)


def _cv_metrics(with_holdout_date: bool = True) -> pd.DataFrame:
    rows = []
    for variant, base in (("new", 0.80), ("current", 0.70)):
        for i, date in enumerate(["2025-01-31", "2025-02-28", "2025-03-31"], start=1):
            rows.append((variant, f"fold_{i}", date, "roc_auc", base + i / 100))
            rows.append((variant, f"fold_{i}", date, "lift_at_10", 2 + i / 10))
        rows.append((variant, "holdout", "2025-04-30" if with_holdout_date else None, "roc_auc", base))
    return pd.DataFrame(rows, columns=["VARIANT", "SPLIT", "VALIDATION_DATE", "METRIC", "VALUE"])


def test_cv_metric_figure_folds_and_holdout():
    # Rows out of date order on purpose: the lines must still run left to right.
    fig = cv_metric_figure(_cv_metrics().iloc[::-1], "roc_auc")
    assert _titles(fig) == ("roc_auc by validation date", "Validation date", "roc_auc")
    assert [t.name for t in fig.data] == ["current", "current holdout", "new", "new holdout"]
    new, new_holdout = fig.data[2], fig.data[3]
    assert [pd.Timestamp(x) for x in new.x] == [pd.Timestamp(d) for d in ("2025-01-31", "2025-02-28", "2025-03-31")]
    assert list(new.y) == pytest.approx([0.81, 0.82, 0.83])
    assert new.mode == "lines+markers"
    assert [pd.Timestamp(x) for x in new_holdout.x] == [pd.Timestamp("2025-04-30")]
    assert list(new_holdout.y) == pytest.approx([0.80])
    assert new_holdout.mode == "markers" and new_holdout.marker.symbol == "diamond"
    assert new_holdout.marker.color == new.line.color


def test_cv_metric_figure_without_holdout_date():
    fig = cv_metric_figure(_cv_metrics(with_holdout_date=False), "lift_at_10")
    assert [t.name for t in fig.data] == ["new", "current"]
    assert list(fig.data[0].y) == pytest.approx([2.1, 2.2, 2.3])
    fig = cv_metric_figure(_cv_metrics(with_holdout_date=False), "roc_auc")
    assert [t.name for t in fig.data] == ["new", "current"]  # undated holdout left out


def test_cv_metric_figure_unknown_metric():
    with pytest.raises(ValueError, match="'pr_auc' not found"):
        cv_metric_figure(_cv_metrics(), "pr_auc")


@pytest.mark.parametrize(
    ("builder", "table", "missing"),
    [
        (decile_lift_figure, pd.DataFrame({"DECILE": [1], "LIFT": [2.0]}), "VARIANT"),
        (cumulative_gains_figure, pd.DataFrame({"VARIANT": ["a"], "DECILE": [1]}), "CUMULATIVE_CAPTURE"),
        (calibration_figure, pd.DataFrame({"VARIANT": ["a"]}), "MEAN_PREDICTED, OBSERVED_RATE"),
        (lambda t: cv_metric_figure(t, "roc_auc"), pd.DataFrame({"VARIANT": ["a"], "METRIC": ["roc_auc"]}), "SPLIT, VALIDATION_DATE, VALUE"),
    ],
)
def test_missing_columns_are_named(builder, table, missing):
    with pytest.raises(ValueError, match=f"missing required column\\(s\\): {missing}$"):
        builder(table)


def test_figures_serialise_to_json():
    deciles = _deciles()
    for fig in (decile_lift_figure(deciles), cumulative_gains_figure(deciles), cv_metric_figure(_cv_metrics(), "roc_auc")):
        assert go.Figure(fig.to_dict()).to_json()


def _realised() -> pd.DataFrame:
    """Champion v6 on two score dates, v7 on the second (a new champion), the legacy rule on both
    (measured under both versions), and a re-measured first date of v6 (the later value wins)."""
    rows = [
        ("2026-05-31", "6", "hgb", 0.80, 0.82, "2026-09-01"), ("2026-05-31", "6", "hgb", 0.79, 0.82, "2026-09-02"),
        ("2026-06-30", "6", "hgb", 0.78, 0.82, "2026-10-01"), ("2026-06-30", "7", "logreg", 0.77, 0.75, "2026-10-01"),
        ("2026-05-31", "6", "legacy_rfm", 0.70, None, "2026-09-02"), ("2026-06-30", "6", "legacy_rfm", 0.69, None, "2026-10-01"),
        ("2026-06-30", "7", "legacy_rfm", 0.69, None, "2026-10-01"),
    ]
    return pd.DataFrame(
        [{"SCORE_DATE": pd.Timestamp(d).date(), "MODEL_VERSION": v, "VARIANT": var, "METRIC": "roc_auc", "VALUE": value,
          "EXPECTED": expected, "N": 100, "EVENTS": 30, "COMPUTED_AT": pd.Timestamp(at)} for d, v, var, value, expected, at in rows]
        + [{"SCORE_DATE": pd.Timestamp("2026-05-31").date(), "MODEL_VERSION": "6", "VARIANT": "hgb", "METRIC": "ece",
            "VALUE": 0.02, "EXPECTED": 0.01, "N": 100, "EVENTS": 30, "COMPUTED_AT": pd.Timestamp("2026-09-01")}]
    )


def test_realised_performance_figure_has_a_line_per_champion_version_and_its_expected_value():
    fig = realised_performance_figure(_realised(), "roc_auc")
    assert all(_titles(fig))
    traces = {t.name: t for t in fig.data}
    assert list(traces) == ["hgb v6", "hgb v6 expected (holdout)", "logreg v7", "logreg v7 expected (holdout)", "legacy_rfm"]
    assert list(traces["hgb v6"].y) == [0.79, 0.78]  # the re-measured first date keeps its later value
    assert list(traces["hgb v6 expected (holdout)"].y) == [0.82, 0.82]
    assert traces["hgb v6 expected (holdout)"].line.color == traces["hgb v6"].line.color
    assert list(traces["legacy_rfm"].y) == [0.70, 0.69]  # one line, whatever champion version it was measured beside
    assert list(traces["hgb v6"].customdata[0]) == [100, 30]
    with pytest.raises(ValueError, match="'lift_at_10' not found"):
        realised_performance_figure(_realised(), "lift_at_10")
    with pytest.raises(ValueError, match="missing required column.*EXPECTED"):
        realised_performance_figure(_realised().drop(columns="EXPECTED"), "roc_auc")


def test_drift_heatmap_places_psi_by_feature_and_date_with_threshold_colours():
    drift = pd.DataFrame({
        "SCORE_DATE": [pd.Timestamp(d).date() for d in ("2026-06-30", "2026-05-31", "2026-06-30", "2026-06-30")],
        "FEATURE": ["AGE", "AGE", "CHURN_PROBABILITY", "AGE"],
        "PSI": [0.5, 0.05, None, 0.15],
        "COMPUTED_AT": pd.to_datetime(["2026-10-01", "2026-09-01", "2026-10-01", "2026-10-02"]),
    })
    heat = drift_heatmap_figure(drift, 0.1, 0.25).data[0]
    assert list(heat.y) == ["CHURN_PROBABILITY", "AGE"] and list(heat.x) == ["2026-05-31", "2026-06-30"]
    assert np.isnan(heat.z[0][0]) and np.isnan(heat.z[0][1])  # the score measured only on 06-30, as null
    assert list(heat.z[1]) == [0.05, 0.15]  # AGE on 06-30: the later of two measurements
    assert [s[0] for s in heat.colorscale] == [0, 0.2, 0.2, 0.5, 0.5, 1] and heat.zmax == 0.5
    with pytest.raises(ValueError, match="0 < watch < act"):
        drift_heatmap_figure(drift, 0.3, 0.25)
    with pytest.raises(ValueError, match="missing required column.*PSI"):
        drift_heatmap_figure(drift.drop(columns="PSI"), 0.1, 0.25)
