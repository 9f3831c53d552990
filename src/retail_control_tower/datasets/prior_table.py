"""Read-only view of a warehouse table as it stood before the node that writes it ran."""

from __future__ import annotations

from typing import Any

import ibis.expr.types as ir
from kedro.io import DatasetError
from kedro_datasets.ibis import TableDataset


class PriorTableDataset(TableDataset):
    """A warehouse table read as prior state; ``None`` on the first run, when it does not exist.

    Incremental nodes need what a table held before this run (the files already in Bronze,
    the loads already applied to Silver). Kedro forbids a node from reading its own output, so
    the same physical table gets a second catalog name, ``prior_<SCHEMA>_<TABLE>``. The table
    name is the only thing it shares with the writable entry: it cannot be saved through.
    """

    def load(self) -> ir.Table | None:
        if not self._exists_in_schema():
            return None
        return super().load()

    def save(self, data: ir.Table) -> None:
        raise DatasetError(f"{self._database}.{self._table_name} is read as prior state and cannot be saved")

    def _exists_in_schema(self) -> bool:
        if self._database and self._database not in self.connection.list_databases():
            return False
        return self._exists()

    def _describe(self) -> dict[str, Any]:
        return {"table_name": self._table_name, "database": self._database, "role": "prior state"}
