"""Power Query M for the model: the source parameters and one partition query per table.

Every partition reads Snowflake through `Snowflake.Databases` (navigated to database, schema
and table or view) unless the `WarehouseSource` parameter says DuckDB, in which case it reads
the local warehouse file through DuckDB's ODBC driver. Either way it keeps exactly the spec's
columns (`Table.SelectColumns`) and gives them the model's types.
"""

from __future__ import annotations

from dataclasses import dataclass

from retail_control_tower.powerbi.spec import Spec, Table

# The M type each spec column type is read as.
M_TYPES = {
    "text": "type text",
    "int64": "Int64.Type",
    "decimal": "Currency.Type",
    "double": "type number",
    "date": "type date",
    "datetime": "type datetime",
    "boolean": "type logical",
}

# Every library name the generated M may use (a test parses each query and checks it).
M_LIBRARY = frozenset(
    {"Snowflake.Databases", "Odbc.Query", "Table.SelectColumns", "Table.TransformColumnTypes", "Table.Distinct"}
    | {t for t in M_TYPES.values() if not t.startswith("type ")}
)


@dataclass(frozen=True)
class Parameter:
    name: str
    value: str
    description: str
    allowed: tuple[str, ...] = ()

    def expression(self) -> str:
        meta = ["IsParameterQuery=true"]
        if self.allowed:
            meta += ["List={" + ", ".join(text(v) for v in self.allowed) + "}", f"DefaultValue={text(self.value)}"]
        meta += ['Type="Text"', "IsParameterQueryRequired=true"]
        return f"{text(self.value)} meta [{', '.join(meta)}]"


def text(value: str) -> str:
    """An M text literal."""
    return '"' + value.replace('"', '""') + '"'


def parameters(spec: Spec) -> list[Parameter]:
    src = spec.source
    return [
        Parameter(
            "WarehouseSource",
            src.default,
            "Snowflake (the warehouse of --env dev/prod) or DuckDB (the local file of the embedded default, "
            "through DuckDB's ODBC driver).",
            allowed=("Snowflake", "DuckDB"),
        ),
        Parameter("SnowflakeServer", src.server, "Snowflake account host, <account>.snowflakecomputing.com."),
        Parameter("SnowflakeWarehouse", src.warehouse, "Snowflake virtual warehouse that runs the queries."),
        Parameter("SnowflakeDatabase", src.database, "The warehouse database (ARCHITECTURE.md §5)."),
        Parameter("SnowflakeRole", src.role, "Role that reads GOLD, ML and REPORTING (sql/snowflake/02_roles_and_grants.sql)."),
        Parameter("DuckDbFile", src.duckdb_file, "Full path of data/warehouse.duckdb, for WarehouseSource = DuckDB."),
    ]


def _block(items: list[str], indent: str = "        ") -> str:
    """An M list, one item a line (readable diffs when a column changes)."""
    return "{\n" + ",\n".join(indent + i for i in items) + "\n    }"


def partition(spec: Spec, table: Table) -> str:
    """The partition query of ``table``."""
    names = [c.name for c in table.columns]
    sql = "SELECT " + ", ".join(f'"{n}"' for n in names) + f" FROM {table.schema}.{table.object}"
    odbc = text(f"Driver={{{spec.source.duckdb_driver}}};Database=") + ' & DuckDbFile & ";access_mode=read_only"'
    snowflake = (
        "Snowflake.Databases(SnowflakeServer, SnowflakeWarehouse, [Role = SnowflakeRole])"
        '{[Name = SnowflakeDatabase, Kind = "Database"]}[Data]'
        f'{{[Name = {text(table.schema)}, Kind = "Schema"]}}[Data]'
        f"{{[Name = {text(table.object)}, Kind = {text(table.kind)}]}}[Data]"
    )
    steps = [
        "Columns = " + _block([text(n) for n in names]),
        "Source =\n"
        '        if WarehouseSource = "DuckDB" then\n'
        f"            Odbc.Query({odbc}, {text(sql)})\n"
        "        else\n"
        f"            {snowflake}",
        "Selected = Table.SelectColumns(Source, Columns)",
        "Typed = Table.TransformColumnTypes(Selected, "
        + _block(["{" + f"{text(c.name)}, {M_TYPES[c.type]}" + "}" for c in table.columns]).replace("\n    }", "\n    })"),
    ]
    last = "Typed"
    if table.distinct:
        steps.append("Distinct = Table.Distinct(Typed)")
        last = "Distinct"
    return "let\n" + ",\n".join("    " + s for s in steps) + f"\nin\n    {last}"
