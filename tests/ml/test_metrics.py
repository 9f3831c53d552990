"""Churn evaluation metrics against values worked out by hand on tiny arrays."""

from __future__ import annotations

import math
import time
import warnings
from functools import partial

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from retail_control_tower.ml.metrics import (
    BootstrapResult,
    bootstrap_difference,
    calibration_table,
    capture_at,
    classification_metrics,
    decile_table,
    expected_calibration_error,
    lift_at,
    precision_at,
)

# Six rows for the calibration tests. With 10 bins:
#   bin 1 [0.0, 0.1): p 0.05, y 0          -> |0 - 0.05|   = 0.05,  weight 1/6
#   bin 2 [0.1, 0.2): p 0.15, y 1          -> |1 - 0.15|   = 0.85,  weight 1/6
#   bin 4 [0.3, 0.4): p 0.30, 0.35; y 0, 1 -> |0.5 - 0.325| = 0.175, weight 2/6  (0.3 is the lower edge)
#   bin 9 [0.8, 0.9): p 0.80, y 1          -> |1 - 0.8|    = 0.2,   weight 1/6
#   bin 10 [0.9, 1.0]: p 1.00, y 1         -> |1 - 1|      = 0,     weight 1/6  (1.0 is in the last bin)
#   ECE = (0.05 + 0.85 + 2 * 0.175 + 0.2 + 0) / 6 = 1.45 / 6
Y6 = [0, 1, 0, 1, 1, 1]
P6 = [0.05, 0.15, 0.30, 0.35, 0.80, 1.00]


def test_ece_by_hand():
    assert expected_calibration_error(Y6, P6) == pytest.approx(1.45 / 6)


def test_ece_two_bins_by_hand():
    # [0, 0.5): p .05 .15 .30 .35, y 0 1 0 1 -> |0.5 - 0.2125| = 0.2875, weight 4/6
    # [0.5, 1]: p .80 1.0, y 1 1             -> |1 - 0.9| = 0.1,         weight 2/6
    assert expected_calibration_error(Y6, P6, n_bins=2) == pytest.approx((4 * 0.2875 + 2 * 0.1) / 6)


def test_ece_perfectly_calibrated_is_zero():
    # Each bin: mean p = 0.25 and observed rate 1/4.
    assert expected_calibration_error([1, 0, 0, 0, 1, 0, 0, 0], [0.25] * 8) == pytest.approx(0.0)


# Ten rows, scores strictly decreasing, events at ranks 1, 3 and 7: event rate 3/10.
Y10 = [1, 0, 1, 0, 0, 0, 1, 0, 0, 0]
P10 = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05]


@pytest.mark.parametrize(
    ("fraction", "precision", "lift", "capture"),
    [
        (0.1, 1 / 1, (1 / 1) / 0.3, 1 / 3),  # k = 1: one event
        (0.2, 1 / 2, (1 / 2) / 0.3, 1 / 3),  # k = 2: one event
        (0.25, 2 / 3, (2 / 3) / 0.3, 2 / 3),  # k = ceil(2.5) = 3: two events
        (0.3, 2 / 3, (2 / 3) / 0.3, 2 / 3),  # k = 3
        (1.0, 3 / 10, 1.0, 1.0),  # everyone
    ],
)
def test_top_fraction_without_ties(fraction, precision, lift, capture):
    assert precision_at(Y10, P10, fraction) == pytest.approx(precision)
    assert lift_at(Y10, P10, fraction) == pytest.approx(lift)
    assert capture_at(Y10, P10, fraction) == pytest.approx(capture)


