"""The semantic model as TMDL, in the layout and canonical form Microsoft's own serializer
(`TmdlSerializer`) writes: a test reads it back with that serializer and writes it again, and
the two must be identical.

Identifiers that Power BI keeps across saves (lineage tags, relationship names) are UUIDs
derived from the object's name, so regenerating gives the same files.
"""

from __future__ import annotations

import re
import uuid

from retail_control_tower.powerbi.mquery import parameters, partition
from retail_control_tower.powerbi.spec import Column, Measure, Relationship, Spec, Table

NAMESPACE = uuid.UUID("6f7f3b5e-1d2a-4c61-9c1e-2b0c1b7e2a10")
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def tag(*parts: str) -> str:
    """A stable UUID for a model object (its lineage tag, or a relationship's name)."""
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def name(value: str) -> str:
    """A TMDL object name, quoted when it is more than letters, digits and underscores."""
    return value if _PLAIN.match(value) else "'" + value.replace("'", "''") + "'"


def _description(text: str, indent: str) -> list[str]:
    return [f"{indent}/// {line}".rstrip() for line in text.splitlines()] if text else []


def _expression(head: str, expression: str, indent: str) -> list[str]:
    """``head = expression``: on one line, or on the following lines two levels deeper."""
    if "\n" not in expression:
        return [f"{indent}{head} = {expression}"]
    deeper = indent + "\t\t"
    return [f"{indent}{head} ="] + [f"{deeper}{line}".rstrip() for line in expression.splitlines()]


def _measure(table: Table, measure: Measure) -> list[str]:
    lines = _description(measure.description, "\t")
    lines += _expression(f"measure {name(measure.name)}", measure.expression, "\t")
    if measure.format:
        lines.append(f"\t\tformatString: {measure.format}")
    if measure.folder:
        lines.append(f"\t\tdisplayFolder: {measure.folder}")
    lines.append(f"\t\tlineageTag: {tag('measure', table.name, measure.name)}")
    return lines + [""]


def _column(table: Table, column: Column) -> list[str]:
    lines = _description(column.description, "\t")
    lines.append(f"\tcolumn {name(column.name)}")
    lines.append(f"\t\tdataType: {column.data_type}")
    if column.hidden:
        lines.append("\t\tisHidden")
    if table.key == column.name:
        lines.append("\t\tisKey")
    fmt = column.format or ("yyyy-mm-dd hh:nn:ss" if column.type == "datetime" else None)
    if fmt:
        lines.append(f"\t\tformatString: {fmt}")
    lines.append(f"\t\tlineageTag: {tag('column', table.name, column.name)}")
    lines.append("\t\tsummarizeBy: none")
    lines.append(f"\t\tsourceColumn: {column.name}")
    if column.sort_by:
        lines.append(f"\t\tsortByColumn: {name(column.sort_by)}")
    return lines + [""]


def table_tmdl(spec: Spec, table: Table) -> str:
    lines = _description(table.description, "")
    lines.append(f"table {name(table.name)}")
    lines.append(f"\tlineageTag: {tag('table', table.name)}")
    if table.date_table:
        lines.append("\tdataCategory: Time")
    lines.append("")
    for measure in table.measures:
        lines += _measure(table, measure)
    for column in table.columns:
        lines += _column(table, column)
    lines.append(f"\tpartition {name(table.name)} = m")
    lines.append("\t\tmode: import")
    lines += _expression("source", partition(spec, table), "\t\t")
    return "\n".join(lines) + "\n\n"


def _relationship(rel: Relationship) -> list[str]:
    lines = [f"relationship {tag('relationship', rel.from_table, rel.from_column, rel.to_table, rel.to_column)}"]
    if not rel.active:
        lines.append("\tisActive: false")
    lines.append(f"\tfromColumn: {name(rel.from_table)}.{name(rel.from_column)}")
    lines.append(f"\ttoColumn: {name(rel.to_table)}.{name(rel.to_column)}")
    return lines + [""]


def semantic_model_definition(spec: Spec) -> dict[str, str]:
    """The files of ``<name>.SemanticModel/definition/``, path -> text."""
    files = {
        "database.tmdl": f"database {name(spec.name)}\n\tcompatibilityLevel: {spec.compatibility_level}\n\n",
        "model.tmdl": "\n".join(
            [
                "model Model",
                f"\tculture: {spec.culture}",
                "\tdefaultPowerBIDataSourceVersion: powerBI_V3",
                "\tdiscourageImplicitMeasures",
                f"\tsourceQueryCulture: {spec.culture}",
                "",
                # No automatic date tables beside DIM_DATE, the model's date table.
                "annotation __PBI_TimeIntelligenceEnabled = 0",
                "",
                *[f"ref table {name(t.name)}" for t in spec.tables],
                "",
                "",
            ]
        ),
    }
    expressions: list[str] = []
    for parameter in parameters(spec):
        expressions += _description(parameter.description, "")
        expressions.append(f"expression {name(parameter.name)} = {parameter.expression()}")
        expressions.append(f"\tlineageTag: {tag('expression', parameter.name)}")
        expressions.append("")
        expressions.append("\tannotation PBI_ResultType = Text")
        expressions.append("")
    files["expressions.tmdl"] = "\n".join(expressions) + "\n"
    relationships: list[str] = []
    for rel in spec.relationships:
        relationships += _relationship(rel)
    files["relationships.tmdl"] = "\n".join(relationships) + "\n"
    for table in spec.tables:
        files[f"tables/{table.name}.tmdl"] = table_tmdl(spec, table)
    return files
