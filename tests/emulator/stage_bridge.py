"""The emulator's landing of staged files: ``PUT`` to a folder of a stage and ``COPY INTO`` a
table with the file lineage (bridges 6 and 7 of ``GAPS.md``).

fakesnow 0.11.19 stages files only at a stage's root, and its ``COPY INTO`` reads CSV with
DuckDB's type sniffing (``007`` arrives as ``7``), without ``METADATA$FILENAME`` /
``METADATA$FILE_ROW_NUMBER``, ``PATTERN`` or ``ERROR_ON_COLUMN_COUNT_MISMATCH``. Here a ``COPY``
that selects from a stage is carried out by the emulator itself, strictly: the file-format
options it understands are the ones below, and any other option, copy parameter or selected
expression is refused with an error instead of being guessed at. What this proves and what it
cannot (Snowflake's own parsing of the file format) is said in ``GAPS.md``.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp

from fakesnow.transforms import stage as fake_stage
from fakesnow.transforms.file_format import lookup_file_format
from fakesnow.transforms.options import parse_options

PUT = re.compile(r"^\s*PUT\s+(?P<source>'[^']*'|\S+)\s+@(?P<stage>[^\s/']+)(?P<path>/\S*)?(?P<rest>.*)$", re.IGNORECASE | re.DOTALL)
CSV_OPTIONS = {
    "TYPE", "SKIP_HEADER", "FIELD_DELIMITER", "FIELD_OPTIONALLY_ENCLOSED_BY", "ESCAPE_UNENCLOSED_FIELD",
    "EMPTY_FIELD_AS_NULL", "NULL_IF", "ERROR_ON_COLUMN_COUNT_MISMATCH", "ENCODING", "COMPRESSION",
}
PARQUET_OPTIONS = {"TYPE", "USE_LOGICAL_TYPE"}
COPY_PARAMETERS = {"FILES", "PATTERN", "FILE_FORMAT", "ON_ERROR", "FORCE"}


class CopyError(Exception):
    """What Snowflake would answer with a compilation or load error (errno, message)."""

    def __init__(self, errno: int, message: str) -> None:
        super().__init__(message)
        self.errno = errno


# --- PUT to a folder of a stage --------------------------------------------------------------------


def split_put(statement: str) -> tuple[str, str] | None:
    """``PUT <file> @stage/folder/ ...`` → (``PUT <file> @stage ...``, ``folder``), or None."""
    match = PUT.match(statement)
    if not match or not (match["path"] or "").strip("/"):
        return None
    return f"PUT {match['source']} @{match['stage']}{match['rest']}", match["path"].strip("/")


def into_folder(data: dict[str, Any], folder: str) -> dict[str, Any]:
    """fakesnow's answer to the PUT, with the upload's destination moved into ``folder``."""
    info = data["stageInfo"]
    if info.get("presignedUrl"):
        head, _, name = info["presignedUrl"].rpartition("/")
        info["presignedUrl"] = f"{head}/{folder}/{name}"
    info["location"] = info["location"].rstrip("/") + f"/{folder}/"
    return data


# --- COPY INTO <table> FROM (SELECT ... FROM @stage) -------------------------------------------


def is_stage_copy(statement: str) -> bool:
    return bool(re.match(r"^\s*COPY\s+INTO\b", statement, re.IGNORECASE)) and "METADATA$" in statement.upper()


def copy_into(statement: str, duck_conn, database: str | None, schema: str | None) -> list[tuple]:
    """Carries out the ``COPY``; returns Snowflake's result rows (one per file)."""
    copy = sqlglot.parse_one(statement, read="snowflake")
    assert isinstance(copy, exp.Copy), statement
    target, columns = _target(copy.this, database, schema)
    select = copy.args["files"][0].this
    if not isinstance(select, exp.Select):
        raise CopyError(1003, "the emulator copies only FROM (SELECT ... FROM @stage)")
    stage_var = select.args["from_"].this.this.this  # @db.schema.stage[/path]
    stage_ref, _, prefix = stage_var.lstrip("@").partition("/")
    fqname = ".".join(fake_stage.parts_from_var(stage_ref, database, schema))
    root = Path(fake_stage.internal_dir(fqname))
    parameters = _parameters(copy)
    unknown = set(parameters) - COPY_PARAMETERS
    if unknown:
        raise CopyError(1008, f"copy parameters the emulator does not take: {sorted(unknown)}")
    if str(parameters.get("ON_ERROR", "ABORT_STATEMENT")).upper() != "ABORT_STATEMENT":
        raise CopyError(1008, "the emulator copies with ON_ERROR = ABORT_STATEMENT only")
    file_format = _file_format(parameters.get("FILE_FORMAT"), duck_conn, database, schema)
    staged = _staged_files(root, prefix, parameters)
    if len(select.expressions) != len(columns):
        raise CopyError(2020, f"{len(select.expressions)} values selected for {len(columns)} columns")
    results, loaded = [], []
    # The file's fields are the $n the statement selects (the header's columns, in order).
    width = max((int(e.this.this) for e in select.expressions if isinstance(e, exp.Parameter)), default=0)
    for name in staged:
        records = _records(root / name, file_format, width, name)
        rows = [[_value(e, record, name, number) for e in select.expressions] for number, record in records]
        loaded.extend(rows)
        results.append((f"{fqname.split('.')[-1].lower()}/{name}", "LOADED", len(rows), len(rows), 1, 0, None, None, None, None))
    if loaded:
        arrays = [pa.array([row[i] for row in loaded]) for i in range(len(columns))]
        batch = pa.table(arrays, names=[f"c{i}" for i in range(len(columns))])
        duck_conn.register("emulator_copy_rows", batch)
        try:
            names = ", ".join(f'"{c}"' for c in columns)
            duck_conn.execute(f"INSERT INTO {target} ({names}) SELECT * FROM emulator_copy_rows")
        finally:
            duck_conn.unregister("emulator_copy_rows")
    return results


