"""A real purchase history run as "bring your own data" (issue 13): a data folder that does not
exist yet, 1990s dates in a minimal input of orders + order items, and nothing lost on the way."""

from __future__ import annotations

from datetime import datetime

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import PROJECT, small_retailer

from retail_control_tower.hooks import RetiredSettingError
from retail_control_tower.pipelines.dq.gate import DataQualityError

# The little retailer's orders and lines, placed in 1997-1998 (the newest order on 1998-12-30).
ORDER_TS = ["1997-03-14 10:00:00", "1997-11-02 15:30:00", "1998-06-20 09:15:00", "1998-12-30 12:00:00"]


def _historical() -> dict[str, list[list]]:
    tables = small_retailer()
    orders = [[*order[:3], ts, order[4]] for order, ts in zip(tables["orders"], ORDER_TS)]
    return {"orders": orders, "order_items": tables["order_items"]}


def _failed_checks(workspace) -> list[tuple[str, str, str]]:
    return workspace.rows("SELECT CHECK_NAME, TABLE_NAME, SEVERITY FROM OPS.DQ_RESULTS WHERE STATUS = 'fail' ORDER BY 1, 2")


def test_the_first_run_creates_a_data_folder_that_does_not_exist(workspace, monkeypatch):
    data = workspace.root / "not" / "there" / "yet"
    monkeypatch.setenv("RCT_DATA_DIR", str(data))
    workspace.data = data
    workspace.write_retailer(small_retailer())
    workspace.run("ingest")
    assert workspace.warehouse.is_file()
    assert workspace.count("MODEL.FCT_ORDER_LINE") == 6


def test_orders_before_the_valid_range_take_their_lines_to_quarantine_and_stop_the_gate(workspace):
    """Every order is dated before 2000: no order line may be accepted without its order."""
    tables = _historical()
    workspace.write_retailer(tables)
    with pytest.raises(DataQualityError) as stopped:
        workspace.run("ingest", "dq")

    assert workspace.rows("SELECT DISTINCT REASON_CODE FROM SILVER.ORDERS_QUARANTINE") == [("DATE_OUT_OF_RANGE",)]
    assert workspace.rows("SELECT DISTINCT REASON_CODE FROM SILVER.ORDER_ITEMS_QUARANTINE") == [("UNKNOWN_ORDER_ID",)]
    for table, rows in (("ORDERS", 4), ("ORDER_ITEMS", 6)):
        assert workspace.count(f"BRONZE.{table}") == rows
        assert workspace.count(f"SILVER.{table}_QUARANTINE") == rows
        assert workspace.count(f"SILVER.{table}") == 0
    assert workspace.count("MODEL.FCT_ORDER_LINE") == 0

    # Nothing is lost silently: the counts reconcile, and the empty fact stops the run with a
    # DataQualityError that says why (not a TypeError on the missing freshness figure).
    failed = _failed_checks(workspace)
    assert ("freshness_error", "MODEL.FCT_ORDER_LINE", "error") in failed
    assert not [check for check in failed if check[0].startswith("reconciliation")]
    assert "freshness_error on MODEL.FCT_ORDER_LINE: observed null" in str(stopped.value)
    assert "no sales" in str(stopped.value)


def test_one_setting_opens_the_date_range_for_ingest_and_dq_alike(workspace):
    workspace.write_retailer(_historical())
    with pytest.raises(DataQualityError) as stopped:
        workspace.run("ingest", "dq", params={"event_dates": {"min": "1997-01-01"}})
    # The one override reached both: nothing quarantined, dq's date range passes; only the
    # freshness, judged at the run's start, fails.
    assert workspace.count("SILVER.ORDERS_QUARANTINE") == workspace.count("SILVER.ORDER_ITEMS_QUARANTINE") == 0
    assert workspace.count("MODEL.FCT_ORDER_LINE") == 6
    assert workspace.rows("SELECT DISTINCT STATUS FROM OPS.DQ_RESULTS WHERE CHECK_NAME = 'value_ranges'") == [("pass",)]
    assert [check for check, _, severity in _failed_checks(workspace) if severity == "error"] == ["freshness_error"]
    assert "freshness_error" in str(stopped.value)

    # Judged at the end of the data set, the same warehouse passes.
    workspace.run("dq", params={"event_dates": {"min": "1997-01-01", "reference_time": "1998-12-31T00:00:00"}})
    assert workspace.scalar("SELECT PASSED FROM OPS.DQ_GATE") is True
    assert workspace.rows(
        "SELECT OBSERVED FROM OPS.DQ_RESULTS WHERE CHECK_NAME = 'freshness_warn' AND RUN_ID = (SELECT RUN_ID FROM OPS.DQ_GATE)"
    ) == [(12.0,)]


