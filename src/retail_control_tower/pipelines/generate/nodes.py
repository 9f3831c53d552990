"""Node wrapping the synthetic retailer simulation."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pandas as pd

from retail_control_tower.synthetic import simulate_retailer

RAW_ENTITIES = ("customers", "products", "stores", "orders", "order_items", "returns")


def generate_retail_data(params: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """Raw files in the input contract plus the churn oracle; history ends today unless ``end_date`` is set.

    An export made today holds today's sales up to now, not the rest of the day: orders and
    returns later than the generation time are left out (and so are the lines of such orders).
    """
    settings = dict(params)
    settings["end_date"] = str(settings.get("end_date") or date.today().isoformat())
    frames = simulate_retailer(settings)
    now = pd.Timestamp(datetime.now())
    frames["orders"] = frames["orders"][frames["orders"]["order_ts"] <= now]
    frames["order_items"] = frames["order_items"][frames["order_items"]["order_id"].isin(frames["orders"]["order_id"])]
    frames["returns"] = frames["returns"][frames["returns"]["return_ts"] <= now]
    return {name: frames[name] for name in (*RAW_ENTITIES, "churn_oracle")}
