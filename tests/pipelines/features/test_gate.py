"""The features quality gate on OPS.DQ_RESULTS / OPS.DQ_GATE tables in a DuckDB file."""

from __future__ import annotations

from datetime import datetime

import ibis
import pyarrow as pa
import pytest

from retail_control_tower.pipelines.features.gate import QualityGateNotPassedError, features_quality_gate


@pytest.fixture
def ops(tmp_path):
    """Writes OPS.DQ_RESULTS (run id, checked at) and OPS.DQ_GATE (run ids that passed) and returns both tables."""
    con = ibis.duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.create_database("OPS")

    def write(results: list[tuple[str, datetime]], passed: list[str]) -> tuple[ibis.Table, ibis.Table]:
        rows = {"RUN_ID": [r for r, _ in results], "CHECK_NAME": ["keys"] * len(results), "CHECKED_AT": [t for _, t in results]}
        schema = pa.schema({"RUN_ID": pa.string(), "CHECK_NAME": pa.string(), "CHECKED_AT": pa.timestamp("us")})
        con.create_table("DQ_RESULTS", pa.table(rows, schema=schema), database="OPS", overwrite=True)
        gate = pa.table({"RUN_ID": passed, "PASSED": [True] * len(passed)}, schema=pa.schema({"RUN_ID": pa.string(), "PASSED": pa.bool_()}))
        con.create_table("DQ_GATE", gate, database="OPS", overwrite=True)
        return con.table("DQ_RESULTS", database="OPS"), con.table("DQ_GATE", database="OPS")

    yield write
    con.disconnect()


def test_the_latest_run_that_passed_is_handed_on(ops):
    results, gate = ops([("run-1", datetime(2026, 11, 1)), ("run-2", datetime(2026, 11, 2)), ("run-2", datetime(2026, 11, 2))], ["run-1", "run-2"])
    assert features_quality_gate(results, gate) == "run-2"


def test_an_earlier_pass_does_not_vouch_for_a_later_failure(ops):
    results, gate = ops([("run-1", datetime(2026, 11, 1)), ("run-2", datetime(2026, 11, 2))], ["run-1"])
    with pytest.raises(QualityGateNotPassedError, match="run-2 did not pass its gate"):
        features_quality_gate(results, gate)


def test_no_data_quality_run_at_all_is_refused(ops):
    results, gate = ops([], [])
    with pytest.raises(QualityGateNotPassedError, match="No data-quality results"):
        features_quality_gate(results, gate)
