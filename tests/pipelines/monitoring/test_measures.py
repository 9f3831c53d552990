"""PSI (bins fixed on the reference, nulls their own bin, epsilon for empty bins), drift status,
the realised metrics (those of ml/metrics.py), and the retraining rule."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from retail_control_tower.ml import metrics
from retail_control_tower.ml.monitoring import drift_status, feature_psi, psi, quantile_edges, realised_metrics
from retail_control_tower.pipelines.monitoring.signal import retraining_signal

RUN = {"run_id": "run-1", "started_at": datetime(2026, 11, 29, 10, 0)}
RULE = {"realised_dates": 2, "max_roc_auc_drop": 0.05, "max_ece_rise": 0.05, "min_act": 2, "min_watch": 3, "exempt_features": ["TENURE_DAYS"]}


def test_psi_by_hand_on_fixed_bins():
    reference = pd.Series([1.0, 2, 3, 4] * 25)  # quartiles: edges 1.75, 2.5, 3.25
    assert list(quantile_edges(reference, 4)) == [1.75, 2.5, 3.25]
    current = pd.Series([1.0] * 50 + [4.0] * 50)
    expected = 2 * (0.5 - 0.25) * math.log(0.5 / 0.25) + 2 * (1e-4 - 0.25) * math.log(1e-4 / 0.25)
    assert feature_psi(reference, current, 4, 1e-4) == pytest.approx(expected)
    assert feature_psi(reference, reference.sample(frac=1, random_state=1), 4, 1e-4) == pytest.approx(0.0)


def test_nulls_are_a_bin_of_their_own_and_unseen_categories_one_more():
    reference = pd.Series([1.0, 2.0, None, 4.0] * 25)
    half_missing = pd.Series([1.0, 2.0, None, None] * 25)
    # the missing share went from 0.25 to 0.5, and the bin of 4.0 emptied
    assert feature_psi(reference, half_missing, 4, 1e-4) > 0.25
    tiers = pd.Series(["gold", "silver"] * 50)
    assert feature_psi(tiers, pd.Series(["gold", "silver"] * 50), 4, 1e-4) == pytest.approx(0.0)
    assert feature_psi(tiers, pd.Series(["gold", "platinum"] * 50), 4, 1e-4) > 1.0


def test_a_stable_sample_is_stable_and_a_shifted_one_is_not():
    rng = np.random.default_rng(3)
    reference = pd.Series(rng.gamma(2, 20, 20_000))
    assert drift_status(feature_psi(reference, pd.Series(rng.gamma(2, 20, 2_000)), 10, 1e-4), 0.1, 0.25) == "stable"
    assert drift_status(feature_psi(reference, pd.Series(rng.gamma(2, 30, 2_000)), 10, 1e-4), 0.1, 0.25) == "act"


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="bins"):
        quantile_edges([1.0, 2.0], 1)
    with pytest.raises(ValueError, match="epsilon"):
        psi(np.array([0.5, 0.5]), np.array([1.0, 0.0]), 0.0)
    with pytest.raises(ValueError, match="watch <= act"):
        drift_status(0.2, 0.3, 0.25)
    with pytest.raises(ValueError, match="reference has 0 rows"):
        feature_psi(pd.Series([], dtype="float64", name="X"), pd.Series([1.0]), 10, 1e-4)


def test_realised_metrics_are_those_of_ml_metrics():
    rng = np.random.default_rng(0)
    p = rng.random(500)
    y = (rng.random(500) < p).astype(int)
    measured = realised_metrics(y, p)
    reference = metrics.classification_metrics(y, p)
    assert {k: measured[k] for k in ("roc_auc", "pr_auc", "lift_at_10", "ece", "brier")} == {
        k: reference[k] for k in ("roc_auc", "pr_auc", "lift_at_10", "ece", "brier")
    }
    assert (measured["n"], measured["events"]) == (500, int(y.sum()))


def _signal(realised_rows, drift_rows, registry_rows=None):
    import ibis

    from retail_control_tower.ml.publication import RegisteredModel

    champion = RegisteredModel(model_name="retail_churn", version="2", variant="logreg", mlflow_run_id=None, model=None)
    realised = ibis.memtable(pd.DataFrame(realised_rows, columns=["SCORE_DATE", "MODEL_NAME", "MODEL_VERSION", "METRIC", "VALUE", "EXPECTED"]))
    drift = ibis.memtable(pd.DataFrame(drift_rows, columns=["RUN_ID", "MODEL_VERSION", "FEATURE", "PSI", "STATUS"]))
    registry = None
    if registry_rows is not None:
        registry = ibis.memtable(pd.DataFrame(registry_rows, columns=["MODEL_NAME", "MODEL_VERSION", "VALIDATED_VERSION"]))
    return retraining_signal(realised, drift, champion, RULE, RUN, registry).to_pandas().to_dict("records")


def test_the_rule_recommends_retraining_for_the_reasons_it_names():
    days = [pd.Timestamp("2026-05-31"), pd.Timestamp("2026-06-30"), pd.Timestamp("2026-07-31")]

    def realised(auc, ece, version="2"):
        return [row for day, a, e in zip(days, auc, ece) for row in (
            (day, "retail_churn", version, "roc_auc", a, 0.82), (day, "retail_churn", version, "ece", e, 0.02))]

    stable = [("run-1", "2", "RECENCY_DAYS", 0.02, "stable"), ("run-1", "2", "CHURN_PROBABILITY", 0.05, "stable")]
    # one bad date among the latest two is averaged out; the oldest date is not judged
    [quiet] = _signal(realised([0.5, 0.74, 0.82], [0.5, 0.10, 0.02]), stable)
    assert quiet["RECOMMENDED"] is False and quiet["REASON"].startswith("no rule met: 3 realised score date(s), 2 drift measures")
    [loud] = _signal(realised([0.82, 0.74, 0.76], [0.02, 0.10, 0.06]), stable)
    assert loud["RECOMMENDED"] is True
    assert "mean realised ROC AUC 0.750 over the 2 latest realised score date(s) 2026-06-30..2026-07-31 is below the holdout's 0.820" in loud["REASON"]
    assert "mean realised ECE 0.080 over the 2 latest realised score date(s) 2026-06-30..2026-07-31 is above the holdout's 0.020 by more than 0.05" in loud["REASON"]
    # another version's metrics and another run's drift are not this champion's
    [other] = _signal(realised([0.82, 0.82, 0.82], [0.02] * 3) + realised([0.5] * 3, [0.3] * 3, "1"),
                      stable + [("run-0", "2", "MONETARY", 0.9, "act"), ("run-0", "2", "RECENCY_DAYS", 0.9, "act")])
    assert other["RECOMMENDED"] is False
    good = realised([0.82] * 3, [0.02] * 3)
    # one feature at 'act' and an exempt one are not enough; a second is
    one = stable + [("run-1", "2", "MONETARY", 0.31, "act"), ("run-1", "2", "TENURE_DAYS", 1.5, "act")]
    assert _signal(good, one)[0]["RECOMMENDED"] is False
    [moved] = _signal(good, one + [("run-1", "2", "FREQUENCY", 0.4, "act")] + [("run-1", "2", f"F{i}", 0.12, "watch") for i in range(3)])
    assert moved["RECOMMENDED"] is True and "2 features at 'act' drift (PSI): FREQUENCY 0.40, MONETARY 0.31" in moved["REASON"]
    assert "3 features at 'watch' drift (at least 3)" in moved["REASON"]
    [score] = _signal(good, [("run-1", "2", "CHURN_PROBABILITY", 0.3, "act")])
    assert score["RECOMMENDED"] is True and "the score distribution is at 'act' drift (PSI 0.30" in score["REASON"]


def test_a_refit_champion_is_judged_on_its_validated_versions_realised_performance():
    """The backfill scores past dates with the validated version (v1), which the refit (v2) was
    fitted from: that evidence counts for the refit, another version's does not."""
    days = [pd.Timestamp("2026-06-30"), pd.Timestamp("2026-07-31")]
    poor_v1 = [(day, "retail_churn", "1", "roc_auc", 0.70, 0.82) for day in days]
    poor_v3 = [(day, "retail_churn", "3", "roc_auc", 0.70, 0.82) for day in days]
    stable = [("run-1", "2", "RECENCY_DAYS", 0.02, "stable")]
    refit = [("retail_churn", "1", None), ("retail_churn", "2", "1"), ("retail_churn", "3", None)]
    [judged] = _signal(poor_v1, stable, refit)
    assert judged["RECOMMENDED"] is True and "mean realised ROC AUC 0.700" in judged["REASON"]
    assert _signal(poor_v3, stable, refit)[0]["RECOMMENDED"] is False
    # without the lineage, v1's rows are another version's
    assert _signal(poor_v1, stable, [("retail_churn", "2", None)])[0]["RECOMMENDED"] is False


