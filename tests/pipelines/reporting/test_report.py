"""The run report: self-contained HTML (opens offline), escaped text, empty parts, KPI arithmetic."""

from __future__ import annotations

import re
from datetime import datetime
from html.parser import HTMLParser

import pandas as pd
import pytest

from retail_control_tower.pipelines.reporting.report import ReportData, render_report, report_figures, sales_kpis

EMPTY = pd.DataFrame()


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.external: list[str] = []
        self.headings: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value and not value.startswith(("data:", "#")):
                self.external.append(value)
        self._in_h2 = tag == "h2"

    def handle_data(self, data):
        if self._in_h2:
            self.headings.append(data.strip())
            self._in_h2 = False


def _data(**parts) -> ReportData:
    base = dict(
        generated_at=datetime(2026, 11, 26, 10), env="local", run_id="run-1", deciles=EMPTY, calibration=EMPTY,
        metrics=EMPTY, decisions=EMPTY, champion=None, dq=EMPTY, freshness=EMPTY, sales=EMPTY, runs=EMPTY,
    )
    return ReportData(**{**base, **parts})


@pytest.fixture
def full() -> ReportData:
    deciles = pd.DataFrame(
        [{"VARIANT": v, "DECILE": d, "N": 10, "EVENTS": 11 - d, "EVENT_RATE": (11 - d) / 10, "LIFT": (11 - d) / 5.5,
          "CUMULATIVE_CAPTURE": sum(11 - k for k in range(1, d + 1)) / 55} for v in ("hgb_ext", "logreg") for d in range(1, 11)]
    )
    calibration = pd.DataFrame(
        [{"VARIANT": v, "BIN": b, "LOWER": (b - 1) / 10, "UPPER": b / 10, "N": 10, "MEAN_PREDICTED": (b - 0.5) / 10,
          "OBSERVED_RATE": (b - 0.5) / 10} for v in ("hgb_ext", "logreg") for b in range(1, 11)]
    )
    metrics = pd.DataFrame(
        [{"VARIANT": v, "SPLIT": s, "VALIDATION_DATE": pd.Timestamp(d), "METRIC": m, "VALUE": 0.9}
         for v in ("hgb_ext", "logreg") for s, d in (("fold_1", "2026-05-31"), ("holdout", "2026-07-31"))
         for m in ("roc_auc", "pr_auc", "lift_at_10", "capture_at_20", "ece", "brier")]
    )
    decisions = pd.DataFrame([{"MODEL_NAME": "retail_churn", "MODEL_VERSION": "2", "VARIANT": "hgb_ext", "ALIAS": "challenger",
                               "DECISION": "not_promoted", "REASON": "<script>alert(1)</script> lift too low", "DECIDED_AT": "2026-11-26"}])
    dq = pd.DataFrame([
        {"CHECK_NAME": "freshness_warn", "TABLE_NAME": "MODEL.FCT_ORDER_LINE", "SEVERITY": "warn", "STATUS": "fail", "OBSERVED": 50.0, "THRESHOLD": 48.0, "DETAIL": "stale", "CHECKED_AT": "x"},
        {"CHECK_NAME": "duplicate_keys", "TABLE_NAME": "SILVER.ORDERS", "SEVERITY": "error", "STATUS": "pass", "OBSERVED": 0.0, "THRESHOLD": 0.0, "DETAIL": "", "CHECKED_AT": "x"},
    ])
    days = pd.date_range("2026-10-01", "2026-11-26")
    sales = pd.DataFrame({"DATE_DAY": days, "NET_SALES": 100.0, "ORDERS": 10, "CUSTOMERS": 8})
    freshness = pd.DataFrame([{"TABLE_NAME": "MODEL.FCT_ORDER_LINE", "LATEST_EVENT_AT": "2026-11-24", "AGE_HOURS": 50.0,
                               "WARN_AFTER_HOURS": 48.0, "ERROR_AFTER_HOURS": 168.0, "STATUS": "warn"}])
    return _data(deciles=deciles, calibration=calibration, metrics=metrics, decisions=decisions, dq=dq, sales=sales, freshness=freshness,
                 champion={"MODEL_NAME": "retail_churn", "MODEL_VERSION": "1", "VARIANT": "logreg", "TRAINED_AT": "2026-11-01"})


def test_the_report_is_one_self_contained_page(full):
    page = render_report(full)
    links = _Links()
    links.feed(page)
    assert links.external == []  # no script, stylesheet or image from the network
    assert len(re.findall(r"plotly\.js v\d", page)) == 1  # the library is inlined exactly once
    assert links.headings == ["Champion and challenger", "Model quality on the holdout", "Cross-validation over time",
                              "Data quality", "Freshness", "Sales KPIs", "Recent runs", "Definitions"]
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("plotly-graph-div") >= 7 and "logreg" in page and "ECE" in page


def test_figures_carry_every_variant(full):
    figures = report_figures(full)
    assert set(figures) == {"decile_lift", "cumulative_gains", "calibration", "cv_roc_auc", "cv_lift_at_10", "dq_summary", "sales_trend"}
    assert {"hgb_ext", "logreg"} <= {trace.name for trace in figures["decile_lift"].data}


def test_an_empty_report_says_what_is_missing():
    page = render_report(_data())
    assert "No champion yet" in page and "kedro run --pipeline train_eval" in page
    assert "No data-quality results yet" in page and "No sales yet" in page
    assert report_figures(_data()) == {}


def test_sales_kpis_compare_with_the_prior_period():
    sales = pd.DataFrame({"DATE_DAY": pd.date_range("2026-11-13", "2026-11-26"), "NET_SALES": [10.0] * 7 + [20.0] * 7,
                          "ORDERS": [1] * 7 + [3] * 7, "CUSTOMERS": [1] * 14})
    kpis = sales_kpis(sales, 7)
    assert kpis["NET_SALES"] == (140.0, pytest.approx(1.0))  # 7 x 20 vs 7 x 10: +100 %
    assert kpis["ORDERS"] == (21.0, pytest.approx(2.0))
    assert sales_kpis(sales, 30)["NET_SALES"] == (210.0, None)  # no earlier 30 days
