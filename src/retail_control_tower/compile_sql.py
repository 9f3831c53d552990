"""Writes the Snowflake SQL of every warehouse node to a folder, without connecting to Snowflake.

    retail-control-tower-sql --env prod --out build/sql [--schemas data/warehouse.duckdb]

The nodes of the default pipeline run against a *shadow* warehouse: an in-memory DuckDB holding
empty tables with the schemas of a local warehouse (a previous ``make run``), so each node builds
exactly the expression it builds in a real run. Each expression it returns is compiled for
Snowflake as a Snowflake connection compiles it (``warehouse.snowflake_sql``) and parsed back
with sqlglot's Snowflake dialect at error level RAISE; so are the statements that land each
entity's raw files (``BRONZE.<ENTITY>.landing.sql``: stage, ``PUT``, ``COPY INTO``), and
``sql/**/*.sql`` files. Nodes whose work is Python (training, scoring, MLflow) or that query the
warehouse while they run (gates) are listed in ``MANIFEST.md`` with the reason.
Exit status 1 when any statement fails to compile or parse.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import sqlglot

from retail_control_tower.datasets import RawFileManifestDataset, RawFilesDataset, WarehouseTableDataset, snowflake_landing
from retail_control_tower.datasets.raw_files import FILE_COLUMNS
from retail_control_tower.warehouse import snowflake_sql

RAW_FILE_TYPES = {"SOURCE_FILE": "string", "SOURCE_ROW": "int64", "FILE_FINGERPRINT": "string", "DUPLICATE_OF": "string"}


@dataclass
class Compilation:
    written: dict[str, Path] = field(default_factory=dict)  # node → file
    skipped: dict[str, str] = field(default_factory=dict)  # node → why it is not compiled
    errors: dict[str, str] = field(default_factory=dict)  # node or file → compile / parse error


def _parse(sql: str) -> None:
    sqlglot.parse(sql, read="snowflake", error_level=sqlglot.ErrorLevel.RAISE)


class _Shadow:
    """Empty tables with the local warehouse's schemas, in an in-memory DuckDB."""

    def __init__(self, local_warehouse: Path) -> None:
        self.con = ibis.duckdb.connect()
        local = ibis.duckdb.connect(str(local_warehouse), read_only=True)
        for schema in local.list_databases():
            for table in local.list_tables(database=schema):
                self.add(schema, table, local.table(table, database=schema).schema())
        local.disconnect()

    def add(self, schema: str, table: str, columns: ibis.Schema) -> ir.Table:
        if schema not in self.con.list_databases():
            self.con.create_database(schema)
        self.con.create_table(table, schema=columns, database=schema, overwrite=True)
        return self.con.table(table, database=schema)

    def table(self, schema: str, table: str) -> ir.Table:
        if schema not in self.con.list_databases() or table not in self.con.list_tables(database=schema):
            raise LookupError(f"{schema}.{table} is not in the local warehouse (run `make run` first)")
        return self.con.table(table, database=schema)


def compile_pipeline(pipeline, catalog, params: dict[str, Any], local_warehouse: Path, out: Path, env: str) -> Compilation:
    shadow = _Shadow(local_warehouse)
    result = Compilation()
    memory: dict[str, Any] = {}
    context = {"run_id": "compile", "env": env, "started_at": datetime(2000, 1, 1), "git_commit": None}
    out.mkdir(parents=True, exist_ok=True)
    for node in pipeline.nodes:  # topologically sorted
        inputs: dict[str, Any] = {}
        try:
            for name in node.inputs:
                inputs[name] = _input(name, catalog, params, shadow, memory, context)
        except (_NotSql, LookupError) as reason:
            result.skipped[node.name] = str(reason)
            continue
        try:
            outputs = node.run(inputs)
        except Exception as error:  # queries the (empty) warehouse while it runs
            result.skipped[node.name] = f"queries the warehouse while it runs ({type(error).__name__}: {str(error)[:160]})"
            continue
        for name, value in outputs.items():
            dataset = catalog.get(name, fallback_to_runtime_pattern=True)
            if not isinstance(value, ir.Table):
                memory[name] = value
                result.skipped.setdefault(node.name, "returns Python objects")
                continue
            target = f"{dataset.database}.{dataset.table_name}" if isinstance(dataset, WarehouseTableDataset) else f"(in memory) {name}"
            try:
                sql = snowflake_sql(value)
                _parse(sql)
            except Exception as error:
                result.errors[node.name] = f"{type(error).__name__}: {error}"
                continue
            path = out / f"{target.replace('(in memory) ', 'memory.')}.sql"
            path.write_text(f"-- node {node.name} → {target}\n{sql};\n")
            result.written[node.name] = path
            if isinstance(dataset, WarehouseTableDataset):  # later nodes read the saved table, as in a run
                shadow.add(dataset.database, dataset.table_name, value.schema())
            else:
                memory[name] = value
    return result


class _NotSql(Exception):
    """An input that only exists in Python (a fitted model, a frame, the MLflow registry)."""


