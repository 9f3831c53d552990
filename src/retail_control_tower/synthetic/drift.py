"""The drift scenario of the default preset (``synthetic.drift``): behaviour that changes part-way
through the history, for the monitoring pipeline to find."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from retail_control_tower.synthetic.catalogue import REGIONS, StoreNetwork
from retail_control_tower.synthetic.dynamics import ChurnModel

DRIFT_KEYS = ("start_days_before_end", "region", "churn_multiplier", "price_change")


def drift_scenario(params: dict[str, Any], n_days: int, stores: StoreNetwork, model: ChurnModel) -> tuple[ChurnModel, int | None, float]:
    """The churn model, the first day of the price change and its factor under ``params["drift"]``
    (``synthetic.drift``; absent or null = a stable history).

    From ``start_days_before_end`` days before the end of the history, the customers whose home
    store lies in ``region`` (null = every customer) lose interest ``churn_multiplier`` times as
    fast (every hazard of the churn chain), and every price moves by ``price_change`` (0.3 = 30 %
    dearer). The oracle follows the same dynamics, so it stays exact.
    """
    drift = params.get("drift")
    if not drift:
        return model, None, 1.0
    unknown = sorted(set(drift) - set(DRIFT_KEYS))
    if unknown:
        raise ValueError(f"synthetic.drift: unknown settings {unknown}; expected some of {DRIFT_KEYS}")
    start_before = int(drift.get("start_days_before_end") or 0)
    if not 0 < start_before < n_days:
        raise ValueError(f"synthetic.drift.start_days_before_end must lie in 1..{n_days - 1} (the history), got {drift.get('start_days_before_end')!r}")
    multiplier, price_change = float(drift.get("churn_multiplier", 1.0)), float(drift.get("price_change", 0.0))
    if multiplier <= 0 or price_change <= -1:
        raise ValueError(f"synthetic.drift: churn_multiplier must be positive and price_change above -1, got {multiplier}, {price_change}")
    region = drift.get("region")
    affected = None
    if region is not None:
        if region not in (*REGIONS, "national"):
            raise ValueError(f"synthetic.drift.region {region!r} is not a region; expected one of {(*REGIONS, 'national')} or null")
        affected = tuple(i for i, name in enumerate(stores.region) if name == region)
    start = n_days - start_before
    return replace(model, drift_start_day=start, drift_multiplier=multiplier, drift_stores=affected), start, 1.0 + price_change
