"""DAX measures and the report refer only to what the model has: every column and measure a
measure names (from a DAX syntax tree, pbi-parsers), every field a visual uses, every page
pages.json lists."""

from __future__ import annotations

import json
import shutil

import pytest
from powerbi_support import POWERBI, dax_problems, definition, read_model, report, report_problems


@pytest.fixture(scope="module")
def model():
    result = read_model(definition(POWERBI))
    assert result["ok"], result.get("error")
    return result["model"]


def test_every_measure_parses_and_names_only_what_the_model_has(model):
    measures = [m["name"] for t in model["tables"] for m in t["measures"]]
    for expected in (
        "Net Sales", "Orders", "Customers", "Average Order Value", "Return Rate", "Net Sales PY", "Net Sales YoY %",
        "Customers at High Churn Risk", "Expected Churners", "Revenue at Risk", "Champion ROC AUC",
        "Champion Lift at 10%", "Failing DQ Checks", "Hours Since Newest Sale", "Freshness SLA Hours",
    ):
        assert expected in measures
    assert dax_problems(model) == []


def test_every_visual_field_and_every_page_exists(model):
    assert report_problems(POWERBI, model) == []
    pages = json.loads((report(POWERBI) / "definition" / "pages" / "pages.json").read_text())["pageOrder"]
    assert pages == ["sales_overview", "customer_churn_risk", "model_health", "data_quality_pipeline_health"]


def _break_measure(model, table, measure, old, new):
    broken = json.loads(json.dumps(model))
    target = next(m for t in broken["tables"] if t["name"] == table for m in t["measures"] if m["name"] == measure)
    assert old in target["expression"]
    target["expression"] = target["expression"].replace(old, new)
    return broken


@pytest.mark.parametrize(
    ("table", "measure", "old", "new", "said"),
    [
        ("FCT_ORDER_LINE", "Net Sales", "[NET_AMOUNT]", "[NET_AMT]", "FCT_ORDER_LINE[NET_AMT] is not a column"),
        ("FCT_ORDER_LINE", "Average Order Value", "[Orders]", "[Order Count]", "[Order Count] is not a measure"),
        ("V_CUSTOMER_RISK", "Revenue at Risk", "SUMX(", "SUMMX(", "function SUMMX"),
        ("V_CUSTOMER_RISK", "Revenue at Risk", "SUMX(\n    V_CUSTOMER_RISK,", "SUMX(\n    V_CUSTOMER_RISKS,", "V_CUSTOMER_RISKS is neither"),
        ("SALES_DAILY", "Return Rate", "SUM(SALES_DAILY[UNITS]))", "SUM(SALES_DAILY[UNITS])", "does not parse"),
    ],
)
def test_a_measure_naming_what_the_model_lacks_fails(model, table, measure, old, new, said):
    problems = dax_problems(_break_measure(model, table, measure, old, new))
    assert len(problems) == 1 and said in problems[0], problems


def test_a_measure_broken_in_the_tmdl_itself_fails(tmp_path):
    copy = shutil.copytree(POWERBI, tmp_path / "powerbi")
    tmdl = definition(copy) / "tables" / "SALES_DAILY.tmdl"
    tmdl.write_text(tmdl.read_text().replace("SUM(SALES_DAILY[REFUND_AMOUNT])", "SUM(SALES_DAILY[REFUNDS])"))
    result = read_model(definition(copy))
    assert result["ok"]  # TMDL does not check DAX: this check does
    assert dax_problems(result["model"]) == ["[Refunds] (SALES_DAILY): SALES_DAILY[REFUNDS] is not a column of the model"]


def test_a_visual_field_or_a_page_the_model_lacks_fails(tmp_path, model):
    copy = shutil.copytree(POWERBI, tmp_path / "powerbi")
    pages = report(copy) / "definition" / "pages"
    visual = pages / "sales_overview" / "visuals" / "by_store" / "visual.json"
    visual.write_text(visual.read_text().replace('"Property": "STORE_NAME"', '"Property": "STORE_TITLE"'))
    card = pages / "model_health" / "visuals" / "card_champion_auc" / "visual.json"
    card.write_text(card.read_text().replace('"Entity": "V_CHAMPION_MODEL"', '"Entity": "DIM_STORE"'))
    order = json.loads((pages / "pages.json").read_text())
    order["pageOrder"].append("forecast")
    (pages / "pages.json").write_text(json.dumps(order))
    shutil.rmtree(pages / "model_health" / "visuals" / "decisions")
    assert report_problems(copy, model) == [
        "RetailControlTower.Report/definition/pages/model_health/visuals/card_champion_auc/visual.json: measure DIM_STORE.Champion ROC AUC is not in the model",
        "RetailControlTower.Report/definition/pages/sales_overview/visuals/by_store/visual.json: column DIM_STORE.STORE_TITLE is not in the model",
        "pages.json: page forecast does not exist",
    ]


def test_visuals_fit_their_page_without_overlapping():
    pages = report(POWERBI) / "definition" / "pages"
    for page_file in pages.glob("*/page.json"):
        page = json.loads(page_file.read_text())
        boxes = []
        for visual_file in (page_file.parent / "visuals").glob("*/visual.json"):
            p = json.loads(visual_file.read_text())["position"]
            assert p["x"] >= 0 and p["y"] >= 0, visual_file
            assert p["x"] + p["width"] <= page["width"] and p["y"] + p["height"] <= page["height"], visual_file
            boxes.append((visual_file.parent.name, p["x"], p["y"], p["x"] + p["width"], p["y"] + p["height"]))
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                overlap = a[1] < b[3] and b[1] < a[3] and a[2] < b[4] and b[2] < a[4]
                assert not overlap, f"{page['name']}: {a[0]} overlaps {b[0]}"