def _input(name: str, catalog, params: dict[str, Any], shadow: _Shadow, memory: dict[str, Any], context: dict[str, Any]) -> Any:
    if name in memory:
        if not isinstance(memory[name], (ir.Table, str, dict)):
            raise _NotSql(f"works on the Python object {name}")
        return memory[name]
    if name == "run_context":
        return context
    if name == "parameters":
        return params
    if name.startswith("params:"):
        value: Any = params
        for part in name.removeprefix("params:").split("."):
            value = value[part]
        return value
    dataset = catalog.get(name, fallback_to_runtime_pattern=True)
    if isinstance(dataset, RawFileManifestDataset):
        files = {"SOURCE_FILE": "string", "FILE_FINGERPRINT": "string", "RAW_ROWS": "int64"}
        return shadow.add("RAW", f"{dataset.entity.upper()}_FILES", ibis.schema(files))
    if isinstance(dataset, RawFilesDataset):
        spec = params["ingest"]["entities"][dataset.entity]
        columns = {column.upper(): "string" for column in spec["columns"]} | {c: RAW_FILE_TYPES[c] for c in FILE_COLUMNS}
        return shadow.add("RAW", dataset.entity.upper(), ibis.schema(columns))
    if isinstance(dataset, WarehouseTableDataset):
        return shadow.table(dataset.database, dataset.table_name)
    if name.startswith("dq_passed"):
        return "compile"
    raise _NotSql(f"reads {name} ({type(dataset).__name__})")


def write_landing(entities: dict[str, Any], raw_dir: Path, out: Path, result: Compilation, database: str = "RETAIL_DB") -> None:
    """The statements a run sends to land each entity's raw files on Snowflake (stage, PUT,
    COPY INTO; ``snowflake_landing``), for a file ``<raw_dir>/<entity>.csv``, parsed too."""
    for entity, spec in entities.items():
        sql = snowflake_landing.review_sql(database, entity, list(spec["columns"]), raw_dir)
        name = f"raw_{entity} (landing)"
        try:
            _parse(sql)
        except Exception as error:
            result.errors[name] = f"{type(error).__name__}: {error}"
            continue
        path = out / f"BRONZE.{entity.upper()}.landing.sql"
        path.write_text(f"-- dataset raw_{entity} on Snowflake: stage the files, COPY INTO a temporary table (then node bronze_{entity})\n{sql}")
        result.written[name] = path


def parse_sql_files(folder: Path, result: Compilation) -> int:
    files = sorted(folder.rglob("*.sql"))
    for path in files:
        try:
            _parse(path.read_text())
        except Exception as error:
            result.errors[str(path)] = f"{type(error).__name__}: {error}"
    return len(files)


def write_manifest(result: Compilation, out: Path, sql_files: int) -> None:
    lines = [f"# Snowflake SQL of the warehouse nodes\n\n{len(result.written)} statements compiled and parsed; "
             f"{sql_files} file(s) from sql/ parsed.\n\n## Compiled\n"]
    lines += [f"- `{node}` → `{path.name}`" for node, path in result.written.items()]
    lines += ["\n## Not compiled (Python or run-time queries)\n"] + [f"- `{n}`: {why}" for n, why in result.skipped.items()]
    if result.errors:
        lines += ["\n## Errors\n"] + [f"- `{n}`: {e}" for n, e in result.errors.items()]
    (out / "MANIFEST.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="prod", help="Kedro environment whose configuration is compiled (default prod)")
    parser.add_argument("--out", default="build/sql", type=Path, help="folder for the .sql files (default build/sql)")
    parser.add_argument("--schemas", type=Path, help="local DuckDB warehouse with the tables' schemas (default <data dir>/warehouse.duckdb)")
    parser.add_argument("--project", default=".", type=Path, help="project folder (default: current folder)")
    args = parser.parse_args(argv)

    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(args.project.resolve())
    with KedroSession.create(project_path=args.project.resolve(), env=args.env) as session:
        context = session.load_context()
        schemas = args.schemas or Path(context.config_loader["globals"].get("data_dir", "data")) / "warehouse.duckdb"
        if not Path(schemas).exists():
            print(f"No local warehouse at {schemas} to take table schemas from: run `make run` first.", file=sys.stderr)
            return 2
        result = compile_pipeline(pipelines["__default__"], context.catalog, context.params, Path(schemas), args.out, args.env)
        raw_dir = Path(context.config_loader["globals"].get("raw_dir", "data/01_raw"))
        engine = context.config_loader["globals"].get("warehouse", {})
        database = engine.get("database") if engine.get("backend") == "snowflake" else "RETAIL_DB"
        write_landing(context.params["ingest"]["entities"], raw_dir, args.out, result, database or "RETAIL_DB")
    sql_files = parse_sql_files(args.project / "sql", result)
    write_manifest(result, args.out, sql_files)
    print(f"{len(result.written)} statements written to {args.out} ({len(result.skipped)} nodes not SQL, "
          f"{len(result.errors)} errors); see {args.out / 'MANIFEST.md'}")
    for node, error in result.errors.items():
        print(f"  {node}: {error}", file=sys.stderr)
    return 1 if result.errors else 0


if __name__ == "__main__":
    sys.exit(main())
