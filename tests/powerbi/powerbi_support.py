"""Checks of the generated Power BI Project, each a function that lists the problems it finds
in a project folder, so a test can run it on the committed project and on a broken copy.

The checks read what Microsoft's tools read: the TMDL through `TmdlSerializer` (tmdl_model.py,
in a Mono process), M through @microsoft/powerquery-parser (m_check.mjs, in node), JSON
against Microsoft's schemas vendored in ../shared/vendor/powerbi/ (not copied into the repo).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from referencing import Registry
from referencing.jsonschema import DRAFT7

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parents[1]
POWERBI = PROJECT / "powerbi"
VENDOR = PROJECT.parent / "shared" / "vendor" / "powerbi"
SCHEMA_ROOT = VENDOR / "json-schemas"
SCHEMA_URL = "https://developer.microsoft.com/json-schemas/"
NAME = "RetailControlTower"


def definition(folder: Path) -> Path:
    return folder / f"{NAME}.SemanticModel" / "definition"


def report(folder: Path) -> Path:
    return folder / f"{NAME}.Report"


# --- TMDL, read by Microsoft's parser ----------------------------------------------------------
def read_model(definition_folder: Path, serialize_into: Path | None = None) -> dict[str, Any]:
    """{"ok": True, "model": ...} or {"ok": False, "error": ...}: what TmdlSerializer read."""
    command = [sys.executable, str(HERE / "tmdl_model.py"), str(definition_folder)]
    if serialize_into:
        command.append(str(serialize_into))
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def first_lines(error: str, lines: int = 6) -> str:
    return "\n".join(error.splitlines()[:lines])


# --- JSON Schema --------------------------------------------------------------------------------
@cache
def schema_registry() -> Registry:
    """Microsoft's schemas, each under the URL of its path: some declare an `$id` that is not
    their path (vendor SOURCES.md), so the `$id` is dropped and refs resolve by path."""
    if not SCHEMA_ROOT.is_dir():
        raise FileNotFoundError(f"{SCHEMA_ROOT} is missing: the tests read Microsoft's schemas from shared/ beside the clone")
    resources = []
    for path in SCHEMA_ROOT.rglob("*.json"):
        contents = json.loads(path.read_text(encoding="utf-8"))
        contents.pop("$id", None)
        resources.append((SCHEMA_URL + path.relative_to(SCHEMA_ROOT).as_posix(), DRAFT7.create_resource(contents)))
    return Registry().with_resources(resources)


def schema_problems(folder: Path) -> list[str]:
    """Every JSON document of the project that carries a `$schema` against that schema; the
    files PBIP requires must carry one."""
    registry = schema_registry()
    problems = []
    required = ("*.pbip", "*.pbir", "*.pbism", ".platform", "report.json", "page.json", "visual.json", "pages.json", "version.json")
    paths = sorted({p for pattern in required for p in folder.rglob(pattern)})
    for path in paths:
        where = path.relative_to(folder).as_posix()
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            problems.append(f"{where}: not JSON ({error})")
            continue
        url = document.get("$schema")
        if not url or not url.startswith(SCHEMA_URL) or not (SCHEMA_ROOT / url.removeprefix(SCHEMA_URL)).is_file():
            problems.append(f"{where}: $schema {url!r} is not one of Microsoft's vendored schemas")
            continue
        validator = Draft7Validator({"$ref": url}, registry=registry)
        for error in validator.iter_errors(document):
            problems.append(f"{where}: {error.json_path}: {error.message[:300]}")
    return problems


# --- M, parsed by Microsoft's parser -----------------------------------------------------------
# Library names the model's M may use; anything else (Web.Contents, Sql.Database, a typo) fails.
M_ALLOWED = {
    "Snowflake.Databases",
    "Odbc.Query",
    "Table.SelectColumns",
    "Table.TransformColumnTypes",
    "Table.Distinct",
    "Int64.Type",
    "Currency.Type",
}


def parse_m(queries: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run(
        ["node", str(HERE / "m_check.mjs")], input=json.dumps(queries), capture_output=True, text=True, cwd=HERE, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def m_problems(model: dict[str, Any]) -> list[str]:
    """Every partition and named expression parses, and names only allowed library functions
    and the model's own parameters; a partition keeps exactly its table's source columns."""
    parameters = {e["name"] for e in model["expressions"]}
    queries = {f"expression {e['name']}": e["expression"] for e in model["expressions"]}
    for table in model["tables"]:
        for part in table["partitions"]:
            queries[f"partition {table['name']}/{part['name']}"] = part["expression"]
    problems = []
    for name, result in parse_m(queries).items():
        if not result["ok"]:
            problems.append(f"{name}: does not parse: {result['error']}")
            continue
        unknown = sorted(set(result["free"]) - M_ALLOWED - parameters)
        if unknown:
            problems.append(f"{name}: names {unknown}, not on the allow-list")
    for table in model["tables"]:
        source_columns = [c["sourceColumn"] for c in table["columns"]]
        for part in table["partitions"]:
            listed = re.search(r"Columns = \{(.*?)\}", part["expression"], re.S)
            kept = re.findall(r'"([^"]+)"', listed.group(1)) if listed else None
            if "Table.SelectColumns(Source, Columns)" not in part["expression"] or kept != source_columns:
                problems.append(f"partition {table['name']}: selects {kept}, the table's columns are {source_columns}")
    return problems


# --- DAX and the report's field references -----------------------------------------------------
# The DAX functions the measures may call (a misspelt function fails here, not in Desktop).
DAX_FUNCTIONS = {
    "AVERAGE", "BLANK", "CALCULATE", "CONTAINSSTRING", "COUNTROWS", "DATESBETWEEN", "DISTINCTCOUNT", "DIVIDE",
    "IF", "ISBLANK", "ISFILTERED", "KEEPFILTERS", "MAX", "MIN", "REMOVEFILTERS", "SAMEPERIODLASTYEAR",
    "SELECTEDVALUE", "SUM", "SUMX", "SWITCH", "TREATAS", "TRUE", "FALSE",
}


def _walk(node):
    yield node
    for child in node.children():
        yield from _walk(child)


def _unquote(identifier: str) -> str:
    if identifier.startswith("'") and identifier.endswith("'"):
        return identifier[1:-1].replace("''", "'")
    return identifier


def dax_problems(model: dict[str, Any]) -> list[str]:
    """Every measure parses, and every column, measure, table and function it names exists."""
    from pbi_parsers import dax
    from pbi_parsers.dax import exprs

    columns = {t["name"]: {c["name"] for c in t["columns"]} for t in model["tables"]}
    measures = {m["name"] for t in model["tables"] for m in t["measures"]}
    problems = []
    for table in model["tables"]:
        for measure in table["measures"]:
            where = f"[{measure['name']}] ({table['name']})"
            try:
                ast = dax.to_ast(measure["expression"])
            except (AssertionError, ValueError, IndexError) as error:
                problems.append(f"{where}: does not parse: {error}")
                continue
            if ast is None:
                problems.append(f"{where}: does not parse")
                continue
            nodes = list(_walk(ast))
            variables = {n.var_name.text for n in nodes if isinstance(n, exprs.VariableExpression)}
            for node in nodes:
                if isinstance(node, exprs.ColumnExpression):
                    owner, column = _unquote(node.table.text), node.column.text[1:-1]
                    if column not in columns.get(owner, set()):
                        problems.append(f"{where}: {owner}[{column}] is not a column of the model")
                elif isinstance(node, exprs.MeasureExpression):
                    if node.name.text[1:-1] not in measures:
                        problems.append(f"{where}: {node.name.text} is not a measure of the model")
                elif isinstance(node, (exprs.IdentifierExpression, exprs.TableExpression)):
                    named = _unquote(node.name.text)
                    if named not in columns and named not in variables:
                        problems.append(f"{where}: {named} is neither a table nor a variable")
                elif isinstance(node, exprs.FunctionExpression):
                    function = "".join(part.text for part in node.name_parts).upper()
                    if function not in DAX_FUNCTIONS:
                        problems.append(f"{where}: function {function} is not on the allow-list")
    return problems


def _field_references(document: Any):
    """Every (kind, table, field) a PBIR document queries: Column and Measure expressions."""
    if isinstance(document, dict):
        for kind in ("Column", "Measure"):
            body = document.get(kind)
            if isinstance(body, dict) and "Property" in body:
                yield kind, body["Expression"]["SourceRef"].get("Entity"), body["Property"]
        for value in document.values():
            yield from _field_references(value)
    elif isinstance(document, list):
        for value in document:
            yield from _field_references(value)


def report_problems(folder: Path, model: dict[str, Any]) -> list[str]:
    """Every field a visual uses exists in the model (a column as a column, a measure as a
    measure); pages.json lists exactly the pages there are, each under its own name."""
    tables = {t["name"]: t for t in model["tables"]}
    pages_folder = report(folder) / "definition" / "pages"
    problems = []
    for path in sorted(pages_folder.rglob("visual.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        for kind, table, name in _field_references(document):
            owner = tables.get(table)
            names = {c["name"] for c in owner["columns"]} if owner and kind == "Column" else set()
            if owner and kind == "Measure":
                names = {m["name"] for m in owner["measures"]}
            if name not in names:
                problems.append(f"{path.relative_to(folder).as_posix()}: {kind.lower()} {table}.{name} is not in the model")
    pages = json.loads((pages_folder / "pages.json").read_text(encoding="utf-8"))
    order = pages.get("pageOrder", [])
    folders = sorted(p.parent.name for p in pages_folder.glob("*/page.json"))
    for name in order:
        page = pages_folder / name / "page.json"
        if not page.is_file():
            problems.append(f"pages.json: page {name} does not exist")
        elif json.loads(page.read_text(encoding="utf-8"))["name"] != name:
            problems.append(f"pages/{name}/page.json: its name is not {name}")
    for name in folders:
        if name not in order:
            problems.append(f"pages/{name}: not in pages.json")
    if pages.get("activePageName") not in order:
        problems.append(f"pages.json: active page {pages.get('activePageName')} is not in the page order")
    return problems

