"""Regularised evolution (Real et al. 2019, Algorithm 1) as a course sampler."""

import numpy as np
import pytest

from course.hpo import Categorical, Float, Int, RandomSampler, SearchSpace, Trial, minimize
from course.nas.cell_space import cell_space, mutate, to_architecture, to_config
from course.nas.regularized_evolution import RegularizedEvolution, mutate_configuration, tournament


TARGET = ("conv_3x3", "avg_pool_3x3", "skip_connect", "conv_3x3", "none", "avg_pool_3x3")


def edges_off_target(config):
    """A toy objective on the cell space: the number of edges that differ from one target cell."""
    return sum(op != target for op, target in zip(to_architecture(config), TARGET))


def run(sampler, space, values, n):
    """Ask/tell ``n`` times, the value of the k-th proposal being ``values(config, k)``."""
    history = []
    for k in range(n):
        config = sampler.ask(space, history)
        history.append(Trial(k, config, float(values(config, k))))
        sampler.tell(history[-1])
    return history


@pytest.mark.parametrize("kwargs, error, message", [
    ({"population_size": 0}, ValueError, "population_size must be a positive int"),
    ({"sample_size": 2.5}, ValueError, "sample_size must be a positive int"),
    ({"population_size": 4, "sample_size": 5}, ValueError, "sample_size must be <= population_size"),
    ({"mutation": "swap"}, TypeError, "mutation must be a callable"),
    ({"seed": "0"}, ValueError, "seed must be an int or None"),
])
def test_bad_settings_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        RegularizedEvolution(**kwargs)


def test_the_first_population_is_random_like_random_search():
    space = cell_space()
    evolved = run(RegularizedEvolution(8, 3, seed=5), space, lambda c, k: k, 8)
    random = run(RandomSampler(seed=5), space, lambda c, k: k, 8)
    assert [t.params for t in evolved] == [t.params for t in random]


def test_every_later_proposal_is_a_one_edge_mutation_of_a_living_member():
    space, sampler = cell_space(), RegularizedEvolution(10, 4, seed=0)
    history = []
    for k in range(80):
        living = [params for params, _ in sampler.population]
        config = sampler.ask(space, history)
        if k >= 10:
            distances = [sum(a != b for a, b in zip(to_architecture(config), to_architecture(p))) for p in living]
            assert 1 in distances  # its parent (a copy of the child may live too)
        history.append(Trial(k, config, float(edges_off_target(config))))
        sampler.tell(history[-1])


def test_the_oldest_member_dies_not_the_worst():
    space, sampler = cell_space(), RegularizedEvolution(5, 2, seed=0)
    history = run(sampler, space, lambda c, k: -k if k == 0 else k, 12)  # trial 0 is by far the best
    assert [value for _, value in sampler.population] == [t.value for t in history[-5:]]
    assert all(value != 0 for _, value in sampler.population)  # the best one aged out


def test_the_tournament_returns_the_best_of_its_sample():
    values = [5.0, 1.0, 4.0, 0.5, 3.0]
    for seed in range(20):
        sample = np.random.default_rng(seed).integers(len(values), size=3)
        expected = sample[np.argmin(np.array(values)[sample])]
        assert tournament(values, 3, np.random.default_rng(seed)) == expected
    assert tournament(values, 200, np.random.default_rng(0)) == 3  # a huge sample finds the best
    with pytest.raises(ValueError, match="population is empty"):
        tournament([], 2, np.random.default_rng(0))


def test_the_default_mutation_is_the_cell_spaces_mutation():
    space = cell_space()
    for seed in range(100):
        arch = tuple(np.random.default_rng(seed).choice(["none", "skip_connect", "conv_3x3", "avg_pool_3x3"], 6))
        assert to_architecture(mutate_configuration(space, to_config(arch), np.random.default_rng(seed + 1))) == \
            mutate(arch, np.random.default_rng(seed + 1))


def test_mutation_repairs_conditional_parameters():
    space = SearchSpace([Categorical("model", ["svm", "tree"]),
                         Float("C", 0.1, 10.0, log=True, when={"model": "svm"}),
                         Int("depth", 1, 10, when={"model": "tree"})])
    rng = np.random.default_rng(0)
    config = {"model": "svm", "C": 1.0}
    for _ in range(50):
        child = mutate_configuration(space, config, rng)
        space.validate(child)
        assert sum(child.get(k) != config.get(k) for k in set(child) | set(config)) >= 1
        config = child


def test_a_custom_mutation_is_used_and_a_missing_tell_is_reported():
    space = cell_space()
    calls = []

    def swap_to_skip(config, rng):
        calls.append(dict(config))
        return mutate_configuration(space, config, rng)

    run(RegularizedEvolution(4, 2, mutation=swap_to_skip, seed=0), space, lambda c, k: k, 10)
    assert len(calls) == 6
    lazy = RegularizedEvolution(2, 1, seed=0)
    lazy.ask(space, [])
    lazy.ask(space, [])
    with pytest.raises(RuntimeError, match="call tell"):
        lazy.ask(space, [])


def test_the_same_seed_replays_the_same_run():
    space = cell_space()
    first = minimize(edges_off_target, space, RegularizedEvolution(10, 3, seed=4), 60)
    second = minimize(edges_off_target, space, RegularizedEvolution(10, 3, seed=4), 60)
    assert first["params"].tolist() == second["params"].tolist()


def test_evolution_beats_random_search_on_a_toy_objective_over_seeds():
    """Mutations climb towards the target; random search must hit it (20 seeds, 100 trials, 4,096 cells)."""
    space = cell_space()
    evolved = [minimize(edges_off_target, space, RegularizedEvolution(10, 3, seed=s), 100)["value"].min() for s in range(20)]
    random = [minimize(edges_off_target, space, RandomSampler(seed=s), 100)["value"].min() for s in range(20)]
    assert np.mean(evolved) < np.mean(random) - 0.5
    assert np.mean(np.array(evolved) == 0) > np.mean(np.array(random) == 0) + 0.25  # the one optimum, far more often