def test_the_reference_time_also_bounds_future_dates_in_ingest(workspace):
    """Rows after the reference time (+ max_future_days) are future rows for that data set."""
    tables = _historical()
    tables["orders"].append(["O5", "C1", "S1", "1999-02-01 10:00:00", "store"])
    tables["order_items"].append(["O5", "1", "P1", "1", "2.50", "0", ""])
    workspace.write_retailer(tables)
    workspace.run("ingest", "dq", params={"event_dates": {"min": "1997-01-01", "reference_time": "1998-12-31T00:00:00"}})
    assert workspace.rows("SELECT BUSINESS_KEY, REASON_CODE FROM SILVER.ORDERS_QUARANTINE") == [("O5", "DATE_OUT_OF_RANGE")]
    assert workspace.rows("SELECT BUSINESS_KEY, REASON_CODE FROM SILVER.ORDER_ITEMS_QUARANTINE") == [("O5|1", "UNKNOWN_ORDER_ID")]
    assert workspace.scalar("SELECT PASSED FROM OPS.DQ_GATE") is True
    # V_PIPELINE_HEALTH judges freshness at the same reference time as dq, not today
    historical = {"event_dates": {"min": "1997-01-01", "reference_time": "1998-12-31T00:00:00"}}
    workspace.run("reporting", node_names=["v_pipeline_health"], params=historical)
    newest = workspace.scalar("SELECT MAX(ORDER_TS) FROM MODEL.FCT_ORDER_LINE")
    age, status = workspace.rows("SELECT DATA_AGE_HOURS, FRESHNESS_STATUS FROM REPORTING.V_PIPELINE_HEALTH WHERE PIPELINE = 'ingest'")[0]
    assert age == pytest.approx(12.0) == pytest.approx((datetime(1998, 12, 31) - newest).total_seconds() / 3600)
    assert status == "ok"  # the newest sale, 30 December 12:00, is 12 h old at the reference time
    workspace.run("reporting", node_names=["v_pipeline_health"], params={"event_dates": {"min": "1997-01-01"}})
    live_age, live_status = workspace.rows("SELECT DATA_AGE_HOURS, FRESHNESS_STATUS FROM REPORTING.V_PIPELINE_HEALTH WHERE PIPELINE = 'ingest'")[0]
    assert live_age > 24 * 365 * 20 and live_status == "error"  # judged now, the 1998 data is decades old


@pytest.mark.parametrize(
    ("retired", "moved_to"),
    [
        ({"dq": {"freshness": {"reference_time": "1998-12-31T00:00:00"}}}, "event_dates.reference_time"),
        ({"ingest": {"validation": {"min_event_date": "1997-01-01"}}}, "event_dates.min"),
    ],
)
def test_a_date_setting_at_its_old_place_stops_the_run_naming_the_new_one(workspace, retired, moved_to):
    workspace.write_retailer(_historical())
    with pytest.raises(RetiredSettingError, match=rf"is now `{moved_to}`"):
        workspace.run("ingest", "dq", params=retired)
    assert not workspace.warehouse.exists()  # stopped before anything ran


def _readme_example(first_line: str) -> str:
    """The code block of docs/data-contract.md that starts with ``first_line``, as a user would copy it."""
    text = (PROJECT / "docs" / "data-contract.md").read_text()
    start = text.index(first_line)
    return text[start : text.index("```", start)]


def test_the_readme_config_file_runs_a_historical_data_set(workspace):
    """`kedro run --config history.yml` as README.md shows it, in a real `kedro run` process."""
    workspace.write_retailer(_historical())
    config = workspace.root / "history.yml"
    config.write_text(_readme_example("# history.yml"))
    kedro = Path(sys.executable).parent / "kedro"
    result = subprocess.run([str(kedro), "run", "--config", str(config)], cwd=PROJECT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert workspace.count("SILVER.ORDERS_QUARANTINE") == workspace.count("SILVER.ORDER_ITEMS_QUARANTINE") == 0
    assert workspace.scalar("SELECT PASSED FROM OPS.DQ_GATE") is True
    assert workspace.scalar("SELECT PIPELINES FROM OPS.PIPELINE_RUN_LOG") in ("ingest,dq", "dq,ingest")


def test_a_config_file_hands_kedro_run_nested_and_list_parameters(tmp_path, monkeypatch):
    """What Kedro's own `run` command makes of the README's file: the parameters reach the
    session as written, the list whole; `--params` on the command line replaces them all.
    (Only the session is stood in for: the run itself is the test above.)"""
    from click.testing import CliRunner
    from kedro.framework.cli.project import run
    from kedro.framework.session import KedroSession

    sessions: list[dict] = []

    class Recorded:
        def __init__(self, **create):
            sessions.append(create)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def run(self, **options):
            sessions[-1]["pipeline_names"] = options["pipeline_names"]
            return {}

    monkeypatch.setattr(KedroSession, "create", classmethod(lambda cls, **create: Recorded(**create)))
    example = _readme_example("# history.yml")
    config = tmp_path / "history.yml"
    config.write_text(example)
    written = yaml.safe_load(example)["run"]["params"]
    assert written["train_eval"]["feature_sets"]["ext"]["numeric"][-1] == "AVG_ORDER_VALUE"

    assert CliRunner().invoke(run, ["--config", str(config)], catch_exceptions=False).exit_code == 0
    assert sessions[-1]["runtime_params"] == written
    assert sorted(sessions[-1]["pipeline_names"]) == ["dq", "ingest"]
    CliRunner().invoke(run, ["--config", str(config), "--params", "event_dates.min=1996-01-01"], catch_exceptions=False)
    assert sessions[-1]["runtime_params"] == {"event_dates": {"min": "1996-01-01"}}
