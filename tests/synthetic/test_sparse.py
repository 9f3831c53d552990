"""The sparse preset: a one-line online business that supplies only orders and order lines,
whose customers buy a few times a year, with an exact churn oracle."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from retail_control_tower.pipelines.generate.nodes import generate_raw_files
from retail_control_tower.synthetic import simulate_retailer
from retail_control_tower.synthetic.simulation import preset_settings, simulate_retailer_with_traits
from retail_control_tower.synthetic.sparse import SparseModel, sparse_products

from test_simulation import CONTRACT, SMALL, roc_auc

PROJECT = Path(__file__).resolve().parents[2]
SPARSE = {"preset": "sparse", "seed": 11, "customers": 8000, "end_date": "2025-06-30", "churn_window_days": 90}
END = pd.Timestamp(SPARSE["end_date"])
HISTORY_DAYS = SparseModel().history_days
START = END - pd.Timedelta(days=HISTORY_DAYS - 1)
WINDOW = pd.Timedelta(days=SPARSE["churn_window_days"])


@pytest.fixture(scope="module")
def simulated():
    return simulate_retailer_with_traits(dict(SPARSE))


@pytest.fixture(scope="module")
def frames(simulated):
    return simulated[0]


@pytest.fixture(scope="module")
def labelled(frames) -> list[tuple[pd.Timestamp, pd.DataFrame]]:
    """Per month end whose 90-day window lies inside the history: the oracle rows of the customers
    who bought on or before it (the eligible ones), with the realised label 'no purchase in the
    next window' read from the orders."""
    orders = frames["orders"]
    day = orders["order_ts"].dt.normalize()
    out = []
    for t, rows in frames["churn_oracle"].groupby("snapshot_date"):
        if t + WINDOW > END:
            continue
        bought = orders.loc[day <= t, "customer_id"].unique()
        in_window = orders.loc[(day > t) & (day <= t + WINDOW), "customer_id"].unique()
        rows = rows[rows["customer_id"].isin(bought)]
        out.append((t, rows.assign(no_purchase=~rows["customer_id"].isin(in_window))))
    return out


def test_supplies_only_online_orders_and_lines_of_one_product_line(frames, simulated):
    assert list(frames) == ["orders", "order_items", "churn_oracle"]
    for name, frame in frames.items():
        assert list(frame.columns) == list(CONTRACT[name]), name
        for column, kind in CONTRACT[name].items():
            assert frame[column].dtype.kind == kind, (name, column, frame[column].dtype)
    orders, items = frames["orders"], frames["order_items"]
    assert (orders["store_id"] == "ONLINE").all() and (orders["channel"] == "online").all()
    assert orders["order_id"].is_unique and not items.duplicated(["order_id", "line_number"]).any()
    assert set(items["order_id"]) == set(orders["order_id"])
    products = sparse_products(SPARSE).set_index("product_id")
    assert products["category"].nunique() == 1 and len(products) == SparseModel().products
    assert items["product_id"].isin(products.index).all() and items["product_id"].nunique() == len(products)
    assert (items["unit_price"] == items["product_id"].map(products["list_price"])).all()
    assert (items["discount_amount"] == 0).all() and items["promo_code"].isna().all()
    per_order = items.groupby("order_id").agg(first=("line_number", "min"), last=("line_number", "max"),
                                              lines=("line_number", "size"), products=("product_id", "nunique"))
    assert (per_order["first"] == 1).all() and (per_order["last"] == per_order["lines"]).all()
    assert (per_order["products"] == per_order["lines"]).all()  # a product once per order
    assert 1.15 < len(items) / len(orders) < 1.35 and items["quantity"].between(1, 6).all()
    assert orders["order_ts"].min() >= START and orders["order_ts"].max() < END + pd.Timedelta(days=1)
    # every customer's first order is on the day they were acquired
    first = orders.groupby("customer_id")["order_ts"].min().dt.normalize()
    traits = simulated[1].set_index("customer_id")
    assert len(first) == len(traits) and (first == traits.loc[first.index, "signup_date"]).all()


