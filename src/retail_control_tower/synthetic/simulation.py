"""A deterministic, vectorised simulator of a retailer: customers, stores, products, orders,
order lines, returns, and the churn oracle (each customer's exact probability of making no
purchase in the next ``churn_window_days`` at every month end).

The day loop moves every acquired customer's latent churn state, draws who buys, and generates
that day's orders, lines and returns as numpy chunks; nothing loops over customers in Python.

Two presets, chosen by ``params["preset"]``: ``default`` (this module, a store chain) and
``sparse`` (:mod:`retail_control_tower.synthetic.sparse`, a one-line mail-order history).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from retail_control_tower.synthetic.catalogue import (
    CATEGORIES,
    CATEGORY_RETURN_FACTOR,
    DISCOUNT_LEVELS,
    REASON_BY_CATEGORY,
    RETURN_REASONS,
    TIERS,
    Calendar,
    Catalogue,
    Population,
    ProductSampler,
    StoreNetwork,
    build_calendar,
    build_catalogue,
    build_population,
    build_stores,
)
from retail_control_tower.synthetic.drift import drift_scenario
from retail_control_tower.synthetic.dynamics import (
    ACTIVE,
    AT_RISK,
    CHURNED,
    INITIAL_AT_RISK_SHARE,
    RING,
    STATE_NAMES,
    ChurnModel,
    calibrate_rate_scale,
    daily_dynamics,
    make_drivers,
    no_purchase_probability,
    purchase_probability,
    step_states,
)

logger = logging.getLogger(__name__)

REQUIRED_PARAMS = (
    "seed", "customers", "stores", "products", "history_days", "end_date",
    "target_order_lines", "churn_window_days", "online_share",
)
PRESETS = ("default", "sparse")
STORE_HOURS = np.array([0] * 8 + [2, 4, 6, 8, 9, 8, 7, 7, 8, 9, 8, 6, 3, 0, 0, 0], dtype=float)
ONLINE_HOURS = np.array([2, 1, 0.6, 0.4, 0.4, 0.6, 1.5, 3, 4, 5, 5, 5.5, 6, 5.5, 5, 5, 5.5, 6.5, 8, 9, 9.5, 8, 6, 3.5])
QUANTITY_P = np.array([0.8, 0.12, 0.05, 0.03])
SAME_STORE_SHARE = 0.9  # in-store orders at the customer's local store
PROMO_SEEKING_SLOPE = 1.3  # P(a line is chosen among promoted products) = 1.3 * reliance - 0.05


@dataclass
class Context:
    pop: Population
    stores: StoreNetwork
    cat: Catalogue
    cal: Calendar
    n_days: int
    everything: ProductSampler
    promo_samplers: dict
    price_from_day: int | None = None  # the drift scenario's price change applies from this day
    price_factor: float = 1.0


def _promo_sampler(ctx: Context, period: int) -> ProductSampler:
    if period not in ctx.promo_samplers:
        idx = np.flatnonzero(ctx.cal.period_on_promo[period])
        ctx.promo_samplers = {period: ProductSampler.build(ctx.cat.category, ctx.cat.popularity, idx)}
    return ctx.promo_samplers[period]


def _day_orders(
    rng: np.random.Generator, ctx: Context, d: int, buyers: np.ndarray, ring: np.ndarray, out: Columns, offset: int
) -> int:
    """Orders, lines and returns of ``buyers`` on day ``d`` into ``out``; ``offset`` = orders so far."""
    pop, cal, nb = ctx.pop, ctx.cal, len(buyers)
    pref = pop.online_pref[buyers]
    online_w = pref * cal.week_online[d]
    online = rng.random(nb) < online_w / (online_w + (1.0 - pref) * cal.week_store[d])
    elsewhere = rng.choice(ctx.stores.n_physical, size=nb, p=ctx.stores.size)
    local = np.where(rng.random(nb) < SAME_STORE_SHARE, pop.local_store[buyers], elsewhere)
    store = np.where(online, ctx.stores.n_physical, local)
    hour = np.where(online, rng.choice(24, size=nb, p=ONLINE_HOURS / ONLINE_HOURS.sum()),
                    rng.choice(24, size=nb, p=STORE_HOURS / STORE_HOURS.sum()))
    secs = hour * 3600 + rng.integers(0, 3600, nb)
    first = np.argsort(secs, kind="stable")
    buyers, online, store, secs = buyers[first], online[first], store[first], secs[first]

    n_lines = 1 + rng.poisson(1.5, nb)
    line_order = np.repeat(np.arange(nb), n_lines)
    n_total = len(line_order)
    line_number = np.arange(n_total) - np.repeat(np.cumsum(n_lines) - n_lines, n_lines) + 1
    cust = buyers[line_order]
    cat = np.minimum((rng.random(n_total)[:, None] > pop.category_cum[cust]).sum(axis=1), len(CATEGORIES) - 1)
    period = int(cal.period[d])
    promo = _promo_sampler(ctx, period)
    # promo seekers take a promoted product of the category, or any promoted product if it has none
    wants_promo = (rng.random(n_total) < PROMO_SEEKING_SLOPE * pop.reliance[cust] - 0.05) & (len(promo.product) > 0)
    u = rng.random(n_total)
    product = np.where(
        wants_promo,
        np.where(promo.has_category[cat], promo.draw(cat, u), promo.draw_any(u)),
        ctx.everything.draw(cat, u),
    )
    cat = ctx.cat.category[product].astype(np.int64)
    quantity = rng.choice(4, size=n_total, p=QUANTITY_P) + 1
    on_promo = cal.period_on_promo[period, product]
    level = cal.period_discount[period, product].astype(np.int64)
    unit_cents = ctx.cat.list_cents[product]
    if ctx.price_from_day is not None and d >= ctx.price_from_day:
        unit_cents = np.rint(unit_cents * ctx.price_factor).astype(np.int64)
    gross = quantity * unit_cents
    discount = np.where(on_promo, (gross * DISCOUNT_LEVELS[level] + 50) // 100, 0)
    promo_code = np.where(on_promo, period * len(DISCOUNT_LEVELS) + level, -1)

    p_return = np.minimum(pop.return_propensity[cust] * CATEGORY_RETURN_FACTOR[cat], 0.95)
    returned = np.flatnonzero(rng.random(n_total) < p_return)
    delay = np.minimum(rng.geometric(0.12, len(returned)), 30)
    np.add.at(ring, (cust[returned], (d + delay) % RING), 1)
    qty = quantity[returned]
    partial = (qty > 1) & (rng.random(len(returned)) < 0.25)
    ret_qty = np.where(partial, 1 + (rng.random(len(returned)) * (qty - 1)).astype(np.int64), qty)
    reason_cum = np.cumsum(REASON_BY_CATEGORY / REASON_BY_CATEGORY.sum(axis=1, keepdims=True), axis=1)
    reason = (rng.random(len(returned))[:, None] > reason_cum[cat[returned]]).sum(axis=1)
    ret_secs = rng.integers(9 * 3600, 20 * 3600, len(returned))
    seen = d + delay < ctx.n_days  # returns after the end of the history have not happened yet
    net = gross[returned] - discount[returned]
    out.add(
        o_day=np.full(nb, d, np.int16), o_secs=secs.astype(np.int32), o_cust=buyers.astype(np.int32),
        o_store=store.astype(np.int32), o_online=online,
        l_order=(line_order + offset).astype(np.int64), l_number=line_number.astype(np.int16),
        l_product=product.astype(np.int32), l_quantity=quantity.astype(np.int8),
        l_price=(gross // quantity).astype(np.int32), l_discount=discount.astype(np.int32),
        l_promo=promo_code.astype(np.int32),
        r_order=(line_order[returned] + offset)[seen].astype(np.int64), r_number=line_number[returned][seen].astype(np.int16),
        r_day=(d + delay)[seen].astype(np.int16), r_secs=ret_secs[seen].astype(np.int32),
        r_quantity=ret_qty[seen].astype(np.int8), r_refund=(net * ret_qty // qty)[seen].astype(np.int32),
        r_reason=reason[seen].astype(np.int8),
    )
    return nb


class Columns:
    """Per-day chunks of each output column; ``pop`` concatenates one column and frees its chunks."""

    def __init__(self) -> None:
        self.parts: dict[str, list[np.ndarray]] = {}

    def add(self, **arrays: np.ndarray) -> None:
        for name, arr in arrays.items():
            self.parts.setdefault(name, []).append(arr)

    def pop(self, name: str, dtype=np.int64) -> np.ndarray:
        parts = self.parts.pop(name, [])
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def _ids(prefix: str, n: int, width: int) -> np.ndarray:
    digits = np.strings.zfill(np.arange(1, n + 1).astype(np.dtypes.StringDType()), max(width, len(str(n))))
    return np.strings.add(prefix, digits).astype(object)


def _timestamps(start: np.datetime64, day: np.ndarray, secs: np.ndarray) -> np.ndarray:
    return (start + day.astype("timedelta64[D]")).astype("datetime64[s]") + secs.astype("timedelta64[s]")


def _as_ns(values: np.ndarray) -> np.ndarray:
    return values.astype("datetime64[ns]")


def preset_settings(params: dict[str, Any]) -> dict[str, Any]:
    """The flat settings of the preset ``params["preset"]`` selects (``default`` when absent).

    ``default`` reads the top-level keys. ``sparse`` reads them too, except that the keys of the
    nested ``sparse`` block replace the top-level ones of the same name (so its history length
    is ``sparse.history_days``, while ``seed``, ``customers``, ``end_date`` and
    ``churn_window_days`` are shared). The nested blocks themselves are dropped.
    """
    preset = params.get("preset") or "default"
    if preset not in PRESETS:
        raise ValueError(f"simulate_retailer: unknown preset {preset!r}; expected one of {PRESETS}")
    settings = {key: value for key, value in params.items() if key not in PRESETS}
    if preset == "sparse":
        from retail_control_tower.synthetic.sparse import REQUIRED_PARAMS as SHARED, SPARSE_KEYS  # it imports this module

        block = dict(params.get("sparse") or {})
        unknown = sorted(set(block) - set(SPARSE_KEYS) - set(SHARED))
        if unknown:
            raise ValueError(f"simulate_retailer: unknown sparse settings {unknown}; expected some of {SPARSE_KEYS}")
        settings.update(block)
    settings["preset"] = preset
    return settings


def simulate_retailer(params: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """Simulate a retailer from ``params``; same params give byte-identical frames.

    ``params`` of the default preset: seed, customers, stores, products, history_days, end_date
    (ISO, last day of the history), target_order_lines, churn_window_days, online_share. Returns
    the frames customers, products, stores, orders, order_items, returns and churn_oracle. With
    ``preset: sparse`` (see :func:`preset_settings`), only orders, order_items and churn_oracle.
    """
    return simulate_retailer_with_traits(params)[0]


def simulate_retailer_with_traits(params: dict[str, Any]) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """:func:`simulate_retailer` plus each customer's latent traits (for evaluation and tests)."""
    params = preset_settings(params)
    if params["preset"] == "sparse":
        from retail_control_tower.synthetic.sparse import simulate_sparse_with_traits  # it imports this module

        return simulate_sparse_with_traits(params)
    missing = [k for k in REQUIRED_PARAMS if k not in params]
    if missing:
        raise KeyError(f"simulate_retailer: missing params {missing}")
    rng = np.random.default_rng(int(params["seed"]))
    n_days, window = int(params["history_days"]), int(params["churn_window_days"])
    if n_days < 1 or int(params["customers"]) < 1 or int(params["products"]) < 1:
        raise ValueError("simulate_retailer: history_days, customers and products must be positive")
    end = np.datetime64(str(params["end_date"])[:10], "D")
    start = end - np.timedelta64(n_days - 1, "D")

    cat = build_catalogue(rng, int(params["products"]))
    stores = build_stores(rng, int(params["stores"]))
    model, price_from_day, price_factor = drift_scenario(params, n_days, stores, ChurnModel())
    pop = build_population(rng, int(params["customers"]), n_days, float(params["online_share"]), stores)
    cal = build_calendar(rng, start, n_days + window + 1, len(cat.category))
    # Rates are calibrated on the stable history, so a drift leaves every day before it unchanged.
    scale = calibrate_rate_scale(pop, stores, n_days, float(params["target_order_lines"]), cal, ChurnModel())
    drivers = make_drivers(pop, stores, model, scale)
    everything = ProductSampler.build(cat.category, cat.popularity, np.arange(len(cat.category)))
    ctx = Context(pop, stores, cat, cal, n_days, everything, {}, price_from_day, price_factor)

    n_customers = len(pop.signup_day)
    state = np.full(n_customers, ACTIVE, dtype=np.int8)
    pre = pop.signup_day < 0
    state[pre] = np.where(rng.random(int(pre.sum())) < INITIAL_AT_RISK_SHARE, AT_RISK, ACTIVE)
    recent = np.zeros(n_customers)
    ring = np.zeros((n_customers, RING), dtype=np.int16)
    dates = cal.dates[:n_days]
    month_end = dates.astype("datetime64[M]") != (dates + 1).astype("datetime64[M]")
    out, n_orders = Columns(), 0
    decay = model.returns_decay
    for d in range(n_days):
        n = int(np.searchsorted(pop.signup_day, d, side="right"))
        recent[:n] *= decay
        recent[:n] += ring[:n, d % RING]
        ring[:n, d % RING] = 0
        drv = drivers.take(slice(0, n))
        dyn = daily_dynamics(d, drv, recent[:n], cal, model)
        state[:n] = step_states(state[:n], dyn, rng.random(n))
        buyers = np.flatnonzero(rng.random(n) < purchase_probability(state[:n], dyn))
        n_orders += _day_orders(rng, ctx, d, buyers, ring, out, n_orders)
        if month_end[d]:
            prob = no_purchase_probability(d, window, drv, state[:n], recent[:n], ring[:n], cal, model)
            out.add(k_cust=np.arange(n, dtype=np.int32), k_day=np.full(n, d, np.int16), k_prob=prob, k_state=state[:n].copy())
    del ring, recent
    frames = _frames(params, start, ctx, out, scale)
    traits = pd.DataFrame({
        "customer_id": frames["customers"]["customer_id"],
        "base_rate": drivers.rate,
        "discount_reliance": pop.reliance,
        "return_propensity": pop.return_propensity,
        "online_preference": pop.online_pref,
        "home_store_quality": stores.quality[pop.home_store],
        "static_log_hazard": drivers.static_log_hazard,
    })
    return frames, traits