def test_top_fraction_shares_ties_at_the_cutoff():
    # k = 2. Row 0 (0.9, no event) is in; rows 1-3 tie at 0.8 for the one slot left and hold one event,
    # so expected events in the top 2 = 0 + 1 * 1/3 = 1/3. Event rate 3/10.
    #   precision = (1/3) / 2 = 1/6;  lift = (1/6) / (3/10) = 5/9;  capture = (1/3) / 3 = 1/9
    y = [0, 1, 0, 0, 1, 0, 0, 0, 0, 1]
    p = [0.9, 0.8, 0.8, 0.8, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05]
    assert precision_at(y, p, 0.2) == pytest.approx(1 / 6)
    assert lift_at(y, p, 0.2) == pytest.approx(5 / 9)
    assert capture_at(y, p, 0.2) == pytest.approx(1 / 9)
    # Row order does not matter.
    for order in (np.arange(10)[::-1], np.random.default_rng(3).permutation(10)):
        ys, ps = np.array(y)[order], np.array(p)[order]
        assert precision_at(ys, ps, 0.2) == precision_at(y, p, 0.2)
        assert lift_at(ys, ps, 0.2) == lift_at(y, p, 0.2)
        assert capture_at(ys, ps, 0.2) == capture_at(y, p, 0.2)


def test_constant_scores_are_random_targeting():
    # 7 rows, 2 events, one score. fraction 0.1 -> k = 1; 0.5 -> k = ceil(3.5) = 4.
    y, p = [1, 0, 0, 1, 0, 0, 0], [0.3] * 7
    assert lift_at(y, p, 0.1) == 1.0
    assert lift_at(y, p, 0.5) == 1.0
    assert precision_at(y, p, 0.1) == 2 / 7
    assert capture_at(y, p, 0.1) == 1 / 7
    assert capture_at(y, p, 0.5) == 4 / 7


def test_k_is_not_inflated_by_float_rounding():
    # 0.1 * 30 = 3.0000000000000004 in floating point; k must be 3. Top 3 are events, the 4th is not.
    y = [1, 1, 1] + [0] * 27
    p = np.linspace(1, 0, 30)
    assert precision_at(y, p, 0.1) == 1.0


def test_no_events_gives_nan_lift_and_capture():
    y, p = [0, 0, 0, 0], [0.1, 0.2, 0.3, 0.4]
    assert math.isnan(lift_at(y, p))
    assert math.isnan(capture_at(y, p))
    assert precision_at(y, p) == 0.0


def test_classification_metrics_by_hand():
    y, p = [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]
    m = classification_metrics(y, p)
    assert list(m) == [
        "roc_auc", "pr_auc", "log_loss", "brier", "ece", "lift_at_10", "precision_at_10",
        "capture_at_10", "capture_at_20", "event_rate", "n",
    ]  # fmt: skip
    # Pairs (event, non-event) ranked correctly: (0.35>0.1), (0.8>0.1), (0.8>0.4); wrong: (0.35<0.4) -> 3/4.
    assert m["roc_auc"] == pytest.approx(0.75)
    # Ranked 0.8 (event, P=1 R=.5), 0.4 (no), 0.35 (event, P=2/3 R=1): AP = 0.5*1 + 0.5*2/3 = 5/6.
    assert m["pr_auc"] == pytest.approx(5 / 6)
    assert m["log_loss"] == pytest.approx(-(math.log(0.9) + math.log(0.6) + math.log(0.35) + math.log(0.8)) / 4)
    # (0.1^2 + 0.4^2 + 0.65^2 + 0.2^2) / 4 = 0.6325 / 4
    assert m["brier"] == pytest.approx(0.158125)
    # k = ceil(0.4) = 1 for 10% and ceil(0.8) = 1 for 20%: the top row (0.8) is an event.
    assert m["precision_at_10"] == 1.0 and m["lift_at_10"] == 2.0
    assert m["capture_at_10"] == 0.5 and m["capture_at_20"] == 0.5
    assert m["event_rate"] == 0.5 and m["n"] == 4.0
    assert m["ece"] == pytest.approx(expected_calibration_error(y, p))


