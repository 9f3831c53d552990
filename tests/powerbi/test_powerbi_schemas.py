"""Every PBIP file validates against Microsoft's JSON schemas (vendored in shared/, MIT)."""

from __future__ import annotations

import json
import shutil

import pytest
from powerbi_support import POWERBI, report, schema_problems


def test_every_project_file_validates_against_microsofts_schemas():
    assert schema_problems(POWERBI) == []


def test_the_formats_are_those_current_power_bi_desktop_writes():
    documents = {p.name: json.loads(p.read_text()) for p in POWERBI.rglob("*") if p.suffix in (".pbip", ".pbir", ".pbism")}
    assert documents["RetailControlTower.pbip"]["version"] == "1.0"
    assert documents["definition.pbir"]["version"] == "4.0"
    assert documents["definition.pbism"]["version"] == "4.2"
    assert documents["definition.pbir"]["datasetReference"] == {"byPath": {"path": "../RetailControlTower.SemanticModel"}}
    report_json = json.loads((report(POWERBI) / "definition" / "report.json").read_text())
    assert "/report/3." in report_json["$schema"]
    theme = report_json["themeCollection"]["baseTheme"]["name"]
    assert (report(POWERBI) / "StaticResources" / "SharedResources" / "BaseThemes" / f"{theme}.json").is_file()
    for page in (report(POWERBI) / "definition" / "pages").glob("*/page.json"):
        assert "/page/2.1.0/" in json.loads(page.read_text())["$schema"]
    for visual in (report(POWERBI) / "definition" / "pages").rglob("visual.json"):
        assert "/visualContainer/2." in json.loads(visual.read_text())["$schema"]


def _edit(path, change):
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


BREAKS = {
    "a visual with an unknown property": ("definition/pages/sales_overview/visuals/trend/visual.json", lambda d: d.update(colour="red")),
    "a projection with an unknown property": (
        "definition/pages/sales_overview/visuals/trend/visual.json",
        lambda d: d["visual"]["query"]["queryState"]["Y"]["projections"][0].update(bold=True),
    ),
    "a page without its display option": ("definition/pages/model_health/page.json", lambda d: d.pop("displayOption")),
    "a page scaled a way that does not exist": ("definition/pages/model_health/page.json", lambda d: d.update(displayOption="Stretch")),
    "a report.json without its theme": ("definition/report.json", lambda d: d.pop("themeCollection")),
    "a .pbir naming no model": ("definition.pbir", lambda d: d.pop("datasetReference")),
    "a visual of a newer schema than vendored": (
        "definition/pages/sales_overview/visuals/trend/visual.json",
        lambda d: d.update({"$schema": d["$schema"].replace("2.9.0", "9.9.0")}),
    ),
}


@pytest.mark.parametrize("case", BREAKS)
def test_a_broken_copy_fails_validation(tmp_path, case):
    copy = shutil.copytree(POWERBI, tmp_path / "powerbi")
    path, change = BREAKS[case]
    _edit(report(copy) / path, change)
    problems = schema_problems(copy)
    assert problems and all(path.split("/")[-1] in p for p in problems), problems


def test_a_pbip_without_artifacts_fails_validation(tmp_path):
    copy = shutil.copytree(POWERBI, tmp_path / "powerbi")
    _edit(copy / "RetailControlTower.pbip", lambda d: d.pop("artifacts"))
    assert any("RetailControlTower.pbip" in p and "'artifacts' is a required property" in p for p in schema_problems(copy))
