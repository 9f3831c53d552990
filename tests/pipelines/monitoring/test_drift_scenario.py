"""Monitoring in real Kedro sessions on a small synthetic retailer whose behaviour drifts: a champion
trained before the drift is quiet on the data it knew; once the drift is in the data, drift and
realised performance show it and the retraining signal fires, in the warehouse and in chat.

The history (730 days to 2026-10-31) drifts from 210 days before its end (2026-04-05): every
customer loses interest six times as fast and prices rise 40 %. The first run trains on
snapshots up to 2025-12-31, whose labels end before the drift; the second scores the latest data
with that champion, as a daily scoring run between trainings would."""

from __future__ import annotations

import pytest
from conftest import PROJECT, Workspace, release_warehouse_connections, webhook_server

from retail_control_tower.pipelines.monitoring.gate import latest_signal_decision

GENERATE = {"synthetic": {
    "customers": 500, "stores": 6, "products": 60, "history_days": 730, "target_order_lines": 34000, "end_date": "2026-10-31",
    "drift": {"start_days_before_end": 210, "region": None, "churn_multiplier": 6.0, "price_change": 0.4},
}}
AS_OF = {"event_dates": {"reference_time": "2026-10-31T23:59:59"}}
# The deployed champion is the refit (the default); its backfill is measured under the version it
# was validated as, which the signal reads through ML.MODEL_REGISTRY.VALIDATED_VERSION.
BEFORE_THE_DRIFT = {**AS_OF, "features": {"last_snapshot": "2025-12-31"}}
ALERTS = {"alerts": {"enabled": True, "webhooks": [{"name": "drift", "format": "slack", "url_credential": "drift_slack"}]}}


@pytest.fixture(scope="module")
def drifted(tmp_path_factory):
    monkeypatch = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("drift")
    ws = Workspace.at(root, monkeypatch)
    ws.run("generate", params=GENERATE)
    with webhook_server() as (base, received):
        monkeypatch.setenv("RCT_WEBHOOK_DRIFT_SLACK", f"{base}/slack")
        ws.run(params={**BEFORE_THE_DRIFT, **ALERTS})
        ws.before = {
            "signal": ws.rows("SELECT RECOMMENDED, REASON FROM ML.RETRAINING_SIGNAL"),
            "realised": ws.rows("SELECT SCORE_DATE, MODEL_VERSION, VARIANT, METRIC, VALUE, RUN_ID FROM ML.MODEL_PERFORMANCE_REALISED ORDER BY ALL"),
            "alerts": [r["json"]["text"] for r in received],
            "gate": latest_signal_decision(None, None, only_when_recommended=True, project_path=PROJECT),
        }
        ws.run("features", "scoring", "monitoring", params={**AS_OF, **ALERTS})
        ws.alerts = [r["json"]["text"] for r in received]
    ws.gate = {flag: latest_signal_decision(None, None, only_when_recommended=flag, project_path=PROJECT) for flag in (True, False)}
    yield ws
    release_warehouse_connections()
    monkeypatch.undo()


def test_before_the_drift_the_signal_is_quiet(drifted):
    before = drifted.before
    [(recommended, reason)] = before["signal"]
    assert recommended is False and reason.startswith("no rule met"), reason
    assert len(before["alerts"]) == 1 and "New churn champion" in before["alerts"][0]
    # the weekly training job would skip this week
    retrain, why = before["gate"]
    assert retrain is False and why.startswith("retraining not recommended for v2 by run") and reason in why
    # the out-of-sample snapshots after the training window were backfilled and measured at once
    # the champion is the refit (v2) of the version validated on the holdout (v1), which scored them
    assert drifted.rows("SELECT MODEL_VERSION, VALIDATED_VERSION FROM ML.MODEL_REGISTRY ORDER BY 1") == [("1", None), ("2", "1")]
    window_end = drifted.scalar("SELECT SPLIT_PART(TRAINING_WINDOW, '..', 2) FROM ML.MODEL_REGISTRY WHERE MODEL_VERSION = '1'")
    backfilled = {version for (day, version, variant, *_) in before["realised"] if variant not in ("legacy_rfm", "oracle") and str(day) < "2025-12-31"}
    assert backfilled == {"1"}
    dates = {str(d) for (d, _, variant, *_) in before["realised"] if variant not in ("legacy_rfm", "oracle")}
    assert dates and min(dates) > window_end and max(dates) == "2025-12-31"


