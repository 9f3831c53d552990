"""Splits, challenger choice and the promotion rule, with real fitted scikit-learn models."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from retail_control_tower.ml.publication import RegisteredModel
from retail_control_tower.pipelines.train_eval import nodes
from retail_control_tower.pipelines.train_eval.splits import Split, plan_splits

PROMOTION = {"min_gain": {"lift_at_10": 0.02, "roc_auc": 0.005}, "bootstrap_resamples": 300, "confidence": 0.95}
SELECTION = {
    "metric": "lift_at_10", "tie_tolerance": 0.01, "tie_breaker": "pr_auc",
    "saturation_share": 0.95, "saturated_metric": "roc_auc", "saturated_tie_tolerance": 0.002,
}
LIMIT = {"max_ece": 0.05, "ece_noise_quantile": 0.95, "ece_noise_draws": 200}


def _selection_params(variants, **limit):
    return {"variants": variants, "baselines": ["legacy_rfm"], "selection": SELECTION, "calibration_limit": {**LIMIT, **limit}}


def _frame_with_snapshots(months: list[str], window_days: int = 90) -> pd.DataFrame:
    dates = pd.to_datetime(months)
    return pd.DataFrame({"SNAPSHOT_DATE": dates, "LABEL_WINDOW_END": dates + pd.Timedelta(days=window_days)})


def test_splits_are_out_of_time_and_the_holdout_is_the_latest_snapshot():
    months = pd.date_range("2025-01-31", "2026-07-31", freq="ME").strftime("%Y-%m-%d").tolist()
    frame = _frame_with_snapshots(months)
    splits = plan_splits(frame, {"folds": 4, "train_snapshots": 6, "calibration_snapshots": 2})
    assert [s.name for s in splits] == ["fold_1", "fold_2", "fold_3", "fold_4", "holdout"]
    assert splits[-1].validation_date == date(2026, 7, 31)
    assert [s.validation_date for s in splits[:-1]] == [date(2026, 3, 31), date(2026, 4, 30), date(2026, 5, 31), date(2026, 6, 30)]
    for split in splits:
        assert len(split.training_dates) == 6 and len(split.calibration_dates) == 2
        for day in split.training_dates:  # every training label window ended by the validated snapshot
            assert pd.Timestamp(day) + pd.Timedelta(days=90) <= pd.Timestamp(split.validation_date)
        assert split.calibration_dates[0] > split.fit_dates[-1]
    assert date(2026, 7, 31) not in {d for s in splits for d in s.training_dates}


def test_too_little_history_is_a_clear_error():
    frame = _frame_with_snapshots(["2026-01-31", "2026-02-28", "2026-03-31"])
    with pytest.raises(ValueError, match="labelled snapshot"):
        plan_splits(frame, {"folds": 4, "train_snapshots": 6, "calibration_snapshots": 1})
    with pytest.raises(ValueError, match="training snapshot"):
        plan_splits(frame, {"folds": 1, "train_snapshots": 6, "calibration_snapshots": 1})


def _cv(values: dict[str, dict[str, float]], event_rate: float = 0.1, ece_noise: float = 0.01) -> pd.DataFrame:
    defaults = {"event_rate": event_rate, "ece_noise": ece_noise, "roc_auc": 0.8, "pr_auc": 0.5}
    return pd.DataFrame(
        [
            {"VARIANT": v, "SPLIT": f"fold_{k}", "METRIC": m, "VALUE": x + (0.001 if k == 1 else -0.001)}
            for v, ms in values.items()
            for m, x in {**defaults, **ms}.items()
            for k in (1, 2)
        ]
    )


def test_challenger_is_the_best_lift_among_calibrated_variants_and_ties_go_to_pr_auc():
    variants = {"legacy_rfm": {"kind": "legacy_rfm"}, "a": {"kind": "x"}, "b": {"kind": "x"}, "c": {"kind": "x"}}
    cv = _cv(
        {
            "legacy_rfm": {"lift_at_10": 9.0, "ece": 0.01, "pr_auc": 0.99},  # a baseline, never chosen
            "a": {"lift_at_10": 3.000, "ece": 0.02, "pr_auc": 0.80},
            "b": {"lift_at_10": 2.995, "ece": 0.03, "pr_auc": 0.85},  # tied on lift, better pr_auc
            "c": {"lift_at_10": 3.500, "ece": 0.09, "pr_auc": 0.90},  # best lift but miscalibrated
        }
    )
    choice = nodes.choose_challenger(cv, _selection_params(variants))
    assert choice["variant"] == "b" and choice["eligible"] and choice["metric"] == "lift_at_10"
    assert "pr_auc" in choice["reason"]
    strict = nodes.choose_challenger(cv, {**_selection_params(variants), "selection": {**SELECTION, "tie_tolerance": 0.0}})
    assert strict["variant"] == "a"
    none_ok = nodes.choose_challenger(cv, _selection_params(variants, max_ece=0.001))
    assert not none_ok["eligible"] and "ECE" in none_ok["reason"]
    for name, ece in (("a", "0.0200"), ("b", "0.0300"), ("c", "0.0900")):  # every variant's figures, named
        assert f"{name} (lift_at_10" in none_ok["reason"] and f"ece {ece} > limit" in none_ok["reason"]


def test_the_calibration_limit_widens_to_the_sampling_noise_of_a_small_validation_set():
    variants = {"a": {"kind": "x"}, "b": {"kind": "x"}}
    cv = _cv({"a": {"lift_at_10": 3.0, "ece": 0.035, "pr_auc": 0.8}, "b": {"lift_at_10": 2.0, "ece": 0.01, "pr_auc": 0.7}}, ece_noise=0.04)
    assert nodes.choose_challenger(cv, _selection_params(variants, max_ece=0.02))["variant"] == "a"
    quiet = _cv({"a": {"lift_at_10": 3.0, "ece": 0.035, "pr_auc": 0.8}, "b": {"lift_at_10": 2.0, "ece": 0.01, "pr_auc": 0.7}}, ece_noise=0.005)
    assert nodes.choose_challenger(quiet, _selection_params(variants, max_ece=0.02))["variant"] == "b"


def test_a_saturated_lift_hands_selection_to_roc_auc():
    # A churn rate of 0.86 caps lift@10% at 1 / 0.86 = 1.163: every good model ties on it.
    variants = {"logreg": {"kind": "x"}, "hgb": {"kind": "x"}, "calibrated": {"kind": "x"}}
    cv = _cv(
        {
            "logreg": {"lift_at_10": 1.162, "ece": 0.028, "pr_auc": 0.97, "roc_auc": 0.835},  # outside the limit
            "hgb": {"lift_at_10": 1.161, "ece": 0.019, "pr_auc": 0.96, "roc_auc": 0.839},
            "calibrated": {"lift_at_10": 1.162, "ece": 0.015, "pr_auc": 0.965, "roc_auc": 0.836},
        },
        event_rate=0.86,
    )
    choice = nodes.choose_challenger(cv, _selection_params(variants, max_ece=0.02))
    assert choice["eligible"] and choice["variant"] == "hgb" and choice["metric"] == "roc_auc"
    assert "saturated" in choice["reason"]
    # At a churn rate of 0.1 the same lifts are far from their ceiling of 10: lift decides.
    rare = _cv({"a": {"lift_at_10": 4.0, "ece": 0.01, "roc_auc": 0.80}, "b": {"lift_at_10": 3.0, "ece": 0.01, "roc_auc": 0.85}}, event_rate=0.1)
    choice = nodes.choose_challenger(rare, _selection_params({"a": {"kind": "x"}, "b": {"kind": "x"}}))
    assert choice["variant"] == "a" and choice["metric"] == "lift_at_10"


@pytest.fixture(scope="module")
def holdout_world():
    """A holdout snapshot where feature SIGNAL predicts churn and NOISE does not, with a real
    model fitted on each (the 'strong' and the 'weak' model)."""
    rng = np.random.default_rng(3)
    n = 6000

    def world(size):
        signal = rng.normal(size=size)
        noise = rng.normal(size=size)
        probability = 1 / (1 + np.exp(-(2.5 * signal - 1.0)))
        return pd.DataFrame({"SIGNAL": signal, "NOISE": noise, "CHURNED": (rng.random(size) < probability).astype(int)})

    train, holdout = world(n), world(n)
    strong = LogisticRegression().fit(train[["SIGNAL"]], train.CHURNED)
    weak = LogisticRegression().fit(train[["NOISE"]], train.CHURNED)
    holdout.insert(0, "CUSTOMER_ID", [f"C{i}" for i in range(n)])
    holdout.insert(1, "SNAPSHOT_DATE", pd.Timestamp("2026-07-31"))
    return holdout, strong, weak


class _Columns:
    """A fitted model that sees only some columns of the feature frame (as our pipelines do)."""

    def __init__(self, model, columns):
        self.model, self.columns = model, columns

    def predict_proba(self, frame):
        return self.model.predict_proba(frame[self.columns])


def _evaluation(holdout: pd.DataFrame, challenger_scores: np.ndarray) -> nodes.HoldoutEvaluation:
    split = Split("holdout", date(2026, 7, 31), (date(2026, 1, 31),), ())
    predictions = holdout[["CUSTOMER_ID", "SNAPSHOT_DATE", "CHURNED"]].assign(new=challenger_scores)
    return nodes.HoldoutEvaluation(split, {"new": None}, holdout, predictions, pd.DataFrame())


DECISION_PARAMS = {"promotion": PROMOTION, "calibration_limit": {**LIMIT, "max_ece": 0.02}, "seed": 0}


def _decide(holdout, scores, champion, metric="lift_at_10"):
    challenger = {"variant": "new", "eligible": True, "reason": "", "metric": metric}
    return nodes.decide_promotion(_evaluation(holdout, scores), challenger, champion, DECISION_PARAMS)


def _registered(model, version="1"):
    return RegisteredModel(model_name="retail_churn", version=version, variant="old", mlflow_run_id="r", model=model)


def test_a_clearly_better_challenger_is_promoted(holdout_world):
    holdout, strong, weak = holdout_world
    decision = _decide(holdout, strong.predict_proba(holdout[["SIGNAL"]])[:, 1], _registered(_Columns(weak, ["NOISE"])))
    assert decision["promote"] is True
    assert decision["lift_difference"] > 0.5
    assert "promoted" in decision["reason"] and "CI" in decision["reason"] and decision["champion_version"] == "1"


def test_a_worse_or_equal_challenger_is_never_promoted(holdout_world):
    holdout, strong, weak = holdout_world
    worse = _decide(holdout, weak.predict_proba(holdout[["NOISE"]])[:, 1], _registered(_Columns(strong, ["SIGNAL"])))
    assert worse["promote"] is False and worse["lift_difference"] < 0
    same = _decide(holdout, strong.predict_proba(holdout[["SIGNAL"]])[:, 1], _registered(_Columns(strong, ["SIGNAL"])))
    assert same["promote"] is False and same["lift_difference"] == 0
    assert "not promoted" in same["reason"]


def test_a_better_ranking_that_is_miscalibrated_is_not_promoted(holdout_world):
    holdout, strong, weak = holdout_world
    squashed = strong.predict_proba(holdout[["SIGNAL"]])[:, 1] * 0.6  # same ranking, same lift, bad ECE
    decision = _decide(holdout, squashed, _registered(_Columns(weak, ["NOISE"])))
    assert decision["promote"] is False and decision["holdout_ece"] > DECISION_PARAMS["calibration_limit"]["max_ece"]
    assert "ECE" in decision["reason"]


def test_the_first_run_promotes_a_calibrated_challenger(holdout_world):
    holdout, strong, _ = holdout_world
    first = _decide(holdout, strong.predict_proba(holdout[["SIGNAL"]])[:, 1], None)
    assert first["promote"] is True and "no champion yet" in first["reason"]
    ineligible = nodes.decide_promotion(
        _evaluation(holdout, strong.predict_proba(holdout[["SIGNAL"]])[:, 1]),
        {"variant": "new", "eligible": False, "reason": "no variant has mean CV ECE <= 0.05", "metric": "lift_at_10"},
        None,
        DECISION_PARAMS,
    )
    assert ineligible["promote"] is False


def test_promotion_compares_in_the_metric_that_selected_the_challenger(holdout_world):
    holdout, strong, weak = holdout_world
    decision = _decide(holdout, strong.predict_proba(holdout[["SIGNAL"]])[:, 1], _registered(_Columns(weak, ["NOISE"])), "roc_auc")
    assert decision["promote"] is True and "holdout roc_auc" in decision["reason"]


def test_a_small_holdout_widens_the_ece_limit_to_its_noise(holdout_world):
    holdout, strong, _ = holdout_world
    small = holdout.head(300)
    scores = strong.predict_proba(small[["SIGNAL"]])[:, 1]
    decision = _decide(small, scores, None)
    assert decision["holdout_ece"] > 0.02 and decision["promote"] is True
    assert "widened from 0.02" in decision["reason"]
