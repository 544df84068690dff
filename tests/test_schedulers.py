"""Multi-fidelity schedulers: successive halving, Hyperband, ASHA and BOHB.

Every test runs a scheduler under ``run_schedule`` on a cheap synthetic objective,
``value = f(config) + 1 / budget``: stateless, deterministic, and better with more
budget, so the ranking at a small budget predicts the ranking at the full budget.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from course.hpo.asha import ASHA, promotable
from course.hpo.bohb import BOHB, good_bad_split, model_budget
from course.hpo.hyperband import Hyperband, hyperband_schedule
from course.hpo.random_search import RandomSampler
from course.hpo.sampler import SearchExhausted
from course.hpo.scheduler import Job, Scheduler, run_schedule
from course.hpo.space import Categorical, Float, Int, SearchSpace
from course.hpo.successive_halving import SuccessiveHalving, rung_budgets, rung_survivors
from course.hpo.tpe import TPESampler

# a space with every kind of parameter: linear and log floats, a log int, a category
# and a parameter that exists only for one of its choices
SPACE = SearchSpace([
    Float("x", -2.0, 2.0),
    Float("lr", 1e-4, 1e0, log=True),
    Int("width", 1, 64, log=True),
    Categorical("kind", ["plain", "fancy"]),
    Float("z", 0.0, 1.0, when={"kind": "fancy"}),
])


def quality(config: dict) -> float:
    """The value at infinite budget; minimum 0 at x=0.5, lr=1e-2, width=8, fancy, z=0.2."""
    return ((config["x"] - 0.5) ** 2 + (math.log10(config["lr"]) + 2) ** 2 / 4
            + (math.log2(config["width"]) - 3) ** 2 / 9
            + (0.0 if config["kind"] == "fancy" else 0.5) + (config.get("z", 0.7) - 0.2) ** 2)


def objective(config: dict, budget: float) -> float:
    SPACE.validate(config)
    return quality(config) + 1.0 / budget


def make(kind: str, seed: int = 0) -> Scheduler:
    return {
        "sh": lambda: SuccessiveHalving(SPACE, 1, 27, eta=3, seed=seed),
        "hyperband": lambda: Hyperband(SPACE, 27, eta=3, seed=seed),
        "asha": lambda: ASHA(SPACE, 1, 27, eta=3, seed=seed, n_configs=40),
        "bohb": lambda: BOHB(SPACE, 27, eta=3, seed=seed),
    }[kind]()


def without_wall_time(log: pd.DataFrame) -> pd.DataFrame:
    return log.drop(columns="seconds")


# ---------------------------------------------------------------------------------------
# The schedules
# ---------------------------------------------------------------------------------------
def test_hyperband_schedule_is_table_1_of_the_paper():
    assert hyperband_schedule(81, 3) == [
        [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
        [(34, 3), (11, 9), (3, 27), (1, 81)],
        [(15, 9), (5, 27), (1, 81)],
        [(8, 27), (2, 81)],
        [(5, 81)],
    ]


@pytest.mark.parametrize("max_budget, eta, s_max", [(243, 3, 5), (1000, 10, 3), (64, 4, 3),
                                                    (80, 3, 3), (1, 3, 0), (2, 3, 0)])
def test_hyperband_counts_brackets_in_integers(max_budget, eta, s_max):
    # math.log(243, 3) = 4.999... and math.log(1000, 10) = 2.999...: a float log loses a bracket
    schedule = hyperband_schedule(max_budget, eta)
    assert len(schedule) == s_max + 1
    for s, bracket in zip(range(s_max, -1, -1), schedule):
        n = bracket[0][0]
        assert n == math.ceil((s_max + 1) * eta ** s / (s + 1))
        assert [n_i for n_i, _ in bracket] == [n // eta ** i for i in range(s + 1)]
        assert bracket[-1][1] == max_budget and bracket[-1][0] >= 1
        assert all(math.isclose(r_next, eta * r) for (_, r), (_, r_next) in zip(bracket, bracket[1:]))


def test_rung_budgets_end_at_max_budget():
    assert rung_budgets(1, 81, 3) == [1, 3, 9, 27, 81]
    assert rung_budgets(2, 2, 3) == [2]
    budgets = rung_budgets(1, 100, 3)
    assert budgets[-1] == 100 and budgets[0] >= 1 and budgets[0] / 3 < 1
    assert np.allclose(np.diff(np.log(budgets)), math.log(3))


@pytest.mark.parametrize("eta", [2, 3, 4])
def test_a_rung_keeps_exactly_floor_n_over_eta_of_the_best(eta):
    rng = np.random.default_rng(eta)
    for n in range(0, 40):
        values = rng.integers(0, 5, size=n).astype(float)  # many ties
        kept = rung_survivors(values, eta)
        assert len(kept) == n // eta
        dropped = np.setdiff1d(np.arange(n), kept)
        if len(kept) and len(dropped):
            worst_kept = max(values[kept])
            assert worst_kept <= min(values[dropped])
            # ties go to the lower index
            assert all(i < j for i in kept for j in dropped if values[i] == values[j])
        assert list(values[kept]) == sorted(values[kept])  # best first


# ---------------------------------------------------------------------------------------
# Successive halving
# ---------------------------------------------------------------------------------------
def test_successive_halving_rungs_survivors_and_cost():
    sh = SuccessiveHalving(SPACE, 1, 27, eta=3, n_configs=50, seed=0)
    log = run_schedule(objective, sh, n_workers=3)
    sizes = log.groupby("budget").size()
    assert sizes.index.tolist() == [1, 3, 9, 27]
    assert sizes.tolist() == [50, 16, 5, 1]            # floor(n_i / 3) at every step
    for low, high in zip(sizes.index[:-1], sizes.index[1:]):
        rung, nxt = log[log.budget == low], log[log.budget == high]
        best = rung.sort_values(["value", "trial"], kind="stable").trial[:len(rung) // 3]
        assert set(nxt.trial) == set(best)             # exactly the best continue
        assert (nxt.resume == nxt.trial).all()         # ... from their own checkpoints
        assert nxt.start.min() >= rung.end.max()       # synchronous: the rung is complete first
    # resuming, a rung costs only the extra budget: sum_i n_i (r_i - r_{i-1})
    previous = np.concatenate([[0.0], sizes.index[:-1]])
    assert log.cost.sum() == pytest.approx(float(np.sum(sizes.values * (sizes.index - previous))))


def test_successive_halving_waits_for_its_rung():
    sh = SuccessiveHalving(SPACE, 1, 3, eta=3, seed=0)   # 3 configurations, then 1
    jobs = [sh.ask() for _ in range(3)]
    assert all(job.budget == 1 and job.resume is None for job in jobs)
    assert sh.ask() is None                               # rung 0 is still running
    for job, value in zip(jobs, [0.3, 0.1, 0.2]):
        sh.tell(job, value)
    promoted = sh.ask()
    assert (promoted.trial, promoted.budget, promoted.resume) == (1, 3, 1)
    sh.tell(promoted, 0.05)
    with pytest.raises(SearchExhausted):
        sh.ask()


def test_successive_halving_takes_new_configurations_from_a_sampler():
    class Recording(TPESampler):
        def ask(self, space, history):
            seen.append([(t.number, t.value) for t in history])
            return super().ask(space, history)

    seen: list = []
    sh = SuccessiveHalving(SPACE, 1, 9, eta=3, n_configs=20, sampler=Recording(n_startup_trials=5, seed=1))
    log = run_schedule(objective, sh)
    assert log.groupby("budget").size().tolist() == [20, 6, 2]
    for config in log.config:
        SPACE.validate(config)
    # one worker: each new configuration is asked after all earlier first-rung results
    first_rung = log[log.budget == 1].value.tolist()
    assert seen == [list(enumerate(first_rung[:i])) for i in range(20)]


# ---------------------------------------------------------------------------------------
# Hyperband
# ---------------------------------------------------------------------------------------
def test_hyperband_runs_its_brackets_as_successive_halving():
    hb = Hyperband(SPACE, 27, eta=3, seed=0, n_iterations=2)
    log = run_schedule(objective, hb, n_workers=2)
    schedule = hyperband_schedule(27, 3)
    assert sorted(log.bracket.unique()) == list(range(2 * len(schedule)))
    for b, bracket in log.groupby("bracket"):
        rungs = schedule[b % len(schedule)]
        assert bracket.groupby("budget").size().to_dict() == {r: n for n, r in rungs}
        assert bracket.cost.sum() == pytest.approx(
            sum(n * (r - r_prev) for (n, r), r_prev in zip(rungs, [0] + [r for _, r in rungs])))
    # brackets run one after the other
    ends = log.groupby("bracket").end.max()
    starts = log.groupby("bracket").start.min()
    assert (starts.values[1:] >= ends.values[:-1]).all()


# ---------------------------------------------------------------------------------------
# ASHA
# ---------------------------------------------------------------------------------------
def replay_asha(log: pd.DataFrame, n_workers: int, budgets: list[float]):
    """For every job of an ASHA run after the first ``n_workers``: the job, the results of
    every rung known when it was asked (``trial -> value``) and the trials promoted before.

    ASHA without ``n_configs`` never waits, so after the first ``n_workers`` jobs
    ``run_schedule`` asks for exactly one job after each result: job ``j`` was asked
    right after the result in row ``j - n_workers`` arrived.
    """
    log = log.reset_index(drop=True)
    jobs = log.set_index("job").sort_index()
    assert jobs.index.tolist() == list(range(len(log)))
    assert jobs.resume.iloc[:n_workers].isna().all()
    results: list[dict[int, float]] = [{} for _ in budgets]
    promoted: list[set[int]] = [set() for _ in budgets]
    for j in range(n_workers, len(log)):
        arrived = log.iloc[j - n_workers]
        results[budgets.index(arrived.budget)][arrived.trial] = arrived.value
        job = jobs.loc[j]
        assert job.start == arrived.end                 # the reconstruction above holds
        yield job, results, promoted
        if not pd.isna(job.resume):
            assert job.resume == job.trial
            promoted[budgets.index(job.budget) - 1].add(job.trial)


def top_third(results: dict[int, float]) -> set[int]:
    ranked = sorted(results, key=lambda trial: (results[trial], trial))
    return set(ranked[:len(results) // 3])


@pytest.mark.parametrize("seed", [0, 1])
def test_asha_follows_algorithm_2(seed):
    asha = ASHA(SPACE, 1, 27, eta=3, seed=seed)
    log = run_schedule(objective, asha, n_workers=4, max_total_budget=800)
    n_promotions = 0
    for job, results, promoted in replay_asha(log, 4, asha.budgets):
        # the highest rung (below the top) with a promotable configuration decides
        rungs = [k for k in range(len(asha.budgets) - 1) if promotable(results[k], promoted[k], 3)]
        if pd.isna(job.resume):
            assert not rungs and job.budget == asha.budgets[0]
            continue
        k = asha.budgets.index(job.budget) - 1
        assert k == max(rungs)
        assert job.trial == promotable(results[k], promoted[k], 3)[0]
        assert job.trial in top_third(results[k])       # only from the top 1/eta
        n_promotions += 1
    assert n_promotions > 50
    assert set(log.budget) == set(asha.budgets)        # some configurations got to the top


def test_asha_with_capped_promotions_never_promotes_more_than_floor_n_over_eta():
    asha = ASHA(SPACE, 1, 27, eta=3, seed=0, cap_promotions=True)
    log = run_schedule(objective, asha, n_workers=4, max_total_budget=800)
    for job, results, promoted in replay_asha(log, 4, asha.budgets):
        if not pd.isna(job.resume):
            k = asha.budgets.index(job.budget) - 1
            assert job.trial in top_third(results[k])
            assert len(promoted[k]) + 1 <= len(results[k]) // 3


def test_asha_promotes_from_the_highest_rung_first():
    # under run_schedule one result arrives per decision, so at most one rung ever has a
    # promotable configuration; drive ASHA by hand to have two at once
    asha = ASHA(SPACE, 1, 9, eta=3, seed=0)
    for job, value in zip([asha.ask() for _ in range(9)], np.arange(1, 10) / 10):
        asha.tell(job, value)
    promotions = [asha.ask() for _ in range(3)]
    assert [(job.trial, job.budget) for job in promotions] == [(0, 3), (1, 3), (2, 3)]
    new = asha.ask()
    assert (new.trial, new.budget, new.resume) == (9, 1, None)
    for job, value in zip(promotions, [0.05, 0.06, 0.07]):
        asha.tell(job, value)                         # rung 1: trial 0 is its top third
    asha.tell(new, 0.01)                              # rung 0: trial 9 is in its top third
    assert [(job.trial, job.budget) for job in (asha.ask(), asha.ask())] == [(0, 9), (9, 3)]


def test_asha_paper_rule_can_promote_more_than_floor_n_over_eta():
    """Li et al. (2020), Algorithm 2 promotes from the *current* top 1/eta: a new best
    result is promoted even if a third of the rung has been promoted already."""
    for cap in (False, True):
        asha = ASHA(SPACE, 1, 3, eta=3, seed=0, cap_promotions=cap)
        jobs = [asha.ask() for _ in range(3)]
        for job, value in zip(jobs, [0.5, 0.6, 0.7]):
            asha.tell(job, value)
        first = asha.ask()
        assert (first.trial, first.budget) == (0, 3)
        late = asha.ask()
        assert late.resume is None
        asha.tell(late, 0.1)                          # the new best of 4 results
        third = asha.ask()
        if cap:
            assert third.resume is None               # 1 = floor(4/3) already promoted
        else:
            assert (third.trial, third.budget) == (late.trial, 3)
            assert asha.promoted[0] == {0, late.trial}   # 2 > floor(4/3)
    assert promotable({0: 0.5, 1: 0.6, 2: 0.7, 3: 0.1}, {0}, 3) == [3]


def test_asha_keeps_all_workers_busy():
    log = run_schedule(objective, ASHA(SPACE, 1, 27, eta=3, seed=0), n_workers=4,
                       max_total_budget=800)
    assert log.end.max() < log.cost.sum() / 3         # four workers, never waiting
    synchronous = run_schedule(objective, SuccessiveHalving(SPACE, 1, 27, eta=3, seed=0),
                               n_workers=4)
    idle = 4 * synchronous.end.max() - synchronous.cost.sum()
    assert idle > 0                                   # the synchronous rungs wait


def test_asha_with_n_configs_finishes():
    asha = ASHA(SPACE, 1, 27, eta=3, seed=0, n_configs=30)
    log = run_schedule(objective, asha, n_workers=4)
    assert (log.budget == 1).sum() == 30
    assert log.trial.nunique() == 30
    assert (log.budget == 27).sum() >= 1


# ---------------------------------------------------------------------------------------
# BOHB
# ---------------------------------------------------------------------------------------
def test_bohb_helpers():
    assert model_budget({1.0: 30, 3.0: 10, 9.0: 4}, n_min=3) == 3.0
    assert model_budget({1.0: 4}, n_min=3) is None
    values = np.arange(20.0)[::-1]                    # index 19 is the best
    good, bad = good_bad_split(values, n_min=3, top_fraction=0.15)
    assert sorted(values[good]) == [0, 1, 2]           # max(3, floor(0.15 * 20)) = 3
    assert sorted(values[bad]) == list(range(3, 20))   # max(3, 20 - 3) = 17
    good, bad = good_bad_split(values[:5], n_min=3)    # few points: the groups overlap
    assert len(good) == 3 and len(bad) == 3


def test_bohb_model_configurations_beat_random_ones():
    space = SearchSpace([Float("x", -2.0, 2.0), Float("lr", 1e-4, 1e0, log=True),
                         Int("width", 1, 64, log=True)])

    def stateless(config, budget):
        return quality({**config, "kind": "fancy", "z": 0.2}) + 1.0 / budget

    model, random = [], []
    for seed in range(5):
        bohb = BOHB(space, 27, eta=3, seed=seed)
        log = run_schedule(stateless, bohb)
        new = log[log.resume.isna()]
        origin = new.trial.map(bohb.origins)
        assert set(origin) == {"model", "random"}
        quality_of = new.config.map(lambda c: quality({**c, "kind": "fancy", "z": 0.2}))
        model.append(quality_of[origin == "model"].median())
        random.append(quality_of[origin == "random"].median())
    assert np.median(model) < 0.7 * np.median(random)   # 20 seeds: 0.83 vs 1.87


def test_bohb_stays_hyperband():
    log = run_schedule(objective, BOHB(SPACE, 27, eta=3, seed=0))
    schedule = hyperband_schedule(27, 3)
    for b, bracket in log.groupby("bracket"):
        assert bracket.groupby("budget").size().to_dict() == {r: n for n, r in schedule[b]}


# ---------------------------------------------------------------------------------------
# All schedulers
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["sh", "hyperband", "asha", "bohb"])
def test_same_seed_same_log(kind):
    first = run_schedule(objective, make(kind, seed=3), n_workers=3)
    again = run_schedule(objective, make(kind, seed=3), n_workers=3)
    other = run_schedule(objective, make(kind, seed=4), n_workers=3)
    pd.testing.assert_frame_equal(without_wall_time(first), without_wall_time(again))
    assert first.config.tolist() != other.config.tolist()
    for config in first.config:
        SPACE.validate(config)                         # conditional parameters handled
    assert {c["kind"] for c in first.config} == {"plain", "fancy"}


@pytest.mark.parametrize("kind", ["sh", "hyperband", "asha", "bohb"])
def test_stateful_objectives_resume_from_their_checkpoint(kind):
    def stateful(config, budget, checkpoint):
        trained = 0.0 if checkpoint is None else checkpoint
        assert trained < budget
        return quality(config) + 1.0 / budget, budget

    log = run_schedule(stateful, make(kind), stateful=True, n_workers=2)
    assert (log.cost == log.budget - log.groupby("trial").budget.shift(fill_value=0)).all()


def test_tell_rejects_unknown_jobs():
    for scheduler in (make("sh"), make("hyperband"), make("asha"), make("bohb")):
        job = scheduler.ask()
        with pytest.raises(ValueError):
            scheduler.tell(Job(999, {}, 1.0), 0.5)
        with pytest.raises(ValueError, match="finite"):
            scheduler.tell(job, float("nan"))


@pytest.mark.parametrize("build, message", [
    (lambda: SuccessiveHalving(SPACE, 1, 27, eta=1), "eta must be an int >= 2, got 1"),
    (lambda: SuccessiveHalving(SPACE, 1, 27, eta=2.5), "eta must be an int >= 2"),
    (lambda: Hyperband(SPACE, 27, eta=True), "eta must be an int >= 2"),
    (lambda: ASHA(SPACE, 0, 27), "min_budget must be > 0"),
    (lambda: SuccessiveHalving(SPACE, -1, 27), "min_budget must be > 0"),
    (lambda: ASHA(SPACE, 27, 1), "min_budget must be <= max_budget"),
    (lambda: Hyperband(SPACE, 1, min_budget=3), "min_budget must be <= max_budget"),
    (lambda: BOHB(SPACE, 0.5), "min_budget must be <= max_budget"),  # R = 0.5 < eta^0
    (lambda: hyperband_schedule(0.5, 3), "min_budget must be <= max_budget"),
    (lambda: rung_budgets(9, 3, 3), "min_budget must be <= max_budget"),
    (lambda: ASHA(SPACE, 1, float("inf")), "max_budget must be a finite number"),
    (lambda: SuccessiveHalving(SPACE, 1, 27, n_configs=10), "n_configs must be >= eta"),
    (lambda: SuccessiveHalving({"x": (0, 1)}, 1, 27), "space must be a SearchSpace"),
    (lambda: ASHA(SPACE, 1, 27, sampler=TPESampler), "sampler must be a course Sampler"),
    (lambda: SuccessiveHalving(SPACE, 1, 27, sampler=Hyperband(SPACE, 27)),
     "sampler must be a course Sampler"),
    (lambda: Hyperband(SPACE, 27, seed=1.5), "seed must be an int"),
    (lambda: Hyperband(SPACE, 27, n_iterations=0), "n_iterations must be a positive int"),
    (lambda: BOHB(SPACE, 27, random_fraction=1.0), "random_fraction"),
    (lambda: BOHB(SPACE, 27, bandwidth_factor=0.5), "bandwidth_factor"),
    (lambda: rung_survivors([1.0, float("nan")], 3), "NaN"),
    (lambda: run_schedule(objective, RandomSampler(seed=0)), "must be a course.hpo.Scheduler"),
])
def test_bad_input_raises_clearly(build, message):
    with pytest.raises(ValueError, match=message):
        build()
