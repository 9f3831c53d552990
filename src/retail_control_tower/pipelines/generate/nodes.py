"""Node wrapping the synthetic retailer simulation."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from retail_control_tower.synthetic import simulate_retailer

RAW_ENTITIES = ("customers", "products", "stores", "orders", "order_items", "returns")


def generate_retail_data(params: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """Raw files in the input contract plus the churn oracle; history ends today unless ``end_date`` is set."""
    settings = dict(params)
    settings["end_date"] = str(settings.get("end_date") or date.today().isoformat())
    frames = simulate_retailer(settings)
    return {name: frames[name] for name in (*RAW_ENTITIES, "churn_oracle")}
