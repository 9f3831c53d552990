"""The whole control tower on a small synthetic retailer, in real Kedro sessions."""

from __future__ import annotations

import os

import nbformat
import pytest
from conftest import PROJECT, release_warehouse_connections, webhook_server

from retail_control_tower.contracts import ENTITIES

# Enough history for the default churn evaluation: 18 months give 12 labelled month ends
# (4 CV folds and a holdout, each with training snapshots whose 90-day label window has ended).
SMALL = {"synthetic": {"customers": 500, "stores": 6, "products": 60, "history_days": 540, "target_order_lines": 25000}}
ALERTS = {"alerts": {"enabled": True, "webhooks": [{"name": "e2e", "format": "slack", "url_credential": "e2e_slack"}]}}


@pytest.fixture(scope="module")
def warehouse_after_a_run(tmp_path_factory):
    """Generates a small retailer and runs the default pipeline once for the module's tests."""
    monkeypatch = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("e2e")
    from conftest import Workspace

    workspace = Workspace.at(root, monkeypatch)
    workspace.run("generate", params=SMALL)
    with webhook_server() as (base, received):
        monkeypatch.setenv("RCT_WEBHOOK_E2E_SLACK", f"{base}/slack")
        # The default calibration limit: it widens to the ECE noise of a holdout of a few hundred
        # customers, so a small business gets a champion without tuning.
        workspace.run(params=ALERTS)
    workspace.alerts = received
    yield workspace
    monkeypatch.undo()


def test_generate_then_default_run_fills_every_layer_and_passes_the_gate(warehouse_after_a_run):
    ws = warehouse_after_a_run
    for entity in ENTITIES:
        raw_lines = sum(1 for _ in (ws.raw / f"{entity}.csv").open()) - 1
        assert ws.count(f"BRONZE.{entity.upper()}") == raw_lines > 0
    assert ws.count("MODEL.FCT_ORDER_LINE") == ws.count("SILVER.ORDER_ITEMS") > 20_000
    for table in ("SALES_DAILY", "CUSTOMER_360", "PRODUCT_PERFORMANCE", "STORE_PERFORMANCE"):
        assert ws.count(f"GOLD.{table}") > 0
    assert ws.scalar("SELECT COUNT(*) FROM GOLD.CUSTOMER_360") == 500
    assert ws.rows("SELECT CHECK_NAME, TABLE_NAME FROM OPS.DQ_RESULTS WHERE STATUS = 'fail' AND SEVERITY = 'error'") == []
    assert ws.scalar("SELECT PASSED FROM OPS.DQ_GATE") is True
    gold_net = ws.scalar("SELECT SUM(NET_AMOUNT) FROM GOLD.SALES_DAILY")
    assert gold_net == ws.scalar("SELECT SUM(NET_AMOUNT) FROM MODEL.FCT_ORDER_LINE")


def test_a_new_warehouse_file_is_written_in_the_duckdb_1_5_format(warehouse_after_a_run):
    # The 1.5 format is what makes the 49M-line load fit its time (globals.yml); DuckDB's own
    # default would write the 0.10 format.
    version = warehouse_after_a_run.scalar(
        "SELECT tags['storage_version'] FROM duckdb_databases() WHERE database_name = current_database()"
    )
    assert version == "v1.5.0+"


def test_the_oracle_is_kept_apart_from_the_raw_input(warehouse_after_a_run):
    ws = warehouse_after_a_run
    assert (ws.data / "00_synthetic_truth" / "churn_oracle.parquet").exists()
    assert not list(ws.raw.glob("*oracle*"))


def test_run_everything_after_a_bronze_change(warehouse_after_a_run):
    ws = warehouse_after_a_run
    before = ws.count("GOLD.SALES_DAILY")
    ws.run("after_bronze")
    assert ws.count("GOLD.SALES_DAILY") == before
    assert ws.scalar("SELECT COUNT(*) FROM OPS.DQ_GATE") == 2


