"""Model variants as configurations of scikit-learn building blocks.

A variant (``params:train_eval.variants.<name>``) names a ``kind``, a ``feature_set`` and
optionally a ``calibration`` method; :func:`fit_variant` turns it into a fitted estimator that
takes the feature frame (any extra columns are ignored) and answers ``predict_proba``.
``legacy_rfm`` is the rule the business scored with before: no training at all.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

LABEL = "CHURNED"


def signed_log1p(values: np.ndarray) -> np.ndarray:
    """log(1 + |x|) with the sign of x: tames the long tails of counts, amounts and day spans."""
    return np.sign(values) * np.log1p(np.abs(values))


class LegacyRfmScore(ClassifierMixin, BaseEstimator):
    """The legacy rule: quintile scores of recency, frequency and monetary value, averaged.

    Each of R, F and M scores 1 (lowest risk) to 5 (highest risk) by its quintile among the
    customers scored together (one snapshot); the churn score is (R + F + M − 3) / 12 in [0, 1].
    It is a ranking rule, not a probability: its calibration is reported, never tuned.
    """

    def __init__(self, recency: str = "RECENCY_DAYS", frequency: str = "FREQUENCY", monetary: str = "MONETARY"):
        self.recency = recency
        self.frequency = frequency
        self.monetary = monetary

    def fit(self, X: pd.DataFrame, y: Any = None) -> LegacyRfmScore:
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        def quintile_risk(values: pd.Series, higher_is_riskier: bool) -> np.ndarray:
            pct = values.rank(pct=True, method="average", ascending=higher_is_riskier).to_numpy()
            return np.clip(np.ceil(pct * 5), 1, 5)

        score = (
            quintile_risk(X[self.recency], True)
            + quintile_risk(X[self.frequency], False)
            + quintile_risk(X[self.monetary], False)
            - 3
        ) / 12
        return np.column_stack([1 - score, score])


def _preprocessor(kind: str, numeric: list[str], categorical: list[str]) -> ColumnTransformer:
    if kind == "logistic_regression":
        numeric_steps = make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            FunctionTransformer(signed_log1p, feature_names_out="one-to-one"),
            StandardScaler(),
        )
        categorical_steps = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=20)
    else:  # trees split on raw values and handle missing values natively
        numeric_steps = "passthrough"
        categorical_steps = OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan
        )
    transformers = [("numeric", numeric_steps, numeric)]
    if categorical:
        transformers.append(("categorical", categorical_steps, categorical))
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)


def build_estimator(variant: dict[str, Any], feature_sets: dict[str, dict[str, list[str]]], seed: int) -> BaseEstimator:
    """The unfitted estimator of a variant configuration."""
    kind = variant["kind"]
    if kind == "legacy_rfm":
        return LegacyRfmScore()
    columns = feature_sets[variant["feature_set"]]
    numeric, categorical = list(columns.get("numeric", [])), list(columns.get("categorical", []))
    settings = dict(variant.get("params") or {})
    if kind == "logistic_regression":
        # Newton-Cholesky: exact and fast when rows far outnumber features, as here.
        model = LogisticRegression(solver="newton-cholesky", max_iter=200, random_state=seed, **settings)
    elif kind == "hist_gradient_boosting":
        categorical_flags = [False] * len(numeric) + [True] * len(categorical)
        model = HistGradientBoostingClassifier(
            categorical_features=categorical_flags if categorical else None, random_state=seed, **settings
        )
    else:
        raise ValueError(f"Unknown model kind {kind!r} (known: legacy_rfm, logistic_regression, hist_gradient_boosting)")
    return Pipeline([("features", _preprocessor(kind, numeric, categorical)), ("model", model)])


def fit_variant(
    variant: dict[str, Any],
    feature_sets: dict[str, dict[str, list[str]]],
    train: pd.DataFrame,
    calibrate_on: pd.DataFrame | None,
    seed: int,
) -> BaseEstimator:
    """Fits a variant on ``train``; a calibrated variant then fits its calibrator, on top of the
    frozen model, on ``calibrate_on`` (later snapshots than ``train``: out of time)."""
    estimator = build_estimator(variant, feature_sets, seed)
    estimator.fit(train, train[LABEL].to_numpy())
    method = variant.get("calibration")
    if not method:
        return estimator
    if calibrate_on is None or calibrate_on.empty:
        raise ValueError(f"Variant {variant!r} is calibrated but no calibration snapshots were set aside")
    calibrated = CalibratedClassifierCV(FrozenEstimator(estimator), method=method)
    return calibrated.fit(calibrate_on, calibrate_on[LABEL].to_numpy())


def feature_columns(variant: dict[str, Any], feature_sets: dict[str, dict[str, list[str]]]) -> list[str]:
    columns = feature_sets[variant["feature_set"]]
    return list(columns.get("numeric", [])) + list(columns.get("categorical", []))
