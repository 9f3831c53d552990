"""Publish the latest good state: Power BI refreshes and Alteryx jobs, each recorded in OPS.PUBLISH_LOG.

``check_publish_ready`` decides whether there is a good state to publish; the two publish nodes
call the services (every failure becomes a logged outcome, never an exception), the outcomes
are written, and ``require_published`` then fails the run naming every target that did not
succeed: loudly, after the log row, and without touching anything else already written.
"""

from __future__ import annotations

import logging
from typing import Any

import ibis.expr.types as ir

from retail_control_tower.pipelines.scoring.nodes import NoChampionError
from retail_control_tower.publish import alteryx, config, log, power_bi
from retail_control_tower.publish.http import new_session

logger = logging.getLogger(__name__)


class PublishRefusedError(RuntimeError):
    """There is no good state to publish (the latest data-quality run did not pass its gate)."""


class PublishFailedError(RuntimeError):
    """At least one publish target did not report an explicit success."""


def check_publish_ready(
    params: dict[str, Any],
    gate: ir.Table,
    dq_results: ir.Table,
    champion: ir.Table,
    scores: ir.Table,
    run_context: dict[str, Any],
    scoring_outcome: dict[str, Any] | None = None,
    report: Any = None,
) -> dict[str, Any]:
    """What will be published, or an error saying why nothing may be.

    The state is good when the latest data-quality run passed its gate (OPS.DQ_GATE holds only
    passed runs) and the champion's scores are there. In a full run this node also receives this
    run's ``scoring_outcome`` and waits for the report (``report``), so without a champion the
    report is written before the run fails, as ``require_champion`` does.
    """
    settings = config.load(params)  # checked even when off: a typo fails in dev
    if not settings.enabled:
        logger.info("Publishing is off (publish.enabled); nothing is sent")
        return {"enabled": False}
    latest = dq_results.order_by(dq_results.CHECKED_AT.desc()).select("RUN_ID").limit(1).to_pyarrow().to_pylist()
    if not latest:
        raise PublishRefusedError("Nothing published: OPS.DQ_RESULTS is empty; run the `dq` pipeline first.")
    dq_run = latest[0]["RUN_ID"]
    if gate.filter(gate.RUN_ID == dq_run).count().to_pyarrow().as_py() == 0:
        raise PublishRefusedError(
            f"Nothing published: the latest data-quality run ({dq_run}) did not pass its gate. "
            f"See OPS.DQ_RESULTS where RUN_ID = '{dq_run}'; fix the data and run again."
        )
    if scoring_outcome is not None and not scoring_outcome.get("scored"):
        raise NoChampionError(f"Nothing published. {scoring_outcome.get('message')}")
    champions = champion.select("MODEL_VERSION").to_pyarrow().to_pylist()
    if not champions:
        raise NoChampionError("Nothing published: REPORTING.V_CHAMPION_MODEL has no champion; run `kedro run --pipeline train_eval`.")
    scored = scores.aggregate(ROWS=scores.count(), SCORE_DATE=scores.SCORE_DATE.max()).to_pyarrow().to_pylist()[0]
    if not scored["ROWS"]:
        raise NoChampionError("Nothing published: REPORTING.V_LATEST_CHURN_SCORES is empty; run `kedro run --pipeline scoring`.")
    state = {
        "enabled": True, "data_run_id": dq_run, "champion_version": champions[0]["MODEL_VERSION"],
        "score_date": str(scored["SCORE_DATE"]), "scored_customers": int(scored["ROWS"]), "run_id": run_context["run_id"],
    }
    logger.info("Publishing the state of run %s: champion v%s, %s customers scored on %s", dq_run,
                state["champion_version"], state["scored_customers"], state["score_date"])
    return state


def refresh_power_bi(state: dict[str, Any], params: dict[str, Any], credentials: dict[str, Any]) -> list[log.Outcome]:
    """Refreshes the configured Power BI datasets (nothing when publishing is off)."""
    if not state["enabled"]:
        return []
    settings = config.load(params)
    with new_session(settings.ca_bundle) as session:
        return power_bi.refresh_datasets(settings, credentials, session)


def trigger_alteryx(state: dict[str, Any], params: dict[str, Any], credentials: dict[str, Any]) -> list[log.Outcome]:
    """Runs the configured Alteryx Server workflows (nothing when publishing is off)."""
    if not state["enabled"]:
        return []
    settings = config.load(params)
    with new_session(settings.ca_bundle) as session:
        return alteryx.trigger_workflows(settings, credentials, session)


def record_publish(
    state: dict[str, Any], power_bi_outcomes: list[log.Outcome], alteryx_outcomes: list[log.Outcome], run_context: dict[str, Any]
) -> ir.Table:
    """OPS.PUBLISH_LOG rows of this run: one per target (none when publishing is off)."""
    return log.log_rows([*power_bi_outcomes, *alteryx_outcomes], run_context["run_id"], state.get("data_run_id"))


def require_published(publish_log: ir.Table, run_context: dict[str, Any]) -> None:
    """Fails the run with ``PublishFailedError`` naming every target of this run that did not
    succeed. Reads back what was recorded, so the message and OPS.PUBLISH_LOG agree."""
    mine = publish_log.filter(publish_log.RUN_ID == run_context["run_id"])
    failed = mine.filter(mine.STATUS != log.SUCCESS).order_by(["SYSTEM", "TARGET"]).to_pyarrow().to_pylist()
    if failed:
        lines = [f"  - {f['SYSTEM']} {f['TARGET']} ({f['REMOTE_STATUS'] or 'no status'}): {f['DETAIL']}" for f in failed]
        raise PublishFailedError(
            f"{len(failed)} publish target(s) failed in run {run_context['run_id']}; the warehouse is unchanged "
            "and the other targets are as logged.\n" + "\n".join(lines)
            + f"\nSee OPS.PUBLISH_LOG where RUN_ID = '{run_context['run_id']}'."
        )
