"""BG/NBD model against data simulated purchase by purchase from known parameters.

The simulator follows the model's story literally and shares no formula with the module: each
customer draws lambda ~ Gamma(r, scale 1/alpha) and p ~ Beta(a, b), then buys at exponential gaps
of rate lambda, and right after each repeat purchase drops out with probability p (the first
purchase at time 0 is not a repeat one and cannot end the customer). The observed summary is
(x, t_x, T); the same process, continued for t more weeks, gives the future count."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import hyp2f1

from retail_control_tower.ml.bgnbd import BgNbdParams, expected_purchases, fit_bgnbd, p_alive, p_no_purchase

TRUE = BgNbdParams(r=0.25, alpha=4.0, a=0.8, b=2.5)  # weeks; close to FHL's CDNOW estimates
N = 20_000


def simulate(rng: np.random.Generator, params: BgNbdParams, T: np.ndarray, horizon: np.ndarray):
    """(x, t_x, alive at T, future purchases in (T, T + horizon]) for len(T) customers, event by
    event."""
    n = len(T)
    lam, p = rng.gamma(params.r, 1 / params.alpha, n), rng.beta(params.a, params.b, n)
    now, x, t_x, future = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    alive_at_T = np.ones(n, dtype=bool)
    active = np.arange(n)  # alive and not yet past T + horizon
    while active.size:
        now[active] += rng.exponential(1 / lam[active])
        active = active[now[active] <= T[active] + horizon[active]]
        seen = now[active] <= T[active]
        x[active[seen]] += 1
        t_x[active[seen]] = now[active[seen]]
        future[active[~seen]] += 1
        drops = rng.random(active.size) < p[active]  # dropout right after this purchase
        alive_at_T[active[drops & seen]] = False
        active = active[~drops]
    return x, t_x, alive_at_T, future


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    rng = np.random.default_rng(20050101)
    T = rng.uniform(13, 78, N)  # first purchases spread over 65 weeks
    horizon = rng.choice([4.0, 13.0, 26.0, 52.0], N)  # one forecast window per customer
    x, t_x, alive, future = simulate(rng, TRUE, T, horizon)
    return pd.DataFrame({"x": x, "t_x": t_x, "T": T, "alive": alive, "t": horizon, "future": future})


def test_fit_recovers_the_true_parameters(customers):
    # Tolerances: 100 simulations of this design (20,000 customers each, seeds 0-99) gave relative
    # standard errors r 1.5%, alpha 2.3%, a 6.0%, b 7.9%, mean dropout a/(a+b) 2.5%, and worst
    # cases 4.2%, 6.1%, 15%, 19%, 6.4%. The bounds below are about 4 standard errors.
    fit = fit_bgnbd(customers["x"], customers["t_x"], customers["T"])
    assert fit.r == pytest.approx(TRUE.r, rel=0.06)
    assert fit.alpha == pytest.approx(TRUE.alpha, rel=0.10)
    assert fit.a / (fit.a + fit.b) == pytest.approx(TRUE.a / (TRUE.a + TRUE.b), rel=0.10)
    assert fit.a == pytest.approx(TRUE.a, rel=0.30)
    assert fit.b == pytest.approx(TRUE.b, rel=0.30)


def _worst_z(pred: np.ndarray, observed: np.ndarray, sd_per_row: np.ndarray | None = None, groups: int = 10):
    """Largest |mean(observed) - mean(pred)| / standard error over ``groups`` groups of equal size
    cut by the prediction (deciles, ties split by row order). The standard error comes from each
    row's known standard deviation, or (None) from the spread of the group's own residuals. A
    group predicted with certainty (standard error 0, e.g. P(alive) = 1) must match exactly."""
    worst = 0.0
    for rows in np.array_split(np.argsort(pred, kind="stable"), groups):
        gap = abs(observed[rows].mean() - pred[rows].mean())
        if sd_per_row is None:
            se = np.std(observed[rows] - pred[rows]) / np.sqrt(len(rows))
        else:
            se = np.sqrt(np.sum(sd_per_row[rows] ** 2)) / len(rows)
        worst = max(worst, gap / se if se > 0 else (0.0 if gap < 1e-12 else np.inf))
    return worst


def test_p_alive_matches_simulation(customers):
    c = customers
    pred = p_alive(TRUE, c["x"], c["t_x"], c["T"])
    assert pred.dtype == np.float64 and pred.min() >= 0 and pred.max() <= 1
    # Alive at T is Bernoulli(pred) given the history (true parameters): |z| < 4 in every decile.
    assert _worst_z(pred, c["alive"].to_numpy(dtype=float), np.sqrt(pred * (1 - pred))) < 4
    assert pred.min() < 0.1  # the deciles span lapsed buyers as well as the certainly alive x = 0


def test_p_no_purchase_matches_simulation(customers):
    c = customers
    pred = p_no_purchase(TRUE, c["t"], c["x"], c["t_x"], c["T"])
    assert pred.dtype == np.float64 and pred.min() >= 0 and pred.max() <= 1
    none = (c["future"] == 0).to_numpy(dtype=float)
    # With the true parameters each customer's indicator is Bernoulli(pred) given their history, so
    # a decile's rate has standard error sqrt(sum pred (1 - pred)) / n: |z| < 4 in all ten deciles.
    assert _worst_z(pred, none, np.sqrt(pred * (1 - pred))) < 4
    assert np.std(pred) > 0.1  # the deciles really differ: the check is not of one average
    # The check has power: leaving out dropout (treating everyone as alive) fails it by far.
    alive_only = ((TRUE.alpha + c["T"]) / (TRUE.alpha + c["T"] + c["t"])) ** (TRUE.r + c["x"])
    assert _worst_z(alive_only.to_numpy(), none, np.sqrt(pred * (1 - pred))) > 10


def test_expected_purchases_matches_simulation(customers):
    c = customers
    pred = expected_purchases(TRUE, c["t"], c["x"], c["t_x"], c["T"])
    future = c["future"].to_numpy()
    # Counts are heavy-tailed, so each decile's standard error comes from its own residuals.
    assert _worst_z(pred, future) < 4
    assert future.mean() == pytest.approx(pred.mean(), abs=4 * np.std(future - pred) / np.sqrt(len(c)))
    # Power: without the P(alive) factor the forecast overshoots far beyond the sampling error.
    naive = pred / p_alive(TRUE, c["x"], c["t_x"], c["T"])
    assert _worst_z(naive, future) > 10


def test_expected_purchases_equals_the_textbook_formula():
    # FHL (2005) eq. 10 evaluated directly, where its 2F1 is still tame.
    x, t_x, T = np.array([0, 1, 5, 20, 50.0]), np.array([0, 3, 20, 30, 39.0]), np.full(5, 40.0)
    r, alpha, a, b = TRUE.r, TRUE.alpha, TRUE.a, TRUE.b
    for t in (0.5, 10.0, 52.0, 500.0):
        z = t / (alpha + T + t)
        bracket = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
        direct = p_alive(TRUE, x, t_x, T) * (a + b + x - 1) / (a - 1) * bracket
        np.testing.assert_allclose(expected_purchases(TRUE, t, x, t_x, T), direct, rtol=1e-9)


@pytest.mark.parametrize(("x", "t_x", "T", "t"), [(3, 30.0, 40.0, 26.0), (2000, 700.0, 700.0, 365.0)])
def test_expected_purchases_matches_posterior_simulation(x, t_x, T, t):
    # Draw (alive at T, lambda, p) from the posterior given the history and simulate the window;
    # x = 2000 over 700 days makes the textbook 2F1 overflow, so this checks the stable form.
    rng = np.random.default_rng(7)
    n, pa = 400_000, p_alive(TRUE, x, t_x, T)[0]
    alive = rng.random(n) < pa
    lam = rng.gamma(TRUE.r + x, 1 / (TRUE.alpha + T), n)
    until_dropout = rng.geometric(rng.beta(TRUE.a, TRUE.b + x, n))  # purchases up to the one that ends it
    count = np.where(alive, np.minimum(rng.poisson(lam * t), until_dropout), 0)
    z = (count.mean() - expected_purchases(TRUE, t, x, t_x, T)[0]) / (count.std() / np.sqrt(n))
    assert abs(z) < 4
    assert np.mean(count == 0) == pytest.approx(p_no_purchase(TRUE, t, x, t_x, T)[0], abs=4 * 0.5 / np.sqrt(n))


def test_customers_without_repeat_purchases():
    T = np.array([1.0, 10.0, 100.0])
    zeros = np.zeros(3)
    np.testing.assert_array_equal(p_alive(TRUE, zeros, zeros, T), 1.0)  # dropout needs a purchase
    expected = ((TRUE.alpha + T) / (TRUE.alpha + T + 8)) ** TRUE.r
    np.testing.assert_allclose(p_no_purchase(TRUE, 8, zeros, zeros, T), expected, rtol=1e-12)
    assert (np.diff(expected_purchases(TRUE, 8, zeros, zeros, T)) < 0).all()  # quiet for longer, fewer


def test_predictions_take_series_scalars_and_a_single_customer():
    one = p_no_purchase(TRUE, 13, 4, 20.0, 52.0)
    assert one.shape == (1,) and one.dtype == np.float64 and 0 < one[0] < 1
    s = pd.Series([0, 4]), pd.Series([0.0, 20.0]), pd.Series([52.0, 52.0])
    assert p_alive(TRUE, *s).shape == (2,)
    assert (p_no_purchase(TRUE, 0, *s) == 1).all()  # an empty window holds no purchase
    assert (expected_purchases(TRUE, 0, *s) == 0).all()
    np.testing.assert_array_equal(p_no_purchase(TRUE, [13, 13], *s), p_no_purchase(TRUE, 13, *s))
    # Frequent buyers long gone: P(alive) underflows to a clean 0, no warnings or NaN.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert p_alive(TRUE, 500, 10.0, 1000.0)[0] == 0.0
        assert expected_purchases(TRUE, 52, 500, 10.0, 1000.0)[0] == 0.0
    # a = 1 is a removable 0/0 in the expected-purchases formula.
    near = [expected_purchases(BgNbdParams(0.25, 4.0, a, 2.5), 26, 3, 30.0, 40.0)[0] for a in (1 - 1e-5, 1, 1.00001)]
    assert near[1] == pytest.approx(near[0], rel=1e-4) and near[1] == pytest.approx(near[2], rel=1e-4)


def test_single_customer_fit_needs_a_penalizer():
    with pytest.warns(RuntimeWarning, match="penalizer > 0"):
        fit_bgnbd([3], [10.0], [20.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = fit_bgnbd([3], [10.0], [20.0], penalizer=0.01)
    assert all(0.01 < v < 100 for v in (fit.r, fit.alpha, fit.a, fit.b))


def test_penalizer_pulls_toward_one(customers):
    c = customers
    plain = fit_bgnbd(c["x"], c["t_x"], c["T"])
    shrunk = fit_bgnbd(c["x"], c["t_x"], c["T"], penalizer=0.1)
    assert abs(np.log(shrunk.r)) < abs(np.log(plain.r)) and abs(np.log(shrunk.alpha)) < abs(np.log(plain.alpha))


def test_weights_are_customer_counts():
    x, t_x, T, w = [0, 1, 3, 0], [0.0, 5.0, 9.0, 0.0], [10.0, 12.0, 20.0, 30.0], [3, 1, 2, 5]
    expanded = [np.repeat(v, w) for v in (x, t_x, T)]
    a, b = fit_bgnbd(x, t_x, T, weights=w, penalizer=0.01), fit_bgnbd(*expanded, penalizer=0.01)
    for name in ("r", "alpha", "a", "b"):
        assert getattr(a, name) == pytest.approx(getattr(b, name), rel=1e-5)


def test_fit_is_fast_on_300k_customers(customers):
    # 300k customers in days (distinct (x, t_x, T) rows stay in the tens of thousands).
    rng = np.random.default_rng(3)
    c = customers.sample(300_000, replace=True, random_state=3)
    T = np.ceil(c["T"].to_numpy() * 7) + rng.integers(0, 7, len(c))
    t_x = np.where(c["x"] > 0, np.minimum(np.ceil(c["t_x"].to_numpy() * 7), T), 0)
    start = time.perf_counter()
    fit = fit_bgnbd(c["x"], t_x, T)
    assert time.perf_counter() - start < 5  # about 0.3 s unloaded; generous for shared CI machines
    assert fit.r == pytest.approx(TRUE.r, rel=0.1) and fit.alpha / 7 == pytest.approx(TRUE.alpha, rel=0.15)


@pytest.mark.parametrize(
    ("x", "t_x", "T", "message"),
    [
        ([], [], [], "empty"),
        ([1, 2], [1.0], [2.0, 3.0], "equal length"),
        ([-1], [0.0], [5.0], "non-negative whole"),
        ([1.5], [1.0], [5.0], "non-negative whole"),
        ([1], [-1.0], [5.0], "recency must be >= 0"),
        ([2], [6.0], [5.0], "must not exceed age"),
        ([0], [2.0], [5.0], "recency must be 0 where frequency is 0"),
        ([1], [float("nan")], [5.0], "finite"),
        (["a"], [1.0], [5.0], "numeric"),
    ],
)
def test_bad_summaries_are_rejected(x, t_x, T, message):
    with pytest.raises(ValueError, match=message):
        fit_bgnbd(x, t_x, T)
    with pytest.raises(ValueError, match=message):
        p_no_purchase(TRUE, 4, x, t_x, T)


def test_bad_parameters_and_options_are_rejected():
    with pytest.raises(ValueError, match="positive and finite"):
        BgNbdParams(r=-0.1, alpha=4.0, a=0.8, b=2.5)
    with pytest.raises(ValueError, match="t .forecast window. must be finite and >= 0"):
        expected_purchases(TRUE, -1, [1], [1.0], [5.0])
    with pytest.raises(ValueError, match="one value per customer"):
        p_no_purchase(TRUE, [1, 2, 3], [1, 2], [1.0, 1.0], [5.0, 5.0])
    with pytest.raises(ValueError, match="weights"):
        fit_bgnbd([1, 2], [1.0, 2.0], [5.0, 5.0], weights=[1, -1])
    with pytest.raises(ValueError, match="penalizer"):
        fit_bgnbd([1, 2], [1.0, 2.0], [5.0, 5.0], penalizer=-1)
