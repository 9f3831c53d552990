"""A warehouse table whose partitions (e.g. score dates) are replaced atomically on save."""

from __future__ import annotations

import uuid
from typing import Any

import ibis.expr.types as ir
import pandas as pd
import sqlglot as sg
import sqlglot.expressions as sge
from retail_control_tower.datasets.warehouse_table import WarehouseTableDataset


class PartitionReplaceTableDataset(WarehouseTableDataset):
    """Saving replaces the rows of every ``partition_column`` value (a date) present in the data, in one
    transaction (a DELETE and an INSERT from the rows uploaded beforehand), and keeps all other
    partitions.

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
        # The rows are uploaded before the transaction: an upload creates a temporary table (DDL),
        # and Snowflake commits an open transaction before any DDL, which would cut the delete
        # from the insert. Inside the transaction: a DELETE and an INSERT ... SELECT, nothing else.
        staged = f"_STAGED_{self.table_name}_{uuid.uuid4().hex[:8].upper()}"
        self.connection.create_table(staged, data, temp=True)
        try:
            dialect = self.connection.dialect
            target = sg.table(self.table_name, db=self.database, quoted=True)
            condition = sg.column(self._partition_column, quoted=True).isin(
                *[sge.Cast(this=sge.Literal.string(str(v)), to=sge.DataType.build("date")) for v in values]
            )
            delete = sge.Delete(this=target, where=sge.Where(this=condition)).sql(dialect=dialect)
            names = [str(c) for c in data.columns]
            rows = sg.select(*[sg.column(c, quoted=True) for c in names]).from_(sg.table(staged, quoted=True))
            insert = sge.insert(rows, target, columns=[sg.to_identifier(c, quoted=True) for c in names]).sql(dialect=dialect)
            self.connection.raw_sql("BEGIN TRANSACTION")
            try:
                self.connection.raw_sql(delete)
                self.connection.raw_sql(insert)
            except Exception:
                self.connection.raw_sql("ROLLBACK")
                raise
            self.connection.raw_sql("COMMIT")
        finally:
            self.connection.drop_table(staged, force=True)

    def _partition_values(self, data: ir.Table | pd.DataFrame) -> list[Any]:
        column = self._partition_column
        if isinstance(data, pd.DataFrame):
            series = pd.to_datetime(data[column]).dt.date
            return sorted(series.dropna().unique())
        distinct = data.select(column).distinct().to_pyarrow()[column].to_pylist()
        return sorted(v for v in distinct if v is not None)

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "partition_column": self._partition_column, "mode": "replace partitions"}

