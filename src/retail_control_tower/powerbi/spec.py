"""The Power BI spec (``powerbi/spec.yml``): which warehouse objects the model reads, their
columns and types, relationships, DAX measures, and the report's pages and visuals.

Other generators read the same file for their column lists (``warehouse_columns``), so a
warehouse object is described once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_SPEC = PROJECT_ROOT / "powerbi" / "spec.yml"

# The spec's column types and the TMDL data type each becomes.
COLUMN_TYPES = {
    "text": "string",
    "int64": "int64",
    "decimal": "decimal",
    "double": "double",
    "date": "dateTime",
    "datetime": "dateTime",
    "boolean": "boolean",
}


class SpecError(ValueError):
    """The spec contradicts itself (an unknown type, a relationship to a missing column...)."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str = ""
    hidden: bool = False
    format: str | None = None
    sort_by: str | None = None

    @property
    def data_type(self) -> str:
        return COLUMN_TYPES[self.type]


@dataclass(frozen=True)
class Measure:
    name: str
    expression: str
    format: str | None = None
    folder: str | None = None
    description: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    schema: str
    object: str
    kind: str  # "Table" or "View", as Snowflake's navigator names them
    columns: tuple[Column, ...]
    measures: tuple[Measure, ...] = ()
    description: str = ""
    distinct: bool = False
    date_table: bool = False
    key: str | None = None

    @property
    def qualified_object(self) -> str:
        return f"{self.schema}.{self.object}"

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    def measure(self, name: str) -> Measure | None:
        return next((m for m in self.measures if m.name == name), None)


@dataclass(frozen=True)
class Relationship:
    from_table: str
    from_column: str
    to_table: str
    to_column: str
    active: bool = True


@dataclass(frozen=True)
class Visual:
    name: str
    type: str
    position: tuple[float, float, float, float]  # x, y, width, height
    fields: dict[str, tuple[str, ...]]  # query role -> "Table.Field" references
    title: str | None = None
    sort: tuple[str, str] | None = None  # "Table.Field", "Ascending" | "Descending"


@dataclass(frozen=True)
class Page:
    name: str
    title: str
    visuals: tuple[Visual, ...]
    width: int = 1280
    height: int = 720


@dataclass(frozen=True)
class Source:
    server: str
    warehouse: str
    database: str
    role: str
    duckdb_file: str
    duckdb_driver: str
    default: str


@dataclass(frozen=True)
class Spec:
    name: str
    culture: str
    compatibility_level: int
    source: Source
    tables: tuple[Table, ...]
    relationships: tuple[Relationship, ...]
    pages: tuple[Page, ...]
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    def table(self, name: str) -> Table:
        for table in self.tables:
            if table.name == name:
                return table
        raise SpecError(f"no table {name!r} in the spec")

    def field_kind(self, reference: str) -> tuple[Table, str, str]:
        """``"Table.Field"`` -> (table, field, "Column" | "Measure")."""
        table_name, _, field_name = reference.partition(".")
        table = self.table(table_name)
        if table.column(field_name):
            return table, field_name, "Column"
        if table.measure(field_name):
            return table, field_name, "Measure"
        raise SpecError(f"{reference!r}: {table_name} has no column or measure {field_name!r}")


def _column(name: str, value: str | dict[str, Any]) -> Column:
    attrs = {"type": value} if isinstance(value, str) else dict(value)
    if attrs.get("type") not in COLUMN_TYPES:
        raise SpecError(f"column {name}: type {attrs.get('type')!r} is not one of {sorted(COLUMN_TYPES)}")
    return Column(name=name, **attrs)


def _table(name: str, body: dict[str, Any]) -> Table:
    schema, _, obj = body["source"].partition(".")
    columns = tuple(_column(n, v) for n, v in body["columns"].items())
    measures = tuple(Measure(name=n, **m) for n, m in (body.get("measures") or {}).items())
    default_kind = "View" if schema == "REPORTING" else "Table"
    return Table(
        name=name,
        schema=schema,
        object=obj,
        kind=body.get("kind", default_kind),
        columns=columns,
        measures=measures,
        description=body.get("description", "").strip(),
        distinct=body.get("distinct", False),
        date_table=body.get("date_table", False),
        key=body.get("key"),
    )


