"""The whole control tower on the minimal input the contract allows (orders + order items only),
and a run that ends without a champion, in real Kedro sessions."""

from __future__ import annotations

import mlflow
import pytest
from conftest import Workspace, release_warehouse_connections

from retail_control_tower.pipelines.scoring.nodes import NoChampionError

# A fixed history (judged at its own end), so the outcome does not move with the day the test runs.
SMALL = {"synthetic": {"customers": 500, "stores": 6, "products": 60, "history_days": 540, "target_order_lines": 25000, "end_date": "2026-10-31"}}
# The champion as validated on the holdout (no refit): the run without a champion below trains into
# a fresh registry whose version numbers restart, which a refit's second version would outlive in
# ML.MODEL_REGISTRY. The refit on this input: tests/pipelines/train_eval/test_refit_deployment.py.
AS_OF = {"event_dates": {"reference_time": "2026-10-31T23:59:59"}}
NO_REFIT = {"train_eval": {"deployment": {"refit": False}}}
OPTIONAL = ("customers", "products", "stores", "returns")


@pytest.fixture(scope="module")
def minimal_run(tmp_path_factory):
    """A small synthetic retailer with every optional file removed, run once by default."""
    monkeypatch = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("minimal")
    workspace = Workspace.at(root, monkeypatch)
    workspace.run("generate", params=SMALL)
    for entity in OPTIONAL:
        (workspace.raw / f"{entity}.csv").unlink()
    workspace.run(params={**AS_OF, **NO_REFIT})
    yield workspace
    release_warehouse_connections()
    monkeypatch.undo()


def test_the_minimal_input_trains_every_variant_promotes_a_champion_and_scores(minimal_run):
    ws = minimal_run
    variants = {v for (v,) in ws.rows("SELECT DISTINCT VARIANT FROM ML.MODEL_METRICS WHERE SPLIT = 'holdout'")}
    assert variants == {"legacy_rfm", "bgnbd", "logreg", "logreg_calibrated", "logreg_calibrated_ext", "hgb_ext", "hgb_calibrated_ext"}
    assert ws.rows("SELECT ALIAS, DECISION FROM ML.MODEL_REGISTRY") == [("champion", "promoted")]
    eligible = ws.scalar("SELECT COUNT(*) FROM ML.CUSTOMER_FEATURES WHERE IS_SCORING")
    assert eligible > 200
    assert ws.scalar("SELECT COUNT(DISTINCT CUSTOMER_ID) FROM ML.CUSTOMER_CHURN_SCORE") == eligible
    assert (ws.data / "08_reporting" / "control_tower_report.html").exists()


def test_features_without_information_are_dropped_and_named(minimal_run):
    ws = minimal_run
    # No returns file: the return features are null or zero throughout; no customers file: one tier.
    reason = ws.scalar("SELECT REASON FROM ML.MODEL_REGISTRY")
    for feature in ("DAYS_SINCE_LAST_RETURN (entirely null)", "RETURN_RATE (constant", "LOYALTY_TIER (constant (unknown))"):
        assert feature in reason
    run_id = ws.scalar("SELECT MLFLOW_RUN_ID FROM ML.MODEL_REGISTRY")
    release_warehouse_connections()
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{ws.data / '06_models' / 'mlflow.db'}")
    assert "DAYS_SINCE_LAST_RETURN (entirely null)" in client.get_run(run_id).data.tags["dropped_features"]


def test_without_a_champion_the_report_says_why_and_the_run_then_fails(minimal_run, monkeypatch):
    ws = minimal_run
    # A calibration limit nothing meets (0, widened only to the lowest of 1,000 simulated noise
    # draws), trained into a new, empty registry: the run ends with no champion at all.
    fresh = ws.root / "fresh_registry"
    fresh.mkdir()
    monkeypatch.setenv("RCT_MLFLOW_TRACKING_URI", f"sqlite:///{fresh / 'mlflow.db'}")
    impossible = {"train_eval": {"calibration_limit": {"max_ece": 0.0, "ece_noise_quantile": 0.001, "ece_noise_draws": 1000}}}
    with pytest.raises(NoChampionError, match="did not promote one"):
        ws.run(params={**impossible, **AS_OF})
    report = (ws.data / "08_reporting" / "control_tower_report.html").read_text()
    assert "No champion: customers were not scored." in report and "calibration limit" in report
    latest_run = ws.scalar("SELECT RUN_ID FROM ML.MODEL_REGISTRY ORDER BY RECORDED_AT DESC LIMIT 1")
    assert latest_run in report
    # The views were rebuilt by this run and answer without a champion.
    assert ws.count("REPORTING.V_CHAMPION_MODEL") == 0
    assert ws.rows("SELECT DISTINCT RUN_ID FROM REPORTING.V_LATEST_MODEL_METRICS") == [(latest_run,)]