def test_the_notebook_runs_against_the_warehouse(warehouse_after_a_run, tmp_path):
    """Every cell, in a real Jupyter kernel started in notebooks/ as Jupyter starts one, through
    Kedro's Jupyter integration in the notebook's default environment (`notebook`: read-only).
    It shows what the REPORTING views call latest; it neither takes nor waits for a run's lock
    (one is held here), opens no network connection with telemetry left to the project's own
    settings, and writes nothing: no file changes in the data folder, none appears in the project."""
    import json

    from nbclient import NotebookClient

    from retail_control_tower.ops.lock import WarehouseLock

    ws = warehouse_after_a_run
    views = {name: ws.count(f"REPORTING.{name.removeprefix('REPORTING_')}") for name in (
        "REPORTING_V_CHAMPION_MODEL", "REPORTING_V_CUSTOMER_RISK", "REPORTING_V_DQ_LATEST", "REPORTING_V_LATEST_CHURN_SCORES",
        "REPORTING_V_LATEST_MODEL_METRICS", "REPORTING_V_PIPELINE_HEALTH", "REPORTING_V_SALES_KPIS",
    )}
    release_warehouse_connections()
    lock = WarehouseLock(ws.data)
    lock.acquire("a-run-holding-the-lock")

    def files(root) -> dict[str, tuple[int, int]]:
        found = {}
        for folder, subfolders, names in os.walk(root):
            subfolders[:] = [s for s in subfolders if s not in (".git", ".venv", "__pycache__", ".pytest_cache", "node_modules")]
            found.update({path: (os.stat(path).st_size, os.stat(path).st_mtime_ns) for path in (os.path.join(folder, n) for n in names)})
        return found

    notebook = nbformat.read(PROJECT / "notebooks" / "control_tower.ipynb", as_version=4)
    watch = (  # every connection or name lookup the kernel's Python makes (Jupyter's own ZeroMQ sockets are not Python's)
        "import sys\nnetwork = []\n"
        "sys.addaudithook(lambda event, args: network.append(f'{event} {args}') if event in ('socket.connect', 'socket.getaddrinfo') else None)"
    )
    summary = (
        "import json\nprint(json.dumps({'env': context.env, 'warehouse': engine, 'months': len(trend), 'views': {k: int(v) for k, v in view_rows.items()},"
        " 'dq': len(dq_latest.to_pandas()), 'champion': champion[['MODEL_VERSION', 'ALIAS']].values.tolist(), 'scores': int(scores.count().to_pandas()),"
        " 'mlflow': registry[['MODEL_VERSION', 'ALIAS']].values.tolist(), 'network': network}))"
    )
    notebook.cells = [nbformat.v4.new_code_cell(watch), *notebook.cells, nbformat.v4.new_code_cell(summary)]
    # The project's settings alone keep Kedro and MLflow offline; KEDRO_ENV unset picks the notebook's default.
    env = {k: v for k, v in os.environ.items() if k not in ("KEDRO_ENV", "KEDRO_DISABLE_TELEMETRY", "MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK")}
    env.update(RCT_DATA_DIR=str(ws.data), IPYTHONDIR=str(tmp_path / "ipython"))
    project, data = set(files(PROJECT)), files(ws.data)
    try:
        NotebookClient(notebook, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(PROJECT / "notebooks")}}).execute(env=env)
        created, data_after = set(files(PROJECT)) - project, files(ws.data)
        holder = json.loads(lock.path.read_text())["run_id"]
    finally:
        lock.release()
    shown = json.loads(notebook.cells[-1].outputs[-1].text)

    assert (shown["env"], shown["warehouse"]["read_only"], shown["network"]) == ("notebook", True, [])
    assert shown["months"] >= 8 and shown["views"] == views and all(views.values())
    assert shown["dq"] == views["REPORTING_V_DQ_LATEST"] and shown["scores"] == views["REPORTING_V_LATEST_CHURN_SCORES"] > 300
    # The version validated on the holdout and its refit, the champion (train_eval.deployment.refit).
    assert shown["champion"] == [["2", "champion"]] and shown["mlflow"] == [["1", "validated"], ["2", "champion"]]
    assert holder == "a-run-holding-the-lock" and data_after == data and created == set()


