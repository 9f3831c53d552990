"""One run at a time on a warehouse: a lock taken before any node runs.

The lock is a file beside the local warehouse (``<data dir>/warehouse.lock``) holding who has it:
run id, PID, host and start time. It is held with an OS file lock (``flock``) until the process
ends, as DuckDB holds its own lock on the warehouse file for as long as the process keeps a
connection (so a lock released at the end of a run would let the next process in while the file
is still locked). The operating system releases it when the process ends, however it ends: a run
killed half-way leaves a file whose lock nobody holds, and the next run takes it over with a
warning naming the dead run. Later runs in the same process (a notebook, a test session) hold it
already and only record themselves as the holder. A second run while one is running stops at once with one line saying which run holds
the warehouse, since when, and what to do; its refusal is recorded in the run log.

On Snowflake the warehouse is shared by every machine, so a local file cannot guard it: the
Databricks jobs run with ``max_concurrent_runs: 1`` (see ``resources/``), which is what stops
two scheduled runs there.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import logging
import os
import socket
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline

logger = logging.getLogger(__name__)

LOCK_FILE = "warehouse.lock"


class WarehouseBusyError(click.ClickException):
    """Another run holds the warehouse. A click exception, so ``kedro run`` prints one line
    (``Error: ...``) and exits with status 1 instead of a traceback."""


class WarehouseLock:
    """The lock file of one data folder."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / LOCK_FILE
        self._handle = None

    def acquire(self, run_id: str) -> dict[str, Any] | None:
        """Takes the lock for ``run_id``; returns the holder found in a stale lock file (a run
        that died without releasing it), or None. Raises WarehouseBusyError when another
        process holds it; within the holding process it only records the new holder."""
        if self._handle is not None:
            self._write_holder(self._handle, run_id)
            return None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(handle)
            handle.close()
            raise WarehouseBusyError(busy_message(holder, self.path)) from None
        stale = _read(handle)
        self._write_holder(handle, run_id)
        self._handle = handle
        atexit.register(self.release)  # a process that ends normally leaves an empty lock file
        return stale or None

    @staticmethod
    def _write_holder(handle, run_id: str) -> None:
        handle.seek(0)
        handle.truncate()
        holder = {"run_id": run_id, "pid": os.getpid(), "host": socket.gethostname(), "started_at": datetime.now().replace(microsecond=0).isoformat()}
        handle.write(json.dumps(holder))
        handle.flush()

    def release(self) -> None:
        if self._handle is None:
            return
        handle, self._handle = self._handle, None
        handle.seek(0)
        handle.truncate()
        handle.flush()
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def _read(handle) -> dict[str, Any]:
    handle.seek(0)
    text = handle.read().strip()
    try:
        return json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {"unreadable": text[:200]}


def busy_message(holder: dict[str, Any], path: Path) -> str:
    who = f"run {holder.get('run_id', '?')} (PID {holder.get('pid', '?')} on {holder.get('host', '?')})"
    return (
        f"The warehouse is in use by {who} since {holder.get('started_at', '?')}: wait for it to finish "
        f"(lock file {path}), or stop that process; a lock left by a process that has ended is taken over automatically."
    )


class WarehouseLockHook:
    """Takes the local warehouse's lock before any other hook or node touches the warehouse.
    Runs on a Snowflake warehouse take no local lock."""

    def __init__(self, run_log) -> None:
        self._run_log = run_log
        self._locks: dict[Path, WarehouseLock] = {}
        self._data_dir = Path("data")
        self._local = True

    @hook_impl
    def after_context_created(self, context) -> None:
        globals_ = context.config_loader["globals"]
        self._data_dir = Path(globals_.get("data_dir", "data")).resolve()
        self._local = globals_.get("warehouse", {}).get("backend", "duckdb") == "duckdb"

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog) -> None:
        if not self._local:
            return
        lock = self._locks.get(self._data_dir) or WarehouseLock(self._data_dir)
        try:
            stale = lock.acquire(run_params["run_id"])
        except WarehouseBusyError as busy:
            self._run_log.record_refusal(run_params, busy)
            raise
        if stale:
            logger.warning(
                "Took over the warehouse lock of run %s (PID %s on %s, started %s), whose process has ended without releasing it.",
                stale.get("run_id"), stale.get("pid"), stale.get("host"), stale.get("started_at"),
            )
        self._locks[self._data_dir] = lock

    def release_all(self) -> None:
        """Releases every lock this process holds (for a process that closes its warehouse
        connections and hands the warehouse to another process, e.g. a test or notebook)."""
        for lock in self._locks.values():
            lock.release()
        self._locks.clear()
