"""The Power BI Project (PBIP) as a whole: every file the generator owns, rendered from the
spec, written to a folder, or compared with one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from retail_control_tower.powerbi.report import SCHEMAS, report_definition
from retail_control_tower.powerbi.spec import Spec
from retail_control_tower.powerbi.tmdl import semantic_model_definition, tag

PLATFORM_SCHEMA = f"{SCHEMAS}/gitIntegration/platformProperties/2.0.0/schema.json"
PBIP_SCHEMA = f"{SCHEMAS}/pbip/pbipProperties/1.0.0/schema.json"
PBIR_SCHEMA = f"{SCHEMAS}/item/report/definitionProperties/2.0.0/schema.json"
PBISM_SCHEMA = f"{SCHEMAS}/item/semanticModel/definitionProperties/1.0.0/schema.json"

# What Power BI Desktop writes beside the project for the person who has it open.
GITIGNORE = "**/.pbi/localSettings.json\n**/.pbi/cache.abf\n"


def _json(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _platform(spec: Spec, kind: str) -> dict[str, Any]:
    return {
        "$schema": PLATFORM_SCHEMA,
        "metadata": {"type": kind, "displayName": spec.name},
        "config": {"version": "2.0", "logicalId": tag("item", spec.name, kind)},
    }


def render(spec: Spec) -> dict[str, str]:
    """Every generated file, relative path -> text."""
    model, report = f"{spec.name}.SemanticModel", f"{spec.name}.Report"
    files = {
        ".gitignore": GITIGNORE,
        f"{spec.name}.pbip": _json(
            {
                "$schema": PBIP_SCHEMA,
                "version": "1.0",
                "artifacts": [{"report": {"path": report}}],
                "settings": {"enableAutoRecovery": True},
            }
        ),
        f"{model}/.platform": _json(_platform(spec, "SemanticModel")),
        f"{model}/definition.pbism": _json({"$schema": PBISM_SCHEMA, "version": "4.2", "settings": {}}),
        f"{report}/.platform": _json(_platform(spec, "Report")),
        f"{report}/definition.pbir": _json(
            {"$schema": PBIR_SCHEMA, "version": "4.0", "datasetReference": {"byPath": {"path": f"../{model}"}}}
        ),
    }
    files.update({f"{model}/definition/{path}": text for path, text in semantic_model_definition(spec).items()})
    files.update({f"{report}/{path}": _json(document) for path, document in report_definition(spec).items()})
    return files


def generated_roots(spec: Spec) -> list[str]:
    """The folders the generator owns entirely (a file in them that it did not write is stale)."""
    return [f"{spec.name}.SemanticModel", f"{spec.name}.Report"]


def differences(spec: Spec, folder: Path) -> list[str]:
    """How ``folder`` differs from what the spec generates: missing, changed and stale files."""
    files = render(spec)
    problems = []
    for path, text in sorted(files.items()):
        target = folder / path
        if not target.is_file():
            problems.append(f"missing: {path}")
        elif target.read_text(encoding="utf-8") != text:
            problems.append(f"changed: {path}")
    for root in generated_roots(spec):
        for target in sorted((folder / root).rglob("*")):
            path = target.relative_to(folder).as_posix()
            if target.is_file() and path not in files and "/.pbi/" not in f"/{path}":
                problems.append(f"not generated: {path}")
    return problems


def write(spec: Spec, folder: Path) -> list[str]:
    """Writes the project into ``folder`` (replacing the generated folders); the paths written."""
    for root in generated_roots(spec):
        target = folder / root
        if target.exists():
            # Keep Desktop's per-user .pbi folders (local settings, cache); replace the rest.
            for child in target.iterdir():
                if child.name != ".pbi":
                    shutil.rmtree(child) if child.is_dir() else child.unlink()
    files = render(spec)
    for path, text in files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8", newline="\n")
    return sorted(files)
