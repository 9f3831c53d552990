"""Collect the check results of a run and stop the run when an error-severity check failed."""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from retail_control_tower.pipelines.dq.results import RESULT_SCHEMA


class DataQualityError(RuntimeError):
    """An error-severity data-quality check failed; nothing downstream may run."""


def collect_results(run_context: dict[str, Any], *results: ir.Table) -> ir.Table:
    """All results of this run, stamped with the run id and check time, for OPS.DQ_RESULTS.

    Each check family runs as its own query and its few result rows are combined here: as
    one union, the engine would also keep the subqueries the families share in memory.
    """
    rows = pa.concat_tables([r.select(*RESULT_SCHEMA.names).cast(RESULT_SCHEMA).to_pyarrow() for r in results])
    combined = ibis.memtable(rows)
    return combined.select(
        RUN_ID=ibis.literal(run_context["run_id"]),
        **{name: combined[name] for name in RESULT_SCHEMA.names},
        CHECKED_AT=ibis.literal(run_context["started_at"], type="timestamp"),
    )


def enforce_gate(dq_results: ir.Table, run_context: dict[str, Any]) -> ir.Table:
    """Raises ``DataQualityError`` naming each failed error check, its table and sample keys.

    Reads back what was recorded, so the message and OPS.DQ_RESULTS always agree. On success
    returns this run's summary row for OPS.DQ_GATE, which downstream pipelines depend on.
    """
    mine = dq_results.filter(dq_results.RUN_ID == run_context["run_id"])
    failed = mine.filter((mine.STATUS == "fail") & (mine.SEVERITY == "error"))
    failures = failed.order_by(["CHECK_NAME", "TABLE_NAME"]).to_pyarrow().to_pylist()
    if failures:
        lines = [
            f"  - {f['CHECK_NAME']} on {f['TABLE_NAME']}: observed {_figure(f['OBSERVED'])} "
            f"(threshold {_figure(f['THRESHOLD'])}; {f['DETAIL'] or 'no detail'}); sample keys: {f['SAMPLE_KEYS'] or 'n/a'}"
            for f in failures
        ]
        raise DataQualityError(
            f"{len(failures)} data-quality check(s) of severity 'error' failed in run "
            f"{run_context['run_id']}; downstream pipelines were not run.\n" + "\n".join(lines)
            + "\nSee OPS.DQ_RESULTS for every check of this run."
        )
    summary = mine.aggregate(
        CHECKS=mine.count(),
        FAILED_WARNINGS=(mine.STATUS == "fail").sum(),
    )
    return summary.select(
        RUN_ID=ibis.literal(run_context["run_id"]),
        CHECKS=summary.CHECKS.cast("int64"),
        FAILED_WARNINGS=summary.FAILED_WARNINGS.fill_null(0).cast("int64"),
        PASSED=ibis.literal(True),
        CHECKED_AT=ibis.literal(run_context["started_at"], type="timestamp"),
    )


def _figure(value: float | None) -> str:
    """A result's number for the message; a check with nothing to measure records null."""
    return "null" if value is None else f"{value:g}"
