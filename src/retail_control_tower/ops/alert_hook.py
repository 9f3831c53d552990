"""Sends alerts from a run: failures, data-quality errors and warnings, freshness breaches,
champion changes, a recommendation to retrain. Configured by ``params:alerts`` and credentials;
off by default.

A notification that cannot be delivered is logged by the notifier and never fails the run.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from retail_control_tower.ops.alerts import Alert, Notifier, notifier_from_config
from retail_control_tower.pipelines.dq.gate import DataQualityError

logger = logging.getLogger(__name__)

FRESHNESS_CHECKS = ("freshness_warn", "freshness_error")
# The datasets whose saving the hook reacts to: the gate's row exists only when the gate passed;
# the promotion decision says whether a new champion was promoted.
GATE_PASSED = "OPS_DQ_GATE"
DECISION = "promotion_decision"
# The monitoring pipeline's verdict on the champion: told when it recommends retraining.
SIGNAL = "ML_RETRAINING_SIGNAL"


class AlertHook:
    def __init__(self) -> None:
        self._notifier: Notifier | None = None
        self._env = "local"
        self._report = "data/08_reporting/control_tower_report.html"
        self._run_id = ""
        self._failed_node: str | None = None
        self._pending: list[Alert] = []
        self._catalog = None

    @hook_impl
    def after_context_created(self, context) -> None:
        try:
            credentials = context.config_loader["credentials"]
        except Exception:  # no credentials file at all: webhooks may still come from the environment
            credentials = {}
        self._notifier = notifier_from_config(context.params.get("alerts") or {}, credentials)
        self._env = context.env or "local"
        data_dir = context.config_loader["globals"].get("data_dir", "data")
        self._report = str(Path(data_dir) / "08_reporting" / "control_tower_report.html")

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], catalog) -> None:
        self._run_id = run_params["run_id"]
        self._catalog = catalog
        self._failed_node, self._pending = None, []

    @hook_impl
    def on_node_error(self, node) -> None:
        self._failed_node = node.name

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        if self._notifier is None:
            return
        if dataset_name == GATE_PASSED:  # passed: warnings and a freshness warning may still need telling
            failed = self._failed_checks(self._catalog)
            warnings = [c for c in failed if c["SEVERITY"] == "warn"]
            if warnings:
                self._send(self._dq_alert("dq_warning", warnings, "Data-quality warnings in run"))
            self._freshness(failed)
        if dataset_name == DECISION and isinstance(data, dict) and data.get("promote"):
            self._pending.append(  # told once the registry has actually moved: after the run
                self._alert(
                    "champion_change", "info", f"New churn champion: {data['challenger']}",
                    data["reason"], "ML.MODEL_REGISTRY, REPORTING.V_CHAMPION_MODEL, the MLflow registry",
                    (("previous champion version", str(data.get("champion_version") or "none")),),
                )
            )

        if dataset_name == SIGNAL:
            for row in _rows(data):
                # told when raised; while it holds, the report and V_MODEL_MONITORING say since when
                if row["RECOMMENDED"] and row.get("RECOMMENDED_SINCE", row["DECIDED_AT"]) == row["DECIDED_AT"]:
                    self._send(self._alert(
                        "retraining_recommended", "warning", f"Retraining recommended for churn model v{row['MODEL_VERSION']}",
                        row["REASON"], "ML.RETRAINING_SIGNAL, ML.MODEL_PERFORMANCE_REALISED, ML.MODEL_DRIFT, REPORTING.V_MODEL_MONITORING",
                        (("model", f"{row['MODEL_NAME']} v{row['MODEL_VERSION']}"),),
                    ))

    @hook_impl
    def after_pipeline_run(self) -> None:
        for alert in self._pending:
            self._send(alert)
        self._pending = []

    @hook_impl
    def on_pipeline_error(self, error: Exception, catalog) -> None:
        if self._notifier is None:
            return
        self._pending = []
        if isinstance(error, DataQualityError):
            failed = self._failed_checks(catalog)
            errors = [c for c in failed if c["SEVERITY"] == "error"]
            self._send(self._dq_alert("dq_error", errors, "Data-quality errors stopped run", str(error)))
            self._freshness(failed)
            return
        self._send(
            self._alert(
                "pipeline_failure", "error", f"Run {self._run_id} failed in {self._failed_node or 'the pipeline'}",
                f"{type(error).__name__}: {str(error)[:1500]}",
                f"OPS.PIPELINE_RUN_LOG where RUN_ID = '{self._run_id}' and the run's log output",
                (("failed node", self._failed_node or "unknown"), ("error", type(error).__name__)),
            )
        )

    def _failed_checks(self, catalog) -> list[dict[str, Any]]:
        try:
            results = catalog.load("OPS_DQ_RESULTS")
            mine = results.filter((results.RUN_ID == self._run_id) & (results.STATUS == "fail"))
            return mine.order_by(["SEVERITY", "CHECK_NAME"]).to_pyarrow().to_pylist()
        except Exception as error:  # the alert still goes out, with what is known
            logger.warning("Could not read OPS.DQ_RESULTS for the alert: %s", error)
            return []

    def _freshness(self, failed: list[dict[str, Any]]) -> None:
        stale = [c for c in failed if c["CHECK_NAME"] in FRESHNESS_CHECKS]
        if stale:
            worst = max(stale, key=lambda c: c["THRESHOLD"] or 0)
            self._send(
                self._alert(
                    "freshness_breach", "error" if worst["SEVERITY"] == "error" else "warning",
                    f"Freshness SLA breached on {worst['TABLE_NAME']}", worst["DETAIL"],
                    f"OPS.DQ_RESULTS where RUN_ID = '{self._run_id}'; REPORTING.V_PIPELINE_HEALTH",
                    (("age (hours)", _number(worst["OBSERVED"], ".1f")), ("SLA (hours)", _number(worst["THRESHOLD"], "g"))),
                )
            )

    def _dq_alert(self, kind: str, checks: list[dict[str, Any]], title: str, message: str = "") -> Alert:
        lines = [f"{c['CHECK_NAME']} on {c['TABLE_NAME']}: {c['DETAIL']}" for c in checks[:10]]
        summary = "\n".join(lines) or message[:1500]
        return self._alert(
            kind, "error" if kind == "dq_error" else "warning", f"{title} {self._run_id}", summary,
            f"OPS.DQ_RESULTS where RUN_ID = '{self._run_id}'; REPORTING.V_DQ_LATEST",
            (("failed checks", str(len(checks))),),
        )

    def _alert(self, kind: str, severity: str, title: str, summary: str, where: str, facts: tuple = ()) -> Alert:
        return Alert(
            kind=kind, title=title, summary=summary, env=self._env, run_id=self._run_id,
            where_to_look=f"{where}; report {self._report}", severity=severity, facts=facts,
        )

    def _send(self, alert: Alert) -> None:
        if self._notifier is not None:
            self._notifier.send(alert)


def _rows(data: Any) -> list[dict[str, Any]]:
    """The saved rows of a table (an Ibis expression), or none when they cannot be read."""
    try:
        return data.to_pyarrow().to_pylist()
    except Exception as error:  # the run goes on; the signal stays in its table
        logger.warning("Could not read the saved retraining signal for the alert: %s", error)
        return []


def _number(value: Any, spec: str) -> str:
    """A figure of a check result; a null one (e.g. no sale at all to age) says so."""
    return "n/a" if value is None else format(value, spec)
