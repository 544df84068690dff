"""Population-based training: exploit copies checkpoints, explore stays in the space,
truncation picks the right members, a seed replays a run, and PBT beats the same
population trained without exploit/explore on the paper's toy problem."""

import copy

import numpy as np
import pandas as pd
import pytest

from course.hpo.pbt import (PBT, cutoff, exploit, explore, hyperparameter_schedules,
                            mlp_digits_stateful, plot_schedules, toy_problem)
from course.hpo.sampler import SearchExhausted
from course.hpo.scheduler import Job, run_schedule
from course.hpo.space import Categorical, Float, Int, SearchSpace
from course.testing import random_space

SPACE = SearchSpace([Float("lr", 1e-4, 1e-1, log=True), Float("m", 0.0, 0.99),
                     Int("layers", 1, 4), Categorical("act", ["relu", "tanh"])])


class Recorder:
    """A stateful objective that remembers every checkpoint it received and returned."""

    def __init__(self):
        self.calls = []

    def __call__(self, config, budget, checkpoint):
        value = abs(np.log10(config["lr"]) + 2.0)  # best near lr = 0.01
        returned = {"call": len(self.calls), "budget": budget, "lr": config["lr"],
                    "parent": copy.deepcopy(checkpoint)}
        self.calls.append({"config": dict(config), "budget": budget,
                           "received": copy.deepcopy(checkpoint), "returned": copy.deepcopy(returned)})
        return value, returned


def run_recorded(**kwargs):
    objective = Recorder()
    options = dict(population_size=6, ready_interval=2, max_budget=10, truncation=0.34, seed=3)
    options.update(kwargs)
    log = run_schedule(objective, PBT(SPACE, **options), stateful=True)
    return log, objective


# -- exploit ------------------------------------------------------------------------

def test_exploit_copies_the_winners_checkpoint():
    log, objective = run_recorded()
    exploits = log[log["resume"].notna() & (log["resume"] != log["trial"])]
    assert len(exploits) > 0
    for row in exploits.itertuples():
        winner = int(row.resume)
        # the winner's job that ended where this one starts (run_schedule's "job" = call order)
        donor = log[(log["trial"] == winner) & (log["budget"] == row.budget - row.cost)]
        assert len(donor) == 1
        received = objective.calls[int(row.job)]["received"]
        assert received == objective.calls[int(donor["job"].iloc[0])]["returned"]


def test_losers_copy_a_top_member_and_members_keep_their_ids():
    log, _ = run_recorded()
    pbt_n, n_cut = 6, cutoff(6, 0.34)
    assert sorted(log["trial"].unique()) == list(range(pbt_n))
    for generation in range(1, log["bracket"].max() + 1):
        previous = log[log["bracket"] == generation - 1].set_index("trial")["value"]
        ranking = previous.sort_values(kind="stable").index.tolist()
        current = log[log["bracket"] == generation]
        assert len(current) == pbt_n
        losers = current[current["resume"] != current["trial"]]
        assert len(losers) == n_cut
        for row in losers.itertuples():
            assert row.trial in ranking[-n_cut:]
            assert row.resume in ranking[:n_cut]
        # everyone else continues its own model with its own configuration
        for row in current[current["resume"] == current["trial"]].itertuples():
            before = log[(log["trial"] == row.trial) & (log["bracket"] == generation - 1)]
            assert row.config == before["config"].iloc[0]


def test_loser_explores_near_its_winner():
    log, _ = run_recorded(explore="perturb")
    for row in log[log["resume"].notna() & (log["resume"] != log["trial"])].itertuples():
        donor = log[(log["trial"] == row.resume) & (log["budget"] == row.budget - row.cost)]
        old = donor["config"].iloc[0]
        assert row.config["lr"] / old["lr"] == pytest.approx(0.8) or \
            row.config["lr"] / old["lr"] == pytest.approx(1.2) or row.config["lr"] in (1e-4, 1e-1)


@pytest.mark.parametrize("n, truncation, expected", [
    (2, 0.2, 1), (4, 0.2, 1), (5, 0.2, 1), (10, 0.2, 2), (10, 0.5, 5), (20, 0.25, 5), (100, 0.29, 29),
])
def test_truncation_sizes(n, truncation, expected):
    rng = np.random.default_rng(n)
    values = rng.normal(size=n)
    assert cutoff(n, truncation) == expected
    mapping = exploit(values, truncation, rng)
    order = np.argsort(values)
    assert len(mapping) == expected
    assert set(mapping) == set(order[n - expected:].tolist())
    assert set(mapping.values()) <= set(order[:expected].tolist())


def test_exploit_draws_winners_uniformly_from_the_top():
    values = np.arange(10.0)  # member 0 is best
    rng = np.random.default_rng(0)
    counts = np.zeros(10)
    for _ in range(2000):
        for winner in exploit(values, 0.3, rng).values():
            counts[winner] += 1
    assert counts[3:].sum() == 0
    assert np.all(np.abs(counts[:3] / counts.sum() - 1 / 3) < 0.03)


