"""One row per raw file of an entity (name, fingerprint, rows read), for the load log; and the
hook that hands it the reads of the dataset that streamed the same files into Bronze."""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline

from retail_control_tower.datasets.raw_files import RawFilesDataset, file_key

MANIFEST_SCHEMA = pa.schema([("SOURCE_FILE", pa.string()), ("FILE_FINGERPRINT", pa.string()), ("RAW_ROWS", pa.int64())])


class RawFileManifestDataset(RawFilesDataset):
    """The raw files of one entity, one row each: ``SOURCE_FILE``, ``FILE_FINGERPRINT`` and
    ``RAW_ROWS`` (its data rows); ``None`` when there is no file.

    Given the reads of the dataset that streamed the files into Bronze (``count_with``), a file's
    rows are the ones that reader handed over; a file it did not stream (a Parquet file, a run of
    the load log alone, a file changed since) is read and counted here.
    """

    def count_with(self, reader: RawFilesDataset) -> None:
        """Takes ``reader``'s fingerprints and row counts (and shares whatever it learns later)."""
        if (reader.directory, reader.entity) != (self.directory, self.entity):
            raise ValueError(f"{reader.directory}/{reader.entity} files are not {self.directory}/{self.entity} files")
        self.reads = reader.reads

    def load(self) -> ir.Table | None:  # type: ignore[override]
        files = self.files()
        if not files:
            return None
        rows = []
        for path in files:
            relative, digest = path.relative_to(self.directory).as_posix(), self._digest(path)
            counted = self.reads.rows.get(file_key(path))
            if counted is None and self.connection.name == "snowflake":
                self._land([(path, relative, digest, None)])  # COPY INTO answers with the rows loaded
                counted = self.reads.rows[file_key(path)]
            elif counted is None:
                counted = self._read(path, relative, digest, None).count().to_pyarrow().as_py()
            rows.append({"SOURCE_FILE": relative, "FILE_FINGERPRINT": digest, "RAW_ROWS": counted})
        return ibis.memtable(pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA))


class RawFileReadsHook:
    """Before a run, hands every file manifest of the pipeline the reads of the raw dataset of
    the same files in it, so the load log counts what Bronze was handed."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog) -> None:
        readers: dict[tuple[Any, str], RawFilesDataset] = {}
        manifests: list[RawFileManifestDataset] = []
        for name in sorted(pipeline.datasets()):
            dataset = catalog.get(name)  # declared datasets only: no runtime MemoryDataset is made here
            if isinstance(dataset, RawFileManifestDataset):
                manifests.append(dataset)
            elif isinstance(dataset, RawFilesDataset):
                readers[(dataset.directory, dataset.entity)] = dataset
        for manifest in manifests:
            reader = readers.get((manifest.directory, manifest.entity))
            if reader is not None:
                manifest.count_with(reader)
