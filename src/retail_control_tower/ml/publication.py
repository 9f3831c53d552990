"""What a training run hands to MLflow, and what the registry hands back.

Nodes build these plain objects; ``MlflowModelRegistryDataset`` does all MLflow I/O, so the
nodes stay testable without a tracking store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd


@dataclass
class VariantResult:
    """One candidate model (or rule) of a training run: logged as one MLflow run."""

    variant: str  # e.g. "hgb_calibrated_ext"; also the MLflow run name
    feature_set: str  # "base" | "ext"
    params: dict[str, Any]  # flat; values are stringified when logged
    metrics: pd.DataFrame  # SPLIT ("fold_1".., "holdout"), METRIC, VALUE → "<split>_<metric>"
    tables: dict[str, pd.DataFrame]  # logged as "<key>.csv"
    figures: dict[str, Any]  # plotly figures, logged as "<key>.html"
    model: Any | None  # fitted estimator with predict_proba; None for rule-based variants
    input_example: pd.DataFrame | None  # a few feature rows: the model signature is inferred from them


@dataclass
class Publication:
    """A training run's variants and its promotion decision; saving it registers one model version."""

    kedro_run_id: str
    git_commit: str | None
    tags: dict[str, str]  # added to every MLflow run of the publication
    training_window: str  # e.g. "2025-01-31..2026-06-30"
    variants: list[VariantResult]
    challenger: str  # chosen on CV; one of ``variants`` and one with a model
    promote: bool  # True → the challenger becomes champion
    reason: str
    decided_at: datetime
    trained_at: datetime


@dataclass
class RegisteredModel:
    """The registered model version that holds an alias (e.g. champion), loaded for scoring."""

    model_name: str
    version: str
    variant: str | None
    mlflow_run_id: str | None
    model: Any
    tags: dict[str, str] = field(default_factory=dict)