def test_default_run_trains_registers_a_champion_and_scores_every_eligible_customer(warehouse_after_a_run):
    ws = warehouse_after_a_run
    labelled = ws.scalar("SELECT COUNT(DISTINCT SNAPSHOT_DATE) FROM ML.CUSTOMER_FEATURES WHERE CHURNED IS NOT NULL")
    assert labelled >= 5
    registry = ws.rows("SELECT MODEL_VERSION, VARIANT, ALIAS, DECISION, MLFLOW_RUN_ID, VALIDATED_VERSION FROM ML.MODEL_REGISTRY ORDER BY MODEL_VERSION")
    assert len(registry) == 2  # the version validated on the holdout, and its refit (train_eval.deployment.refit)
    (version, variant, alias, decision, mlflow_run, _), refit = registry
    assert (version, alias, decision) == ("1", "validated", "promoted") and variant != "legacy_rfm" and mlflow_run
    assert refit[:4] == ("2", variant, "champion", "promoted") and refit[4] not in (None, mlflow_run) and refit[5] == "1"
    variants = {v for (v,) in ws.rows("SELECT DISTINCT VARIANT FROM ML.MODEL_METRICS")}
    assert variants == {"legacy_rfm", "bgnbd", "logreg", "logreg_calibrated", "logreg_calibrated_ext", "hgb_ext", "hgb_calibrated_ext"}
    for baseline in ("legacy_rfm", "bgnbd"):  # the baselines are in every metrics, decile and calibration table
        assert ws.scalar(f"SELECT COUNT(*) FROM ML.MODEL_DECILES WHERE VARIANT = '{baseline}'") == 10
        assert ws.scalar(f"SELECT COUNT(*) FROM ML.MODEL_CALIBRATION WHERE VARIANT = '{baseline}'") > 0
    splits = {s for (s,) in ws.rows("SELECT DISTINCT SPLIT FROM ML.MODEL_METRICS")}
    assert splits == {"fold_1", "fold_2", "fold_3", "fold_4", "holdout"}
    assert ws.scalar("SELECT COUNT(*) FROM ML.MODEL_DECILES WHERE VARIANT = 'hgb_ext'") == 10
    eligible = ws.scalar("SELECT COUNT(*) FROM ML.CUSTOMER_FEATURES WHERE IS_SCORING")
    assert eligible > 300
    assert ws.rows("SELECT COUNT(*), COUNT(DISTINCT CUSTOMER_ID), ANY_VALUE(MODEL_VERSION), ANY_VALUE(VARIANT) FROM ML.CUSTOMER_CHURN_SCORE") == [
        (eligible, eligible, "2", variant)
    ]
    assert ws.count("ML.CUSTOMER_CHURN_SCORE_LEGACY") == eligible
    assert (ws.data / "06_models" / "mlflow.db").exists()
    assert not (PROJECT / "mlruns").exists()


def test_train_eval_and_scoring_each_run_alone_on_an_earlier_run_s_tables(warehouse_after_a_run):
    ws = warehouse_after_a_run
    metrics_before = ws.count("ML.MODEL_METRICS")
    ws.run("train_eval")
    registry = ws.rows("SELECT MODEL_VERSION, ALIAS, DECISION, REASON FROM ML.MODEL_REGISTRY ORDER BY RECORDED_AT, MODEL_VERSION")
    assert registry[0][0] == "1" and any(row[0] == "3" for row in registry)
    second = next(row for row in registry if row[0] == "3")
    # Same data, same configuration: the new challenger cannot beat the champion by the margin.
    assert second[2] == "not_promoted" and second[1] == "challenger" and "CI" in second[3]
    assert ws.count("ML.MODEL_METRICS") == 2 * metrics_before  # appended, never overwritten
    scored_before = ws.count("ML.CUSTOMER_CHURN_SCORE")
    ws.run("scoring")
    assert ws.count("ML.CUSTOMER_CHURN_SCORE") == scored_before  # the score date was replaced, not duplicated
    assert ws.rows("SELECT DISTINCT MODEL_VERSION FROM ML.CUSTOMER_CHURN_SCORE") == [("2",)]


