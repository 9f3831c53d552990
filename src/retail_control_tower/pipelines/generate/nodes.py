"""Node wrapping the synthetic retailer simulation."""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from retail_control_tower.synthetic import simulate_retailer
from retail_control_tower.synthetic.simulation import preset_settings

logger = logging.getLogger(__name__)

RAW_ENTITIES = ("customers", "products", "stores", "orders", "order_items", "returns")
# Every preset supplies these: the pipeline saves them through the catalog (synthetic_{entity}).
CATALOG_ENTITIES = ("orders", "order_items")
# A preset may not supply these (the sparse one supplies none), and a Kedro node cannot leave an
# output unsaved, so the node writes them itself, in the catalog's format for synthetic_{entity}.
OPTIONAL_ENTITIES = tuple(name for name in RAW_ENTITIES if name not in CATALOG_ENTITIES)
CSV_SAVE_ARGS = {"index": False, "date_format": "%Y-%m-%d %H:%M:%S"}  # = catalog.yml, synthetic_{entity}


def generate_retail_data(params: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """Raw files in the input contract plus the churn oracle; history ends today unless ``end_date`` is set.

    The default preset supplies all six entities; the sparse one orders and order_items only.
    An export made today holds today's sales up to now, not the rest of the day: orders and
    returns later than the generation time are left out (and so are the lines of such orders).
    """
    settings = dict(params)
    settings["end_date"] = str(settings.get("end_date") or date.today().isoformat())
    frames = simulate_retailer(settings)
    now = pd.Timestamp(datetime.now())
    frames["orders"] = frames["orders"][frames["orders"]["order_ts"] <= now]
    frames["order_items"] = frames["order_items"][frames["order_items"]["order_id"].isin(frames["orders"]["order_id"])]
    if "returns" in frames:
        frames["returns"] = frames["returns"][frames["returns"]["return_ts"] <= now]
    return {name: frames[name] for name in (*RAW_ENTITIES, "churn_oracle") if name in frames}


def generate_raw_files(params: dict[str, Any], raw_dir: str) -> dict[str, pd.DataFrame]:
    """The ``generate`` node: writes the preset's optional entity files into ``raw_dir`` and returns
    orders, order_items and the oracle for the catalog to save.

    An optional entity the preset does not supply must not be read beside the new orders, so
    its file from an earlier generation (``<entity>.csv``) is removed.
    """
    frames = generate_retail_data(params)
    folder = Path(raw_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for entity in OPTIONAL_ENTITIES:
        path = folder / f"{entity}.csv"
        if entity in frames:
            frames[entity].to_csv(path, **CSV_SAVE_ARGS)
        elif path.exists():
            path.unlink()
            logger.warning("Removed %s: the %s preset supplies no %s", path, preset_settings(params)["preset"], entity)
    return {name: frames[name] for name in (*CATALOG_ENTITIES, "churn_oracle")}
