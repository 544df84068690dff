import math

import numpy as np
import pytest

from course.hpo.learning_curves import (MLP_DIGITS_BEST, MLP_DIGITS_BEST_CONFIG,
                                        LearningCurveObjective, MLPCheckpoint, estimate_best,
                                        mlp_digits)
from course.hpo.sampler import SearchExhausted
from course.hpo.scheduler import Job, Scheduler, run_schedule

GOOD = {"learning_rate_init": 0.05, "momentum": 0.9, "alpha": 1e-4, "hidden_units": 32, "batch_size": 64}
SLOW = {"learning_rate_init": 2e-4, "momentum": 0.0, "alpha": 1e-3, "hidden_units": 16, "batch_size": 200}
WILD = {"learning_rate_init": 1.0, "momentum": 0.95, "alpha": 1e-6, "hidden_units": 64, "batch_size": 16}


@pytest.fixture
def objective():
    return mlp_digits(max_epochs=9)


def test_interface_and_space(objective):
    assert isinstance(objective, LearningCurveObjective)
    assert objective.max_budget == 9 and objective.min_budget == 1
    assert 3 <= len(objective.space) <= 5
    assert objective.n_validation > 500
    objective.space.validate(GOOD)
    config = objective.space.sample(np.random.default_rng(0))
    assert 0.0 <= objective(config, 1) <= 1.0


def test_same_config_same_value_even_in_a_fresh_objective(objective):
    first = objective.curve(GOOD)
    again = mlp_digits(max_epochs=9).curve(dict(GOOD))
    np.testing.assert_array_equal(first, again)
    assert objective(GOOD, 5) == mlp_digits(max_epochs=9)(GOOD, 5)


def test_curve_has_max_budget_entries_in_unit_interval_and_learns(objective):
    curve = objective.curve(GOOD)
    assert curve.shape == (9,)
    assert ((curve >= 0) & (curve <= 1)).all()
    assert curve[-1] < curve[0] < 0.5          # a good configuration learns, fast
    slow = objective.curve(SLOW)
    assert slow[-1] > curve[-1] + 0.05         # a tiny step size is worse at this budget


def test_value_at_budget_equals_the_curve_entry(objective):
    rng = np.random.default_rng(1)
    for config in [GOOD, SLOW] + [objective.space.sample(rng) for _ in range(3)]:
        curve = objective.curve(config)
        for budget in range(1, objective.max_budget + 1):
            assert objective(config, budget) == curve[budget - 1]
        assert objective(config, 3.0) == curve[2]   # an integral float is a whole number of epochs


def test_cache_hit_trains_nothing_and_larger_budgets_continue_the_run(objective):
    value = objective(GOOD, 3)
    info = objective.cache_info()
    assert (info.calls, info.hits, info.epochs_trained) == (1, 0, 3)
    assert objective(GOOD, 3) == value
    objective(GOOD, 2), objective(GOOD, 1)
    info = objective.cache_info()
    assert info.hits == info.calls - 1 and info.epochs_trained == 3   # lookups only
    objective(GOOD, 6)
    assert objective.cache_info().epochs_trained == 6               # 3 more, not 6 from scratch
    objective.curve(GOOD)
    info = objective.cache_info()
    assert info.epochs_trained == 9 and info.finished == 1
    for budget in range(1, 10):
        objective(GOOD, budget)
    assert objective.cache_info().epochs_trained == 9
    objective.clear_cache()
    assert objective.cache_info().calls == 0


def test_dropped_models_are_replayed_with_the_same_result():
    forgetful = mlp_digits(max_epochs=9, max_models=0)
    forgetful(GOOD, 3)
    assert forgetful(GOOD, 6) == mlp_digits(max_epochs=9)(GOOD, 6)
    assert forgetful.cache_info().epochs_trained == 3 + 6   # no model kept: retrained from scratch


def test_disk_cache_is_reused_by_a_new_objective(tmp_path):
    writer = mlp_digits(max_epochs=9, cache_dir=tmp_path)
    curve = writer.curve(GOOD)
    assert len(list(tmp_path.glob("*.jsonl"))) == 1
    reader = mlp_digits(max_epochs=9, cache_dir=tmp_path)
    np.testing.assert_array_equal(reader.curve(GOOD), curve)
    assert reader.cache_info().epochs_trained == 0
    other = mlp_digits(max_epochs=5, cache_dir=tmp_path)   # another R: another file
    other(GOOD, 5)
    assert other.cache_info().epochs_trained == 5


