"""The report's "Model monitoring" section, from monitoring tables of their contract (ml/tables.py)
written to a DuckDB file and read through the report node: realised against expected performance,
the drift heat-map with the configured thresholds, the retraining signal, and plain sentences when
a table has no rows."""

from __future__ import annotations

import re
from datetime import date, datetime

import ibis
import pandas as pd
import pytest
from test_report import SETTINGS, _parse

from retail_control_tower.ml import tables as contracts
from retail_control_tower.pipelines.reporting.nodes import build_report, gather_report_data
from retail_control_tower.pipelines.reporting.report import FIGURE_KEYS, ReportSettings, render_report, report_figures

REALISED, DRIFT, SIGNAL = contracts.MODEL_PERFORMANCE_REALISED, contracts.MODEL_DRIFT, contracts.RETRAINING_SIGNAL
METRICS = ("roc_auc", "pr_auc", "lift_at_10", "ece", "brier")
EXPECTED = {"roc_auc": 0.812, "pr_auc": 0.571, "lift_at_10": 2.46, "ece": 0.018, "brier": 0.162}
SCORE_DATES = (date(2026, 5, 31), date(2026, 6, 30), date(2026, 7, 31))
REASON = "PSI of <b>RECENCY_DAYS</b> 0.31 >= 0.25 (act) & realised ROC AUC 0.701 < 0.762"


def _realised() -> pd.DataFrame:
    rows = []
    for d, score_date in enumerate(SCORE_DATES):
        for variant, version, factor in (("hgb_ext", "6", 1.0), ("legacy_rfm", "6", 0.9), ("oracle", "6", 1.05)):
            for metric in METRICS:
                rows.append({"SCORE_DATE": score_date, "MODEL_NAME": "retail_churn", "MODEL_VERSION": version,
                             "VARIANT": variant, "METRIC": metric, "VALUE": round(EXPECTED[metric] * (1 - 0.01 * (d + 1)) * factor, 4),
                             "EXPECTED": EXPECTED[metric] if variant == "hgb_ext" else None, "N": 400 + d, "EVENTS": 120 + d,
                             "COMPUTED_AT": datetime(2026, 11, 29, 8), "RUN_ID": "run-mon"})
    return pd.DataFrame(rows)


def _drift() -> pd.DataFrame:
    psi = {"CHURN_PROBABILITY": (0.02, 0.05, 0.12), "RECENCY_DAYS": (0.03, 0.11, 0.31), "MONETARY_90D": (0.01, 0.02, 0.04)}
    # One score date later than the latest realised one: its churn window has not elapsed yet.
    dates = (*SCORE_DATES, date(2026, 10, 31))
    rows = [{"RUN_ID": "run-mon", "SCORE_DATE": score_date, "MODEL_NAME": "retail_churn", "MODEL_VERSION": "6",
             "FEATURE": feature, "PSI": values[min(i, 2)],
             "STATUS": "act" if values[min(i, 2)] >= 0.25 else "watch" if values[min(i, 2)] >= 0.1 else "stable",
             "N": 1000, "COMPUTED_AT": datetime(2026, 11, 29, 8)}
            for i, score_date in enumerate(dates) for feature, values in psi.items()]
    return pd.DataFrame(rows)


def _signal() -> pd.DataFrame:
    return pd.DataFrame([
        {"RUN_ID": "run-old", "MODEL_NAME": "retail_churn", "MODEL_VERSION": "6", "RECOMMENDED": False,
         "REASON": "all stable", "RECOMMENDED_SINCE": None, "DECIDED_AT": datetime(2026, 10, 31, 8)},
        {"RUN_ID": "run-mon", "MODEL_NAME": "retail_churn", "MODEL_VERSION": "6", "RECOMMENDED": True,
         "REASON": REASON, "RECOMMENDED_SINCE": datetime(2026, 11, 22, 8), "DECIDED_AT": datetime(2026, 11, 29, 8)},
    ])


