"""The warehouse engine behind every warehouse dataset: DuckDB locally, Snowflake in dev/prod.

Snowflake runs through a Snowpark ``Session`` with Ibis on top (:class:`SnowflakeBackend`, whose
compiler :func:`snowflake_sql` uses too). Every dataset on one engine block shares one connection
(:data:`CONNECTIONS`). Snowflake credentials are looked for, in order:

1. the named connection (``retail-dev`` / ``retail-prod``) in Snowflake's ``connections.toml``
   (``$SNOWFLAKE_HOME/connections.toml`` or ``~/.snowflake/connections.toml``), the profile the
   Snowflake CLI uses;
2. environment variables ``SNOWFLAKE_ACCOUNT``, ``SNOWFLAKE_USER`` and ``SNOWFLAKE_PASSWORD`` or
   ``SNOWFLAKE_PRIVATE_KEY_FILE`` (optional ``SNOWFLAKE_ROLE``, ``SNOWFLAKE_WAREHOUSE``,
   ``SNOWFLAKE_DATABASE``, ``SNOWFLAKE_PRIVATE_KEY_FILE_PWD``);
3. on Databricks (``DATABRICKS_RUNTIME_VERSION`` set), the secret scope named in the engine
   block (keys ``account``, ``user``, ``private_key`` or ``password``, optional ``role``,
   ``warehouse``).

Nothing found is an immediate error naming all three places, before any network call.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ibis.expr.types as ir
import sqlglot.expressions as sge
from ibis.backends.snowflake import Backend as IbisSnowflakeBackend
from ibis.backends.sql.compilers.snowflake import SnowflakeCompiler

ENV_REQUIRED = ("SNOWFLAKE_ACCOUNT", "SNOWFLAKE_USER")
ENV_SECRET = ("SNOWFLAKE_PASSWORD", "SNOWFLAKE_PRIVATE_KEY_FILE")
ENV_OPTIONAL = {
    "SNOWFLAKE_ROLE": "role",
    "SNOWFLAKE_WAREHOUSE": "warehouse",
    "SNOWFLAKE_DATABASE": "database",
    "SNOWFLAKE_PRIVATE_KEY_FILE_PWD": "private_key_file_pwd",
}


class TextTryCastCompiler(SnowflakeCompiler):
    """Ibis's Snowflake compiler, with ``try_cast`` of a text value written as ``TRY_CAST``.

    Ibis 12 leaves it to sqlglot, which writes ``TRY_CAST`` only for input it knows to be text
    and a plain ``CAST`` otherwise, so one bad value would fail a whole Silver statement on
    Snowflake instead of being quarantined. Ibis knows the input's type: it says so here.
    """

    def visit_TryCast(self, op, *, arg, to):  # noqa: N802 (Ibis's visitor naming)
        return sge.TryCast(this=arg, to=self.type_mapper.from_ibis(to), safe=True, requires_string=op.arg.dtype.is_string())


SNOWFLAKE_COMPILER = TextTryCastCompiler()


class SnowflakeBackend(IbisSnowflakeBackend):
    """Ibis's Snowflake backend compiling with :data:`SNOWFLAKE_COMPILER`."""

    compiler = SNOWFLAKE_COMPILER


def snowflake_sql(expr: ir.Expr, pretty: bool = True) -> str:
    """The Snowflake SQL of an expression, as a Snowflake connection of this project runs it
    (``ibis.to_sql(expr, dialect="snowflake")`` compiles with Ibis's own compiler)."""
    compiled = SNOWFLAKE_COMPILER.to_sqlglot(expr.unbind())
    queries = compiled if isinstance(compiled, list) else [compiled]
    return ";\n".join(query.sql(dialect=SNOWFLAKE_COMPILER.dialect, pretty=pretty) for query in queries)


class WarehouseConnectionError(RuntimeError):
    """No usable credentials for the configured warehouse connection."""


def connections_files(environ: Mapping[str, str]) -> list[Path]:
    """Where Snowflake's tools look for ``connections.toml``, in their order."""
    files = []
    if environ.get("SNOWFLAKE_HOME"):
        files.append(Path(environ["SNOWFLAKE_HOME"]).expanduser() / "connections.toml")
    home = Path(environ.get("HOME") or Path.home())
    files += [home / ".snowflake" / "connections.toml", home / ".config" / "snowflake" / "connections.toml"]
    return files


