"""course.testing: the helpers behind the labs' hidden tests."""

import numpy as np
import pytest

import course.hpo as hpo
from course.hpo import RandomSampler, grid_configurations, minimize
from course.hpo import grid_configurations as aliased
from course.testing import random_objective, random_space, references_used


def honest(objective, space, points_per_dim):
    import itertools
    names = [p.name for p in space]
    return [(dict(zip(names, v)), 0.0) for v in itertools.product(*(p.grid_values(points_per_dim) for p in space))]


def direct(objective, space, points_per_dim):
    return [(c, objective(c)) for c in grid_configurations(space, points_per_dim)]


def through_alias(objective, space, points_per_dim):
    return aliased(space, points_per_dim)


def through_module(objective, space, points_per_dim):
    return hpo.grid_configurations(space, points_per_dim)


def _helper(space, k):
    return grid_configurations(space, k)


def through_helper(objective, space, points_per_dim):
    return _helper(space, points_per_dim)


def through_nested(objective, space, points_per_dim):
    def inner():
        return minimize(objective, space, RandomSampler(0), 3)
    return inner()


def test_an_honest_answer_uses_no_reference():
    assert references_used(honest, grid_configurations, minimize) == []


@pytest.mark.parametrize("answer, names", [
    (direct, ["grid_configurations"]),
    (through_alias, ["aliased"]),
    (through_module, ["grid_configurations"]),
    (through_helper, ["grid_configurations"]),
    (through_nested, ["RandomSampler", "minimize"]),
])
def test_calls_to_the_reference_are_found_however_they_are_spelt(answer, names):
    assert references_used(answer, grid_configurations, minimize, RandomSampler) == names


def test_only_functions_are_accepted():
    with pytest.raises(ValueError, match="expected a Python function"):
        references_used(len, minimize)


@pytest.mark.parametrize("seed", range(10))
def test_random_spaces_and_objectives_are_seeded(seed):
    a, b = random_space(seed, conditional=True), random_space(seed, conditional=True)
    assert repr(a) == repr(b)
    config = a.sample(np.random.default_rng(seed))
    assert random_objective(a, seed)(config) == random_objective(b, seed)(config) >= 0


def test_rescaled_by_ulps_moves_every_value_by_a_few_ulps_and_keeps_ties():
    from course.testing import rescaled_by_ulps

    X = np.array([[1.0, -3.0, 0.5], [1.0, 7.0, 0.5]])
    Y = rescaled_by_ulps(X, seed=1)
    ulps = np.abs(Y - X) / np.spacing(np.abs(X))
    assert np.all((ulps >= 1) & (ulps <= 4)) and np.array_equal(Y[0, [0, 2]], Y[1, [0, 2]])
    assert np.array_equal(rescaled_by_ulps(X, seed=1), Y)
    with pytest.raises(ValueError, match="2-d"):
        rescaled_by_ulps(np.ones(3), seed=0)
