"""Churn-model evaluation metrics. ``y_true`` holds 0/1 labels (1 = event, e.g. churned) and
``y_prob`` the predicted event probabilities in [0, 1]; every function validates both.

Top-fraction metrics (``precision_at``, ``lift_at``, ``capture_at``) target the k = ceil(fraction * N)
highest-scored rows. Rows tied with the k-th score share the remaining slots proportionally: the
result is the expected value under random tie-breaking, so it never depends on row order."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

LOG_LOSS_CLIP = 1e-15


def _validate(y_true: ArrayLike, y_prob: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Both inputs as 1-D float arrays, or ValueError saying what is wrong."""
    try:
        y = np.asarray(y_true, dtype=float)
        p = np.asarray(y_prob, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"y_true and y_prob must be numeric: {exc}") from exc
    if y.ndim != 1 or p.ndim != 1:
        raise ValueError(f"y_true and y_prob must be 1-D, got shapes {y.shape} and {p.shape}")
    if len(y) != len(p):
        raise ValueError(f"y_true and y_prob must have equal length, got {len(y)} and {len(p)}")
    if len(y) == 0:
        raise ValueError("y_true and y_prob must not be empty")
    if not ((y == 0) | (y == 1)).all():
        raise ValueError(f"y_true must contain only 0/1 labels, got {np.unique(y[(y != 0) & (y != 1)])[:5]}")
    if not np.isfinite(p).all():
        raise ValueError("y_prob must be finite (no NaN or inf)")
    if p.min() < 0 or p.max() > 1:
        raise ValueError(f"y_prob must lie in [0, 1], got range [{p.min()}, {p.max()}]")
    return y, p


def _bin_edges(n_bins: int) -> np.ndarray:
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    return np.arange(n_bins + 1) / n_bins  # i / n_bins, so 0.3 is exactly the edge of [0.3, 0.4)


def _bin_index(p: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """0-based bin of each probability: bins are [lower, upper), the last one [lower, 1]."""
    return np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2)


def expected_calibration_error(y_true: ArrayLike, y_prob: ArrayLike, n_bins: int = 10) -> float:
    """Expected calibration error: ECE = sum over bins b of (n_b / N) * |mean(y)_b - mean(p)_b|, with
    ``n_bins`` equal-width bins on [0, 1] ([lower, upper), a probability of exactly 1.0 in the last
    bin); empty bins contribute 0. 0 is perfect calibration."""
    y, p = _validate(y_true, y_prob)
    edges = _bin_edges(n_bins)
    b = _bin_index(p, edges)
    # (n_b / N) * |sum(y)_b / n_b - sum(p)_b / n_b| = |sum(y)_b - sum(p)_b| / N
    gap = np.bincount(b, weights=y, minlength=n_bins) - np.bincount(b, weights=p, minlength=n_bins)
    return float(np.abs(gap).sum() / len(y))


def _top_fraction(y_true: ArrayLike, y_prob: ArrayLike, fraction: float) -> tuple[int, int, int, int, int]:
    """(numerator, ties, k, N, total events): the expected number of events in the top k is
    numerator / ties, kept as integers so the ratios below are a single exact division."""
    y, p = _validate(y_true, y_prob)
    if not (isinstance(fraction, (int, float, np.number)) and 0 < fraction <= 1):
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    n = len(p)
    k = max(1, math.ceil(round(fraction * n, 9)))  # round: 0.1 * 30 is 3.0000000000000004, not 4
    threshold = np.partition(p, n - k)[n - k]  # the k-th highest score
    event = y == 1
    above, tied = p > threshold, p == threshold
    n_above, n_tied = int(np.count_nonzero(above)), int(np.count_nonzero(tied))
    events_above = int(np.count_nonzero(event & above))
    events_tied = int(np.count_nonzero(event & tied))
    # Expected events in the top k = events_above + events_tied * (k - n_above) / n_tied.
    numerator = events_above * n_tied + events_tied * (k - n_above)
    return numerator, n_tied, k, n, int(np.count_nonzero(event))


