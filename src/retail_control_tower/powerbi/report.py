"""The report as PBIR: report, pages and visuals, in the schema versions Power BI Desktop
writes (the `$schema` of each file names its version)."""

from __future__ import annotations

from typing import Any

from retail_control_tower.powerbi.spec import Page, Spec, Visual

SCHEMAS = "https://developer.microsoft.com/json-schemas/fabric"
REPORT_SCHEMA = f"{SCHEMAS}/item/report/definition/report/3.3.0/schema.json"
PAGES_SCHEMA = f"{SCHEMAS}/item/report/definition/pagesMetadata/1.1.0/schema.json"
PAGE_SCHEMA = f"{SCHEMAS}/item/report/definition/page/2.1.0/schema.json"
VISUAL_SCHEMA = f"{SCHEMAS}/item/report/definition/visualContainer/2.9.0/schema.json"
VERSION_SCHEMA = f"{SCHEMAS}/item/report/definition/versionMetadata/1.0.0/schema.json"
# The versions a theme records as "the report's versions when the theme was added".
VERSIONS_AT_IMPORT = {"visual": "2.9.0", "report": "3.3.0", "page": "2.1.0"}

BASE_THEME = "CY24SU10"
# Power BI's default palette and text styles, the parts of the base theme this report relies on.
THEME = {
    "name": BASE_THEME,
    "dataColors": [
        "#118DFF", "#12239E", "#E66C37", "#6B007B", "#E044A7", "#744EC2",
        "#D9B300", "#D64550", "#197278", "#1AAB40", "#15C6F4", "#4092FF",
    ],
    "foreground": "#252423",
    "foregroundNeutralSecondary": "#605E5C",
    "foregroundNeutralTertiary": "#B3B0AD",
    "background": "#FFFFFF",
    "backgroundLight": "#F3F2F1",
    "backgroundNeutral": "#C8C6C4",
    "tableAccent": "#118DFF",
    "good": "#1AAB40",
    "neutral": "#D9B300",
    "bad": "#D64554",
    "maximum": "#118DFF",
    "center": "#D9B300",
    "minimum": "#DEEFFF",
    "null": "#FF7F48",
    "hyperlink": "#0078D4",
    "visitedHyperlink": "#0078D4",
    "textClasses": {
        "callout": {"fontSize": 45, "fontFace": "DIN", "color": "#252423"},
        "title": {"fontSize": 12, "fontFace": "DIN", "color": "#252423"},
        "header": {"fontSize": 12, "fontFace": "Segoe UI Semibold", "color": "#252423"},
        "label": {"fontSize": 10, "fontFace": "Segoe UI", "color": "#252423"},
    },
}


def literal(value: str | bool | int | float) -> dict[str, Any]:
    """A PBIR literal: text in single quotes, booleans bare, numbers with a D (double) suffix."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = "'" + value.replace("'", "''") + "'"
    else:
        text = f"{value}D"
    return {"expr": {"Literal": {"Value": text}}}


def field(spec: Spec, reference: str) -> dict[str, Any]:
    """The query expression of ``"Table.Column"`` or ``"Table.Measure"``."""
    table, name, kind = spec.field_kind(reference)
    return {kind: {"Expression": {"SourceRef": {"Entity": table.name}}, "Property": name}}


def _projection(spec: Spec, reference: str, role: str) -> dict[str, Any]:
    table, name, _ = spec.field_kind(reference)
    projection = {"field": field(spec, reference), "queryRef": f"{table.name}.{name}", "nativeQueryRef": name}
    if role == "Category":
        projection["active"] = True
    return projection


def visual_json(spec: Spec, visual: Visual, index: int) -> dict[str, Any]:
    x, y, width, height = visual.position
    query: dict[str, Any] = {
        "queryState": {
            role: {"projections": [_projection(spec, ref, role) for ref in refs]} for role, refs in visual.fields.items()
        }
    }
    if visual.sort:
        reference, direction = visual.sort
        query["sortDefinition"] = {"sort": [{"field": field(spec, reference), "direction": direction}], "isDefaultSort": True}
    body: dict[str, Any] = {"visualType": visual.type, "query": query}
    if visual.type == "slicer":  # a list of values, not a range, also for a numeric column
        body["objects"] = {"data": [{"properties": {"mode": literal("Basic")}}]}
    title = [{"properties": {"show": literal(True), "text": literal(visual.title)}}] if visual.title else None
    if title:
        body["visualContainerObjects"] = {"title": title}
    body["drillFilterOtherVisuals"] = True
    return {
        "$schema": VISUAL_SCHEMA,
        "name": visual.name,
        "position": {"x": x, "y": y, "z": index * 1000, "height": height, "width": width, "tabOrder": index * 1000},
        "visual": body,
    }


def page_json(page: Page) -> dict[str, Any]:
    return {
        "$schema": PAGE_SCHEMA,
        "name": page.name,
        "displayName": page.title,
        "displayOption": "FitToPage",
        "height": page.height,
        "width": page.width,
    }


def report_json() -> dict[str, Any]:
    return {
        "$schema": REPORT_SCHEMA,
        "themeCollection": {
            "baseTheme": {"name": BASE_THEME, "reportVersionAtImport": VERSIONS_AT_IMPORT, "type": "SharedResources"}
        },
        "objects": {"section": [{"properties": {"verticalAlignment": literal("Top")}}]},
        "resourcePackages": [
            {
                "name": "SharedResources",
                "type": "SharedResources",
                "items": [{"name": BASE_THEME, "path": f"BaseThemes/{BASE_THEME}.json", "type": "BaseTheme"}],
            }
        ],
        "settings": {
            "useStylableVisualContainerHeader": True,
            "exportDataMode": "AllowSummarized",
            "defaultDrillFilterOtherVisuals": True,
            "allowChangeFilterTypes": True,
            "useEnhancedTooltips": True,
            "useDefaultAggregateDisplayName": True,
        },
    }


def report_definition(spec: Spec) -> dict[str, Any]:
    """The JSON documents of ``<name>.Report/``, path -> document."""
    files: dict[str, Any] = {
        f"StaticResources/SharedResources/BaseThemes/{BASE_THEME}.json": THEME,
        "definition/version.json": {"$schema": VERSION_SCHEMA, "version": "2.0.0"},
        "definition/report.json": report_json(),
        "definition/pages/pages.json": {
            "$schema": PAGES_SCHEMA,
            "pageOrder": [p.name for p in spec.pages],
            "activePageName": spec.pages[0].name,
        },
    }
    for page in spec.pages:
        files[f"definition/pages/{page.name}/page.json"] = page_json(page)
        for index, visual in enumerate(page.visuals):
            files[f"definition/pages/{page.name}/visuals/{visual.name}/visual.json"] = visual_json(spec, visual, index)
    return files
