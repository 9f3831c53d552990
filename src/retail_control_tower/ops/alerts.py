"""Run alerts posted to chat webhooks (Slack incoming webhooks, Teams / Power Automate workflows).

Alerting must never be the reason a run fails: delivery problems are logged and reported, never
raised. Webhook URLs are bearer secrets, so they are never logged or put into error messages.
"""

from __future__ import annotations

import json
import logging
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

KINDS = ("pipeline_failure", "dq_error", "dq_warning", "freshness_breach", "champion_change", "retraining_recommended")
SEVERITIES = ("error", "warning", "info")
FORMATS = ("slack", "teams")
# A DQ warning does not stop a run, so by default it stays in the report rather than in chat.
DEFAULT_NOTIFY_ON = {kind: kind != "dq_warning" for kind in KINDS}
ENV_PREFIX = "RCT_WEBHOOK_"

_SLACK_EMOJI = {"error": ":red_circle:", "warning": ":warning:", "info": ":large_blue_circle:"}
_TEAMS_COLOR = {"error": "attention", "warning": "warning", "info": "default"}


@dataclass(frozen=True)
class Alert:
    kind: str
    title: str
    summary: str
    env: str
    run_id: str
    where_to_look: str
    severity: str
    facts: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Unknown alert kind {self.kind!r}; expected one of {KINDS}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"Unknown alert severity {self.severity!r}; expected one of {SEVERITIES}")


@dataclass(frozen=True)
class Webhook:
    name: str
    format: str
    url: str

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"Webhook {self.name!r}: unknown format {self.format!r}; expected one of {FORMATS}")
        parts = urllib.parse.urlsplit(self.url)
        # Only the scheme is quoted back: the rest of the URL is the secret.
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"Webhook {self.name!r}: URL must be http(s) with a host, got scheme {parts.scheme!r}")

    def __repr__(self) -> str:  # keeps the secret URL out of tracebacks and debug logs
        return f"Webhook(name={self.name!r}, format={self.format!r}, url='***')"


@dataclass(frozen=True)
class Delivery:
    webhook: str
    ok: bool
    status: int | None
    error: str | None


def _one_line(text: str) -> str:
    # Titles often come from exception messages, which may span lines.
    return " ".join(text.split())


def _slack_escape(text: str) -> str:
    # Slack treats <...> as links/mentions, so these three must be escaped (Slack's documented set).
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(alert: Alert) -> dict[str, Any]:
    e = _slack_escape
    lines = [
        f"{_SLACK_EMOJI[alert.severity]} *{e(_one_line(alert.title))}*",
        f"Environment: `{e(alert.env)}` | Run id: `{e(alert.run_id)}`",
        "",
        e(alert.summary.strip()),
    ]
    if alert.facts:
        lines += [""] + [f"• {e(name)}: {e(value)}" for name, value in alert.facts]
    lines += ["", f"Where to look: {e(alert.where_to_look)}"]
    return {"text": "\n".join(lines)}


def teams_payload(alert: Alert) -> dict[str, Any]:
    facts = [("Environment", alert.env), ("Run id", alert.run_id), *alert.facts, ("Where to look", alert.where_to_look)]
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": _one_line(alert.title), "weight": "bolder", "size": "medium",
             "color": _TEAMS_COLOR[alert.severity], "wrap": True},
            {"type": "TextBlock", "text": alert.summary.strip(), "wrap": True},
            {"type": "FactSet", "facts": [{"title": name, "value": value} for name, value in facts]},
        ],
    }
    return {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}


_PAYLOADS = {"slack": slack_payload, "teams": teams_payload}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirected POST would be replayed as a body-less GET, or to a host we never configured.
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


