"""A warehouse table whose partitions (e.g. score dates) are replaced atomically on save."""

from __future__ import annotations

from typing import Any

import ibis.expr.types as ir
import pandas as pd
import sqlglot as sg
import sqlglot.expressions as sge
from retail_control_tower.datasets.warehouse_table import WarehouseTableDataset


class PartitionReplaceTableDataset(WarehouseTableDataset):
    """Saving replaces the rows of every ``partition_column`` value (a date) present in the data, in one
    transaction, and keeps all other partitions.

    Re-scoring a date therefore never leaves that date half old and half new, and never
    duplicates it; earlier dates stay as they were. The first save creates the table.
    """

    def __init__(self, *, partition_column: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._partition_column = partition_column

    def save(self, data: ir.Table | pd.DataFrame) -> None:
        if not self.exists():
            self.connection.create_table(self.table_name, data, database=self.database)
            return
        values = self._partition_values(data)
        if not values:
            return
        target = sg.table(self.table_name, db=self.database, quoted=True)
        condition = sg.column(self._partition_column, quoted=True).isin(
            *[sge.Cast(this=sge.Literal.string(str(v)), to=sge.DataType.build("date")) for v in values]
        )
        delete = sge.Delete(this=target, where=sge.Where(this=condition)).sql(dialect=self.connection.dialect)
        self.connection.raw_sql("BEGIN TRANSACTION")
        try:
            self.connection.raw_sql(delete)
            self.connection.insert(self.table_name, data, database=self.database)
        except Exception:
            self.connection.raw_sql("ROLLBACK")
            raise
        self.connection.raw_sql("COMMIT")

    def _partition_values(self, data: ir.Table | pd.DataFrame) -> list[Any]:
        column = self._partition_column
        if isinstance(data, pd.DataFrame):
            series = pd.to_datetime(data[column]).dt.date
            return sorted(series.dropna().unique())
        distinct = data.select(column).distinct().to_pyarrow()[column].to_pylist()
        return sorted(v for v in distinct if v is not None)

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "partition_column": self._partition_column, "mode": "replace partitions"}

