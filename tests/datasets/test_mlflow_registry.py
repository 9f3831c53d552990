"""The MLflow registry dataset on a real SQLite store: runs per variant, versions, aliases, champion."""

from __future__ import annotations

import os
from datetime import datetime

import mlflow
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from kedro.io import DatasetError
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from retail_control_tower.datasets.mlflow_registry import REGISTRY_COLUMNS, MlflowModelRegistryDataset
from retail_control_tower.ml.publication import Publication, RegisteredModel, VariantResult

# Relative on purpose: both are resolved against the working directory (the test's tmp folder).
TRACKING_URI = "sqlite:///models/mlflow.db"
ARTIFACTS = "models/mlartifacts"
FEATURES = ["RECENCY_DAYS", "ORDERS_90D", "SPEND_90D"]

# Inside MLflow's SQLAlchemy store (pinned dependency), not ours.


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


def _dataset(alias: str | None = None) -> MlflowModelRegistryDataset:
    return MlflowModelRegistryDataset(
        tracking_uri=TRACKING_URI, model_name="retail_churn", experiment_name="retail_churn",
        artifact_location=ARTIFACTS, alias=alias,
    )


def _aliases(registry: pd.DataFrame) -> dict[str, str | None]:
    return dict(zip(registry.MODEL_VERSION, registry.ALIAS))


def test_publications_register_versions_and_move_the_aliases(tmp_path, monkeypatch, frame, models):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(name, raising=False)
    X, _ = frame
    registry, champion = _dataset(), _dataset("champion")

    # An empty store: no champion yet, an empty registry with the full set of columns.
    assert champion.load() is None
    assert not champion.exists()
    empty = registry.load()
    assert list(empty.columns) == REGISTRY_COLUMNS and empty.empty

    # 1. First publication, promoted.
    registry.save(_publication(models, X, 1, "hgb_calibrated_ext", promote=True))
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

    # Every variant is a run of the experiment, the rule-based one included, with its metrics, tags and artifacts.
    client = mlflow.MlflowClient(tracking_uri=TRACKING_URI)
    experiment = client.get_experiment_by_name("retail_churn")
    assert experiment.artifact_location == (tmp_path / ARTIFACTS).as_uri()
    runs = {run.info.run_name: run for run in client.search_runs([experiment.experiment_id])}
    assert sorted(runs) == ["hgb_calibrated_ext", "logreg_base", "rfm_rule"]
    for name, run in runs.items():
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
    registry.save(_publication(models, X, 2, "logreg_base", promote=False))
    rows = registry.load()
    assert _aliases(rows) == {"1": "champion", "2": "challenger"}
    assert rows.DECISION.tolist() == ["promoted", "not_promoted"] and rows.VARIANT[1] == "logreg_base"
    assert champion.load().version == "1"

    # 3. Promoted again: champion moves, the challenger alias goes, the old champion is retired.
    registry.save(_publication(models, X, 3, "hgb_calibrated_ext", promote=True))
    rows = registry.load()
    assert _aliases(rows) == {"1": None, "2": None, "3": "champion"}
    assert rows.RETIRED_BY_VERSION.tolist() == ["3", None, None]
    assert client.get_model_version("retail_churn", "1").tags["retired_at"] == "2026-07-03T06:30:00"
    assert champion.load().version == "3" and champion.exists()
    assert len(client.search_runs([experiment.experiment_id])) == 9

    # Refused: saving through the champion, and a challenger without a model (nothing is logged).
    with pytest.raises(DatasetError, match="read-only"):
        champion.save(_publication(models, X, 4, "hgb_calibrated_ext", promote=True))
    with pytest.raises(DatasetError, match="'rfm_rule' must be one of the variants"):
        registry.save(_publication(models, X, 4, "rfm_rule", promote=True))
    assert len(client.search_runs([experiment.experiment_id])) == 9

    # Nothing outside the configured locations, and the global MLflow URIs are as they were.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"]
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["mlartifacts", "mlflow.db"]
    assert "MLFLOW_TRACKING_URI" not in os.environ and "MLFLOW_REGISTRY_URI" not in os.environ
