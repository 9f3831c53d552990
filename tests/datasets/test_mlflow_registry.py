"""The churn model in MLflow on a real SQLite store: train_eval's variant runs (nested in the Kedro
run's MLflow run), registered versions and the alias rule, and the registry datasets that read them back
(the champion through kedro-mlflow's MlflowModelRegistryDataset, by alias)."""

from __future__ import annotations

import os
from datetime import datetime

import mlflow
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from kedro.io import DatasetError
from kedro_mlflow.io.models import MlflowModelRegistryDataset
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from retail_control_tower.datasets.mlflow_registry import REGISTRY_COLUMNS, AliasedModelDataset, ModelVersionsDataset
from retail_control_tower.ml import publication as mlflow_record
from retail_control_tower.ml.publication import MlflowRecordingError, Publication, PublicationError, RegisteredModel, VariantResult

# Under the test's tmp folder, which is also the working directory: nothing may land beside them.
STORE = "models/mlflow.db"
ARTIFACTS = "models/mlartifacts"
FEATURES = ["RECENCY_DAYS", "ORDERS_90D", "SPEND_90D"]


@pytest.fixture(scope="module")
def frame() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(7)
    X = pd.DataFrame(rng.normal(size=(300, 3)), columns=FEATURES)
    y = (rng.random(300) < 1 / (1 + np.exp(-(1.5 * X.RECENCY_DAYS - X.ORDERS_90D)))).astype(int)
    return X, y


@pytest.fixture(scope="module")
def models(frame) -> dict[str, object]:
    X, y = frame
    logistic = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    boosted = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X[:200], y[:200])
    calibrated = CalibratedClassifierCV(FrozenEstimator(boosted), method="sigmoid").fit(X[200:], y[200:])
    return {"logreg_base": logistic, "hgb_calibrated_ext": calibrated}


def _variant(name: str, model, X: pd.DataFrame) -> VariantResult:
    metrics = pd.DataFrame(
        {
            "SPLIT": ["fold_1", "fold_1", "fold_2", "holdout", "holdout"],
            "METRIC": ["roc_auc", "lift_at_10", "roc_auc", "roc_auc", "ece"],
            "VALUE": [0.71, 2.4, 0.69, 0.70, float("nan")],
        }
    )
    deciles = pd.DataFrame({"DECILE": [1, 2], "N": [30, 30], "LIFT": [2.1, 1.4]})
    return VariantResult(
        variant=name,
        feature_set="ext" if name.endswith("_ext") else "base",
        params={"kind": name.split("_")[0], "max_iter": 20, "calibration": None},
        metrics=metrics,
        tables={"decile_table": deciles},
        figures={"decile_lift": go.Figure(go.Bar(x=deciles.DECILE, y=deciles.LIFT))},
        model=model,
        input_example=X.head(5) if model is not None else None,
    )


def _publication(models, X, run: int, challenger: str, promote: bool) -> Publication:
    variants = [_variant(name, model, X) for name, model in models.items()]
    variants.append(_variant("rfm_rule", None, X))  # rule-based: a run, never a model
    when = datetime(2026, 7, run, 6, 30)
    return Publication(
        kedro_run_id=f"run-{run}",
        git_commit="abc123",
        tags={"holdout_date": "2026-06-30", "feature_rows": "300"},
        training_window="2025-01-31..2026-06-30",
        variants=variants,
        challenger=challenger,
        promote=promote,
        reason=f"decision {run}",
        decided_at=when,
        trained_at=when,
    )