def test_stateful_training_continues_exactly(objective):
    value3, checkpoint3 = objective.train(GOOD, 3)
    assert isinstance(checkpoint3, MLPCheckpoint) and checkpoint3.epoch == 3
    assert value3 == objective(GOOD, 3)
    before = [w.copy() for w in checkpoint3.weights]
    value6, checkpoint6 = objective.train(GOOD, 6, checkpoint3)
    direct6, _ = objective.train(GOOD, 6)
    assert value6 == direct6 == objective(GOOD, 6)
    assert checkpoint6.epoch == 6
    for old, now in zip(before, checkpoint3.weights):   # the checkpoint was not changed
        np.testing.assert_array_equal(old, now)
    # PBT's explore: continue with another step size from the same model
    changed = dict(GOOD, learning_rate_init=0.005)
    value, checkpoint = objective.train(changed, 6, checkpoint3)
    assert 0 <= value <= 1 and checkpoint.epoch == 6


def test_stateful_objective_runs_under_run_schedule(objective):
    class TwoSteps(Scheduler):
        def __init__(self):
            self.jobs = [Job(0, GOOD, 3), Job(0, GOOD, 6, resume=0)]
            self.waiting = False

        def ask(self):
            if self.waiting:
                return None
            if not self.jobs:
                raise SearchExhausted
            self.waiting = True
            return self.jobs.pop(0)

        def tell(self, job, value):
            self.waiting = False

    stateful = run_schedule(objective.train, TwoSteps(), stateful=True)
    stateless = run_schedule(objective, TwoSteps())
    assert list(stateful["value"]) == list(stateless["value"]) == [objective(GOOD, 3), objective(GOOD, 6)]
    assert list(stateless["cost"]) == [3, 3]


@pytest.mark.parametrize("budget", [0, -1, 10, 2.5, "3", True, None, math.nan, math.inf])
def test_bad_budgets_raise(objective, budget):
    with pytest.raises(ValueError, match="budget"):
        objective(GOOD, budget)
    with pytest.raises(ValueError, match="budget"):
        objective.train(GOOD, budget)


def test_bad_configurations_and_checkpoints_raise(objective):
    with pytest.raises(ValueError, match="missing"):
        objective({"learning_rate_init": 0.1}, 1)
    with pytest.raises(ValueError, match="outside"):
        objective(dict(GOOD, hidden_units=10_000), 1)
    _, checkpoint = objective.train(GOOD, 2)
    with pytest.raises(ValueError, match="hidden_units"):
        objective.train(dict(GOOD, hidden_units=8), 4, checkpoint)
    with pytest.raises(ValueError, match="below"):
        objective.train(GOOD, 1, checkpoint)
    with pytest.raises(ValueError, match="checkpoint"):
        objective.train(GOOD, 3, {"epoch": 2})
    for bad in ({"max_epochs": 0}, {"max_epochs": 2.5}, {"seed": "a"}, {"max_models": -1}):
        with pytest.raises(ValueError):
            LearningCurveObjective(**bad)


def test_a_diverging_run_scores_chance_and_stays_there(objective):
    curve = objective.curve(WILD)
    assert ((curve >= 0) & (curve <= 1)).all()
    assert curve[-1] > 0.5


def test_best_value_estimate():
    assert mlp_digits().best_value_estimate == MLP_DIGITS_BEST
    assert 0 < MLP_DIGITS_BEST < 0.05
    assert mlp_digits().curve(MLP_DIGITS_BEST_CONFIG).min() == MLP_DIGITS_BEST   # reproducible
    assert mlp_digits(max_epochs=9).best_value_estimate is None   # only known for the default


def test_estimate_best_returns_a_point_of_the_curve(objective):
    value, config, epoch = estimate_best(objective, n_random=3, n_local=1, n_best=1, seed=0)
    assert objective(config, epoch) == value
    with pytest.raises(ValueError, match="n_random"):
        estimate_best(objective, n_random=0)
