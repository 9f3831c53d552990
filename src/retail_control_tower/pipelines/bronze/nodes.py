"""Bronze: raw rows appended as text with load metadata; a file already loaded is not loaded again."""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from retail_control_tower.datasets.raw_files import FILE_COLUMNS

METADATA_COLUMNS = {
    "SOURCE_FILE": "string",
    "SOURCE_ROW": "int64",
    "FILE_FINGERPRINT": "string",
    "LOAD_ID": "string",
    "LOADED_AT": "timestamp",
}


class InputContractError(ValueError):
    """A raw file does not match the input contract (a structural problem, not a bad row)."""


def bronze_schema(spec: dict[str, Any]) -> ibis.Schema:
    return ibis.schema({**{name: "string" for name in spec["columns"]}, **METADATA_COLUMNS})


def check_columns(raw: ir.Table, spec: dict[str, Any], entity: str) -> None:
    """Raises naming the files when the raw columns are not exactly the contract's."""
    expected = list(spec["columns"])
    actual = [c for c in raw.columns if c not in FILE_COLUMNS]
    missing = [c for c in expected if c not in actual]
    extra = [c for c in actual if c not in expected]
    if missing or extra:
        files = sorted(raw.select("SOURCE_FILE").distinct().to_pyarrow()["SOURCE_FILE"].to_pylist())
        problems = []
        if missing:
            problems.append(f"missing columns {missing}")
        if extra:
            problems.append(f"unexpected columns {extra}")
        raise InputContractError(
            f"{entity} input {files}: {'; '.join(problems)}. The contract for {entity} is "
            f"{expected} (see docs/data-contract.md)."
        )


def load_bronze(
    raw: ir.Table | None,
    prior_bronze: ir.Table | None,
    run_context: dict[str, Any],
    spec: dict[str, Any],
    entity: str,
) -> ir.Table:
    """Rows of the files not loaded before, with ``LOAD_ID``, ``LOADED_AT``, ``SOURCE_FILE``.

    A file counts as loaded when a file with the same bytes is already in Bronze, whatever its
    name, so re-dropping or renaming an old export never duplicates rows; of two identical
    files in one batch only the first is loaded.
    """
    schema = bronze_schema(spec)
    if raw is None:
        return ibis.memtable(schema.to_pyarrow().empty_table())
    check_columns(raw, spec, entity)
    new_rows = raw.filter(raw.DUPLICATE_OF.isnull())
    if prior_bronze is not None:
        new_rows = new_rows.filter(~new_rows.FILE_FINGERPRINT.isin(prior_bronze.FILE_FINGERPRINT))
    return new_rows.select(
        *spec["columns"],
        "SOURCE_FILE",
        "SOURCE_ROW",
        "FILE_FINGERPRINT",
        LOAD_ID=ibis.literal(run_context["run_id"]),
        LOADED_AT=ibis.literal(run_context["started_at"], type="timestamp"),
    )


def log_loads(run_context: dict[str, Any], specs: dict[str, dict], **tables: ir.Table | None) -> ir.Table:
    """One ``OPS.LOAD_LOG`` row per raw file seen by this run: loaded now, or already loaded before.

    ``tables`` holds ``raw_files_<entity>`` (one row per raw file, with the rows its reader
    handed over) and ``bronze_<entity>`` for every entity. Raw rows are counted by the reader,
    apart from what Bronze holds, so DQ can reconcile the two.
    """
    rows = []
    for entity, spec in specs.items():
        files, bronze = tables[f"raw_files_{entity}"], tables[f"bronze_{entity}"]
        if files is None:
            continue
        loads = bronze.group_by("FILE_FINGERPRINT").aggregate(
            FIRST_LOAD_ID=bronze.LOAD_ID.min(),
            LOADED_FILE=bronze.SOURCE_FILE.argmin(bronze.LOAD_ID),
            BRONZE_ROWS=bronze.count(),
        )
        joined = files.left_join(loads, "FILE_FINGERPRINT")
        loaded_now = (joined.FIRST_LOAD_ID == run_context["run_id"]) & (
            joined.LOADED_FILE == joined.SOURCE_FILE
        )
        rows.append(
            joined.select(
                RUN_ID=ibis.literal(run_context["run_id"]),
                ENTITY=ibis.literal(entity),
                SOURCE_FILE=joined.SOURCE_FILE,
                FILE_FINGERPRINT=joined.FILE_FINGERPRINT,
                RAW_ROWS=joined.RAW_ROWS.cast("int64"),
                BRONZE_ROWS=joined.BRONZE_ROWS.fill_null(0).cast("int64"),
                STATUS=ibis.ifelse(loaded_now, "loaded", "already_loaded"),
                FIRST_LOAD_ID=joined.FIRST_LOAD_ID,
                LOADED_FILE=joined.LOADED_FILE,
                LOGGED_AT=ibis.literal(run_context["started_at"], type="timestamp"),
            )
        )
    return ibis.union(*rows)
