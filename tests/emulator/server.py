"""The Snowflake emulator the tests run the control tower on: fakesnow's HTTP server (DuckDB
underneath) on a loopback port, reached by the real ``snowflake-connector-python`` and Snowpark.

Run as ``python tests/emulator/server.py --port-file <file>``: it binds a free port on 127.0.0.1,
writes the port to the file once it accepts connections, and serves until terminated.

fakesnow 0.11.19 does not understand everything Ibis and the project send; the bridges below
make up for it *here*, in the emulator, so the pipeline's own code and the client libraries run
unchanged, exactly as they would against Snowflake. Each bridge is listed in
``tests/emulator/GAPS.md`` with its reason. Set ``EMULATOR_TRACE`` to a file to time each request.
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bridges  # noqa: E402  (tests/emulator/bridges.py)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port-file", required=True, type=Path)
    args = parser.parse_args(argv)

    import uvicorn

    app = bridges.bridged_app()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # loopback only
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)

    original_startup = server.startup

    async def startup(sockets=None):
        await original_startup(sockets=sockets)
        args.port_file.write_text(str(port))

    server.startup = startup
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
