"""Power BI dataset refresh through the REST API, as a service principal.

Token: Microsoft Entra client credentials with msal (``acquire_token_for_client``, scope
``https://analysis.windows.net/powerbi/api/.default``). Then, per dataset:
``POST /groups/{groupId}/datasets/{datasetId}/refreshes`` (202). An *enhanced* refresh (Premium,
PPU, Fabric capacity) answers with ``Location``, whose last segment is the refresh id: poll
``GET .../refreshes/{refreshId}`` (202 while running, 200 when done) and ``DELETE`` it when the
deadline passes. A *standard* refresh (shared capacity: only ``notifyOption`` may be sent, eight a
day) gets no ``Location`` (the API description says so): it is found in the refresh history
(``GET .../refreshes?$top=``) by the ``RequestId`` header of the POST's answer, and cannot be
cancelled (cancelling is an enhanced-refresh feature).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import msal
import requests

from retail_control_tower.publish import log
from retail_control_tower.publish.config import Dataset, Publish
from retail_control_tower.publish.http import Deadline, PublishError, call, describe_error, unreachable

logger = logging.getLogger(__name__)
SYSTEM = "power_bi"
CREDENTIAL_KEYS = ("tenant_id", "client_id", "client_secret")
DONE = 200  # GET .../refreshes/{id}: 200 once completed or failed, 202 while in progress
HISTORY_TOP = 10


def refresh_datasets(config: Publish, credentials: dict[str, Any], session: requests.Session) -> list[log.Outcome]:
    """Refreshes every configured dataset, one after another; one Outcome each, never raises."""
    datasets = config.power_bi.datasets
    if not datasets:
        return []
    try:
        tokens = Tokens(config, credentials, session)
        tokens.headers()
    except PublishError as error:
        logger.error("Power BI: no token, no refresh: %s", error)
        return [log.Outcome(SYSTEM, d.name, log.FAILED, str(error), log.now(), remote_status="no token") for d in datasets]
    return [refresh_one(config, dataset, tokens, session) for dataset in datasets]


class Tokens:
    """Access tokens for the Power BI API. msal keeps the token and asks Entra again only when it
    is about to expire (an hour), so a long refresh is polled with a valid token throughout."""

    def __init__(self, config: Publish, credentials: dict[str, Any], session: requests.Session) -> None:
        missing = [key for key in CREDENTIAL_KEYS if not credentials.get(key)]
        if missing:
            raise PublishError(
                f"no Power BI service principal credentials {missing}: set them in conf/local/credentials.yml "
                "(powerbi_service_principal) or the environment (RCT_POWERBI_TENANT_ID, RCT_POWERBI_CLIENT_ID, RCT_POWERBI_CLIENT_SECRET)"
            )
        self._authority_host, self._scope = config.power_bi.authority_host, config.power_bi.scope
        # msal reads the authority's OpenID configuration when the app is made (it may fail here).
        self._app = self._entra(lambda: msal.ConfidentialClientApplication(
            credentials["client_id"],
            client_credential=credentials["client_secret"],
            authority=f"{self._authority_host}/{credentials['tenant_id']}",
            instance_discovery=False,  # no call to Microsoft's instance metadata: the authority is the one configured
            http_client=session,
            timeout=config.request_timeout_seconds,
        ))

    def headers(self) -> dict[str, str]:
        """The Authorization header, or ``PublishError`` saying why there is no token (never the secret)."""
        result = self._entra(lambda: self._app.acquire_token_for_client(scopes=[self._scope]))
        if "access_token" not in result:
            description = (result.get("error_description") or "").split("\n")[0]
            raise PublishError(f"Microsoft Entra refused the token request: {result.get('error')}: {description[:300]}")
        return {"Authorization": f"Bearer {result['access_token']}"}

    def _entra(self, ask: Any) -> Any:
        try:
            return ask()
        except requests.RequestException as error:
            raise PublishError(f"Microsoft Entra: {unreachable(self._authority_host, error)}") from None
        except Exception as error:  # msal reports an unreachable or malformed authority as ValueError
            raise PublishError(f"Microsoft Entra token request failed: {type(error).__name__}: {' '.join(str(error).split())[:300]}") from None


def request_body(config: Publish, dataset: Dataset) -> dict[str, Any]:
    """The DatasetRefreshRequest: enhanced settings without ``notifyOption`` (it must be left out
    of an enhanced refresh), or ``notifyOption`` alone (all a shared capacity accepts)."""
    if dataset.refresh == "enhanced":
        return dict(config.power_bi.enhanced)
    return {"notifyOption": config.power_bi.notify_option}


def refresh_one(config: Publish, dataset: Dataset, tokens: Tokens, session: requests.Session) -> log.Outcome:
    pbi = config.power_bi
    url = f"{pbi.api_url}/groups/{dataset.workspace_id}/datasets/{dataset.dataset_id}/refreshes"
    deadline = Deadline(pbi.timeout_seconds)
    options = {"deadline": deadline, "request_timeout": config.request_timeout_seconds,
               "max_retry_after": config.max_retry_after_seconds}

    def outcome(status: str, detail: str, request_id: str | None = None, requested_at=None, remote: str | None = None) -> log.Outcome:
        (logger.info if status == log.SUCCESS else logger.error)("Power BI refresh of %s: %s", dataset.name, detail)
        return log.Outcome(SYSTEM, dataset.name, status, detail, log.now(), request_id, requested_at, remote)

    requested_at = log.now()
    try:
        response = call(session, "POST", url, json=request_body(config, dataset), headers=tokens.headers(), **options)
    except PublishError as error:
        return outcome(log.FAILED, str(error), requested_at=requested_at, remote="no token")
    except requests.RequestException as error:
        return outcome(log.FAILED, unreachable(url, error), requested_at=requested_at, remote="unreachable")
    if response.status_code != 202:
        return outcome(log.FAILED, f"refresh not accepted: {describe_error(response)}", requested_at=requested_at,
                       remote=f"HTTP {response.status_code}")
    location = response.headers.get("Location")
    refresh_id = location.rstrip("/").rsplit("/", 1)[-1] if location else None
    request_id = refresh_id or response.headers.get("RequestId") or response.headers.get("x-ms-request-id")
    try:
        state = _poll(session, url, refresh_id, request_id, pbi.poll_seconds, tokens, options)
    except requests.RequestException as error:
        return outcome(log.FAILED, f"while polling: {unreachable(url, error)}", request_id, requested_at, "unreachable")
    except PublishError as error:
        return outcome(log.FAILED, str(error), request_id, requested_at, "poll failed")
    if state is None:
        waited = f"still running after {pbi.timeout_seconds:g} s (publish.power_bi.timeout_seconds)"
        if not refresh_id:
            return outcome(log.FAILED, f"{waited}; a standard refresh cannot be cancelled through the API", request_id,
                           requested_at, "timed out")
        return outcome(log.FAILED, f"{waited}; {_cancel(session, f'{url}/{refresh_id}', config, tokens)}", request_id,
                       requested_at, "timed out")
    status = str(state.get("status") or "Unknown")
    extended = state.get("extendedStatus")
    remote = f"{status}/{extended}" if extended and extended != status else status
    if status == "Completed":
        return outcome(log.SUCCESS, f"refreshed ({remote})", request_id, requested_at, remote)
    return outcome(log.FAILED, f"refresh ended {remote}: {_failure_text(state)}", request_id, requested_at, remote)


def _poll(session, url: str, refresh_id: str | None, request_id: str | None, poll_seconds: float, tokens: Tokens,
          options: dict) -> dict | None:
    """The refresh's final state, or None when the deadline passed first."""
    deadline: Deadline = options["deadline"]
    while not deadline.passed:
        if refresh_id:
            response = call(session, "GET", f"{url}/{refresh_id}", headers=tokens.headers(), **options)
            if response.status_code == DONE:
                return response.json()
            if response.status_code != 202:
                raise PublishError(f"refresh {refresh_id}: GET answered {describe_error(response)}")
        else:
            response = call(session, "GET", url, params={"$top": HISTORY_TOP}, headers=tokens.headers(), **options)
            if response.status_code != 200:
                raise PublishError(f"refresh history: GET answered {describe_error(response)}")
            entry = _history_entry(response.json().get("value") or [], request_id)
            if entry is not None and entry.get("status") not in (None, "Unknown"):
                return entry
        time.sleep(max(0.0, min(poll_seconds, deadline.remaining)))
    return None


