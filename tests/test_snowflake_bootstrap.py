"""The Snowflake bootstrap DDL in sql/snowflake/, validated offline: every statement parses with
sqlglot's Snowflake dialect at error level RAISE into a typed statement, or — for administration
sqlglot keeps as an opaque command (roles, some grants, alerts) — matches the exact statement
shape we use, with any embedded SQL parsed strictly. Then what it sets up is checked against the
warehouse contract."""

from __future__ import annotations

import re

import pytest
import sqlglot
import sqlglot.expressions as exp
import yaml
from conftest import PROJECT

FOLDER = PROJECT / "sql" / "snowflake"
SCHEMAS = {"BRONZE", "SILVER", "MODEL", "GOLD", "ML", "OPS", "REPORTING"}
LINEAGE = ["SOURCE_FILE", "SOURCE_ROW", "FILE_FINGERPRINT", "LOAD_ID", "LOADED_AT"]
SHAPES = {
    "create_role": r"CREATE ROLE IF NOT EXISTS (?P<role>\w+)( COMMENT = '[^']*')?",
    "grant_role": r"GRANT ROLE (?P<role>\w+) TO ROLE (?P<to>\w+)",
    "grant_ownership": r"GRANT OWNERSHIP ON SCHEMA RETAIL_DB\.(?P<schema>\w+) TO ROLE (?P<to>\w+) COPY CURRENT GRANTS",
    "grant_select": r"GRANT SELECT ON (?P<scope>ALL|FUTURE) (?P<kind>TABLES|VIEWS) IN SCHEMA RETAIL_DB\.(?P<schema>\w+) TO ROLE (?P<to>\w+)",
    "alert": r"CREATE OR REPLACE ALERT [\w.]+\s+WAREHOUSE = \w+\s+SCHEDULE = '\d+ MINUTE'\s+IF \((?P<condition>.*)\)\s+THEN\s+(?P<action>.*)",
    "alter_alert": r"ALTER ALERT [\w.]+ (RESUME|SUSPEND)",
}


def _statements():
    for path in sorted(FOLDER.glob("*.sql")):
        text = path.read_text()
        for parsed in sqlglot.parse(text, read="snowflake", error_level=sqlglot.ErrorLevel.RAISE):
            if parsed is not None:
                yield path.name, parsed


def _shape(statement: exp.Command) -> tuple[str, re.Match]:
    text = " ".join(statement.sql(dialect="snowflake").split())
    for name, pattern in SHAPES.items():
        match = re.fullmatch(pattern, text, re.DOTALL)
        if match:
            return name, match
    raise AssertionError(f"not a statement shape this project uses: {text[:200]}")


@pytest.fixture(scope="module")
def statements():
    return list(_statements())


def test_every_statement_is_typed_or_a_known_administration_shape(statements):
    assert len(statements) > 40
    for _, statement in statements:
        if isinstance(statement, exp.Command):
            name, match = _shape(statement)
            if name == "alert":  # the alert's condition and action are real SQL: parse them strictly
                sqlglot.parse_one(match["condition"], read="snowflake", error_level=sqlglot.ErrorLevel.RAISE)
                sqlglot.parse_one(match["action"], read="snowflake", error_level=sqlglot.ErrorLevel.RAISE)


def test_a_misspelt_statement_is_caught():
    with pytest.raises(sqlglot.errors.ParseError):  # sqlglot rejects what it cannot read at all
        sqlglot.parse("GRNAT SELECT ON FUTURE TABLES IN SCHEMA RETAIL_DB.GOLD TO ROLE R", read="snowflake", error_level=sqlglot.ErrorLevel.RAISE)
    # ... and what it keeps as an opaque command must match a known shape
    opaque = sqlglot.parse_one("GRANT SELECT ON FUTUER TABLES IN SCHEMA RETAIL_DB.GOLD TO ROLE R", read="snowflake")
    assert isinstance(opaque, exp.Command)
    with pytest.raises(AssertionError, match="not a statement shape"):
        _shape(opaque)


def test_database_schemas_and_roles_match_the_warehouse_contract(statements):
    created = {s.this.sql() for _, s in statements if isinstance(s, exp.Create) and s.kind == "SCHEMA"}
    assert created == {f"RETAIL_DB.{name}" for name in SCHEMAS}
    shapes = [_shape(s) for _, s in statements if isinstance(s, exp.Command)]
    owned = {m["schema"] for name, m in shapes if name == "grant_ownership" and m["to"] == "RETAIL_PIPELINE"}
    assert owned == SCHEMAS
    reads = {(m["scope"], m["kind"], m["schema"]) for name, m in shapes if name == "grant_select" and m["to"] == "RETAIL_REPORTING"}
    assert {s for _, _, s in reads} == {"MODEL", "GOLD", "ML", "REPORTING"}  # the star and the business views; nothing raw
    assert ("FUTURE", "VIEWS", "REPORTING") in reads and ("FUTURE", "TABLES", "GOLD") in reads and ("FUTURE", "TABLES", "ML") in reads


def test_copy_into_lands_every_entity_in_the_bronze_shape(statements):
    entities = yaml.safe_load((PROJECT / "conf" / "base" / "parameters_ingest.yml").read_text())["ingest"]["entities"]
    copies = {s.this.this.name: s for _, s in statements if isinstance(s, exp.Copy)}
    assert set(copies) == {entity.upper() for entity in entities}
    for entity, spec in entities.items():
        copy = copies[entity.upper()]
        columns = [c.name for c in copy.this.expressions]
        assert columns == list(spec["columns"]) + LINEAGE
        select = copy.find(exp.Select)
        assert len(select.expressions) == len(columns)
        assert f"{entity}(_" in copy.sql(dialect="snowflake")  # the contract's file names
