"""Operations in real Kedro sessions: the run log of a failed run, alerts posted to webhooks on a
loopback HTTP server, and the local fallback when the warehouse itself is what failed."""

from __future__ import annotations

import json

import pytest
from conftest import small_retailer, webhook_server

from retail_control_tower.pipelines.dq.gate import DataQualityError

ALERTS_ON = {
    "alerts": {
        "enabled": True,
        "timeout_seconds": 5,
        "notify_on": {"pipeline_failure": True, "dq_error": True, "dq_warning": True, "freshness_breach": True, "champion_change": True},
        "webhooks": [
            {"name": "test-slack", "format": "slack", "url_credential": "test_slack"},
            {"name": "test-teams", "format": "teams", "url_credential": "test_teams"},
        ],
    }
}
# Judging the little retailer (sales in the last 40 days) from a year later breaks the
# freshness SLA: an error-severity check.
A_YEAR_LATER = {"event_dates": {"reference_time": "2099-01-01T00:00:00"}}


@pytest.fixture
def webhooks(monkeypatch):
    with webhook_server() as (base, received):
        monkeypatch.setenv("RCT_WEBHOOK_TEST_SLACK", f"{base}/slack")
        monkeypatch.setenv("RCT_WEBHOOK_TEST_TEAMS", f"{base}/teams")
        yield received


def _merge(*dicts):
    merged: dict = {}
    for d in dicts:
        merged.update(d)
    return merged


def test_a_dq_error_run_is_logged_as_failed_and_alerts_both_webhooks(workspace, webhooks):
    workspace.write_retailer(small_retailer())
    with pytest.raises(DataQualityError):
        workspace.run("ingest", "dq", params=_merge(ALERTS_ON, A_YEAR_LATER))
    run_id, status, error_class, failed_node, pipelines, commit, params_hash = workspace.rows(
        "SELECT RUN_ID, STATUS, ERROR_CLASS, FAILED_NODE, PIPELINES, GIT_COMMIT, PARAMETERS_HASH FROM OPS.PIPELINE_RUN_LOG"
    )[0]
    assert (status, error_class, failed_node, pipelines) == ("failed", "DataQualityError", "dq_gate", "ingest,dq")
    assert len(params_hash) == 16
    nodes = dict(workspace.rows("SELECT NODE_NAME, STATUS FROM OPS.NODE_RUN_LOG"))
    assert nodes["dq_gate"] == "failed" and nodes["apply_silver_orders"] == "success"
    assert workspace.scalar("SELECT ROWS_WRITTEN FROM OPS.NODE_RUN_LOG WHERE NODE_NAME = 'dq_gate'") is None

    slack = [r["json"]["text"] for r in webhooks if r["path"] == "/slack"]
    teams = [r["json"] for r in webhooks if r["path"] == "/teams"]
    assert all(r["type"] == "application/json" for r in webhooks)
    assert len(slack) == len(teams) == 2  # the DQ error and the freshness breach, to each webhook
    dq_error = next(text for text in slack if "Data-quality errors" in text)
    assert run_id in dq_error and "freshness_error" in dq_error and "OPS.DQ_RESULTS" in dq_error and "local" in dq_error
    assert any("Freshness SLA breached on MODEL.FCT_ORDER_LINE" in text for text in slack)
    card = teams[0]["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    facts = {f["title"]: f["value"] for block in card["content"]["body"] if block["type"] == "FactSet" for f in block["facts"]}
    assert facts.get("Run id") == run_id


def test_alerts_are_off_by_default(workspace, webhooks):
    workspace.write_retailer(small_retailer())
    with pytest.raises(DataQualityError):
        workspace.run("ingest", "dq", params=A_YEAR_LATER)
    assert webhooks == []
    assert workspace.scalar("SELECT STATUS FROM OPS.PIPELINE_RUN_LOG") == "failed"


def test_an_unreachable_webhook_never_fails_a_good_run(workspace, monkeypatch):
    monkeypatch.setenv("RCT_WEBHOOK_TEST_SLACK", "http://127.0.0.1:9/nothing-listens-here")
    monkeypatch.setenv("RCT_WEBHOOK_TEST_TEAMS", "http://127.0.0.1:9/nothing-listens-here")
    workspace.write_retailer(small_retailer())
    params = _merge(ALERTS_ON, {"dq": {"volume": {"min_ratio": 2.0}}})  # a failing warning → an alert attempt
    workspace.run("ingest", "dq", params=params)
    assert workspace.scalar("SELECT STATUS FROM OPS.PIPELINE_RUN_LOG") == "success"


def test_when_the_warehouse_fails_the_run_log_falls_back_to_a_local_file(workspace, webhooks):
    workspace.write_retailer(small_retailer())
    workspace.warehouse.mkdir()  # a folder where the DuckDB file should be: no connection is possible
    with pytest.raises(Exception):
        workspace.run("ingest", params=ALERTS_ON)
    fallback = workspace.data / "08_reporting" / "run_log_fallback.jsonl"
    records = [json.loads(line) for line in fallback.read_text().splitlines()]
    assert len(records) == 1
    record = records[0]
    assert record["run"]["STATUS"] == "failed" and record["run"]["ERROR_CLASS"] and record["warehouse_error"]
    assert record["run"]["PIPELINES"] == "ingest"
    failure = [r["json"]["text"] for r in webhooks if r["path"] == "/slack"]
    assert len(failure) == 1 and "failed" in failure[0] and record["run"]["RUN_ID"] in failure[0]


def test_smoke_on_an_empty_warehouse_fails_naming_what_is_missing(workspace):
    from retail_control_tower.pipelines.smoke.nodes import SmokeTestError

    with pytest.raises(SmokeTestError, match="core_tables: .*missing: SILVER.ORDERS") as error:
        workspace.run("smoke")
    assert "scratch_write_read_drop" not in str(error.value)  # writing still works
    results = (workspace.data / "08_reporting" / "smoke_results.csv").read_text()
    assert "connection,pass" in results and "schemas,fail" in results and "mlflow_registry,pass" in results
