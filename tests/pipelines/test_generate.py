"""The generate node: contract files and nothing dated after the moment of generation."""

from __future__ import annotations

from datetime import datetime, timedelta

from retail_control_tower.pipelines.generate.nodes import generate_retail_data

PARAMS = {"seed": 7, "customers": 300, "stores": 4, "products": 40, "history_days": 120, "end_date": None,
          "target_order_lines": 6000, "churn_window_days": 90, "online_share": 0.25}


def test_todays_export_holds_nothing_later_than_now():
    frames = generate_retail_data(PARAMS)
    now = datetime.now()
    assert frames["orders"]["order_ts"].max() <= now
    assert frames["returns"]["return_ts"].max() <= now
    assert set(frames["order_items"]["order_id"]) <= set(frames["orders"]["order_id"])
    assert now - frames["orders"]["order_ts"].max() < timedelta(days=2)  # ... and the history reaches today
    assert set(frames) == {"customers", "products", "stores", "orders", "order_items", "returns", "churn_oracle"}
