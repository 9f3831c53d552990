"""The churn model in MLflow's registry, read through the stores kedro-mlflow sets up from
``conf/<env>/mlflow.yml``: the version holding an alias (the champion), and every version."""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from retail_control_tower.ml.publication import RegisteredModel, registered_model

REGISTRY_COLUMNS = [
    "MODEL_NAME", "MODEL_VERSION", "VARIANT", "FEATURE_SET", "ALIAS", "MLFLOW_RUN_ID", "KEDRO_RUN_ID",
    "TRAINED_AT", "TRAINING_WINDOW", "DECISION", "REASON", "DECIDED_AT", "RETIRED_BY_VERSION",
]


class AliasedModelDataset(AbstractDataset[None, "RegisteredModel | None"]):
    """The registered version holding an alias, loaded by kedro-mlflow's ``MlflowModelRegistryDataset``
    (``dataset``, configured with ``alias``), with its registry record; ``None`` while no version holds
    the alias, where kedro-mlflow's dataset fails (a first training run has no champion to compare with,
    a scoring run before it has none to score with). Read-only.
    """

    def __init__(self, dataset: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        self.model = AbstractDataset.from_config("model", dataset)
        if not getattr(self.model, "alias", None):
            raise DatasetError(f"{type(self).__name__} reads a model by alias: give its dataset an `alias`")
        self.metadata = metadata

    def load(self) -> RegisteredModel | None:
        name, alias = self.model.model_name, self.model.alias
        registered = registered_model(mlflow.MlflowClient(), name)
        if registered is None or alias not in registered.aliases:
            return None
        version = mlflow.MlflowClient().get_model_version(name, str(registered.aliases[alias]))
        tags = dict(version.tags)
        return RegisteredModel(name, str(version.version), tags.get("variant"), version.run_id, self.model.load(), tags)

    def save(self, data: None) -> None:
        raise DatasetError(f"{self.model.model_name}@{self.model.alias} is read-only: train_eval registers versions and moves aliases")

    def _exists(self) -> bool:
        registered = registered_model(mlflow.MlflowClient(), self.model.model_name)
        return registered is not None and self.model.alias in registered.aliases

    def _describe(self) -> dict[str, Any]:
        return {"model_name": self.model.model_name, "alias": self.model.alias}


class ModelVersionsDataset(AbstractDataset[None, pd.DataFrame]):
    """One row per registered version of ``model_name`` (its aliases, and the decision its tags
    record): what ML.MODEL_REGISTRY mirrors. Read-only."""

    def __init__(self, model_name: str, metadata: dict[str, Any] | None = None) -> None:
        self.model_name = model_name
        self.metadata = metadata

    def load(self) -> pd.DataFrame:
        client = mlflow.MlflowClient()
        registered = registered_model(client, self.model_name)
        rows = []
        if registered is not None:
            # Search results carry no aliases in MLflow 3; the registered model has them all.
            aliases: dict[str, list[str]] = {}
            for alias, version in registered.aliases.items():
                aliases.setdefault(str(version), []).append(alias)
            for mv in self._all_versions(client):
                tag = mv.tags.get
                rows.append([
                    self.model_name, str(mv.version), tag("variant"), tag("feature_set"),
                    ",".join(sorted(aliases[str(mv.version)])) if str(mv.version) in aliases else None,
                    mv.run_id or tag("mlflow_run_id"), tag("kedro_run_id"), tag("trained_at"), tag("training_window"),
                    tag("decision"), tag("reason"), tag("decided_at"), tag("retired_by_version"),
                ])
        frame = pd.DataFrame(rows, columns=REGISTRY_COLUMNS)
        frame = frame.sort_values("MODEL_VERSION", key=lambda v: v.astype(int), ignore_index=True)
        for column in ("TRAINED_AT", "DECIDED_AT"):
            frame[column] = pd.to_datetime(frame[column], format="ISO8601")
        return frame

    def save(self, data: None) -> None:
        raise DatasetError(f"The versions of {self.model_name} are read-only: train_eval registers them")

    def _all_versions(self, client: mlflow.MlflowClient) -> list:
        versions, token = [], None
        while True:
            page = client.search_model_versions(f"name='{self.model_name}'", page_token=token)
            versions.extend(page)
            token = page.token
            if not token:
                return versions

    def _describe(self) -> dict[str, Any]:
        return {"model_name": self.model_name}
