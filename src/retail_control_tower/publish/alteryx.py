"""Alteryx Server workflows triggered through Server API v3.

``POST /webapi/oauth2/token`` (OAuth 2 client credentials: the user's API key and API secret)
gives a bearer token; ``POST /webapi/v3/workflows/{workflowId}/jobs`` (``questions``,
``priority``) queues a job; ``GET /webapi/v3/jobs/{jobId}`` is polled until the job leaves
Queued / Running. Only ``Completed`` with disposition ``Success`` counts as published: anything
else (an error, a warning, a cancelled job, a status we do not know) is a failure, recorded
with the server's own status.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import requests

from retail_control_tower.publish import log
from retail_control_tower.publish.config import Publish, Workflow
from retail_control_tower.publish.http import Deadline, PublishError, call, describe_error, unreachable

logger = logging.getLogger(__name__)
SYSTEM = "alteryx"
CREDENTIAL_KEYS = ("api_key", "api_secret")
IN_PROGRESS = ("Queued", "Running")


def trigger_workflows(config: Publish, credentials: dict[str, Any], session: requests.Session) -> list[log.Outcome]:
    """Runs every configured workflow, one after another; one Outcome each, never raises."""
    workflows = config.alteryx.workflows
    if not workflows:
        return []
    try:
        token = acquire_token(config, credentials, session)
    except PublishError as error:
        logger.error("Alteryx Server: no token, no job: %s", error)
        return [log.Outcome(SYSTEM, w.name, log.FAILED, str(error), log.now(), remote_status="no token") for w in workflows]
    return [run_one(config, workflow, token, session) for workflow in workflows]


def acquire_token(config: Publish, credentials: dict[str, Any], session: requests.Session) -> str:
    missing = [key for key in CREDENTIAL_KEYS if not credentials.get(key)]
    if missing:
        raise PublishError(
            f"no Alteryx Server API credentials {missing}: set them in conf/local/credentials.yml "
            "(alteryx_server_api) or the environment (RCT_ALTERYX_API_KEY, RCT_ALTERYX_API_SECRET)"
        )
    url = f"{config.alteryx.server_url}/webapi/oauth2/token"
    form = {"grant_type": "client_credentials", "client_id": credentials["api_key"], "client_secret": credentials["api_secret"]}
    try:
        response = call(session, "POST", url, data=form, deadline=Deadline(config.alteryx.timeout_seconds),
                        request_timeout=config.request_timeout_seconds, max_retry_after=config.max_retry_after_seconds)
    except requests.RequestException as error:
        raise PublishError(f"Alteryx Server token endpoint: {unreachable(url, error)}") from None
    token = _json(response).get("access_token") if response.status_code == 200 else None
    if not token:
        raise PublishError(f"Alteryx Server refused the token request: {describe_error(response)}")
    return str(token)


def run_one(config: Publish, workflow: Workflow, token: str, session: requests.Session) -> log.Outcome:
    ayx = config.alteryx
    server = f"{ayx.server_url}/webapi/v3"
    deadline = Deadline(ayx.timeout_seconds)
    options = {"deadline": deadline, "request_timeout": config.request_timeout_seconds,
               "max_retry_after": config.max_retry_after_seconds, "headers": {"Authorization": f"Bearer {token}"}}

    def outcome(status: str, detail: str, job_id: str | None = None, requested_at=None, remote: str | None = None) -> log.Outcome:
        (logger.info if status == log.SUCCESS else logger.error)("Alteryx workflow %s: %s", workflow.name, detail)
        return log.Outcome(SYSTEM, workflow.name, status, detail, log.now(), job_id, requested_at, remote)

    requested_at = log.now()
    url = f"{server}/workflows/{workflow.workflow_id}/jobs"
    try:
        response = call(session, "POST", url, json={"questions": list(workflow.questions), "priority": workflow.priority}, **options)
    except requests.RequestException as error:
        return outcome(log.FAILED, unreachable(url, error), requested_at=requested_at, remote="unreachable")
    job = _json(response)
    if response.status_code not in (200, 201) or not job.get("id"):
        return outcome(log.FAILED, f"job not queued: {describe_error(response)}", requested_at=requested_at,
                       remote=f"HTTP {response.status_code}")
    job_id = str(job["id"])
    try:
        while str(job.get("status")) in IN_PROGRESS and not deadline.passed:
            time.sleep(max(0.0, min(ayx.poll_seconds, deadline.remaining)))
            response = call(session, "GET", f"{server}/jobs/{job_id}", **options)
            if response.status_code != 200:
                return outcome(log.FAILED, f"job {job_id}: GET answered {describe_error(response)}", job_id, requested_at,
                               f"HTTP {response.status_code}")
            job = _json(response)
    except requests.RequestException as error:
        return outcome(log.FAILED, f"while polling: {unreachable(url, error)}", job_id, requested_at, "unreachable")
    status, disposition = str(job.get("status")), job.get("disposition")
    remote = f"{status}/{disposition}" if disposition else status
    if status in IN_PROGRESS:
        return outcome(log.FAILED, f"still {status} after {ayx.timeout_seconds:g} s (publish.alteryx.timeout_seconds); "
                       "the job was left to the server", job_id, requested_at, remote)
    if status == "Completed" and disposition == "Success":
        return outcome(log.SUCCESS, f"job finished ({remote})", job_id, requested_at, remote)
    return outcome(log.FAILED, f"job ended {remote}: {_messages(job)}", job_id, requested_at, remote)


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _messages(job: dict[str, Any]) -> str:
    texts = [str(m.get("text") or "") for m in job.get("messages") or [] if isinstance(m, dict)]
    text = "; ".join(t for t in texts if t)
    return " ".join(text.split())[:1000] or "no message from the server"
