"""The features pipeline's quality gate: the one node of the pipeline that queries the warehouse
and branches on the answer.

Its output, the id of the data-quality run that vouched for the data, is all the feature nodes
take from it; they stay pure Ibis expressions of their inputs (and compile without a warehouse).
"""

from __future__ import annotations

import ibis.expr.types as ir


class QualityGateNotPassedError(RuntimeError):
    """The MODEL tables have no data-quality run, or their latest one failed its gate."""


def features_quality_gate(dq_results: ir.Table, dq_gate: ir.Table) -> str:
    """The run id of the latest data-quality run, which must have passed its gate.

    Features read the MODEL tables; this refuses to build them from data whose latest checks
    failed (in a full run the dq gate has already stopped the run; this covers ``--pipelines
    features`` on its own). One query: the latest run of OPS.DQ_RESULTS and whether OPS.DQ_GATE
    holds it.
    """
    latest = dq_results.aggregate(RUN_ID=dq_results.RUN_ID.argmax(dq_results.CHECKED_AT))
    verdict = latest.mutate(PASSED=latest.RUN_ID.isin(dq_gate.RUN_ID)).to_pyarrow().to_pylist()[0]
    run_id = verdict["RUN_ID"]
    if run_id is None:
        raise QualityGateNotPassedError("No data-quality results in OPS.DQ_RESULTS: run `kedro run --pipelines dq` first.")
    if not verdict["PASSED"]:
        raise QualityGateNotPassedError(
            f"The latest data-quality run {run_id} did not pass its gate (see OPS.DQ_RESULTS); "
            "features are not built from data that failed its checks."
        )
    return run_id