@pytest.fixture()
def warehouse(tmp_path):
    """A DuckDB file holding the three monitoring tables typed by their contract, and the tables
    the rest of the report reads, empty."""
    con = ibis.duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    tables = {
        "realised": con.create_table("MODEL_PERFORMANCE_REALISED", ibis.memtable(_realised(), schema=REALISED)),
        "drift": con.create_table("MODEL_DRIFT", ibis.memtable(_drift(), schema=DRIFT)),
        "signal": con.create_table("RETRAINING_SIGNAL", ibis.memtable(_signal(), schema=SIGNAL)),
        "empty_realised": con.create_table("EMPTY_REALISED", schema=REALISED),
        "empty_drift": con.create_table("EMPTY_DRIFT", schema=DRIFT),
        "empty_signal": con.create_table("EMPTY_SIGNAL", schema=SIGNAL),
        "champion": con.create_table("CHAMPION", schema=ibis.schema({"MODEL_NAME": "string", "VARIANT": "string"})),
        "metrics": con.create_table("METRICS", schema=ibis.schema({"VARIANT": "string", "SPLIT": "string", "METRIC": "string",
                                                                    "VALUE": "float64"})),
        "dq_latest": con.create_table("DQ", schema=ibis.schema({"CHECK_NAME": "string", "STATUS": "string"})),
        "health": con.create_table("HEALTH", schema=ibis.schema({"LATEST_SALE_AT": "timestamp"})),
        "sales": con.create_table("SALES", schema=ibis.schema({"DATE_DAY": "date", "NET_SALES": "float64"})),
    }
    yield tables
    con.disconnect()


def _gather(tables: dict, realised: str = "realised", drift: str = "drift", signal: str = "signal"):
    return gather_report_data(
        champion=tables["champion"], metrics=tables["metrics"], dq_latest=tables["dq_latest"], health=tables["health"],
        sales=tables["sales"], deciles=None, calibration=None, registry=None, run_log=None,
        run_context={"env": "local", "run_id": "run-report"},
        report_params={"sales_window_days": 180, "sales_mean_days": 7, "kpi_periods_days": [7, 30]},
        churn_window_days=90, realised=tables[realised], drift=tables[drift], signal=tables[signal],
        drift_params={"watch": 0.1, "act": 0.25, "bins": 10},
    )


def _section(page: str) -> str:
    return page[page.index("<h2>Model monitoring</h2>"):page.index("<h2>Data quality</h2>")]


def test_the_section_shows_realised_performance_drift_and_the_signal(warehouse):
    data = _gather(warehouse)
    result = build_report(data)
    section = _section(result["html"])
    # The latest signal, its reason escaped.
    assert "retrain recommended since 2026-11-22 08:00" in section and "all stable" not in section
    assert "PSI of &lt;b&gt;RECENCY_DAYS&lt;/b&gt; 0.31 &gt;= 0.25 (act) &amp; realised ROC AUC 0.701 &lt; 0.762" in section
    assert "<b>RECENCY_DAYS</b>" not in section
    # Realised against expected on the latest complete score date (2026-07-31: 97 % of expected).
    assert "3 score date(s) measured; the latest, 2026-07-31" in section
    assert re.search(r"holdout value\.\s+1 later score date\(s\) wait for their 90-day churn window to elapse\.", section)
    rows = {row.split(" ")[0]: row for row in _parse(result["html"]).highlighted}
    assert list(rows) == ["hgb_ext"] and "0.788" in rows["hgb_ext"] and "0.554" in rows["hgb_ext"]  # roc_auc, pr_auc
    assert re.search(r"hgb_ext v6 expected \(holdout\)</td><td class=\"num\">0.812</td><td class=\"num\">0.571</td>", section)
    assert re.search(r"<td>legacy_rfm</td><td class=\"num\">0.709</td>", section)  # 0.812 x 0.97 x 0.9
    assert re.search(r"<td>oracle</td><td class=\"num\">0.827</td>", section)  # 0.812 x 0.97 x 1.05
    # Drift on the latest score date: one feature at act, one at watch, the worst first; the heat-map.
    assert "4 score date(s) measured; the latest, 2026-10-31" in section
    assert re.search(r"stable<b>1</b>.*watch<b>1</b>.*act<b>1</b>", section)
    assert section.index("RECENCY_DAYS") < section.index("CHURN_PROBABILITY")
    assert "<td>RECENCY_DAYS</td><td class=\"num\">0.310</td>" in section  # PSI to three decimals
    assert section.count("class=\"plotly-graph-div\"") == len(METRICS) + 1  # a chart per metric and the heat-map
    assert "No data yet" not in section
    # The kedro-viz figures stay the report's FIGURE_KEYS; the monitoring ones are in the page.
    assert set(result) == {"html", *FIGURE_KEYS}


