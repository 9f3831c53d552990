"""The deployed model is the refit of the promoted configuration (train_eval.deployment.refit), in
real Kedro sessions on a small synthetic retailer: its version, lineage and aliases in MLflow and
ML.MODEL_REGISTRY, the scores it writes, and monitoring's backfill with the validated version."""

from __future__ import annotations

import ibis
import mlflow
import pandas as pd
import pytest
from conftest import Workspace, release_warehouse_connections

from retail_control_tower.ml import tables
from retail_control_tower.pipelines.monitoring.realised import realised_performance

# A fixed history (judged at its own end), so the outcome does not move with the day the test runs;
# on the minimal input (tests/test_minimal_input.py) its first train_eval promotes a champion.
SMALL = {"synthetic": {"customers": 500, "stores": 6, "products": 60, "history_days": 540, "target_order_lines": 25000, "end_date": "2026-10-31"}}
AS_OF = {"event_dates": {"reference_time": "2026-10-31T23:59:59"}}
OPTIONAL = ("customers", "products", "stores", "returns")
REGISTRY = "SELECT MODEL_VERSION, ALIAS, DECISION, VALIDATED_VERSION, TRAINING_WINDOW, MLFLOW_RUN_ID, REASON FROM ML.MODEL_REGISTRY"


@pytest.fixture(scope="module")
def promoted(tmp_path_factory):
    """One promoting train_eval on a fresh MLflow store, scored and monitored."""
    monkeypatch = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("refit")
    workspace = Workspace.at(root, monkeypatch)
    workspace.run("generate", params=SMALL)
    for entity in OPTIONAL:
        (workspace.raw / f"{entity}.csv").unlink()
    workspace.run("ingest", "dq", "features", "train_eval", "scoring", "monitoring", params=AS_OF)
    yield workspace
    release_warehouse_connections()
    monkeypatch.undo()


def _client(ws: Workspace, store: str = "mlflow.db") -> mlflow.MlflowClient:
    release_warehouse_connections()
    uri = f"sqlite:///{ws.data / '06_models' / store}"
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_a_promotion_registers_the_validated_version_and_deploys_its_refit(promoted):
    ws = promoted
    rows = {version: rest for version, *rest in ws.rows(REGISTRY)}
    assert set(rows) == {"1", "2"}
    validated_alias, validated_decision, validated_link, validated_window, validated_run, _ = rows["1"]
    refit_alias, refit_decision, refit_link, refit_window, refit_run, refit_reason = rows["2"]
    assert (validated_alias, validated_decision, validated_link) == ("validated", "promoted", None)
    assert (refit_alias, refit_decision, refit_link) == ("champion", "promoted", "1")
    assert f"refit of validated version 1 (MLflow run {validated_run})" in refit_reason
    # The refit's window ends at the latest labelled snapshot (the holdout), the validated one's before it.
    latest_labelled = ws.scalar("SELECT MAX(SNAPSHOT_DATE) FROM ML.CUSTOMER_FEATURES WHERE CHURNED IS NOT NULL")
    assert refit_window.split("..")[1] == str(latest_labelled)
    assert validated_window.split("..")[1] < str(latest_labelled)
    # train_snapshots (12) labelled snapshots, the newest ones.
    months = ws.scalar(f"SELECT COUNT(DISTINCT SNAPSHOT_DATE) FROM ML.CUSTOMER_FEATURES WHERE SNAPSHOT_DATE BETWEEN "
                       f"'{refit_window.split('..')[0]}' AND '{refit_window.split('..')[1]}'")
    assert months == 12
    # Its holdout metrics stay the validated version's: the refit has none of its own.
    assert ws.scalar("SELECT COUNT(*) FROM ML.MODEL_METRICS WHERE MODEL_VERSION = '2'") == 0
    assert ws.scalar("SELECT COUNT(*) FROM ML.MODEL_METRICS WHERE MODEL_VERSION = '1' AND SPLIT = 'holdout'") > 0

    client = _client(ws)
    aliases = client.get_registered_model("retail_churn").aliases
    assert {alias: str(v) for alias, v in aliases.items()} == {"champion": "2", "validated": "1"}
    refit = client.get_model_version("retail_churn", "2")
    assert refit.run_id == refit_run != validated_run
    assert refit.tags["validated_version"] == "1" and refit.tags["validated_run_id"] == validated_run
    assert refit.tags["training_window"] == refit.tags["refit_window"] == refit_window
    run = client.get_run(refit_run)
    assert run.info.run_name.endswith("_refit")
    assert run.data.tags["validated_run_id"] == validated_run and run.data.tags["validated_version"] == "1"
    assert run.data.tags["refit_window"] == refit_window
    # Nested in the Kedro run's MLflow run, like the variant runs.
    assert run.data.tags["mlflow.parentRunId"] == client.get_run(validated_run).data.tags["mlflow.parentRunId"]


def test_scores_carry_the_refit_version_and_the_backfill_the_validated_one(promoted):
    ws = promoted
    assert ws.rows("SELECT DISTINCT MODEL_VERSION FROM ML.CUSTOMER_CHURN_SCORE") == [("2",)]
    # Out of sample: the backfill scores past labelled snapshots after the validated version's
    # window with that version; the refit was trained on them.
    backfilled = ws.rows("SELECT DISTINCT MODEL_VERSION, SCORE_DATE FROM ML.CUSTOMER_CHURN_SCORE_BACKFILL WHERE MODEL_NAME = 'retail_churn'")
    validated_end = ws.scalar("SELECT SPLIT_PART(TRAINING_WINDOW, '..', 2) FROM ML.MODEL_REGISTRY WHERE MODEL_VERSION = '1'")
    assert backfilled and {version for version, _ in backfilled} == {"1"}
    assert all(str(day) > validated_end for _, day in backfilled)
    drift = {f for (f,) in ws.rows("SELECT FEATURE FROM ML.MODEL_DRIFT WHERE MODEL_VERSION = '2'")}
    assert "CHURN_PROBABILITY" in drift  # the score's PSI against the validated version's holdout date


