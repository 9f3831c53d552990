"""The ``sparse`` preset: a mail-order / online business with one product line and customers who
buy a few times a year, in the manner of the CDNOW purchase history.

It supplies only the minimal input, orders and order lines: no customers, products, stores or
returns files. Every order is placed online (store ``ONLINE``, channel ``online``).

The process is BG/NBD (Fader, Hardie & Lee 2005) in discrete days:

* customer i is acquired on day ``s_i`` with a first order (acquisition is uniform over the
  first ``acquisition_days`` of the history, the whole history by default);
* while alive, on each later day d they order with probability ``1 - exp(-lambda_i * m_d)``,
  ``lambda_i ~ Gamma(r, 1 / alpha)`` per day and ``m_d`` the yearly season x online weekday cycle;
* after each repeat order they drop out for good with probability ``p_i ~ Beta(a, b)`` (the
  first order never ends a relationship, as in BG/NBD).

Because a customer can only drop out right after an order, P(no order on days t+1..t+w) at the
end of day t is exactly ``exp(-lambda_i * sum(m_{t+1..t+w}))`` if alive and 1 if not: that is
the churn oracle, conditioned on the latent state and traits as the default preset's is.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from retail_control_tower.synthetic.catalogue import ONLINE_WEEK_CYCLE, season_curve, weekday_index
from retail_control_tower.synthetic.dynamics import ACTIVE, CHURNED, STATE_NAMES
from retail_control_tower.synthetic.simulation import ONLINE_HOURS, Columns, _as_ns, _frame, _ids, _timestamps

logger = logging.getLogger(__name__)

REQUIRED_PARAMS = ("seed", "customers", "end_date", "churn_window_days")
STORE_ID = "ONLINE"
CHANNEL = "online"
CATEGORY = "music"
# Units of one product in an order line (1..6): CDNOW's transactions held 2.4 CDs on average,
# ours 1.2 lines x 1.9 units.
QUANTITY_P = np.array([0.55, 0.22, 0.10, 0.06, 0.04, 0.03])
YEAR_DATES = np.datetime64("2001-01-01") + np.arange(365).astype("timedelta64[D]")
SEASON_MEAN = float(season_curve(YEAR_DATES).mean())  # so that lambda is the yearly average rate


@dataclass(frozen=True)
class SparseModel:
    """The preset's own settings (the ``sparse`` block of parameters_generate.yml)."""

    history_days: int = 540
    products: int = 5
    purchase_rate_shape: float = 0.243  # r of the Gamma purchase-rate heterogeneity
    purchase_rate_scale_days: float = 30.9  # alpha, in days
    dropout_a: float = 0.793  # Beta(a, b) dropout probability after each repeat order
    dropout_b: float = 2.426
    acquisition_days: int | None = None  # customers acquired over the first this many days (None: all)
    mean_extra_lines: float = 0.25  # lines per order = 1 + Poisson(this), at most one per product

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> SparseModel:
        kinds = {"history_days": int, "products": int, "acquisition_days": int}
        values = {}
        for field in dataclasses.fields(cls):
            if params.get(field.name) is not None:
                values[field.name] = kinds.get(field.name, float)(params[field.name])
        return cls(**values)


SPARSE_KEYS = tuple(field.name for field in dataclasses.fields(SparseModel))


def sparse_products(params: dict[str, Any]) -> pd.DataFrame:
    """The preset's product line (one category). Not written: the business supplies no products
    file; its order lines carry these product ids and list prices."""
    model = SparseModel.from_params(params)
    catalogue_seed = np.random.SeedSequence(int(params["seed"])).spawn(2)[0]
    rng = np.random.default_rng(catalogue_seed)
    n = model.products
    price = rng.lognormal(np.log(14.0), 0.3, n)  # CDNOW's customers spent about $15 a CD
    return pd.DataFrame({
        "product_id": _ids("P", n, 5),
        "product_name": np.array([f"CD {j + 1}" for j in range(n)], dtype=object),
        "category": np.full(n, CATEGORY, dtype=object),
        "list_price": (np.floor(price) * 100 + 99) / 100.0,
        "popularity": 1.0 / (rng.permutation(n) + 1.0),
    })


