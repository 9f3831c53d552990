"""Reads a TMDL folder with Microsoft's own parser and prints what it read, as JSON.

    python tmdl_model.py <definition folder> [<folder to serialize it back into>]

Runs in its own process: it hosts Mono (Debian's mono-complete) through pythonnet and loads
`Microsoft.AnalysisServices.Tabular` from the DLLs of the PyPI package python-tabular, which
is not imported (its import configures logging and connects to nothing we need).
Prints {"ok": true, "model": {...}} or {"ok": false, "error": "<the parser's message>"}.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import warnings


def load_tom():
    warnings.filterwarnings("ignore", message="Hosting Mono versions before")
    from pythonnet import load

    load("mono")
    import clr

    package = importlib.util.find_spec("pytabular")
    sys.path.append(os.path.join(package.submodule_search_locations[0], "dll"))
    clr.AddReference("Microsoft.AnalysisServices.Tabular")
    import Microsoft.AnalysisServices.Tabular as tom

    return tom


def inventory(database) -> dict:
    model = database.Model
    tables = []
    for table in model.Tables:
        tables.append(
            {
                "name": table.Name,
                "dataCategory": table.DataCategory,
                "columns": [
                    {"name": c.Name, "dataType": str(c.DataType), "sourceColumn": getattr(c, "SourceColumn", None)}
                    for c in table.Columns
                    if str(c.Type) == "Data"
                ],
                "measures": [{"name": m.Name, "expression": m.Expression} for m in table.Measures],
                "partitions": [
                    {"name": p.Name, "kind": str(p.SourceType), "expression": getattr(p.Source, "Expression", None)}
                    for p in table.Partitions
                ],
            }
        )
    return {
        "name": database.Name,
        "compatibilityLevel": database.CompatibilityLevel,
        "tables": tables,
        "relationships": [
            {"from": [r.FromTable.Name, r.FromColumn.Name], "to": [r.ToTable.Name, r.ToColumn.Name], "active": r.IsActive}
            for r in model.Relationships
        ],
        "expressions": [{"name": e.Name, "kind": str(e.Kind), "expression": e.Expression} for e in model.Expressions],
    }


def main() -> None:
    tom = load_tom()
    try:
        database = tom.TmdlSerializer.DeserializeDatabaseFromFolder(sys.argv[1])
    except Exception as error:  # the parser's own exception types, through pythonnet
        print(json.dumps({"ok": False, "error": f"{type(error).__name__}: {error}"}))
        return
    if len(sys.argv) > 2:
        tom.TmdlSerializer.SerializeDatabaseToFolder(database, sys.argv[2])
    print(json.dumps({"ok": True, "model": inventory(database)}))


if __name__ == "__main__":
    main()
