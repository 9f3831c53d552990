"""OPS.PUBLISH_LOG: one row per target per run, and each target's last publish for V_PIPELINE_HEALTH."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import ibis
import ibis.expr.types as ir
import pandas as pd

PUBLISH_LOG = ibis.schema(
    {
        "RUN_ID": "string",
        "SYSTEM": "string",          # power_bi | alteryx
        "TARGET": "string",          # the configured name of the dataset or workflow
        "REQUEST_ID": "string",      # Power BI refresh id / Alteryx job id (null when nothing was accepted)
        "REQUESTED_AT": "timestamp",
        "FINISHED_AT": "timestamp",
        "STATUS": "string",          # success | failed
        "REMOTE_STATUS": "string",   # the service's own words: Completed, Failed/TimedOut, Completed/Warning, HTTP 401...
        "DETAIL": "string",
        "DATA_RUN_ID": "string",     # the run whose DQ gate passed: the state that was published
    }
)
SUCCESS, FAILED = "success", "failed"
TABLE = ("OPS", "PUBLISH_LOG")


@dataclass(frozen=True)
class Outcome:
    """How one target's publish ended; anything but an explicit success is ``failed``."""

    system: str
    target: str
    status: str
    detail: str
    finished_at: datetime
    request_id: str | None = None
    requested_at: datetime | None = None
    remote_status: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == SUCCESS


def now() -> datetime:
    """Local wall-clock time without a zone, as the run log and run context record theirs."""
    return datetime.now().replace(microsecond=0)


def log_rows(outcomes: list[Outcome], run_id: str, data_run_id: str | None) -> ir.Table:
    """The outcomes as OPS.PUBLISH_LOG rows (an empty table of that shape when there are none)."""
    records = [
        {
            "RUN_ID": run_id, "SYSTEM": o.system, "TARGET": o.target, "REQUEST_ID": o.request_id,
            "REQUESTED_AT": o.requested_at, "FINISHED_AT": o.finished_at, "STATUS": o.status,
            "REMOTE_STATUS": o.remote_status, "DETAIL": o.detail, "DATA_RUN_ID": data_run_id,
        }
        for o in outcomes
    ]
    frame = pd.DataFrame.from_records(records, columns=list(PUBLISH_LOG.names))
    for column in ("REQUESTED_AT", "FINISHED_AT"):
        frame[column] = pd.to_datetime(frame[column])
    # Typed from the start: with no outcome (publishing off) every column is empty, and an
    # untyped empty column reaches Snowflake as type NULL, which it refuses.
    return ibis.memtable(frame, schema=PUBLISH_LOG)


def with_publish_targets(runs: ir.Table, run_log: ir.Table) -> ir.Table:
    """``runs`` (V_PIPELINE_HEALTH's run rows) plus one row per publish of each target, as
    pipeline ``publish:<system>/<target>``, when OPS.PUBLISH_LOG exists on the run log's engine.

    The log is found on that engine rather than taken as a node input: reporting runs before
    publish in a full run, so an input would make the views wait for (and depend on) publish.
    A warehouse whose first publish came after its last reporting run shows it from the next.
    """
    schema, table = TABLE
    try:
        connection = run_log.get_backend()
        if table not in connection.list_tables(database=schema):
            return runs
    except Exception:  # an in-memory run log, or no OPS schema: nothing was published from here
        return runs
    log = connection.table(table, database=schema)
    failed = log.STATUS != SUCCESS
    publishes = log.select(
        RUN_ID=log.RUN_ID,
        STARTED_AT=log.REQUESTED_AT.fill_null(log.FINISHED_AT),
        FINISHED_AT=log.FINISHED_AT,
        ERROR_CLASS=ibis.ifelse(failed, "PublishFailed", ibis.null("string")),
        ERROR_MESSAGE=ibis.ifelse(failed, log.DETAIL, ibis.null("string")),
        FAILED_NODE=ibis.null("string"),
        STATUS=ibis.ifelse(failed, FAILED, SUCCESS),
        PIPELINE=ibis.literal("publish:").concat(log.SYSTEM, "/", log.TARGET),
    )
    return runs.union(publishes.select(*runs.columns).cast(runs.schema()))
