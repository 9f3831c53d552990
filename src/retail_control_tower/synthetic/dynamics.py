"""The latent churn process and purchase intensity, shared by the simulation, the churn oracle
and the rate calibration: all three call :func:`daily_dynamics`, so they cannot drift apart.

Per customer and day, after acquisition, a 3-state Markov chain ACTIVE -> AT_RISK -> CHURNED
(with a small AT_RISK -> ACTIVE recovery) moves first, then the customer buys with probability
``1 - q[state]`` (``q`` = no-purchase probability of the day; CHURNED never buys).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retail_control_tower.synthetic.catalogue import Calendar, Population, StoreNetwork

ACTIVE, AT_RISK, CHURNED = 0, 1, 2
STATE_NAMES = ("ACTIVE", "AT_RISK", "CHURNED")
RING = 32  # days of scheduled returns kept per customer (return delays are 1..30 days)
MEAN_LINES_PER_ORDER = 2.5  # 1 + Poisson(1.5)


@dataclass(frozen=True)
class ChurnModel:
    # Churn is preceded by a visible decline: AT_RISK lasts about two months (1 / (1/90 + 1/300)
    # days) at a sixth of the usual purchase rate, as in real retail attrition.
    at_risk_rate_factor: float = 0.15  # purchase rate while AT_RISK relative to ACTIVE
    signup_day_rate: float = 0.9  # extra purchase intensity on the signup day (first order)
    promo_lift_base: float = 0.2  # rate lift on sale-event days, everyone ...
    promo_lift_reliance: float = 1.6  # ... plus this much per unit of discount reliance
    active_to_risk: float = 1 / 1000  # daily hazards of a reference customer
    risk_to_churn: float = 1 / 90
    risk_to_active: float = 1 / 300
    beta_reliance: float = 2.0  # log-hazard per unit of discount reliance
    beta_return_propensity: float = 6.0  # log-hazard per unit of return propensity
    beta_recent_returns: float = 0.35  # log-hazard per (decayed) recent returned line
    beta_store_quality: float = -0.45  # log-hazard per unit of home-store service quality
    beta_tier: tuple[float, float, float] = (0.0, -0.3, -0.6)  # bronze, silver, gold
    tenure_amplitude: float = 3.0  # new customers: hazard x (1 + amplitude) ...
    tenure_scale_days: float = 120.0  # ... decaying with tenure on this scale
    returns_memory_days: float = 60.0  # decay of the recent-returns signal
    # The drift scenario (``synthetic.drift``): from this day on, the hazards of the customers of
    # the affected home stores (None = all) are multiplied by ``drift_multiplier``.
    drift_start_day: int | None = None
    drift_multiplier: float = 1.0
    drift_stores: tuple[int, ...] | None = None

    @property
    def returns_decay(self) -> float:
        return float(np.exp(-1.0 / self.returns_memory_days))


@dataclass(frozen=True)
class Drivers:
    """Per-customer inputs of the daily dynamics (a prefix or subset of the population)."""

    signup_day: np.ndarray
    rate: np.ndarray  # calibrated base purchase rate per day
    online_pref: np.ndarray
    promo_lift: np.ndarray
    static_log_hazard: np.ndarray
    static_mult: np.ndarray  # exp(static_log_hazard)
    tenure_weight: np.ndarray  # tenure_amplitude * exp(signup_day / tenure_scale_days)
    drift_mult: np.ndarray  # hazard multiplier from the drift's start day (1 = not affected)

    def take(self, index: np.ndarray | slice) -> Drivers:
        return Drivers(*(getattr(self, f)[index] for f in self.__dataclass_fields__))


def make_drivers(pop: Population, stores: StoreNetwork, model: ChurnModel, rate_scale: float) -> Drivers:
    static = (
        model.beta_reliance * (pop.reliance - 0.27)
        + model.beta_return_propensity * (pop.return_propensity - 0.07)
        + model.beta_store_quality * stores.quality[pop.home_store]
        + np.asarray(model.beta_tier)[pop.tier]
    )
    lift = model.promo_lift_base + model.promo_lift_reliance * pop.reliance
    tenure_weight = model.tenure_amplitude * np.exp(pop.signup_day / model.tenure_scale_days)
    affected = np.ones(len(pop.home_store), dtype=bool) if model.drift_stores is None else np.isin(pop.home_store, model.drift_stores)
    drift = np.where(affected, model.drift_multiplier, 1.0)
    return Drivers(pop.signup_day, rate_scale * pop.base_rate, pop.online_pref, lift, static, np.exp(static), tenure_weight, drift)


@dataclass(frozen=True)
class DayDynamics:
    q_active: np.ndarray  # probability of no purchase today while ACTIVE
    q_risk: np.ndarray  # ... while AT_RISK
    h_risk: np.ndarray  # ACTIVE -> AT_RISK
    h_churn: np.ndarray  # AT_RISK -> CHURNED
    h_recover: np.ndarray  # AT_RISK -> ACTIVE


def daily_dynamics(day: int, drv: Drivers, recent_returns: np.ndarray, cal: Calendar, model: ChurnModel) -> DayDynamics:
    """Purchase and transition probabilities of ``day`` for customers acquired on or before it.

    Purchase intensity: rate_i x season x weekday (store/online mix) x promo lift (sale days),
    plus a first-order bump on the signup day. Hazard multiplier (log-linear):
    log m = static_i (reliance, return propensity, store quality, tier)
            + beta * recent_returns + log(1 + amplitude * exp(-tenure / scale)).
    """
    week = cal.week_store[day] + drv.online_pref * (cal.week_online[day] - cal.week_store[day])
    rate = drv.rate * (cal.season[day] * week)
    if cal.promo_intensity[day] > 0:
        rate *= 1.0 + cal.promo_intensity[day] * drv.promo_lift
    lo, hi = np.searchsorted(drv.signup_day, [day, day + 1])  # customers sorted by signup day
    if hi > lo:
        rate[lo:hi] += model.signup_day_rate
    q_active = np.exp(-rate)
    rate *= -model.at_risk_rate_factor
    q_risk = np.exp(rate, out=rate)
    mult = np.exp(model.beta_recent_returns * recent_returns)
    mult *= drv.static_mult
    mult *= 1.0 + drv.tenure_weight * np.exp(-day / model.tenure_scale_days)
    if model.drift_start_day is not None and day >= model.drift_start_day:
        mult *= drv.drift_mult
    root = np.sqrt(mult)
    h_risk = -np.expm1(-model.active_to_risk * mult)
    h_churn = -np.expm1(-model.risk_to_churn * root)
    h_recover = np.minimum(-np.expm1(-model.risk_to_active / root), 1.0 - h_churn)
    return DayDynamics(q_active, q_risk, h_risk, h_churn, h_recover)


def step_states(state: np.ndarray, dyn: DayDynamics, u: np.ndarray) -> np.ndarray:
    """One day of the chain for the simulation (``u`` uniform draws, one per customer)."""
    new = state.copy()
    active, risk = state == ACTIVE, state == AT_RISK
    new[active & (u < dyn.h_risk)] = AT_RISK
    new[risk & (u < dyn.h_churn)] = CHURNED
    new[risk & (u >= dyn.h_churn) & (u < dyn.h_churn + dyn.h_recover)] = ACTIVE
    return new


def purchase_probability(state: np.ndarray, dyn: DayDynamics) -> np.ndarray:
    no_purchase = np.where(state == ACTIVE, dyn.q_active, dyn.q_risk)
    no_purchase[state == CHURNED] = 1.0
    return 1.0 - no_purchase


def no_purchase_probability(
    t: int,
    window: int,
    drv: Drivers,
    state: np.ndarray,
    recent_returns: np.ndarray,
    pending_returns: np.ndarray,
    cal: Calendar,
    model: ChurnModel,
) -> np.ndarray:
    """Exact P(no purchase on days t+1 .. t+window | state, traits, returns at the end of day t).

    Forward recursion over the window on the 3-state chain. On a path with no purchase after t
    the only returns still to come are those already scheduled (``pending_returns``, a ring
    indexed by day % RING), so the recent-returns signal along such a path is deterministic.
    """
    prob = np.ones(len(state))
    alive = np.flatnonzero(state != CHURNED)
    if len(alive) == 0 or window <= 0:
        return prob
    sub = drv.take(alive)
    returns = recent_returns[alive].astype(np.float64)
    ring = pending_returns[alive]
    a_active = (state[alive] == ACTIVE).astype(np.float64)
    a_risk = 1.0 - a_active
    a_churned = np.zeros(len(alive))
    decay = model.returns_decay
    for s in range(t + 1, t + window + 1):
        returns *= decay
        if s <= t + RING:
            returns += ring[:, s % RING]
        dyn = daily_dynamics(s, sub, returns, cal, model)
        a_churned += a_risk * dyn.h_churn
        a_active, a_risk = (
            (a_active * (1.0 - dyn.h_risk) + a_risk * dyn.h_recover) * dyn.q_active,
            (a_active * dyn.h_risk + a_risk * (1.0 - dyn.h_churn - dyn.h_recover)) * dyn.q_risk,
        )
    prob[alive] = np.clip(a_active + a_risk + a_churned, 0.0, 1.0)
    return prob


INITIAL_AT_RISK_SHARE = 0.03  # of customers already acquired at the start (~ the chain's stationary share)


def expected_order_count(
    drv: Drivers, return_per_line: np.ndarray, n_days: int, cal: Calendar, model: ChurnModel
) -> float:
    """Expected orders over the history (mean-field on the recent-returns feedback)."""
    a_active = np.where(drv.signup_day < 0, 1.0 - INITIAL_AT_RISK_SHARE, 1.0)
    a_risk = 1.0 - a_active
    returns = np.zeros(len(a_active))
    decay = model.returns_decay
    total = 0.0
    for d in range(n_days):
        n = int(np.searchsorted(drv.signup_day, d, side="right"))
        dyn = daily_dynamics(d, drv.take(slice(0, n)), returns[:n], cal, model)
        aa, ar = a_active[:n], a_risk[:n]
        aa, ar = aa * (1.0 - dyn.h_risk) + ar * dyn.h_recover, aa * dyn.h_risk + ar * (1.0 - dyn.h_churn - dyn.h_recover)
        orders = aa * (1.0 - dyn.q_active) + ar * (1.0 - dyn.q_risk)
        a_active[:n], a_risk[:n] = aa, ar
        returns[:n] = returns[:n] * decay + orders * MEAN_LINES_PER_ORDER * return_per_line[:n]
        total += float(orders.sum())
    return total


def calibrate_rate_scale(
    pop: Population, stores: StoreNetwork, n_days: int, target_lines: float, cal: Calendar, model: ChurnModel
) -> float:
    """Rate multiplier whose expected order-line count over the history is ``target_lines``."""
    n = len(pop.signup_day)
    stride = max(1, n // 10_000)
    sample = slice(0, n, stride)
    weight = n / len(range(0, n, stride))
    exposure = np.clip(n_days - np.maximum(pop.signup_day[sample], 0), 0, None) * pop.base_rate[sample]
    scale = target_lines / max(MEAN_LINES_PER_ORDER * weight * float(exposure.sum()), 1e-12)
    for _ in range(8):
        drv = make_drivers(pop, stores, model, scale).take(sample)
        expected = MEAN_LINES_PER_ORDER * weight * expected_order_count(drv, pop.return_per_line[sample], n_days, cal, model)
        ratio = target_lines / max(expected, 1e-12)
        scale *= ratio**1.1
        if abs(ratio - 1.0) < 0.003:
            break
    return scale