def test_with_refit_off_a_promotion_registers_one_version_as_before(promoted, monkeypatch):
    ws = promoted
    store = f"sqlite:///{ws.data / '06_models' / 'without_refit.db'}"
    monkeypatch.setenv("RCT_MLFLOW_TRACKING_URI", store)
    ws.run("train_eval", params={**AS_OF, "train_eval": {"deployment": {"refit": False}}})
    [run_id] = ws.rows("SELECT RUN_ID FROM ML.MODEL_REGISTRY GROUP BY RUN_ID ORDER BY MAX(RECORDED_AT) DESC LIMIT 1")[0]
    assert ws.rows(f"SELECT MODEL_VERSION, ALIAS, DECISION, VALIDATED_VERSION FROM ML.MODEL_REGISTRY WHERE RUN_ID = '{run_id}'") == [
        ("1", "champion", "promoted", None)
    ]
    client = _client(ws, "without_refit.db")
    assert {alias: str(v) for alias, v in client.get_registered_model("retail_churn").aliases.items()} == {"champion": "1"}
    assert len(client.search_model_versions("name='retail_churn'")) == 1


def test_the_realised_metrics_of_a_refit_expect_its_validated_versions_holdout(tmp_path):
    """ML.MODEL_PERFORMANCE_REALISED on a hand-made history in DuckDB: the refit (version 2, no
    metrics of its own) is expected to do what version 1 did on the holdout; a version without
    that link has no EXPECTED."""
    con = ibis.duckdb.connect(str(tmp_path / "w.duckdb"))
    con.create_table("ORDERS", pd.DataFrame({"CUSTOMER_ID": ["C1"], "ORDER_DATE": pd.to_datetime(["2026-07-10"]).date}))
    con.create_table("SNAPSHOTS", pd.DataFrame({
        "SNAPSHOT_DATE": pd.to_datetime(["2026-06-30"]).date, "LABEL_WINDOW_END": pd.to_datetime(["2026-07-30"]).date,
        "DATA_DATE": pd.to_datetime(["2026-09-10"]).date,
    }))
    scores = pd.concat([
        pd.DataFrame({"CUSTOMER_ID": ["C1", "C2", "C3"], "CHURN_PROBABILITY": [0.2, 0.7, 0.9], "MODEL_VERSION": version})
        for version in ("2", "3")
    ]).assign(SCORE_DATE=pd.Timestamp("2026-06-30"), DECILE=1, RISK_BAND="high", MODEL_NAME="retail_churn", VARIANT="logreg",
              RUN_ID="run-1", SCORED_AT=pd.Timestamp("2026-07-01"))
    con.create_table("SCORES", tables.as_table(scores, tables.CUSTOMER_CHURN_SCORE).to_pyarrow())
    con.create_table("LEGACY", tables.as_table(scores.iloc[:0], tables.CUSTOMER_CHURN_SCORE).to_pyarrow())
    con.create_table("METRICS", pd.DataFrame({
        "RUN_ID": "t", "MODEL_NAME": "retail_churn", "MODEL_VERSION": "1", "VARIANT": "logreg", "SPLIT": ["holdout", "holdout", "fold_1"],
        "VALIDATION_DATE": pd.Timestamp("2026-03-31"), "METRIC": ["roc_auc", "ece", "roc_auc"], "VALUE": [0.9, 0.05, 0.5],
        "COMPUTED_AT": pd.Timestamp("2026-04-01"),
    }))
    registry = pd.DataFrame({
        "MODEL_NAME": "retail_churn", "MODEL_VERSION": ["1", "2", "3"], "VARIANT": "logreg", "FEATURE_SET": "base",
        "ALIAS": ["validated", "champion", None], "MLFLOW_RUN_ID": "r", "TRAINED_AT": pd.Timestamp("2026-04-01"),
        "TRAINING_WINDOW": "2025-01-31..2026-03-31", "DECISION": "promoted", "REASON": "r", "DECIDED_AT": pd.Timestamp("2026-04-01"),
        "RETIRED_BY_VERSION": None, "RUN_ID": "t", "RECORDED_AT": pd.Timestamp("2026-04-01"), "VALIDATED_VERSION": [None, "1", None],
    })
    con.create_table("REGISTRY", tables.as_table(registry, tables.MODEL_REGISTRY).to_pyarrow())
    args = [con.table(t) for t in ("SCORES", "LEGACY")] + [None] + [con.table(t) for t in ("ORDERS", "SNAPSHOTS", "METRICS")]
    run = {"run_id": "run-2", "started_at": pd.Timestamp("2026-09-10")}
    rows = realised_performance(*args, None, None, run, registry=con.table("REGISTRY")).to_pandas()
    expected = rows.set_index(["MODEL_VERSION", "METRIC"]).EXPECTED
    assert (expected[("2", "roc_auc")], expected[("2", "ece")]) == (0.9, 0.05)
    assert expected.loc["3"].isna().all() and expected.loc["2"].drop(["roc_auc", "ece"]).isna().all()
