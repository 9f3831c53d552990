"""The committed Power BI Project is exactly what the spec generates, and the spec's loader
gives other generators (Alteryx, issue 18) the same column lists."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from powerbi_support import POWERBI, PROJECT

from retail_control_tower.powerbi import SpecError, load_spec, warehouse_columns
from retail_control_tower.powerbi.project import differences


def test_the_committed_project_is_what_the_spec_generates():
    result = subprocess.run(
        [sys.executable, "-m", "retail_control_tower.powerbi", "--check"], cwd=PROJECT, capture_output=True, text=True
    )
    assert result.returncode == 0, f"regenerate with `make powerbi` and commit:\n{result.stdout}"


def test_the_check_fails_on_an_edited_a_missing_and_a_stray_file(tmp_path):
    copy = shutil.copytree(POWERBI, tmp_path / "powerbi")
    model = copy / "RetailControlTower.SemanticModel" / "definition"
    (model / "tables" / "DIM_DATE.tmdl").write_text((model / "tables" / "DIM_DATE.tmdl").read_text().replace("int64", "double", 1))
    (model / "relationships.tmdl").unlink()
    (model / "tables" / "HAND_MADE.tmdl").write_text("table HAND_MADE\n")
    (copy / "RetailControlTower.SemanticModel" / ".pbi").mkdir()
    (copy / "RetailControlTower.SemanticModel" / ".pbi" / "localSettings.json").write_text("{}")  # Desktop's own
    assert differences(load_spec(copy / "spec.yml"), copy) == [
        "missing: RetailControlTower.SemanticModel/definition/relationships.tmdl",
        "changed: RetailControlTower.SemanticModel/definition/tables/DIM_DATE.tmdl",
        "not generated: RetailControlTower.SemanticModel/definition/tables/HAND_MADE.tmdl",
    ]
    result = subprocess.run(
        [sys.executable, "-m", "retail_control_tower.powerbi", "--check", "--spec", str(copy / "spec.yml")],
        capture_output=True, text=True,
    )
    assert result.returncode == 1 and "out of date" in result.stdout


def test_generating_twice_gives_the_same_files(tmp_path):
    shutil.copy(POWERBI / "spec.yml", tmp_path / "spec.yml")
    for _ in range(2):
        subprocess.run([sys.executable, "-m", "retail_control_tower.powerbi", "--spec", str(tmp_path / "spec.yml")], check=True, capture_output=True)
    assert differences(load_spec(tmp_path / "spec.yml"), tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".gitignore", "RetailControlTower.Report", "RetailControlTower.SemanticModel", "RetailControlTower.pbip", "spec.yml"
    ]


def test_warehouse_columns_lists_each_object_once_with_its_columns_in_order():
    columns = warehouse_columns()
    assert columns["MODEL.DIM_DATE"][:2] == [("DATE_KEY", "int64"), ("DATE_DAY", "date")]
    assert ("CATEGORY", "text") in columns["MODEL.DIM_PRODUCT"]  # read by DIM_PRODUCT and PRODUCT_CATEGORY, listed once
    assert [name for name, _ in columns["MODEL.DIM_PRODUCT"]].count("CATEGORY") == 1
    assert {"ML.MODEL_DECILES", "ML.MODEL_CALIBRATION", "ML.MODEL_REGISTRY", "REPORTING.V_CUSTOMER_RISK"} <= set(columns)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("FCT_ORDER_LINE.ORDER_DATE -> DIM_DATE.DATE_DAY", "FCT_ORDER_LINE.ORDER_DAY -> DIM_DATE.DATE_DAY"), "has no column ORDER_DAY"),
        (("YEAR: int64", "YEAR: integer"), "type 'integer'"),
        (("Y: [FCT_ORDER_LINE.Net Sales, ", "Y: [FCT_ORDER_LINE.Net Sale, "), "no column or measure 'Net Sale'"),
    ],
)
def test_a_spec_that_contradicts_itself_is_refused(tmp_path, edit, message):
    text = (POWERBI / "spec.yml").read_text(encoding="utf-8")
    assert edit[0] in text
    (tmp_path / "spec.yml").write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    with pytest.raises(SpecError, match=message):
        load_spec(tmp_path / "spec.yml")
