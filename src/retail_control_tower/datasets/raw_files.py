"""Raw input files of one entity (CSV or Parquet), read through the warehouse engine as text."""

from __future__ import annotations

import csv
import gzip
import hashlib
import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from kedro.io import AbstractDataset, DatasetError

from retail_control_tower import warehouse
from retail_control_tower.datasets import snowflake_landing
from retail_control_tower.datasets.csv_errors import locate_bad_utf8, locate_csv_problem

SUFFIXES = (".csv", ".csv.gz", ".parquet")
FILE_COLUMNS = ("SOURCE_FILE", "SOURCE_ROW", "FILE_FINGERPRINT", "DUPLICATE_OF")

# Explicit CSV dialect: sniffing a small batch file can guess a different quote or delimiter
# than the one the exporter used, which would shift values between columns silently. An empty
# field (quoted or not) is missing; every other value is kept as the text that was sent.
# (Snowflake's landing spells the same dialect as a file format: snowflake_landing.CSV_FORMAT.)
CSV_PARSE = pacsv.ParseOptions(delimiter=",", quote_char='"', double_quote=True, escape_char=False, newlines_in_values=True)
CSV_BLOCK_BYTES = 16 * 1024 * 1024

FileKey = tuple[str, int, int]


def file_key(path: Path) -> FileKey:
    """A file as it is now: its path, size and modification time (a changed file is another file)."""
    status = path.stat()
    return str(path.resolve()), status.st_size, status.st_mtime_ns


@dataclass
class FileReads:
    """What a reader learnt about files, by :func:`file_key`: each file's SHA-256, and its row
    count once a stream handed every row to the engine.

    Bronze and the load log read the same files in one run; handed Bronze's reads (by
    ``RawFileReadsHook``), the load log counts rows without parsing every file a second time.
    """

    fingerprints: dict[FileKey, str] = field(default_factory=dict)
    rows: dict[FileKey, int] = field(default_factory=dict)


