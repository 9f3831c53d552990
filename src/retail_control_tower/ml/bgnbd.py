"""BG/NBD ("buy till you die") customer-base model of Fader, Hardie & Lee (2005), "Counting your
customers the easy way", on numpy/scipy only.

A customer is summarised by ``frequency`` x (repeat purchases: the first purchase is time 0 and is
not counted), ``recency`` t_x (time of the last repeat purchase since the first; 0 when x = 0) and
``age`` T (time since the first purchase), all in one time unit (days, weeks, ...). The model: while
alive a customer buys as a Poisson process with rate lambda ~ Gamma(shape r, rate alpha); right
after each repeat purchase they drop out for good with probability p ~ Beta(a, b). Dropout happens
only at a purchase, so a customer with x = 0 is certainly alive, and nobody drops out in a window
without purchases. ``alpha`` is in the data's time unit (alpha in days = 7 * alpha in weeks); r, a
and b have none. Every function takes pandas Series or numpy arrays and returns float64 arrays."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1


@dataclass(frozen=True)
class BgNbdParams:
    """lambda ~ Gamma(shape r, rate alpha) and p ~ Beta(a, b); all four positive and finite."""

    r: float
    alpha: float
    a: float
    b: float

    def __post_init__(self) -> None:
        values = (self.r, self.alpha, self.a, self.b)
        if not all(np.isfinite(v) and v > 0 for v in values):
            raise ValueError(f"BG/NBD parameters must be positive and finite, got {self}")


def _summaries(frequency: ArrayLike, recency: ArrayLike, age: ArrayLike) -> tuple[np.ndarray, ...]:
    """(x, t_x, T) as equal-length 1-D float arrays, or ValueError saying what is wrong."""
    try:
        x, t_x, T = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (frequency, recency, age))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"frequency, recency and age must be numeric: {exc}") from exc
    if x.ndim != 1 or x.shape != t_x.shape or x.shape != T.shape:
        shapes = f"{x.shape}, {t_x.shape}, {T.shape}"
        raise ValueError(f"frequency, recency and age must be 1-D of equal length, got {shapes}")
    if len(x) == 0:
        raise ValueError("frequency, recency and age must not be empty")
    if not (np.isfinite(x).all() and np.isfinite(t_x).all() and np.isfinite(T).all()):
        raise ValueError("frequency, recency and age must be finite (no NaN or inf)")
    if (x < 0).any() or (x != np.round(x)).any():
        raise ValueError("frequency (repeat purchases) must be a non-negative whole number")
    if (t_x < 0).any():
        raise ValueError("recency must be >= 0")
    if (t_x > T).any():
        raise ValueError(f"recency must not exceed age; {int((t_x > T).sum())} rows have recency > age")
    if ((x == 0) & (t_x != 0)).any():
        raise ValueError("recency must be 0 where frequency is 0 (no repeat purchase, no last-purchase time)")
    return x, t_x, T


def _horizon(t: ArrayLike, n: int) -> np.ndarray:
    """Forecast window length(s) t >= 0 (one for all, or one per customer) as n floats."""
    t_arr = np.asarray(t, dtype=float)
    if not np.isfinite(t_arr).all() or (t_arr < 0).any():
        raise ValueError("t (forecast window) must be finite and >= 0")
    if t_arr.ndim > 1 or t_arr.size not in (1, n):
        raise ValueError(f"t must be a scalar or one value per customer ({n}), got shape {t_arr.shape}")
    return np.broadcast_to(t_arr.ravel(), (n,))


def _neg_log_likelihood(
    theta: np.ndarray, rows: tuple[np.ndarray, ...], by_x: tuple[np.ndarray, ...]
) -> tuple[float, np.ndarray]:
    """Weighted mean negative log-likelihood over log-parameters theta, and its gradient (L-BFGS-B
    needs it to be fast and precise). Per customer (FHL 2005, eq. 6):
    log L = log[G(r+x) alpha^r / G(r)] + log[B(a, b+x) / B(a, b)]
            + log[(alpha+T)^-(r+x) + [x > 0] a / (b+x-1) (alpha+t_x)^-(r+x)].
    The first two terms depend on x alone, so they are summed over the distinct x values with their
    total weight (``by_x``); the last is summed per row (``rows``) in log space (logaddexp), so
    large x or T cannot underflow."""
    r, alpha, a, b = np.exp(theta)
    x, t_x, T, w = rows
    ux, wx = by_x
    ll_x = gammaln(r + ux) - gammaln(r) + r * np.log(alpha) + betaln(a, b + ux) - betaln(a, b)
    has = x > 0
    b_x1 = np.where(has, b + x - 1, 1.0)  # b + x - 1 only appears for x > 0 (and may be < 0 at x = 0)
    log_at, log_atx = np.log(alpha + T), np.log(alpha + t_x)
    alive = -(r + x) * log_at
    dropped = np.where(has, np.log(a) - np.log(b_x1) - (r + x) * log_atx, -np.inf)
    mix = np.logaddexp(alive, dropped)
    w4 = np.exp(dropped - mix)  # posterior share of "dropped out at t_x"; 1 - w4 is "alive at T"
    w3 = 1.0 - w4
    dig_ab = digamma(a + b) - digamma(a + b + ux)
    # Per-row sums as (w * v).sum(), not w @ v: threaded BLAS dots made the fit 2-3x slower on a busy box.
    grad = np.array([  # d/d(param) times param: the chain rule to the log scale
        r * (wx @ (digamma(r + ux) - digamma(r) + np.log(alpha)) - (w * (w3 * log_at + w4 * log_atx)).sum()),
        alpha * (r / alpha - (w * (r + x) * (w3 / (alpha + T) + w4 / (alpha + t_x))).sum()),
        a * (wx @ dig_ab + (w * w4).sum() / a),
        b * (wx @ (dig_ab + digamma(b + ux) - digamma(b)) - (w * w4 / b_x1).sum()),
    ])
    return -float(wx @ ll_x + (w * mix).sum()), -grad


def fit_bgnbd(
    frequency: ArrayLike,
    recency: ArrayLike,
    age: ArrayLike,
    *,
    penalizer: float = 0.0,
    weights: ArrayLike | None = None,
) -> BgNbdParams:
    """Maximum-likelihood BG/NBD fit; with ``penalizer`` > 0 a MAP fit that adds
    penalizer * sum(log(param)^2) to the mean negative log-likelihood, pulling every parameter
    toward 1 (use it when the data cannot pin the model down, e.g. very few customers or no repeat
    buyers; as log(alpha) depends on the time unit, so does the pull on alpha). ``weights`` count
    how many customers each row stands for (default 1). Rows with identical (x, t_x, T) are merged
    into one weighted row first, so a large base costs only as much as its distinct summaries."""
    x, t_x, T = _summaries(frequency, recency, age)
    w = np.ones_like(x) if weights is None else np.atleast_1d(np.asarray(weights, dtype=float))
    if w.shape != x.shape or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError("weights must be finite, >= 0, not all 0 and one per customer")
    if not (np.isfinite(penalizer) and penalizer >= 0):
        raise ValueError(f"penalizer must be finite and >= 0, got {penalizer!r}")
    rows = pd.DataFrame({"x": x, "t_x": t_x, "T": T, "w": w / w.sum()})  # mean, not sum: scale-free
    rows = rows[rows["w"] > 0].groupby(["x", "t_x", "T"], sort=False, as_index=False)["w"].sum()
    by_x = rows.groupby("x", sort=False)["w"].sum()
    data = (tuple(rows[c].to_numpy() for c in ("x", "t_x", "T", "w")), (by_x.index.to_numpy(), by_x.to_numpy()))
    # Start at r = a = b = 1 with the mean rate r / alpha matching repeat purchases per unit time.
    (_, _, T_rows, w_rows), (ux, wx) = data
    alpha0 = max((w_rows * T_rows).sum(), 1e-6) / max(wx @ ux, 1e-6)
    theta0 = np.array([0.0, np.log(alpha0), 0.0, 0.0])

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = _neg_log_likelihood(theta, *data)
        return value + penalizer * float(theta @ theta), grad + 2.0 * penalizer * theta

    res = minimize(objective, theta0, jac=True, method="L-BFGS-B", bounds=[(-30.0, 30.0)] * 4)
    if not np.isfinite(res.fun):
        raise RuntimeError(f"BG/NBD fit failed: {res.message}")
    if not res.success or np.abs(res.x).max() > 20 or (penalizer == 0 and ux.max() == 0):
        warnings.warn(
            f"BG/NBD fit may not be a proper maximum ({res.message}; parameters {np.exp(res.x)}): a parameter"
            " running off toward 0 or infinity means the data do not pin the model down (no repeat buyers,"
            " very few customers); penalizer > 0 gives a finite MAP fit",
            RuntimeWarning,
            stacklevel=2,
        )
    return BgNbdParams(*(float(v) for v in np.exp(res.x)))


def _log_odds_dead(params: BgNbdParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """log[P(dropped out by T) / P(alive at T)] = log[a / (b+x-1)] + (r+x) log[(alpha+T) / (alpha+t_x)]
    for x > 0: the ratio of the two branches of the likelihood (see ``_neg_log_likelihood``); -inf for
    x = 0, who cannot have dropped out."""
    has = x > 0
    b_x1 = np.where(has, params.b + x - 1, 1.0)
    odds = np.log(params.a / b_x1) + (params.r + x) * (np.log(params.alpha + T) - np.log(params.alpha + t_x))
    return np.where(has, odds, -np.inf)


def p_alive(params: BgNbdParams, frequency: ArrayLike, recency: ArrayLike, age: ArrayLike) -> np.ndarray:
    """P(customer still alive at T | x, t_x, T); 1 for x = 0. Computed as a logistic of the log-odds
    so long-lapsed frequent buyers give a clean 0 rather than overflow."""
    x, t_x, T = _summaries(frequency, recency, age)
    return expit(-_log_odds_dead(params, x, t_x, T))


def expected_purchases(
    params: BgNbdParams, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, age: ArrayLike
) -> np.ndarray:
    """E[purchases in (T, T+t] | x, t_x, T] (FHL 2005, eq. 10):
    P(alive) * (a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)],
    z = t / (alpha+T+t). That 2F1 grows like (1-z)^(a-1-r-x) and overflows for large x; Euler's
    transformation 2F1(A, B; C; z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z) cancels the power exactly,
    leaving (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z), whose first two arguments do not grow with x.
    At a = 1 the expression is 0/0; there it is the mean of a = 1 +- 1e-6 (smooth in a)."""
    x, t_x, T = _summaries(frequency, recency, age)
    t = _horizon(t, len(x))
    r, alpha, b = params.r, params.alpha, params.b
    z, log1mz = t / (alpha + T + t), -np.log1p(t / (alpha + T))  # z and log(1 - z)

    def if_alive(a: float) -> np.ndarray:
        bracket = 1.0 - np.exp((a - 1.0) * log1mz) * hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
        return (a + b + x - 1.0) / (a - 1.0) * bracket

    a = params.a
    mean_if_alive = 0.5 * (if_alive(1.0 - 1e-6) + if_alive(1.0 + 1e-6)) if abs(a - 1.0) < 1e-6 else if_alive(a)
    return np.maximum(expit(-_log_odds_dead(params, x, t_x, T)) * mean_if_alive, 0.0)


def p_no_purchase(
    params: BgNbdParams, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, age: ArrayLike
) -> np.ndarray:
    """P(no purchase in (T, T+t] | x, t_x, T): the churn-style label "does not buy in the window".

    Derivation. The history's likelihood splits by state at T: alive, (1-p)^x lambda^x e^(-lambda T);
    dropped out right after the x-th purchase (x > 0 only), p (1-p)^(x-1) lambda^x e^(-lambda t_x).
    So P(alive at T | history) is ``p_alive``, and given alive the posterior of lambda is
    proportional to lambda^(r+x-1) e^(-lambda (alpha+T)), i.e. Gamma(r+x, alpha+T) (p's posterior
    separates and does not matter). A dropped-out customer never buys. An alive one can drop out
    only right after a purchase, so "no purchase in (T, T+t]" is exactly "no Poisson event in a
    window of length t", probability e^(-lambda t), with Gamma(r+x, alpha+T)-mean
    ((alpha+T) / (alpha+T+t))^(r+x). Hence
        P = (1 - P(alive)) + P(alive) * ((alpha+T) / (alpha+T+t))^(r+x)
          = 1 - P(alive) * (1 - ((alpha+T) / (alpha+T+t))^(r+x)),
    the second form evaluated with log1p/expm1 so that short windows keep full precision."""
    x, t_x, T = _summaries(frequency, recency, age)
    t = _horizon(t, len(x))
    p_buy_if_alive = -np.expm1(-(params.r + x) * np.log1p(t / (params.alpha + T)))
    return np.clip(1.0 - expit(-_log_odds_dead(params, x, t_x, T)) * p_buy_if_alive, 0.0, 1.0)
