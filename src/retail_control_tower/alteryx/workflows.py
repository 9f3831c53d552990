"""The Alteryx workflows of the control tower, built from ``alteryx/workflows.yml`` and the column
lists of ``powerbi/spec.yml`` (``warehouse_columns``), so an Alteryx extract reads exactly the
columns the Power BI model reads.

- ``churn_campaign_list``: the high-risk customers with their profile, decile and revenue at
  risk (churn probability x net sales of the 365 days up to the newest sale, as the Power BI
  measure), highest first, to a CSV file for the retention campaign.
- ``daily_kpi_extract``: REPORTING.V_SALES_KPIS, newest day first, to a CSV file.

Queries are written once, in SQL that Snowflake and DuckDB read alike (the warehouse of every
environment), and read through an ODBC data source of the Alteryx Server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from retail_control_tower.alteryx import yxmd
from retail_control_tower.powerbi.spec import PROJECT_ROOT, warehouse_columns

ALTERYX_DIR = PROJECT_ROOT / "alteryx"
SETTINGS = ALTERYX_DIR / "workflows.yml"
RISK, KPIS, ORDER_LINES = "REPORTING.V_CUSTOMER_RISK", "REPORTING.V_SALES_KPIS", "MODEL.FCT_ORDER_LINE"

# Net sales of the 365 days up to the newest sale (Power BI: DATESBETWEEN(AsOf - 364, AsOf)).
T12M_SALES = (
    "SELECT CUSTOMER_ID, SUM(NET_AMOUNT) AS NET_SALES_T12M FROM MODEL.FCT_ORDER_LINE "
    "WHERE ORDER_DATE > (SELECT MAX(ORDER_DATE) FROM MODEL.FCT_ORDER_LINE) - 365 GROUP BY CUSTOMER_ID"
)


def load_settings(path: Path = SETTINGS) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def select_all(obj: str, columns: dict[str, list[tuple[str, str]]]) -> str:
    """``SELECT <the spec's columns of obj> FROM obj``."""
    return f"SELECT {', '.join(name for name, _ in columns[obj])} FROM {obj}"


def churn_campaign_list(settings: dict[str, Any], columns: dict[str, list[tuple[str, str]]]) -> yxmd.Workflow:
    own = settings["churn_campaign_list"]
    workflow = yxmd.Workflow(
        "churn_campaign_list",
        "High-risk customers with profile, decile and revenue at risk, for the retention campaign "
        "(generated from powerbi/spec.yml and alteryx/workflows.yml).",
    )
    risk = workflow.add("AlteryxBasePluginsGui.DbFileInput.DbFileInput", yxmd.odbc_input(settings["dsn"], select_all(RISK, columns)),
                        "REPORTING.V_CUSTOMER_RISK", at=(54, 54))
    sales = workflow.add("AlteryxBasePluginsGui.DbFileInput.DbFileInput", yxmd.odbc_input(settings["dsn"], T12M_SALES),
                         "Net sales, 365 days to the newest sale", at=(54, 162))
    high = workflow.add("AlteryxBasePluginsGui.Filter.Filter", yxmd.filter_equals("RISK_BAND", own["risk_band"]),
                        f'[RISK_BAND] = "{own["risk_band"]}"', at=(150, 54))
    joined = workflow.add("AlteryxBasePluginsGui.Join.Join", yxmd.join("CUSTOMER_ID", ["CUSTOMER_ID"]), "on CUSTOMER_ID", at=(246, 102))
    every = workflow.add("AlteryxBasePluginsGui.Union.Union", yxmd.union_by_name(),
                         "with and without sales in the year", at=(342, 102))
    revenue = workflow.add(
        "AlteryxBasePluginsGui.Formula.Formula",
        yxmd.formula([
            ("NET_SALES_T12M", "IIF(IsNull([NET_SALES_T12M]), 0, [NET_SALES_T12M])", "Double", "8"),
            ("REVENUE_AT_RISK", "[CHURN_PROBABILITY] * [NET_SALES_T12M]", "Double", "8"),
        ]),
        "REVENUE_AT_RISK = [CHURN_PROBABILITY] * [NET_SALES_T12M]", at=(438, 102),
    )
    chosen = workflow.add("AlteryxBasePluginsGui.AlteryxSelect.AlteryxSelect", yxmd.select(own["columns"]), "campaign columns",
                          at=(534, 102))
    ranked = workflow.add("AlteryxBasePluginsGui.Sort.Sort", yxmd.sort([("REVENUE_AT_RISK", "Descending"), ("CUSTOMER_ID", "Ascending")]),
                          "REVENUE_AT_RISK - Descending", at=(630, 102))
    path = f"{settings['output_dir']}\\churn_campaign_list.csv"
    output = workflow.add("AlteryxBasePluginsGui.DbFileOutput.DbFileOutput", yxmd.csv_output(path), "churn_campaign_list.csv",
                          at=(726, 102))
    workflow.connect(risk, high)
    workflow.connect(high, joined, "True", "Left")
    workflow.connect(sales, joined, "Output", "Right")
    # Customers with no sale in the year come out of the join's Left output: they stay on the list.
    workflow.connect(joined, every, "Join", "Input", name="#1")
    workflow.connect(joined, every, "Left", "Input", name="#2")
    for origin, destination in ((every, revenue), (revenue, chosen), (chosen, ranked), (ranked, output)):
        workflow.connect(origin, destination)
    return workflow


def daily_kpi_extract(settings: dict[str, Any], columns: dict[str, list[tuple[str, str]]]) -> yxmd.Workflow:
    workflow = yxmd.Workflow(
        "daily_kpi_extract",
        "Daily company-wide sales KPIs (REPORTING.V_SALES_KPIS), newest day first (generated from powerbi/spec.yml).",
    )
    kpis = workflow.add("AlteryxBasePluginsGui.DbFileInput.DbFileInput", yxmd.odbc_input(settings["dsn"], select_all(KPIS, columns)),
                        "REPORTING.V_SALES_KPIS")
    newest_first = workflow.add("AlteryxBasePluginsGui.Sort.Sort", yxmd.sort([("DATE_DAY", "Descending")]), "DATE_DAY - Descending")
    path = f"{settings['output_dir']}\\daily_kpi_extract.csv"
    output = workflow.add("AlteryxBasePluginsGui.DbFileOutput.DbFileOutput", yxmd.csv_output(path), "daily_kpi_extract.csv")
    workflow.connect(kpis, newest_first)
    workflow.connect(newest_first, output)
    return workflow


BUILDERS = {"churn_campaign_list": churn_campaign_list, "daily_kpi_extract": daily_kpi_extract}


def build(settings: dict[str, Any] | None = None) -> dict[str, str]:
    """Every workflow's file name and .yxmd text."""
    settings = settings or load_settings()
    columns = warehouse_columns()
    return {f"{name}.yxmd": builder(settings, columns).xml() for name, builder in BUILDERS.items()}
