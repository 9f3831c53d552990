"""Starts and stops the Snowflake emulator (``server.py`` beside this file) and writes the
``connections.toml`` profile the ``emulator`` environment connects with."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SERVER = Path(__file__).resolve().parent / "server.py"
PROFILE = "retail-emulator"  # conf/emulator/globals.yml


@dataclass
class Emulator:
    port: int
    snowflake_home: Path
    log: Path

    @property
    def environ(self) -> dict[str, str]:
        """Variables a process needs to reach the emulator through the profile (set before
        ``snowflake.connector`` is imported: the connector reads SNOWFLAKE_HOME then)."""
        return {"SNOWFLAKE_HOME": str(self.snowflake_home), "SF_SKIP_TOKEN_FILE_PERMISSIONS_VERIFICATION": "true"}


def write_profile(folder: Path, port: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "connections.toml"
    # Not a secret: fakesnow accepts any user and password. The connector wants the file private.
    path.write_text(
        f'[{PROFILE}]\naccount = "emulator"\nuser = "emulator"\npassword = "emulator"\n'
        f'host = "127.0.0.1"\nport = {port}\nprotocol = "http"\n'
        'database = "RETAIL_DB"\nschema = "PUBLIC"\nwarehouse = "RETAIL_WH"\nrole = "RETAIL_PIPELINE"\n'
        # one attempt, short waits: a broken emulator fails the test instead of retrying for minutes
        "login_timeout = 20\nnetwork_timeout = 120\n"
    )
    path.chmod(0o600)
    return path


@contextmanager
def running(folder: Path, start_timeout: float = 60.0) -> Iterator[Emulator]:
    """The emulator on a free loopback port for the duration of the block."""
    folder.mkdir(parents=True, exist_ok=True)
    port_file, log = folder / "port", folder / "emulator.log"
    port_file.unlink(missing_ok=True)
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, str(SERVER), "--port-file", str(port_file)],
            # TMPDIR: fakesnow keeps staged files in a temporary folder of its own, here under ours.
            stdout=output, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": str(folder)},
        )
    try:
        deadline = time.monotonic() + start_timeout
        while not (port_file.exists() and port_file.read_text().strip()):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"The Snowflake emulator did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        port = int(port_file.read_text())
        home = folder / "snowflake_home"
        write_profile(home, port)
        yield Emulator(port=port, snowflake_home=home, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":  # a manual session: python tests/emulator/emulator.py <folder>
    with running(Path(sys.argv[1] if len(sys.argv) > 1 else "build/emulator")) as emulator:
        print(f"Snowflake emulator on 127.0.0.1:{emulator.port}; export SNOWFLAKE_HOME={emulator.snowflake_home}")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
