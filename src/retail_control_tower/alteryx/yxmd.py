"""Alteryx Designer workflow XML (.yxmd), tool by tool, written as Designer saves it.

The element names, plugin names, engine entry points, anchors and file-format codes follow
workflows that Designer saved and that are public (alteryx/README.md names them):

- Input Data reading a file, Sort, Select, Join, Formula, document properties:
  JackMey/Macquarie-Group-Alteryx ``workflows/Test Alteryx Workflow 1.yxmd`` (Designer 2020.1);
- Filter (simple mode), Summarize's plugin, Join's outputs and select configuration:
  AhmadSyed96/Alteryx-Challenges ``challenge 8/solution.yxmd`` (Designer 2021.4);
- Union (by name) and its numbered input connections (``<Connection name="#1">``): a
  Designer 2019.3 workflow ("01 SETLEAF Equations Completed") kept in a public test file;
- Output Data to CSV (``FileFormat="0"``, its format options): Designer-saved output nodes of
  Alteryx's "One Tool At A Time" samples, as kept in a public script.

One thing was not seen in a Designer-saved file: ``FileFormat="23"`` for an ODBC input. Two
public descriptions of Designer files give 23 for ODBC/OleDB database inputs; the connection
string form ``odbc:DSN=<dsn>|||<query>`` is the one Designer writes for database inputs (as in
a saved Oracle input, ``oci:...|||SELECT ...``). Open a workflow in Designer once to confirm.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

YXMD_VERSION = "2020.1"
BASE_ENGINE = "AlteryxBasePluginsEngine.dll"

#: plugin -> (engine dll, engine entry point, input anchors, output anchors)
PLUGINS: dict[str, tuple[str, str, tuple[str, ...], tuple[str, ...]]] = {
    "AlteryxBasePluginsGui.DbFileInput.DbFileInput": (BASE_ENGINE, "AlteryxDbFileInput", (), ("Output",)),
    "AlteryxBasePluginsGui.DbFileOutput.DbFileOutput": (BASE_ENGINE, "AlteryxDbFileOutput", ("Input",), ()),
    "AlteryxBasePluginsGui.Filter.Filter": (BASE_ENGINE, "AlteryxFilter", ("Input",), ("True", "False")),
    "AlteryxBasePluginsGui.Join.Join": (BASE_ENGINE, "AlteryxJoin", ("Left", "Right"), ("Left", "Join", "Right")),
    "AlteryxBasePluginsGui.Union.Union": (BASE_ENGINE, "AlteryxUnion", ("Input",), ("Output",)),
    "AlteryxBasePluginsGui.Formula.Formula": (BASE_ENGINE, "AlteryxFormula", ("Input",), ("Output",)),
    "AlteryxBasePluginsGui.AlteryxSelect.AlteryxSelect": (BASE_ENGINE, "AlteryxSelect", ("Input",), ("Output",)),
    "AlteryxBasePluginsGui.Sort.Sort": (BASE_ENGINE, "AlteryxSort", ("Input",), ("Output",)),
}
ODBC_FORMAT, CSV_FORMAT = "23", "0"
FIXED_DATE = "2026-01-01 00:00:00"  # unused by an equality on text; fixed so regenerating changes nothing


def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


@dataclass
class Tool:
    tool_id: int
    plugin: str
    x: int
    y: int
    configuration: ET.Element
    annotation: str = ""

    def element(self) -> ET.Element:
        node = ET.Element("Node", ToolID=str(self.tool_id))
        gui = sub(node, "GuiSettings", Plugin=self.plugin)
        sub(gui, "Position", x=str(self.x), y=str(self.y))
        properties = sub(node, "Properties")
        properties.append(self.configuration)
        annotation = sub(properties, "Annotation", DisplayMode="0")
        sub(annotation, "Name")
        sub(annotation, "DefaultAnnotationText", self.annotation)
        sub(annotation, "Left", value="False")
        engine_dll, entry_point, _, _ = PLUGINS[self.plugin]
        sub(node, "EngineSettings", EngineDll=engine_dll, EngineDllEntryPoint=entry_point)
        return node


@dataclass
class Workflow:
    name: str
    description: str
    tools: list[Tool] = field(default_factory=list)
    connections: list[tuple[int, str, int, str, str | None]] = field(default_factory=list)

    def add(self, plugin: str, configuration: ET.Element, annotation: str = "", at: tuple[int, int] | None = None) -> int:
        tool_id = len(self.tools) + 1
        x, y = at or (54 + 96 * len(self.tools), 54)
        self.tools.append(Tool(tool_id, plugin, x, y, configuration, annotation))
        return tool_id

    def connect(self, origin: int, destination: int, origin_anchor: str = "Output", destination_anchor: str = "Input",
                name: str | None = None) -> None:
        self.connections.append((origin, origin_anchor, destination, destination_anchor, name))

    def xml(self) -> str:
        document = ET.Element("AlteryxDocument", yxmdVer=YXMD_VERSION)
        nodes = sub(document, "Nodes")
        for tool in self.tools:
            nodes.append(tool.element())
        connections = sub(document, "Connections")
        for origin, origin_anchor, destination, destination_anchor, name in self.connections:
            connection = sub(connections, "Connection", **({"name": name} if name else {}))
            sub(connection, "Origin", ToolID=str(origin), Connection=origin_anchor)
            sub(connection, "Destination", ToolID=str(destination), Connection=destination_anchor)
        document.append(_document_properties(self.name, self.description))
        ET.indent(document, space="  ")
        return '<?xml version="1.0"?>\n' + ET.tostring(document, encoding="unicode") + "\n"


def _document_properties(name: str, description: str) -> ET.Element:
    properties = ET.Element("Properties")
    sub(properties, "Memory", default="True")
    sub(properties, "GlobalRecordLimit", value="0")
    sub(properties, "TempFiles", default="True")
    sub(properties, "Annotation", on="True", includeToolName="False")
    sub(properties, "ConvErrorLimit", value="10")
    sub(properties, "ConvErrorLimit_Stop", value="False")
    sub(properties, "CancelOnError", value="True")  # a scheduled extract must stop, not write half a file
    sub(properties, "DisableBrowse", value="False")
    sub(properties, "EnablePerformanceProfiling", value="False")
    sub(properties, "DisableAllOutput", value="False")
    sub(properties, "ShowAllMacroMessages", value="False")
    sub(properties, "ShowConnectionStatusIsOn", value="True")
    sub(properties, "ShowConnectionStatusOnlyWhenRunning", value="True")
    sub(properties, "ZoomLevel", value="0")
    sub(properties, "LayoutType", "Horizontal")
    meta = sub(properties, "MetaInfo")
    sub(meta, "NameIsFileName", value="True")
    sub(meta, "Name", name)
    sub(meta, "Description", description)
    for tag in ("RootToolName", "ToolVersion"):
        sub(meta, tag)
    sub(meta, "ToolInDb", value="False")
    for tag in ("CategoryName", "SearchTags", "Author", "Company", "Copyright"):
        sub(meta, tag)
    sub(meta, "DescriptionLink", actual="", displayed="")
    example = sub(meta, "Example")
    sub(example, "Description")
    sub(example, "File")
    events = sub(properties, "Events")
    sub(events, "Enabled", value="True")
    return properties


# --- tool configurations -------------------------------------------------------------------------
def odbc_input(dsn: str, query: str) -> ET.Element:
    configuration = ET.Element("Configuration")
    sub(configuration, "Passwords")
    sub(configuration, "File", f"odbc:DSN={dsn}|||{query}", OutputFileName="", RecordLimit="", SearchSubDirs="False",
        FileFormat=ODBC_FORMAT)
    sub(configuration, "FormatSpecificOptions")
    return configuration


def csv_output(path: str) -> ET.Element:
    configuration = ET.Element("Configuration")
    sub(configuration, "File", path, MaxRecords="", FileFormat=CSV_FORMAT)
    sub(configuration, "Passwords")
    options = sub(configuration, "FormatSpecificOptions")
    for tag, value in (("LineEndStyle", "CRLF"), ("Delimeter", ","), ("ForceQuotes", "False"), ("HeaderRow", "True"),
                       ("CodePage", "65001"), ("WriteBOM", "True")):
        sub(options, tag, value)
    sub(configuration, "MultiFile", value="False")
    return configuration


def filter_equals(field_name: str, value: str) -> ET.Element:
    configuration = ET.Element("Configuration")
    sub(configuration, "Mode", "Simple")
    simple = sub(configuration, "Simple")
    sub(simple, "Operator", "=")
    sub(simple, "Field", field_name)
    operands = sub(simple, "Operands")
    # Designer keeps the date operands of a simple filter whatever the field's type.
    for tag, text in (("PeriodDate", FIXED_DATE), ("PeriodType", None), ("PeriodCount", "0"), ("StartDate", FIXED_DATE),
                      ("EndDate", FIXED_DATE), ("Operand", value), ("DateType", "fixed"), ("IgnoreTimeInDateTime", "True")):
        sub(operands, tag, text)
    return configuration


def join(key: str, drop_right: list[str]) -> ET.Element:
    configuration = ET.Element("Configuration", joinByRecordPos="False")
    for side in ("Left", "Right"):
        sub(sub(configuration, "JoinInfo", connection=side), "Field", field=key)
    select = sub(sub(configuration, "SelectConfiguration"), "Configuration", outputConnection="Join")
    sub(select, "OrderChanged", value="False")
    sub(select, "CommaDecimal", value="False")
    fields = sub(select, "SelectFields")
    for name in drop_right:
        sub(fields, "SelectField", field=f"Right_{name}", selected="False", rename=f"Right_{name}", input="Right_")
    sub(fields, "SelectField", field="*Unknown", selected="True")
    return configuration


def union_by_name() -> ET.Element:
    configuration = ET.Element("Configuration")
    sub(configuration, "ByName_ErrorMode", "Error")
    sub(configuration, "ByName_OutputMode", "All")
    sub(configuration, "Mode", "ByName")
    sub(configuration, "SetOutputOrder", value="False")
    return configuration


def formula(fields: list[tuple[str, str, str, str]]) -> ET.Element:
    """``fields``: (name, expression, type, size)."""
    configuration = ET.Element("Configuration")
    formula_fields = sub(configuration, "FormulaFields")
    for name, expression, kind, size in fields:
        sub(formula_fields, "FormulaField", expression=expression, field=name, size=size, type=kind)
    return configuration


def select(keep: list[str]) -> ET.Element:
    """Keeps ``keep`` in that order and drops every other field."""
    configuration = ET.Element("Configuration")
    sub(configuration, "OrderChanged", value="True")
    sub(configuration, "CommaDecimal", value="False")
    fields = sub(configuration, "SelectFields")
    for name in keep:
        sub(fields, "SelectField", field=name, selected="True")
    sub(fields, "SelectField", field="*Unknown", selected="False")
    return configuration


def sort(by: list[tuple[str, str]]) -> ET.Element:
    """``by``: (field, "Ascending" | "Descending")."""
    configuration = ET.Element("Configuration")
    info = sub(configuration, "SortInfo", locale="0")
    for name, order in by:
        sub(info, "Field", field=name, order=order)
    return configuration
