"""Raw files landed on Snowflake the Snowflake way: staged with ``PUT``, loaded with ``COPY INTO``.

One definition serves the pipeline and the bootstrap SQL: the file formats (``CSV_FORMAT``,
``PARQUET_FORMAT``), the stage and the shape of the ``COPY`` (each value as text, by position,
plus the file lineage ``METADATA$FILENAME`` / ``METADATA$FILE_ROW_NUMBER``) are written here, and
``sql/snowflake/03_raw_landing.sql`` is generated from them (``bootstrap_sql``; a test keeps the
file in step, ``python -m retail_control_tower.datasets.snowflake_landing`` rewrites it).

In a run (:func:`land`), every raw file of an entity is ``PUT`` (unchanged, not compressed again)
to ``@<db>.BRONZE.RAW_LANDING/pipeline/<entity>/<sha256 of its bytes>/<its path in the raw folder>``
(exports landed by the bootstrap script go to the stage's ``exports/`` folder instead) and
the files are copied with one ``COPY INTO`` per header layout into a temporary table of the
session, which the Bronze node then appends to ``BRONZE.<ENTITY>`` with its load id. The path
gives the lineage the local reader gives: ``SOURCE_FILE`` (the path in the raw folder),
``FILE_FINGERPRINT`` (the SHA-256, as on DuckDB, so a file is recognised whichever engine saw it
first) and ``SOURCE_ROW`` (``METADATA$FILE_ROW_NUMBER``, the record's number in its file: the
same on every run, unlike a ``ROW_NUMBER()`` without an order).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir

STAGE = "RAW_LANDING"
SCHEMA = "BRONZE"
FILE_FORMAT = "RAW_CSV"

# The CSV dialect of the input contract, as the local reader parses it: header first, comma,
# double quotes (a quote inside a quoted value doubled), an empty field is missing, every other
# value kept as sent (no trimming, no backslash escapes outside quotes, no other null marker
# than the empty field), a row with another number of fields is an error, gzip detected.
CSV_FORMAT: dict[str, str] = {
    "TYPE": "CSV",
    "SKIP_HEADER": "1",
    "FIELD_DELIMITER": "','",
    "FIELD_OPTIONALLY_ENCLOSED_BY": "'\"'",
    "ESCAPE_UNENCLOSED_FIELD": "NONE",
    "EMPTY_FIELD_AS_NULL": "TRUE",
    "NULL_IF": "('')",
    "ERROR_ON_COLUMN_COUNT_MISMATCH": "TRUE",
    "ENCODING": "'UTF8'",
    "COMPRESSION": "AUTO",
}
# Parquet with its logical types (dates as dates, not day numbers), read by column name.
PARQUET_FORMAT: dict[str, str] = {"TYPE": "PARQUET", "USE_LOGICAL_TYPE": "TRUE"}

STAGED_FILE = "_STAGED_FILE"  # METADATA$FILENAME in the landing table
ROW_NUMBER = "SOURCE_ROW"  # METADATA$FILE_ROW_NUMBER
FINGERPRINT = re.compile(r"[0-9a-f]{64}")
# <entity>/<sha256>/<path in the raw folder>: what follows the fingerprint is the file's path.
SOURCE_FILE_PATTERN = r"^.*[0-9a-f]{64}/"
FILES_PER_COPY = 1000  # Snowflake's limit for FILES = (...)
PIPELINE_FOLDER = "pipeline"  # the stage's folder for the pipeline's own landing
EXPORTS_FOLDER = "exports"  # the stage's folder the bootstrap script copies from


def options(format_options: Mapping[str, str]) -> str:
    return " ".join(f"{name} = {value}" for name, value in format_options.items())


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def stage_name(database: str) -> str:
    return f"{database}.{SCHEMA}.{STAGE}"


def create_stage_sql(database: str, file_format: str | None = None) -> str:
    """The internal stage; its own format is the named one (bootstrap) or the options inline."""
    fmt = f"(FORMAT_NAME = '{file_format}')" if file_format else f"({options(CSV_FORMAT)})"
    return (
        f"CREATE STAGE IF NOT EXISTS {stage_name(database)}\n  FILE_FORMAT = {fmt}\n"
        "  COMMENT = 'Raw retail exports, landed by COPY INTO into BRONZE'"
    )


def create_file_format_sql(database: str) -> str:
    body = "\n".join(f"  {name} = {value}" for name, value in CSV_FORMAT.items())
    return f"CREATE FILE FORMAT IF NOT EXISTS {database}.{SCHEMA}.{FILE_FORMAT}\n{body}"


def put_sql(path: Path, target: str) -> str:
    """``PUT`` of one local file to a folder of the stage, as it is (no second compression);
    a file staged before under the same content-addressed path is replaced by the same bytes."""
    uri = path.resolve().as_posix().replace("'", "\\'")
    return f"PUT 'file://{uri}' @{target} AUTO_COMPRESS = FALSE OVERWRITE = TRUE"


def column_values(columns: list[str], parquet: bool) -> list[str]:
    """The staged file's values, as text, in the order of ``columns`` (its header)."""
    if parquet:
        return [f"$1:{quoted(name)}::VARCHAR" for name in columns]
    return [f"${position}" for position in range(1, len(columns) + 1)]