def test_after_the_drift_drift_and_realised_performance_show_it_and_the_signal_fires(drifted):
    ws = drifted
    latest_run = ws.scalar("SELECT RUN_ID FROM ML.MODEL_DRIFT ORDER BY COMPUTED_AT DESC LIMIT 1")
    statuses = dict(ws.rows(f"SELECT FEATURE, STATUS FROM ML.MODEL_DRIFT WHERE RUN_ID = '{latest_run}'"))
    assert "act" in statuses.values() and "CHURN_PROBABILITY" in statuses
    assert ws.rows(f"SELECT DISTINCT SCORE_DATE FROM ML.MODEL_DRIFT WHERE RUN_ID = '{latest_run}'")[0][0].isoformat() == "2026-10-31"
    # the champion's realised calibration after the drift against before it
    champion = "VARIANT NOT IN ('legacy_rfm', 'oracle') AND METRIC = 'ece'"
    before = ws.scalar(f"SELECT AVG(VALUE) FROM ML.MODEL_PERFORMANCE_REALISED WHERE {champion} AND SCORE_DATE <= '2025-12-31'")
    after = ws.scalar(f"SELECT AVG(VALUE) FROM ML.MODEL_PERFORMANCE_REALISED WHERE {champion} AND SCORE_DATE >= '2026-05-31'")
    assert after > before + 0.05
    [(recommended, reason, raised)] = ws.rows(
        f"SELECT RECOMMENDED, REASON, RECOMMENDED_SINCE = DECIDED_AT FROM ML.RETRAINING_SIGNAL WHERE RUN_ID = '{latest_run}'"
    )
    assert recommended is True and "mean realised ECE" in reason and "at 'act' drift" in reason, reason
    assert raised is True  # raised in this run, after a quiet one: told
    [alert] = [text for text in ws.alerts if "Retraining recommended" in text]
    assert reason.split(";")[0][:60] in alert
    view = ws.rows("SELECT DISTINCT RETRAINING_RECOMMENDED, RUN_ID, DRIFT_SCORE_DATE, DRIFT_ACT > 0 FROM REPORTING.V_MODEL_MONITORING")
    assert [(r, run, str(day), act) for r, run, day, act in view] == [(True, latest_run, "2026-10-31", True)]
    # and the weekly training job would train
    assert ws.gate[True][0] is True and ws.gate[True][1].startswith(f"retraining recommended for v2 by run {latest_run}")
    assert ws.gate[False] == (True, "training on schedule: only_when_recommended is off")


def test_realised_rows_are_added_once_and_backfill_leaves_the_latest_scores_alone(drifted):
    ws = drifted
    assert ws.rows(
        "SELECT SCORE_DATE, MODEL_VERSION, VARIANT, METRIC, COUNT(*) FROM ML.MODEL_PERFORMANCE_REALISED "
        "GROUP BY ALL HAVING COUNT(*) > 1"
    ) == []
    again = ws.rows(
        "SELECT SCORE_DATE, MODEL_VERSION, VARIANT, METRIC, VALUE, RUN_ID FROM ML.MODEL_PERFORMANCE_REALISED "
        "WHERE SCORE_DATE <= '2025-12-31' ORDER BY ALL"
    )
    assert again == ws.before["realised"]  # the second run added later dates only
    variants = {v for (v,) in ws.rows("SELECT DISTINCT VARIANT FROM ML.MODEL_PERFORMANCE_REALISED")}
    assert {"legacy_rfm", "oracle"} < variants
    assert ws.rows("SELECT DISTINCT SCORE_DATE FROM REPORTING.V_LATEST_CHURN_SCORES")[0][0].isoformat() == "2026-10-31"
    assert ws.scalar("SELECT COUNT(*) FROM ML.CUSTOMER_CHURN_SCORE_BACKFILL WHERE SCORE_DATE = '2026-10-31'") == 0