def _validate(params: dict[str, Any], model: SparseModel) -> None:
    missing = [k for k in REQUIRED_PARAMS if k not in params]
    if missing:
        raise KeyError(f"simulate_retailer (sparse): missing params {missing}")
    if int(params["customers"]) < 1 or model.history_days < 1 or model.products < 1:
        raise ValueError("simulate_retailer (sparse): customers, history_days and products must be positive")
    if min(model.purchase_rate_shape, model.purchase_rate_scale_days, model.dropout_a, model.dropout_b) <= 0:
        raise ValueError("simulate_retailer (sparse): purchase_rate_* and dropout_* must be positive")
    if model.acquisition_days is not None and model.acquisition_days < 1:
        raise ValueError("simulate_retailer (sparse): acquisition_days must be positive (or null: the whole history)")
    if model.mean_extra_lines < 0:
        raise ValueError("simulate_retailer (sparse): mean_extra_lines must not be negative")


def day_intensity(start: np.datetime64, n_days: int) -> np.ndarray:
    """``m_d``: the purchase-rate multiplier of each day (yearly mean 1)."""
    dates = start + np.arange(n_days).astype("timedelta64[D]")
    week = (ONLINE_WEEK_CYCLE / ONLINE_WEEK_CYCLE.mean())[weekday_index(dates)]
    return season_curve(dates) / SEASON_MEAN * week


