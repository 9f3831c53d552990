"""Model variants as configurations of scikit-learn building blocks.

A variant (``params:train_eval.variants.<name>``) names a ``kind``, a ``feature_set`` and
optionally a ``calibration`` method; :func:`fit_variant` turns it into a fitted estimator that
takes the feature frame (any extra columns are ignored) and answers ``predict_proba``.
``legacy_rfm`` is the rule the business scored with before: no training at all. ``bgnbd`` is the
textbook probabilistic baseline: a BG/NBD model of each customer's purchases, fitted on the
training rows, whose P(no purchase in the churn window) is the churn probability.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

from retail_control_tower.ml import bgnbd

LABEL = "CHURNED"
# What a BG/NBD model reads of a customer at a snapshot: repeat purchases (lifetime orders - 1),
# the age of the customer (days since the first purchase) and the days since the last purchase.
BTYD_COLUMNS = ["LIFETIME_ORDERS", "TENURE_DAYS", "RECENCY_DAYS"]
DERIVED = {"BGNBD_P_ALIVE", "BGNBD_EXPECTED_PURCHASES"}
DAYS_PER_PERIOD = 7.0  # BG/NBD is fitted in weeks: day-scale rates leave its gamma scale in the hundreds


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


def _btyd_summary(X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(repeat purchases, time of the last purchase since the first, age) in weeks."""
    age = X["TENURE_DAYS"].to_numpy(dtype="float64") / DAYS_PER_PERIOD
    recency = np.clip(age - X["RECENCY_DAYS"].to_numpy(dtype="float64") / DAYS_PER_PERIOD, 0, None)
    frequency = np.clip(X["LIFETIME_ORDERS"].to_numpy(dtype="float64") - 1, 0, None)
    return frequency, np.where(frequency > 0, recency, 0.0), age


def _label_horizon_days(X: pd.DataFrame) -> float:
    """The churn window of the training rows: label window end minus snapshot date."""
    if not {"SNAPSHOT_DATE", "LABEL_WINDOW_END"} <= set(X.columns):
        raise ValueError("A BG/NBD model learns its horizon from SNAPSHOT_DATE and LABEL_WINDOW_END; the training rows have neither")
    spans = (pd.to_datetime(X["LABEL_WINDOW_END"]) - pd.to_datetime(X["SNAPSHOT_DATE"])).dt.days.unique()
    if len(spans) != 1:
        raise ValueError(f"Training rows have several churn windows {sorted(spans)}; a BG/NBD horizon must be one")
    return float(spans[0])


class _BgNbdFit:
    """Fits a BG/NBD on the training rows' purchase histories and remembers the churn window."""

    def _fit_bgnbd(self, X: pd.DataFrame) -> None:
        self.horizon_days_ = _label_horizon_days(X)
        self.params_ = bgnbd.fit_bgnbd(*_btyd_summary(X), penalizer=self.penalizer)

    def _horizon(self) -> float:
        return self.horizon_days_ / DAYS_PER_PERIOD


class BgNbdChurn(_BgNbdFit, ClassifierMixin, BaseEstimator):
    """Churn probability = P(no purchase in the churn window | purchase history) under a BG/NBD."""

    def __init__(self, penalizer: float = 0.001):
        self.penalizer = penalizer

    def fit(self, X: pd.DataFrame, y: Any = None) -> BgNbdChurn:
        self._fit_bgnbd(X)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        churn = np.clip(bgnbd.p_no_purchase(self.params_, self._horizon(), *_btyd_summary(X)), 0.0, 1.0)
        return np.column_stack([1 - churn, churn])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


class BgNbdFeatures(_BgNbdFit, TransformerMixin, BaseEstimator):
    """Adds ``BGNBD_P_ALIVE`` and ``BGNBD_EXPECTED_PURCHASES`` (in the churn window) from a BG/NBD
    fitted on the training rows; the frame's other columns pass through unchanged."""

    def __init__(self, penalizer: float = 0.001):
        self.penalizer = penalizer

    def fit(self, X: pd.DataFrame, y: Any = None) -> BgNbdFeatures:
        self._fit_bgnbd(X)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        summary = _btyd_summary(X)
        return X.assign(
            BGNBD_P_ALIVE=bgnbd.p_alive(self.params_, *summary),
            BGNBD_EXPECTED_PURCHASES=bgnbd.expected_purchases(self.params_, self._horizon(), *summary),
        )


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
    """The unfitted estimator of a variant configuration (``config`` = ``params:train_eval``)."""
    kind = variant["kind"]
    if kind == "legacy_rfm":
        return LegacyRfmScore()
    if kind == "bgnbd":
        return BgNbdChurn()
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
        raise ValueError(f"Unknown model kind {kind!r} (known: legacy_rfm, bgnbd, logistic_regression, hist_gradient_boosting)")
    unknown = set(derived) - DERIVED
    if unknown:
        raise ValueError(f"Unknown derived feature(s) {sorted(unknown)} (known: {sorted(DERIVED)})")
    steps = [("bgnbd", BgNbdFeatures())] if derived else []
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