def _relationship(text: str | dict[str, Any]) -> Relationship:
    body = {"join": text} if isinstance(text, str) else dict(text)
    many, arrow, one = body.pop("join").partition("->")
    if not arrow:
        raise SpecError(f"relationship {text!r}: write it as 'MANY_TABLE.COLUMN -> ONE_TABLE.COLUMN'")
    from_table, _, from_column = many.strip().partition(".")
    to_table, _, to_column = one.strip().partition(".")
    return Relationship(from_table, from_column, to_table, to_column, **body)


def _visual(body: dict[str, Any]) -> Visual:
    sort = body.get("sort")
    return Visual(
        name=body["name"],
        type=body["type"],
        position=tuple(body["at"]),
        fields={role: tuple(refs) for role, refs in (body.get("fields") or {}).items()},
        title=body.get("title"),
        sort=(sort["field"], sort.get("direction", "Descending")) if sort else None,
    )


def _check(spec: Spec) -> None:
    """What the generator relies on: every name it writes refers to something in the spec."""
    names = [t.name for t in spec.tables]
    if len(names) != len(set(names)):
        raise SpecError("table names repeat")
    for table in spec.tables:
        for column in table.columns:
            if column.sort_by and not table.column(column.sort_by):
                raise SpecError(f"{table.name}.{column.name}: sort_by {column.sort_by!r} is not a column of the table")
        if table.key and not table.column(table.key):
            raise SpecError(f"{table.name}: key {table.key!r} is not a column of the table")
        if table.date_table and not table.key:
            raise SpecError(f"{table.name}: a date table needs its key (the date column)")
    for rel in spec.relationships:
        for table_name, column_name in ((rel.from_table, rel.from_column), (rel.to_table, rel.to_column)):
            if not spec.table(table_name).column(column_name):
                raise SpecError(f"relationship {rel}: {table_name} has no column {column_name}")
    for page in spec.pages:
        for visual in page.visuals:
            for refs in visual.fields.values():
                for ref in refs:
                    spec.field_kind(ref)
            if visual.sort:
                spec.field_kind(visual.sort[0])


def load_spec(path: str | Path = DEFAULT_SPEC) -> Spec:
    """Reads and checks the spec."""
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    model, source, report = raw["model"], raw["source"], raw["report"]
    spec = Spec(
        name=model["name"],
        culture=model.get("culture", "en-US"),
        compatibility_level=int(model["compatibility_level"]),
        source=Source(
            server=source["snowflake"]["server"],
            warehouse=source["snowflake"]["warehouse"],
            database=source["snowflake"]["database"],
            role=source["snowflake"]["role"],
            duckdb_file=source["duckdb"]["file"],
            duckdb_driver=source["duckdb"]["driver"],
            default=source["default"],
        ),
        tables=tuple(_table(name, body) for name, body in raw["tables"].items()),
        relationships=tuple(_relationship(r) for r in raw.get("relationships", [])),
        pages=tuple(
            Page(name=p["name"], title=p["title"], visuals=tuple(_visual(v) for v in p["visuals"])) for p in report["pages"]
        ),
        raw=raw,
    )
    _check(spec)
    return spec


def warehouse_columns(spec: Spec | None = None) -> dict[str, list[tuple[str, str]]]:
    """Every warehouse object the model reads, ``"SCHEMA.OBJECT"`` -> [(column, spec type)], in
    spec order. Objects read by more than one model table list the union of their columns."""
    spec = spec or load_spec()
    objects: dict[str, list[tuple[str, str]]] = {}
    for table in spec.tables:
        columns = objects.setdefault(table.qualified_object, [])
        for column in table.columns:
            if (column.name, column.type) not in columns:
                columns.append((column.name, column.type))
    return objects