def test_a_recommendation_remembers_since_when_it_holds():
    """RECOMMENDED_SINCE: this run's time when the run before did not recommend retraining this
    version (or there was none), the earlier start while it holds, none when quiet."""
    import ibis

    from retail_control_tower.ml import tables
    from retail_control_tower.ml.publication import RegisteredModel

    champion = RegisteredModel(model_name="retail_churn", version="2", variant="logreg", mlflow_run_id=None, model=None)
    act = ibis.memtable(pd.DataFrame([("run-{}", "2", "CHURN_PROBABILITY", 0.4, "act")], columns=["RUN_ID", "MODEL_VERSION", "FEATURE", "PSI", "STATUS"]))
    quiet = act.mutate(STATUS=ibis.literal("stable"), PSI=0.01)
    history: list[dict] = []

    def run(day: int, drift) -> dict:
        context = {"run_id": f"run-{day}", "started_at": datetime(2026, 11, day, 10)}
        prior = tables.as_table(pd.DataFrame(history, columns=tables.RETRAINING_SIGNAL.names), tables.RETRAINING_SIGNAL) if history else None
        drift = drift.mutate(RUN_ID=ibis.literal(context["run_id"]))
        [row] = retraining_signal(None, drift, champion, RULE, context, None, prior).to_pandas().to_dict("records")
        history.append(row)
        return row

    assert pd.isna(run(1, quiet)["RECOMMENDED_SINCE"])
    assert run(2, act)["RECOMMENDED_SINCE"] == pd.Timestamp(2026, 11, 2, 10)  # raised
    assert run(3, act)["RECOMMENDED_SINCE"] == pd.Timestamp(2026, 11, 2, 10)  # holds
    assert pd.isna(run(4, quiet)["RECOMMENDED_SINCE"])
    assert run(5, act)["RECOMMENDED_SINCE"] == pd.Timestamp(2026, 11, 5, 10)  # raised again
    # another version's standing recommendation is not this one's
    history[-1]["MODEL_VERSION"] = "1"
    assert run(6, act)["RECOMMENDED_SINCE"] == pd.Timestamp(2026, 11, 6, 10)


def test_no_champion_no_signal_row():
    assert retraining_signal(None, None, None, RULE, RUN).to_pandas().empty


def test_the_training_gate_follows_the_latest_signal():
    import ibis

    from retail_control_tower.pipelines.monitoring.gate import should_retrain

    rows = pd.DataFrame({
        "RUN_ID": ["r1", "r2"], "MODEL_NAME": "retail_churn", "MODEL_VERSION": ["1", "1"], "RECOMMENDED": [True, False],
        "REASON": ["drift", "no rule met"], "DECIDED_AT": [datetime(2026, 11, 1), datetime(2026, 11, 8)],
    })
    assert should_retrain(ibis.memtable(rows), True) == (False, "retraining not recommended for v1 by run r2: no rule met")
    assert should_retrain(ibis.memtable(rows.assign(DECIDED_AT=rows.DECIDED_AT[::-1].to_numpy())), True)[0] is True
    assert should_retrain(None, True) == (True, "no retraining signal yet (no champion monitored): training")
    assert should_retrain(ibis.memtable(rows), False)[0] is True
