"""Power BI refresh against loopback fakes of Microsoft Entra and the Power BI REST API (TLS, throwaway CA)."""

from __future__ import annotations

import os
import time

import pytest
from publish_fakes import refresh_request_errors
from publish_support import DATASET, POWERBI_CREDENTIALS, certificates, closed_port_url, services  # noqa: F401 (fixtures)

from retail_control_tower.publish import config, power_bi
from retail_control_tower.publish.http import new_session


def refresh(params: dict, credentials: dict = POWERBI_CREDENTIALS):
    settings = config.load(params)
    with new_session(settings.ca_bundle) as session:
        return power_bi.refresh_datasets(settings, credentials, session)


def test_an_enhanced_refresh_is_requested_polled_and_reported(services):
    [outcome] = refresh(services.params())
    assert (outcome.status, outcome.remote_status, outcome.target) == ("success", "Completed", "RetailControlTower")
    assert outcome.request_id in services.power_bi.refreshes and outcome.requested_at <= outcome.finished_at
    [token] = [r for r in services.entra.requests if r["method"] == "POST"]  # msal's cache serves every later call
    assert token["form"]["scope"] == "https://analysis.windows.net/powerbi/api/.default"
    assert token["form"]["grant_type"] == "client_credentials"
    posts = [r for r in services.power_bi.requests if r["method"] == "POST"]
    assert [p["json"] for p in posts] == [{"type": "Full", "commitMode": "Transactional", "maxParallelism": 2, "retryCount": 1}]
    assert services.power_bi.invalid_bodies == []
    polls = services.power_bi.paths("GET")
    assert len(polls) == 2 and all(p.endswith(f"/datasets/{DATASET}/refreshes/{outcome.request_id}") for p in polls)
    assert all(r["headers"]["Authorization"] == f"Bearer {services.entra.issued[0]}" for r in services.power_bi.requests)


def test_the_ca_bundle_holds_although_the_environment_names_another(services, monkeypatch, tmp_path):
    # Our machines set REQUESTS_CA_BUNDLE; requests would let it override the session's CA.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", os.environ.get("REQUESTS_CA_BUNDLE") or "/etc/ssl/certs/ca-certificates.crt")
    assert refresh(services.params())[0].status == "success"
    [outcome] = refresh(services.params(ca_bundle=None))  # the system CAs do not know our throwaway CA
    assert outcome.status == "failed" and "SSL" in outcome.detail
    assert len(services.power_bi.paths("POST")) == 1  # the second never got through


def test_a_standard_refresh_sends_notify_option_only_and_is_found_in_the_history(services):
    params = services.params(power_bi__refresh="standard")
    [outcome] = refresh(params)
    assert outcome.status == "success", outcome.detail
    [post] = [r for r in services.power_bi.requests if r["method"] == "POST"]
    assert post["json"] == {"notifyOption": "NoNotification"}
    history = [r for r in services.power_bi.requests if r["method"] == "GET"]
    assert history and all(r["path"].endswith("/refreshes") and r["query"]["$top"] == ["10"] for r in history)


def test_a_failed_refresh_is_a_failure_with_the_service_s_error(services):
    services.power_bi.behaviour[DATASET] = "fail"
    [outcome] = refresh(services.params())
    assert (outcome.status, outcome.remote_status) == ("failed", "Failed")
    assert "ModelRefreshFailed_CredentialsNotSpecified" in outcome.detail and "Snowflake source" in outcome.detail


def test_a_refresh_past_its_deadline_is_cancelled(services):
    services.power_bi.behaviour[DATASET] = "hang"
    started = time.monotonic()
    [outcome] = refresh(services.params(power_bi__timeout_seconds=0.5))
    assert time.monotonic() - started < 3
    assert (outcome.status, outcome.remote_status) == ("failed", "timed out")
    assert "still running after 0.5 s" in outcome.detail and "cancelled (DELETE answered 200)" in outcome.detail
    assert services.power_bi.paths("DELETE") == [services.power_bi.paths("GET")[0]]
    assert services.power_bi.refreshes[outcome.request_id]["cancelled"]


def test_429_is_retried_after_the_wait_the_service_asks_for(services):
    services.power_bi.throttle_posts = 1
    started = time.monotonic()
    [outcome] = refresh(services.params())
    assert outcome.status == "success" and time.monotonic() - started >= 1.0
    assert len(services.power_bi.paths("POST")) == 2


def test_429_asking_to_wait_past_the_deadline_fails_without_waiting(services):
    services.power_bi.throttle_posts, services.power_bi.retry_after = 1, 30
    started = time.monotonic()
    [outcome] = refresh(services.params())
    assert time.monotonic() - started < 3
    assert outcome.status == "failed" and "HTTP 429 (Retry-After: 30) TooManyRequests" in outcome.detail


def test_bad_credentials_fail_every_dataset_without_calling_power_bi(services):
    [outcome] = refresh(services.params(), {**POWERBI_CREDENTIALS, "client_secret": "wrong"})
    assert (outcome.status, outcome.remote_status) == ("failed", "no token")
    assert "invalid_client" in outcome.detail and "AADSTS7000215" in outcome.detail
    assert "wrong" not in outcome.detail and services.power_bi.requests == []


def test_missing_credentials_name_where_to_put_them(services):
    [outcome] = refresh(services.params(), {"tenant_id": "t"})
    assert "client_id" in outcome.detail and "RCT_POWERBI_CLIENT_SECRET" in outcome.detail
    assert services.entra.requests == []


def test_an_unreachable_power_bi_is_a_failure(services):
    sock, url = closed_port_url()
    with sock:
        [outcome] = refresh(services.params(power_bi__api_url=f"{url}/v1.0/myorg"))
    assert (outcome.status, outcome.remote_status) == ("failed", "unreachable")
    assert f"{url.removeprefix('https://')} unreachable" in outcome.detail


def test_an_unreachable_entra_is_a_failure(services):
    sock, url = closed_port_url()
    with sock:
        [outcome] = refresh(services.params(power_bi__authority_host=url))
    assert outcome.status == "failed" and outcome.remote_status == "no token"


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"type": "Full", "notifyOption": "MailOnFailure"}, "notifyOption must be excluded"),
        ({"type": "Everything"}, "type: 'Everything' is not one of"),
        ({"commitMode": "transactional"}, "commitMode"),
        ({"retryCount": "2"}, "retryCount"),
        ({"objects": [{"table": 3}]}, "objects/0/table"),
        ({"commitmode": "Transactional"}, "unknown property 'commitmode'"),
        ({}, "'notifyOption' is a required property"),
    ],
)
def test_the_fake_rejects_what_microsoft_s_description_rejects(body, named):
    assert any(named in error for error in refresh_request_errors(body)), refresh_request_errors(body)


def test_the_bodies_publish_sends_are_valid():
    for mode in ("enhanced", "standard"):
        params = {"power_bi": {"refresh": mode, "enhanced": {"type": "Full", "commitMode": "PartialBatch", "maxParallelism": 4,
                                                             "retryCount": 0, "objects": [{"table": "V_CUSTOMER_RISK"}]},
                               "datasets": [{"name": "x"}]}}
        settings = config.load(params)
        assert refresh_request_errors(power_bi.request_body(settings, settings.power_bi.datasets[0])) == []
