"""Fixtures of the tests in this folder (imported by them; not a conftest, whose module name
the top-level tests/conftest.py takes): the Snowflake emulator, a fakesnow server on a free loopback port
(``emulator.py``), started once and stopped at the end; and real ``kedro run`` processes on it
(``--env emulator``) or on DuckDB (the default), each in its own data folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import emulator as emulator_process  # noqa: E402  (tests/emulator/emulator.py)

PROJECT = Path(__file__).resolve().parents[2]
KEDRO = str(Path(sys.executable).parent / "kedro")
OFFLINE = {"KEDRO_DISABLE_TELEMETRY": "1", "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}


@dataclass
class Engine:
    """One warehouse to run the control tower on: DuckDB (env None) or the emulator."""

    name: str
    data: Path
    raw: Path
    env: str | None
    environ: dict[str, str]

    def command(self, *arguments: str, prelude: str | None = None) -> list[str]:
        """``kedro run`` with this engine's environment; ``prelude`` is Python run first in the
        same process (a test's deliberate defect)."""
        run = ["run", *(["--env", self.env] if self.env else []), *arguments]
        if prelude is None:
            return [KEDRO, *run]
        launcher = f"{prelude}\nimport sys\nfrom kedro.framework.cli import main\nsys.argv = ['kedro', *{run!r}]\nmain()"
        return [sys.executable, "-c", launcher]

    def start(self, *arguments: str, prelude: str | None = None) -> subprocess.Popen:
        log = (self.data.parent / f"{self.name}-{len(list(self.data.parent.glob(f'{self.name}-*.log')))}.log").open("w")
        return subprocess.Popen(self.command(*arguments, prelude=prelude), cwd=PROJECT, env=self.environ, stdout=log, stderr=subprocess.STDOUT, text=True)

    def run(self, *arguments: str, prelude: str | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.command(*arguments, prelude=prelude), cwd=PROJECT, env=self.environ, capture_output=True, text=True, timeout=timeout
        )


def clean_environ(home: Path, data: Path, raw: Path) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("SNOWFLAKE_", "DATABRICKS_", "MLFLOW_", "RCT_"))}
    return {**environ, **OFFLINE, "HOME": str(home), "RCT_DATA_DIR": str(data), "RCT_RAW_DIR": str(raw)}


@pytest.fixture(scope="session")
def emulator(tmp_path_factory) -> Iterator[emulator_process.Emulator]:
    """The Snowflake emulator, for every test that needs it, stopped at the end of the session."""
    with emulator_process.running(tmp_path_factory.mktemp("snowflake_emulator")) as running:
        yield running


def end_sessions(emulator: emulator_process.Emulator) -> None:
    """Ends the emulator's sessions, as Snowflake ends those of clients that went away."""
    request = urllib.request.Request(f"http://127.0.0.1:{emulator.port}/emulator/end-sessions", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:  # loopback only
        json.loads(response.read())


def connect(emulator: emulator_process.Emulator):
    """An Ibis backend on the emulator, through the real Snowflake connector (no profile file:
    this process may have imported the connector before SNOWFLAKE_HOME was set)."""
    import ibis
    import snowflake.connector

    connection = snowflake.connector.connect(
        account="emulator", user="emulator", password="emulator", host="127.0.0.1", port=emulator.port,
        protocol="http", database="RETAIL_DB", schema="PUBLIC", login_timeout=20, network_timeout=120,
    )
    return ibis.snowflake.from_connection(connection, create_object_udfs=False)
