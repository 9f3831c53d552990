"""The run report: a self-contained page (opens offline, plotly.js once), escaped text, every section
present and sensible when empty, figures per variant, and the sales KPI arithmetic."""

from __future__ import annotations

from datetime import datetime
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import PROJECT

from retail_control_tower.pipelines.reporting.report import (
    FIGURE_KEYS,
    ReportData,
    ReportSettings,
    render_report,
    report_figures,
    sales_kpis,
)

EMPTY = pd.DataFrame()
VARIANTS = ("hgb_ext", "logreg")
HEADINGS = ["Champion and challenger", "Model quality on the holdout", "Cross-validation over time", "Model monitoring",
            "Data quality", "Freshness", "Sales KPIs", "Recent runs", "Definitions"]
XSS = "<script>alert(1)</script>"


class _Page(HTMLParser):
    """Collects tags, every src/href, <h2> texts, and the text of <tr class='hl'> rows."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []
        self.scripts_with_src = 0
        self.headings: list[str] = []
        self.highlighted: list[str] = []
        self._h2: list[str] | None = None
        self._hl: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attributes = dict(attrs)
        self.urls += [value or "" for name, value in attrs if name in ("src", "href", "srcset", "data")]
        self.scripts_with_src += tag == "script" and "src" in attributes
        if tag == "h2":
            self._h2 = []
        if tag == "tr" and attributes.get("class") == "hl":
            self._hl = []

    def handle_endtag(self, tag):
        if tag == "h2" and self._h2 is not None:
            self.headings.append("".join(self._h2).strip())
            self._h2 = None
        if tag == "tr" and self._hl is not None:
            self.highlighted.append(" ".join(self._hl))
            self._hl = None

    def handle_data(self, data):
        for sink in (self._h2, self._hl):
            if sink is not None:
                sink.append(data)


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    return parser


def _parameters(name: str) -> dict:
    return yaml.safe_load((PROJECT / "conf" / "base" / f"parameters_{name}.yml").read_text())


# The report as configured in conf/base: the figures below are checked against its periods.
SETTINGS = ReportSettings.from_params(_parameters("reporting")["reporting"]["report"],
                                      _parameters("features")["features"]["churn_window_days"],
                                      _parameters("monitoring")["monitoring"]["drift"])


def _data(**parts) -> ReportData:
    base = dict(generated_at=datetime(2026, 11, 26, 10, 30), env="local", run_id="run-1", settings=SETTINGS,
                deciles=EMPTY, calibration=EMPTY,
                metrics=EMPTY, decisions=EMPTY, champion=None, dq=EMPTY, freshness=EMPTY, sales=EMPTY, runs=EMPTY)
    return ReportData(**{**base, **parts})


@pytest.fixture(scope="module")
def full() -> ReportData:
    deciles = pd.DataFrame(
        [{"VARIANT": v, "DECILE": d, "N": 10, "EVENTS": 11 - d, "EVENT_RATE": (11 - d) / 10, "LIFT": (11 - d) / 5.5,
          "CUMULATIVE_CAPTURE": sum(11 - k for k in range(1, d + 1)) / 55} for v in VARIANTS for d in range(1, 11)]
    )
    calibration = pd.DataFrame(
        [{"VARIANT": v, "BIN": b, "LOWER": (b - 1) / 10, "UPPER": b / 10, "N": 10, "MEAN_PREDICTED": (b - 0.5) / 10,
          "OBSERVED_RATE": (b - 0.4) / 10} for v in VARIANTS for b in range(1, 11)]
    )
    splits = (("fold_1", "2026-04-30"), ("fold_2", "2026-05-31"), ("holdout", "2026-07-31"))
    values = {"roc_auc": 0.81, "pr_auc": 0.55, "lift_at_10": 2.4, "capture_at_20": 0.43, "ece": 0.021, "brier": 0.17}
    metrics = pd.DataFrame(
        [{"VARIANT": v, "SPLIT": s, "VALIDATION_DATE": pd.Timestamp(d), "METRIC": m, "VALUE": value - 0.01 * i}
         for i, v in enumerate(VARIANTS) for s, d in splits for m, value in values.items()]
    )
    decisions = pd.DataFrame([
        {"MODEL_NAME": "retail_churn", "MODEL_VERSION": "7", "VARIANT": "hgb_ext", "ALIAS": "challenger", "DECISION": "rejected",
         "REASON": f"{XSS} lift gain CI includes 0", "DECIDED_AT": pd.Timestamp("2026-11-26 10:00"), "TRAINING_WINDOW": "2025-01..2026-06"},
        {"MODEL_NAME": "retail_churn", "MODEL_VERSION": "6", "VARIANT": "logreg", "ALIAS": "champion", "DECISION": "kept",
         "REASON": "incumbent", "DECIDED_AT": pd.Timestamp("2026-11-26 10:00"), "TRAINING_WINDOW": "2025-01..2026-06"},
    ])
    dq = pd.DataFrame([
        {"CHECK_NAME": "freshness_warn", "TABLE_NAME": "MODEL.FCT_ORDER_LINE", "SEVERITY": "warn", "STATUS": "fail",
         "OBSERVED": 50.0, "THRESHOLD": 48.0, "DETAIL": "<img src=x onerror=alert(2)> stale",
         "CHECKED_AT": pd.Timestamp("2026-11-26 09:00")},
        {"CHECK_NAME": "null_customer", "TABLE_NAME": "SILVER.ORDERS", "SEVERITY": "error", "STATUS": "fail",
         "OBSERVED": 12.0, "THRESHOLD": 0.0, "DETAIL": "12 rows", "CHECKED_AT": pd.Timestamp("2026-11-26 09:00")},
        {"CHECK_NAME": "duplicate_keys", "TABLE_NAME": "SILVER.ORDERS", "SEVERITY": "error", "STATUS": "pass",
         "OBSERVED": 0.0, "THRESHOLD": 0.0, "DETAIL": "", "CHECKED_AT": pd.Timestamp("2026-11-26 09:00")},
    ])
    days = pd.date_range("2026-05-01", "2026-11-26")
    sales = pd.DataFrame({"DATE_DAY": days, "NET_SALES": 1000.0 + np.arange(len(days)), "ORDERS": 50, "CUSTOMERS": 40,
                          "RETURNS_AMOUNT": 20.0})
    freshness = pd.DataFrame([{"TABLE_NAME": "MODEL.FCT_ORDER_LINE", "LATEST_EVENT_AT": pd.Timestamp("2026-11-24 08:00"),
                               "AGE_HOURS": 50.25, "WARN_AFTER_HOURS": 48.0, "ERROR_AFTER_HOURS": 168.0, "STATUS": "warn"}])
    runs = pd.DataFrame([
        {"RUN_ID": "run-1", "PIPELINES": "__default__", "STARTED_AT": pd.Timestamp("2026-11-26 10:00"),
         "FINISHED_AT": pd.Timestamp("2026-11-26 10:20"), "STATUS": "success", "ERROR_CLASS": None},
        {"RUN_ID": "run-0", "PIPELINES": "dq", "STARTED_AT": pd.Timestamp("2026-11-25 10:00"),
         "FINISHED_AT": pd.Timestamp("2026-11-25 10:01"), "STATUS": "failed", "ERROR_CLASS": "DataQualityError<&>"},
    ])
    return _data(deciles=deciles, calibration=calibration, metrics=metrics, decisions=decisions, dq=dq, sales=sales,
                 freshness=freshness, runs=runs,
                 champion={"MODEL_NAME": "retail_churn", "MODEL_VERSION": "6", "VARIANT": "logreg",
                           "TRAINED_AT": pd.Timestamp("2026-11-01")})


@pytest.fixture(scope="module")
def page(full) -> str:
    return render_report(full)


def test_the_page_opens_offline_with_plotly_inlined_once(page):
    parsed = _parse(page)
    assert parsed.tags[:2] == ["html", "head"] and "body" in parsed.tags
    assert parsed.urls == [] and parsed.scripts_with_src == 0  # nothing fetched: no src/href at all
    assert "<link" not in page and "@import" not in page
    assert page.count("plotly.js v") == 1  # the library's banner: inlined exactly once ...
    assert page.index("plotly.js v") < page.index("</head>")  # ... in <head>, before any figure uses it
    assert page.count("class=\"plotly-graph-div\"") == len(FIGURE_KEYS)


def test_every_section_is_there_in_order(page):
    assert _parse(page).headings == HEADINGS
    assert "<h1>Retail Control Tower — run report</h1>" in page
    assert "local" in page and "run-1" in page and "2026-11-26 10:30" in page


def test_text_from_data_is_escaped(page):
    parsed = _parse(page)
    assert XSS not in page and "&lt;script&gt;alert(1)&lt;/script&gt; lift gain CI includes 0" in page
    assert "img" not in parsed.tags and "&lt;img src=x onerror=alert(2)&gt; stale" in page
    assert "DataQualityError&lt;&amp;&gt;" in page


def test_champion_row_is_highlighted_and_metrics_formatted(page):
    highlighted = _parse(page).highlighted
    assert len(highlighted) == 1 and highlighted[0].startswith("logreg")
    holdout = page[page.index("<h2>Model quality on the holdout</h2>"):]
    assert holdout.index(">logreg") < holdout.index(">hgb_ext")  # champion first, though hgb_ext scores higher
    assert "0.800" in highlighted[0] and "2.39×" in highlighted[0] and "42.0%" in highlighted[0]  # roc_auc, lift, capture
    assert "ECE" in page and "lift@10%" in page and "Σ_b (n_b/N)·|mean(y)_b − mean(p)_b|" in page


def test_failed_checks_come_first_errors_before_warnings(page):
    dq = page[page.index("<h2>Data quality</h2>"):page.index("<h2>Freshness</h2>")]
    assert dq.index("null_customer") < dq.index("freshness_warn") < dq.index("<details>") < dq.index("duplicate_keys")
    assert "<b>3</b>" in dq and dq.count("<b>1</b>") == 2  # checks, failed errors, failed warnings


def test_figures_are_keyed_as_specified_and_carry_the_variants(full):
    figures = report_figures(full)
    assert list(figures) == list(FIGURE_KEYS) == ["decile_lift", "cumulative_gains", "calibration", "cv_roc_auc",
                                                  "cv_lift_at_10", "dq_summary", "sales_trend"]
    for key in ("decile_lift", "cumulative_gains", "calibration", "cv_roc_auc", "cv_lift_at_10"):
        assert set(VARIANTS) <= {trace.name for trace in figures[key].data}, key
    assert {"hgb_ext holdout", "logreg holdout"} <= {trace.name for trace in figures["cv_roc_auc"].data}


def test_dq_figure_counts_pass_and_fail_per_severity(full):
    bars = {trace.name: trace for trace in report_figures(full)["dq_summary"].data}
    assert list(bars["passed"].x) == ["error", "warn"] and list(bars["passed"].y) == [1, 0]
    assert list(bars["failed (error)"].y) == [1] and list(bars["failed (warn)"].y) == [1]
    assert (bars["passed"].marker.color, bars["failed (warn)"].marker.color, bars["failed (error)"].marker.color) == (
        "#2f9e44", "#f08c00", "#e03131")


def test_sales_trend_shows_180_days_with_a_7_day_mean_and_orders_on_the_right(full):
    net, mean, orders = report_figures(full)["sales_trend"].data
    assert len(net.x) == 180 and pd.Timestamp(net.x[-1]) == pd.Timestamp("2026-11-26")
    # Net sales rise by 1 a day, so the trailing 7-day mean trails the day's value by 3 -- also on the
    # first day shown, because the mean is computed on the history before the 180-day cut.
    assert np.allclose(np.asarray(net.y) - np.asarray(mean.y), 3.0)
    assert orders.yaxis == "y2" and net.yaxis in (None, "y")


def test_sales_kpis_compare_with_the_prior_period():
    sales = pd.DataFrame({"DATE_DAY": pd.date_range("2026-11-13", "2026-11-26"),
                          "NET_SALES": [10.0] * 7 + [20.0] * 7, "ORDERS": [1] * 7 + [3] * 7, "CUSTOMERS": [2] * 14})
    kpis = sales_kpis(sales, 7)
    assert kpis["NET_SALES"] == (140.0, pytest.approx(1.0))  # 7 x 20 = 140 vs 7 x 10 = 70: +100 %
    assert kpis["ORDERS"] == (21.0, pytest.approx(2.0))  # 21 vs 7: +200 %
    assert kpis["CUSTOMERS"] == (14.0, pytest.approx(0.0))
    assert sales_kpis(sales, 30)["NET_SALES"] == (210.0, None)  # no earlier 30 days to compare with
    # A day delivered in two rows counts once, summed; a prior period only partly covered gives no change.
    split = pd.concat([sales, sales.tail(1).assign(NET_SALES=5.0)])
    assert sales_kpis(split, 7)["NET_SALES"][0] == 145.0
    assert sales_kpis(sales.iloc[3:], 7)["NET_SALES"] == (140.0, None)


def test_sales_cards_show_the_kpis(page):
    sales = page[page.index("<h2>Sales KPIs</h2>"):page.index("<h2>Recent runs</h2>")]
    # Last 7 days of NET_SALES = 1000 + i for i = 203..209 (the frame's last 7 days): 7 * 1000 + 1442.
    assert "8,442" in sales and "+0.6%" in sales  # vs 7 * 1000 + 1393 = 8,393: +0.58 %
    assert "net sales, last 30 days" in sales and "orders, last 7 days" in sales and "customers, last 30 days" in sales


def test_an_empty_report_renders_with_no_data_sentences():
    empty = render_report(_data())
    parsed = _parse(empty)
    assert parsed.headings == HEADINGS and parsed.urls == [] and empty.count("plotly.js v") == 1
    assert "No champion yet: no model has been trained. Run <code>kedro run --pipeline train_eval</code>." in empty
    # decisions, holdout metrics, model figures, CV, retraining signal, realised performance, drift, dq,
    # freshness, sales, runs
    assert empty.count("No data yet") == 11
    assert "plotly-graph-div" not in empty
    assert report_figures(_data()) == {}


def test_figures_skip_metrics_without_cross_validation_folds(full):
    holdout_only = full.metrics[(full.metrics["SPLIT"] == "holdout") | (full.metrics["METRIC"] != "lift_at_10")]
    figures = report_figures(_data(metrics=holdout_only))
    assert list(figures) == ["cv_roc_auc"]  # lift_at_10 has holdout rows only: no trend to draw
    page = render_report(_data(metrics=holdout_only))
    assert "No data yet: decile and calibration tables appear" in page and page.count("plotly-graph-div") == 1


def test_periods_and_the_churn_window_come_from_the_settings(full):
    assert (SETTINGS.sales_window_days, SETTINGS.kpi_periods_days, SETTINGS.churn_window_days) == (180, (7, 30), 90)
    other = ReportSettings(**{**SETTINGS.__dict__, "sales_window_days": 60, "sales_mean_days": 3, "kpi_periods_days": (14,),
                              "churn_window_days": 45})
    data = _data(**{**full.__dict__, "settings": other})
    net, mean, _ = report_figures(data)["sales_trend"].data
    assert len(net.x) == 60 and np.allclose(np.asarray(net.y) - np.asarray(mean.y), 1.0)  # a 3-day mean trails by 1
    assert mean.name == "net sales, 3-day mean" and report_figures(data)["sales_trend"].layout.title.text == "Sales, last 60 days"
    page = render_report(data)
    sales = page[page.index("<h2>Sales KPIs</h2>"):page.index("<h2>Recent runs</h2>")]
    assert "net sales, last 14 days" in sales and "vs prior 14 days" in sales and "last 7 days" not in sales
    assert "churned = no purchase in the 45 days after the snapshot date" in page and "90 days" not in page


def test_the_report_node_reads_its_periods_from_parameters():
    from retail_control_tower.pipelines.reporting.pipeline import create_pipeline
    from retail_control_tower.settings import CONFIG_LOADER_ARGS, CONFIG_LOADER_CLASS

    node = next(n for n in create_pipeline().nodes if n.name == "gather_report_data")
    assert {"params:reporting.report", "params:features.churn_window_days", "params:monitoring.drift"} <= set(node.inputs)
    assert {"ML_MODEL_PERFORMANCE_REALISED", "ML_MODEL_DRIFT", "ML_RETRAINING_SIGNAL"} <= set(node.inputs)
    params = CONFIG_LOADER_CLASS(str(PROJECT / "conf"), **CONFIG_LOADER_ARGS)["parameters"]
    settings = ReportSettings.from_params(params["reporting"]["report"], params["features"]["churn_window_days"],
                                          params["monitoring"]["drift"])
    assert settings == SETTINGS


def test_text_inside_figures_cannot_close_their_script(full):
    # Figures are inserted as ready HTML (their <script> runs them), so what data puts in them --
    # a variant's name in a trace -- must reach the page escaped by plotly.
    deciles = full.deciles.assign(VARIANT=full.deciles["VARIANT"].where(full.deciles["VARIANT"] != "logreg", XSS))
    page = render_report(_data(deciles=deciles))
    assert XSS not in page and page.count("plotly-graph-div") == 2  # decile lift, cumulative gains