def test_the_figures_carry_realised_expected_and_the_drift_grid(warehouse):
    figures = report_figures(_gather(warehouse))
    assert list(figures) == [f"realised_{m}" for m in METRICS] + ["drift_psi"]
    roc = {trace.name: trace for trace in figures["realised_roc_auc"].data}
    assert list(roc) == ["hgb_ext v6", "hgb_ext v6 expected (holdout)", "legacy_rfm", "oracle"]
    assert list(roc["hgb_ext v6"].y) == [0.8039, 0.7958, 0.7876]
    assert list(roc["hgb_ext v6 expected (holdout)"].y) == [0.812] * 3 and roc["hgb_ext v6 expected (holdout)"].line.dash == "dash"
    heat = figures["drift_psi"].data[0]
    assert list(heat.y) == ["CHURN_PROBABILITY", "MONETARY_90D", "RECENCY_DAYS"]
    assert list(heat.x) == ["2026-05-31", "2026-06-30", "2026-07-31", "2026-10-31"]
    assert list(heat.z[2]) == [0.03, 0.11, 0.31, 0.31] and heat.zmax == 0.5  # twice the act threshold
    # Colour bands at the configured thresholds: green below 0.1, amber below 0.25, red above.
    assert [tuple(stop) for stop in heat.colorscale] == [(0, "#2f9e44"), (0.2, "#2f9e44"), (0.2, "#f08c00"), (0.5, "#f08c00"),
                                                         (0.5, "#e03131"), (1, "#e03131")]


def test_thresholds_come_from_the_settings(warehouse):
    data = _gather(warehouse)
    data.settings = ReportSettings(**{**SETTINGS.__dict__, "psi_watch": 0.2, "psi_act": 0.4})
    heat = report_figures(data)["drift_psi"].data[0]
    assert heat.zmax == 0.8 and [stop[0] for stop in heat.colorscale] == [0, 0.25, 0.25, 0.5, 0.5, 1]
    assert "below 0.2 stable, from 0.2 watch, from 0.4 act" in render_report(data)


def test_empty_tables_say_so_plainly(warehouse):
    section = _section(render_report(_gather(warehouse, "empty_realised", "empty_drift", "empty_signal")))
    assert "No data yet: no retraining decision has been recorded" in section
    assert "No data yet: no score date has a complete churn window yet" in section and "90 days after it" in section
    assert "No data yet: drift is measured at each scoring run" in section
    assert "plotly-graph-div" not in section


def test_drift_without_realised_rows_shows_the_heat_map_and_says_what_is_missing(warehouse):
    data = _gather(warehouse, realised="empty_realised", signal="empty_signal")
    section = _section(render_report(data))
    assert "No data yet: no score date has a complete churn window yet" in section
    assert section.count("class=\"plotly-graph-div\"") == 1 and "4 score date(s) measured" in section
    assert list(report_figures(data)) == ["drift_psi"]


def test_a_missing_table_reads_as_empty(warehouse):
    tables = {**warehouse, "none": None}
    section = _section(render_report(_gather(tables, "none", "none", "none")))
    assert section.count("No data yet") == 3
