"""HTTP for the publish clients: one session per run, deadlines, and servers that ask to wait.

Power BI answers 429 (too many requests) with ``Retry-After``; the wait it asks for is honoured
while the target's deadline allows it, and a wait past the deadline is reported, not slept.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import requests

logger = logging.getLogger(__name__)

# Answers that carry a Retry-After the server means: too many requests, or busy for a while.
RETRYABLE = (429, 503)


class PublishError(RuntimeError):
    """A publish target could not be reached, refused us, or did not finish well."""


def new_session(ca_bundle: str | None = None) -> requests.Session:
    """A session for one run's calls. With ``ca_bundle`` (a PEM file), only that CA is trusted.

    ``requests`` merges the environment into every request while ``trust_env`` is on, and
    ``REQUESTS_CA_BUNDLE`` (set on our machines) then replaces the session's ``verify``; msal
    sends its requests through this session without a ``verify`` of its own, so the CA holds
    only with ``trust_env`` off (which also ignores proxy variables: calls go direct).
    """
    session = requests.Session()
    session.headers["User-Agent"] = "retail-control-tower-publish"
    if ca_bundle:
        session.trust_env = False
        session.verify = ca_bundle
    return session


@dataclass
class Deadline:
    """The time a target may take, from its first request to its final state."""

    seconds: float
    started: float = 0.0

    def __post_init__(self) -> None:
        self.started = time.monotonic()

    @property
    def remaining(self) -> float:
        return self.seconds - (time.monotonic() - self.started)

    @property
    def passed(self) -> bool:
        return self.remaining <= 0


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (RFC 9110); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def call(
    session: requests.Session,
    method: str,
    url: str,
    *,
    deadline: Deadline,
    request_timeout: float,
    max_retry_after: float,
    **kwargs: Any,
) -> requests.Response:
    """One API call. A 429/503 with ``Retry-After`` is sent again after that wait, while the
    wait is within ``max_retry_after`` and the deadline; otherwise that answer is returned.
    Redirects are not followed: a redirected call would carry the token to another host."""
    while True:
        response = session.request(method, url, timeout=request_timeout, allow_redirects=False, **kwargs)
        if response.status_code not in RETRYABLE:
            return response
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        if wait is None or wait > max_retry_after or wait >= deadline.remaining:
            return response
        logger.info("%s %s answered HTTP %s: waiting %.0f s as Retry-After asks", method, _path(url), response.status_code, wait)
        response.close()
        time.sleep(wait)


def describe_error(response: requests.Response) -> str:
    """An API error in one line: status, and the error code and message when the body has them."""
    text = f"HTTP {response.status_code}"
    if response.status_code in RETRYABLE and response.headers.get("Retry-After"):
        text += f" (Retry-After: {response.headers['Retry-After']})"
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):  # Power BI: {"error": {"code", "message"}}
            parts = [str(error.get("code") or ""), str(error.get("message") or "")]
        else:  # OAuth 2 (Entra, Alteryx): {"error", "error_description"}; Alteryx v3 may use "message"
            parts = [str(error or ""), str(body.get("error_description") or body.get("message") or "")]
        detail = ": ".join(p for p in parts if p)
        if detail:
            text += f" {detail}"
    elif response.text:
        text += f" {response.text[:200]}"
    return " ".join(text.split())[:500]


def unreachable(url: str, error: Exception) -> str:
    """A network failure in one line, naming the host (never a token or secret: those travel in headers)."""
    host = requests.utils.urlparse(url).netloc
    return f"{host} unreachable: {type(error).__name__}: {' '.join(str(error).split())[:300]}"


def _path(url: str) -> str:
    return requests.utils.urlparse(url).path