def test_the_run_leaves_a_run_log_reporting_views_and_a_report(warehouse_after_a_run):
    ws = warehouse_after_a_run
    status, pipelines = ws.rows("SELECT STATUS, PIPELINES FROM OPS.PIPELINE_RUN_LOG ORDER BY STARTED_AT")[1]  # [0]: generate
    assert status == "success" and pipelines == "ingest,dq,features,train_eval,scoring,monitoring,reporting,publish"
    assert ws.scalar("SELECT COUNT(*) FROM OPS.NODE_RUN_LOG WHERE STATUS <> 'success'") == 0
    scored = ws.scalar("SELECT ROWS_WRITTEN FROM OPS.NODE_RUN_LOG WHERE NODE_NAME = 'score_customers'")
    assert scored == ws.scalar("SELECT COUNT(*) FROM REPORTING.V_LATEST_CHURN_SCORES") > 300
    health = {row[0]: row[1:] for row in ws.rows("SELECT PIPELINE, LAST_STATUS, LAST_SUCCESS_AT, FRESHNESS_STATUS FROM REPORTING.V_PIPELINE_HEALTH")}
    assert {"ingest", "dq", "features", "train_eval", "scoring", "reporting", "generate"} <= set(health)
    assert health["scoring"][0] == "success" and health["scoring"][1] is not None and health["scoring"][2] == "ok"
    assert ws.rows("SELECT MODEL_VERSION, ALIAS FROM REPORTING.V_CHAMPION_MODEL") == [("2", "champion")]
    # The refit champion was not evaluated itself: its holdout figures are its validated version's.
    validated_auc = ws.scalar("SELECT MAX(VALUE) FROM ML.MODEL_METRICS WHERE MODEL_VERSION = '1' AND SPLIT = 'holdout' AND METRIC = 'roc_auc'")
    assert validated_auc is not None
    assert ws.rows("SELECT HOLDOUT_ROC_AUC FROM REPORTING.V_CHAMPION_MODEL") == [(validated_auc,)]
    assert ws.scalar("SELECT COUNT(*) FROM REPORTING.V_CUSTOMER_RISK WHERE LEGACY_CHURN_PROBABILITY IS NULL") == 0
    latest_dq = ws.scalar("SELECT RUN_ID FROM OPS.DQ_RESULTS ORDER BY CHECKED_AT DESC LIMIT 1")
    checks = ws.scalar(f"SELECT COUNT(*) FROM OPS.DQ_RESULTS WHERE RUN_ID = '{latest_dq}'")
    assert ws.count("REPORTING.V_DQ_LATEST") == checks > ws.scalar("SELECT COUNT(DISTINCT CHECK_NAME || TABLE_NAME) FROM OPS.DQ_RESULTS")
    assert ws.count("REPORTING.V_SALES_KPIS") == ws.scalar("SELECT COUNT(DISTINCT DATE_DAY) FROM GOLD.SALES_DAILY")
    report = (ws.data / "08_reporting" / "control_tower_report.html").read_text()
    champion = ws.scalar("SELECT VARIANT FROM REPORTING.V_CHAMPION_MODEL")
    assert champion in report and "Data quality" in report
    assert len(list((ws.data / "08_reporting" / "figures").glob("*.json"))) == 7


def test_reporting_views_answer_from_the_latest_run_only(warehouse_after_a_run):
    """Runs after the previous test's second train_eval: the views move with the data."""
    ws = warehouse_after_a_run
    runs = ws.scalar("SELECT COUNT(DISTINCT RUN_ID) FROM ML.MODEL_METRICS")
    latest = ws.scalar("SELECT RUN_ID FROM ML.MODEL_METRICS ORDER BY COMPUTED_AT DESC LIMIT 1")
    assert runs >= 2
    assert ws.rows("SELECT DISTINCT RUN_ID FROM REPORTING.V_LATEST_MODEL_METRICS") == [(latest,)]
    assert ws.rows("SELECT COUNT(DISTINCT SCORE_DATE) FROM REPORTING.V_LATEST_CHURN_SCORES") == [(1,)]


