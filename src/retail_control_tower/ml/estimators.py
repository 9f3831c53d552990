"""The scikit-learn estimators and transforms a churn model is made of, shared by training
(``train_eval``, which fits them) and scoring (which loads them back from MLflow).

A pickled model refers to its classes and functions by module path, so they live here, outside
any pipeline: scoring a registered model imports this module, not a pipeline's internals.
``LegacyRfmScore`` is the rule the business scored with before (no training); ``BgNbdChurn`` is
the textbook probabilistic baseline and ``BgNbdFeatures`` adds its outputs as model features.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin

from retail_control_tower.ml import bgnbd

# What a BG/NBD model reads of a customer at a snapshot: repeat purchases (lifetime orders - 1),
# the age of the customer (days since the first purchase) and the days since the last purchase.
BTYD_COLUMNS = ["LIFETIME_ORDERS", "TENURE_DAYS", "RECENCY_DAYS"]
BGNBD_DERIVED = {"BGNBD_P_ALIVE", "BGNBD_EXPECTED_PURCHASES"}
# BG/NBD is fitted in weeks: day-scale rates leave its gamma scale in the hundreds. A unit of
# computation, not a modelling choice: the fitted model is the same in any unit.
DAYS_PER_PERIOD = 7.0
DEFAULT_PENALIZER = 0.001


def signed_log1p(values: np.ndarray) -> np.ndarray:
    """log(1 + |x|) with the sign of x: tames the long tails of counts, amounts and day spans."""
    return np.sign(values) * np.log1p(np.abs(values))


class LegacyRfmScore(ClassifierMixin, BaseEstimator):
    """The legacy rule: quintile scores of recency, frequency and monetary value, averaged.

    Each of R, F and M scores 1 (lowest risk) to 5 (highest risk) by its quintile among the
    customers scored together (one snapshot); the churn score is (R + F + M − 3) / 12 in [0, 1].
    It is a ranking rule, not a probability: its calibration is reported, never tuned. Its
    quintiles are the business's definition of the rule, hence not a parameter.
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


def btyd_summary(X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(repeat purchases, time of the last purchase since the first, age) in weeks."""
    age = X["TENURE_DAYS"].to_numpy(dtype="float64") / DAYS_PER_PERIOD
    recency = np.clip(age - X["RECENCY_DAYS"].to_numpy(dtype="float64") / DAYS_PER_PERIOD, 0, None)
    frequency = np.clip(X["LIFETIME_ORDERS"].to_numpy(dtype="float64") - 1, 0, None)
    return frequency, np.where(frequency > 0, recency, 0.0), age


def label_horizon_days(X: pd.DataFrame) -> float:
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
        self.horizon_days_ = label_horizon_days(X)
        self.params_ = bgnbd.fit_bgnbd(*btyd_summary(X), penalizer=self.penalizer)

    def _horizon(self) -> float:
        return self.horizon_days_ / DAYS_PER_PERIOD


class BgNbdChurn(_BgNbdFit, ClassifierMixin, BaseEstimator):
    """Churn probability = P(no purchase in the churn window | purchase history) under a BG/NBD."""

    def __init__(self, penalizer: float = DEFAULT_PENALIZER):
        self.penalizer = penalizer

    def fit(self, X: pd.DataFrame, y: Any = None) -> BgNbdChurn:
        self._fit_bgnbd(X)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        churn = np.clip(bgnbd.p_no_purchase(self.params_, self._horizon(), *btyd_summary(X)), 0.0, 1.0)
        return np.column_stack([1 - churn, churn])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


class BgNbdFeatures(_BgNbdFit, TransformerMixin, BaseEstimator):
    """Adds ``BGNBD_P_ALIVE`` and ``BGNBD_EXPECTED_PURCHASES`` (in the churn window) from a BG/NBD
    fitted on the training rows; the frame's other columns pass through unchanged."""

    def __init__(self, penalizer: float = DEFAULT_PENALIZER):
        self.penalizer = penalizer

    def fit(self, X: pd.DataFrame, y: Any = None) -> BgNbdFeatures:
        self._fit_bgnbd(X)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        summary = btyd_summary(X)
        return X.assign(
            BGNBD_P_ALIVE=bgnbd.p_alive(self.params_, *summary),
            BGNBD_EXPECTED_PURCHASES=bgnbd.expected_purchases(self.params_, self._horizon(), *summary),
        )
