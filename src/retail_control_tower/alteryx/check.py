"""A structural check of a .yxmd workflow, without Alteryx: well-formed XML, known tools (plugin,
engine entry point), every connection between tools and anchors that exist, every tool's inputs
connected, every column a query reads in the warehouse contract, and every field a tool names
produced upstream (by a query or a formula)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import sqlglot
import sqlglot.expressions as exp

from retail_control_tower.alteryx.yxmd import PLUGINS

FIELD_REFERENCE = re.compile(r"\[([^\]]+)\]")


def contract_columns(columns: dict[str, list[tuple[str, str]]]) -> dict[str, set[str]]:
    """``warehouse_columns()`` as ``{"SCHEMA.OBJECT": {column, ...}}``."""
    return {obj: {name for name, _ in cols} for obj, cols in columns.items()}


def check_file(path: Path, contract: dict[str, set[str]]) -> list[str]:
    return check_text(path.read_text(encoding="utf-8"), contract, path.name)


def check_text(text: str, contract: dict[str, set[str]], name: str = "workflow") -> list[str]:
    """Every problem found, each naming the tool; [] for a sound workflow."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as error:
        return [f"{name}: not well-formed XML: {error}"]
    if root.tag != "AlteryxDocument" or not root.get("yxmdVer"):
        return [f"{name}: the root is not an <AlteryxDocument yxmdVer=...>"]
    problems: list[str] = []
    tools: dict[str, str] = {}
    for node in root.iter("Node"):
        tool_id, gui = node.get("ToolID"), node.find("GuiSettings")
        plugin = gui.get("Plugin") if gui is not None else None
        if not tool_id or tool_id in tools:
            problems.append(f"{name}: tool id {tool_id!r} is missing or repeated")
            continue
        if plugin not in PLUGINS:
            problems.append(f"{name}: tool {tool_id}: unknown plugin {plugin!r}")
            continue
        tools[tool_id] = plugin
        engine = node.find("EngineSettings")
        expected = PLUGINS[plugin][:2]
        if engine is None or (engine.get("EngineDll"), engine.get("EngineDllEntryPoint")) != expected:
            problems.append(f"{name}: tool {tool_id}: engine settings are not {expected}")
    connected: dict[str, set[str]] = defaultdict(set)
    upstream: dict[str, list[str]] = defaultdict(list)
    for connection in root.iter("Connection"):
        origin, destination = connection.find("Origin"), connection.find("Destination")
        if origin is None or destination is None:
            problems.append(f"{name}: a connection lacks its origin or destination")
            continue
        for end, anchors_at in ((origin, 3), (destination, 2)):
            tool_id, anchor = end.get("ToolID"), end.get("Connection")
            if tool_id not in tools:
                problems.append(f"{name}: a connection names tool {tool_id}, which does not exist")
            elif anchor not in PLUGINS[tools[tool_id]][anchors_at]:
                side = "output" if anchors_at == 3 else "input"
                problems.append(f"{name}: tool {tool_id} ({tools[tool_id].rsplit('.', 1)[-1]}) has no {side} anchor {anchor!r}")
        connected[destination.get("ToolID")].add(destination.get("Connection"))
        upstream[destination.get("ToolID")].append(origin.get("ToolID"))
    for tool_id, plugin in tools.items():
        missing = set(PLUGINS[plugin][2]) - connected[tool_id]
        if missing:
            problems.append(f"{name}: tool {tool_id} ({plugin.rsplit('.', 1)[-1]}): input anchor(s) {sorted(missing)} not connected")
    problems += _columns(root, tools, contract, name)
    return problems


def _columns(root: ET.Element, tools: dict[str, str], contract: dict[str, set[str]], name: str) -> list[str]:
    """Columns read by queries are in the contract; fields named by tools are produced by a query or a formula."""
    problems, produced, named = [], set(), []
    for node in root.iter("Node"):
        tool_id, plugin = node.get("ToolID"), tools.get(node.get("ToolID"))
        configuration = node.find("Properties/Configuration")
        if plugin is None or configuration is None:
            continue
        short = plugin.rsplit(".", 1)[-1]
        if short == "DbFileInput":
            text = configuration.findtext("File") or ""
            connection, _, query = text.partition("|||")
            if not connection.startswith("odbc:") or not query:
                problems.append(f"{name}: tool {tool_id}: input is not an ODBC query (odbc:DSN=...|||SELECT ...)")
                continue
            outputs, query_problems = _query(query, contract)
            produced |= outputs
            problems += [f"{name}: tool {tool_id}: {p}" for p in query_problems]
        elif short == "Formula":
            for field in configuration.iter("FormulaField"):
                produced.add(field.get("field"))
                named += [(tool_id, ref) for ref in FIELD_REFERENCE.findall(field.get("expression") or "")]
        elif short == "Filter":
            named.append((tool_id, configuration.findtext("Simple/Field")))
        elif short == "Join":
            named += [(tool_id, f.get("field")) for f in configuration.iter("Field")]
        elif short in ("AlteryxSelect", "Sort"):
            fields = configuration.iter("SelectField") if short == "AlteryxSelect" else configuration.iter("Field")
            named += [(tool_id, f.get("field")) for f in fields if f.get("field") != "*Unknown"]
    for tool_id, field in named:
        if field not in produced:
            problems.append(f"{name}: tool {tool_id} names field {field!r}, which no query or formula upstream produces")
    return problems


def _query(query: str, contract: dict[str, set[str]]) -> tuple[set[str], list[str]]:
    """The query's output column names, and what it reads that the contract lacks."""
    try:
        parsed = sqlglot.parse_one(query, read="snowflake")
    except sqlglot.errors.ParseError as error:
        return set(), [f"query does not parse: {str(error).splitlines()[0]}"]
    tables = {f"{t.db}.{t.name}".upper() for t in parsed.find_all(exp.Table)}
    problems = [f"reads {t}, which is not in the warehouse contract" for t in sorted(tables) if t not in contract]
    readable = set().union(*(contract.get(t, set()) for t in tables)) if tables else set()
    for column in {c.name.upper() for c in parsed.find_all(exp.Column)}:
        if column not in readable:
            problems.append(f"reads column {column} of {', '.join(sorted(tables))}, which is not in the warehouse contract")
    return {name.upper() for name in parsed.named_selects}, problems
