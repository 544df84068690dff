import numpy as np
import pandas as pd
import pytest

from course.hpo import (Float, GridSampler, ObjectiveError, RandomSampler, Sampler, SearchSpace,
                        best_so_far, best_trial, minimize)
from course.testing import random_objective, random_space

SPACE = SearchSpace([Float("x", -2.0, 2.0), Float("y", -2.0, 2.0)])


def sphere(config):
    return config["x"] ** 2 + config["y"] ** 2


def test_history_has_one_row_per_trial_with_the_documented_columns():
    history = minimize(sphere, SPACE, RandomSampler(seed=0), 12)
    assert list(history.columns) == ["trial", "params", "value", "time"]
    assert list(history["trial"]) == list(range(12))
    assert all(v == sphere(p) for p, v in zip(history["params"], history["value"]))
    assert (history["time"] >= 0).all()
    assert best_trial(history)["value"] == history["value"].min()


@pytest.mark.parametrize("seed", range(5))
def test_same_seed_same_history(seed):
    space = random_space(seed, conditional=True)
    objective = random_objective(space, seed)
    a = minimize(objective, space, RandomSampler(seed=seed), 20)
    b = minimize(objective, space, RandomSampler(seed=seed), 20)
    pd.testing.assert_frame_equal(a.drop(columns="time"), b.drop(columns="time"))
    c = minimize(objective, space, RandomSampler(seed=seed + 100), 20)
    assert list(a["params"]) != list(c["params"])


def test_grid_sampler_stops_when_the_grid_is_exhausted():
    history = minimize(sphere, SPACE, GridSampler(points_per_dim=3), None)
    assert len(history) == 9
    assert minimize(sphere, SPACE, GridSampler(points_per_dim=3), 4).shape[0] == 4
    assert minimize(sphere, SPACE, GridSampler(points_per_dim=3), 50).shape[0] == 9
    shuffled = minimize(sphere, SPACE, GridSampler(points_per_dim=3, shuffle=True, seed=1), None)
    key = lambda h: sorted(tuple(p.values()) for p in h["params"])  # noqa: E731
    assert key(shuffled) == key(history) and list(shuffled["params"]) != list(history["params"])


def test_a_failing_objective_keeps_the_finished_trials():
    def flaky(config):
        if flaky.calls == 3:
            raise RuntimeError("diverged")
        flaky.calls += 1
        return sphere(config)
    flaky.calls = 0
    with pytest.raises(ObjectiveError, match="objective raised on trial 3") as info:
        minimize(flaky, SPACE, RandomSampler(seed=0), 10)
    assert len(info.value.history) == 3


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "0.3", None])
def test_a_non_finite_or_non_numeric_value_is_refused(bad):
    with pytest.raises(ObjectiveError, match="must return a finite float"):
        minimize(lambda c: bad, SPACE, RandomSampler(seed=0), 3)


@pytest.mark.parametrize("n_trials", [0, -3, 2.5, True, "10"])
def test_bad_n_trials(n_trials):
    with pytest.raises(ValueError, match="n_trials must be a positive int"):
        minimize(sphere, SPACE, RandomSampler(seed=0), n_trials)


def test_bad_arguments_and_invalid_proposals():
    with pytest.raises(ValueError, match="space must be a SearchSpace"):
        minimize(sphere, {"x": (0, 1)}, RandomSampler(), 3)
    with pytest.raises(ValueError, match="sampler must be a course.hpo.Sampler"):
        minimize(sphere, SPACE, object(), 3)

    class OutOfRange(Sampler):
        def ask(self, space, history):
            return {"x": 5.0, "y": 0.0}
    with pytest.raises(ValueError, match="OutOfRange proposed an invalid configuration"):
        minimize(sphere, SPACE, OutOfRange(), 3)


def test_best_so_far_is_the_running_minimum():
    assert np.array_equal(best_so_far([3, 1, 2, 0.5]), [3, 1, 1, 0.5])
    with pytest.raises(ValueError, match="1-D"):
        best_so_far([[1, 2]])


def test_progress_bar_is_quiet_under_pytest(capsys):
    minimize(sphere, SPACE, RandomSampler(seed=0), 5)
    assert capsys.readouterr().err == ""