def test_classification_metrics_match_sklearn():
    rng = np.random.default_rng(7)
    y = (rng.random(500) < 0.2).astype(int)
    p = np.clip(0.2 + 0.3 * (y - 0.2) + 0.2 * rng.standard_normal(500), 0, 1)
    p[:3] = [0.0, 1.0, 1.0]  # exact 0 and 1 must be clipped for log loss
    m = classification_metrics(y, p)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert m["pr_auc"] == pytest.approx(average_precision_score(y, p))
    assert m["log_loss"] == pytest.approx(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15)))
    assert math.isfinite(m["log_loss"])
    assert m["brier"] == pytest.approx(brier_score_loss(y, p))
    assert m["brier"] == pytest.approx(np.mean((p - y) ** 2))


def test_classification_metrics_single_class_is_nan_not_an_error():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = classification_metrics([0, 0, 0], [0.1, 0.2, 0.3])
    assert math.isnan(m["roc_auc"]) and math.isnan(m["pr_auc"])
    assert math.isnan(m["lift_at_10"]) and math.isnan(m["capture_at_10"])
    assert m["brier"] == pytest.approx((0.01 + 0.04 + 0.09) / 3)
    assert m["event_rate"] == 0.0


def test_decile_table_on_20_rows():
    # Scores 0.05, 0.10, ..., 1.00 (shuffled); events at 1.00, 0.95, 0.90, 0.60, 0.30 -> 5 events, rate 0.25.
    # Deciles of 2 rows: D1 {1.00, .95} 2 events; D2 {.90, .85} 1; D5 {.60, .55} 1; D8 {.30, .25} 1; others 0.
    scores = np.arange(1, 21) / 20
    events = np.isin(scores, [1.0, 0.95, 0.9, 0.6, 0.3]).astype(int)
    order = np.random.default_rng(0).permutation(20)
    table = decile_table(events[order], scores[order])
    assert list(table.columns) == [
        "DECILE", "N", "EVENTS", "EVENT_RATE", "LIFT", "CUMULATIVE_CAPTURE", "MIN_SCORE", "MAX_SCORE", "MEAN_SCORE",
    ]  # fmt: skip
    assert table["DECILE"].tolist() == list(range(1, 11))
    assert table["N"].tolist() == [2] * 10
    assert table["EVENTS"].tolist() == [2, 1, 0, 0, 1, 0, 0, 1, 0, 0]
    assert table["EVENT_RATE"].tolist() == pytest.approx([1, 0.5, 0, 0, 0.5, 0, 0, 0.5, 0, 0])
    assert table["LIFT"].tolist() == pytest.approx([4, 2, 0, 0, 2, 0, 0, 2, 0, 0])  # rate / 0.25
    assert table["CUMULATIVE_CAPTURE"].tolist() == pytest.approx([0.4, 0.6, 0.6, 0.6, 0.8, 0.8, 0.8, 1, 1, 1])
    assert table.loc[0, ["MIN_SCORE", "MAX_SCORE", "MEAN_SCORE"]].tolist() == pytest.approx([0.95, 1.0, 0.975])
    assert table.loc[9, ["MIN_SCORE", "MAX_SCORE", "MEAN_SCORE"]].tolist() == pytest.approx([0.05, 0.10, 0.075])


def test_decile_table_uneven_and_small():
    rng = np.random.default_rng(1)
    table = decile_table(rng.integers(0, 2, 25), rng.random(25))
    assert table["N"].tolist() == [3] * 5 + [2] * 5  # sizes differ by at most 1
    # Fewer than 10 rows: one decile per row. Ties keep input order (stable sort on the score).
    small = decile_table([1, 0, 0], [0.5, 0.5, 0.5])
    assert small["DECILE"].tolist() == [1, 2, 3]
    assert small["EVENTS"].tolist() == [1, 0, 0]
    assert small["CUMULATIVE_CAPTURE"].tolist() == [1.0, 1.0, 1.0]


