"""The base of every warehouse dataset: an Ibis table on the configured engine."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ibis
import ibis.expr.types as ir
import sqlglot as sg
import sqlglot.expressions as sge
from kedro.io import DatasetError
from kedro_datasets.ibis import TableDataset

from retail_control_tower import warehouse


class WarehouseTableDataset(TableDataset):
    """``ibis.TableDataset`` whose connection comes from :func:`retail_control_tower.warehouse.connect`:
    DuckDB as configured, or Snowflake through a Snowpark session whose credentials are found in
    ``connections.toml``, the environment or a Databricks secret scope (with a clear error
    naming all three when none is there).

    An upsert's ``on`` may name several key columns, or map table names to their key columns
    (so one dataset factory serves tables with different keys). Ibis upserts on one column; a
    composite key would otherwise need a joined text column stored on every row.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._upsert_on = self._upsert_keys() if self._mode == "upsert" else []

    def _connect(self) -> Any:
        return warehouse.connect(self._connection_config)

    def save(self, data: ir.Table) -> None:
        if self._mode != "upsert" or not self._exists():
            super().save(data)
            return
        self._merge(data, self._upsert_on)

    def _upsert_keys(self) -> list[str]:
        on = self._save_args.get("on")
        if isinstance(on, Mapping):
            if self._table_name not in on:
                raise DatasetError(f"No upsert key for {self._database}.{self._table_name}: 'on' names {sorted(on)}")
            on = on[self._table_name]
        if not on:
            raise DatasetError(f"An upsert into {self._database}.{self._table_name} needs 'on': its key column(s)")
        return [on] if isinstance(on, str) else list(on)

    def _merge(self, data: ir.Table, keys: list[str]) -> None:
        """``MERGE`` the rows into the table: update the rows whose key columns match, insert the rest."""
        target_columns = self.connection.get_schema(self._table_name, database=self._database).names
        self.connection.raw_sql(self.merge_sql(data, keys, target_columns))

    def merge_sql(self, data: ir.Table, keys: list[str], target_columns: list[str], dialect: str | None = None) -> str:
        """The ``MERGE`` statement of an upsert of ``data`` into this table: in the engine's
        dialect, or in ``dialect`` (as another engine would run it)."""
        missing = [c for c in keys if c not in data.columns or c not in target_columns]
        if missing:
            raise DatasetError(f"Upsert key {missing} is not a column of both the rows and {self._database}.{self._table_name}")
        columns = [c for c in target_columns if c in data.columns]
        source = ibis.to_sql(data, dialect=dialect) if dialect else self.connection.compile(data)
        dialect = dialect or self.connection.dialect

        def column(name: str, table: str | None = None) -> sge.Column:
            return sg.column(name, table=table, quoted=True)

        merge = sge.merge(
            sge.When(
                matched=True,
                then=sge.Update(expressions=[column(c).eq(column(c, "source")) for c in columns if c not in keys]),
            ),
            sge.When(
                matched=False,
                then=sge.Insert(
                    this=sge.Tuple(expressions=[column(c) for c in columns]),
                    expression=sge.Tuple(expressions=[column(c, "source") for c in columns]),
                ),
            ),
            into=sg.table(self._table_name, db=self._database, quoted=True).as_(sg.to_identifier("target", quoted=True), table=True),
            using=f"({source}) AS {sg.to_identifier('source', quoted=True).sql(dialect)}",
            on=sg.and_(*[column(c, "target").eq(column(c, "source")) for c in keys]),
            dialect=dialect,
        )
        return merge.sql(dialect=dialect)

    def _describe(self) -> dict[str, Any]:
        described = super()._describe()
        if self._mode == "upsert":
            described["upsert_on"] = self._upsert_on
        return described


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