def _target(into: exp.Expression, database: str | None, schema: str | None) -> tuple[str, list[str]]:
    table = into.this if isinstance(into, exp.Schema) else into
    columns = [_name(c) for c in into.expressions] if isinstance(into, exp.Schema) else []
    if not columns:
        raise CopyError(1003, "the emulator copies into a named column list only")
    parts = [_name(p) for p in (table.args.get("catalog"), table.args.get("db"), table.this) if p is not None]
    parts = [database, schema][: 3 - len(parts)] + parts if len(parts) < 3 else parts
    return ".".join(f'"{p}"' for p in parts), columns


def _name(identifier: exp.Expression) -> str:
    ident = identifier.this if isinstance(identifier, exp.Column) else identifier
    return ident.this if getattr(ident, "quoted", False) else str(ident.this).upper()


def _parameters(copy: exp.Copy) -> dict[str, Any]:
    found = {}
    for parameter in copy.args.get("params") or []:
        name = parameter.this.name.upper()
        if name == "FILE_FORMAT":
            found[name] = parse_options(parameter.expressions)
        elif name == "FILES":
            found[name] = [literal.name for literal in parameter.find_all(exp.Literal)]
        elif name == "FORCE":
            found[name] = True
        else:
            found[name] = parameter.expression.name if parameter.expression is not None else True
    return found


def _file_format(options: dict[str, Any] | None, duck_conn, database, schema) -> dict[str, Any]:
    options = dict(options or {})
    if "FORMAT_NAME" in options:
        options = {**lookup_file_format(duck_conn, str(options.pop("FORMAT_NAME")), database, schema), **options}
    kind = str(options.get("TYPE", "CSV")).upper()
    allowed = CSV_OPTIONS if kind == "CSV" else PARQUET_OPTIONS if kind == "PARQUET" else set()
    unknown = set(options) - allowed
    if not allowed or unknown:
        raise CopyError(1008, f"file format options the emulator does not take: {sorted(unknown) or kind}")
    if kind == "CSV":
        if str(options.get("ESCAPE_UNENCLOSED_FIELD", "\\")).upper() != "NONE":
            raise CopyError(1008, "the emulator reads CSV with ESCAPE_UNENCLOSED_FIELD = NONE only")
        if str(options.get("ENCODING", "UTF8")).upper().replace("-", "") != "UTF8":
            raise CopyError(1008, "the emulator reads UTF8 files only")
    return {**options, "TYPE": kind}