@pytest.fixture
def store(tmp_path, monkeypatch):
    """The stores and experiment as kedro-mlflow sets them up for a run (global URIs, an experiment
    with its artifact folder), undone afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(name, raising=False)
    tracking, registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    environment = dict(os.environ)
    # Absolute: MLflow keeps one store per URI in the process, a relative one would outlive the test.
    uri = f"sqlite:///{tmp_path / STORE}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = mlflow.MlflowClient()
    experiment_id = client.create_experiment("retail_churn", artifact_location=(tmp_path / ARTIFACTS).as_uri())
    mlflow.set_experiment(experiment_id=experiment_id)
    yield client, experiment_id, uri
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(tracking)
    mlflow.set_registry_uri(registry)
    # MLflow mirrors what it is set to in environment variables; leave them as they were.
    for name in set(os.environ) - set(environment):
        del os.environ[name]
    os.environ.update(environment)


def _record(run: Publication) -> str:
    """What train_eval's MLflow nodes do, in the Kedro run's MLflow run (kedro-mlflow starts it)."""
    with mlflow.start_run(run_name="__default__") as parent:
        logged = mlflow_record.log_variant_runs(run)
        version = mlflow_record.register_challenger(run, logged, "retail_churn")
        mlflow_record.move_aliases(run, "retail_churn", version)
    return parent.info.run_id


def _champion() -> AliasedModelDataset:
    return AliasedModelDataset(
        dataset={"type": "kedro_mlflow.io.models.MlflowModelRegistryDataset", "model_name": "retail_churn",
                 "alias": "champion", "flavor": "mlflow.sklearn"}
    )


def _aliases(registry: pd.DataFrame) -> dict[str, str | None]:
    return dict(zip(registry.MODEL_VERSION, registry.ALIAS))


def test_publications_register_versions_and_move_the_aliases(tmp_path, store, frame, models):
    client, experiment_id, uri = store
    X, _ = frame
    registry, champion = ModelVersionsDataset(model_name="retail_churn"), _champion()

    # An empty store: no champion yet (where kedro-mlflow's own dataset fails), an empty registry
    # with the full set of columns.
    with pytest.raises(DatasetError, match="retail_churn"):
        MlflowModelRegistryDataset(model_name="retail_churn", alias="champion", flavor="mlflow.sklearn").load()
    assert champion.load() is None
    assert not champion.exists()
    empty = registry.load()
    assert list(empty.columns) == REGISTRY_COLUMNS and empty.empty

    # 1. First publication, promoted.
    parent = _record(_publication(models, X, 1, "hgb_calibrated_ext", promote=True))
    rows = registry.load()
    assert list(rows.columns) == REGISTRY_COLUMNS
    assert rows.to_dict("records")[0] | {"MLFLOW_RUN_ID": None} == {
        "MODEL_NAME": "retail_churn", "MODEL_VERSION": "1", "VARIANT": "hgb_calibrated_ext", "FEATURE_SET": "ext",
        "ALIAS": "champion", "MLFLOW_RUN_ID": None, "KEDRO_RUN_ID": "run-1",
        "TRAINED_AT": pd.Timestamp("2026-07-01 06:30"), "TRAINING_WINDOW": "2025-01-31..2026-06-30",
        "DECISION": "promoted", "REASON": "decision 1", "DECIDED_AT": pd.Timestamp("2026-07-01 06:30"),
        "RETIRED_BY_VERSION": None,
    }
    loaded = champion.load()
    assert isinstance(loaded, RegisteredModel) and (loaded.version, loaded.variant) == ("1", "hgb_calibrated_ext")
    assert loaded.mlflow_run_id == rows.MLFLOW_RUN_ID[0] and loaded.tags["decision"] == "promoted"
    np.testing.assert_array_equal(loaded.model.predict_proba(X), models["hgb_calibrated_ext"].predict_proba(X))

    # Every variant is a run nested in the Kedro run's, the rule-based one included, with its
    # metrics, tags and artifacts.
    experiment = client.get_experiment(experiment_id)
    assert experiment.artifact_location == (tmp_path / ARTIFACTS).as_uri()
    all_runs = client.search_runs([experiment.experiment_id])
    runs = {run.info.run_name: run for run in all_runs if run.info.run_id != parent}
    assert sorted(runs) == ["hgb_calibrated_ext", "logreg_base", "rfm_rule"] and len(all_runs) == 4
    for name, run in runs.items():
        assert run.data.tags["mlflow.parentRunId"] == parent
        assert run.data.metrics == {"fold_1_roc_auc": 0.71, "fold_1_lift_at_10": 2.4, "fold_2_roc_auc": 0.69, "holdout_roc_auc": 0.70}
        assert run.data.params == {"kind": name.split("_")[0], "max_iter": "20", "calibration": "None"}
        assert {k: run.data.tags[k] for k in ("kedro_run_id", "variant", "git_commit", "training_window", "feature_rows")} == {
            "kedro_run_id": "run-1", "variant": name, "git_commit": "abc123",
            "training_window": "2025-01-31..2026-06-30", "feature_rows": "300",
        }
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"decile_table.csv", "decile_lift.html"} <= artifacts
    assert runs["hgb_calibrated_ext"].info.run_id == loaded.mlflow_run_id
    csv = tmp_path / ARTIFACTS / runs["rfm_rule"].info.run_id / "artifacts" / "decile_table.csv"
    assert pd.read_csv(csv).LIFT.tolist() == [2.1, 1.4]
    with_models = {m.source_run_id for m in client.search_logged_models([experiment.experiment_id])}
    assert with_models == {runs["hgb_calibrated_ext"].info.run_id, runs["logreg_base"].info.run_id}

    # 2. Not promoted: the new version is the challenger, the champion stays.
    _record(_publication(models, X, 2, "logreg_base", promote=False))
    rows = registry.load()
    assert _aliases(rows) == {"1": "champion", "2": "challenger"}
    assert rows.DECISION.tolist() == ["promoted", "not_promoted"] and rows.VARIANT[1] == "logreg_base"
    assert champion.load().version == "1"

    # 3. Promoted again: champion moves, the challenger alias goes, the old champion is retired.
    _record(_publication(models, X, 3, "hgb_calibrated_ext", promote=True))
    rows = registry.load()
    assert _aliases(rows) == {"1": None, "2": None, "3": "champion"}
    assert rows.RETIRED_BY_VERSION.tolist() == ["3", None, None]
    assert client.get_model_version("retail_churn", "1").tags["retired_at"] == "2026-07-03T06:30:00"
    assert champion.load().version == "3" and champion.exists()
    assert len(client.search_runs([experiment.experiment_id])) == 12

    # Refused: saving through the registry datasets, and a challenger without a model (nothing is logged).
    with pytest.raises(DatasetError, match="read-only"):
        champion.save(loaded)
    with pytest.raises(DatasetError, match="read-only"):
        registry.save(rows)
    with pytest.raises(PublicationError, match="'rfm_rule' must be one of the variants"):
        mlflow_record.log_variant_runs(_publication(models, X, 4, "rfm_rule", promote=True))
    assert len(client.search_runs([experiment.experiment_id])) == 12

    # Nothing outside the configured locations, and MLflow's URIs are where kedro-mlflow put them.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"]
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["mlartifacts", "mlflow.db"]
    assert mlflow.get_tracking_uri() == mlflow.get_registry_uri() == uri


def _record_with_refit(run: Publication, refit_model, X: pd.DataFrame) -> dict[str, str]:
    """As train_eval records a promotion with ``deployment.refit`` on: the publication, then the refit."""
    with mlflow.start_run(run_name="__default__"):
        logged = mlflow_record.log_variant_runs(run)
        validated = mlflow_record.register_challenger(run, logged, "retail_churn")
        mlflow_record.move_aliases(run, "retail_churn", validated)
        refit = _variant(run.challenger, refit_model, X)
        lineage = {"validated_version": validated, "validated_run_id": logged[run.challenger].run_id}
        refit_run = mlflow_record.log_refit_run(run, refit, "2025-03-31..2026-09-30", lineage)
        version = mlflow_record.register_refit(run, refit, refit_run, "retail_churn", "2025-03-31..2026-09-30", lineage)
        return {**lineage, "refit_version": version, "refit_run_id": refit_run.run_id,
                "aliases": mlflow_record.deploy_refit(run, "retail_churn", validated, version)}


def test_a_refit_becomes_champion_with_its_lineage_and_the_validated_version_keeps_an_alias(store, frame, models):
    client, experiment_id, _ = store
    X, _ = frame
    registry, champion = ModelVersionsDataset(model_name="retail_churn"), _champion()
    validated = AliasedModelDataset(dataset={"type": "kedro_mlflow.io.models.MlflowModelRegistryDataset", "model_name": "retail_churn",
                                             "alias": "validated", "flavor": "mlflow.sklearn"})
    assert validated.load() is None

    first = _record_with_refit(_publication(models, X, 1, "hgb_calibrated_ext", promote=True), models["logreg_base"], X)
    assert first["aliases"] == {"validated": "1", "champion": "2"} and first["refit_version"] == "2"
    rows = registry.load()
    assert _aliases(rows) == {"1": "validated", "2": "champion"}
    assert rows.DECISION.tolist() == ["promoted", "promoted"] and rows.VARIANT.tolist() == ["hgb_calibrated_ext"] * 2
    assert rows.TRAINING_WINDOW.tolist() == ["2025-01-31..2026-06-30", "2025-03-31..2026-09-30"]
    assert rows.REASON[1] == f"refit of validated version 1 (MLflow run {first['validated_run_id']}) on the labelled snapshots 2025-03-31..2026-09-30; decision 1"
    assert mlflow_record.version_tag("retail_churn", ["1", "2"], "validated_version") == {"2": "1"}
    refit_run = client.get_run(first["refit_run_id"])
    assert refit_run.info.run_name == "hgb_calibrated_ext_refit"
    assert {k: refit_run.data.tags[k] for k in ("validated_version", "validated_run_id", "training_window", "variant")} == {
        "validated_version": "1", "validated_run_id": first["validated_run_id"], "training_window": "2025-03-31..2026-09-30",
        "variant": "hgb_calibrated_ext",
    }
    # The champion scores with the refit's model, the validated alias with the holdout's.
    assert (champion.load().version, validated.load().version) == ("2", "1")
    np.testing.assert_array_equal(champion.load().model.predict_proba(X), models["logreg_base"].predict_proba(X))
    np.testing.assert_array_equal(validated.load().model.predict_proba(X), models["hgb_calibrated_ext"].predict_proba(X))

    # A later promotion without a refit: the validated alias of the retired champion's refit goes.
    _record(_publication(models, X, 2, "logreg_base", promote=True))
    assert _aliases(registry.load()) == {"1": None, "2": None, "3": "champion"}
    assert validated.load() is None and champion.load().version == "3"
    assert registry.load().RETIRED_BY_VERSION.tolist() == [None, "3", None]


def test_a_store_that_refuses_a_file_fails_the_record_naming_the_run_and_the_store(tmp_path, store, frame, models, monkeypatch):
    client, experiment_id, uri = store
    X, _ = frame

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mlflow, "log_figure", full_disk)
    with mlflow.start_run(), pytest.raises(MlflowRecordingError) as failure:
        mlflow_record.log_variant_runs(_publication(models, X, 1, "hgb_calibrated_ext", promote=True))
    message = str(failure.value)
    assert message.startswith("MLflow could not record training run run-1 in the tracking store " + uri)
    assert (tmp_path / ARTIFACTS).as_uri() in message and message.endswith("OSError: [Errno 28] No space left on device")
    assert client.search_registered_models() == []