def simulate_sparse_with_traits(params: dict[str, Any]) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Orders, order lines and the churn oracle of the sparse preset, plus each customer's traits.

    ``params``: seed, customers, end_date (ISO, last day of the history), churn_window_days, and
    optionally the :class:`SparseModel` settings (history_days, products, ...). Same params give
    byte-identical frames.
    """
    model = SparseModel.from_params(params)
    _validate(params, model)
    n, n_days, window = int(params["customers"]), model.history_days, int(params["churn_window_days"])
    end = np.datetime64(str(params["end_date"])[:10], "D")
    start = end - np.timedelta64(n_days - 1, "D")
    products = sparse_products(params)
    log_popularity = np.log(products["popularity"].to_numpy())
    price_cents = np.round(products["list_price"].to_numpy() * 100).astype(np.int64)
    rng = np.random.default_rng(np.random.SeedSequence(int(params["seed"])).spawn(2)[1])

    span = n_days if model.acquisition_days is None else min(model.acquisition_days, n_days)
    signup = np.sort(rng.integers(0, span, n))  # customer index = id order = acquisition order
    rate = rng.gamma(model.purchase_rate_shape, 1.0 / model.purchase_rate_scale_days, n)
    dropout = rng.beta(model.dropout_a, model.dropout_b, n)

    intensity = day_intensity(start, n_days + max(window, 0) + 1)
    cumulative = np.concatenate([[0.0], np.cumsum(intensity)])
    dates = start + np.arange(n_days).astype("timedelta64[D]")
    month_end = dates.astype("datetime64[M]") != (dates + 1).astype("datetime64[M]")
    alive = np.ones(n, dtype=bool)
    out, n_orders = Columns(), 0
    for d in range(n_days):
        lo, hi = np.searchsorted(signup, [d, d + 1])  # [0, lo): acquired before today; [lo, hi): today
        candidates = np.flatnonzero(alive[:lo])
        repeat = candidates[rng.random(len(candidates)) < -np.expm1(-rate[candidates] * intensity[d])]
        alive[repeat[rng.random(len(repeat)) < dropout[repeat]]] = False
        buyers = np.concatenate([np.arange(lo, hi), repeat])
        n_orders += _day_orders(rng, d, buyers, log_popularity, price_cents, model.mean_extra_lines, out, n_orders)
        if month_end[d]:
            ahead = cumulative[d + max(window, 0) + 1] - cumulative[d + 1]  # sum of m over days d+1 .. d+window
            now_alive = alive[:hi]
            prob = np.where(now_alive, np.exp(-rate[:hi] * ahead), 1.0)
            out.add(k_cust=np.arange(hi, dtype=np.int32), k_day=np.full(hi, d, np.int16), k_prob=prob,
                    k_state=np.where(now_alive, ACTIVE, CHURNED).astype(np.int8))

    customer_ids = _ids("C", n, 6)
    frames = _frames(start, out, customer_ids, products["product_id"].to_numpy(), price_cents)
    traits = pd.DataFrame({
        "customer_id": customer_ids,
        "signup_date": _as_ns(start + signup.astype("timedelta64[D]")),
        "purchase_rate": rate,  # expected orders per day while alive (yearly average)
        "dropout_probability": dropout,
        "alive_at_end": alive,
    })
    logger.info(
        "Synthetic retailer (sparse): %d customers, %d products in one line, %d orders, %d order lines, "
        "%d oracle rows over %d days",
        n, len(products), len(frames["orders"]), len(frames["order_items"]), len(frames["churn_oracle"]), n_days,
    )
    return frames, traits


def _day_orders(
    rng: np.random.Generator, d: int, buyers: np.ndarray, log_popularity: np.ndarray, price_cents: np.ndarray,
    mean_extra_lines: float, out: Columns, offset: int,
) -> int:
    """Orders and lines of ``buyers`` on day ``d`` into ``out``; ``offset`` = orders so far."""
    nb, n_products = len(buyers), len(log_popularity)
    if nb == 0:
        return 0
    hour = rng.choice(24, size=nb, p=ONLINE_HOURS / ONLINE_HOURS.sum())
    secs = hour * 3600 + rng.integers(0, 3600, nb)
    first = np.argsort(secs, kind="stable")
    buyers, secs = buyers[first], secs[first]
    n_lines = np.minimum(1 + rng.poisson(mean_extra_lines, nb), n_products)
    # distinct products within an order, drawn by popularity (Gumbel top-k)
    ranked = np.argsort(-(log_popularity + rng.gumbel(size=(nb, n_products))), axis=1, kind="stable")
    line_order = np.repeat(np.arange(nb), n_lines)
    line_number = np.arange(len(line_order)) - np.repeat(np.cumsum(n_lines) - n_lines, n_lines) + 1
    product = ranked[line_order, line_number - 1]
    quantity = rng.choice(len(QUANTITY_P), size=len(line_order), p=QUANTITY_P) + 1
    out.add(
        o_day=np.full(nb, d, np.int16), o_secs=secs.astype(np.int32), o_cust=buyers.astype(np.int32),
        l_order=(line_order + offset).astype(np.int64), l_number=line_number.astype(np.int16),
        l_product=product.astype(np.int32), l_quantity=quantity.astype(np.int8),
    )
    return nb


def _frames(
    start: np.datetime64, out: Columns, customer_ids: np.ndarray, product_ids: np.ndarray, price_cents: np.ndarray
) -> dict[str, pd.DataFrame]:
    order_day = out.pop("o_day")
    n_orders = len(order_day)
    order_ids = _ids("O", n_orders, 7)
    frames = {"orders": _frame({
        "order_id": order_ids,
        "customer_id": customer_ids[out.pop("o_cust")],
        "store_id": np.full(n_orders, STORE_ID, dtype=object),
        "order_ts": _as_ns(_timestamps(start, order_day, out.pop("o_secs"))),
        "channel": np.full(n_orders, CHANNEL, dtype=object),
    })}
    del order_day
    product = out.pop("l_product")
    n_lines = len(product)
    frames["order_items"] = _frame({
        "order_id": order_ids[out.pop("l_order")],
        "line_number": out.pop("l_number").astype(np.int64),
        "product_id": product_ids[product],
        "quantity": out.pop("l_quantity").astype(np.int64),
        "unit_price": price_cents[product] / 100.0,
        "discount_amount": np.zeros(n_lines),  # no promotions in the history
        "promo_code": np.full(n_lines, None, dtype=object),
    })
    state = out.pop("k_state", np.int8)
    frames["churn_oracle"] = _frame({
        "customer_id": customer_ids[out.pop("k_cust")],
        "snapshot_date": _as_ns(start + out.pop("k_day").astype("timedelta64[D]")),
        "churn_probability": out.pop("k_prob", np.float64),
        "is_churned_latent": state == CHURNED,
        "state": np.array(STATE_NAMES, dtype=object)[state],
    })
    return frames
