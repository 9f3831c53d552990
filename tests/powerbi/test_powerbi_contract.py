"""The model reads only what the warehouse has: after a real Kedro run on a small generated
retailer, every object and column the spec names exists, as a table or view and with a
compatible type, in the warehouse's information_schema."""

from __future__ import annotations

import re
import shutil
from typing import Any

import duckdb
import pytest
from conftest import Workspace, release_warehouse_connections
from powerbi_support import POWERBI, PROJECT, definition, read_model

from retail_control_tower.powerbi import load_spec

SMALL = {"synthetic": {"customers": 500, "stores": 6, "products": 60, "history_days": 540, "target_order_lines": 25000}}
TABLES = "SELECT table_schema, table_name, table_type FROM information_schema.tables"
COLUMNS = "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns"

_INTEGERS = {"TINYINT", "SMALLINT", "INTEGER", "INT", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"}
_DECIMALS = {"DECIMAL", "NUMERIC", "NUMBER"}
_FLOATS = {"DOUBLE", "FLOAT", "REAL", "FLOAT4", "FLOAT8", "DOUBLE PRECISION"}


def compatible(spec_type: str, warehouse_type: str) -> bool:
    """Whether a warehouse column (DuckDB's or Snowflake's type names) loads into a model
    column of ``spec_type`` without losing what it means."""
    upper = warehouse_type.upper()
    base = upper.split("(")[0].strip()
    scale = int(re.search(r",\s*(\d+)\s*\)", upper).group(1)) if re.search(r",\s*\d+\s*\)", upper) else 0
    return {
        "text": base in {"VARCHAR", "TEXT", "STRING", "CHAR", "CHARACTER VARYING"},
        "int64": base in _INTEGERS or (base in _DECIMALS and scale == 0),
        "decimal": base in _INTEGERS or (base in _DECIMALS and scale <= 4),
        "double": base in _INTEGERS | _DECIMALS | _FLOATS,
        "date": base == "DATE",
        "datetime": base.startswith("TIMESTAMP") or base in {"DATETIME", "DATE"},
        "boolean": base == "BOOLEAN",
    }[spec_type]


def contract_problems(spec, tables: list[tuple], columns: list[tuple]) -> list[str]:
    """Every object the model reads exists as the kind its partition navigates to (table or
    view), and every column it keeps exists there with a compatible type.

    ``tables``: (schema, name, table_type) rows and ``columns``: (schema, table, column,
    data_type) rows of the warehouse's information_schema."""
    kinds = {(s.upper(), t.upper()): kind for s, t, kind in tables}
    types = {(s.upper(), t.upper(), c.upper()): d for s, t, c, d in columns}
    problems = []
    for table in spec.tables:
        key = (table.schema, table.object)
        kind = kinds.get(key)
        if kind is None:
            problems.append(f"{table.name}: {table.qualified_object} does not exist in the warehouse")
            continue
        if (kind.upper() == "VIEW") != (table.kind == "View"):
            problems.append(f"{table.name}: {table.qualified_object} is a {kind}, the partition navigates to a {table.kind}")
        for column in table.columns:
            found = types.get((*key, column.name))
            if found is None:
                problems.append(f"{table.name}: {table.qualified_object}.{column.name} does not exist in the warehouse")
            elif not compatible(column.type, found):
                problems.append(f"{table.name}: {table.qualified_object}.{column.name} is {found}, the model reads it as {column.type}")
    return problems


def duckdb_queries(model: dict[str, Any]) -> dict[str, str]:
    """The SQL each partition sends through DuckDB's ODBC driver (WarehouseSource = DuckDB)."""
    queries = {}
    for table in model["tables"]:
        for part in table["partitions"]:
            found = re.search(r'Odbc\.Query\(.*?, "((?:[^"]|"")*)"\)', part["expression"])
            if found:
                queries[table["name"]] = found.group(1).replace('""', '"')
    return queries


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    """A warehouse after `generate` and the default pipeline, as a newcomer's `make run` leaves it."""
    monkeypatch = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("powerbi_contract")
    workspace = Workspace.at(root, monkeypatch)
    workspace.run("generate", params=SMALL)
    workspace.run()
    release_warehouse_connections()
    yield workspace
    release_warehouse_connections()
    monkeypatch.undo()


def test_every_column_the_model_reads_exists_with_a_compatible_type(warehouse):
    assert contract_problems(load_spec(), warehouse.rows(TABLES), warehouse.rows(COLUMNS)) == []
    release_warehouse_connections()


def test_the_duckdb_route_runs_on_the_embedded_warehouse(warehouse):
    """The SQL each partition sends through DuckDB's ODBC driver, run on the warehouse file
    itself: it parses, and returns the table's columns in order."""
    model = read_model(definition(POWERBI))["model"]
    queries = duckdb_queries(model)
    assert sorted(queries) == sorted(t["name"] for t in model["tables"])
    for table in model["tables"]:
        described = [row[0] for row in warehouse.rows(f"DESCRIBE {queries[table['name']]}")]
        assert described == [c["sourceColumn"] for c in table["columns"]], table["name"]
    release_warehouse_connections()


def test_a_renamed_warehouse_column_fails_the_contract(warehouse, tmp_path):
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouse.warehouse, copy)
    con = duckdb.connect(str(copy))
    try:
        con.execute("ALTER TABLE MODEL.DIM_STORE RENAME COLUMN REGION TO STORE_REGION")
        con.execute("ALTER TABLE ML.MODEL_DECILES ALTER COLUMN LIFT TYPE VARCHAR")
        con.execute("DROP VIEW REPORTING.V_DQ_LATEST")
        con.execute("CREATE TABLE REPORTING.V_DQ_LATEST AS SELECT * FROM OPS.DQ_RESULTS")
        problems = contract_problems(load_spec(), con.execute(TABLES).fetchall(), con.execute(COLUMNS).fetchall())
        dim_store = duckdb_queries(read_model(definition(POWERBI))["model"])["DIM_STORE"]
        with pytest.raises(duckdb.BinderException, match="REGION"):  # and the DuckDB route's query with it
            con.execute(f"DESCRIBE {dim_store}")
    finally:
        con.close()
    assert problems == [
        "DIM_STORE: MODEL.DIM_STORE.REGION does not exist in the warehouse",
        "MODEL_DECILES: ML.MODEL_DECILES.LIFT is VARCHAR, the model reads it as double",
        "V_DQ_LATEST: REPORTING.V_DQ_LATEST is a BASE TABLE, the partition navigates to a View",
    ]


