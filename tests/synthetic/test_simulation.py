"""The synthetic retailer: contract, integrity, realistic behaviour, and a churn oracle that is
calibrated and predictive against what the simulation then does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retail_control_tower.synthetic import simulate_retailer
from retail_control_tower.synthetic.simulation import simulate_retailer_with_traits

SMALL = {
    "seed": 7,
    "customers": 1500,
    "stores": 20,
    "products": 120,
    "history_days": 365,
    "end_date": "2025-06-30",
    "target_order_lines": 60_000,
    "churn_window_days": 90,
    "online_share": 0.25,
}
END = pd.Timestamp(SMALL["end_date"])
START = END - pd.Timedelta(days=SMALL["history_days"] - 1)
WINDOW = pd.Timedelta(days=SMALL["churn_window_days"])

CONTRACT = {
    "customers": {"customer_id": "O", "signup_date": "M", "home_store_id": "O", "loyalty_tier": "O"},
    "products": {"product_id": "O", "product_name": "O", "category": "O", "brand": "O", "unit_cost": "f", "list_price": "f"},
    "stores": {"store_id": "O", "store_name": "O", "region": "O", "format": "O", "opened_date": "M"},
    "orders": {"order_id": "O", "customer_id": "O", "store_id": "O", "order_ts": "M", "channel": "O"},
    "order_items": {
        "order_id": "O", "line_number": "i", "product_id": "O", "quantity": "i",
        "unit_price": "f", "discount_amount": "f", "promo_code": "O",
    },
    "returns": {
        "return_id": "O", "order_id": "O", "line_number": "i", "return_ts": "M",
        "quantity": "i", "refund_amount": "f", "reason": "O",
    },
    "churn_oracle": {"customer_id": "O", "snapshot_date": "M", "churn_probability": "f", "is_churned_latent": "b", "state": "O"},
}
KEYS = {
    "customers": ["customer_id"], "products": ["product_id"], "stores": ["store_id"], "orders": ["order_id"],
    "order_items": ["order_id", "line_number"], "returns": ["return_id"], "churn_oracle": ["customer_id", "snapshot_date"],
}


@pytest.fixture(scope="module")
def simulated():
    return simulate_retailer_with_traits(dict(SMALL))


@pytest.fixture(scope="module")
def frames(simulated):
    return simulated[0]


@pytest.fixture(scope="module")
def lines(frames):
    """Order lines with their order's customer, time and channel, and the product's category."""
    items = frames["order_items"].merge(frames["orders"], on="order_id", validate="many_to_one")
    return items.merge(frames["products"][["product_id", "category"]], on="product_id", validate="many_to_one")


def roc_auc(score: np.ndarray, label: np.ndarray) -> float:
    """Mann-Whitney AUC from average ranks (ties share their mean rank)."""
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    _, tie_group = np.unique(score, return_inverse=True)
    ranks = (np.bincount(tie_group, weights=ranks) / np.bincount(tie_group))[tie_group]
    n_pos = int(label.sum())
    n_neg = len(label) - n_pos
    return float((ranks[label].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def month_end_labels(frames) -> list[tuple[pd.Timestamp, pd.DataFrame]]:
    """Per month end whose window lies inside the history: the oracle rows of customers who bought
    on or before it, with the realised label 'no purchase in the next window'."""
    orders = frames["orders"].assign(day=frames["orders"]["order_ts"].dt.normalize())
    out = []
    for t, rows in frames["churn_oracle"].groupby("snapshot_date"):
        if t + WINDOW > END:
            continue
        bought = orders.loc[orders["day"] <= t, "customer_id"].unique()
        in_window = orders.loc[(orders["day"] > t) & (orders["day"] <= t + WINDOW), "customer_id"].unique()
        rows = rows[rows["customer_id"].isin(bought)]
        out.append((t, rows.assign(no_purchase=~rows["customer_id"].isin(in_window))))
    return out


def test_same_params_give_identical_frames_and_another_seed_differs(frames):
    again = simulate_retailer(dict(SMALL))
    assert list(again) == list(CONTRACT)
    for name, frame in frames.items():
        pd.testing.assert_frame_equal(again[name], frame, check_exact=True)
        assert again[name].to_csv(index=False) == frame.to_csv(index=False)
    other = simulate_retailer(dict(SMALL, seed=8))
    assert not other["orders"].equals(frames["orders"])
    assert not other["churn_oracle"]["churn_probability"].equals(frames["churn_oracle"]["churn_probability"])


def test_contract_columns_and_dtypes(frames):
    assert set(frames) == set(CONTRACT)
    for name, columns in CONTRACT.items():
        frame = frames[name]
        assert list(frame.columns) == list(columns), name
        for column, kind in columns.items():
            assert frame[column].dtype.kind == kind, (name, column, frame[column].dtype)
        for column in (c for c, k in columns.items() if k == "O" and c != "promo_code"):
            assert frame[column].map(type).eq(str).all(), (name, column)
    assert frames["customers"]["customer_id"].str.fullmatch(r"C\d{6}").all()
    assert frames["products"]["product_id"].str.fullmatch(r"P\d{5}").all()
    assert frames["orders"]["order_id"].str.fullmatch(r"O\d{7}").all()
    assert frames["returns"]["return_id"].str.fullmatch(r"R\d{7}").all()
    stores = frames["stores"].set_index("store_id")
    assert stores.index.str.fullmatch(r"S\d{3}|S_ONLINE").all() and len(stores) == SMALL["stores"] + 1
    assert stores.loc["S_ONLINE", "format"] == "online"
    assert set(stores["format"]) <= {"mall", "high_street", "retail_park", "online"}
    assert (stores["opened_date"] < START).all()
    assert set(frames["customers"]["loyalty_tier"]) == {"bronze", "silver", "gold"}
    assert (frames["customers"]["signup_date"] == frames["customers"]["signup_date"].dt.normalize()).all()
    products = frames["products"]
    assert products["category"].nunique() == 10 and len(products) == SMALL["products"]
    assert (products["list_price"] > products["unit_cost"]).all() and (products["unit_cost"] > 0).all()
    money = [products["unit_cost"], products["list_price"], frames["order_items"]["unit_price"],
             frames["order_items"]["discount_amount"], frames["returns"]["refund_amount"]]
    for values in money:
        assert np.allclose(values * 100, np.round(values * 100), atol=1e-6)
    assert set(frames["orders"]["channel"]) == {"store", "online"}
    promo = frames["order_items"]["promo_code"]
    assert promo.dropna().map(type).eq(str).all() and promo.isna().any()


def test_keys_are_unique(frames):
    for name, key in KEYS.items():
        assert not frames[name].duplicated(key).any(), name


def test_every_fact_references_existing_rows(frames, lines):
    customers, orders, items, returns = frames["customers"], frames["orders"], frames["order_items"], frames["returns"]
    assert items["order_id"].isin(orders["order_id"]).all()
    assert items["product_id"].isin(frames["products"]["product_id"]).all()
    assert orders["order_id"].isin(items["order_id"]).all()
    assert orders["customer_id"].isin(customers["customer_id"]).all()
    assert orders["store_id"].isin(frames["stores"]["store_id"]).all()
    assert customers["home_store_id"].isin(frames["stores"]["store_id"]).all()
    assert ((orders["channel"] == "online") == (orders["store_id"] == "S_ONLINE")).all()
    # line numbers run 1..n within each order
    per_order = items.groupby("order_id")["line_number"].agg(["min", "max", "size"])
    assert (per_order["min"] == 1).all() and (per_order["max"] == per_order["size"]).all()
    assert (items["quantity"] >= 1).all() and (items["discount_amount"] >= 0).all()
    # no order before the customer's signup, none after the end of the history
    signup = orders["customer_id"].map(customers.set_index("customer_id")["signup_date"])
    assert (orders["order_ts"] >= signup).all()
    assert orders["order_ts"].min() >= START and orders["order_ts"].max() < END + pd.Timedelta(days=1)
    # returns: an existing line, 1..30 days after its order, never after the end date, within the line
    sold = returns.merge(lines, on=["order_id", "line_number"], how="left", suffixes=("", "_sold"), validate="one_to_one")
    assert sold["order_ts"].notna().all()
    delay = sold["return_ts"] - sold["order_ts"]
    assert (delay > pd.Timedelta(0)).all() and (delay < pd.Timedelta(days=31)).all()
    assert (sold["return_ts"].dt.normalize() - sold["order_ts"].dt.normalize()).dt.days.between(1, 30).all()
    assert (sold["return_ts"] < END + pd.Timedelta(days=1)).all()
    assert sold["quantity"].between(1, sold["quantity_sold"]).all()
    net = sold["quantity_sold"] * sold["unit_price"] - sold["discount_amount"]
    assert (sold["refund_amount"] > 0).all() and (sold["refund_amount"] <= net + 1e-9).all()


def test_realised_line_count_is_within_ten_percent_of_target(frames):
    assert abs(len(frames["order_items"]) / SMALL["target_order_lines"] - 1) < 0.10
    assert 2.2 < len(frames["order_items"]) / len(frames["orders"]) < 2.8


def test_customers_are_acquired_over_time_and_buy_at_heterogeneous_rates(simulated):
    frames, traits = simulated
    signup = frames["customers"]["signup_date"]
    assert abs((signup < START).mean() - 0.35) < 0.02
    assert signup.min() >= START - pd.Timedelta(days=3 * 366)
    new = signup[signup >= START]
    mid = START + (END - START) / 2
    assert (new >= mid).sum() > 1.05 * (new < mid).sum()  # mild growth
    # among customers there from the start, some buy about weekly and many far less often
    orders = frames["orders"]
    veterans = frames["customers"].loc[signup < START, "customer_id"]
    counts = orders.groupby("customer_id").size().reindex(veterans, fill_value=0)
    first_quarter = orders[orders["order_ts"] < START + pd.Timedelta(days=91)]
    rate = first_quarter.groupby("customer_id").size().reindex(veterans, fill_value=0) / 91
    assert rate.quantile(0.95) > 3 * rate.median() and rate.quantile(0.1) < rate.median() / 3
    assert counts.std() / counts.mean() > 0.7
    base_rate = traits["base_rate"]
    assert base_rate.quantile(0.9) > 5 * base_rate.quantile(0.1)  # gamma(shape 2): about 7x


def test_weekend_peak_for_stores_and_smoother_online(frames):
    orders = frames["orders"].assign(day=frames["orders"]["order_ts"].dt.normalize())
    daily = orders.groupby(["day", "channel"]).size().unstack(fill_value=0)
    weekend = daily.index.dayofweek >= 5
    store_ratio = daily.loc[weekend, "store"].mean() / daily.loc[~weekend, "store"].mean()
    online_ratio = daily.loc[weekend, "online"].mean() / daily.loc[~weekend, "online"].mean()
    assert store_ratio > 1.2
    assert abs(online_ratio - 1) < store_ratio - 1 - 0.1
    hours = frames["orders"]["order_ts"].dt.hour
    assert hours[frames["orders"]["channel"] == "store"].between(8, 20).all()
    assert (frames["orders"]["order_ts"].dt.second.nunique(), hours.nunique()) >= (60, 15)


def test_yearly_seasonality_december_peak_and_january_dip(frames):
    orders = frames["orders"]
    month = orders["order_ts"].dt.month
    per_day = orders.groupby(month).size() / orders["order_ts"].dt.normalize().groupby(month).nunique()
    # the customer base grows through the history (and sale weeks are random), so compare
    # December with its neighbours rather than with the whole year
    assert per_day[12] > 1.3 * per_day[1]
    assert per_day[12] > 1.2 * per_day[[9, 10]].mean()
    assert per_day[1] < per_day[2]


def test_promo_lines_carry_a_code_and_a_ten_to_forty_percent_discount(frames, lines, simulated):
    items = frames["order_items"]
    promo = items["promo_code"].notna()
    assert 0.1 < promo.mean() < 0.6
    assert (items.loc[promo, "discount_amount"] > 0).all() and (items.loc[~promo, "discount_amount"] == 0).all()
    gross = items["quantity"] * items["unit_price"]
    discount = items.loc[promo, "discount_amount"]
    assert discount.between(0.1 * gross[promo] - 0.005, 0.4 * gross[promo] + 0.005).all()  # to the cent
    assert items.loc[promo, "promo_code"].str.fullmatch(r"(WK\d{4}|SALE\d{6}|BLACKFRIDAY\d{2})-\d{2}").all()
    # discount-reliant customers buy mostly promo lines
    traits = simulated[1].set_index("customer_id")
    reliance = lines["customer_id"].map(traits["discount_reliance"])
    high, low = reliance >= reliance.quantile(0.8), reliance <= reliance.quantile(0.2)
    assert lines.loc[high, "promo_code"].notna().mean() > 0.5 > 1.5 * lines.loc[low, "promo_code"].notna().mean()
    # sale events lift sales: Black Friday weekend against the same weekdays around it
    days = frames["orders"]["order_ts"].dt.normalize().value_counts()
    black_friday = pd.Timestamp("2024-11-29")
    event = days.reindex(pd.date_range(black_friday, periods=4)).mean()
    around = days.reindex(pd.date_range(black_friday - pd.Timedelta(days=14), periods=4)).mean()
    assert event > 1.3 * around


def test_returns_depend_on_category_and_customer(frames, lines, simulated):
    returned = lines.merge(frames["returns"][["order_id", "line_number"]], on=["order_id", "line_number"], how="left", indicator=True)
    returned["is_returned"] = returned["_merge"] == "both"
    settled = returned[returned["order_ts"] < END - pd.Timedelta(days=30)]
    assert 0.02 < settled["is_returned"].mean() < 0.12
    by_category = settled.groupby("category")["is_returned"].mean()
    assert by_category["apparel"] > 3 * by_category["grocery"]
    propensity = settled["customer_id"].map(simulated[1].set_index("customer_id")["return_propensity"])
    assert settled.loc[propensity > 0.12, "is_returned"].mean() > 2.5 * settled.loc[propensity < 0.06, "is_returned"].mean()


def test_oracle_rows_states_and_probabilities(frames):
    oracle = frames["churn_oracle"]
    snapshots = pd.DatetimeIndex(sorted(oracle["snapshot_date"].unique()))
    expected = pd.date_range(START, END, freq="ME")
    assert snapshots.equals(expected) and (snapshots[-1] + WINDOW > END)
    assert oracle["churn_probability"].between(0, 1).all()
    assert set(oracle["state"]) == {"ACTIVE", "AT_RISK", "CHURNED"}
    assert (oracle["is_churned_latent"] == (oracle["state"] == "CHURNED")).all()
    assert (oracle.loc[oracle["is_churned_latent"], "churn_probability"] == 1.0).all()
    assert (oracle.loc[~oracle["is_churned_latent"], "churn_probability"] < 1.0).all()
    # every customer acquired on or before a month end has a row at it, no one else
    signup = frames["customers"].set_index("customer_id")["signup_date"]
    for t in snapshots:
        assert set(oracle.loc[oracle["snapshot_date"] == t, "customer_id"]) == set(signup.index[signup <= t])
    # churn is absorbing: once churned at a snapshot, churned at every later one
    wide = oracle.pivot(index="customer_id", columns="snapshot_date", values="is_churned_latent")
    churned = wide.astype(float).fillna(0).to_numpy()
    assert (np.diff(churned, axis=1) >= 0).all()
    # churned customers never buy again after the snapshot they are seen churned at
    first_churned = oracle[oracle["is_churned_latent"]].groupby("customer_id")["snapshot_date"].min()
    last_order = frames["orders"].groupby("customer_id")["order_ts"].max()
    seen = first_churned.index.intersection(last_order.index)
    assert (last_order[seen] < first_churned[seen] + pd.Timedelta(days=1)).all()


def test_oracle_is_calibrated_and_predictive_against_the_realised_label(frames):
    labelled = month_end_labels(frames)
    assert len(labelled) >= 8
    pooled = pd.concat([rows for _, rows in labelled])
    assert abs(pooled["no_purchase"].mean() - pooled["churn_probability"].mean()) < 0.015
    z_scores = []
    for t, rows in labelled:
        if len(rows) < 300:
            continue
        assert abs(rows["no_purchase"].mean() - rows["churn_probability"].mean()) < 0.05, t
        assert roc_auc(rows["churn_probability"].to_numpy(), rows["no_purchase"].to_numpy()) > 0.8, t
        alive = rows[~rows["is_churned_latent"]]
        assert roc_auc(alive["churn_probability"].to_numpy(), alive["no_purchase"].to_numpy()) > 0.75, t
        # calibrated within probability bins too: the realised count is the sum of independent
        # Bernoulli(p) labels, so each bin's standardised error is ~N(0, 1)
        p = alive["churn_probability"]
        bins = pd.cut(p, [0, 0.1, 0.3, 0.6, 1.0], include_lowest=True)
        grouped = pd.DataFrame({"p": p, "y": alive["no_purchase"], "v": p * (1 - p)}).groupby(bins, observed=True).sum()
        grouped = grouped[grouped["v"] > 5]
        z_scores.extend((grouped["y"] - grouped["p"]) / np.sqrt(grouped["v"]))
    z_scores = np.asarray(z_scores)
    assert len(z_scores) >= 20
    assert np.abs(z_scores).max() < 4 and np.mean(z_scores**2) < 2


def test_typical_month_end_no_purchase_rate(frames):
    rates = [rows["no_purchase"].mean() for t, rows in month_end_labels(frames) if t >= START + pd.Timedelta(days=150)]
    assert len(rates) >= 4 and all(0.15 < r < 0.45 for r in rates)
    assert 0.22 <= np.median(rates) <= 0.40


def test_discount_reliance_return_propensity_and_poor_stores_churn_more():
    # a larger population than the other tests, so quartile lapse rates are precise to ~2 points
    frames, traits = simulate_retailer_with_traits(dict(SMALL, customers=6000, target_order_lines=200_000))
    orders = frames["orders"]
    mid = START + (END - START) / 2
    bought_early = orders.loc[orders["order_ts"] < mid, "customer_id"].unique()
    recent = orders.loc[orders["order_ts"] > END - WINDOW, "customer_id"].unique()
    cohort = traits[traits["customer_id"].isin(bought_early)].copy()
    cohort["lapsed"] = ~cohort["customer_id"].isin(recent)  # no purchase in the last window of the history
    for trait, sign, margin in (("discount_reliance", 1, 0.08), ("return_propensity", 1, 0.1), ("home_store_quality", -1, 0.04)):
        quartile = pd.qcut((sign * cohort[trait]).rank(method="first"), 4, labels=False)
        by_quartile = cohort.groupby(quartile)["lapsed"].mean()
        assert by_quartile[3] > by_quartile[0] + margin, (trait, by_quartile.to_dict())
    # tenure: at the same age (six months after signup, or after the start for customers already
    # there), customers acquired during the history have churned more than long-standing ones
    oracle = frames["churn_oracle"].merge(frames["customers"], on="customer_id")
    since = oracle["signup_date"].where(oracle["signup_date"] >= START, START)
    aged = oracle[oracle["snapshot_date"] >= since + pd.Timedelta(days=180)]
    at_six_months = aged.loc[aged.groupby("customer_id")["snapshot_date"].idxmin()]
    newcomer = at_six_months["signup_date"] >= START
    veteran = at_six_months["signup_date"] < START - pd.Timedelta(days=365)
    assert newcomer.sum() > 1000 and veteran.sum() > 1000
    churned = at_six_months["is_churned_latent"]
    assert churned[newcomer].mean() > 1.4 * churned[veteran].mean()


def test_missing_parameter_is_an_error():
    params = dict(SMALL)
    del params["online_share"]
    with pytest.raises(KeyError, match="online_share"):
        simulate_retailer(params)