class Notifier:
    def __init__(self, webhooks: list[Webhook], kinds: set[str], timeout_seconds: float = 5.0) -> None:
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"Unknown alert kind(s) {sorted(unknown)}; expected some of {KINDS}")
        if timeout_seconds <= 0:
            raise ValueError(f"timeout_seconds must be positive, got {timeout_seconds!r}")
        self.webhooks = list(webhooks)
        self.kinds = frozenset(kinds)
        self.timeout_seconds = float(timeout_seconds)
        self._opener = urllib.request.build_opener(_NoRedirect)

    def send(self, alert: Alert) -> list[Delivery]:
        """Posts the alert to every webhook if its kind is enabled; never raises."""
        if alert.kind not in self.kinds:
            return []
        return [self._post(webhook, alert) for webhook in self.webhooks]

    def _post(self, webhook: Webhook, alert: Alert) -> Delivery:
        status: int | None = None
        try:
            body = json.dumps(_PAYLOADS[webhook.format](alert)).encode("utf-8")
            request = urllib.request.Request(
                webhook.url, data=body, method="POST",
                headers={"Content-Type": "application/json", "User-Agent": "retail-control-tower-alerts"})
            with self._opener.open(request, timeout=self.timeout_seconds) as response:
                status = response.status
                response.read(65536)  # drain so the connection closes cleanly
            if 200 <= status < 300:
                logger.info("Alert %s delivered to webhook %r", alert.kind, webhook.name)
                return Delivery(webhook.name, True, status, None)
            error = f"HTTP {status}"
        except urllib.error.HTTPError as exc:
            status, error = exc.code, f"HTTP {exc.code} {exc.reason}"
            exc.close()
        except urllib.error.URLError as exc:
            error = f"{type(exc.reason).__name__}: {exc.reason}"
        # Deliberately broad: a broken chat integration must not take a pipeline run down with it.
        except Exception as exc:  # noqa: BLE001
            error = f"{type(exc).__name__}: {exc}"
        error = _redact(error, webhook.url)
        logger.warning("Alert %s not delivered to webhook %r: %s", alert.kind, webhook.name, error)
        return Delivery(webhook.name, False, status, error)


def _redact(text: str, url: str) -> str:
    # Error texts from the network stack can quote the URL, its path or its query; these carry the secret
    # (Slack puts it in the path, Power Automate in the `sig` query parameter).
    parts = urllib.parse.urlsplit(url)
    for secret in (url, parts.path, parts.query):
        if len(secret) > 1:
            text = text.replace(secret, "***")
    return text


def env_var_for(url_credential: str) -> str:
    return ENV_PREFIX + re.sub(r"\W", "_", url_credential).upper()


def notifier_from_config(
    params: Mapping[str, Any] | None, credentials: Mapping[str, Any] | None, environ: Mapping[str, str] = os.environ
) -> Notifier | None:
    """Builds the Notifier from the `alerts` parameter block, or None when alerting is off."""
    params, credentials = params or {}, credentials or {}
    notify_on = {**DEFAULT_NOTIFY_ON, **(params.get("notify_on") or {})}
    unknown = set(notify_on) - set(KINDS)
    if unknown:
        raise ValueError(f"alerts.notify_on: unknown alert kind(s) {sorted(unknown)}; expected some of {KINDS}")
    # A string "false" (e.g. from an environment resolver) would otherwise be truthy and switch alerts on.
    flags = {"enabled": params.get("enabled", False), **{f"notify_on.{k}": v for k, v in notify_on.items()}}
    for key, flag in flags.items():
        if not isinstance(flag, bool):
            raise ValueError(f"alerts.{key} must be true or false, got {flag!r}")
    specs: list[tuple[str, str, str]] = []
    for i, spec in enumerate(params.get("webhooks") or []):
        missing = [key for key in ("name", "format", "url_credential") if not spec.get(key)]
        if missing:
            raise ValueError(f"alerts.webhooks[{i}] is missing {missing}")
        name, fmt, key = str(spec["name"]), str(spec["format"]), str(spec["url_credential"])
        if fmt not in FORMATS:
            raise ValueError(f"Webhook {name!r}: unknown format {fmt!r}; expected one of {FORMATS}")
        specs.append((name, fmt, key))
    # The block is validated even when disabled so that a typo fails in dev, not on the day prod enables it;
    # URLs are only looked up when enabled, so a disabled setup does not warn about missing secrets.
    if not params.get("enabled", False):
        return None
    webhooks: list[Webhook] = []
    for name, fmt, key in specs:
        var = env_var_for(key)
        url = credentials.get(key) or environ.get(var)
        if not url:
            logger.warning("Alert webhook %r skipped: no URL in credentials[%r] nor in environment variable %s",
                           name, key, var)
            continue
        if not isinstance(url, str):
            raise ValueError(f"Webhook {name!r}: credentials[{key!r}] must be a URL string")
        webhooks.append(Webhook(name, fmt, url.strip()))
    if not webhooks:
        logger.warning("Alerts are enabled but no webhook has a URL; no alerts will be sent")
        return None
    return Notifier(webhooks, {kind for kind, flag in notify_on.items() if flag},
                    float(params.get("timeout_seconds", 5.0)))
