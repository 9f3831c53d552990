"""Project structure the product relies on: registered pipelines, layered catalog, engine-free nodes."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from conftest import PROJECT
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

SOURCE = PROJECT / "src" / "retail_control_tower"


def test_pipelines_are_registered_by_name_and_default_is_the_whole_control_tower():
    bootstrap_project(PROJECT)
    normal_run = ("ingest", "dq", "features", "train_eval", "scoring", "monitoring", "reporting", "publish")
    assert set(normal_run) | {"generate", "__default__"} <= set(pipelines)
    default = {node.name for node in pipelines["__default__"].nodes}
    assert default == set().union(*({n.name for n in pipelines[name].nodes} for name in normal_run))
    assert not default & {n.name for n in pipelines["generate"].nodes}


def test_ml_waits_for_the_data_quality_gate_and_scoring_for_training():
    bootstrap_project(PROJECT)
    default = pipelines["__default__"]
    features = default.from_nodes("dq_gate")
    assert {"customer_features", "publish_to_mlflow", "score_customers"} <= {n.name for n in features.nodes}
    assert "score_customers" in {n.name for n in default.from_nodes("mirror_registry").nodes}


def test_every_persisted_dataset_carries_its_kedro_viz_layer(workspace):
    bootstrap_project(PROJECT)
    with KedroSession.create(project_path=PROJECT) as session:
        catalog = session.load_context().catalog
    missing = []
    for name in sorted(set().union(*(p.datasets() for p in pipelines.values()))):
        if name.startswith("params:") or name == "run_context":
            continue
        dataset = catalog.get(name, fallback_to_runtime_pattern=True)
        layer = ((getattr(dataset, "metadata", None) or {}).get("kedro-viz") or {}).get("layer")
        if not layer:
            missing.append(name)
    assert missing == []


def test_warehouse_datasets_are_named_after_their_tables():
    catalog = yaml.safe_load((PROJECT / "conf" / "base" / "catalog.yml").read_text())
    for pattern, entry in catalog.items():
        if entry.get("type") == "retail_control_tower.datasets.WarehouseTableDataset":
            schema = entry["database"]
            assert pattern == f'{schema}_{entry["table_name"]}', pattern


def test_nodes_never_import_an_engine():
    offenders = [
        str(path.relative_to(PROJECT))
        for path in (SOURCE / "pipelines").rglob("*.py")
        if re.search(r"^\s*(import|from)\s+(duckdb|snowflake)", path.read_text(), re.MULTILINE)
    ]
    assert offenders == []


def test_telemetry_is_off():
    assert yaml.safe_load((PROJECT / ".telemetry").read_text()) == {"consent": False}
    makefile = (PROJECT / "Makefile").read_text()
    assert "KEDRO_DISABLE_TELEMETRY := 1" in makefile and "MLFLOW_DISABLE_TELEMETRY := true" in makefile


def test_generated_files_are_ignored_by_git():
    ignored = (PROJECT / ".gitignore").read_text()
    for pattern in ("data/**", "*.duckdb", ".venv/", "conf/local/**", "mlruns/"):
        assert pattern in ignored
    assert Path(PROJECT / "conf" / "local" / ".gitkeep").exists()


def test_dev_and_prod_track_to_databricks_and_register_in_unity_catalog(monkeypatch):
    from kedro.config import OmegaConfigLoader

    from retail_control_tower.settings import CONFIG_LOADER_ARGS

    def config(env):
        loader = OmegaConfigLoader(str(PROJECT / "conf"), **{**CONFIG_LOADER_ARGS, "default_run_env": env})
        return loader["mlflow"]["server"], loader["globals"]["mlflow"]

    monkeypatch.delenv("RCT_MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("RCT_MLFLOW_REGISTRY_URI", raising=False)
    base, _ = config("local")
    assert base["mlflow_tracking_uri"].startswith("sqlite:///") and base["mlflow_tracking_uri"].endswith("06_models/mlflow.db")
    assert base["mlflow_registry_uri"] == base["mlflow_tracking_uri"]
    for env in ("dev", "prod"):
        server, model = config(env)
        assert server["mlflow_tracking_uri"] == "databricks" and server["mlflow_registry_uri"] == "databricks-uc"
        assert model["model_name"] == f"retail_{env}.ml.retail_churn"  # catalog.schema.model