def snowflake_settings(engine: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """The Snowpark session settings for an engine block, and where they came from (``source``).

    Reads files and the environment only: no connection is made here.
    """
    name = engine.get("connection_name")
    for path in connections_files(environ):
        if name and path.is_file():
            profiles = tomllib.loads(path.read_text())
            if name in profiles or name in profiles.get("connections", {}):
                return {"connection_name": name, "source": f"connections.toml [{name}] ({path})"}
    if all(environ.get(key) for key in ENV_REQUIRED) and any(environ.get(key) for key in ENV_SECRET):
        settings = {"account": environ["SNOWFLAKE_ACCOUNT"], "user": environ["SNOWFLAKE_USER"], "source": "environment variables"}
        if environ.get("SNOWFLAKE_PASSWORD"):
            settings["password"] = environ["SNOWFLAKE_PASSWORD"]
        else:
            settings["private_key_file"] = environ["SNOWFLAKE_PRIVATE_KEY_FILE"]
            settings["authenticator"] = "SNOWFLAKE_JWT"
        settings.update({option: environ[key] for key, option in ENV_OPTIONAL.items() if environ.get(key)})
        return settings
    scope = engine.get("secret_scope")
    if scope and environ.get("DATABRICKS_RUNTIME_VERSION"):
        return {**_databricks_secrets(scope), "source": f"Databricks secret scope {scope!r}"}
    looked = ", ".join(str(p) for p in connections_files(environ))
    raise WarehouseConnectionError(
        f"No Snowflake credentials for connection {name!r}: looked for [{name}] in {looked}; for environment "
        f"variables {' and '.join(ENV_REQUIRED)} with {' or '.join(ENV_SECRET)} (optional: {', '.join(ENV_OPTIONAL)}); "
        + (f"and for the Databricks secret scope {scope!r} (only on Databricks)." if scope else "and no Databricks secret scope is configured.")
        + " Add the connection with `snow connection add` or export the variables."
    )


def _databricks_secrets(scope: str) -> dict[str, Any]:
    from databricks.sdk.runtime import dbutils  # only present on Databricks  # noqa: PLC0415

    def secret(key: str) -> str | None:
        try:
            return dbutils.secrets.get(scope=scope, key=key)
        except Exception:  # an optional key that is not in the scope
            return None

    settings = {key: secret(key) for key in ("account", "user", "role", "warehouse", "password")}
    key = secret("private_key")
    if key:
        settings.update(private_key=key, authenticator="SNOWFLAKE_JWT")
    return {k: v for k, v in settings.items() if v}


def connect(engine: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> Any:
    """An Ibis backend for an engine block (``backend`` plus its settings)."""
    import ibis  # noqa: PLC0415

    config = dict(engine)
    backend = config.pop("backend")
    if backend == "duckdb":
        _create_folder_of(config.get("database"), read_only=bool(config.get("read_only")))
    if backend != "snowflake":
        return getattr(ibis, backend).connect(**config)
    from snowflake.snowpark import Session  # noqa: PLC0415

    settings = snowflake_settings(config, environ)
    settings.pop("source")
    for option in ("database", "schema", "role", "warehouse"):
        if config.get(option):
            settings[option] = config[option]
    # from_connection takes the Snowpark session (from_snowpark is deprecated since Ibis 10). No
    # object UDFs: Ibis would create a database `ibis_udfs` for its map functions, which no node
    # uses and a pipeline role is not granted (it only warned, on every run).
    return SnowflakeBackend.from_connection(Session.builder.configs(settings).create(), create_object_udfs=False)


class Connections:
    """The open engine connections of a process, one per engine block.

    Every dataset on one engine block shares its connection: Ibis does not combine tables of
    two connections in one query, and DuckDB opens a file once per process.
    """

    def __init__(self) -> None:
        self._open: dict[str, Any] = {}

    def get(self, engine: Mapping[str, Any]) -> Any:
        key = json.dumps(engine, sort_keys=True, default=str)
        if key not in self._open:
            self._open[key] = connect(engine)
        return self._open[key]

    def close_all(self) -> None:
        """Disconnects every engine, so another process may open the DuckDB file."""
        open_, self._open = self._open, {}
        for connection in open_.values():
            connection.disconnect()


#: The connections of this process (what kedro-datasets' TableDataset keeps per class).
CONNECTIONS = Connections()


def _create_folder_of(database: Any, read_only: bool) -> None:
    """Creates the folder of a DuckDB file, so a first run into a new ``RCT_DATA_DIR`` works:
    DuckDB creates a missing file but not a missing folder (``IO Error: Cannot open file``)."""
    if read_only or not database or str(database) == ":memory:" or re.match(r"[A-Za-z][\w+.-]+:", str(database)):
        return  # in memory, read-only (the file must exist), or not a local path (``md:`` MotherDuck)
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
