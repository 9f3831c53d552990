"""Every configured variant builds, fits and scores; its settings come from parameters_train_eval.yml."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.calibration import CalibratedClassifierCV

from retail_control_tower.pipelines.train_eval.variants import build_estimator, feature_columns, fit_variant

PARAMS = yaml.safe_load((Path(__file__).resolve().parents[3] / "conf/base/parameters_train_eval.yml").read_text())["train_eval"]


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns = {c for fs in PARAMS["feature_sets"].values() for c in fs["numeric"]}
    frame = pd.DataFrame({c: rng.gamma(2.0, 10.0, n) for c in sorted(columns)})
    frame.loc[rng.random(n) < 0.2, "DAYS_SINCE_LAST_RETURN"] = np.nan  # missing values, as in real features
    frame["LOYALTY_TIER"] = rng.choice(["bronze", "silver", "gold", "unknown"], n)
    frame["HOME_STORE_ID"] = rng.choice([f"S{i}" for i in range(12)], n)
    # A purchase history a BG/NBD can read: the first purchase before the last, whole orders.
    frame["TENURE_DAYS"] = frame.RECENCY_DAYS + rng.gamma(2.0, 100.0, n)
    frame["LIFETIME_ORDERS"] = 1 + rng.poisson(frame.TENURE_DAYS / 60)
    frame["SNAPSHOT_DATE"] = pd.Timestamp("2026-06-30")
    frame["LABEL_WINDOW_END"] = pd.Timestamp("2026-09-28")
    risk = frame.RECENCY_DAYS / 20 - frame.FREQUENCY / 20
    frame["CHURNED"] = (rng.random(n) < 1 / (1 + np.exp(-risk))).astype("int8")
    return frame


@pytest.mark.parametrize("name", list(PARAMS["variants"]))
def test_every_configured_variant_fits_and_scores_probabilities(name):
    variant = PARAMS["variants"][name]
    train, calibrate, score = _frame(3000, 1), _frame(1000, 2), _frame(500, 3)
    score["HOME_STORE_ID"] = "S_NEW"  # a store never seen in training must not break scoring
    model = fit_variant(variant, PARAMS, train, calibrate)
    probability = model.predict_proba(score)[:, 1]
    assert probability.shape == (500,) and np.all((probability >= 0) & (probability <= 1))
    assert isinstance(model, CalibratedClassifierCV) == bool(variant.get("calibration"))
    if variant["kind"] == "bgnbd":  # unsupervised: these customers never drop out, so a faster buyer is likelier to buy
        pace = score.LIFETIME_ORDERS / score.TENURE_DAYS
        assert np.corrcoef(probability, pace)[0, 1] < -0.3
    elif variant["kind"] != "legacy_rfm":  # learned the planted signal
        assert np.corrcoef(probability, score.RECENCY_DAYS - score.FREQUENCY)[0, 1] > 0.3
    assert set(feature_columns(variant, PARAMS["feature_sets"])) <= set(train.columns)


def test_calibrated_variant_without_calibration_snapshots_is_an_error():
    with pytest.raises(ValueError, match="calibration"):
        fit_variant(PARAMS["variants"]["hgb_calibrated_ext"], PARAMS, _frame(500, 1), None)


def test_the_configured_settings_reach_the_estimators():
    """The numbers a user may tune are read from the configuration, not from the code."""
    tuned = {
        **PARAMS,
        "bgnbd": {"penalizer": 0.25},
        "logistic_regression": {"solver": "lbfgs", "max_iter": 77},
        "min_category_frequency": 3,
        "seed": 5,
    }
    baseline = build_estimator({"kind": "bgnbd", "feature_set": "base"}, tuned)
    assert baseline.penalizer == 0.25
    logreg = build_estimator({"kind": "logistic_regression", "feature_set": "ext"}, tuned)
    assert logreg.named_steps["bgnbd"].penalizer == 0.25
    model = logreg.named_steps["model"]
    assert (model.solver, model.max_iter, model.random_state) == ("lbfgs", 77, 5)
    categorical = {name: step for name, step, _ in logreg.named_steps["features"].transformers}["categorical"]
    assert categorical.min_frequency == 3
    # a variant's own params override the shared solver settings
    own = build_estimator({"kind": "logistic_regression", "feature_set": "base", "params": {"max_iter": 9}}, tuned)
    assert own.named_steps["model"].max_iter == 9 and own.named_steps["model"].solver == "lbfgs"
    hgb = PARAMS["variants"]["hgb_ext"]
    trees = build_estimator(hgb, tuned).named_steps["model"]
    assert {key: trees.get_params()[key] for key in hgb["params"]} == hgb["params"] and trees.random_state == 5


def test_a_missing_setting_is_an_error_not_a_hidden_default():
    without = {key: value for key, value in PARAMS.items() if key != "bgnbd"}
    with pytest.raises(KeyError, match="bgnbd"):
        build_estimator({"kind": "bgnbd", "feature_set": "base"}, without)
