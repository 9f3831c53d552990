"""Model variants as configurations of scikit-learn building blocks.

A variant (``params:train_eval.variants.<name>``) names a ``kind``, a ``feature_set`` and
optionally a ``calibration`` method; :func:`fit_variant` turns it into a fitted estimator that
takes the feature frame (any extra columns are ignored) and answers ``predict_proba``.
``legacy_rfm`` is the rule the business scored with before: no training at all. ``bgnbd`` is the
textbook probabilistic baseline: a BG/NBD model of each customer's purchases, fitted on the
training rows, whose P(no purchase in the churn window) is the churn probability. The estimators
themselves live in :mod:`retail_control_tower.ml.estimators`, which scoring shares.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

# Models registered before the estimators moved to ml.estimators were pickled with this module's
# path for their classes and for signed_log1p; these names keep such models loadable.
from retail_control_tower.ml.estimators import (  # noqa: F401
    BGNBD_DERIVED,
    BTYD_COLUMNS,
    BgNbdChurn,
    BgNbdFeatures,
    LegacyRfmScore,
    signed_log1p,
)

LABEL = "CHURNED"
KINDS = ("legacy_rfm", "bgnbd", "logistic_regression", "hist_gradient_boosting")


def _preprocessor(kind: str, numeric: list[str], categorical: list[str], min_frequency: int) -> ColumnTransformer:
    if kind == "logistic_regression":
        numeric_steps = make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            FunctionTransformer(signed_log1p, feature_names_out="one-to-one"),
            StandardScaler(),
        )
        categorical_steps = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=min_frequency)
    else:  # trees split on raw values and handle missing values natively
        numeric_steps = "passthrough"
        categorical_steps = OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan
        )
    transformers = [("numeric", numeric_steps, numeric)]
    if categorical:
        transformers.append(("categorical", categorical_steps, categorical))
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)


def build_estimator(variant: dict[str, Any], config: dict[str, Any]) -> BaseEstimator:
    """The unfitted estimator of a variant configuration (``config`` = ``params:train_eval``).

    Settings come from ``config``: ``bgnbd`` (the BG/NBD baseline's and the derived features'
    fit), ``logistic_regression`` (solver settings, which a variant's ``params`` override),
    ``min_category_frequency`` (the one-hot encoder's rare-category threshold) and ``seed``.
    """
    kind = variant["kind"]
    if kind == "legacy_rfm":
        return LegacyRfmScore()
    if kind == "bgnbd":
        return BgNbdChurn(**config["bgnbd"])
    columns = config["feature_sets"][variant["feature_set"]]
    derived = list(columns.get("derived", []))
    numeric, categorical = list(columns.get("numeric", [])) + derived, list(columns.get("categorical", []))
    settings = dict(variant.get("params") or {})
    if kind == "logistic_regression":
        model = LogisticRegression(random_state=config["seed"], **{**config["logistic_regression"], **settings})
    elif kind == "hist_gradient_boosting":
        categorical_flags = [False] * len(numeric) + [True] * len(categorical)
        model = HistGradientBoostingClassifier(
            categorical_features=categorical_flags if categorical else None, random_state=config["seed"], **settings
        )
    else:
        raise ValueError(f"Unknown model kind {kind!r} (known: {', '.join(KINDS)})")
    unknown = set(derived) - BGNBD_DERIVED
    if unknown:
        raise ValueError(f"Unknown derived feature(s) {sorted(unknown)} (known: {sorted(BGNBD_DERIVED)})")
    steps = [("bgnbd", BgNbdFeatures(**config["bgnbd"]))] if derived else []
    steps += [("features", _preprocessor(kind, numeric, categorical, config["min_category_frequency"])), ("model", model)]
    return Pipeline(steps)


def fit_variant(
    variant: dict[str, Any],
    config: dict[str, Any],
    train: pd.DataFrame,
    calibrate_on: pd.DataFrame | None,
) -> BaseEstimator:
    """Fits a variant on ``train``; a calibrated variant then fits its calibrator, on top of the
    frozen model, on ``calibrate_on`` (later snapshots than ``train``: out of time)."""
    estimator = build_estimator(variant, config)
    estimator.fit(train, train[LABEL].to_numpy())
    method = variant.get("calibration")
    if not method:
        return estimator
    if calibrate_on is None or calibrate_on.empty:
        raise ValueError(f"Variant {variant!r} is calibrated but no calibration snapshots were set aside")
    calibrated = CalibratedClassifierCV(FrozenEstimator(estimator), method=method)
    return calibrated.fit(calibrate_on, calibrate_on[LABEL].to_numpy())


def feature_columns(variant: dict[str, Any], feature_sets: dict[str, dict[str, list[str]]]) -> list[str]:
    """The frame columns a variant reads (derived features are computed from them)."""
    if variant["kind"] == "bgnbd":
        return list(BTYD_COLUMNS)
    columns = feature_sets[variant["feature_set"]]
    read = list(columns.get("numeric", [])) + list(columns.get("categorical", []))
    if columns.get("derived"):
        read += [c for c in BTYD_COLUMNS if c not in read]
    return read
