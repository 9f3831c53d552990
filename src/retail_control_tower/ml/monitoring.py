"""Model monitoring measures: the population stability index (PSI) of a feature or a score, and
the realised metrics of scores whose outcome is now known.

PSI = sum over bins b of (a_b - e_b) * ln(a_b / e_b), where e_b is the share of the reference
(expected) sample in bin b and a_b the share of the monitored (actual) sample. Bins are fixed on
the reference: numeric values by its quantiles (``bins`` of them, fewer where quantiles tie),
categorical values one bin per reference category plus one for categories it never saw; a
missing value is a bin of its own either way. A share of 0 is floored at ``epsilon``, so an
empty bin on one side counts as a large but finite shift.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from retail_control_tower.ml.metrics import classification_metrics

# The realised metrics, named as in ML.MODEL_METRICS.
REALISED_METRICS = ("roc_auc", "pr_auc", "lift_at_10", "ece", "brier")
STATUSES = ("stable", "watch", "act")


def quantile_edges(reference: ArrayLike, bins: int) -> np.ndarray:
    """The inner edges of ``bins`` quantile bins of the reference's non-missing values (ties
    merged, so a feature with few distinct values gets fewer bins)."""
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
        raise ValueError(f"PSI bins must be an integer of at least 2, got {bins!r}")
    values = pd.to_numeric(pd.Series(reference), errors="raise").to_numpy(dtype="float64")
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return np.array([])
    return np.unique(np.quantile(values, np.arange(1, bins) / bins))


def _numeric_shares(values: ArrayLike, edges: np.ndarray) -> np.ndarray:
    """Shares of the values in each bin ((-inf, e1], (e1, e2], ..., (ek, inf)) and, last, missing."""
    array = pd.to_numeric(pd.Series(values), errors="raise").to_numpy(dtype="float64")
    missing = np.isnan(array)
    index = np.searchsorted(edges, array[~missing], side="left")
    counts = np.append(np.bincount(index, minlength=len(edges) + 1), missing.sum())
    return counts / max(len(array), 1)


def _categorical_shares(values: ArrayLike, categories: list[Any]) -> np.ndarray:
    """Shares per reference category, then unseen categories, then missing."""
    series = pd.Series(values, dtype="object")
    missing = series.isna()
    known = series[~missing]
    counts = [int((known == c).sum()) for c in categories]
    counts += [int((~known.isin(categories)).sum()), int(missing.sum())]
    return np.asarray(counts, dtype="float64") / max(len(series), 1)


def psi(expected: np.ndarray, actual: np.ndarray, epsilon: float) -> float:
    """PSI of two share vectors over the same bins; shares below ``epsilon`` count as ``epsilon``."""
    if not 0 < epsilon < 1:
        raise ValueError(f"PSI epsilon must lie in (0, 1), got {epsilon!r}")
    e, a = np.maximum(expected, epsilon), np.maximum(actual, epsilon)
    return float(np.sum((a - e) * np.log(a / e)))


def feature_psi(reference: pd.Series, current: pd.Series, bins: int, epsilon: float) -> float:
    """PSI of ``current`` against ``reference`` with bins fixed on the reference: quantile bins for
    a numeric feature, categories for any other; missing values in a bin of their own."""
    if len(reference) == 0 or len(current) == 0:
        raise ValueError(f"PSI of {reference.name}: the reference has {len(reference)} rows, the current sample {len(current)}")
    if pd.api.types.is_numeric_dtype(reference) and not pd.api.types.is_bool_dtype(reference):
        edges = quantile_edges(reference, bins)
        return psi(_numeric_shares(reference, edges), _numeric_shares(current, edges), epsilon)
    categories = sorted(pd.Series(reference, dtype="object").dropna().unique().tolist(), key=str)
    return psi(_categorical_shares(reference, categories), _categorical_shares(current, categories), epsilon)


def drift_status(value: float, watch: float, act: float) -> str:
    """'stable' below ``watch``, 'act' at or above ``act``, 'watch' between."""
    if not 0 <= watch <= act:
        raise ValueError(f"PSI thresholds must satisfy 0 <= watch <= act, got watch {watch!r}, act {act!r}")
    return "act" if value >= act else "watch" if value >= watch else "stable"


def realised_metrics(churned: ArrayLike, probability: ArrayLike) -> dict[str, float]:
    """The realised metrics (:data:`REALISED_METRICS`, from :func:`classification_metrics`) of
    scores against the outcome, with ``n`` and ``events``."""
    measured = classification_metrics(churned, probability)
    y = np.asarray(churned, dtype="float64")
    return {**{name: measured[name] for name in REALISED_METRICS}, "n": len(y), "events": int(y.sum())}