def copy_sql(
    target: str,
    target_columns: list[str],
    values: list[str],
    source: str,
    *,
    files: list[str] | None = None,
    pattern: str | None = None,
    file_format: str | None = None,
    format_options: Mapping[str, str] = CSV_FORMAT,
    force: bool = False,
    quote_columns: bool = True,
) -> str:
    """``COPY INTO target`` from a stage: ``values`` (each file value, then the lineage
    expressions) into ``target_columns``, of the listed files or those matching ``pattern``."""
    lines = [
        f"COPY INTO {target} ({', '.join(quoted(c) if quote_columns else c for c in target_columns)})",
        "FROM (",
        f"  SELECT {', '.join(values)}",
        f"  FROM @{source}",
        ")",
    ]
    if files:
        lines.append(f"FILES = ({', '.join(_literal(f) for f in files)})")
    if pattern:
        lines.append(f"PATTERN = {_literal(pattern)}")
    lines.append(f"FILE_FORMAT = (FORMAT_NAME = '{file_format}')" if file_format else f"FILE_FORMAT = ({options(format_options)})")
    lines.append("ON_ERROR = ABORT_STATEMENT")
    if force:
        lines.append("FORCE = TRUE")
    return "\n".join(lines)


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


# --- in a run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawFile:
    path: Path
    relative: str  # path in the raw folder: SOURCE_FILE
    digest: str  # SHA-256 of the bytes: FILE_FINGERPRINT
    duplicate_of: str | None  # the earlier file of the listing with the same bytes
    columns: tuple[str, ...]  # header, as written in the file

    @property
    def parquet(self) -> bool:
        return self.path.name.endswith(".parquet")

    def staged(self, entity: str) -> str:
        """The file's path in the stage: content-addressed, then its path in the raw folder."""
        return f"{PIPELINE_FOLDER}/{entity}/{self.digest}/{self.relative}"


class LandingError(RuntimeError):
    """A staged file could not be copied, or held no data row (the message names the file)."""


def setup_sql(database: str) -> list[str]:
    return [f"CREATE SCHEMA IF NOT EXISTS {database}.{SCHEMA}", create_stage_sql(database)]


def put_statements(database: str, entity: str, files: list[RawFile]) -> list[str]:
    return [put_sql(raw.path, f"{stage_name(database)}/{raw.staged(entity).rsplit('/', 1)[0]}/") for raw in files]


def group_sql(database: str, entity: str, table: str, columns: list[str], parquet: bool, group: list[RawFile]) -> list[str]:
    """The temporary landing table of files with one header, and the COPY(s) into it."""
    names = [c.strip().upper() for c in columns]
    target = f"{database}.{SCHEMA}.{quoted(table)}"
    definitions = ", ".join(f"{quoted(n)} VARCHAR" for n in names)
    statements = [f"CREATE TEMPORARY TABLE {target} ({definitions}, {quoted(STAGED_FILE)} VARCHAR, {quoted(ROW_NUMBER)} NUMBER(38, 0))"]
    staged = [raw.staged(entity) for raw in group]
    for start in range(0, len(staged), FILES_PER_COPY):
        statements.append(
            copy_sql(
                target,
                [*names, STAGED_FILE, ROW_NUMBER],
                [*column_values(columns, parquet), "METADATA$FILENAME", "METADATA$FILE_ROW_NUMBER"],
                stage_name(database),
                files=staged[start : start + FILES_PER_COPY],
                format_options=PARQUET_FORMAT if parquet else CSV_FORMAT,
                force=True,  # what is new is decided by the Bronze node (by fingerprint), not by load metadata
            )
        )
    return statements


