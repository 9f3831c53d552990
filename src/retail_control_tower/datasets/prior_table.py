"""Warehouse tables that may not exist yet: optional tables, and prior state read-only."""

from __future__ import annotations

from typing import Any

import ibis.expr.types as ir
from kedro.io import DatasetError
from retail_control_tower.datasets.warehouse_table import WarehouseTableDataset


class OptionalTableDataset(WarehouseTableDataset):
    """A warehouse table that loads as ``None`` while it does not exist (e.g. before the first
    training run), so the reading node can say what to run instead of failing on a missing table."""

    def load(self) -> ir.Table | None:
        if not self._exists_in_schema():
            return None
        return super().load()

    def _exists_in_schema(self) -> bool:
        if self.database and self.database not in self.connection.list_databases():
            return False
        return self.exists()


class PriorTableDataset(OptionalTableDataset):
    """A warehouse table read as prior state; ``None`` on the first run, when it does not exist.

    Incremental nodes need what a table held before this run (the files already in Bronze,
    the loads already applied to Silver). Kedro forbids a node from reading its own output, so
    the same physical table gets a second catalog name, ``prior_<SCHEMA>_<TABLE>``. The table
    name is the only thing it shares with the writable entry: it cannot be saved through.
    """

    def save(self, data: ir.Table) -> None:
        raise DatasetError(f"{self.database}.{self.table_name} is read as prior state and cannot be saved")

    def _describe(self) -> dict[str, Any]:
        return {"table_name": self.table_name, "database": self.database, "role": "prior state"}
