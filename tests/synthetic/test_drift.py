"""The drift scenario: the history before it is the stable one, byte for byte; after it, the
chosen region churns faster (in what happens and in the oracle) and prices move."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retail_control_tower.synthetic import simulate_retailer

STABLE = {
    "seed": 11, "customers": 1200, "stores": 12, "products": 80, "history_days": 300, "end_date": "2026-06-30",
    "target_order_lines": 30_000, "churn_window_days": 90, "online_share": 0.25,
}
DRIFT = {"start_days_before_end": 120, "region": "north", "churn_multiplier": 6.0, "price_change": 0.3}
DRIFT_START = pd.Timestamp("2026-06-30") - pd.Timedelta(days=119)


@pytest.fixture(scope="module")
def both():
    return simulate_retailer(STABLE), simulate_retailer({**STABLE, "drift": DRIFT})


def test_the_history_before_the_drift_is_the_stable_one(both):
    stable, drifted = both
    before = stable["orders"].order_ts < DRIFT_START
    pd.testing.assert_frame_equal(stable["orders"][before], drifted["orders"][drifted["orders"].order_ts < DRIFT_START])
    assert len(drifted["orders"]) != len(stable["orders"])  # and after it, it is not


def _region_of_customers(frames) -> pd.Series:
    stores = frames["stores"].set_index("store_id").region
    return frames["customers"].set_index("customer_id").home_store_id.map(stores)


def test_the_region_churns_faster_after_the_start_in_the_oracle(both):
    stable, drifted = both
    region = _region_of_customers(drifted)
    assert (region == "north").sum() > 50

    def mean_oracle(frames, where):
        oracle = frames["churn_oracle"]
        last = oracle[oracle.snapshot_date == oracle.snapshot_date.max()]
        return last[last.customer_id.map(region).pipe(where)].churn_probability.mean()

    north = lambda r: r == "north"  # noqa: E731
    elsewhere = lambda r: r != "north"  # noqa: E731
    assert mean_oracle(drifted, north) > mean_oracle(stable, north) + 0.1
    assert mean_oracle(drifted, elsewhere) == pytest.approx(mean_oracle(stable, elsewhere), abs=0.03)


def test_prices_move_from_the_start(both):
    _, drifted = both
    lines = drifted["order_items"].merge(drifted["orders"][["order_id", "order_ts"]], on="order_id")
    lines = lines.merge(drifted["products"][["product_id", "list_price"]], on="product_id")
    ratio = lines.unit_price / lines.list_price
    after = lines.order_ts >= DRIFT_START
    assert np.allclose(ratio[~after], 1.0, atol=0.01)
    assert np.allclose(ratio[after], 1.3, atol=0.01)


SHORT = {**DRIFT, "start_days_before_end": 30}


@pytest.mark.parametrize(
    ("drift", "named"),
    [
        ({**SHORT, "start_days_before_end": 60}, "start_days_before_end"),
        ({**SHORT, "region": "atlantis"}, "atlantis"),
        ({**SHORT, "churn_multiplier": 0}, "churn_multiplier"),
        ({**SHORT, "speed": 2}, "speed"),
    ],
)
def test_bad_settings_are_named(drift, named):
    with pytest.raises(ValueError, match=named):
        simulate_retailer({**STABLE, "history_days": 60, "drift": drift})
