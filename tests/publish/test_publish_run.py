"""The publish pipeline in real Kedro sessions on a small generated retailer, against the loopback
fakes of Entra, Power BI and Alteryx Server: a good run publishes and logs; a failed refresh
fails the publish step loudly (log rows written, alert sent, data untouched); a failed DQ gate
publishes nothing."""

from __future__ import annotations

import pytest
from conftest import Workspace, webhook_server
from publish_support import ALTERYX_CREDENTIALS, DATASET, POWERBI_CREDENTIALS, _services, certificates  # noqa: F401

from retail_control_tower.pipelines.dq.gate import DataQualityError
from retail_control_tower.pipelines.publish.nodes import PublishFailedError, PublishRefusedError

SMALL = {"synthetic": {"customers": 500, "stores": 6, "products": 60, "history_days": 540, "target_order_lines": 25000}}
ALERTS = {"enabled": True, "webhooks": [{"name": "e2e", "format": "slack", "url_credential": "publish_e2e_slack"}]}
TARGETS = [("alteryx", "churn_campaign_list"), ("alteryx", "daily_kpi_extract"), ("power_bi", "RetailControlTower")]


@pytest.fixture(scope="module")
def published(tmp_path_factory, certificates):
    """Generates a small retailer and runs the default pipeline once with publishing on."""
    monkeypatch = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("publish")
    workspace = Workspace(root, root / "raw", root / "data")
    workspace.raw.mkdir()
    workspace.data.mkdir()
    for name, value in {
        "RCT_DATA_DIR": str(workspace.data), "RCT_RAW_DIR": str(workspace.raw),
        # the real path of the secrets: conf/base/credentials.yml reads these variables
        "RCT_POWERBI_TENANT_ID": POWERBI_CREDENTIALS["tenant_id"], "RCT_POWERBI_CLIENT_ID": POWERBI_CREDENTIALS["client_id"],
        "RCT_POWERBI_CLIENT_SECRET": POWERBI_CREDENTIALS["client_secret"],
        "RCT_ALTERYX_API_KEY": ALTERYX_CREDENTIALS["api_key"], "RCT_ALTERYX_API_SECRET": ALTERYX_CREDENTIALS["api_secret"],
    }.items():
        monkeypatch.setenv(name, value)
    workspace.run("generate", params=SMALL)
    services = _services(certificates)
    workspace.services = next(services)
    with webhook_server() as (base, received):
        monkeypatch.setenv("RCT_WEBHOOK_PUBLISH_E2E_SLACK", f"{base}/slack")
        workspace.alerts = received
        workspace.run(params={"publish": workspace.services.params(), "alerts": ALERTS})
        workspace.first_run = workspace.scalar("SELECT RUN_ID FROM OPS.PIPELINE_RUN_LOG WHERE PIPELINES LIKE '%publish%'")
        yield workspace
    next(services, None)  # stops the fakes
    monkeypatch.undo()


def test_a_good_run_refreshes_triggers_polls_and_logs_one_row_per_target(published):
    ws, fakes = published, published.services
    rows = ws.rows(
        "SELECT SYSTEM, TARGET, STATUS, REMOTE_STATUS, REQUEST_ID IS NOT NULL, REQUESTED_AT <= FINISHED_AT, DATA_RUN_ID "
        f"FROM OPS.PUBLISH_LOG WHERE RUN_ID = '{ws.first_run}' ORDER BY SYSTEM, TARGET"
    )
    assert rows == [
        ("alteryx", "churn_campaign_list", "success", "Completed/Success", True, True, ws.first_run),
        ("alteryx", "daily_kpi_extract", "success", "Completed/Success", True, True, ws.first_run),
        ("power_bi", "RetailControlTower", "success", "Completed", True, True, ws.first_run),
    ]
    assert ws.rows(f"SELECT STATUS, PIPELINES FROM OPS.PIPELINE_RUN_LOG WHERE RUN_ID = '{ws.first_run}'") == [
        ("success", "ingest,dq,features,train_eval,scoring,monitoring,reporting,publish")]
    assert len(fakes.power_bi.paths("POST")) == 1 and fakes.power_bi.invalid_bodies == []
    assert len(fakes.alteryx.jobs) == 2
    # publishing came after everything else of the run: the last nodes logged are publish's
    nodes = [n for (n,) in ws.rows(f"SELECT NODE_NAME FROM OPS.NODE_RUN_LOG WHERE RUN_ID = '{ws.first_run}' ORDER BY FINISHED_AT")]
    assert nodes[-1] == "require_published" and nodes.index("build_report") < nodes.index("check_publish_ready")
    assert [text for text in (r["json"]["text"] for r in ws.alerts) if "failed" in text] == []


def test_pipeline_health_shows_the_last_publish_of_each_target(published):
    ws = published
    ws.run("reporting")  # the first run's views were made before OPS.PUBLISH_LOG existed
    health = dict(((p, (s, e)) for p, s, e in ws.rows(
        "SELECT PIPELINE, LAST_STATUS, LAST_ERROR FROM REPORTING.V_PIPELINE_HEALTH WHERE PIPELINE LIKE 'publish%'")))
    assert health == {"publish": ("success", None), **{f"publish:{s}/{t}": ("success", None) for s, t in TARGETS}}


def test_publish_off_sends_nothing(published):
    ws, fakes = published, published.services
    before = len(fakes.power_bi.requests) + len(fakes.alteryx.requests) + len(fakes.entra.requests)
    logged = ws.count("OPS.PUBLISH_LOG")
    ws.run("publish")  # conf/base: publish.enabled is false
    assert len(fakes.power_bi.requests) + len(fakes.alteryx.requests) + len(fakes.entra.requests) == before
    assert ws.count("OPS.PUBLISH_LOG") == logged