class RawFilesDataset(AbstractDataset[None, ir.Table]):
    """All raw files of one entity in the input folder, as one Ibis table of text columns.

    Files found for entity ``orders`` in ``directory``: ``orders.csv``, ``orders_<batch>.csv``,
    ``orders/<anything>.csv`` (and the same with ``.csv.gz`` / ``.parquet``). Every value is
    read as text (Bronze keeps what the source sent; typing happens in Silver), column names
    are upper-cased, and lineage columns are added: ``SOURCE_FILE`` (path relative to the
    folder), ``SOURCE_ROW`` (1-based row within the file), ``FILE_FINGERPRINT`` (SHA-256 of the
    file's bytes, whatever its name) and ``DUPLICATE_OF`` (the earlier file of this listing with
    the very same bytes, else null).

    Structural problems are errors that name the file: a required entity with no file, an
    empty file, a header without data rows, files of one entity with different columns.
    The connection is the warehouse's, so the files can be joined with warehouse tables.

    On DuckDB a CSV file is streamed through Arrow's CSV reader, which numbers the rows as
    they are parsed; numbering them in SQL (``ROW_NUMBER() OVER ()``) made the engine keep
    the whole file in order and doubled the cost of a Bronze load. A Parquet file's rows are
    numbered by DuckDB's ``file_row_number``. Each ``load()`` opens the files again, so a loaded
    table can be read by one query; the nodes that read raw files read them once.

    On Snowflake the files are staged with ``PUT`` and landed with ``COPY INTO`` a temporary
    table (``snowflake_landing``: the same file format and lineage as the bootstrap script
    ``sql/snowflake/03_raw_landing.sql``), ``SOURCE_ROW`` being ``METADATA$FILE_ROW_NUMBER``.
    So ``SOURCE_ROW`` is a row's number in its file on both engines, the same on every run.

    What it learns about the files (fingerprints, rows streamed) is kept in ``reads``.
    """

    def __init__(
        self,
        *,
        directory: str,
        entity: str,
        required: bool = False,
        connection: dict[str, Any],
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.entity = entity
        self._required = required
        self._connection_config = dict(connection)
        self.metadata = metadata
        self.reads = FileReads()

    @property
    def connection(self) -> Any:
        """The warehouse's engine (shared with the warehouse tables, so raw rows join them)."""
        return warehouse.CONNECTIONS.get(self._connection_config)

    def files(self) -> list[Path]:
        """The entity's files in a stable order (batch files sort by their names)."""
        found: set[Path] = set()
        for suffix in SUFFIXES:
            found.update(self.directory.glob(f"{self.entity}{suffix}"))
            found.update(self.directory.glob(f"{self.entity}_*{suffix}"))
            found.update(self.directory.glob(f"{self.entity}/*{suffix}"))
        return sorted(found)

    def load(self) -> ir.Table | None:
        files = self.files()
        if not files:
            if self._required:
                raise DatasetError(
                    f"Required input '{self.entity}' not found in {self.directory}: expected "
                    f"{self.entity}.csv, {self.entity}_<batch>.csv or {self.entity}/*.csv "
                    "(or .parquet). See the input contract in docs/data-contract.md."
                )
            return None
        first_with_digest: dict[str, str] = {}
        listing = []
        for path in files:
            digest = self._digest(path)
            relative = path.relative_to(self.directory).as_posix()
            duplicate_of = first_with_digest.setdefault(digest, relative)
            listing.append((path, relative, digest, None if duplicate_of == relative else duplicate_of))
        if self.connection.name == "snowflake":
            tables = self._land(listing)
        else:
            tables = [self._read(*listed) for listed in listing]
        columns = [[c for c in table.columns if c not in FILE_COLUMNS] for table in tables]
        for path, cols in zip(files[1:], columns[1:]):
            if set(cols) != set(columns[0]):
                raise DatasetError(
                    f"{path}: columns {sorted(cols)} differ from {files[0].name}'s {sorted(columns[0])}; "
                    f"all files of '{self.entity}' must share one header"
                )
        return ibis.union(*[table.select(*columns[0], *FILE_COLUMNS) for table in tables])

    def _land(self, listing: list[tuple[Path, str, str, str | None]]) -> list[ir.Table]:
        """Snowflake: the files staged with PUT and copied with COPY INTO (``snowflake_landing``),
        one table per header layout; each file's row count is remembered for the load log."""
        raw_files = []
        for path, relative, digest, duplicate_of in listing:
            if path.stat().st_size == 0:
                raise DatasetError(f"{path}: the file is empty (0 bytes); expected a header and data rows")
            names = _parquet_columns(path) if path.name.endswith(".parquet") else _csv_header(path)
            if "SOURCE_ROW" in [name.strip().upper() for name in names]:
                raise DatasetError(f"{path}: 'SOURCE_ROW' is a lineage column name and cannot be an input column")
            raw_files.append(snowflake_landing.RawFile(path, relative, digest, duplicate_of, tuple(names)))
        headers = [{name.strip().upper() for name in raw.columns} for raw in raw_files]
        for raw, header in zip(raw_files[1:], headers[1:]):  # before anything is uploaded
            if header != headers[0]:
                raise DatasetError(
                    f"{raw.path}: columns {sorted(header)} differ from {raw_files[0].path.name}'s {sorted(headers[0])}; "
                    f"all files of '{self.entity}' must share one header"
                )
        try:
            tables, rows = snowflake_landing.land(self.connection, self.entity, raw_files)
        except snowflake_landing.LandingError as exc:
            raise DatasetError(str(exc)) from exc
        except Exception as exc:  # Snowflake's message names the file, the line and the problem
            raise DatasetError(f"{self.directory / self.entity}*: cannot be landed as {self.entity} input: {exc}") from exc
        for raw in raw_files:
            self.reads.rows[file_key(raw.path)] = rows[raw.relative]
        return tables

    def _read(self, path: Path, relative: str, digest: str, duplicate_of: str | None) -> ir.Table:
        """DuckDB: a CSV file streamed through Arrow's reader, a Parquet file read by the engine;
        each row numbered within its file (``SOURCE_ROW``) as the file orders them."""
        if path.stat().st_size == 0:
            raise DatasetError(f"{path}: the file is empty (0 bytes); expected a header and data rows")
        if self.connection.name != "duckdb":
            raise DatasetError(f"Raw files are read on DuckDB or landed on Snowflake, not on {self.connection.name}")
        parquet = path.name.endswith(".parquet")
        try:
            if parquet:
                table = self.connection.read_parquet(path, file_row_number=True)
                table = table.mutate(SOURCE_ROW=(table.file_row_number + 1).cast("int64")).drop("file_row_number")
                table = table.cast({name: "string" for name in table.columns if name != "SOURCE_ROW"})
                has_rows = table.limit(1).count().execute() > 0
            else:
                table, has_rows = self._stream_csv(path), True
        except DatasetError:
            raise
        except Exception as exc:  # the engine's message names the line and the problem
            raise DatasetError(f"{path}: cannot be read as {self.entity} input: {exc}") from exc
        if not has_rows:
            raise DatasetError(f"{path}: has a header but no data rows")
        table = table.rename({name.strip().upper(): name for name in table.columns if name != "SOURCE_ROW"})
        return table.mutate(
            SOURCE_FILE=ibis.literal(relative),
            FILE_FINGERPRINT=ibis.literal(digest),
            DUPLICATE_OF=ibis.literal(duplicate_of, type="string"),
        )

    def _stream_csv(self, path: Path) -> ir.Table:
        """The file as a table of text columns plus ``SOURCE_ROW``, parsed by Arrow as DuckDB scans it."""
        names = _csv_header(path)
        if "SOURCE_ROW" in [name.strip().upper() for name in names]:
            raise DatasetError(f"{path}: 'SOURCE_ROW' is a lineage column name and cannot be an input column")
        schema = pa.schema([*(pa.field(name, pa.string()) for name in names), pa.field("SOURCE_ROW", pa.int64())])
        batches = _numbered_batches(path, names, self.reads)
        first = next(batches, None)
        if first is None:
            raise DatasetError(f"{path}: has a header but no data rows")
        view = f"raw_{self.entity}_{uuid.uuid4().hex[:12]}"
        self.connection.con.register(view, pa.RecordBatchReader.from_batches(schema, itertools.chain([first], batches)))
        return self.connection.table(view)

    def _digest(self, path: Path) -> str:
        key = file_key(path)
        if key not in self.reads.fingerprints:
            self.reads.fingerprints[key] = _sha256(path)
        return self.reads.fingerprints[key]

    def save(self, data: None) -> None:
        raise DatasetError(f"Raw input '{self.entity}' is read-only")

    def _exists(self) -> bool:
        return bool(self.files())

    def _describe(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "entity": self.entity, "required": self._required}


def _csv_options(names: list[str]) -> dict[str, Any]:
    return {
        # The header was read already (BOM-aware): Arrow takes its names and skips that record.
        "read_options": pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES, column_names=names, skip_rows=1),
        "parse_options": CSV_PARSE,
        "convert_options": pacsv.ConvertOptions(
            column_types={name: pa.string() for name in names},
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    }


def _csv_error(path: Path, exc: Exception) -> DatasetError:
    """The reader's error naming the file, the line and the likely cause (``csv_errors``)."""
    if "UTF8" in str(exc) or isinstance(exc, UnicodeDecodeError):
        line = locate_bad_utf8(path)
        return DatasetError(f"{path}: is not UTF-8 encoded{f' at line {line}' if line else ''} ({exc}); save the file as UTF-8")
    problem = locate_csv_problem(path)
    if problem:
        return DatasetError(f"{path}: cannot be parsed as CSV at {problem}")
    # Arrow's message quotes the record, which may be every line an unclosed quote swallowed.
    message = str(exc)
    return DatasetError(f"{path}: cannot be parsed as CSV: {message[:300]}{' ...' if len(message) > 300 else ''}")


def _parquet_columns(path: Path) -> list[str]:
    import pyarrow.parquet as pq  # noqa: PLC0415

    try:
        return list(pq.read_schema(path).names)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DatasetError(f"{path}: cannot be read as Parquet: {exc}") from exc


def _csv_header(path: Path) -> list[str]:
    """The column names of a CSV file (gzip-compressed or not): its first record, in the same
    dialect as the data."""
    try:
        opened = gzip.open(path, "rt", newline="", encoding="utf-8-sig") if path.name.endswith(".gz") else path.open(newline="", encoding="utf-8-sig")
        with opened as handle:
            return next(csv.reader(handle, delimiter=",", quotechar='"', doublequote=True, strict=True), [])
    except UnicodeDecodeError as exc:
        raise _csv_error(path, exc) from exc
    except csv.Error as exc:
        raise DatasetError(f"{path}: the header cannot be parsed as CSV: {exc}") from exc


def _numbered_batches(path: Path, names: list[str], reads: FileReads) -> Iterator[pa.RecordBatch]:
    """The file's rows in order, as text, each numbered from 1 (``SOURCE_ROW``). Once every
    row was handed over, their number is recorded in ``reads``."""
    try:
        key = file_key(path)
        reader = pacsv.open_csv(path, **_csv_options(names))
        offset = 0
        for batch in reader:
            rows = np.arange(offset + 1, offset + batch.num_rows + 1, dtype=np.int64)
            offset += batch.num_rows
            yield pa.RecordBatch.from_arrays([*batch.columns, pa.array(rows)], names=[*names, "SOURCE_ROW"])
        reads.rows[key] = offset
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise _csv_error(path, exc) from exc
    finally:
        # Arrow's allocator keeps freed blocks for reuse; once a file is read they are only
        # memory the warehouse engine cannot use (about 0.5 GB after 49M order lines).
        pa.default_memory_pool().release_unused()


def _sha256(path: Path) -> str:
    """The file's content fingerprint; streaming, so any size fits in memory."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