def test_a_new_champion_is_announced_and_a_good_run_sends_nothing_else(warehouse_after_a_run):
    texts = [request["json"]["text"] for request in warehouse_after_a_run.alerts]
    champion = warehouse_after_a_run.scalar("SELECT VARIANT FROM ML.MODEL_REGISTRY WHERE MODEL_VERSION = '1'")
    assert len(texts) == 1 and f"New churn champion: {champion}" in texts[0] and "promoted: no champion yet" in texts[0]


def test_smoke_passes_on_a_working_environment(warehouse_after_a_run):
    ws = warehouse_after_a_run
    ws.run("smoke")
    results = (ws.data / "08_reporting" / "smoke_results.csv").read_text()
    assert results.count(",pass,") == 6 and ",fail," not in results
    assert "champion: version 2" in results and "dropped OPS.SMOKE_" in results
    assert not [t for (t,) in ws.rows("SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'SMOKE_%'")]


def test_every_warehouse_node_compiles_to_snowflake_sql_that_parses(warehouse_after_a_run, tmp_path):
    """`retail-control-tower-sql --env prod`: the prod configuration's SQL, with no connection."""
    import sqlglot
    from kedro.framework.project import pipelines

    from retail_control_tower import compile_sql

    release_warehouse_connections()
    out = tmp_path / "sql"
    status = compile_sql.main(["--env", "prod", "--project", str(PROJECT), "--schemas", str(warehouse_after_a_run.warehouse), "--out", str(out)])
    assert status == 0
    written = {p.name for p in out.glob("*.sql")}
    for name in ("ingest", "dq", "features", "reporting"):
        for node in pipelines[name].nodes:
            for output in node.outputs:
                schema, _, table = output.partition("_")
                if schema in ("BRONZE", "SILVER", "MODEL", "GOLD", "OPS", "ML", "REPORTING"):
                    assert f"{schema}.{table}.sql" in written, output
    for path in out.glob("*.sql"):
        sqlglot.parse(path.read_text(), read="snowflake", error_level=sqlglot.ErrorLevel.RAISE)
    # Silver types text with TRY_CAST on Snowflake too: a bad value is quarantined, not fatal
    for table in ("SILVER.ORDER_ITEMS", "SILVER.ORDER_ITEMS_QUARANTINE"):
        typed = (out / f"{table}.sql").read_text()
        assert "TRY_CAST(" in typed and "AS DECIMAL(18, 2))" in typed, table
    manifest = (out / "MANIFEST.md").read_text()
    assert "`publish_to_mlflow`" in manifest and "`score_customers`" in manifest


def test_a_broken_statement_fails_the_compilation(tmp_path):
    from retail_control_tower import compile_sql

    (tmp_path / "gold").mkdir()
    (tmp_path / "gold" / "broken.sql").write_text("SELECT FROM WHERE (;")
    (tmp_path / "gold" / "fine.sql").write_text("SELECT TRY_CAST(A AS DATE) AS D FROM GOLD.SALES_DAILY")
    result = compile_sql.Compilation()
    assert compile_sql.parse_sql_files(tmp_path, result) == 2
    assert list(result.errors) == [str(tmp_path / "gold" / "broken.sql")]


