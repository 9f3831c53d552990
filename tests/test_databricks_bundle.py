"""The Databricks Asset Bundle: its jobs validate against the `databricks-bundles` job model, and
every task runs a pipeline that exists, through the console script the wheel really installs."""

from __future__ import annotations

import re
import tomllib

import pytest
import yaml
from conftest import PROJECT
from databricks.bundles.jobs import Job
from kedro.framework.project import pipelines
from kedro.framework.startup import bootstrap_project

DAILY = ["ingest", "dq", "features", "scoring", "monitoring", "reporting"]
TRAINING = ["retraining_gate", "retrain_if_recommended", "train_eval"]


def _bundle() -> tuple[dict, dict[str, dict]]:
    bundle = yaml.safe_load((PROJECT / "databricks.yml").read_text())
    jobs: dict[str, dict] = {}
    for pattern in bundle["include"]:
        for path in sorted(PROJECT.glob(pattern)):
            jobs.update(yaml.safe_load(path.read_text())["resources"]["jobs"])
    return bundle, jobs


@pytest.fixture(scope="module")
def bundle():
    return _bundle()


def test_a_misspelt_field_would_be_caught():
    with pytest.raises(ValueError, match="package_nam"):
        Job.from_dict({"name": "x", "tasks": [{"task_key": "a", "python_wheel_task": {"package_nam": "p", "entry_point": "e"}}]})


def test_targets_dev_and_prod(bundle):
    config, _ = bundle
    targets = config["targets"]
    assert targets["dev"]["mode"] == "development" and targets["dev"]["variables"]["env"] == "dev"
    assert targets["prod"]["mode"] == "production" and targets["prod"]["variables"]["env"] == "prod"
    assert "run_as" in targets["prod"]
    assert config["artifacts"]["retail_control_tower"]["build"].endswith("kedro package")


def test_every_job_validates_against_the_bundle_job_model(bundle):
    _, jobs = bundle
    assert set(jobs) == {"retail_control_tower_daily", "retail_control_tower_training"}
    for key, definition in jobs.items():
        job = Job.from_dict(definition)  # raises on unknown fields, missing required ones, wrong shapes
        assert len(job.tasks) == len(definition["tasks"]) and job.schedule is not None, key
        assert len(job.email_notifications.on_failure) == 1, key  # failures reach someone


def _tasks(job: dict) -> list[dict]:
    return job["tasks"]


def test_tasks_run_registered_pipelines_in_order_through_the_console_script(bundle):
    _, jobs = bundle
    bootstrap_project(PROJECT)
    scripts = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["scripts"]
    daily = _tasks(jobs["retail_control_tower_daily"])
    assert [t["task_key"] for t in daily] == DAILY
    for before, task in zip(daily, daily[1:]):
        assert task["depends_on"] == [{"task_key": before["task_key"]}]
    assert [t["task_key"] for t in _tasks(jobs["retail_control_tower_training"])] == TRAINING
    for job in jobs.values():
        for task in _tasks(job):
            if "python_wheel_task" not in task:
                continue
            wheel_task = task["python_wheel_task"]
            assert wheel_task["package_name"] == "retail_control_tower" and wheel_task["entry_point"] in scripts
            options = dict(zip(wheel_task["parameters"][::2], wheel_task["parameters"][1::2]))
            assert options["--env"] == "${var.env}"
            assert "--pipeline" not in options  # deprecated in Kedro 1.7
            assert options["--pipelines"] == task["task_key"] and options["--pipelines"] in pipelines
            assert options["--conf-source"].endswith("dist/conf-retail_control_tower.tar.gz")
            assert task["libraries"] == [{"whl": "./dist/*.whl"}]


def test_the_weekly_training_runs_only_when_the_signal_recommends_it(bundle):
    """The gate notebook sets the task value the condition task compares; train_eval runs on the
    condition's true outcome only; the job parameter only_when_recommended (default true) reaches
    the notebook, which decides with gate.latest_signal_decision (tested on a real warehouse in
    tests/pipelines/monitoring)."""
    _, jobs = bundle
    job = jobs["retail_control_tower_training"]
    gate, condition, train = _tasks(job)
    assert job["parameters"] == [{"name": "only_when_recommended", "default": "true"}]
    notebook = PROJECT / "resources" / gate["notebook_task"]["notebook_path"]
    source = notebook.read_text()
    assert source.startswith("# Databricks notebook source\n") and "latest_signal_decision(" in source
    assert 'dbutils.jobs.taskValues.set(key="retrain", value="true" if retrain else "false")' in source
    widgets = set(re.findall(r'dbutils\.widgets\.get\("(\w+)"\)', source))
    assert widgets == set(gate["notebook_task"]["base_parameters"]) == {"env", "conf_source", "only_when_recommended"}
    assert gate["notebook_task"]["base_parameters"]["only_when_recommended"] == "{{job.parameters.only_when_recommended}}"
    assert gate["libraries"] == [{"whl": "./dist/*.whl"}]
    assert condition["depends_on"] == [{"task_key": "retraining_gate"}]
    assert condition["condition_task"] == {"op": "EQUAL_TO", "left": "{{tasks.retraining_gate.values.retrain}}", "right": "true"}
    assert train["depends_on"] == [{"task_key": "retrain_if_recommended", "outcome": "true"}]
    compile(source, str(notebook), "exec")  # the notebook is valid Python


def test_no_credentials_in_the_bundle():
    text = (PROJECT / "databricks.yml").read_text() + "".join(p.read_text() for p in (PROJECT / "resources").glob("*.yml"))
    for word in ("password", "token:", "private_key", "dapi"):
        assert word not in text.lower()
