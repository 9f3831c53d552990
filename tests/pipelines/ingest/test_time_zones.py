"""Times with a UTC offset (issue 14): converted to the business's local time when its zone is set
(`event_dates.time_zone`), quarantined as TIME_ZONE_OFFSET when it is not; never dropped silently."""

from __future__ import annotations

from datetime import datetime

import pytest
from conftest import small_retailer

# Four sales, the first three written with an offset: instants hours apart, one wall-clock text.
SENT = {
    "O1": "2026-02-12T12:33:07+02:00",
    "O2": "2026-02-12 12:33:07Z",
    "O3": "2026-02-12T12:33:07-05:00",
    "O4": "2026-02-12 12:33:07",
}
JUDGED_AT = {"min": "2000-01-01", "max_future_days": 1, "reference_time": "2026-02-14T00:00:00"}


def _write(workspace) -> None:
    tables = small_retailer()
    tables["orders"] = [[order[0], order[1], order[2], SENT[order[0]], order[4]] for order in tables["orders"]]
    tables["returns"] = [["R1", "O2", "1", "2026-02-13T09:00:00+01:00", "1", "20.00", "damaged"]]
    workspace.write_retailer(tables)


def test_offsets_are_quarantined_when_no_time_zone_is_set(workspace):
    _write(workspace)
    workspace.run("ingest", params={"event_dates": JUDGED_AT})
    assert workspace.rows("SELECT BUSINESS_KEY, REASON_CODE, ORDER_TS FROM SILVER.ORDERS_QUARANTINE ORDER BY 1") == [
        ("O1", "TIME_ZONE_OFFSET", SENT["O1"]), ("O2", "TIME_ZONE_OFFSET", SENT["O2"]), ("O3", "TIME_ZONE_OFFSET", SENT["O3"]),
    ]
    detail = workspace.scalar("SELECT REASON_DETAIL FROM SILVER.ORDERS_QUARANTINE WHERE BUSINESS_KEY = 'O2'")
    assert detail == "ORDER_TS='2026-02-12 12:33:07Z' has a UTC offset and event_dates.time_zone is not set"
    assert workspace.rows("SELECT ORDER_ID, ORDER_TS FROM SILVER.ORDERS") == [("O4", datetime(2026, 2, 12, 12, 33, 7))]
    assert workspace.rows("SELECT REASON_CODE FROM SILVER.RETURNS_QUARANTINE") == [("TIME_ZONE_OFFSET",)]


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        # Berlin is UTC+1 in February; New York UTC-5.
        ("Europe/Berlin", {"O1": "2026-02-12 11:33:07", "O2": "2026-02-12 13:33:07", "O3": "2026-02-12 18:33:07", "O4": "2026-02-12 12:33:07"}),
        ("America/New_York", {"O1": "2026-02-12 05:33:07", "O2": "2026-02-12 07:33:07", "O3": "2026-02-12 12:33:07", "O4": "2026-02-12 12:33:07"}),
    ],
)
def test_offsets_are_converted_to_the_local_time_of_the_configured_zone(workspace, zone, expected):
    _write(workspace)
    workspace.run("ingest", params={"event_dates": {**JUDGED_AT, "time_zone": zone}})
    assert workspace.count("SILVER.ORDERS_QUARANTINE") == workspace.count("SILVER.RETURNS_QUARANTINE") == 0
    converted = dict(workspace.rows("SELECT ORDER_ID, STRFTIME(ORDER_TS, '%Y-%m-%d %H:%M:%S') FROM SILVER.ORDERS"))
    assert converted == expected
    # Bronze keeps the text as it was sent.
    assert dict(workspace.rows("SELECT ORDER_ID, ORDER_TS FROM BRONZE.ORDERS")) == SENT
    returned = workspace.scalar("SELECT STRFTIME(RETURN_TS, '%H:%M') FROM SILVER.RETURNS")
    assert returned == {"Europe/Berlin": "09:00", "America/New_York": "03:00"}[zone]