def precision_at(y_true: ArrayLike, y_prob: ArrayLike, fraction: float = 0.1) -> float:
    """Precision@k: events among the top k = ceil(fraction * N) scores, divided by k (ties at the
    cut-off share the remaining slots proportionally)."""
    numerator, n_tied, k, _, _ = _top_fraction(y_true, y_prob, fraction)
    return numerator / (n_tied * k)


def lift_at(y_true: ArrayLike, y_prob: ArrayLike, fraction: float = 0.1) -> float:
    """Lift@k: precision@k divided by the overall event rate; 1.0 is no better than random
    targeting. NaN when there are no events."""
    numerator, n_tied, k, n, events = _top_fraction(y_true, y_prob, fraction)
    return numerator * n / (n_tied * k * events) if events else math.nan


def capture_at(y_true: ArrayLike, y_prob: ArrayLike, fraction: float = 0.1) -> float:
    """Capture@k (recall in the top k): events among the top k = ceil(fraction * N) scores divided
    by all events. NaN when there are no events."""
    numerator, n_tied, _, _, events = _top_fraction(y_true, y_prob, fraction)
    return numerator / (n_tied * events) if events else math.nan


def classification_metrics(y_true: ArrayLike, y_prob: ArrayLike) -> dict[str, float]:
    """Headline metrics: ``roc_auc``; ``pr_auc`` (average precision); ``log_loss`` (probabilities
    clipped to [1e-15, 1 - 1e-15]); ``brier`` (mean squared error of the probability); ``ece``
    (10 bins); lift, precision and capture in the top 10% and capture in the top 20%; ``event_rate``
    and ``n`` (row count, as a float). roc_auc and pr_auc are NaN when only one class is present."""
    y, p = _validate(y_true, y_prob)
    both_classes = 0 < y.sum() < len(y)
    return {
        "roc_auc": float(roc_auc_score(y, p)) if both_classes else math.nan,
        "pr_auc": float(average_precision_score(y, p)) if both_classes else math.nan,
        "log_loss": float(log_loss(y, np.clip(p, LOG_LOSS_CLIP, 1 - LOG_LOSS_CLIP), labels=[0, 1])),
        "brier": float(brier_score_loss(y, p, labels=[0, 1])),
        "ece": expected_calibration_error(y, p),
        "lift_at_10": lift_at(y, p, 0.1),
        "precision_at_10": precision_at(y, p, 0.1),
        "capture_at_10": capture_at(y, p, 0.1),
        "capture_at_20": capture_at(y, p, 0.2),
        "event_rate": float(y.mean()),
        "n": float(len(y)),
    }


def decile_table(y_true: ArrayLike, y_prob: ArrayLike) -> pd.DataFrame:
    """Rows ranked by score, highest first, and cut into 10 equal-count deciles (sizes differ by at
    most 1, the larger ones first; fewer rows than 10 give fewer deciles). Ties are broken
    deterministically by a stable sort on the score only, so tied rows keep their input order.
    Per decile: N, EVENTS, EVENT_RATE, LIFT (event rate / overall rate), CUMULATIVE_CAPTURE (share of
    all events in deciles 1..d) and the MIN/MAX/MEAN score. LIFT and capture are NaN without events."""
    y, p = _validate(y_true, y_prob)
    order = np.argsort(-p, kind="stable")
    groups = np.array_split(order, min(10, len(p)))
    total_events = y.sum()
    overall_rate = total_events / len(y)
    events = np.array([y[g].sum() for g in groups])
    sizes = np.array([len(g) for g in groups])
    rate = events / sizes
    return pd.DataFrame(
        {
            "DECILE": np.arange(1, len(groups) + 1),
            "N": sizes,
            "EVENTS": events.astype(int),
            "EVENT_RATE": rate,
            "LIFT": rate / overall_rate if total_events else np.full(len(groups), np.nan),
            "CUMULATIVE_CAPTURE": np.cumsum(events) / total_events if total_events else np.full(len(groups), np.nan),
            "MIN_SCORE": [p[g].min() for g in groups],
            "MAX_SCORE": [p[g].max() for g in groups],
            "MEAN_SCORE": [p[g].mean() for g in groups],
        }
    )


