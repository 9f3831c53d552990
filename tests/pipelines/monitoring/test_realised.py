"""Realised performance on a hand-made history in a real DuckDB file: labels from the orders after
each score date, only elapsed windows, live scores before backfilled ones, each key once, and
the holdout value as EXPECTED."""

from __future__ import annotations

from datetime import date, datetime

import ibis
import pandas as pd
import pytest

from retail_control_tower.ml import tables
from retail_control_tower.pipelines.monitoring.realised import labelled_scores, realised_performance

RUN = {"run_id": "run-2", "started_at": datetime(2026, 11, 29, 10, 0)}


def _scores(day: str, probabilities: dict[str, float], version: str = "1", variant: str = "logreg") -> pd.DataFrame:
    return pd.DataFrame({
        "CUSTOMER_ID": list(probabilities), "SCORE_DATE": pd.Timestamp(day), "CHURN_PROBABILITY": list(probabilities.values()),
        "DECILE": 1, "RISK_BAND": "high", "MODEL_NAME": "retail_churn" if variant != "legacy_rfm" else "legacy_rfm",
        "MODEL_VERSION": version if variant != "legacy_rfm" else "rule", "VARIANT": variant, "RUN_ID": "run-1",
        "SCORED_AT": pd.Timestamp("2026-11-01"),
    })


@pytest.fixture
def warehouse(tmp_path):
    con = ibis.duckdb.connect(str(tmp_path / "w.duckdb"))
    # C1 buys again 10 days after 2026-06-30, C2 only after the 30-day window, C3 never, C4 buys 5 days after 2026-07-31
    orders = pd.DataFrame({
        "CUSTOMER_ID": ["C1", "C2", "C4", "C1"],
        "ORDER_DATE": pd.to_datetime(["2026-07-10", "2026-08-15", "2026-08-05", "2026-06-01"]).date,
    })
    con.create_table("ORDERS", orders)
    snapshots = pd.DataFrame({
        "SNAPSHOT_DATE": pd.to_datetime(["2026-06-30", "2026-07-31", "2026-08-31"]).date,
        "LABEL_WINDOW_END": pd.to_datetime(["2026-07-30", "2026-08-30", "2026-09-30"]).date,
        "DATA_DATE": date(2026, 9, 10),
    })
    con.create_table("SNAPSHOTS", snapshots)
    live = pd.concat([
        _scores("2026-06-30", {"C1": 0.2, "C2": 0.7, "C3": 0.9}),
        _scores("2026-08-31", {"C1": 0.5, "C2": 0.5}),  # window still open on 2026-09-10
    ])
    con.create_table("SCORES", tables.as_table(live, tables.CUSTOMER_CHURN_SCORE).to_pyarrow())
    con.create_table("LEGACY", tables.as_table(_scores("2026-06-30", {"C1": 0.5, "C2": 0.5, "C3": 0.75}, variant="legacy_rfm"), tables.CUSTOMER_CHURN_SCORE).to_pyarrow())
    backfill = pd.concat([
        _scores("2026-06-30", {"C1": 0.99, "C2": 0.01, "C3": 0.5}),  # the live scores of this date win
        _scores("2026-07-31", {"C1": 0.6, "C3": 0.8, "C4": 0.3}),
    ])
    con.create_table("BACKFILL", tables.as_table(backfill, tables.CUSTOMER_CHURN_SCORE).to_pyarrow())
    metrics = pd.DataFrame({
        "RUN_ID": "t", "MODEL_NAME": ["retail_churn", "retail_churn", None], "MODEL_VERSION": ["1", "1", None],
        "VARIANT": ["logreg", "logreg", "legacy_rfm"], "SPLIT": "holdout", "VALIDATION_DATE": date(2026, 6, 30),
        "METRIC": ["roc_auc", "ece", "roc_auc"], "VALUE": [0.9, 0.05, 0.7], "COMPUTED_AT": datetime(2026, 10, 1),
    })
    con.create_table("METRICS", metrics)
    return con


def test_labels_come_from_the_orders_in_each_elapsed_window(warehouse):
    con = warehouse
    labelled = labelled_scores(con.table("SCORES"), con.table("ORDERS"), con.table("SNAPSHOTS"), None).to_pandas()
    assert sorted(zip(labelled.CUSTOMER_ID, labelled.CHURNED)) == [("C1", 0), ("C2", 1), ("C3", 1)]
    assert set(pd.to_datetime(labelled.SCORE_DATE)) == {pd.Timestamp("2026-06-30")}  # 2026-08-31's window is open