def test_customers_buy_a_few_times_a_year_and_are_acquired_throughout(frames, simulated):
    orders, traits = frames["orders"], simulated[1]
    signup = traits["signup_date"]
    quarters = pd.cut(signup, pd.date_range(START, periods=7, freq=pd.Timedelta(days=HISTORY_DAYS / 6)), right=False)
    assert (signup.groupby(quarters, observed=False).size() / len(signup)).between(0.14, 0.19).all()
    # a year of orders of the customers acquired in the first quarter of the history
    early = traits.loc[signup < START + pd.Timedelta(days=90), "customer_id"]
    year = orders[orders["customer_id"].isin(early) & (orders["order_ts"] < START + pd.Timedelta(days=455))]
    counts = year.groupby("customer_id").size().reindex(early, fill_value=0)
    assert counts.min() >= 1 and counts.median() <= 2 and 1.6 < counts.mean() < 3.2
    assert 0.4 < (counts == 1).mean() < 0.75 and counts.quantile(0.95) >= 5
    assert 0.005 < traits["purchase_rate"].mean() < 0.011  # a few orders a year while alive
    assert traits["purchase_rate"].quantile(0.9) > 10 * traits["purchase_rate"].median()  # Gamma shape 0.243: ~19x


def test_churn_rate_at_ninety_days_is_about_eighty_percent(labelled):
    assert len(labelled) == 15  # 18 months: the month ends whose 90-day window has ended
    pooled = pd.concat([rows for _, rows in labelled])
    assert 0.72 <= pooled["no_purchase"].mean() <= 0.88
    rates = np.array([rows["no_purchase"].mean() for _, rows in labelled if len(rows) >= 500])
    assert len(rates) >= 12 and rates.min() > 0.68 and rates.max() < 0.9


def test_oracle_rows_states_and_absorbing_dropout(frames):
    oracle = frames["churn_oracle"]
    snapshots = pd.DatetimeIndex(sorted(oracle["snapshot_date"].unique()))
    assert snapshots.equals(pd.date_range(START, END, freq="ME"))
    assert set(oracle["state"]) == {"ACTIVE", "CHURNED"}
    assert (oracle["is_churned_latent"] == (oracle["state"] == "CHURNED")).all()
    assert (oracle.loc[oracle["is_churned_latent"], "churn_probability"] == 1.0).all()
    # alive: exp(-rate x window intensity), which rounds to 1.0 for the slowest of Gamma(0.243) rates
    alive = oracle.loc[~oracle["is_churned_latent"], "churn_probability"]
    assert alive.between(0, 1, inclusive="right").all() and (alive < 1).mean() > 0.99
    # every customer who has placed an order by a month end has a row at it, no one else
    first = frames["orders"].groupby("customer_id")["order_ts"].min().dt.normalize()
    for t in snapshots:
        assert set(oracle.loc[oracle["snapshot_date"] == t, "customer_id"]) == set(first.index[first <= t])
    # dropout is for good: no order after the first month end a customer is seen churned at
    first_churned = oracle[oracle["is_churned_latent"]].groupby("customer_id")["snapshot_date"].min()
    last_order = frames["orders"].groupby("customer_id")["order_ts"].max()
    assert (last_order[first_churned.index] < first_churned + pd.Timedelta(days=1)).all()
    # most of the churn is slow buyers who are still alive: a fifth have dropped out by the end
    assert 0.1 < oracle.loc[oracle["snapshot_date"] == snapshots[-1], "is_churned_latent"].mean() < 0.3


def test_oracle_is_calibrated_per_decile_against_the_realised_label(labelled):
    pooled = pd.concat([rows for _, rows in labelled])
    assert abs(pooled["no_purchase"].mean() - pooled["churn_probability"].mean()) < 0.01
    # Within a month end the labels are independent Bernoulli(p) given the latent state, so a
    # decile's realised count minus its expected count, over its standard deviation, is ~N(0, 1).
    z_scores = []
    for t, rows in labelled:
        if len(rows) < 1000:
            continue
        assert abs(rows["no_purchase"].mean() - rows["churn_probability"].mean()) < 0.03, t
        assert roc_auc(rows["churn_probability"].to_numpy(), rows["no_purchase"].to_numpy()) > 0.75, t
        p = rows["churn_probability"]
        decile = pd.qcut(p.rank(method="first"), 10, labels=False)
        grouped = pd.DataFrame({"p": p, "y": rows["no_purchase"], "v": p * (1 - p)}).groupby(decile).sum()
        certain = grouped["v"] == 0  # deciles of churned customers only: p = 1, and none of them bought
        assert (grouped.loc[certain, "y"] == grouped.loc[certain, "p"]).all(), t
        grouped = grouped[grouped["v"] > 5]
        z_scores.extend((grouped["y"] - grouped["p"]) / np.sqrt(grouped["v"]))
    z_scores = np.asarray(z_scores)
    assert len(z_scores) >= 60
    assert np.abs(z_scores).max() < 4.5 and np.mean(z_scores**2) < 2  # 78 cells, correlated over month ends