# -- explore ------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["perturb", "resample"])
def test_explore_stays_inside_random_flat_spaces(method):
    for seed in range(150):
        space = random_space(seed)
        rng = np.random.default_rng(seed)
        config = space.sample(rng)
        for _ in range(15):  # a chain of explorations drifts to the bounds
            config = explore(config, space, rng, method=method, perturb_factors=(0.5, 0.8, 1.2, 3.0))
            space.validate(config)


def test_explore_on_conditional_spaces_keeps_the_active_set_consistent():
    for seed in range(100):
        space = random_space(seed, conditional=True)
        rng = np.random.default_rng(seed)
        config = space.sample(rng)
        for _ in range(10):
            config = explore(config, space, rng, resample_probability=0.5)
            space.validate(config)  # exactly the active parameters, each valid


def test_perturb_rules():
    rng = np.random.default_rng(0)
    for _ in range(50):
        new = explore({"lr": 0.01, "m": 0.5, "layers": 2, "act": "relu"}, SPACE, rng,
                      resample_probability=0.0)
        assert new["lr"] == pytest.approx(0.008) or new["lr"] == pytest.approx(0.012)
        assert new["m"] == pytest.approx(0.4) or new["m"] == pytest.approx(0.6)
        assert new["layers"] in (1, 3)  # rounding may not undo a perturbation of a small int
        assert isinstance(new["layers"], int)
        assert new["act"] == "relu"  # never resampled with probability 0
        clipped = explore({"lr": 0.1, "m": 0.95, "layers": 4, "act": "tanh"}, SPACE, rng,
                          perturb_factors=(2.0,), resample_probability=0.0)
        assert clipped == {"lr": 0.1, "m": 0.99, "layers": 4, "act": "tanh"}
    drawn = {explore({"lr": 0.01, "m": 0.5, "layers": 2, "act": "relu"}, SPACE, rng,
                     resample_probability=1.0)["act"] for _ in range(50)}
    assert drawn == {"relu", "tanh"}


def test_explore_does_not_change_its_input():
    config = {"lr": 0.01, "m": 0.5, "layers": 2, "act": "relu"}
    explore(config, SPACE, np.random.default_rng(0))
    assert config == {"lr": 0.01, "m": 0.5, "layers": 2, "act": "relu"}


# -- the run ------------------------------------------------------------------------

def test_every_member_trains_to_max_budget_in_ready_intervals():
    space, objective = toy_problem()
    log = run_schedule(objective, PBT(space, 3, 4, 10, seed=0), stateful=True)
    assert len(log) == 3 * 3
    for trial in range(3):
        budgets = log[log["trial"] == trial]["budget"].tolist()
        assert budgets == [4, 8, 10]
    assert log["cost"].tolist() == [4] * 3 + [4] * 3 + [2] * 3
    assert log["cost"].sum() == 3 * 10  # exploiting costs no extra training


@pytest.mark.parametrize("n_workers", [1, 2, 5])
def test_same_seed_same_run_whatever_the_workers(n_workers):
    space, objective = toy_problem()

    def schedule(seed, workers):
        log = run_schedule(objective, PBT(space, 4, 4, 24, truncation=0.25, seed=seed),
                           stateful=True, n_workers=workers)
        return hyperparameter_schedules(log)

    reference = schedule(7, 1)
    pd.testing.assert_frame_equal(schedule(7, n_workers), reference)
    assert not schedule(8, n_workers).equals(reference)


def test_same_seed_same_log():
    space, objective = toy_problem()
    logs = [run_schedule(objective, PBT(space, 5, 3, 15, seed=1), stateful=True).drop(columns="seconds")
            for _ in range(2)]
    pd.testing.assert_frame_equal(*logs)


def test_ask_waits_for_the_generation_and_then_stops():
    space, _ = toy_problem()
    pbt = PBT(space, 2, 4, 8, seed=0)
    first = [pbt.ask()]
    with pytest.raises(ValueError, match="not a running job"):
        pbt.tell(Job(1, first[0].config, 4), 1.0)  # queued, but not started yet
    first.append(pbt.ask())
    assert pbt.ask() is None  # generation 0 is running
    pbt.tell(first[0], 1.0)
    assert pbt.ask() is None
    pbt.tell(first[1], 2.0)
    second = [pbt.ask(), pbt.ask()]
    assert second[0] == Job(1, second[0].config, 8, resume=0, bracket=1)  # the loser comes first
    assert second[1].resume == 0 and second[1].trial == 0
    for job in second:
        pbt.tell(job, 0.5)
    with pytest.raises(SearchExhausted):
        pbt.ask()
    with pytest.raises(ValueError, match="not a running job"):
        pbt.tell(second[0], 0.1)


