"""Project settings: hooks, configuration loader and resolvers."""

from __future__ import annotations

import os
import warnings

from kedro.config import OmegaConfigLoader
from mlflow.telemetry import set_telemetry_client
from omegaconf.resolvers import oc

from retail_control_tower.datasets.raw_manifest import RawFileReadsHook
from retail_control_tower.hooks import RetiredSettingsHook, RunContextHook, WarehouseSchemasHook
from retail_control_tower.ml.tracking import MlflowTrackingHook
from retail_control_tower.ops.alert_hook import AlertHook
from retail_control_tower.ops.lock import WarehouseLockHook
from retail_control_tower.ops.run_log import RunLogHook
from retail_control_tower.pipeline_registry import DEFAULT_PIPELINES

# Kedro 1.7 registers resolvers with an API omegaconf 2.4 deprecates; the warning is not ours
# to act on and would greet every run.
warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated", category=UserWarning)

# Offline at run time, however Kedro is started (the Makefile sets these too).
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")
# MLflow decides on telemetry when it is imported, and kedro-mlflow's command-line plugin imports
# it before these settings: decide again, now that the variables are set.
set_telemetry_client()

_RUN_LOG = RunLogHook(DEFAULT_PIPELINES)
# The warehouse lock is taken first (tryfirst) and released last (trylast) of all hooks.
HOOKS = (
    RetiredSettingsHook(), WarehouseLockHook(_RUN_LOG), RunContextHook(), WarehouseSchemasHook(), RawFileReadsHook(), MlflowTrackingHook(), _RUN_LOG, AlertHook(),
)

# kedro-viz's run hooks record events for its experimental workflow view into .viz/ of the
# project on every run; lineage is reviewed from `kedro viz build` instead. kedro-mlflow's hook
# runs through MlflowTrackingHook above, only where MLflow is used.
DISABLE_HOOKS_FOR_PLUGINS = ("kedro-viz", "kedro_mlflow")

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # Environment variables may be read anywhere in the configuration (not only in
    # credentials), e.g. the raw input folder ``RCT_RAW_DIR``.
    "custom_resolvers": {"oc.env": oc.env},
    # kedro-mlflow's configuration (conf/<env>/mlflow.yml), readable before its hook registers it.
    "config_patterns": {"mlflow": ["mlflow*", "mlflow*/**"]},
}
