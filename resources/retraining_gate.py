# Databricks notebook source
# The training job's gate: sets the task value `retrain` ("true" or "false") from the latest
# ML.RETRAINING_SIGNAL; the job's condition task `retrain_if_recommended` reads it. A notebook,
# because only a notebook can set a task value (retail_control_tower.pipelines.monitoring.gate).
from retail_control_tower.pipelines.monitoring.gate import latest_signal_decision

retrain, why = latest_signal_decision(
    env=dbutils.widgets.get("env"),  # noqa: F821 - Databricks provides dbutils
    conf_source=dbutils.widgets.get("conf_source"),  # noqa: F821
    only_when_recommended=dbutils.widgets.get("only_when_recommended") == "true",  # noqa: F821
)
print(why)
dbutils.jobs.taskValues.set(key="retrain", value="true" if retrain else "false")  # noqa: F821
