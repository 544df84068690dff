"""Properties of NSGA-II's environmental selection (course.hpo.nsga2), checked against
the fronts and crowding distances of course.hpo.pareto and against Optuna's NSGA-II,
and of the small NSGA2Sampler."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from course.hpo.hypervolume import hypervolume
from course.hpo.nsga2 import NSGA2Sampler, nsga2_select
from course.hpo.pareto import crowding_distance, non_domination_rank, non_dominated_sort
from course.hpo.space import Categorical, Float, Int, SearchSpace

optuna.logging.set_verbosity(optuna.logging.WARNING)


def optuna_elite(points: np.ndarray, k: int) -> set[int]:
    """Indices Optuna's NSGA-II keeps. Private API (its elite population selection
    strategy): the one place this test reaches into it."""
    from optuna.samplers.nsgaii._elite_population_selection_strategy import (
        NSGAIIElitePopulationSelectionStrategy,
    )
    study = optuna.create_study(directions=["minimize"] * points.shape[1])
    study.add_trials([optuna.trial.create_trial(values=row.tolist()) for row in points])
    select = NSGAIIElitePopulationSelectionStrategy(population_size=k)
    return {trial.number for trial in select(study, list(study.trials))}


CASES = [(seed, n, m) for seed in range(4) for n, m in [(12, 2), (30, 2), (30, 3), (20, 4)]]


def population(seed: int, n: int, m: int) -> np.ndarray:
    """Integer points (ties, duplicates) with a few continuous ones mixed in."""
    rng = np.random.default_rng(seed)
    points = rng.integers(0, 6, size=(n, m)).astype(float)
    points[: n // 3] += rng.random((n // 3, m))
    return points


@pytest.mark.parametrize("seed, n, m", CASES)
def test_exactly_k_distinct_indices_for_every_k(seed, n, m):
    points = population(seed, n, m)
    for k in range(n + 1):
        chosen = nsga2_select(points, k)
        assert chosen.shape == (k,) and chosen.dtype.kind == "i"
        assert len(set(chosen.tolist())) == k
        assert np.all((0 <= chosen) & (chosen < n))


@pytest.mark.parametrize("seed, n, m", CASES)
def test_keeps_whole_better_fronts_and_the_least_crowded_of_the_last(seed, n, m):
    points = population(seed, n, m)
    rank = non_domination_rank(points)
    fronts = non_dominated_sort(points)
    for k in range(1, n + 1):
        chosen = nsga2_select(points, k)
        last = rank[chosen].max()
        # every point of a better front survives, nothing of a worse one
        assert set(np.flatnonzero(rank < last)) <= set(chosen.tolist())
        assert np.all(rank[chosen] <= last)
        # best first: ranks never decrease along the result
        assert np.all(np.diff(rank[chosen]) >= 0)
        # in the split front, every survivor is at least as isolated as every loser
        front = fronts[last]
        distance = dict(zip(front.tolist(), crowding_distance(points[front])))
        kept = [i for i in chosen.tolist() if rank[i] == last]
        lost = [i for i in front.tolist() if i not in kept]
        if kept and lost:
            assert min(distance[i] for i in kept) >= max(distance[i] for i in lost)


def test_elitism_keeps_the_whole_pareto_front():
    points = np.array([[1, 5], [2, 3], [3, 2], [5, 1], [4, 4], [6, 6], [2, 6]], dtype=float)
    assert nsga2_select(points, 4).tolist() == [0, 1, 2, 3]
    assert nsga2_select(points, 6).tolist() == [0, 1, 2, 3, 4, 6]  # front 2 = {4, 6}
    assert nsga2_select(points, 2).tolist() == [0, 3]  # the extremes of the first front


def test_deterministic_ties_go_to_the_lower_index():
    identical = np.ones((6, 2))  # one front, all crowding distances 0
    assert nsga2_select(identical, 3).tolist() == [0, 1, 2]
    # evenly spaced line: interior distances tie, so the lowest interior indices win
    line = np.array([[float(i), 5.0 - i] for i in range(6)])
    assert nsga2_select(line, 4).tolist() == [0, 5, 1, 2]
    rng = np.random.default_rng(0)
    points = rng.integers(0, 4, size=(40, 3)).astype(float)
    for k in (5, 17, 33):
        np.testing.assert_array_equal(nsga2_select(points, k), nsga2_select(points.copy(), k))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("m", [2, 3])
def test_matches_optuna_when_the_cut_is_unambiguous(seed, m):
    # continuous points: no ties among objective values; the selections can only differ by
    # tie-breaking among equal crowding distances at the cut, which we skip
    rng = np.random.default_rng(seed)
    points = rng.random((40, m))
    rank = non_domination_rank(points)
    fronts = non_dominated_sort(points)
    compared = 0
    for k in range(2, 40, 3):
        ours = nsga2_select(points, k)
        last = rank[ours].max()
        n_from_last = int(np.sum(rank[ours] == last))
        distance = np.sort(crowding_distance(points[fronts[last]]))[::-1]
        if n_from_last < len(distance) and distance[n_from_last - 1] == distance[n_from_last]:
            continue
        assert set(ours.tolist()) == optuna_elite(points, k)
        compared += 1
    assert compared >= 5


def test_k_zero_and_all():
    points = np.random.default_rng(1).random((7, 2))
    assert nsga2_select(points, 0).size == 0
    assert sorted(nsga2_select(points, 7).tolist()) == list(range(7))
    assert nsga2_select(np.empty((0, 2)), 0).size == 0
    assert nsga2_select(points, np.int64(3)).shape == (3,)


def test_bad_input_raises():
    points = np.random.default_rng(2).random((5, 2))
    with pytest.raises(ValueError, match=r"between 0 and the number of points \(5\), got 6"):
        nsga2_select(points, 6)
    with pytest.raises(ValueError, match="got -1"):
        nsga2_select(points, -1)
    for k in (2.0, True, "2", None):
        with pytest.raises(ValueError, match="k must be an int"):
            nsga2_select(points, k)
    with pytest.raises(ValueError, match="2-D"):
        nsga2_select([1.0, 2.0, 3.0], 1)
    with pytest.raises(ValueError, match="NaN"):
        nsga2_select([[1.0, np.nan], [0.0, 0.0]], 1)
    with pytest.raises(ValueError, match="finite"):
        nsga2_select([[1.0, np.inf], [0.0, 0.0]], 1)


# -- the sampler ------------------------------------------------------------------------
ZDT_SPACE = SearchSpace([Float(f"x{i}", 0.0, 1.0) for i in range(5)])


def zdt1(config):
    """ZDT1 (Zitzler, Deb and Thiele 2000): Pareto front f2 = 1 - sqrt(f1) where x1.. = 0."""
    x = np.array([config[f"x{i}"] for i in range(5)])
    g = 1.0 + 9.0 * x[1:].mean()
    return (float(x[0]), float(g * (1.0 - np.sqrt(x[0] / g))))


def run(sampler, space, objective, n_trials):
    history = []
    for _ in range(n_trials):
        config = sampler.ask(space, history)
        space.validate(config)
        history.append((config, objective(config)))
    return history


def test_sampler_is_reproducible_and_starts_random():
    first = run(NSGA2Sampler(population_size=8, seed=3), ZDT_SPACE, zdt1, 40)
    again = run(NSGA2Sampler(population_size=8, seed=3), ZDT_SPACE, zdt1, 40)
    other = run(NSGA2Sampler(population_size=8, seed=4), ZDT_SPACE, zdt1, 40)
    assert [c for c, _ in first] == [c for c, _ in again]
    assert [c for c, _ in first] != [c for c, _ in other]
    rng = np.random.default_rng(3)  # the first generation is plain random search
    assert [c for c, _ in first[:8]] == [ZDT_SPACE.sample(rng) for _ in range(8)]


def test_sampler_result_depends_only_on_history():
    # the cached populations must follow a change to an earlier result
    history = run(NSGA2Sampler(population_size=6, seed=0), ZDT_SPACE, zdt1, 30)
    # trial 3 becomes the best in both objectives, which changes every population
    changed = [(c, (-1.0, -1.0)) if i == 3 else (c, v) for i, (c, v) in enumerate(history)]
    saw_original = NSGA2Sampler(population_size=6, seed=9)
    saw_changed = NSGA2Sampler(population_size=6, seed=9)
    saw_original.ask(ZDT_SPACE, history[:25])  # same random draws, different populations
    saw_changed.ask(ZDT_SPACE, changed[:25])
    assert saw_original.ask(ZDT_SPACE, changed) == saw_changed.ask(ZDT_SPACE, changed)


@pytest.mark.parametrize("seed", range(2))
def test_sampler_beats_random_search_on_zdt1(seed):
    reference = [1.1, 1.1]
    ours = run(NSGA2Sampler(population_size=20, seed=seed), ZDT_SPACE, zdt1, 400)
    rng = np.random.default_rng(seed)
    random = [zdt1(ZDT_SPACE.sample(rng)) for _ in range(400)]
    ours_hv = hypervolume([v for _, v in ours], reference)
    assert ours_hv > 0.7  # the best possible is about 0.877
    assert ours_hv > hypervolume(random, reference) + 0.3


def test_sampler_handles_mixed_conditional_spaces():
    space = SearchSpace([
        Categorical("kernel", ["linear", "rbf"]),
        Float("C", 1e-2, 1e2, log=True),
        Float("gamma", 1e-4, 1.0, log=True, when={"kernel": "rbf"}),
        Int("degree", 1, 5),
    ])

    def objective(config):
        penalty = 0.0 if config["kernel"] == "rbf" else 1.0
        return (np.log10(config["C"]) ** 2 + penalty, config["degree"] + penalty)

    history = run(NSGA2Sampler(population_size=6, seed=0), space, objective, 60)
    assert {c["kernel"] for c, _ in history[30:]} <= {"linear", "rbf"}
    assert len(history) == 60


def test_sampler_bad_arguments_raise():
    for size in (1, 2.5, True):
        with pytest.raises(ValueError, match="population_size must be an int >= 2"):
            NSGA2Sampler(population_size=size)
    with pytest.raises(ValueError, match="crossover_probability"):
        NSGA2Sampler(crossover_probability=1.5)
    with pytest.raises(ValueError, match="mutation_probability"):
        NSGA2Sampler(mutation_probability=-0.1)
    with pytest.raises(ValueError, match="crossover_eta"):
        NSGA2Sampler(crossover_eta=0)
    sampler = NSGA2Sampler(population_size=2, seed=0)
    config = ZDT_SPACE.sample(np.random.default_rng(0))
    with pytest.raises(ValueError, match="same number of objectives"):
        sampler.ask(ZDT_SPACE, [(config, (1.0, 2.0)), (config, (1.0,))])
    with pytest.raises(ValueError, match="finite"):
        sampler.ask(ZDT_SPACE, [(config, (1.0, 2.0)), (config, (np.inf, 1.0))])
