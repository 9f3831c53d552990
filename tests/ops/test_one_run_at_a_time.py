"""One run at a time on a warehouse, and runs that die half-way stay visible: real Kedro runs in
separate processes on a real DuckDB file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import PROJECT, release_warehouse_connections, small_retailer

from retail_control_tower.ops.lock import WarehouseBusyError, WarehouseLock

KEDRO = [sys.executable, "-m", "kedro", "run"]


def _holder(workspace) -> subprocess.Popen:
    """Another process that holds the warehouse lock as a run would, until it is killed."""
    code = (
        "import sys, time; from retail_control_tower.ops.lock import WarehouseLock; "
        f"WarehouseLock({str(workspace.data)!r}).acquire('run-of-another-process'); print('held', flush=True); time.sleep(600)"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_second_run_is_refused_in_one_line_and_the_refusal_reaches_the_run_log(workspace):
    workspace.write_retailer(small_retailer())
    holder = _holder(workspace)
    try:
        env = {**os.environ, "PYTHONPATH": str(PROJECT / "src")}
        started = time.perf_counter()
        refused = subprocess.run([*KEDRO, "--pipeline", "ingest"], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120)
        seconds = time.perf_counter() - started
        assert refused.returncode == 1
        error_lines = [line for line in refused.stderr.splitlines() if line.startswith("Error:")]
        assert len(error_lines) == 1 and "Traceback" not in refused.stderr
        assert f"run run-of-another-process (PID {holder.pid}" in error_lines[0] and "wait for it to finish" in error_lines[0]
        assert seconds < 60  # a Kedro start-up, not a wait
        with pytest.raises(WarehouseBusyError):  # the same in-process, as a session sees it
            workspace.run("ingest")
    finally:
        holder.kill()
        holder.wait()
    # The holder died without releasing its lock: the next run takes it over and moves the two
    # refusals from the fallback file into the run log.
    workspace.run("ingest")
    statuses = workspace.rows("SELECT PIPELINES, STATUS, ERROR_CLASS FROM OPS.PIPELINE_RUN_LOG ORDER BY STARTED_AT")
    assert statuses == [("ingest", "refused", "WarehouseBusyError")] * 2 + [("ingest", "success", None)]
    assert not (workspace.data / "08_reporting" / "run_log_fallback.jsonl").exists()


def test_a_killed_run_stays_visible_as_running_then_abandoned(workspace):
    workspace.write_retailer(small_retailer())
    env = {**os.environ, "PYTHONPATH": str(PROJECT / "src"), "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    subprocess.run([*KEDRO, "--pipeline", "ingest"], cwd=PROJECT, env=env, capture_output=True, check=True, timeout=300)
    run = subprocess.Popen([*KEDRO, "--pipeline", "dq"], cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in run.stdout:  # kill it in the middle of its work, as a lost machine would
        if "Running node: check_duplicate_keys" in line:
            run.send_signal(signal.SIGKILL)
            break
    run.wait()
    assert run.returncode == -signal.SIGKILL
    runs = workspace.rows("SELECT PIPELINES, STATUS, FINISHED_AT IS NULL FROM OPS.PIPELINE_RUN_LOG ORDER BY STARTED_AT")
    assert runs == [("ingest", "success", False), ("dq", "running", True)]
    # The lock of the dead process is taken over; the dead run stays `running` in the log, and
    # the health view calls it abandoned once it is older than the configured limit.
    time.sleep(2)
    workspace.run("reporting", node_names=["v_pipeline_health"], params={"reporting": {"run_health": {"abandoned_after_hours": 1 / 3600}}})
    killed = workspace.scalar("SELECT RUN_ID FROM OPS.PIPELINE_RUN_LOG WHERE PIPELINES = 'dq'")
    health = workspace.rows("SELECT LAST_RUN_ID, LAST_STATUS FROM REPORTING.V_PIPELINE_HEALTH WHERE PIPELINE = 'dq'")
    assert health == [(killed, "abandoned")]
    release_warehouse_connections()


def test_the_lock_is_taken_over_from_a_dead_holder_and_refused_to_a_live_one(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from retail_control_tower.ops.lock import WarehouseLock; WarehouseLock({str(tmp_path)!r}).acquire('r1'); print('held', flush=True); input()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(WarehouseBusyError, match="run r1"):
        WarehouseLock(tmp_path).acquire("r2")
    holder.kill()
    holder.wait()
    lock = WarehouseLock(tmp_path)
    stale = lock.acquire("r2")
    assert stale["run_id"] == "r1" and stale["pid"] == holder.pid  # the dead run is named
    lock.release()
    assert WarehouseLock(tmp_path).acquire("r3") is None  # a released lock leaves no stale holder
