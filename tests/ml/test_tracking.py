"""kedro-mlflow's hook as the project engages it, in real Kedro sessions on a temporary workspace:
only runs that read the registry set MLflow up and are MLflow runs; a store that cannot be set up
fails the run at its first MLflow dataset, inside the run's error handling."""

from __future__ import annotations

import os
import subprocess
import sys

import mlflow
import pytest
from conftest import PROJECT, small_retailer

from retail_control_tower.ml.tracking import MlflowUnavailableError, _existing_local_store, _sqlite_file


def test_local_stores_are_recognised_in_every_form_the_environments_use(tmp_path):
    store = tmp_path / "06_models" / "mlflow.db"
    read_only = f"sqlite+pysqlite:///file:{store}?mode=ro&uri=true"
    assert _sqlite_file(f"sqlite:///{store}") == _sqlite_file(read_only) == store
    assert _sqlite_file("sqlite:///data/06_models/mlflow.db").as_posix() == "data/06_models/mlflow.db"
    assert _sqlite_file("databricks") is None and _sqlite_file("http://127.0.0.1:5000") is None
    server = {"mlflow_tracking_uri": read_only, "mlflow_registry_uri": read_only}
    assert not _existing_local_store(server)  # no store yet: set up only by a run that needs it
    store.parent.mkdir()
    store.touch()
    assert _existing_local_store(server) and _existing_local_store({"mlflow_tracking_uri": f"sqlite:///{store}"})
    assert not _existing_local_store({"mlflow_tracking_uri": f"sqlite:///{store}", "mlflow_registry_uri": "databricks-uc"})
    assert not _existing_local_store({})


def test_only_a_run_that_reads_the_registry_is_an_mlflow_run(workspace):
    store = workspace.data / "06_models" / "mlflow.db"
    workspace.write_retailer(small_retailer())
    workspace.run("ingest")
    assert not store.exists()  # no store created, no MLflow run, for a run that does not use MLflow

    for attempt in (1, 2):  # each Kedro run its own top-level MLflow run, closed when it fails
        with pytest.raises(Exception, match="CUSTOMER_FEATURES"):
            workspace.run("scoring")
        assert mlflow.active_run() is None
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{store}")
    experiment = client.get_experiment_by_name("retail_churn")
    assert experiment.artifact_location == (workspace.data / "06_models" / "mlartifacts").as_uri()
    runs = client.search_runs([experiment.experiment_id])
    assert [(r.info.run_name, r.info.status) for r in runs] == [("scoring", "FAILED")] * 2
    assert all("mlflow.parentRunId" not in r.data.tags for r in runs)
    assert runs[0].data.tags["kedro_command"] == "kedro run --pipeline=scoring"


def test_a_store_that_cannot_be_set_up_fails_the_run_at_its_first_mlflow_dataset(workspace, monkeypatch, tmp_path):
    # Databricks without a host or token: kedro-mlflow's set-up fails before the run starts.
    for name in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CONFIG_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("RCT_MLFLOW_TRACKING_URI", "databricks")
    monkeypatch.setenv("RCT_MLFLOW_REGISTRY_URI", "databricks-uc")
    with pytest.raises(MlflowUnavailableError, match=r"MLflow could not be set up from conf/local/mlflow.yml: \w+"):
        workspace.run("smoke")
    # The failure went through the run's error handling: the run log has it.
    assert workspace.rows("SELECT STATUS, ERROR_CLASS FROM OPS.PIPELINE_RUN_LOG") == [("failed", "MlflowUnavailableError")]


def test_mlflow_telemetry_is_off_however_kedro_is_started():
    # kedro-mlflow's command-line plugin imports MLflow (which decides on telemetry then) before
    # the project's settings set MLFLOW_DISABLE_TELEMETRY; the settings make MLflow decide again.
    script = (
        "import mlflow.telemetry\n"  # first, as the plugin's entry point does
        "before = mlflow.telemetry.get_telemetry_client() is not None\n"
        "from pathlib import Path\n"
        "from kedro.framework.cli.cli import KedroCLI\n"
        "from kedro.framework.project import settings\n"
        f"KedroCLI(Path({str(PROJECT)!r}))\n"
        "settings.HOOKS\n"
        "print(before, mlflow.telemetry.get_telemetry_client())\n"
    )
    # Without the variables that would turn it off anyway (ours, and MLflow's signs of a test or CI).
    ci = {"PYTEST_CURRENT_TEST", "GITHUB_ACTIONS", "CI", "CIRCLECI", "GITLAB_CI", "JENKINS_URL", "TRAVIS", "TF_BUILD", "BUILDKITE"}
    off = {"MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK", "KEDRO_DISABLE_TELEMETRY"}
    env = {k: v for k, v in os.environ.items() if k not in ci | off}
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["True", "None"]


def test_the_smoke_test_reads_the_registry_without_an_mlflow_run(workspace):
    from retail_control_tower.pipelines.smoke.nodes import SmokeTestError

    with pytest.raises(SmokeTestError):  # an empty warehouse; the registry check itself passes
        workspace.run("smoke")
    assert "mlflow_registry,pass" in (workspace.data / "08_reporting" / "smoke_results.csv").read_text()
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{workspace.data / '06_models' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("retail_churn")
    assert experiment is not None and client.search_runs([experiment.experiment_id]) == []