def test_realised_rows_per_date_and_model_with_the_holdout_as_expected(warehouse):
    con = warehouse
    args = [con.table(t) for t in ("SCORES", "LEGACY", "BACKFILL", "ORDERS", "SNAPSHOTS", "METRICS")]
    first = realised_performance(*args, None, None, RUN).to_pandas()
    assert list(first.columns) == list(tables.MODEL_PERFORMANCE_REALISED.names)
    keys = set(zip(first.SCORE_DATE.astype(str), first.VARIANT))
    assert keys == {("2026-06-30", "logreg"), ("2026-06-30", "legacy_rfm"), ("2026-07-31", "logreg")}
    june = first[(first.VARIANT == "logreg") & (first.SCORE_DATE == pd.Timestamp("2026-06-30"))].set_index("METRIC")
    # the live scores (C1 0.2 bought, C2 0.7 and C3 0.9 churned) rank perfectly; the backfill's would not
    assert june.at["roc_auc", "VALUE"] == 1.0 and (june.at["roc_auc", "N"], june.at["roc_auc", "EVENTS"]) == (3, 2)
    assert june.at["roc_auc", "EXPECTED"] == 0.9 and june.at["ece", "EXPECTED"] == 0.05
    assert june.at["brier", "VALUE"] == pytest.approx((0.2**2 + 0.3**2 + 0.1**2) / 3)
    assert first[first.VARIANT == "legacy_rfm"].EXPECTED.isna().all()  # no model version: nothing promised
    july = first[first.SCORE_DATE == pd.Timestamp("2026-07-31")]
    assert set(july.N) == {3} and set(july.EVENTS) == {2}  # C1 and C3 churned, C4 bought
    # a second run adds nothing for the keys already there
    con.create_table("DONE", tables.as_table(first, tables.MODEL_PERFORMANCE_REALISED).to_pyarrow())
    assert realised_performance(*args, con.table("DONE"), None, RUN).to_pandas().empty


def test_the_oracle_is_measured_where_it_covers_every_scored_customer(warehouse):
    con = warehouse
    args = [con.table(t) for t in ("SCORES", "LEGACY", "BACKFILL", "ORDERS", "SNAPSHOTS", "METRICS")]
    oracle = pd.DataFrame({
        "customer_id": ["C1", "C2", "C3", "C1", "C3"],
        "snapshot_date": pd.to_datetime(["2026-06-30"] * 3 + ["2026-07-31"] * 2),
        "churn_probability": [0.1, 0.8, 0.9, 0.5, 0.5],
    })
    rows = realised_performance(*args, None, oracle, RUN).to_pandas()
    measured = rows[rows.VARIANT == "oracle"]
    assert set(measured.SCORE_DATE.astype(str)) == {"2026-06-30"}  # C4 has no oracle on 2026-07-31
    assert set(measured.MODEL_NAME) == {"synthetic_oracle"} and len(measured) == 5


def test_backfill_dates_default_to_the_labelled_snapshots_after_the_training_window():
    from retail_control_tower.ml.publication import RegisteredModel
    from retail_control_tower.pipelines.monitoring.realised import backfill_dates

    snapshots = pd.to_datetime(["2026-03-31", "2026-04-30", "2026-05-31", "2026-06-30", "2026-07-31"]).date
    features = ibis.memtable(pd.DataFrame({
        "CUSTOMER_ID": "C1", "SNAPSHOT_DATE": snapshots, "CHURNED": pd.array([0, 1, 0, 1, None], dtype="Int8"),
    }))
    registry = ibis.memtable(pd.DataFrame({
        "MODEL_NAME": ["retail_churn", "retail_churn"], "MODEL_VERSION": ["1", "2"],
        "TRAINING_WINDOW": ["2025-01-31..2026-03-31", "2025-01-31..2026-04-30"],
    }))
    champion = RegisteredModel(model_name="retail_churn", version="2", variant="logreg", mlflow_run_id=None, model=None)
    assert backfill_dates(features, registry, champion, {"dates": None, "max_dates": 24}) == [date(2026, 5, 31), date(2026, 6, 30)]
    assert backfill_dates(features, registry, champion, {"dates": None, "max_dates": 1}) == [date(2026, 6, 30)]
    assert backfill_dates(features, registry, champion, {"dates": [date(2026, 3, 31), "2026-07-31"]}) == [date(2026, 3, 31), date(2026, 7, 31)]
    with pytest.raises(ValueError, match=r"\['2026-02-28'\] are not snapshot dates"):
        backfill_dates(features, registry, champion, {"dates": ["2026-02-28"]})
    assert backfill_dates(features, None, champion, {"dates": None}) == []  # no window to be after
