"""Bad returns (issue 14): a return before its order, or more units returned than sold (over all the
line's returns, earlier loads included), is quarantined; one row never stops the business."""

from __future__ import annotations

from conftest import days_ago, small_retailer


def _reconciles(workspace, table: str) -> None:
    detail = workspace.scalar(
        f"SELECT DETAIL FROM OPS.DQ_RESULTS WHERE CHECK_NAME = 'reconciliation_bronze_silver' AND TABLE_NAME = 'SILVER.{table}' "
        "AND RUN_ID = (SELECT MAX(RUN_ID) FROM OPS.DQ_RESULTS)"
    )
    bronze, silver, quarantined = (workspace.count(f"BRONZE.{table}"), workspace.count(f"SILVER.{table}"), workspace.count(f"SILVER.{table}_QUARANTINE"))
    assert detail == f"bronze {table} {bronze} = silver {silver} + quarantine {quarantined} + superseded {bronze - silver - quarantined}"


def test_bad_returns_are_quarantined_and_the_run_goes_on(workspace):
    tables = small_retailer()
    # O1 was ordered 40 days ago (line 1: 2 units); O3 10 days ago (line 1: 4 units).
    early = days_ago(41)
    tables["returns"] += [
        ["R2", "O1", "1", early, "1", "2.50", "early"],  # the day before its order
        ["R3", "O3", "1", days_ago(8), "3", "7.50", "wrong size"],
        ["R4", "O3", "1", days_ago(6), "2", "5.00", "changed mind"],  # 3 + 2 of 4 sold
        ["R5", "O1", "1", days_ago(39), "2", "5.00", ""],  # all of O1|1: allowed
    ]
    workspace.write_retailer(tables)
    workspace.run("ingest", "dq")

    assert workspace.rows("SELECT BUSINESS_KEY, REASON_CODE, REASON_DETAIL FROM SILVER.RETURNS_QUARANTINE ORDER BY 1") == [
        ("R2", "RETURN_BEFORE_ORDER", f"RETURN_TS='{early}' is before the day of its order ({tables['orders'][0][3][:10]})"),
        ("R4", "RETURN_EXCEEDS_SOLD", "QUANTITY=2 brings the units returned of O3|1 to 5, above the 4 sold"),
    ]
    assert workspace.rows("SELECT RETURN_ID FROM MODEL.FCT_RETURN ORDER BY 1") == [("R1",), ("R3",), ("R5",)]
    assert workspace.scalar("SELECT PASSED FROM OPS.DQ_GATE") is True
    _reconciles(workspace, "RETURNS")

    # Next load: O3|1 has 1 unit left to return. R6 takes it and R7 is one too many. R5 is
    # re-sent with 1 unit: its earlier version (2 units) no longer counts, its new one does.
    workspace.write_csv("returns_batch2", [
        ["R6", "O3", "1", days_ago(5), "1", "2.50", ""],
        ["R7", "O3", "1", days_ago(4), "1", "2.50", ""],
        ["R5", "O1", "1", days_ago(39), "1", "2.50", "corrected"],
    ], entity="returns")
    workspace.run("ingest", "dq")
    latest = workspace.rows(
        "SELECT BUSINESS_KEY, REASON_CODE FROM SILVER.RETURNS_QUARANTINE WHERE LOAD_ID = (SELECT MAX(LOAD_ID) FROM BRONZE.RETURNS) ORDER BY 1"
    )
    assert latest == [("R7", "RETURN_EXCEEDS_SOLD")]
    assert workspace.rows("SELECT RETURN_ID, LINE_NUMBER, QUANTITY FROM SILVER.RETURNS ORDER BY 1") == [
        ("R1", 1, 1), ("R3", 1, 3), ("R5", 1, 1), ("R6", 1, 1),
    ]
    assert workspace.scalar("SELECT PASSED FROM OPS.DQ_GATE WHERE RUN_ID = (SELECT MAX(RUN_ID) FROM OPS.DQ_GATE)") is True
    assert workspace.scalar(
        "SELECT SAMPLE_KEYS FROM OPS.DQ_RESULTS WHERE CHECK_NAME = 'quarantine_rate' AND TABLE_NAME = 'SILVER.RETURNS_QUARANTINE' "
        "AND RUN_ID = (SELECT MAX(RUN_ID) FROM OPS.DQ_RESULTS)"
    ) == "RETURN_EXCEEDS_SOLD=2, RETURN_BEFORE_ORDER=1"
    _reconciles(workspace, "RETURNS")
