"""Raw input files of one entity (CSV or Parquet), read through the warehouse engine as text."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, ClassVar

import ibis
import ibis.expr.types as ir
from kedro.io import AbstractDataset, DatasetError
from kedro_datasets._utils import ConnectionMixin

from retail_control_tower import warehouse

SUFFIXES = (".csv", ".csv.gz", ".parquet")
FILE_COLUMNS = ("SOURCE_FILE", "SOURCE_ROW", "FILE_FINGERPRINT", "DUPLICATE_OF")

# Explicit CSV dialect: sniffing a small batch file can guess a different quote or delimiter
# than the one the exporter used, which would shift values between columns silently.
CSV_OPTIONS = {"header": True, "all_varchar": True, "delim": ",", "quote": '"', "escape": '"'}


class RawFilesDataset(ConnectionMixin, AbstractDataset[None, ir.Table]):
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
    """

    _CONNECTION_GROUP: ClassVar[str] = "ibis"

    def __init__(
        self,
        *,
        directory: str,
        entity: str,
        required: bool = False,
        connection: dict[str, Any],
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._directory = Path(directory)
        self._entity = entity
        self._required = required
        self._connection_config = dict(connection)
        self.metadata = metadata
        # Bronze and the load log both load the files in one run: hash each file once.
        self._digests: dict[tuple[Path, int, int], str] = {}

    def _connect(self):
        return warehouse.connect(self._connection_config)

    def files(self) -> list[Path]:
        """The entity's files in a stable order (batch files sort by their names)."""
        found: set[Path] = set()
        for suffix in SUFFIXES:
            found.update(self._directory.glob(f"{self._entity}{suffix}"))
            found.update(self._directory.glob(f"{self._entity}_*{suffix}"))
            found.update(self._directory.glob(f"{self._entity}/*{suffix}"))
        return sorted(found)

    def load(self) -> ir.Table | None:
        files = self.files()
        if not files:
            if self._required:
                raise DatasetError(
                    f"Required input '{self._entity}' not found in {self._directory}: expected "
                    f"{self._entity}.csv, {self._entity}_<batch>.csv or {self._entity}/*.csv "
                    "(or .parquet). See the input contract in README.md."
                )
            return None
        first_with_digest: dict[str, str] = {}
        tables = []
        for path in files:
            digest = self._digest(path)
            relative = path.relative_to(self._directory).as_posix()
            duplicate_of = first_with_digest.setdefault(digest, relative)
            tables.append(self._read(path, relative, digest, None if duplicate_of == relative else duplicate_of))
        columns = [[c for c in table.columns if c not in FILE_COLUMNS] for table in tables]
        for path, cols in zip(files[1:], columns[1:]):
            if set(cols) != set(columns[0]):
                raise DatasetError(
                    f"{path}: columns {sorted(cols)} differ from {files[0].name}'s {sorted(columns[0])}; "
                    f"all files of '{self._entity}' must share one header"
                )
        return ibis.union(*[table.select(*columns[0], *FILE_COLUMNS) for table in tables])

    def _read(self, path: Path, relative: str, digest: str, duplicate_of: str | None) -> ir.Table:
        if path.stat().st_size == 0:
            raise DatasetError(f"{path}: the file is empty (0 bytes); expected a header and data rows")
        try:
            if path.name.endswith(".parquet"):
                table = self._connection.read_parquet(path)
                table = table.cast({name: "string" for name in table.columns})
            else:
                table = self._connection.read_csv(path, **CSV_OPTIONS)
            has_rows = table.limit(1).count().execute() > 0
        except Exception as exc:  # the engine's message names the line and the problem
            raise DatasetError(f"{path}: cannot be read as {self._entity} input: {exc}") from exc
        if not has_rows:
            raise DatasetError(f"{path}: has a header but no data rows")
        table = table.rename({name.strip().upper(): name for name in table.columns})
        return table.mutate(
            SOURCE_FILE=ibis.literal(relative),
            SOURCE_ROW=(ibis.row_number() + 1).cast("int64"),
            FILE_FINGERPRINT=ibis.literal(digest),
            DUPLICATE_OF=ibis.literal(duplicate_of, type="string"),
        )

    def _digest(self, path: Path) -> str:
        status = path.stat()
        key = (path, status.st_size, status.st_mtime_ns)
        if key not in self._digests:
            self._digests[key] = _sha256(path)
        return self._digests[key]

    def save(self, data: None) -> None:
        raise DatasetError(f"Raw input '{self._entity}' is read-only")

    def _exists(self) -> bool:
        return bool(self.files())

    def _describe(self) -> dict[str, Any]:
        return {"directory": str(self._directory), "entity": self._entity, "required": self._required}


def _sha256(path: Path) -> str:
    """The file's content fingerprint; streaming, so any size fits in memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(8 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()