def test_same_seed_gives_identical_files_and_another_seed_differs(frames):
    again = simulate_retailer(dict(SPARSE))
    assert list(again) == list(frames)
    for name, frame in frames.items():
        pd.testing.assert_frame_equal(again[name], frame, check_exact=True)
        assert again[name].to_csv(index=False) == frame.to_csv(index=False), name
    other = simulate_retailer(dict(SPARSE, seed=12))
    assert not other["orders"].equals(frames["orders"])


def test_the_settings_block_replaces_top_level_keys_and_is_checked():
    params = dict(SMALL, preset="sparse", sparse={"history_days": 300, "products": 2, "acquisition_days": 84})
    settings = preset_settings(params)
    assert (settings["history_days"], settings["products"], settings["customers"], settings["seed"]) == (300, 2, 1500, 7)
    frames, traits = simulate_retailer_with_traits(dict(params, customers=500))
    assert frames["orders"]["order_ts"].min() >= END - pd.Timedelta(days=299)
    assert traits["signup_date"].max() < END - pd.Timedelta(days=299 - 84)  # a 12-week cohort
    assert frames["order_items"]["product_id"].nunique() == 2
    with pytest.raises(ValueError, match="histroy_days"):
        preset_settings(dict(params, sparse={"histroy_days": 300}))
    with pytest.raises(ValueError, match="preset"):
        preset_settings(dict(params, preset="dense"))
    with pytest.raises(KeyError, match="churn_window_days"):
        simulate_retailer({k: v for k, v in SPARSE.items() if k != "churn_window_days"})


def test_default_preset_ignores_the_sparse_block():
    plain = simulate_retailer(dict(SMALL, history_days=120, customers=300, target_order_lines=5000))
    chosen = simulate_retailer(dict(SMALL, history_days=120, customers=300, target_order_lines=5000,
                                    preset="default", sparse={"history_days": 540}))
    assert list(chosen) == list(plain) == list(CONTRACT)
    for name in plain:
        pd.testing.assert_frame_equal(chosen[name], plain[name], check_exact=True)


def test_configured_sparse_settings_are_the_model_defaults():
    config = yaml.safe_load((PROJECT / "conf" / "base" / "parameters_generate.yml").read_text())
    assert config["synthetic"]["preset"] == "default"
    assert config["synthetic"]["sparse"] == dataclasses.asdict(SparseModel())


def test_node_writes_no_optional_files_for_sparse_and_removes_stale_ones(tmp_path):
    for entity in ("customers", "products", "stores", "returns"):
        (tmp_path / f"{entity}.csv").write_text("stale\n")
    (tmp_path / "returns_2024.csv").write_text("a batch file the generator did not write\n")
    params = dict(SPARSE, customers=300, sparse={"history_days": 200})
    out = generate_raw_files(params, str(tmp_path))
    assert set(out) == {"orders", "order_items", "churn_oracle"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["returns_2024.csv"]
    # the default preset writes its four optional files in the catalog's format
    out = generate_raw_files(dict(SMALL, customers=300, history_days=120, target_order_lines=5000), str(tmp_path))
    assert set(out) == {"orders", "order_items", "churn_oracle"}
    for entity in ("customers", "products", "stores", "returns"):
        assert (tmp_path / f"{entity}.csv").read_text().count("\n") > 1
    assert pd.read_csv(tmp_path / "returns.csv")["return_ts"].str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d").all()


def test_kedro_run_with_the_sparse_preset_writes_orders_and_order_items_only(workspace):
    (workspace.raw / "stores.csv").write_text("store_id\nS001\n")  # from an earlier generation
    params = {"synthetic": {"preset": "sparse", "customers": 600, "end_date": "2025-06-30", "sparse": {"history_days": 400}}}
    workspace.run("generate", params=params)
    assert sorted(p.name for p in workspace.raw.iterdir()) == ["order_items.csv", "orders.csv"]
    orders = pd.read_csv(workspace.raw / "orders.csv", parse_dates=["order_ts"])
    assert set(orders["store_id"]) == {"ONLINE"} and orders["order_ts"].min() >= END - pd.Timedelta(days=399)
    oracle = pd.read_parquet(workspace.data / "00_synthetic_truth" / "churn_oracle.parquet")
    assert set(oracle["customer_id"]) == set(orders["customer_id"])