def _history_entry(entries: list[dict], request_id: str | None) -> dict | None:
    """Our refresh in the history: by request id; without one, the newest refresh made through the API."""
    if request_id:
        return next((e for e in entries if e.get("requestId") == request_id), None)
    return next((e for e in entries if e.get("refreshType") == "ViaApi"), None)


def _cancel(session, url: str, config: Publish, tokens: Tokens) -> str:
    try:
        response = session.request("DELETE", url, timeout=config.request_timeout_seconds, allow_redirects=False,
                                   headers=tokens.headers())
    except PublishError as error:
        return f"cancel failed: {error}"
    except requests.RequestException as error:
        return f"cancel failed: {unreachable(url, error)}"
    if response.status_code == 200:
        return "cancelled (DELETE answered 200)"
    return f"cancel refused: {describe_error(response)}"


def _failure_text(state: dict) -> str:
    parts = [state.get("serviceExceptionJson") or ""]
    parts += [str(m.get("message") or m) for m in state.get("messages") or [] if isinstance(m, dict)]
    for attempt in state.get("refreshAttempts") or []:
        if attempt.get("serviceExceptionJson"):
            parts.append(attempt["serviceExceptionJson"])
    text = "; ".join(p for p in parts if p)
    return " ".join(text.split())[:1000] or "no error detail from the service"
