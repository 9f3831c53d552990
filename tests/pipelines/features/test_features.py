"""Point-in-time features and labels, computed by DuckDB from MODEL-shaped tables."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pytest
import yaml

from retail_control_tower.pipelines.features import nodes
from retail_control_tower.pipelines.model.nodes import dim_date

RUN = {"run_id": "run-1", "env": "test", "started_at": datetime(2026, 11, 26, 10, 0, 0)}
PARAMS = {
    "snapshot_frequency": "month_end",
    "first_snapshot": None,
    "last_snapshot": None,
    "min_history_days": 0,
    "lookback_days": 730,
    "churn_window_days": 90,
    "windows": {"recent_days": 30, "trend_days": 90, "returns_days": 90, "rate_period_days": 30},
}
LABEL_COLUMNS = {"CHURNED", "LABEL_WINDOW_END", "IS_SCORING", "FEATURES_RUN_ID", "COMPUTED_AT"}


@pytest.fixture
def con():
    return ibis.duckdb.connect()


def _events(lines: list[tuple]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Order lines (customer, day, net, channel, promo) and returns (customer, day) as MODEL frames."""
    orders = pd.DataFrame(
        [
            {
                "ORDER_ID": f"O{i}", "LINE_NUMBER": 1, "CUSTOMER_ID": c, "STORE_ID": "S1",
                "PRODUCT_ID": f"P{i % 3}", "ORDER_TS": datetime.combine(d, datetime.min.time()) + timedelta(hours=10),
                "ORDER_DATE": d, "CHANNEL": channel, "QUANTITY": 1, "UNIT_PRICE": net,
                "GROSS_AMOUNT": net, "DISCOUNT_AMOUNT": 1.0 if promo else 0.0, "NET_AMOUNT": net - (1.0 if promo else 0.0),
                "IS_PROMO": promo,
            }
            for i, (c, d, net, channel, promo) in enumerate(lines)
        ]
    )
    return orders


def _tables(con, orders: pd.DataFrame, returns: pd.DataFrame):
    lines = ibis.memtable(orders)
    rets = ibis.memtable(returns).cast({"RETURN_DATE": "date", "RETURN_TS": "timestamp"})
    calendar = dim_date(lines, rets)
    customers = ibis.memtable(
        {
            "CUSTOMER_ID": sorted(orders.CUSTOMER_ID.unique()),
            "SIGNUP_DATE": [date(2024, 1, 1)] * orders.CUSTOMER_ID.nunique(),
            "HOME_STORE_ID": ["S1"] * orders.CUSTOMER_ID.nunique(),
            "LOYALTY_TIER": ["gold"] * orders.CUSTOMER_ID.nunique(),
        }
    )
    products = ibis.memtable({"PRODUCT_ID": ["P0", "P1", "P2"], "CATEGORY": ["a", "b", "a"]})
    return lines, rets, calendar, customers, products


def _features(con, orders: pd.DataFrame, returns: pd.DataFrame, params: dict = PARAMS) -> pd.DataFrame:
    lines, rets, calendar, customers, products = _tables(con, orders, returns)
    snapshots = con.create_table("snapshots", nodes.snapshot_calendar(calendar, lines, params, "dq-1"), overwrite=True)
    features = nodes.customer_features(snapshots, lines, rets, customers, products, params, RUN)
    return con.to_pyarrow(features).to_pandas().sort_values(["SNAPSHOT_DATE", "CUSTOMER_ID"]).reset_index(drop=True)


def _no_returns() -> pd.DataFrame:
    return pd.DataFrame({"CUSTOMER_ID": pd.Series(dtype=str), "RETURN_DATE": pd.Series(dtype="datetime64[ns]"),
                         "RETURN_TS": pd.Series(dtype="datetime64[ns]")})


def _random_history(seed: int, customers: int = 40, start: date = date(2024, 1, 1), days: int = 600):
    rng = np.random.default_rng(seed)
    lines = []
    for c in range(customers):
        rate = rng.uniform(0.005, 0.08)
        for d in np.flatnonzero(rng.random(days) < rate):
            lines.append((f"C{c:02d}", start + timedelta(days=int(d)), float(rng.integers(5, 80)),
                          "online" if rng.random() < 0.3 else "store", bool(rng.random() < 0.2)))
    orders = _events(lines)
    sample = orders.sample(frac=0.1, random_state=seed)
    returns = pd.DataFrame(
        {
            "CUSTOMER_ID": sample.CUSTOMER_ID.to_numpy(),
            "RETURN_DATE": pd.to_datetime(sample.ORDER_DATE) + pd.to_timedelta(rng.integers(1, 20, len(sample)), unit="D"),
        }
    )
    returns["RETURN_TS"] = returns.RETURN_DATE
    return orders, returns