def test_a_spec_reading_a_column_the_warehouse_lacks_fails_the_contract(warehouse, tmp_path):
    text = (POWERBI / "spec.yml").read_text(encoding="utf-8")
    (tmp_path / "spec.yml").write_text(text.replace("      BRAND: text\n", "      BRAND: text\n      COLOUR: text\n", 1))
    problems = contract_problems(load_spec(tmp_path / "spec.yml"), warehouse.rows(TABLES), warehouse.rows(COLUMNS))
    release_warehouse_connections()
    assert problems == ["DIM_PRODUCT: MODEL.DIM_PRODUCT.COLOUR does not exist in the warehouse"]


def _granted(sql: str, role: str) -> set[tuple[str, str]]:
    """(privilege, schema) pairs the bootstrap grants ``role``: USAGE, or SELECT on ALL and
    FUTURE TABLES / VIEWS (both needed: the pipelines recreate their tables)."""
    grants = set()
    for schema in re.findall(rf"GRANT USAGE ON SCHEMA \w+\.(\w+) TO ROLE {role};", sql):
        grants.add(("USAGE", schema))
    selects = re.findall(rf"GRANT SELECT ON (ALL|FUTURE) (TABLES|VIEWS) IN SCHEMA \w+\.(\w+) TO ROLE {role};", sql)
    for kind in ("TABLES", "VIEWS"):
        for schema in {s for _, k, s in selects if k == kind}:
            if {("ALL", kind, schema), ("FUTURE", kind, schema)} <= set(selects):
                grants.add((f"SELECT {kind}", schema))
    return grants


def _missing_grants() -> list[tuple[str, str]]:
    spec = load_spec()
    sql = (PROJECT / "sql" / "snowflake" / "02_roles_and_grants.sql").read_text(encoding="utf-8")
    needed = {("USAGE", t.schema) for t in spec.tables} | {(f"SELECT {t.kind.upper()}S", t.schema) for t in spec.tables}
    return sorted(needed - _granted(sql, spec.source.role))


def test_the_reporting_role_may_read_every_object_the_model_reads():
    assert _missing_grants() == []


def test_a_missing_grant_is_found():
    sql = (PROJECT / "sql" / "snowflake" / "02_roles_and_grants.sql").read_text(encoding="utf-8")
    revoked = sql.replace("GRANT USAGE ON SCHEMA RETAIL_DB.MODEL TO ROLE RETAIL_REPORTING;\n", "")
    assert revoked != sql and ("USAGE", "MODEL") not in _granted(revoked, load_spec().source.role)


@pytest.mark.parametrize(
    ("spec_type", "warehouse_type", "ok"),
    [
        ("int64", "NUMBER(38,0)", True),  # Snowflake's integers
        ("int64", "NUMBER(18,2)", False),
        ("decimal", "NUMBER(38,2)", True),
        ("decimal", "DECIMAL(38,6)", False),  # Power BI's fixed decimal keeps 4 places
        ("double", "FLOAT", True),
        ("datetime", "TIMESTAMP_NTZ", True),
        ("date", "TIMESTAMP", False),
        ("text", "TEXT", True),
        ("text", "BIGINT", False),
        ("boolean", "BOOLEAN", True),
    ],
)
def test_type_compatibility_knows_snowflakes_names_too(spec_type, warehouse_type, ok):
    assert compatible(spec_type, warehouse_type) is ok
