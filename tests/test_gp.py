"""Properties of the Gaussian-process sampler (course.hpo.gp)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from course.hpo.gp import (
    GaussianProcess,
    GPSampler,
    _Encoding,
    _lml_and_grad,
    _log_prior,
    _raw_sq_diffs,
    expected_improvement,
    fit_hyperparameters,
    log_expected_improvement,
    log_marginal_likelihood,
    lower_confidence_bound,
    matern52_kernel,
    probability_of_improvement,
)
from course.hpo.loop import minimize
from course.hpo.random_search import RandomSampler
from course.hpo.space import Categorical, Float, Int, SearchSpace
from course.testing import random_objective, random_space


def branin(config):
    x1, x2 = config["x1"], config["x2"]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


BRANIN_MIN = 0.397887
BRANIN_SPACE = SearchSpace([Float("x1", -5, 10), Float("x2", 0, 15)])


# -- the GP ---------------------------------------------------------------------------
def test_posterior_interpolates_noiseless_data_and_is_uncertain_elsewhere():
    rng = np.random.default_rng(0)
    X = rng.random((12, 2))
    y = np.sin(5 * X[:, 0]) + X[:, 1] ** 2
    gp = GaussianProcess(X, y, lengthscales=[0.3, 0.4], signal_var=1.0, noise_var=1e-10)
    mean, var = gp.predict(X)
    np.testing.assert_allclose(mean, y, atol=1e-5)
    assert np.all(var < 1e-6)
    _, var_far = gp.predict(rng.random((200, 2)) + 2.0)      # far from every point
    assert np.all(var_far > 0.9)
    _, var_between = gp.predict((X[:-1] + X[1:]) / 2)         # between points: in between
    assert np.all(var_between > var.max())


def test_kernel_is_matern52_and_categorical_coordinates_compare_by_equality():
    A = np.array([[0.0, 1.0], [0.3, 2.0]])
    K = matern52_kernel(A, A, lengthscales=[0.5, 2.0], signal_var=1.5, categorical=[False, True])
    r = math.sqrt((0.3 / 0.5) ** 2 + 1 / 2.0**2)
    expected = 1.5 * (1 + math.sqrt(5) * r + 5 * r * r / 3) * math.exp(-math.sqrt(5) * r)
    np.testing.assert_allclose(K, [[1.5, expected], [expected, 1.5]])


def test_predict_with_gradient_matches_predict_and_finite_differences():
    rng = np.random.default_rng(1)
    X, y = rng.random((15, 3)), rng.standard_normal(15)
    gp = GaussianProcess(X, y, [0.3, 0.5, 0.8], 1.2, 1e-4)
    x = rng.random((4, 3))
    mean, var, dmean, dvar = gp.predict_with_gradient(x)
    np.testing.assert_allclose((mean, var), gp.predict(x), atol=1e-10)
    eps = 1e-6
    for j in range(3):
        step = np.zeros(3)
        step[j] = eps
        (m1, v1), (m0, v0) = gp.predict(x + step), gp.predict(x - step)
        np.testing.assert_allclose(dmean[:, j], (m1 - m0) / (2 * eps), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(dvar[:, j], (v1 - v0) / (2 * eps), rtol=1e-4, atol=1e-6)


def test_marginal_likelihood_gradient_matches_finite_differences():
    rng = np.random.default_rng(2)
    X = np.column_stack([rng.random(10), rng.integers(0, 3, 10)])
    y = rng.standard_normal(10)
    raw = _raw_sq_diffs(X, np.array([False, True]))
    theta = np.log([0.4, 0.7, 1.3, 1e-2])
    _, grad = _lml_and_grad(theta, raw, y)
    eps = 1e-6
    numeric = [(_lml_and_grad(theta + eps * e, raw, y)[0] - _lml_and_grad(theta - eps * e, raw, y)[0])
               / (2 * eps) for e in np.eye(4)]
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)
    _, prior_grad = _log_prior(theta)
    numeric = [(_log_prior(theta + eps * e)[0] - _log_prior(theta - eps * e)[0]) / (2 * eps)
               for e in np.eye(4)]
    np.testing.assert_allclose(prior_grad, numeric, rtol=1e-5, atol=1e-7)


def test_fitting_raises_the_marginal_likelihood():
    rng = np.random.default_rng(3)
    X = rng.random((25, 2))
    y = np.sin(6 * X[:, 0]) * np.cos(2 * X[:, 1])
    y = (y - y.mean()) / y.std()
    start = log_marginal_likelihood(X, y, [0.5, 0.5], 1.0, 1e-3)
    fitted = fit_hyperparameters(X, y, use_prior=False)
    assert fitted["objective"] > start + 1.0
    again = log_marginal_likelihood(X, y, fitted["lengthscales"], fitted["signal_var"], fitted["noise_var"])
    assert again == pytest.approx(fitted["objective"])
    # with the prior (the default), the maximised objective is the log posterior
    theta0 = np.log([0.5, 0.5, 1.0, 1e-3])
    start_posterior = _lml_and_grad(theta0, _raw_sq_diffs(X, np.zeros(2, bool)), y)[0] + _log_prior(theta0)[0]
    with_prior = fit_hyperparameters(X, y)
    assert with_prior["objective"] > start_posterior + 1.0


# -- acquisition functions ----------------------------------------------------------
def test_expected_improvement_is_nonnegative_and_matches_the_closed_form():
    rng = np.random.default_rng(4)
    mu = rng.normal(0, 3, 1000)
    sigma = np.abs(rng.normal(0, 1, 1000))
    sigma[::10] = 0.0
    ei = expected_improvement(mu, sigma, best=0.5)
    assert np.all(np.isfinite(ei)) and np.all(ei >= 0)
    pos = sigma > 1e-3
    z = (0.5 - mu[pos]) / sigma[pos]
    closed = (0.5 - mu[pos]) * norm.cdf(z) + sigma[pos] * norm.pdf(z)
    np.testing.assert_allclose(ei[pos], np.maximum(closed, 0), rtol=1e-7, atol=1e-12)


def test_expected_improvement_with_zero_sigma():
    assert expected_improvement(2.0, 0.0, best=1.0) == 0.0            # worse, certain
    assert expected_improvement(0.25, 0.0, best=1.0) == pytest.approx(0.75)  # best - mu
    # the limit sigma -> 0 agrees with the sigma = 0 value
    assert expected_improvement(0.25, 1e-9, best=1.0) == pytest.approx(0.75)
    assert expected_improvement(2.0, 1e-9, best=1.0) == pytest.approx(0.0, abs=1e-12)
    assert expected_improvement(0.5, 0.0, best=1.0, xi=0.2) == pytest.approx(0.3)


def test_log_expected_improvement_stays_finite_where_ei_underflows():
    sigma = 1.0
    mu = np.array([1.0, 10.0, 40.0, 1e3, 1e5])
    log_ei = log_expected_improvement(mu, sigma, best=0.0)
    assert np.all(np.isfinite(log_ei)) and np.all(np.diff(log_ei) < 0)
    np.testing.assert_allclose(log_ei[:2], np.log(expected_improvement(mu[:2], sigma, 0.0)), rtol=1e-9)
    # asymptotically EI ~ phi(z) / z^2
    z = -mu[-1]
    assert log_ei[-1] == pytest.approx(-z * z / 2 - 0.5 * math.log(2 * math.pi) - 2 * math.log(-z), rel=1e-9)


def test_probability_of_improvement_and_lower_confidence_bound():
    rng = np.random.default_rng(5)
    mu, sigma = rng.normal(0, 3, 500), np.abs(rng.normal(0, 1, 500))
    sigma[:50] = 0.0
    pi = probability_of_improvement(mu, sigma, best=0.0)
    assert np.all((pi >= 0) & (pi <= 1))
    np.testing.assert_array_equal(pi[:50], (mu[:50] < 0).astype(float))
    np.testing.assert_allclose(lower_confidence_bound(mu, sigma, kappa=1.5), mu - 1.5 * sigma)
    with pytest.raises(ValueError, match="kappa"):
        lower_confidence_bound(mu, sigma, kappa=-1)
    with pytest.raises(ValueError, match="sigma"):
        expected_improvement(0.0, -1.0, best=0.0)


# -- the encoding ---------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_encoding_round_trips_configurations(seed):
    space = random_space(seed, conditional=seed % 2 == 1, n_params=4)
    encoding = _Encoding(space)
    rng = np.random.default_rng(seed)
    configs = [space.sample(rng) for _ in range(20)]
    Z = encoding.from_configs(configs)
    assert [encoding.config(z) for z in Z] == configs
    # encoding raw unit points gives the encoding of the configuration they decode to
    U = rng.random((20, len(space)))
    np.testing.assert_allclose(encoding.from_unit(U),
                               encoding.from_configs([space.from_unit(u) for u in U]), atol=1e-12)


# -- the sampler ----------------------------------------------------------------------
FAST = dict(n_candidates=300, n_local_search=2)


def test_same_seed_same_history_different_seed_different_history():
    runs = [minimize(branin, BRANIN_SPACE, GPSampler(seed=s, n_startup_trials=5, **FAST), 12)
            for s in (7, 7, 8)]
    assert runs[0]["params"].tolist() == runs[1]["params"].tolist()
    assert runs[0]["params"].tolist() != runs[2]["params"].tolist()
    # re-running the same sampler object replays the run too
    sampler = GPSampler(seed=7, n_startup_trials=5, **FAST)
    first = minimize(branin, BRANIN_SPACE, sampler, 12)["params"].tolist()
    assert minimize(branin, BRANIN_SPACE, sampler, 12)["params"].tolist() == first


def test_finds_the_branin_minimum():
    regrets = [minimize(branin, BRANIN_SPACE, GPSampler(seed=s), 40)["value"].min() - BRANIN_MIN
               for s in range(3)]
    assert np.median(regrets) < 0.05


@pytest.mark.parametrize("acquisition", ["ei", "ucb", "pi"])
def test_every_acquisition_beats_random_search(acquisition):
    space = SearchSpace([Float("a", -2, 2), Float("b", 1e-3, 1e1, log=True)])

    def objective(c):
        return (c["a"] - 0.7) ** 2 + (math.log10(c["b"]) - 0.5) ** 2

    gp = minimize(objective, space, GPSampler(acquisition, seed=0, xi=0.01, **FAST), 25)
    rnd = minimize(objective, space, RandomSampler(seed=0), 25)
    assert gp["value"].min() < rnd["value"].min()
    assert gp["value"].min() < 0.05


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("conditional", [False, True])
def test_works_on_mixed_and_conditional_spaces(seed, conditional):
    space = random_space(seed, conditional=conditional, n_params=4)
    objective = random_objective(space, seed)
    history = minimize(objective, space, GPSampler(seed=seed, n_startup_trials=5, **FAST), 15)
    assert len(history) == 15           # minimize validated every proposal
    assert history["value"].iloc[5:].min() <= history["value"].iloc[:5].max()


def test_mixed_space_with_int_log_and_categorical():
    space = SearchSpace([
        Categorical("kind", ["x", "y", "z"]),
        Int("n", 1, 200, log=True),
        Int("k", -3, 3),
        Float("lr", 1e-4, 1.0, log=True),
        Float("reg", 0.0, 1.0, when={"kind": ["y", "z"]}),
    ])

    def objective(c):
        penalty = {"x": 1.0, "y": 0.0, "z": 0.5}[c["kind"]] + c.get("reg", 0.5) ** 2
        return penalty + (math.log(c["n"]) - math.log(30)) ** 2 / 10 + abs(c["k"] - 1) \
            + (math.log10(c["lr"]) + 2) ** 2

    history = minimize(objective, space, GPSampler(seed=0, n_startup_trials=8, **FAST), 30)
    best = history.loc[history["value"].idxmin(), "params"]
    assert isinstance(best["n"], int) and isinstance(best["k"], int)
    assert history["value"].min() < minimize(objective, space, RandomSampler(seed=0), 30)["value"].min()


def test_int_only_space_does_not_crash_when_nearly_exhausted():
    space = SearchSpace([Int("a", 0, 2), Categorical("b", ["u", "v"])])
    history = minimize(lambda c: c["a"] + (c["b"] == "u"), space, GPSampler(seed=0, n_startup_trials=2, **FAST), 10)
    assert history["value"].min() == 0


@pytest.mark.parametrize("kwargs, message", [
    (dict(acquisition="foo"), "acquisition must be one of"),
    (dict(n_startup_trials=0), "n_startup_trials must be a positive int, got 0"),
    (dict(n_startup_trials=2.5), "n_startup_trials"),
    (dict(kappa=-1.0), "kappa must be a finite number >= 0, got -1.0"),
    (dict(xi=float("nan")), "xi must be"),
    (dict(n_candidates=0), "n_candidates must be a positive int"),
    (dict(n_local_search=-1), "n_local_search must be a non-negative int"),
])
def test_bad_arguments_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GPSampler(**kwargs)


def test_nothing_random_happens_at_construction():
    sampler = GPSampler(seed=0)
    assert sampler.gp is None and sampler._rng is None