def test_changing_data_after_t_never_changes_a_feature_at_t(con):
    orders, returns = _random_history(seed=7)
    cutoff = pd.Timestamp("2024-12-31")
    before = _features(con, orders, returns)
    # Rewrite history after the cutoff: drop half the later orders, double the rest's amounts,
    # add new customers and orders, and move every later return.
    rng = np.random.default_rng(1)
    later = pd.to_datetime(orders.ORDER_DATE) > cutoff
    kept = orders[~later | (rng.random(len(orders)) < 0.5)].copy()
    kept.loc[pd.to_datetime(kept.ORDER_DATE) > cutoff, "NET_AMOUNT"] *= 2
    extra, _ = _random_history(seed=99, customers=10, start=date(2025, 1, 1), days=200)
    extra["ORDER_ID"] = "X" + extra.ORDER_ID
    changed_returns = returns.copy()
    late = changed_returns.RETURN_DATE > cutoff
    changed_returns.loc[late, "RETURN_DATE"] += pd.Timedelta(days=3)
    changed_returns["RETURN_TS"] = changed_returns.RETURN_DATE
    after = _features(con, pd.concat([kept, extra], ignore_index=True), changed_returns)

    feature_columns = [c for c in before.columns if c not in LABEL_COLUMNS]
    old = before[pd.to_datetime(before.SNAPSHOT_DATE) <= cutoff][feature_columns]
    new = after[pd.to_datetime(after.SNAPSHOT_DATE) <= cutoff][feature_columns]
    assert len(old) > 200  # many customer snapshots are compared
    pd.testing.assert_frame_equal(old.reset_index(drop=True), new.reset_index(drop=True))
    # ... while later snapshots did change, so the comparison could have failed
    assert not before[pd.to_datetime(before.SNAPSHOT_DATE) > cutoff].reset_index(drop=True)[feature_columns].equals(
        after[pd.to_datetime(after.SNAPSHOT_DATE) > cutoff].reset_index(drop=True)[feature_columns]
    )


def test_label_window_edges_and_eligibility(con):
    t = date(2024, 3, 31)
    lines = [
        ("ON_T", t, 10.0, "store", False),                     # bought on t: a feature, not a label
        ("AT_END", date(2024, 1, 5), 10.0, "store", False),
        ("AT_END", t + timedelta(days=90), 10.0, "store", False),  # last day of the window: not churned
        ("AFTER_END", date(2024, 1, 5), 10.0, "store", False),
        ("AFTER_END", t + timedelta(days=91), 10.0, "store", False),  # one day late: churned
        ("FIRST_DAY_AFTER", date(2024, 2, 1), 10.0, "store", False),
        ("FIRST_DAY_AFTER", t + timedelta(days=1), 10.0, "store", False),  # first day of the window
        ("NEWCOMER", t + timedelta(days=5), 10.0, "store", False),  # not a customer yet at t
        ("LAST", date(2024, 9, 30), 10.0, "store", False),  # stretches the data to 2024-09-30
    ]
    features = _features(con, _events(lines), _no_returns())
    at_t = features[pd.to_datetime(features.SNAPSHOT_DATE) == pd.Timestamp(t)].set_index("CUSTOMER_ID")
    assert set(at_t.index) == {"ON_T", "AT_END", "AFTER_END", "FIRST_DAY_AFTER"}
    assert at_t.loc["ON_T", "RECENCY_DAYS"] == 0 and at_t.loc["ON_T", "CHURNED"] == 1
    assert at_t.loc["AT_END", "CHURNED"] == 0
    assert at_t.loc["AFTER_END", "CHURNED"] == 1
    assert at_t.loc["FIRST_DAY_AFTER", "CHURNED"] == 0
    assert at_t.loc["AT_END", "RECENCY_DAYS"] == (t - date(2024, 1, 5)).days
    assert at_t.loc["AT_END", "FREQUENCY"] == 1
    # a window not yet fully observed has no label: 2024-07-31 + 90 days is after 2024-09-30
    open_window = features[pd.to_datetime(features.SNAPSHOT_DATE) == pd.Timestamp("2024-07-31")]
    assert open_window.CHURNED.isna().all() and len(open_window) > 0
    # 2024-06-30 + 90 days = 2024-09-28 <= 2024-09-30: labelled
    assert features[pd.to_datetime(features.SNAPSHOT_DATE) == pd.Timestamp("2024-06-30")].CHURNED.notna().all()
    # the latest data date is the scoring snapshot
    scoring = features[features.IS_SCORING]
    assert set(pd.to_datetime(scoring.SNAPSHOT_DATE)) == {pd.Timestamp("2024-09-30")}