def land(backend: Any, entity: str, files: list[RawFile]) -> tuple[list[ir.Table], dict[str, int]]:
    """Stages the files, copies them into temporary tables of the session (one per header
    layout and format) and returns those tables (text columns of the header, upper-cased, plus
    ``SOURCE_FILE``, ``SOURCE_ROW``, ``FILE_FINGERPRINT``, ``DUPLICATE_OF``) and each file's data
    rows, by its path in the raw folder."""
    database = backend.current_catalog
    for statement in [*setup_sql(database), *put_statements(database, entity, files)]:
        _execute(backend, statement)
    groups: dict[tuple[tuple[str, ...], bool], list[RawFile]] = {}
    for raw in files:
        groups.setdefault((raw.columns, raw.parquet), []).append(raw)
    tables, rows = [], {}
    for (columns, parquet), group in groups.items():
        table = f"RAW_{entity.upper()}_{uuid.uuid4().hex[:12].upper()}"
        create, *copies = group_sql(database, entity, table, list(columns), parquet, group)
        _execute(backend, create)
        loaded: dict[str, int] = {}
        for copy in copies:
            loaded.update(_copy_results(_execute(backend, copy)))
        for raw in group:
            rows[raw.relative] = next((n for key, n in loaded.items() if raw.relative in key and raw.digest in key), 0)
            if rows[raw.relative] == 0:
                raise LandingError(f"{raw.path}: has a header but no data rows")
        tables.append(_landed(backend.table(table, database=(database, SCHEMA)), list(columns), group))
    return tables, rows


def _landed(landed: ir.Table, columns: list[str], group: list[RawFile]) -> ir.Table:
    """The landing table with the lineage the local reader gives, taken from the staged path."""
    source_file = landed[STAGED_FILE].re_replace(SOURCE_FILE_PATTERN, "")
    duplicates = {raw.relative: raw.duplicate_of for raw in group if raw.duplicate_of}
    return landed.select(
        *[c.strip().upper() for c in columns],
        SOURCE_FILE=source_file,
        SOURCE_ROW=landed[ROW_NUMBER].cast("int64"),
        FILE_FINGERPRINT=landed[STAGED_FILE].re_extract(r"([0-9a-f]{64})", 1),
        DUPLICATE_OF=source_file.substitute(duplicates, else_=ibis.null("string")) if duplicates else ibis.null("string"),
    )


def review_sql(database: str, entity: str, columns: list[str], raw_dir: Path) -> str:
    """What a run sends to land ``<raw_dir>/<entity>.csv`` (for ``retail-control-tower-sql``)."""
    sample = RawFile(raw_dir / f"{entity}.csv", f"{entity}.csv", "0" * 64, None, tuple(columns))
    statements = [
        *setup_sql(database), *put_statements(database, entity, [sample]),
        *group_sql(database, entity, f"RAW_{entity.upper()}_<run>", columns, False, [sample]),
    ]
    return ";\n\n".join(statements) + ";\n"


def _execute(backend, statement: str) -> list[tuple]:
    with backend.raw_sql(statement) as cursor:
        return cursor.fetchall() if cursor.description else []


def _copy_results(results: Iterable[tuple]) -> dict[str, int]:
    """``COPY INTO``'s answer: per file (as the stage names it), the rows loaded."""
    counted = {}
    for row in results:
        if len(row) >= 4 and isinstance(row[0], str):
            if str(row[1]).upper() not in ("LOADED", "PARTIALLY_LOADED"):
                raise LandingError(f"COPY INTO did not load {row[0]}: {row[1]} {row[6] if len(row) > 6 else ''}")
            counted[row[0]] = int(row[3])
    return counted


# --- bootstrap SQL (sql/snowflake/03_raw_landing.sql) --------------------------------------------