def test_calibration_table_by_hand_and_consistent_with_ece():
    table = calibration_table(Y6, P6)
    assert list(table.columns) == ["BIN", "LOWER", "UPPER", "N", "MEAN_PREDICTED", "OBSERVED_RATE"]
    assert table["BIN"].tolist() == list(range(1, 11))
    assert table["LOWER"].tolist() == pytest.approx([i / 10 for i in range(10)])
    assert table["UPPER"].tolist() == pytest.approx([i / 10 for i in range(1, 11)])
    assert table["N"].tolist() == [1, 1, 0, 2, 0, 0, 0, 0, 1, 1]
    assert table.loc[3, "MEAN_PREDICTED"] == pytest.approx(0.325)
    assert table.loc[3, "OBSERVED_RATE"] == pytest.approx(0.5)
    empty = table[table["N"] == 0]
    assert empty["MEAN_PREDICTED"].isna().all() and empty["OBSERVED_RATE"].isna().all()

    rng = np.random.default_rng(5)
    p = rng.beta(2, 5, 1000)
    y = (rng.random(1000) < p).astype(int)
    for n_bins in (5, 10, 15):
        t = calibration_table(y, p, n_bins)
        recomputed = np.nansum(t["N"] / t["N"].sum() * (t["OBSERVED_RATE"] - t["MEAN_PREDICTED"]).abs())
        assert recomputed == pytest.approx(expected_calibration_error(y, p, n_bins))


def _separable(n: int, seed: int = 11):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(int)
    good = np.clip(0.15 + 0.4 * y + 0.15 * rng.random(n), 0, 1)
    return y, good, rng.random(n)


def test_bootstrap_identical_scores():
    y, good, _ = _separable(400)
    result = bootstrap_difference(y, good, good, n_boot=200)
    assert isinstance(result, BootstrapResult)
    assert result.difference == 0.0
    assert result.low <= 0 <= result.high
    assert not result.excludes_zero
    assert (result.n_boot, result.confidence) == (200, 0.95)


def test_bootstrap_better_model_excludes_zero_and_is_reproducible():
    y, good, random = _separable(2000)
    result = bootstrap_difference(y, good, random, n_boot=300, seed=4)
    assert result.difference > 0 and result.low > 0 and result.excludes_zero
    assert result.low <= result.difference <= result.high
    assert bootstrap_difference(y, good, random, n_boot=300, seed=4) == result
    assert bootstrap_difference(y, good, random, n_boot=300, seed=5) != result
    worse = bootstrap_difference(y, random, good, metric=partial(capture_at, fraction=0.2), n_boot=100)
    assert worse.high < 0 and worse.excludes_zero


def test_bootstrap_is_fast():
    y, good, random = _separable(20_000)
    start = time.perf_counter()
    bootstrap_difference(y, good, random, n_boot=500)
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize(
    ("y", "p", "message"),
    [
        ([0, 1, 0], [0.1, 0.2], "equal length"),
        ([], [], "empty"),
        ([0, 1], [0.1, float("nan")], "finite"),
        ([0, 1], [0.1, float("inf")], "finite"),
        ([0, 1], [0.1, 1.2], r"\[0, 1\]"),
        ([0, 1], [-0.1, 0.5], r"\[0, 1\]"),
        ([0, 2], [0.1, 0.5], "0/1"),
        ([0, float("nan")], [0.1, 0.5], "0/1"),
        (["a", "b"], [0.1, 0.5], "numeric"),
    ],
)
def test_input_validation(y, p, message):
    for fn in (expected_calibration_error, lift_at, precision_at, capture_at, classification_metrics, decile_table, calibration_table):
        with pytest.raises(ValueError, match=message):
            fn(y, p)


def test_parameter_validation():
    with pytest.raises(ValueError, match="fraction"):
        lift_at(Y10, P10, 0)
    with pytest.raises(ValueError, match="fraction"):
        capture_at(Y10, P10, 1.5)
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error(Y6, P6, n_bins=0)
    with pytest.raises(ValueError, match="equal length"):
        bootstrap_difference(Y10, P10, P10[:-1])
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_difference(Y10, P10, P10, confidence=1.5)
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_difference(Y10, P10, P10, n_boot=0)
