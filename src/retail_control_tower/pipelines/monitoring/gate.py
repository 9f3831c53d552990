"""The weekly training job's gate: train only when the latest ML.RETRAINING_SIGNAL recommends it.

A Databricks job passes a value from one task to the next only as a notebook's task value, so
the bundle's training job runs ``resources/retraining_gate.py`` (a notebook calling
:func:`latest_signal_decision`), then a condition task on its value, then ``train_eval``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ibis.expr.types as ir
from kedro.framework.project import configure_project
from kedro.framework.session import KedroSession


def should_retrain(signal: ir.Table | None, only_when_recommended: bool) -> tuple[bool, str]:
    """(train?, why) from ML.RETRAINING_SIGNAL: its latest row decides; with no signal yet (no
    champion has been monitored) or ``only_when_recommended`` off, training goes ahead."""
    if not only_when_recommended:
        return True, "training on schedule: only_when_recommended is off"
    latest: list[dict[str, Any]] = []
    if signal is not None:
        latest = signal.order_by(signal.DECIDED_AT.desc()).limit(1).to_pyarrow().to_pylist()
    if not latest:
        return True, "no retraining signal yet (no champion monitored): training"
    row = latest[0]
    verdict = "recommended" if row["RECOMMENDED"] else "not recommended"
    return bool(row["RECOMMENDED"]), f"retraining {verdict} for v{row['MODEL_VERSION']} by run {row['RUN_ID']}: {row['REASON']}"


def latest_signal_decision(env: str | None, conf_source: str | None, only_when_recommended: bool, project_path: str | Path | None = None) -> tuple[bool, str]:
    """:func:`should_retrain` on the signal table of the environment ``env``, read through the
    project's catalog (the packaged project with its configuration archive ``conf_source``)."""
    configure_project(Path(__file__).parents[2].name)
    with KedroSession.create(project_path=project_path, env=env, conf_source=conf_source) as session:
        catalog = session.load_context().catalog
        return should_retrain(catalog.load("ML_RETRAINING_SIGNAL"), only_when_recommended)
