"""Alerts against a real HTTP server on 127.0.0.1: payload formats, delivery, failures, configuration."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from retail_control_tower.ops import alerts
from retail_control_tower.ops.alerts import Alert, Notifier, Webhook, notifier_from_config

LOGGER = alerts.__name__


class Hook(ThreadingHTTPServer):
    """Records every request; `status` and `delay` change how it answers."""

    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Recorder)
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.delay = 0.0
        self.release = threading.Event()  # wakes a sleeping handler at teardown

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class Recorder(BaseHTTPRequestHandler):
    server: Hook

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers), "json": json.loads(body)}
        )
        if self.server.delay and self.server.release.wait(self.server.delay):
            return  # released at teardown: the client is long gone
        try:
            self.send_response(self.server.status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output quiet
        pass


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy from the environment would send the test traffic off this machine.
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NO_PROXY", "*")


@pytest.fixture
def server() -> Iterator[Hook]:
    hook = Hook()
    thread = threading.Thread(target=hook.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield hook
    hook.release.set()
    hook.shutdown()
    hook.server_close()
    thread.join(timeout=2)


def make_alert(kind: str = "dq_error", severity: str = "error") -> Alert:
    return Alert(
        kind=kind,
        title="DQ error stopped run 2026-11-26T10.00.00.000Z",
        summary="3 checks failed in the dq pipeline.\nfreshness_error on RAW.ORDERS",
        env="prod",
        run_id="2026-11-26T10.00.00.000Z",
        where_to_look="OPS.DQ_RESULTS where RUN_ID = '2026-11-26T10.00.00.000Z'",
        severity=severity,
        facts=(("check", "freshness_error"), ("table", "RAW.ORDERS")),
    )


def test_slack_payload_is_a_single_text() -> None:
    payload = alerts.slack_payload(make_alert())
    assert list(payload) == ["text"]
    text = payload["text"]
    assert text.startswith(":red_circle: *DQ error stopped run 2026-11-26T10.00.00.000Z*")
    for part in ("prod", "2026-11-26T10.00.00.000Z", "3 checks failed in the dq pipeline.",
                 "• check: freshness_error", "• table: RAW.ORDERS",
                 "Where to look: OPS.DQ_RESULTS where RUN_ID = '2026-11-26T10.00.00.000Z'"):
        assert part in text
    assert alerts.slack_payload(make_alert(severity="warning"))["text"].startswith(":warning: ")
    assert alerts.slack_payload(make_alert(severity="info"))["text"].startswith(":large_blue_circle: ")


def test_slack_payload_escapes_control_characters() -> None:
    alert = Alert("pipeline_failure", "x", "a < b & c > d", "local", "r1", "-", "error")
    assert "a &lt; b &amp; c &gt; d" in alerts.slack_payload(alert)["text"]


def test_teams_payload_is_an_adaptive_card_message() -> None:
    payload = alerts.teams_payload(make_alert(severity="warning"))
    assert payload["type"] == "message"
    [attachment] = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    title, summary, factset = card["body"]
    assert title == {"type": "TextBlock", "text": "DQ error stopped run 2026-11-26T10.00.00.000Z",
                     "weight": "bolder", "size": "medium", "color": "warning", "wrap": True}
    assert summary["type"] == "TextBlock" and summary["wrap"] is True
    assert summary["text"].startswith("3 checks failed")
    facts = {f["title"]: f["value"] for f in factset["facts"]}
    assert factset["type"] == "FactSet"
    assert facts == {"Environment": "prod", "Run id": "2026-11-26T10.00.00.000Z", "check": "freshness_error",
                     "table": "RAW.ORDERS", "Where to look": "OPS.DQ_RESULTS where RUN_ID = '2026-11-26T10.00.00.000Z'"}
    colors = {s: alerts.teams_payload(make_alert(severity=s))["attachments"][0]["content"]["body"][0]["color"]
              for s in ("error", "warning", "info")}
    assert colors == {"error": "attention", "warning": "warning", "info": "default"}


def test_alert_rejects_unknown_kind_and_severity() -> None:
    with pytest.raises(ValueError, match="dq_panic"):
        make_alert(kind="dq_panic")
    with pytest.raises(ValueError, match="fatal"):
        make_alert(severity="fatal")


def test_both_webhooks_receive_one_json_post(server: Hook) -> None:
    notifier = Notifier([Webhook("analytics-slack", "slack", server.url("/slack/T1/B2/secret")),
                         Webhook("ops-teams", "teams", server.url("/teams/workflow?sig=secret"))], {"dq_error"})
    deliveries = notifier.send(make_alert())
    assert [(d.webhook, d.ok, d.status, d.error) for d in deliveries] == [
        ("analytics-slack", True, 200, None), ("ops-teams", True, 200, None)]
    assert [r["path"] for r in server.requests] == ["/slack/T1/B2/secret", "/teams/workflow?sig=secret"]
    for request in server.requests:
        assert request["method"] == "POST"
        assert request["headers"]["Content-Type"] == "application/json"
    slack, teams = (r["json"] for r in server.requests)
    assert slack == alerts.slack_payload(make_alert())
    assert teams == alerts.teams_payload(make_alert())
    facts = [f["title"] for f in teams["attachments"][0]["content"]["body"][2]["facts"]]
    assert "Environment" in facts and "Run id" in facts


def test_kinds_filter_sends_nothing(server: Hook) -> None:
    notifier = Notifier([Webhook("s", "slack", server.url("/s"))], {"dq_error", "pipeline_failure"})
    assert notifier.send(make_alert(kind="dq_warning", severity="warning")) == []
    assert server.requests == []


def test_server_error_is_reported_and_logged_without_the_url(server: Hook, caplog: pytest.LogCaptureFixture) -> None:
    server.status = 500
    url = server.url("/services/T000/B000/topsecret")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        [delivery] = Notifier([Webhook("analytics-slack", "slack", url)], {"dq_error"}).send(make_alert())
    assert (delivery.ok, delivery.status) == (False, 500)
    assert "topsecret" not in (delivery.error or "")
    [record] = [r for r in caplog.records if r.name == LOGGER]
    message = record.getMessage()
    assert record.levelno == logging.WARNING
    assert "analytics-slack" in message and "dq_error" in message and "500" in message
    assert url not in message and "topsecret" not in message


def test_slow_server_times_out(server: Hook, caplog: pytest.LogCaptureFixture) -> None:
    server.delay = 5.0
    notifier = Notifier([Webhook("slow", "teams", server.url("/slow"))], {"pipeline_failure"}, timeout_seconds=0.5)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        [delivery] = notifier.send(make_alert(kind="pipeline_failure"))
    assert time.monotonic() - started < 3
    assert (delivery.ok, delivery.status) == (False, None)
    assert "timed out" in (delivery.error or "")
    assert any("slow" in r.getMessage() for r in caplog.records if r.name == LOGGER)


def test_connection_refused_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:  # bound but not listening: connections to it are refused
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            [delivery] = Notifier([Webhook("nobody", "slack", url)], {"dq_error"}, 0.5).send(make_alert())
    assert (delivery.webhook, delivery.ok, delivery.status) == ("nobody", False, None)
    assert "refused" in (delivery.error or "").lower()
    assert any("nobody" in r.getMessage() and url not in r.getMessage() for r in caplog.records if r.name == LOGGER)


def config(**overrides: Any) -> dict[str, Any]:
    block = {
        "enabled": True,
        "timeout_seconds": 5,
        "notify_on": {"pipeline_failure": True, "dq_error": True, "dq_warning": False,
                      "freshness_breach": True, "champion_change": True},
        "webhooks": [{"name": "analytics-slack", "format": "slack", "url_credential": "slack_webhook_url"},
                     {"name": "ops-teams", "format": "teams", "url_credential": "teams_webhook_url"}],
    }
    return {**block, **overrides}


def test_config_disabled_returns_none() -> None:
    creds = {"slack_webhook_url": "https://hooks.example.invalid/a"}
    assert notifier_from_config(config(enabled=False), creds, environ={}) is None
    assert notifier_from_config({}, {}, environ={}) is None


def test_config_url_from_credentials_first(server: Hook) -> None:
    creds = {"slack_webhook_url": server.url("/from-credentials"), "teams_webhook_url": server.url("/teams")}
    environ = {"RCT_WEBHOOK_SLACK_WEBHOOK_URL": "https://hooks.example.invalid/from-env"}
    notifier = notifier_from_config(config(timeout_seconds=2), creds, environ=environ)
    assert notifier is not None
    assert [(w.name, w.format) for w in notifier.webhooks] == [("analytics-slack", "slack"), ("ops-teams", "teams")]
    assert notifier.kinds == {"pipeline_failure", "dq_error", "freshness_breach", "champion_change", "retraining_recommended"}
    assert notifier.timeout_seconds == 2
    assert all(d.ok for d in notifier.send(make_alert()))
    assert [r["path"] for r in server.requests] == ["/from-credentials", "/teams"]


def test_config_url_from_environment(monkeypatch: pytest.MonkeyPatch, server: Hook) -> None:
    monkeypatch.setenv("RCT_WEBHOOK_SLACK_WEBHOOK_URL", server.url("/from-env"))
    monkeypatch.delenv("RCT_WEBHOOK_TEAMS_WEBHOOK_URL", raising=False)
    notifier = notifier_from_config(config(), {})
    assert notifier is not None and [w.name for w in notifier.webhooks] == ["analytics-slack"]
    notifier.send(make_alert())
    assert [r["path"] for r in server.requests] == ["/from-env"]


def test_config_missing_url_is_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    creds = {"slack_webhook_url": "https://hooks.example.invalid/services/abc"}
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        notifier = notifier_from_config(config(), creds, environ={})
    assert notifier is not None and [w.name for w in notifier.webhooks] == ["analytics-slack"]
    [message] = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert "teams_webhook_url" in message and "RCT_WEBHOOK_TEAMS_WEBHOOK_URL" in message
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert notifier_from_config(config(), {}, environ={}) is None
    assert any("no webhook" in r.getMessage() for r in caplog.records if r.name == LOGGER)


@pytest.mark.parametrize(
    ("overrides", "creds", "named"),
    [
        ({"webhooks": [{"name": "x", "format": "discord", "url_credential": "k"}]}, {"k": "https://h/x"}, "discord"),
        ({"notify_on": {"dq_panic": True}}, {}, "dq_panic"),
        ({"webhooks": [{"name": "x", "format": "slack", "url_credential": "k"}]}, {"k": "ftp://h/x"}, "ftp"),
        ({"webhooks": [{"name": "x", "format": "slack", "url_credential": "k"}]}, {"k": "file:///etc/x"}, "file"),
        ({"enabled": "false"}, {}, "alerts.enabled"),
        ({"notify_on": {"dq_warning": "no"}}, {}, "dq_warning"),
    ],
)
def test_config_rejects_invalid_values(overrides: dict[str, Any], creds: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        notifier_from_config(config(**overrides), creds, environ={})


def test_invalid_url_error_does_not_quote_the_url() -> None:
    with pytest.raises(ValueError) as info:
        Webhook("x", "slack", "ftp://hooks.example.invalid/services/topsecret")
    assert "topsecret" not in str(info.value)
    assert "topsecret" not in repr(Webhook("x", "slack", "https://hooks.example.invalid/services/topsecret"))


def test_error_text_quoting_the_url_is_redacted(server: Hook, caplog: pytest.LogCaptureFixture) -> None:
    # http.client quotes the offending path and query back in its error, and they are the secret part.
    slack, teams = server.url("/services/top secret"), server.url("/workflows/run?api-version=1&sig=top secret")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        notifier = Notifier([Webhook("s", "slack", slack), Webhook("t", "teams", teams)], {"dq_error"})
        deliveries = notifier.send(make_alert())
    for delivery in deliveries:
        assert delivery.ok is False and delivery.error is not None and "InvalidURL" in delivery.error
        assert "top secret" not in delivery.error
    assert all("top secret" not in r.getMessage() for r in caplog.records)


def test_the_hook_tells_chat_when_a_saved_signal_recommends_retraining(server: Hook) -> None:
    """The alert hook reacts to ML.RETRAINING_SIGNAL being saved (whatever node saved it): a
    recommendation raised in this run goes out with its reason; a quiet signal, or a
    recommendation standing since an earlier run, sends nothing."""
    from datetime import datetime

    import pandas as pd

    from retail_control_tower.ml import tables
    from retail_control_tower.ops.alert_hook import AlertHook

    hook = AlertHook()
    # as after_context_created builds it from params:alerts
    hook._notifier = Notifier([Webhook("s", "slack", server.url("/signal"))], {"retraining_recommended"})
    hook.before_pipeline_run({"run_id": "run-7"}, catalog=None)

    def signal(recommended: bool, reason: str, since: datetime | None = datetime(2026, 11, 29)):
        row = {"RUN_ID": "run-7", "MODEL_NAME": "retail_churn", "MODEL_VERSION": "3", "RECOMMENDED": recommended,
               "REASON": reason, "RECOMMENDED_SINCE": since if recommended else None, "DECIDED_AT": datetime(2026, 11, 29)}
        return tables.as_table(pd.DataFrame([row]), tables.RETRAINING_SIGNAL)

    hook.after_dataset_saved("ML_RETRAINING_SIGNAL", signal(False, "no rule met"))
    hook.after_dataset_saved("ML_MODEL_DRIFT", signal(True, "not the signal table"))
    hook.after_dataset_saved("ML_RETRAINING_SIGNAL", signal(True, "told a week ago", since=datetime(2026, 11, 22)))
    assert server.requests == []
    hook.after_dataset_saved("ML_RETRAINING_SIGNAL", signal(True, "mean realised ECE 0.190 is above the holdout's 0.051"))
    [request] = server.requests
    text = request["json"]["text"]
    assert text.startswith(":warning: *Retraining recommended for churn model v3*")
    assert "mean realised ECE 0.190 is above the holdout's 0.051" in text and "• model: retail_churn v3" in text
    assert "ML.RETRAINING_SIGNAL" in text and "`run-7`" in text