def test_feature_values_on_a_hand_built_history(con):
    lines = [
        ("C1", date(2024, 1, 10), 20.0, "store", False),
        ("C1", date(2024, 2, 9), 30.0, "online", True),   # 30 days later, promo line
        ("C1", date(2024, 3, 20), 50.0, "store", False),  # 40 days later
        ("C2", date(2024, 9, 30), 5.0, "store", False),
    ]
    returns = pd.DataFrame({"CUSTOMER_ID": ["C1"], "RETURN_DATE": [pd.Timestamp("2024-03-25")]})
    returns["RETURN_TS"] = returns.RETURN_DATE
    features = _features(con, _events(lines), returns)
    row = features[(features.CUSTOMER_ID == "C1") & (pd.to_datetime(features.SNAPSHOT_DATE) == pd.Timestamp("2024-03-31"))].iloc[0]
    assert row.RECENCY_DAYS == 11 and row.FREQUENCY == 3 and row.TENURE_DAYS == 81
    assert row.MONETARY == pytest.approx(20 + 29 + 50)
    assert row.GAP_MEAN_DAYS == pytest.approx(35) and row.GAP_MAX_DAYS == 40 and row.LAST_GAP_DAYS == 40
    assert row.ORDERS_30 == 1 and row.ORDERS_90 == 3
    assert row.ONLINE_ORDER_SHARE == pytest.approx(1 / 3) and row.PROMO_LINE_SHARE == pytest.approx(1 / 3)
    assert row.DISCOUNT_SHARE == pytest.approx(1 / 100)
    assert row.RETURN_RATE == pytest.approx(1 / 3) and row.DAYS_SINCE_LAST_RETURN == 6 and row.RETURN_LINES_90 == 1
    assert row.LIFETIME_ORDERS == 3 and row.CATEGORY_BREADTH == 2
    # the return on 2024-03-25 is not visible at the end of February
    feb = features[(features.CUSTOMER_ID == "C1") & (pd.to_datetime(features.SNAPSHOT_DATE) == pd.Timestamp("2024-02-29"))].iloc[0]
    assert feb.RETURN_LINES_90 == 0 and np.isnan(feb.DAYS_SINCE_LAST_RETURN) and feb.FREQUENCY == 2


def test_week_end_snapshots_and_a_bad_frequency(con):
    orders = _events([("C1", date(2024, 1, 1), 10.0, "store", False), ("C1", date(2024, 2, 14), 10.0, "store", False)])
    lines, rets, calendar, _, _ = _tables(con, orders, _no_returns())
    weekly = con.to_pyarrow(nodes.snapshot_calendar(calendar, lines, {**PARAMS, "snapshot_frequency": "week_end"}, "dq")).to_pandas()
    days = pd.to_datetime(weekly.SNAPSHOT_DATE)
    assert (days[~weekly.IS_SCORING].dt.dayofweek == 6).all() and len(weekly) == 7
    with pytest.raises(ValueError, match="snapshot_frequency"):
        nodes.snapshot_calendar(calendar, lines, {**PARAMS, "snapshot_frequency": "daily"}, "dq")


# ML.CUSTOMER_FEATURES with the default windows: the columns downstream tools and models know.
DEFAULT_COLUMNS = [
    "CUSTOMER_ID", "SNAPSHOT_DATE", "IS_SCORING", "RECENCY_DAYS", "FREQUENCY", "MONETARY", "TENURE_DAYS",
    "PURCHASE_DAYS", "ORDERS_30", "ORDERS_90", "ORDERS_PRIOR_90", "ORDER_RATE_30D", "TREND_30_VS_RATE",
    "TREND_90_VS_PRIOR", "NET_TREND_90_VS_PRIOR", "GAP_MEAN_DAYS", "GAP_STD_DAYS", "GAP_MAX_DAYS", "OVERDUE_RATIO",
    "LAST_GAP_DAYS", "LIFETIME_ORDERS", "LIFETIME_NET", "LIFETIME_RATE_30D", "RATE_BEFORE_90D", "EXPECTED_ORDERS_MISSED",
    "AVG_ORDER_VALUE", "LINES_PER_ORDER", "UNITS_PER_ORDER", "DISCOUNT_SHARE", "PROMO_LINE_SHARE", "ONLINE_ORDER_SHARE",
    "CATEGORY_BREADTH", "RETURN_RATE", "RETURN_LINES_90", "DAYS_SINCE_LAST_RETURN", "SIGNUP_TENURE_DAYS", "LOYALTY_TIER",
    "HOME_STORE_ID", "LABEL_WINDOW_END", "CHURNED", "FEATURES_RUN_ID", "COMPUTED_AT",
]
CONF = Path(__file__).resolve().parents[3] / "conf" / "base"