def test_a_train_eval_that_fails_half_way_leaves_nothing_a_view_or_report_reads(warehouse_after_a_run, monkeypatch):
    """MLflow fails while recording the run (its artifact store refuses a file): no warehouse row
    of the run is written; and rows of a run that died after writing its metrics but before its
    registry row (the commit marker) are ignored by the views."""
    import mlflow

    ws = warehouse_after_a_run
    tables = ("ML.MODEL_METRICS", "ML.MODEL_DECILES", "ML.MODEL_CALIBRATION", "ML.MODEL_REGISTRY")
    before = {table: ws.count(table) for table in tables}
    view_before = ws.rows("SELECT DISTINCT RUN_ID FROM REPORTING.V_LATEST_MODEL_METRICS")

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mlflow, "log_figure", full_disk)
    with pytest.raises(Exception) as failure:
        ws.run("train_eval")
    message = str(failure.value)
    assert "MLflow could not record training run" in message and "No space left on device" in message
    assert "mlflow.db" in message.splitlines()[-1]  # where, in the same line
    assert {table: ws.count(table) for table in tables} == before
    monkeypatch.undo()

    # A run that died between its metrics and its registry row: its metrics stay invisible.
    ws.rows(
        "INSERT INTO ML.MODEL_METRICS SELECT 'half-written-run', MODEL_NAME, MODEL_VERSION, VARIANT, SPLIT, VALIDATION_DATE, "
        "METRIC, VALUE, COMPUTED_AT + INTERVAL 1 DAY FROM ML.MODEL_METRICS"
    )
    assert ws.rows("SELECT DISTINCT RUN_ID FROM REPORTING.V_LATEST_MODEL_METRICS") == view_before


def test_monitoring_measures_every_elapsed_score_date_and_stays_quiet_on_a_stable_history(warehouse_after_a_run):
    """The default run backfills the champion's scores at the labelled snapshots after its
    training window, measures them (and the legacy rule and the oracle) against what happened,
    measures drift, and on the stable synthetic history does not recommend retraining."""
    ws = warehouse_after_a_run
    window_end = ws.scalar("SELECT SPLIT_PART(ANY_VALUE(TRAINING_WINDOW), '..', 2) FROM ML.MODEL_REGISTRY WHERE MODEL_VERSION = '1'")
    elapsed = {d for (d,) in ws.rows(
        f"SELECT DISTINCT SNAPSHOT_DATE FROM ML.CUSTOMER_FEATURES WHERE CHURNED IS NOT NULL AND SNAPSHOT_DATE > '{window_end}'")}
    assert len(elapsed) >= 2
    shown = ws.rows("SELECT VARIANT, SCORE_DATE, COUNT(DISTINCT METRIC) FROM REPORTING.V_MODEL_MONITORING GROUP BY ALL")
    champion = ws.scalar("SELECT VARIANT FROM ML.MODEL_REGISTRY WHERE MODEL_VERSION = '1' AND DECISION = 'promoted'")
    for variant in (champion, "legacy_rfm", "oracle"):
        assert {d for v, d, _ in shown if v == variant} == elapsed, variant
    assert {n for *_, n in shown} == {5}
    # On the holdout date the realised metrics are the holdout metrics the champion was accepted on.
    holdout = ws.scalar("SELECT MAX(VALIDATION_DATE) FROM ML.MODEL_METRICS WHERE SPLIT = 'holdout' AND MODEL_VERSION = '1'")
    pairs = ws.rows(f"SELECT VALUE, EXPECTED FROM ML.MODEL_PERFORMANCE_REALISED WHERE MODEL_VERSION = '1' AND SCORE_DATE = '{holdout}'")
    assert len(pairs) == 5 and all(abs(value - expected) < 1e-9 for value, expected in pairs)
    features = {f for (f,) in ws.rows("SELECT DISTINCT FEATURE FROM ML.MODEL_DRIFT")}
    assert "CHURN_PROBABILITY" in features and {"RECENCY_DAYS", "FREQUENCY", "MONETARY"} <= features
    # One signal per run that scored (the default run, then after_bronze's re-scoring): all quiet.
    signals = ws.rows("SELECT RECOMMENDED, REASON FROM ML.RETRAINING_SIGNAL")
    assert len(signals) == 2
    for recommended, reason in signals:
        assert recommended is False and reason.startswith("no rule met"), reason
    # Backfilled dates stay out of the champion's score table and its latest-date views.
    latest = ws.scalar("SELECT MAX(SCORE_DATE) FROM ML.CUSTOMER_CHURN_SCORE")
    assert ws.rows("SELECT DISTINCT SCORE_DATE FROM REPORTING.V_LATEST_CHURN_SCORES") == [(latest,)]
    assert ws.scalar(f"SELECT COUNT(*) FROM ML.CUSTOMER_CHURN_SCORE WHERE SCORE_DATE <> '{latest}'") == 0
