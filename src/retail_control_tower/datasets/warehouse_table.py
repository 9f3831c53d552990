"""The base of every warehouse dataset: an Ibis table on the configured engine."""

from __future__ import annotations

from typing import Any

from kedro_datasets.ibis import TableDataset

from retail_control_tower import warehouse


class WarehouseTableDataset(TableDataset):
    """``ibis.TableDataset`` whose connection comes from :func:`retail_control_tower.warehouse.connect`:
    DuckDB as configured, or Snowflake through a Snowpark session whose credentials are found in
    ``connections.toml``, the environment or a Databricks secret scope (with a clear error
    naming all three when none is there)."""

    def _connect(self) -> Any:
        return warehouse.connect(self._connection_config)


class WarehouseConnectionDataset(WarehouseTableDataset):
    """The engine itself, for checks that are about the connection (the ``smoke`` pipeline)."""

    def __init__(self, *, connection: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        super().__init__(table_name="__connection__", connection=connection, metadata=metadata)

    def load(self) -> Any:
        return self.connection

    def save(self, data: Any) -> None:
        raise NotImplementedError("The warehouse connection is read-only")

    def _exists(self) -> bool:
        return True
