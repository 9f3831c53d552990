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

    What hooks and tools need to know of the table is public here (``table_name``, ``database``,
    ``mode``, ``upsert_on``, ``connection_config``): TableDataset keeps its own copies private.
    """

    def __init__(
        self,
        *,
        table_name: str,
        database: str | None = None,
        connection: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            table_name=table_name, database=database, connection=connection, credentials=credentials,
            load_args=load_args, save_args=save_args, metadata=metadata,
        )
        self.table_name = table_name
        self.database = database
        self.connection_config = {**(connection or self.DEFAULT_CONNECTION_CONFIG), **(credentials or {})}
        self.mode = {**self.DEFAULT_SAVE_ARGS, **(save_args or {})}["mode"]
        self.upsert_on = self._upsert_keys((save_args or {}).get("on")) if self.mode == "upsert" else []

    @property
    def connection(self) -> Any:
        """The engine of this dataset's block, shared with every dataset on it (``warehouse.CONNECTIONS``)."""
        return warehouse.CONNECTIONS.get(self.connection_config)

    def save(self, data: ir.Table) -> None:
        if self.mode != "upsert" or not self.exists():
            super().save(data)
            return
        self._merge(data, self.upsert_on)

    def _upsert_keys(self, on: Any) -> list[str]:
        if isinstance(on, Mapping):
            if self.table_name not in on:
                raise DatasetError(f"No upsert key for {self.database}.{self.table_name}: 'on' names {sorted(on)}")
            on = on[self.table_name]
        if not on:
            raise DatasetError(f"An upsert into {self.database}.{self.table_name} needs 'on': its key column(s)")
        return [on] if isinstance(on, str) else list(on)

    def _merge(self, data: ir.Table, keys: list[str]) -> None:
        """``MERGE`` the rows into the table: update the rows whose key columns match, insert the rest."""
        target_columns = self.connection.get_schema(self.table_name, database=self.database).names
        self.connection.raw_sql(self.merge_sql(data, keys, target_columns))

    def merge_sql(self, data: ir.Table, keys: list[str], target_columns: list[str], dialect: str | None = None) -> str:
        """The ``MERGE`` statement of an upsert of ``data`` into this table: in the engine's
        dialect, or in ``dialect`` (as another engine would run it)."""
        missing = [c for c in keys if c not in data.columns or c not in target_columns]
        if missing:
            raise DatasetError(f"Upsert key {missing} is not a column of both the rows and {self.database}.{self.table_name}")
        columns = [c for c in target_columns if c in data.columns]
        if dialect == "snowflake":
            source = warehouse.snowflake_sql(data)
        else:
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
            into=sg.table(self.table_name, db=self.database, quoted=True).as_(sg.to_identifier("target", quoted=True), table=True),
            using=f"({source}) AS {sg.to_identifier('source', quoted=True).sql(dialect)}",
            on=sg.and_(*[column(c, "target").eq(column(c, "source")) for c in keys]),
            dialect=dialect,
        )
        return merge.sql(dialect=dialect)

    def _describe(self) -> dict[str, Any]:
        described = super()._describe()
        if self.mode == "upsert":
            described["upsert_on"] = self.upsert_on
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
