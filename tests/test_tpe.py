"""Properties of the TPE sampler and its building blocks (course.hpo.tpe)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from course.hpo.loop import minimize
from course.hpo.random_search import RandomSampler
from course.hpo.space import Categorical, Float, Int, SearchSpace
from course.hpo.tpe import (
    ParzenEstimator,
    TPESampler,
    categorical_kernels,
    default_gamma,
    good_count,
    neighbour_bandwidths,
    ramp_weights,
    scott_bandwidths,
    split_good_bad,
    truncated_normal_logmass,
    truncated_normal_logpdf,
    truncated_normal_sample,
)
from course.testing import random_objective, random_space


def branin(config):
    x1, x2 = config["x1"], config["x2"]
    return ((x2 - 5.1 / (4 * np.pi ** 2) * x1 ** 2 + 5 / np.pi * x1 - 6) ** 2
            + 10 * (1 - 1 / (8 * np.pi)) * np.cos(x1) + 10)


BRANIN = SearchSpace([Float("x1", -5, 10), Float("x2", 0, 15)])
MIXED = SearchSpace([
    Categorical("kernel", ["linear", "rbf", "poly"]),
    Float("C", 1e-2, 1e2, log=True),
    Float("gamma", 1e-4, 1.0, log=True, when={"kernel": "rbf"}),
    Int("degree", 2, 5, when={"kernel": "poly"}),
    Int("units", 1, 512, log=True),
    Float("dropout", 0.0, 0.5),
])


# -- the split ---------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 9, 10, 11, 37, 100, 251, 400])
@pytest.mark.parametrize("gamma", [None, 0.07, 0.1, 0.25, 0.5, 1.0,
                                   lambda n: int(math.sqrt(n)), lambda n: 0])
def test_split_sizes_and_order(n, gamma):
    rng = np.random.default_rng(n)
    values = rng.integers(0, 5, n).astype(float)  # many ties
    good, bad = split_good_bad(values, gamma)
    if gamma is None:
        expected = min((n + 9) // 10, 25)
    elif callable(gamma):
        expected = min(max(gamma(n), 1), n)
    else:
        expected = max(math.ceil(round(gamma * n, 9)), 1)
    assert len(good) == expected == good_count(n, gamma)
    assert len(good) + len(bad) == n and len(good) >= 1
    assert sorted(np.concatenate([good, bad]).tolist()) == list(range(n))
    assert np.all(np.diff(good) > 0) and np.all(np.diff(bad) > 0)
    if len(bad):
        assert values[good].max() <= values[bad].min()


def test_split_ties_go_to_the_earlier_trial():
    good, bad = split_good_bad([3.0, 1.0, 1.0, 1.0, 2.0], 0.4)  # ceil(0.4 * 5) = 2 good
    assert good.tolist() == [1, 2] and bad.tolist() == [0, 3, 4]
    again = split_good_bad([3.0, 1.0, 1.0, 1.0, 2.0], 0.4)
    assert np.array_equal(good, again[0]) and np.array_equal(bad, again[1])


def test_default_gamma_is_capped():
    assert [default_gamma(n) for n in (1, 10, 11, 30, 250, 1000)] == [1, 1, 2, 3, 25, 25]
    assert good_count(0) == 0


def test_ramp_weights():
    assert np.array_equal(ramp_weights(10), np.ones(10))
    w = ramp_weights(100)
    assert len(w) == 100 and np.all(w > 0) and np.all(np.diff(w) >= 0)
    assert np.all(w[-25:] == 1.0) and w[0] == pytest.approx(0.01)


# -- kernels -----------------------------------------------------------------------------
def _integral_1d(logpdf, n=20001):
    x = np.linspace(0.0, 1.0, n)
    return np.trapezoid(np.exp(logpdf(x[:, None])), x, axis=0)


def test_truncated_normal_integrates_to_one():
    mus = np.array([0.0, 0.3, 0.5, 0.99, 1.0])
    sigmas = np.array([0.01, 0.05, 1.0, 0.2, 0.5])
    np.testing.assert_allclose(_integral_1d(lambda x: truncated_normal_logpdf(x, mus, sigmas)),
                               1.0, atol=2e-3)


def test_truncated_normal_mass_of_a_partition_sums_to_one():
    edges = np.linspace(0, 1, 8)
    mus, sigmas = np.array([0.1, 0.5, 0.95]), np.array([0.01, 0.3, 0.05])
    masses = np.exp(truncated_normal_logmass(edges[:-1, None], edges[1:, None], mus, sigmas))
    np.testing.assert_allclose(masses.sum(axis=0), 1.0, atol=1e-9)


def test_truncated_normal_samples_stay_inside():
    rng = np.random.default_rng(0)
    mu = np.repeat([0.0, 0.5, 1.0], 2000)
    x = truncated_normal_sample(rng, mu, np.full(mu.shape, 0.3))
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert abs(x[2000:4000].mean() - 0.5) < 0.02  # symmetric kernel, centre stays put


def test_bandwidths_are_clipped_and_positive():
    rng = np.random.default_rng(1)
    for n in (1, 2, 5, 50, 300):
        mus = rng.random(n)
        s = neighbour_bandwidths(mus)
        assert s.shape == (n,)
        assert np.all(s >= 1.0 / min(100, n + 2) - 1e-12) and np.all(s <= 1.0)
    h = scott_bandwidths(rng.random((40, 3)), n_dims=3)
    assert h.shape == (3,) and np.all((h > 0) & (h <= 1))


def test_categorical_kernels_are_distributions():
    rows = categorical_kernels(np.array([0, 2, 2, -1]), 3, prior_weight=1.0)
    assert rows.shape == (5, 3)
    np.testing.assert_allclose(rows.sum(axis=1), 1.0)
    assert rows[0].argmax() == 0 and rows[1].argmax() == 2
    np.testing.assert_allclose(rows[3], 1 / 3)  # inactive observation: uniform
    np.testing.assert_allclose(rows[4], 1 / 3)  # the prior


# -- the Parzen estimator ----------------------------------------------------------------
@pytest.mark.parametrize("multivariate", [True, False])
@pytest.mark.parametrize("bandwidth", ["neighbour", "scott"])
def test_parzen_density_integrates_to_one_on_the_square(multivariate, bandwidth):
    rng = np.random.default_rng(2)
    pe = ParzenEstimator(BRANIN, rng.random((12, 2)), ramp_weights(12),
                         multivariate=multivariate, bandwidth=bandwidth)
    g = np.linspace(0, 1, 401)
    xx, yy = np.meshgrid(g, g, indexing="ij")
    dens = np.exp(pe.log_pdf(np.column_stack([xx.ravel(), yy.ravel()]))).reshape(xx.shape)
    total = np.trapezoid(np.trapezoid(dens, g, axis=1), g)
    assert total == pytest.approx(1.0, abs=5e-3)


@pytest.mark.parametrize("multivariate", [True, False])
def test_parzen_mass_over_a_conditional_mixed_space_is_one(multivariate):
    # Categorical x conditional Int: sum over every (choice, integer) of the probability
    space = SearchSpace([Categorical("b", ["x", "y"]), Int("k", 0, 4, when={"b": "y"}),
                         Categorical("c", ["u", "v", "w"])])
    rng = np.random.default_rng(3)
    points = np.array([space.to_unit(space.sample(rng)) for _ in range(9)])
    pe = ParzenEstimator(space, points, multivariate=multivariate)
    total = 0.0
    for cfg in [{"b": "x", "c": c} for c in "uvw"] + \
               [{"b": "y", "k": k, "c": c} for k in range(5) for c in "uvw"]:
        u = space.to_unit(cfg)
        total += float(np.exp(pe.log_pdf(np.nan_to_num(u, nan=0.5)[None], ~np.isnan(u)[None]))[0])
    assert total == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("multivariate", [True, False])
def test_parzen_samples_stay_in_the_cube(multivariate):
    rng = np.random.default_rng(4)
    points = np.array([MIXED.to_unit(MIXED.sample(rng)) for _ in range(15)])
    pe = ParzenEstimator(MIXED, points, multivariate=multivariate)
    u = pe.sample(rng, 500)
    assert u.shape == (500, len(MIXED))
    assert np.all((u >= 0) & (u <= 1))
    for row in u[:50]:
        MIXED.validate(MIXED.from_unit(row))


def test_chosen_candidate_maximises_the_ratio():
    sampler = TPESampler(seed=5, n_startup_trials=5)
    history = minimize(branin, BRANIN, sampler, 20)
    assert len(sampler.candidates_) == sampler.n_ei_candidates
    last = history["params"].iloc[-1]
    best = int(np.argmax(sampler.scores_))
    assert last == sampler.candidates_[best]
    assert np.all(sampler.scores_[best] >= sampler.scores_)


def test_scores_are_log_l_minus_log_g():
    from course.hpo.sampler import Trial
    rng = np.random.default_rng(6)
    trials = [Trial(i, c, branin(c)) for i, c in enumerate(BRANIN.sample(rng) for _ in range(30))]
    sampler = TPESampler(seed=0)
    sampler.ask(BRANIN, trials)
    points = np.array([BRANIN.to_unit(t.params) for t in trials])
    good, bad = split_good_bad([t.value for t in trials])
    l = ParzenEstimator(BRANIN, points[good])
    g = ParzenEstimator(BRANIN, points[bad], ramp_weights(len(bad)))
    u = np.array([BRANIN.to_unit(c) for c in sampler.candidates_])
    np.testing.assert_allclose(sampler.scores_, l.log_pdf(u) - g.log_pdf(u), atol=1e-9)


# -- the sampler -------------------------------------------------------------------------
@pytest.mark.parametrize("multivariate", [True, False])
def test_same_seed_same_history(multivariate):
    space = random_space(7, conditional=True)
    f = random_objective(space, 7)
    a = minimize(f, space, TPESampler(seed=3, multivariate=multivariate), 25)
    b = minimize(f, space, TPESampler(seed=3, multivariate=multivariate), 25)
    c = minimize(f, space, TPESampler(seed=4, multivariate=multivariate), 25)
    assert a["params"].tolist() == b["params"].tolist()
    assert a["value"].tolist() == b["value"].tolist()
    assert a["params"].tolist() != c["params"].tolist()


def test_startup_trials_are_the_prior():
    a = minimize(branin, BRANIN, TPESampler(seed=11, n_startup_trials=10), 10)
    rng = np.random.default_rng(11)
    assert a["params"].tolist() == [BRANIN.sample(rng) for _ in range(10)]


def test_beats_random_search_on_branin():
    seeds = range(5)
    tpe = [minimize(branin, BRANIN, TPESampler(seed=s), 60)["value"].min() for s in seeds]
    rnd = [minimize(branin, BRANIN, RandomSampler(seed=s), 60)["value"].min() for s in seeds]
    assert np.median(tpe) < np.median(rnd)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("multivariate", [True, False])
def test_random_conditional_and_mixed_spaces_run(seed, multivariate):
    space = random_space(seed, conditional=seed % 2 == 0)
    f = random_objective(space, seed)
    sampler = TPESampler(seed=seed, n_startup_trials=3, multivariate=multivariate)
    history = minimize(f, space, sampler, 15)
    assert len(history) == 15
    for params in history["params"]:
        space.validate(params)


@pytest.mark.parametrize("multivariate", [True, False])
def test_mixed_space_uses_every_branch(multivariate):
    f = lambda c: (c["kernel"] != "rbf") + abs(math.log10(c["C"])) + c["dropout"]  # noqa: E731
    history = minimize(f, MIXED, TPESampler(seed=1, multivariate=multivariate), 40)
    kernels = [p["kernel"] for p in history["params"]]
    assert set(kernels) == {"linear", "rbf", "poly"}
    assert kernels[20:].count("rbf") > len(kernels[20:]) / 2  # the model found the good branch


@pytest.mark.parametrize("kwargs, match", [
    (dict(gamma=0.0), "gamma"), (dict(gamma=1.5), "gamma"), (dict(gamma=-0.1), "gamma"),
    (dict(gamma="a"), "gamma"), (dict(n_ei_candidates=0), "n_ei_candidates"),
    (dict(n_ei_candidates=2.5), "n_ei_candidates"), (dict(n_startup_trials=-3), "n_startup_trials"),
    (dict(prior_weight=0.0), "prior_weight"), (dict(bandwidth="silverman"), "bandwidth"),
    (dict(multivariate="yes"), "multivariate"), (dict(seed=1.5), "seed"),
])
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TPESampler(**kwargs)


def test_bad_gamma_callable_and_values_raise():
    with pytest.raises(ValueError, match="gamma"):
        split_good_bad([1.0, 2.0], lambda n: 0.5)
    with pytest.raises(ValueError, match="NaN"):
        split_good_bad([1.0, float("nan")])
