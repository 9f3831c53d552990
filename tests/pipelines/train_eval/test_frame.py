"""The labelled frame that comes into Python: labelled rows only, bounded by a customer sample."""

from __future__ import annotations

import ibis
import pandas as pd

from retail_control_tower.pipelines.train_eval.nodes import labelled_frame

PARAMS = {
    "feature_sets": {"base": {"numeric": ["RECENCY_DAYS"], "categorical": []}},
    "variants": {"logreg": {"kind": "logistic_regression", "feature_set": "base"}},
    "sample_buckets": 10_000,
}


def _features(customers: int) -> ibis.Table:
    dates = pd.to_datetime(["2026-01-31", "2026-02-28", "2026-03-31"])
    frame = pd.DataFrame(
        [
            {"CUSTOMER_ID": f"C{c}", "SNAPSHOT_DATE": d, "LABEL_WINDOW_END": d + pd.Timedelta(days=90),
             "CHURNED": None if d == dates[-1] else c % 2, "RECENCY_DAYS": float(c)}
            for c in range(customers)
            for d in dates
        ]
    )
    return ibis.memtable(frame).cast({"CHURNED": "int8"})


def test_only_labelled_rows_come_in():
    frame = labelled_frame(_features(50), {**PARAMS, "max_training_rows": None})
    assert len(frame) == 100 and frame.CHURNED.notna().all()
    assert list(frame.columns) == ["CUSTOMER_ID", "SNAPSHOT_DATE", "LABEL_WINDOW_END", "CHURNED", "RECENCY_DAYS"]


def test_beyond_the_limit_a_stable_sample_of_whole_customers_is_kept():
    features = _features(5000)  # 10,000 labelled rows
    frame = labelled_frame(features, {**PARAMS, "max_training_rows": 2000})
    assert 1500 < len(frame) < 2600
    per_customer = frame.groupby("CUSTOMER_ID").size()
    assert (per_customer == 2).all()  # every labelled snapshot of a kept customer
    again = labelled_frame(features, {**PARAMS, "max_training_rows": 2000})
    pd.testing.assert_frame_equal(frame, again)