def calibration_table(y_true: ArrayLike, y_prob: ArrayLike, n_bins: int = 10) -> pd.DataFrame:
    """One row per equal-width probability bin (the same bins as ``expected_calibration_error``):
    BIN (1..n_bins), LOWER, UPPER, N, MEAN_PREDICTED and OBSERVED_RATE (event rate); empty bins
    have N = 0 and NaN means."""
    y, p = _validate(y_true, y_prob)
    edges = _bin_edges(n_bins)
    b = _bin_index(p, edges)
    counts = np.bincount(b, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(b, weights=p, minlength=n_bins) / counts
        rate = np.bincount(b, weights=y, minlength=n_bins) / counts
    return pd.DataFrame(
        {
            "BIN": np.arange(1, n_bins + 1),
            "LOWER": edges[:-1],
            "UPPER": edges[1:],
            "N": counts,
            "MEAN_PREDICTED": mean_p,
            "OBSERVED_RATE": rate,
        }
    )


@dataclass(frozen=True)
class BootstrapResult:
    """``difference`` = metric(new) - metric(current) on the full sample; [``low``, ``high``] its
    percentile confidence interval from a paired bootstrap."""

    difference: float
    low: float
    high: float
    n_boot: int
    confidence: float

    @property
    def excludes_zero(self) -> bool:
        """True when the interval lies entirely above or below zero."""
        return bool(self.low > 0 or self.high < 0)


def bootstrap_difference(
    y_true: ArrayLike,
    prob_new: ArrayLike,
    prob_current: ArrayLike,
    metric: Callable[[np.ndarray, np.ndarray], float] = lift_at,
    n_boot: int = 500,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapResult:
    """Paired bootstrap of metric(y, prob_new) - metric(y, prob_current): each of ``n_boot``
    resamples draws N rows with replacement (the same rows for both scores) from a numpy Generator
    seeded with ``seed``; the interval is the ((1 - confidence) / 2, (1 + confidence) / 2)
    percentiles of the resampled differences. Resamples where the metric is NaN (e.g. lift with no
    events drawn) are left out of the interval; if all are, low and high are NaN."""
    y, p_new = _validate(y_true, prob_new)
    _, p_cur = _validate(y_true, prob_current)
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    rng = np.random.default_rng(seed)
    n = len(y)
    diffs = np.empty(n_boot)
    for i in range(n_boot):
        rows = rng.integers(0, n, size=n)
        y_b = y[rows]
        diffs[i] = metric(y_b, p_new[rows]) - metric(y_b, p_cur[rows])
    diffs = diffs[~np.isnan(diffs)]
    alpha = (1 - confidence) / 2
    low, high = np.quantile(diffs, [alpha, 1 - alpha]) if len(diffs) else (math.nan, math.nan)
    return BootstrapResult(
        difference=float(metric(y, p_new) - metric(y, p_cur)),
        low=float(low),
        high=float(high),
        n_boot=n_boot,
        confidence=confidence,
    )


def ece_noise(y_prob: ArrayLike, n_sims: int = 200, quantile: float = 0.95, seed: int = 0) -> float:
    """The ``quantile`` of the ECE that a perfectly calibrated model with these scores would show
    on a sample of this size: labels drawn as Bernoulli(p) ``n_sims`` times.

    ECE takes the absolute gap per bin, so sampling noise alone makes it positive, and more so on
    a small sample: a calibrated model scored on 1,500 customers shows an ECE of about 0.02-0.03.
    A fixed ECE limit would then refuse a good model for the sample's size, not for its
    calibration; a limit of ``max(limit, ece_noise(p))`` only widens where the noise demands it.
    """
    _, p = _validate(np.zeros(len(np.asarray(y_prob))), y_prob)
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must be in (0, 1), got {quantile!r}")
    edges = _bin_edges(10)
    bins = _bin_index(p, edges)
    expected = np.bincount(bins, weights=p, minlength=10)
    rng = np.random.default_rng(seed)
    draws = [
        np.abs(np.bincount(bins, weights=rng.random(len(p)) < p, minlength=10) - expected).sum() / len(p)
        for _ in range(n_sims)
    ]
    return float(np.quantile(draws, quantile))
