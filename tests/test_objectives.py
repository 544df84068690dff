import math

import numpy as np
import pytest

from course.hpo.objectives import (BRANIN_MINIMISERS, HARTMANN6_MINIMISER, OBJECTIVES,
                                   SVM_DIGITS_ARGMIN, SVM_DIGITS_OPTIMUM, Objective, branin,
                                   estimate_optimum, hartmann6, svm_digits)


@pytest.fixture(scope="module")
def svm():
    return svm_digits()


def test_registry_builds_objectives_named_after_their_keys():
    assert {"branin", "hartmann6"} <= set(OBJECTIVES)
    assert any(name.startswith("svm_") for name in OBJECTIVES)
    for name, factory in OBJECTIVES.items():
        if name.startswith("svm_"):
            continue  # built once by the fixture, it loads data
        objective = factory()
        assert isinstance(objective, Objective)
        assert objective.name == name
        assert math.isfinite(objective.optimum)
        assert objective.optimum_note


def test_branin_attains_its_optimum_at_all_three_minimisers():
    objective = branin()
    assert objective.optimum == pytest.approx(0.397887, abs=1e-6)
    for x1, x2 in BRANIN_MINIMISERS:
        config = {"x1": x1, "x2": x2}
        objective.space.validate(config)
        assert objective(config) == pytest.approx(objective.optimum, abs=1e-9)
        assert abs(objective.regret(objective(config))) < 1e-9


def test_hartmann6_attains_its_optimum_at_the_published_minimiser():
    objective = hartmann6()
    assert objective.optimum == pytest.approx(-3.32237, abs=1e-5)
    config = dict(zip(objective.space.names, HARTMANN6_MINIMISER))
    objective.space.validate(config)
    assert objective(config) == pytest.approx(objective.optimum, abs=1e-6)
    assert 0 <= objective.regret(objective(config)) < 1e-6


@pytest.mark.parametrize("factory", [branin, hartmann6])
def test_no_random_point_beats_the_optimum(factory):
    objective = factory()
    rng = np.random.default_rng(0)
    values = np.array([objective(objective.space.sample(rng)) for _ in range(1000)])
    assert np.all(values >= objective.optimum)
    assert np.all(objective.regret(values) >= 0)
    # a random search is far from the optimum: the functions are not trivially flat
    assert np.median(objective.regret(values)) > 0.1


def test_regret_is_value_minus_optimum_for_scalars_and_arrays():
    objective = branin()
    assert objective.regret(1.0) == pytest.approx(1.0 - objective.optimum)
    assert isinstance(objective.regret(1.0), float)
    np.testing.assert_allclose(objective.regret([1.0, 2.0]), np.array([1.0, 2.0]) - objective.optimum)


def test_svm_objective_is_deterministic_and_an_error_rate(svm):
    rng = np.random.default_rng(1)
    configs = [svm.space.sample(rng) for _ in range(4)] + [
        {"kernel": "linear", "C": 1.0},
        {"kernel": "rbf", "C": 10.0, "gamma": 0.01},
    ]
    again = svm_digits()  # a second instance reloads the data and rebuilds the folds
    for config in configs:
        svm.space.validate(config)
        value = svm(config)
        assert 0.0 <= value <= 1.0
        assert svm(config) == value
        assert again(config) == value


def test_svm_space_is_conditional_on_the_kernel(svm):
    assert svm.space.is_conditional
    assert not svm.space["gamma"].is_active({"kernel": "linear"})
    assert svm.space["gamma"].is_active({"kernel": "rbf"})
    assert svm.space["C"].log and svm.space["gamma"].log


def test_stored_svm_optimum_is_attained_by_the_stored_configuration(svm):
    assert svm.optimum_is_estimate
    assert svm.optimum == SVM_DIGITS_OPTIMUM
    assert 0.0 <= SVM_DIGITS_OPTIMUM < 0.2
    svm.space.validate(SVM_DIGITS_ARGMIN)
    assert svm(SVM_DIGITS_ARGMIN) == pytest.approx(SVM_DIGITS_OPTIMUM, abs=1e-12)


def test_a_small_search_does_not_beat_the_stored_estimate(svm):
    value, config = estimate_optimum(grid_points=2, n_random=4, n_local=2, n_best=1)
    svm.space.validate(config)
    assert svm(config) == pytest.approx(value)
    assert value >= SVM_DIGITS_OPTIMUM


@pytest.mark.parametrize("bad", [{"grid_points": 0}, {"n_random": -1}, {"n_best": 1.5}])
def test_estimate_optimum_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        estimate_optimum(**bad)