def _staged_files(root: Path, prefix: str, parameters: dict[str, Any]) -> list[str]:
    base = PurePosixPath(prefix) if prefix else PurePosixPath()
    if "FILES" in parameters:
        names = [str(base / name) for name in parameters["FILES"]]
        missing = [n for n in names if not (root / n).is_file()]
        if missing:
            raise CopyError(91016, f"Remote file '{missing[0]}' was not found.")
        return names
    found = sorted(p.relative_to(root).as_posix() for p in (root / base).rglob("*") if p.is_file())
    pattern = parameters.get("PATTERN")
    return [n for n in found if not pattern or re.fullmatch(pattern, n)]


def _records(path: Path, file_format: dict[str, Any], width: int, name: str) -> list[tuple[int, list]]:
    if file_format["TYPE"] == "PARQUET":
        table = pq.read_table(path)
        columns = {n: [None if v is None else str(v) for v in table.column(n).to_pylist()] for n in table.column_names}
        return [(i + 1, {n: columns[n][i] for n in columns}) for i in range(table.num_rows)]
    raw = path.read_bytes()
    compression = str(file_format.get("COMPRESSION", "AUTO")).upper()
    if compression == "GZIP" or (compression == "AUTO" and raw[:2] == b"\x1f\x8b"):
        raw = gzip.decompress(raw)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise CopyError(100184, f"Invalid UTF8 detected in string at line {line} of file '{name}'") from None
    quote = str(file_format.get("FIELD_OPTIONALLY_ENCLOSED_BY", "NONE"))
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=str(file_format.get("FIELD_DELIMITER", ",")),
        quotechar=quote if quote.upper() != "NONE" else None, quoting=csv.QUOTE_MINIMAL if quote.upper() != "NONE" else csv.QUOTE_NONE,
        doublequote=True, strict=True,
    )
    null_if = file_format.get("NULL_IF", ["\\N"])
    null_if = set(null_if if isinstance(null_if, list) else [null_if])
    empty_is_null = file_format.get("EMPTY_FIELD_AS_NULL", True) not in (False, "FALSE")
    skip = int(file_format.get("SKIP_HEADER", 0))
    records = []
    try:
        for number, fields in enumerate(reader, start=1):
            if number <= skip:
                continue
            if file_format.get("ERROR_ON_COLUMN_COUNT_MISMATCH", True) not in (False, "FALSE") and len(fields) != width:
                raise CopyError(
                    100080,
                    f"Number of columns in file ({len(fields)}) does not match that of the corresponding table ({width}), "
                    f"use file format option error_on_column_count_mismatch=false to ignore this error. File '{name}', line {reader.line_num}",
                )
            values = [None if (v == "" and empty_is_null) or v in null_if else v for v in fields]
            records.append((number - skip, values))
    except csv.Error as error:
        raise CopyError(100065, f"Found character instead of field delimiter: {error}. File '{name}', line {reader.line_num}") from None
    return records


def _value(expression: exp.Expression, record, name: str, number: int):
    if isinstance(expression, exp.Parameter):  # $n
        position = int(expression.this.this)
        return record[position - 1] if position <= len(record) else None
    if isinstance(expression, exp.Cast) and isinstance(expression.this, exp.JSONExtract):  # $1:"col"::VARCHAR
        key = expression.this.expression.expressions[-1].this
        return record.get(key)
    if isinstance(expression, exp.Column):
        metadata = expression.name.upper()
        if metadata == "METADATA$FILENAME":
            return name
        if metadata == "METADATA$FILE_ROW_NUMBER":
            return number
    raise CopyError(2025, f"the emulator does not copy {expression.sql(dialect='snowflake')}")
