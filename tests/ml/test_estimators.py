"""The estimators shared by training and scoring: the legacy rule, and models pickled under the
module path the estimators had before they moved to ``ml.estimators``."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from retail_control_tower.ml import estimators
from retail_control_tower.ml.estimators import BgNbdChurn, BgNbdFeatures, LegacyRfmScore
from retail_control_tower.pipelines.train_eval import variants

OLD_MODULE = "retail_control_tower.pipelines.train_eval.variants"


def test_legacy_rfm_quintiles():
    # Five customers, one per quintile of each of R, F and M.
    frame = pd.DataFrame({"RECENCY_DAYS": [1, 10, 20, 30, 400], "FREQUENCY": [50, 40, 30, 20, 1], "MONETARY": [10, 500, 400, 300, 200]})
    score = LegacyRfmScore().fit(frame).predict_proba(frame)[:, 1]
    # R risk 1..5, F risk 1..5, M risk: 10 is lowest spend → 5, 500 → 1, 400 → 2, 300 → 3, 200 → 4
    expected = (np.array([1, 2, 3, 4, 5]) + np.array([1, 2, 3, 4, 5]) + np.array([5, 1, 2, 3, 4]) - 3) / 12
    np.testing.assert_allclose(score, expected)


def _history(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"RECENCY_DAYS": rng.gamma(2.0, 10.0, n), "FREQUENCY": rng.gamma(2.0, 2.0, n), "MONETARY": rng.gamma(2.0, 50.0, n)})
    frame["TENURE_DAYS"] = frame.RECENCY_DAYS + rng.gamma(2.0, 100.0, n)
    frame["LIFETIME_ORDERS"] = 1 + rng.poisson(frame.TENURE_DAYS / 60)
    frame["SNAPSHOT_DATE"] = pd.Timestamp("2026-06-30")
    frame["LABEL_WINDOW_END"] = pd.Timestamp("2026-09-28")
    return frame


def test_the_penalizer_is_the_bgnbd_fit_s_own_setting():
    frame = _history(2000, 1)
    light, heavy = BgNbdChurn(penalizer=0.001).fit(frame), BgNbdChurn(penalizer=1.0).fit(frame)
    assert light.params_ != heavy.params_
    assert not np.allclose(light.predict_proba(frame), heavy.predict_proba(frame))
    assert BgNbdFeatures(penalizer=1.0).fit(frame).params_ == heavy.params_


def test_a_model_pickled_before_the_estimators_moved_still_loads(monkeypatch):
    """Such a pickle names the classes (and the log transform) by their old module: the old module
    must still answer those names, with the same objects."""
    frame = _history(1500, 2)
    models = {"legacy": LegacyRfmScore().fit(frame), "bgnbd": BgNbdChurn().fit(frame), "features": BgNbdFeatures().fit(frame)}
    for moved in (LegacyRfmScore, BgNbdChurn, BgNbdFeatures):
        monkeypatch.setattr(moved, "__module__", OLD_MODULE)
    monkeypatch.setattr(estimators.signed_log1p, "__module__", OLD_MODULE)
    pickled = pickle.dumps({**models, "transform": estimators.signed_log1p})
    monkeypatch.undo()
    assert OLD_MODULE.encode() in pickled and b"retail_control_tower.ml.estimators" not in pickled

    loaded = pickle.loads(pickled)
    assert type(loaded["bgnbd"]) is BgNbdChurn and loaded["transform"] is estimators.signed_log1p
    np.testing.assert_array_equal(loaded["legacy"].predict_proba(frame), models["legacy"].predict_proba(frame))
    np.testing.assert_array_equal(loaded["bgnbd"].predict_proba(frame), models["bgnbd"].predict_proba(frame))
    pd.testing.assert_frame_equal(loaded["features"].transform(frame), models["features"].transform(frame))
    assert variants.BgNbdFeatures is BgNbdFeatures


def test_a_bgnbd_needs_one_churn_window():
    frame = _history(100, 3)
    frame.loc[:49, "LABEL_WINDOW_END"] = pd.Timestamp("2026-08-29")
    with pytest.raises(ValueError, match="several churn windows"):
        BgNbdChurn().fit(frame)