def test_a_failed_refresh_fails_the_publish_step_loudly_and_keeps_the_data(published, monkeypatch):
    ws, fakes = published, published.services
    fakes.power_bi.behaviour[DATASET] = "fail"
    scores, gates = ws.count("ML.CUSTOMER_CHURN_SCORE"), ws.count("OPS.DQ_GATE")
    with pytest.raises(PublishFailedError) as failure:
        ws.run("publish", params={"publish": fakes.params(), "alerts": ALERTS})
    message = str(failure.value)
    assert "1 publish target(s) failed" in message and "power_bi RetailControlTower (Failed)" in message
    assert "ModelRefreshFailed_CredentialsNotSpecified" in message
    run = ws.scalar("SELECT RUN_ID FROM OPS.PIPELINE_RUN_LOG WHERE PIPELINES = 'publish' ORDER BY RUN_ID DESC LIMIT 1")
    assert ws.rows(f"SELECT SYSTEM, STATUS, DATA_RUN_ID FROM OPS.PUBLISH_LOG WHERE RUN_ID = '{run}' ORDER BY SYSTEM, TARGET") == [
        ("alteryx", "success", ws.first_run), ("alteryx", "success", ws.first_run), ("power_bi", "failed", ws.first_run)]
    assert ws.rows(f"SELECT STATUS, FAILED_NODE, ERROR_CLASS FROM OPS.PIPELINE_RUN_LOG WHERE RUN_ID = '{run}'") == [
        ("failed", "require_published", "PublishFailedError")]
    [alert] = [r["json"]["text"] for r in ws.alerts if "require_published" in r["json"]["text"]]
    assert "PublishFailedError" in alert and run in alert
    assert (ws.count("ML.CUSTOMER_CHURN_SCORE"), ws.count("OPS.DQ_GATE")) == (scores, gates)
    status, error = ws.rows(
        "SELECT LAST_STATUS, LAST_ERROR FROM REPORTING.V_PIPELINE_HEALTH WHERE PIPELINE = 'publish:power_bi/RetailControlTower'")[0]
    assert status == "failed" and error.startswith("PublishFailed: refresh ended Failed")
    fakes.power_bi.behaviour[DATASET] = "complete"


def test_a_failed_gate_publishes_nothing(published):
    ws, fakes = published, published.services
    before = len(fakes.power_bi.requests) + len(fakes.alteryx.requests) + len(fakes.entra.requests)
    logged = ws.count("OPS.PUBLISH_LOG")
    stale = {"event_dates": {"reference_time": "2099-01-01T00:00:00"}, "publish": fakes.params()}
    with pytest.raises(DataQualityError, match="freshness_error"):
        ws.run("dq", "publish", params=stale)  # publish waits on the gate of the same run
    with pytest.raises(PublishRefusedError, match="did not pass its gate"):
        ws.run("publish", params={"publish": fakes.params()})  # and alone, it finds the latest DQ run failed
    assert len(fakes.power_bi.requests) + len(fakes.alteryx.requests) + len(fakes.entra.requests) == before
    assert ws.count("OPS.PUBLISH_LOG") == logged


def test_the_alteryx_workflows_queries_run_on_the_warehouse(published):
    """Their SQL, as written in the .yxmd files, on the real run's warehouse: the columns each
    workflow's tools name come back, and the campaign's revenue at risk can be computed."""
    import xml.etree.ElementTree as ET

    import ibis
    import yaml
    from conftest import PROJECT

    from retail_control_tower.alteryx import ALTERYX_DIR

    queries = {path.stem: [f.text.partition("|||")[2] for f in ET.parse(path).getroot().iter("File") if "|||" in (f.text or "")]
               for path in ALTERYX_DIR.glob("*.yxmd")}
    assert {name: len(q) for name, q in queries.items()} == {"churn_campaign_list": 2, "daily_kpi_extract": 1}
    # the run's engine settings: DuckDB refuses a second connection to the file with others
    engine = yaml.safe_load((PROJECT / "conf" / "base" / "globals.yml").read_text())["warehouse"]
    con = ibis.duckdb.connect(str(published.warehouse), **{k: v for k, v in engine.items() if k not in ("backend", "database")})
    answers = {}
    for name, texts in queries.items():
        for index, text in enumerate(texts):
            cursor = con.raw_sql(text)
            answers[(name, index)] = ([d[0] for d in cursor.description], cursor.fetchall())
    risk_columns, risk_rows = answers[("churn_campaign_list", 0)]
    sales_columns, sales_rows = answers[("churn_campaign_list", 1)]
    kpi_columns, kpi_rows = answers[("daily_kpi_extract", 0)]
    assert {"CUSTOMER_ID", "RISK_BAND", "CHURN_PROBABILITY", "DECILE"} <= set(risk_columns) and len(risk_rows) > 300
    assert sales_columns == ["CUSTOMER_ID", "NET_SALES_T12M"] and 0 < len(sales_rows) <= published.count("GOLD.CUSTOMER_360")
    assert "DATE_DAY" in kpi_columns and len(kpi_rows) == published.count("REPORTING.V_SALES_KPIS")
    high = [dict(zip(risk_columns, row)) for row in risk_rows if dict(zip(risk_columns, row))["RISK_BAND"] == "high"]
    assert high and {r["DECILE"] for r in high} <= {1, 2}
