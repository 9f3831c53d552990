"""The Alteryx workflows in alteryx/: generated from the Power BI spec's column lists, and
structurally sound (XML, tools, connections, columns); each check shown to fail on a broken copy."""

from __future__ import annotations

import pytest
from conftest import PROJECT

from retail_control_tower.alteryx import ALTERYX_DIR, build, check_file, check_text, contract_columns
from retail_control_tower.alteryx.__main__ import main as generate
from retail_control_tower.powerbi import warehouse_columns

CONTRACT = contract_columns(warehouse_columns())
CHURN = ALTERYX_DIR / "churn_campaign_list.yxmd"


def test_the_committed_workflows_are_what_the_spec_gives():
    assert sorted(p.name for p in ALTERYX_DIR.glob("*.yxmd")) == sorted(build()) == ["churn_campaign_list.yxmd", "daily_kpi_extract.yxmd"]
    assert generate(["--check"]) == 0


def test_every_committed_workflow_passes_the_structural_check():
    for path in ALTERYX_DIR.glob("*.yxmd"):
        assert check_file(path, CONTRACT) == [], path.name


def test_the_campaign_reads_the_same_columns_as_the_power_bi_model():
    text = CHURN.read_text()
    spec_columns = ", ".join(name for name, _ in warehouse_columns()["REPORTING.V_CUSTOMER_RISK"])
    assert f"|||SELECT {spec_columns} FROM REPORTING.V_CUSTOMER_RISK</File>" in text


BROKEN = [
    (lambda t: t.replace("</Nodes>", "</Node>", 1), "not well-formed XML"),
    (lambda t: t.replace("AlteryxBasePluginsGui.Sort.Sort", "AlteryxBasePluginsGui.Sorter.Sorter", 1), "unknown plugin"),
    (lambda t: t.replace('EngineDllEntryPoint="AlteryxUnion"', 'EngineDllEntryPoint="AlteryxUnite"'), "engine settings"),
    (lambda t: t.replace('<Destination ToolID="4" Connection="Left" />', '<Destination ToolID="4" Connection="Middle" />'),
     "has no input anchor 'Middle'"),
    (lambda t: t.replace('<Origin ToolID="4" Connection="Join" />', '<Origin ToolID="4" Connection="Inner" />'), "has no output anchor 'Inner'"),
    (lambda t: t.replace('<Origin ToolID="2" Connection="Output" />', '<Origin ToolID="42" Connection="Output" />'),
     "names tool 42, which does not exist"),
    (lambda t: t.replace('<Destination ToolID="4" Connection="Right" />', '<Destination ToolID="4" Connection="Left" />'),
     "input anchor(s) ['Right'] not connected"),
    (lambda t: t.replace("SUM(NET_AMOUNT)", "SUM(NET_AMT)"), "reads column NET_AMT of MODEL.FCT_ORDER_LINE"),
    (lambda t: t.replace("FROM REPORTING.V_CUSTOMER_RISK", "FROM REPORTING.V_CUSTOMER_RISKS"), "reads REPORTING.V_CUSTOMER_RISKS"),
    (lambda t: t.replace('field="FAVOURITE_CATEGORY" selected="True"', 'field="FAVORITE_CATEGORY" selected="True"'),
     "names field 'FAVORITE_CATEGORY'"),
    (lambda t: t.replace("|||SELECT CUSTOMER_ID, SUM", "|||SELEC CUSTOMER_ID, SUM"), "query does not parse"),
]


@pytest.mark.parametrize(("break_it", "named"), BROKEN, ids=[named for _, named in BROKEN])
def test_a_broken_copy_fails_the_check(break_it, named):
    original = CHURN.read_text()
    broken = break_it(original)
    assert broken != original, "the breakage did not apply"
    problems = check_text(broken, CONTRACT, "broken.yxmd")
    assert any(named in p for p in problems), problems


def test_alteryx_readme_names_the_public_files_the_xml_follows():
    readme = (PROJECT / "alteryx" / "README.md").read_text()
    for source in ("JackMey/Macquarie-Group-Alteryx", "AhmadSyed96/Alteryx-Challenges", 'FileFormat="23"'):
        assert source in readme
