"""Every Power Query M expression parses with Microsoft's parser (@microsoft/powerquery-parser)
and names only allowed library functions and the model's parameters."""

from __future__ import annotations

import json

import pytest
from powerbi_support import POWERBI, definition, m_problems, read_model


@pytest.fixture(scope="module")
def model():
    result = read_model(definition(POWERBI))
    assert result["ok"], result.get("error")
    return result["model"]


def test_every_partition_and_parameter_parses_and_uses_only_allowed_functions(model):
    assert m_problems(model) == []


def test_partitions_read_snowflake_as_the_reporting_role_or_the_duckdb_file(model):
    parameters = {e["name"]: e["expression"] for e in model["expressions"]}
    assert parameters["SnowflakeRole"].startswith('"RETAIL_REPORTING" meta [IsParameterQuery=true')
    assert 'List={"Snowflake", "DuckDB"}' in parameters["WarehouseSource"]
    risk = next(t for t in model["tables"] if t["name"] == "V_CUSTOMER_RISK")["partitions"][0]["expression"]
    assert "Snowflake.Databases(SnowflakeServer, SnowflakeWarehouse, [Role = SnowflakeRole])" in risk
    assert '{[Name = "REPORTING", Kind = "Schema"]}[Data]{[Name = "V_CUSTOMER_RISK", Kind = "View"]}[Data]' in risk
    assert 'Odbc.Query("Driver={DuckDB Driver};Database=" & DuckDbFile' in risk


def _broken(model, table, old, new):
    broken = json.loads(json.dumps(model))
    part = next(t for t in broken["tables"] if t["name"] == table)["partitions"][0]
    assert old in part["expression"]
    part["expression"] = part["expression"].replace(old, new)
    return broken


@pytest.mark.parametrize(
    ("table", "old", "new", "said"),
    [
        ("DIM_STORE", "Selected = Table.SelectColumns(Source, Columns),", "Selected = Table.SelectColumns(Source, Columns)", "does not parse"),
        ("DIM_STORE", "Odbc.Query(", "Web.Contents(", "Web.Contents"),
        ("DIM_STORE", "Table.SelectColumns(Source, Columns)", "Table.SelectColumn(Source, Columns)", "Table.SelectColumn"),
        ("DIM_STORE", "SnowflakeRole]", "SnowflakeRoles]", "SnowflakeRoles"),
        ("DIM_STORE", '"REGION",\n', "", "selects"),
    ],
)
def test_a_broken_partition_fails(model, table, old, new, said):
    problems = m_problems(_broken(model, table, old, new))
    assert problems and all(table in p for p in problems) and any(said in p for p in problems), problems