def _hand_built() -> tuple[pd.DataFrame, pd.DataFrame]:
    lines = [
        ("C1", date(2024, 1, 10), 20.0, "store", False),
        ("C1", date(2024, 2, 9), 30.0, "online", True),
        ("C1", date(2024, 3, 20), 50.0, "store", False),
        ("C2", date(2024, 9, 30), 5.0, "store", False),
    ]
    returns = pd.DataFrame({"CUSTOMER_ID": ["C1"], "RETURN_DATE": [pd.Timestamp("2024-03-25")]})
    returns["RETURN_TS"] = returns.RETURN_DATE
    return _events(lines), returns


def test_the_configured_windows_are_the_default_columns_and_train_eval_names_them():
    configured = yaml.safe_load((CONF / "parameters_features.yml").read_text())["features"]
    assert configured["windows"] == PARAMS["windows"]
    features = _features(ibis.duckdb.connect(), *_hand_built(), params={**PARAMS, **configured, "min_history_days": 0})
    assert list(features.columns) == DEFAULT_COLUMNS
    ext = yaml.safe_load((CONF / "parameters_train_eval.yml").read_text())["train_eval"]["feature_sets"]["ext"]["numeric"]
    assert set(nodes.window_columns(configured["windows"]).values()) <= set(ext)


def test_other_windows_rename_their_columns_and_count_over_them(con):
    windows = {"recent_days": 14, "trend_days": 60, "returns_days": 30, "rate_period_days": 7}
    features = _features(con, *_hand_built(), params={**PARAMS, "windows": windows})
    names = set(nodes.window_columns(windows).values())
    assert names <= set(features.columns) and not names & set(nodes.window_columns(PARAMS["windows"]).values())
    assert len(features.columns) == len(DEFAULT_COLUMNS)
    row = features[(features.CUSTOMER_ID == "C1") & (pd.to_datetime(features.SNAPSHOT_DATE) == pd.Timestamp("2024-03-31"))].iloc[0]
    # orders 81, 51 and 11 days before the snapshot, first purchase 81 days before; a return 6 days before
    assert (row.ORDERS_14, row.ORDERS_60, row.ORDERS_PRIOR_60, row.RETURN_LINES_30) == (1, 2, 1, 1)
    assert row.ORDER_RATE_7D == pytest.approx(3 * 7 / 82) and row.LIFETIME_RATE_7D == pytest.approx(3 * 7 / 82)
    assert row.TREND_14_VS_RATE == pytest.approx(1 / (3 * 14 / 82))  # 1 order in 14 days where 3 * 14 / 82 were expected
    assert row.TREND_60_VS_PRIOR == pytest.approx((2 + 1) / (1 + 1))
    assert row.NET_TREND_60_VS_PRIOR == pytest.approx((29 + 50 + 1) / (20 + 1))
    assert row.RATE_BEFORE_60D == pytest.approx(1 * 7 / (82 - 60))
    assert row.EXPECTED_ORDERS_MISSED == pytest.approx(11 * (3 * 7 / 82) / 7)


@pytest.mark.parametrize(
    ("windows", "message"),
    [
        ({"recent_days": 90, "trend_days": 90, "returns_days": 90, "rate_period_days": 30}, "shorter than trend_days"),
        ({"recent_days": 30, "trend_days": 400, "returns_days": 90, "rate_period_days": 30}, "beyond lookback_days"),
        ({"recent_days": 30, "trend_days": 90, "returns_days": 900, "rate_period_days": 30}, "beyond lookback_days"),
        ({"recent_days": 30, "trend_days": 90, "returns_days": 90, "rate_period_days": 0}, "whole numbers"),
        ({"recent_days": 30.5, "trend_days": 90, "returns_days": 90, "rate_period_days": 30}, "whole numbers"),
        ({"recent_days": 30, "trend_days": 90, "returns_days": 90}, "lacks"),
    ],
)
def test_windows_that_would_make_a_name_lie_are_refused(con, windows, message):
    with pytest.raises(ValueError, match=message):
        _features(con, *_hand_built(), params={**PARAMS, "windows": windows})
