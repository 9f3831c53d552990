"""Deploying the Power BI project with fabric-cicd, checked offline: powerbi/deploy/parameter.yml
against the structure fabric-cicd documents ("How to: Parameterization": find_replace entries of
find_value / replace_value per environment, optional is_regex as the string "true" replacing the
first capture group, item_type / item_name / file_path filters, "$ENV:" values), and against the
model it rewrites; and cd.yml's step that runs the deployment."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from conftest import PROJECT

POWERBI = PROJECT / "powerbi"
PARAMETER = POWERBI / "deploy" / "parameter.yml"
ENVIRONMENTS = {"DEV", "PROD"}
# fabric-cicd's parameter kinds, and the keys a find_replace entry may have (required ones first)
KINDS = {"find_replace", "key_value_replace", "spark_pool", "semantic_model_binding", "gateway_binding", "extend"}
FIND_REPLACE_REQUIRED, FIND_REPLACE_OPTIONAL = {"find_value", "replace_value"}, {"is_regex", "ignore_case", "item_type", "item_name", "file_path"}
SNOWFLAKE_PARAMETERS = {"WarehouseSource", "SnowflakeServer", "SnowflakeWarehouse", "SnowflakeDatabase", "SnowflakeRole"}


def parameters() -> dict:
    return yaml.safe_load(PARAMETER.read_text())


def items() -> dict[tuple[str, str], Path]:
    """(item type, display name) -> item folder, from each item's .platform file."""
    found = {}
    for platform in POWERBI.glob("*/.platform"):
        metadata = json.loads(platform.read_text())["metadata"]
        found[(metadata["type"], metadata["displayName"])] = platform.parent
    return found


def apply(text: str, entry: dict, environment: str, environ: dict[str, str]) -> str:
    """fabric-cicd's replacement of one entry, for one environment."""
    value = entry["replace_value"][environment]
    value = re.sub(r"\$ENV:(\w+)", lambda m: environ[m.group(1)], value)
    if str(entry.get("is_regex", "")).lower() == "true":
        return re.sub(entry["find_value"], lambda m: m.group(0)[: m.start(1) - m.start(0)] + value + m.group(0)[m.end(1) - m.start(0):], text)
    return text.replace(entry["find_value"], value)


def test_the_file_has_fabric_cicd_s_structure():
    document = parameters()
    assert set(document) <= KINDS and document["find_replace"]
    for entry in document["find_replace"]:
        assert FIND_REPLACE_REQUIRED <= set(entry) <= FIND_REPLACE_REQUIRED | FIND_REPLACE_OPTIONAL, entry
        assert isinstance(entry["find_value"], str) and set(entry["replace_value"]) == ENVIRONMENTS
        assert all(isinstance(v, str) and v for v in entry["replace_value"].values())
        assert entry.get("is_regex") in (None, "true", "false")  # a string, as fabric-cicd reads it


def test_each_entry_targets_a_real_item_and_file_and_matches_exactly_once():
    known = items()
    for entry in parameters()["find_replace"]:
        folder = known[(entry["item_type"], entry["item_name"])]
        path = POWERBI / entry["file_path"]
        assert path.is_file() and folder in path.parents, entry["file_path"]
        pattern = re.compile(entry["find_value"])
        assert pattern.groups == 1 and len(pattern.findall(path.read_text())) == 1, entry["find_value"]


def test_prod_repoints_every_snowflake_parameter_and_never_deploys_the_duckdb_source():
    entries = parameters()["find_replace"]
    named = {re.match(r"expression (\w+) =", e["find_value"]).group(1) for e in entries}
    assert named == SNOWFLAKE_PARAMETERS
    expressions = POWERBI / "RetailControlTower.SemanticModel" / "definition" / "expressions.tmdl"
    environ = {"RCT_SNOWFLAKE_SERVER": "acme-prod.snowflakecomputing.com"}
    deployed = expressions.read_text()
    for entry in entries:
        deployed = apply(deployed, entry, "PROD", environ)
    assert 'expression WarehouseSource = "Snowflake" meta' in deployed
    assert 'expression SnowflakeServer = "acme-prod.snowflakecomputing.com" meta' in deployed
    assert 'expression SnowflakeRole = "RETAIL_REPORTING" meta' in deployed and 'SnowflakeDatabase = "RETAIL_DB" meta' in deployed
    assert deployed.count("\n") == expressions.read_text().count("\n")  # values only: the rest of the model is untouched


def test_a_broken_copy_fails():
    entry = parameters()["find_replace"][1]
    expressions = (POWERBI / "RetailControlTower.SemanticModel" / "definition" / "expressions.tmdl").read_text()
    moved = {**entry, "find_value": entry["find_value"].replace("SnowflakeServer", "SnowflakeHost")}
    assert re.findall(moved["find_value"], expressions) == []  # would silently deploy the placeholder host
    with pytest.raises(AssertionError):
        assert set({**entry, "replace_value": {"PROD": "x"}}["replace_value"]) == ENVIRONMENTS


def test_cd_deploys_the_power_bi_project_to_prod_with_fabric_cicd():
    cd = yaml.safe_load((PROJECT / ".github" / "workflows" / "cd.yml").read_text())
    prod = cd["jobs"]["deploy-prod"]
    [step] = [s for s in prod["steps"] if "powerbi/deploy/deploy.py" in s.get("run", "")]
    assert "--environment PROD" in step["run"] and re.search(r"fabric-cicd==\d+\.\d+\.\d+", step["run"])
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "POWERBI_WORKSPACE_ID", "RCT_SNOWFLAKE_SERVER"):
        assert re.fullmatch(r"\$\{\{ (secrets|vars)\.\w+ \}\}", step["env"][name]), name
    assert prod["environment"] == "production"
    # a CI-time tool only: not in the project's dependencies
    assert "fabric-cicd" not in (PROJECT / "pyproject.toml").read_text() + (PROJECT / "requirements.lock").read_text()
    deploy = (POWERBI / "deploy" / "deploy.py").read_text()
    assert 'append_feature_flag("enable_environment_variable_replacement")' in deploy and "parameter.yml" in deploy