def _frame(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame(columns, copy=False)


def _frames(params, start, ctx: Context, out: Columns, scale: float) -> dict[str, pd.DataFrame]:
    pop, stores, cat, cal = ctx.pop, ctx.stores, ctx.cat, ctx.cal
    n_customers, n_products = len(pop.signup_day), len(cat.category)
    customer_ids = _ids("C", n_customers, 6)
    product_ids = _ids("P", n_products, 5)
    store_ids = np.append(_ids("S", stores.n_physical, 3), "S_ONLINE").astype(object)
    codes = np.array([f"{c}-{p}" for c in cal.period_code for p in DISCOUNT_LEVELS] + [None], dtype=object)
    frames = {
        "customers": _frame({
            "customer_id": customer_ids,
            "signup_date": _as_ns(start + pop.signup_day.astype("timedelta64[D]")),
            "home_store_id": store_ids[pop.home_store],
            "loyalty_tier": np.array(TIERS, dtype=object)[pop.tier],
        }),
        "products": _frame({
            "product_id": product_ids,
            "product_name": np.array(cat.names, dtype=object),
            "category": np.array(CATEGORIES, dtype=object)[cat.category],
            "brand": np.array(cat.brands, dtype=object),
            "unit_cost": cat.cost_cents / 100.0,
            "list_price": cat.list_cents / 100.0,
        }),
        "stores": _frame({
            "store_id": store_ids,
            "store_name": np.array(stores.name, dtype=object),
            "region": np.array(stores.region, dtype=object),
            "format": np.array(stores.fmt, dtype=object),
            "opened_date": _as_ns(start + stores.opened_day.astype("timedelta64[D]")),
        }),
    }
    order_day = out.pop("o_day")
    order_ids = _ids("O", len(order_day), 7)
    frames["orders"] = _frame({
        "order_id": order_ids,
        "customer_id": customer_ids[out.pop("o_cust")],
        "store_id": store_ids[out.pop("o_store")],
        "order_ts": _as_ns(_timestamps(start, order_day, out.pop("o_secs"))),
        "channel": np.array(["store", "online"], dtype=object)[out.pop("o_online", bool).astype(np.int8)],
    })
    del order_day
    frames["order_items"] = _frame({
        "order_id": order_ids[out.pop("l_order")],
        "line_number": out.pop("l_number").astype(np.int64),
        "product_id": product_ids[out.pop("l_product")],
        "quantity": out.pop("l_quantity").astype(np.int64),
        "unit_price": out.pop("l_price") / 100.0,
        "discount_amount": out.pop("l_discount") / 100.0,
        "promo_code": codes[out.pop("l_promo")],
    })
    ret_ts = _timestamps(start, out.pop("r_day"), out.pop("r_secs"))
    by_time = np.argsort(ret_ts, kind="stable")
    frames["returns"] = _frame({
        "return_id": _ids("R", len(by_time), 7),
        "order_id": order_ids[out.pop("r_order")[by_time]],
        "line_number": out.pop("r_number")[by_time].astype(np.int64),
        "return_ts": _as_ns(ret_ts[by_time]),
        "quantity": out.pop("r_quantity")[by_time].astype(np.int64),
        "refund_amount": out.pop("r_refund")[by_time] / 100.0,
        "reason": np.array(RETURN_REASONS, dtype=object)[out.pop("r_reason")[by_time]],
    })
    o_state = out.pop("k_state", np.int8)
    frames["churn_oracle"] = _frame({
        "customer_id": customer_ids[out.pop("k_cust")],
        "snapshot_date": _as_ns(start + out.pop("k_day").astype("timedelta64[D]")),
        "churn_probability": out.pop("k_prob", np.float64),
        "is_churned_latent": o_state == CHURNED,
        "state": np.array(STATE_NAMES, dtype=object)[o_state],
    })
    logger.info(
        "Synthetic retailer: %d customers, %d stores, %d products, %d orders, %d order lines (target %d), "
        "%d returns, %d oracle rows; rate scale %.4f",
        n_customers, len(store_ids), n_products, len(order_ids), len(frames["order_items"]),
        int(params["target_order_lines"]), len(frames["returns"]), len(frames["churn_oracle"]), scale,
    )
    return frames