BOOTSTRAP_HEADER = """\
-- Bootstrap step 3 (prod): land raw exports in BRONZE with COPY INTO from a stage, in the shape
-- the pipeline gives (every value as text, plus the file lineage), so the pipelines take the new
-- loads from Silver on: `kedro run --env prod --pipelines after_bronze`.
-- GENERATED from src/retail_control_tower/datasets/snowflake_landing.py, the one definition of the
-- file format, the stage and the COPY that the pipeline's own landing (`kedro run --env prod`)
-- uses too: `python -m retail_control_tower.datasets.snowflake_landing` rewrites this file.
-- Exports are put in the stage's exports/ folder (the pipeline stages its own files under
-- pipeline/), named as the input contract says: <entity>.csv or <entity>_<batch>.csv (.csv.gz),
-- in any subfolder, header first, columns in the contract's order. Snowflake's load metadata
-- skips a file already loaded (64 days). FILE_FINGERPRINT is Snowflake's content key here, where
-- the pipeline writes the SHA-256 of the bytes: a file landed by this script is not recognised by
-- a pipeline run that reads the same file from its raw folder (land each export one way).
-- LOAD_ID is the load time in the pipeline's run-id format.
USE ROLE RETAIL_PIPELINE;
USE WAREHOUSE RETAIL_WH;
"""


def bootstrap_sql(entities: Mapping[str, Mapping[str, Any]], database: str = "RETAIL_DB") -> str:
    """The bootstrap landing script: the named file format, the stage, and per entity its
    Bronze table and the ``COPY INTO`` it from the stage."""
    named_format = f"{database}.{SCHEMA}.{FILE_FORMAT}"
    parts = [BOOTSTRAP_HEADER, create_file_format_sql(database) + ";\n",
             "-- Internal stage; for exports that land in cloud storage use an external stage\n"
             "-- (URL = 's3://...' STORAGE_INTEGRATION = ...) under the same name.\n"
             + create_stage_sql(database, named_format) + ";\n"]
    lineage = ["SOURCE_FILE", "SOURCE_ROW", "FILE_FINGERPRINT", "LOAD_ID", "LOADED_AT"]
    for entity, spec in entities.items():
        columns = list(spec["columns"])
        table = f"{database}.{SCHEMA}.{entity.upper()}"
        definitions = ",\n".join(f"  {name} VARCHAR" for name in columns)
        parts.append(
            f"CREATE TABLE IF NOT EXISTS {table} (\n{definitions},\n"
            "  SOURCE_FILE VARCHAR, SOURCE_ROW BIGINT, FILE_FINGERPRINT VARCHAR, LOAD_ID VARCHAR, LOADED_AT TIMESTAMP_NTZ\n);\n"
        )
        values = [
            *column_values(columns, parquet=False),
            "METADATA$FILENAME",
            "METADATA$FILE_ROW_NUMBER",
            "METADATA$FILE_CONTENT_KEY",
            "TO_VARCHAR(CONVERT_TIMEZONE('UTC', METADATA$START_SCAN_TIME), 'YYYY-MM-DD\"T\"HH24.MI.SS.FF3\"Z\"')",
            "CAST(METADATA$START_SCAN_TIME AS TIMESTAMP_NTZ)",
        ]
        copy = copy_sql(
            table, [*columns, *lineage], values, f"{stage_name(database)}/{EXPORTS_FOLDER}/",
            pattern=f"(.*/)?{entity}(_[^/]*)?[.]csv([.]gz)?", file_format=named_format, quote_columns=False,
        )
        parts.append(copy + ";\n")
    return "\n".join(parts)


def main() -> None:
    """Rewrites sql/snowflake/03_raw_landing.sql from the input contract of conf/base
    (``ingest.entities``: each entity's columns, in order)."""
    from kedro.config import OmegaConfigLoader  # noqa: PLC0415
    from omegaconf.resolvers import oc  # noqa: PLC0415

    project = Path.cwd()
    loader = OmegaConfigLoader(str(project / "conf"), base_env="base", default_run_env="base", custom_resolvers={"oc.env": oc.env})
    entities = loader["parameters"]["ingest"]["entities"]
    target = project / "sql" / "snowflake" / "03_raw_landing.sql"
    target.write_text(bootstrap_sql(entities))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