def test_pbt_beats_the_fixed_population_on_the_toy_problem():
    space, objective = toy_problem()
    budget = 60
    pbt_values, fixed_values = [], []
    for seed in range(10):
        log = run_schedule(objective, PBT(space, 2, 4, budget, seed=seed), stateful=True)
        pbt_values.append(log[log["budget"] == budget]["value"].min())
        # the same initial population, trained with its hyperparameters fixed
        initial = log[log["bracket"] == 0]["config"]
        fixed_values.append(min(objective(config, budget, None)[0] for config in initial))
    pbt_values, fixed_values = np.array(pbt_values), np.array(fixed_values)
    # a wide margin: over seeds 0-99 the median ratio per batch of ten seeds is 0.3-0.65
    assert np.median(pbt_values) < 0.75 * np.median(fixed_values)
    assert np.mean(pbt_values < fixed_values) >= 0.6
    # and far beyond the paper's "grid search", h = (1, 0) and (0, 1), which gets stuck
    grid = min(objective({"h0": 1.0, "h1": 0.0}, budget, None)[0],
               objective({"h0": 0.0, "h1": 1.0}, budget, None)[0])
    assert np.max(pbt_values) < grid


def test_schedules_and_plot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    space, objective = toy_problem()
    log = run_schedule(objective, PBT(space, 3, 4, 16, seed=2), stateful=True)
    schedules = hyperparameter_schedules(log)
    assert len(schedules) == 3 * 4
    assert schedules["exploited"].sum() == (log["resume"].notna() & (log["resume"] != log["trial"])).sum()
    assert (schedules["end"] - schedules["start"] == 4).all()
    axes = plot_schedules(log, space=space)
    assert [ax.get_title() for ax in axes] == ["h0", "h1"]
    plt.close("all")
    with pytest.raises(ValueError, match="one Axes per hyperparameter"):
        plot_schedules(log, names=["h0"], ax=[None, None])
    with pytest.raises(ValueError, match="lacks the column"):
        hyperparameter_schedules(log.drop(columns="resume"))


def test_mlp_checkpoint_continues_and_takes_new_hyperparameters():
    space, objective = mlp_digits_stateful()
    config = {"learning_rate": 0.05, "alpha": 1e-4, "momentum": 0.9}
    error, checkpoint = objective(config, 2, None)
    assert 0 <= error < 0.3 and checkpoint["epoch"] == 2
    slower = dict(config, learning_rate=0.002, momentum=0.1)
    _, continued = objective(slower, 3, copy.deepcopy(checkpoint))
    assert continued["model"]._optimizer.learning_rate == 0.002
    assert continued["model"]._optimizer.momentum == 0.1
    assert 0 <= objective.test_error(continued) <= 1
    with pytest.raises(ValueError, match="behind"):
        objective(config, 1, continued)


# -- bad input ----------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"population_size": 1}, "population_size must be an int >= 2"),
    ({"population_size": 2.5}, "population_size must be an int >= 2"),
    ({"truncation": 0.0}, r"truncation must be a fraction in \(0, 0.5\]"),
    ({"truncation": 0.6}, r"truncation must be a fraction in \(0, 0.5\]"),
    ({"ready_interval": 0}, "ready_interval must be a positive number"),
    ({"max_budget": -1}, "max_budget must be a positive number"),
    ({"max_budget": 2, "ready_interval": 4}, "max_budget must be >= ready_interval"),
    ({"explore": "mutate"}, "explore must be one of"),
    ({"perturb_factors": ()}, "perturb_factors must be a non-empty sequence"),
    ({"perturb_factors": (0.8, -1.2)}, "perturb_factors must be positive"),
    ({"resample_probability": 1.5}, r"resample_probability must be in \[0, 1\]"),
    ({"seed": "zero"}, "seed must be an int or None"),
])
def test_bad_arguments_raise_clear_errors(kwargs, message):
    options = {"space": SPACE, "population_size": 4, "ready_interval": 4, "max_budget": 20}
    options.update(kwargs)
    with pytest.raises(ValueError, match=message):
        PBT(**options)


def test_bad_inputs_of_the_small_functions():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="space must be a SearchSpace"):
        PBT({"lr": (0, 1)}, 4, 4, 20)
    with pytest.raises(ValueError, match="at least two members"):
        exploit([0.5], 0.2, rng)
    with pytest.raises(ValueError, match="finite"):
        exploit([0.5, float("nan")], 0.2, rng)
    with pytest.raises(ValueError, match="truncation"):
        exploit([0.5, 0.1], 0.7, rng)
    with pytest.raises(ValueError, match="outside"):
        explore({"lr": 5.0, "m": 0.5, "layers": 2, "act": "relu"}, SPACE, rng)
    with pytest.raises(ValueError, match="explore must be one of"):
        explore({"lr": 0.01, "m": 0.5, "layers": 2, "act": "relu"}, SPACE, rng, method="jitter")
    with pytest.raises(ValueError, match="learning_rate"):
        toy_problem(learning_rate=1.0)
