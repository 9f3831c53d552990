"""Alteryx Server API v3 jobs against a loopback fake of the Server (TLS, throwaway CA)."""

from __future__ import annotations

import time

from publish_support import (  # noqa: F401 (fixtures)
    ALTERYX_CREDENTIALS, CHURN_WORKFLOW, KPI_WORKFLOW, certificates, closed_port_url, services,
)

from retail_control_tower.publish import alteryx, config
from retail_control_tower.publish.http import new_session


def trigger(params: dict, credentials: dict = ALTERYX_CREDENTIALS):
    settings = config.load(params)
    with new_session(settings.ca_bundle) as session:
        return alteryx.trigger_workflows(settings, credentials, session)


def test_each_workflow_is_queued_polled_and_reported(services):
    churn, kpi = trigger(services.params())
    assert [(o.target, o.status, o.remote_status) for o in (churn, kpi)] == [
        ("churn_campaign_list", "success", "Completed/Success"), ("daily_kpi_extract", "success", "Completed/Success")]
    [token] = [r for r in services.alteryx.requests if r["path"] == "/webapi/oauth2/token"]
    assert token["form"] == {"grant_type": "client_credentials", "client_id": "ayx-key", "client_secret": "ayx-s3cret"}
    posts = [r for r in services.alteryx.requests if r["method"] == "POST" and r["path"].endswith("/jobs")]
    assert [p["path"] for p in posts] == [f"/webapi/v3/workflows/{CHURN_WORKFLOW}/jobs", f"/webapi/v3/workflows/{KPI_WORKFLOW}/jobs"]
    assert [p["json"] for p in posts] == [{"questions": [], "priority": "Default"},
                                          {"questions": [{"name": "Days", "value": "7"}], "priority": "Default"}]
    assert services.alteryx.paths("GET") == [f"/webapi/v3/jobs/{churn.request_id}"] * 2 + [f"/webapi/v3/jobs/{kpi.request_id}"] * 2


def test_anything_but_an_explicit_success_is_a_failure_with_the_raw_status(services):
    services.alteryx.workflows[CHURN_WORKFLOW] = ("Completed", "Warning")
    services.alteryx.workflows[KPI_WORKFLOW] = ("Error", "Error")
    churn, kpi = trigger(services.params())
    assert (churn.status, churn.remote_status) == ("failed", "Completed/Warning")
    assert (kpi.status, kpi.remote_status) == ("failed", "Error/Error")
    assert "Unable to open the file" in kpi.detail


def test_a_job_still_running_at_the_deadline_is_a_failure(services):
    services.alteryx.workflows[CHURN_WORKFLOW] = None
    started = time.monotonic()
    churn, kpi = trigger(services.params(alteryx__timeout_seconds=0.4))
    assert time.monotonic() - started < 3
    assert (churn.status, churn.remote_status) == ("failed", "Running/None") and "still Running after 0.4 s" in churn.detail
    assert kpi.status == "success"


def test_bad_credentials_queue_no_job(services):
    outcomes = trigger(services.params(), {**ALTERYX_CREDENTIALS, "api_secret": "wrong"})
    assert [o.status for o in outcomes] == ["failed", "failed"]
    assert "HTTP 401 invalid_client" in outcomes[0].detail and "wrong" not in outcomes[0].detail
    assert services.alteryx.jobs == {}


def test_an_unknown_workflow_is_a_failure(services):
    del services.alteryx.workflows[KPI_WORKFLOW]
    churn, kpi = trigger(services.params())
    assert churn.status == "success" and (kpi.status, kpi.remote_status) == ("failed", "HTTP 404")
    assert f"Workflow {KPI_WORKFLOW} not found" in kpi.detail


def test_an_unreachable_server_is_a_failure(services):
    sock, url = closed_port_url()
    with sock:
        outcomes = trigger(services.params(alteryx__server_url=url))
    assert [o.remote_status for o in outcomes] == ["no token", "no token"]
    assert "unreachable" in outcomes[0].detail
