"""Smoke checks of an environment: `kedro run --env <env> --pipeline smoke`.

Each check is a row (check, status, detail); all are run and recorded, then the verdict fails
the run if any did not pass.
"""

from __future__ import annotations

import re
import time
from typing import Any

import ibis
import pandas as pd


class SmokeTestError(RuntimeError):
    """At least one smoke check failed."""


def _check(results: list[dict[str, Any]], name: str, probe) -> Any:
    started = time.perf_counter()
    try:
        detail = probe()
        status = "pass"
    except Exception as error:  # every check is reported, whatever breaks
        detail, status = f"{type(error).__name__}: {error}", "fail"
    results.append({"CHECK": name, "STATUS": status, "DETAIL": str(detail), "SECONDS": round(time.perf_counter() - started, 3)})
    return detail if status == "pass" else None


def _identity(backend) -> str:
    if backend.name == "snowflake":
        query = "SELECT CURRENT_ROLE() AS ROLE_NAME, CURRENT_WAREHOUSE() AS WAREHOUSE_NAME, CURRENT_DATABASE() AS DATABASE_NAME"
    else:
        query = "SELECT CURRENT_DATABASE() AS DATABASE_NAME, CURRENT_SCHEMA() AS SCHEMA_NAME"
    row = backend.sql(query).to_pyarrow().to_pylist()[0]
    return ", ".join(f"{key.lower()}={value}" for key, value in row.items())


def _tables_present(backend, tables: list[str]) -> str:
    missing = []
    for qualified in tables:
        schema, table = qualified.split(".")
        if schema not in backend.list_databases() or table not in backend.list_tables(database=schema):
            missing.append(qualified)
    if missing:
        raise LookupError(f"missing: {', '.join(missing)} (run the pipelines that create them)")
    return f"{len(tables)} core tables present"


def _scratch_round_trip(backend, schema: str, run_id: str) -> str:
    name = "SMOKE_" + re.sub(r"[^A-Za-z0-9]", "_", run_id).upper()
    data = ibis.memtable({"CHECK_VALUE": [1, 2, 3]})
    backend.create_table(name, data, database=schema, overwrite=True)
    try:
        total = backend.table(name, database=schema).CHECK_VALUE.sum().to_pyarrow().as_py()
    finally:
        backend.drop_table(name, database=schema, force=True)
    if total != 6:
        raise ValueError(f"read back {total}, wrote 1 + 2 + 3")
    if name in backend.list_tables(database=schema):
        raise RuntimeError(f"{schema}.{name} was not dropped")
    return f"created, read and dropped {schema}.{name}"


def smoke_checks(backend, registry: pd.DataFrame, params: dict[str, Any], run_context: dict[str, Any]) -> pd.DataFrame:
    """Runs every check; returns one row per check."""
    results: list[dict[str, Any]] = []
    _check(results, "connection", lambda: f"{backend.name} {backend.version}")
    _check(results, "identity", lambda: _identity(backend))
    expected = params["schemas"]
    _check(results, "schemas", lambda: _schemas(backend, expected))
    _check(results, "core_tables", lambda: _tables_present(backend, params["core_tables"]))
    _check(results, "scratch_write_read_drop", lambda: _scratch_round_trip(backend, params["scratch_schema"], run_context["run_id"]))
    _check(results, "mlflow_registry", lambda: _registry(registry))
    return pd.DataFrame(results).assign(RUN_ID=run_context["run_id"], ENV=run_context["env"])


def _schemas(backend, expected: list[str]) -> str:
    missing = sorted(set(expected) - set(backend.list_databases()))
    if missing:
        raise LookupError(f"missing schemas: {', '.join(missing)}")
    return ", ".join(expected)


def _registry(registry: pd.DataFrame) -> str:
    champions = registry[registry.ALIAS.fillna("").str.contains("champion")] if not registry.empty else registry
    return f"{len(registry)} registered version(s); champion: " + (
        f"version {champions.MODEL_VERSION.iloc[0]} ({champions.VARIANT.iloc[0]})" if len(champions) else "none yet"
    )


def smoke_verdict(results: pd.DataFrame) -> None:
    """Fails the run, naming each failed check, unless every check passed."""
    failed = results[results.STATUS != "pass"]
    if not failed.empty:
        lines = "\n".join(f"  - {row.CHECK}: {row.DETAIL}" for row in failed.itertuples())
        raise SmokeTestError(f"{len(failed)} of {len(results)} smoke checks failed:\n{lines}")
