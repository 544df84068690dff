"""The mini-AutoML (course.automl.mini_automl) and its benchmark (benchmarks/automl.py)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.exceptions import NotFittedError
from sklearn.metrics import balanced_accuracy_score, get_scorer
from sklearn.model_selection import StratifiedKFold

from benchmarks import automl as bench
from course.automl import MiniAutoML, cash_space, plot_history
from course.automl.cash import build_pipeline
from course.automl.mini_automl import HISTORY_COLUMNS, LEADERBOARD_COLUMNS, cross_validate_config
from course.hpo import RandomSampler, Sampler

CHEAP = ["knn", "decision_tree", "logistic_regression"]
KNN_5 = {"imputer": "mean", "scaler": "standard", "features": "none", "model": "knn",
         "knn:n_neighbors": 5, "knn:weights": "uniform", "knn:p": 2}
KNN_50 = {**KNN_5, "knn:n_neighbors": 50}


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(y))[:240]
    return X[idx[:180]], y[idx[:180]], X[idx[180:]], y[idx[180:]]


@pytest.fixture(scope="module")
def fitted(cancer):
    X, y, _, _ = cancer
    return MiniAutoML(models=CHEAP, n_trials=8, random_state=0).fit(X, y)


def without_times(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in ("fit_time", "elapsed") if c in frame.columns])


# -- fit / predict / score, the leaderboard and the history ---------------------------------------

def test_fit_predict_score(fitted, cancer):
    _, _, X_test, y_test = cancer
    assert is_classifier(fitted)
    assert list(fitted.classes_) == [0, 1]
    prediction = fitted.predict(X_test)
    assert prediction.shape == y_test.shape and set(prediction) <= {0, 1}
    proba = fitted.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(fitted.classes_[proba.argmax(axis=1)], prediction)
    assert fitted.score(X_test, y_test) == pytest.approx(np.mean(prediction == y_test))
    assert fitted.score(X_test, y_test) > 0.85
    assert fitted.n_features_in_ == 30
    assert fitted.best_pipeline_.named_steps["model"] is not None
    assert fitted.search_seconds_ > 0 and fitted.refit_seconds_ >= 0


def test_leaderboard_is_sorted_and_complete(fitted):
    board = fitted.leaderboard_
    assert list(board.columns) == LEADERBOARD_COLUMNS
    assert len(board) == 8 and sorted(board["trial"]) == list(range(8))
    assert list(board["rank"]) == list(range(1, 9))
    ok = board[board["status"] == "ok"]
    assert ok["score"].is_monotonic_decreasing
    assert set(board["model"]) <= set(CHEAP)
    assert (board["fit_time"] > 0).all()
    assert ((ok["score"] > 0.5) & (ok["score"] <= 1.0)).all()
    best = board.iloc[0]
    assert fitted.best_config_ == best["config"] and fitted.best_score_ == best["score"]
    assert best["model"] == fitted.best_config_["model"]
    cash_space(CHEAP).validate(fitted.best_config_)


def test_history_is_in_trial_order_with_the_elapsed_time(fitted):
    history = fitted.history_
    assert list(history.columns[:len(HISTORY_COLUMNS)]) == HISTORY_COLUMNS
    assert list(history["trial"]) == list(range(8))
    assert history["elapsed"].is_monotonic_increasing and (history["elapsed"] > 0).all()
    assert history["elapsed"].iloc[-1] <= fitted.search_seconds_
    np.testing.assert_allclose(history["best_score"], history["score"].cummax())
    assert history["best_score"].iloc[-1] == fitted.best_score_
    assert (history["source"] == "sampler").all()


def test_plot_history(fitted):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = plot_history(fitted.history_, label="random")
    assert ax.get_xlabel() == "seconds of search" and len(ax.lines) >= 2
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="MiniAutoML.history_"):
        plot_history(fitted.leaderboard_.drop(columns="score"))


def test_scores_are_cross_validated_with_the_chosen_scoring(cancer):
    X, y, X_test, y_test = cancer
    automl = MiniAutoML(models=["decision_tree"], n_trials=3, scoring="balanced_accuracy",
                        cv=4, random_state=1).fit(X, y)
    assert automl.score(X_test, y_test) == pytest.approx(
        balanced_accuracy_score(y_test, automl.predict(X_test)))
    # the leaderboard's score is the mean over the 4 folds of the same splits
    config = automl.best_config_
    folds = StratifiedKFold(4, shuffle=True, random_state=1).split(X, y)
    scores = [balanced_accuracy_score(y[te], build_pipeline(config, random_state=1)
                                      .fit(X[tr], y[tr]).predict(X[te])) for tr, te in folds]
    assert automl.best_score_ == pytest.approx(np.mean(scores))


def test_regression():
    X, y = load_diabetes(return_X_y=True)
    automl = MiniAutoML(task="regression", models=["ridge", "knn", "decision_tree"], n_trials=5,
                        random_state=0).fit(X[:300], y[:300])
    assert is_regressor(automl) and not hasattr(automl, "predict_proba")
    assert not hasattr(automl, "classes_")
    prediction = automl.predict(X[300:])
    assert prediction.shape == (142,)
    assert automl.score(X[300:], y[300:]) > 0.2   # R^2; a mean predictor scores about 0
    assert set(automl.leaderboard_["model"]) <= {"ridge", "knn", "decision_tree"}


def test_pandas_input_keeps_feature_names():
    data = load_iris(as_frame=True)
    automl = MiniAutoML(models=["knn"], n_trials=2).fit(data.data, data.target)
    assert list(automl.feature_names_in_) == list(data.data.columns)
    assert automl.predict(data.data.iloc[:5]).shape == (5,)


# -- reproducibility -----------------------------------------------------------------------------

@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_same_random_state_same_leaderboard(cancer, sampler):
    X, y, _, _ = cancer
    make = lambda seed: MiniAutoML(models=CHEAP, sampler=sampler, n_trials=6,  # noqa: E731
                                   random_state=seed)
    a, b = make(3).fit(X, y), make(3).fit(X, y)
    pd.testing.assert_frame_equal(without_times(a.leaderboard_), without_times(b.leaderboard_))
    pd.testing.assert_frame_equal(without_times(a.history_), without_times(b.history_))
    c = make(4).fit(X, y)
    assert list(a.history_["config"]) != list(c.history_["config"])
    # refitting the same estimator replays the same search (a sampler instance is copied too)
    given = MiniAutoML(models=CHEAP, sampler=RandomSampler(seed=5), n_trials=4)
    first = list(given.fit(X, y).history_["config"])
    assert list(given.fit(X, y).history_["config"]) == first


def test_tpe_starts_like_random_search_then_uses_its_model(cancer):
    X, y, _, _ = cancer
    tpe = MiniAutoML(models=CHEAP, sampler="tpe", n_trials=9, random_state=2).fit(X, y)
    rs = MiniAutoML(models=CHEAP, sampler="random", n_trials=9, random_state=2).fit(X, y)
    # min(10, max(3, 9 // 3)) = 3 random start-up trials, drawn exactly as random search draws them
    assert list(tpe.history_["config"][:3]) == list(rs.history_["config"][:3])
    assert list(tpe.history_["config"][3:]) != list(rs.history_["config"][3:])


def test_sklearn_clone_and_params():
    automl = MiniAutoML(models=["knn"], n_trials=3, sampler="tpe")
    copy = clone(automl)
    assert copy.get_params() == automl.get_params()
    assert copy.get_params()["models"] == ["knn"]


# -- budgets ------------------------------------------------------------------------------------

def test_time_budget_is_respected(cancer):
    X, y, _, _ = cancer
    budget = 2.0
    automl = MiniAutoML(models=CHEAP, n_trials=None, time_budget=budget, random_state=0).fit(X, y)
    history = automl.history_
    assert len(history) >= 3   # many cheap trials fit in two seconds
    # no trial starts after the budget, and the last one overruns by at most one fold
    assert (history["elapsed"] - history["fit_time"] < budget).all()
    slowest_fold = history["fit_time"].max()
    assert automl.search_seconds_ <= budget + slowest_fold + 0.5
    # with both budgets the trial count stops it first
    assert len(MiniAutoML(models=CHEAP, n_trials=2, time_budget=60.0).fit(X, y).leaderboard_) == 2


def test_the_first_trial_is_never_cut_short(cancer):
    X, y, _, _ = cancer
    automl = MiniAutoML(models=CHEAP, n_trials=None, time_budget=1e-3, cv=5,
                        warm_start_configs=[KNN_5, KNN_5]).fit(X, y)
    # the budget is gone during the first trial, which still runs to the end: something to refit
    assert list(automl.history_["status"]) == ["ok"] and automl.best_config_ == KNN_5


def test_a_trial_past_the_deadline_stops_after_its_current_fold(cancer):
    X, y, _, _ = cancer
    splits = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    scorer = get_scorer("accuracy")
    late = cross_validate_config(KNN_5, X, y, splits=splits, scoring=scorer,
                                 deadline=time.perf_counter())
    assert late.status == "timeout" and len(late.scores) == 1 and np.isnan(late.score)
    full = cross_validate_config(KNN_5, X, y, splits=splits, scoring=scorer)
    assert full.status == "ok" and len(full.scores) == 3
    assert full.score == pytest.approx(np.mean(full.scores)) and full.scores[0] == late.scores[0]
    broken = cross_validate_config({**KNN_5, "knn:n_neighbors": 50}, X[:60], y[:60],
                                   splits=list(StratifiedKFold(3).split(X[:60], y[:60])),
                                   scoring=scorer)
    assert broken.status == "failed" and "n_neighbors" in broken.error


# -- failures and warm start ------------------------------------------------------------------------


def test_a_failing_pipeline_is_recorded_and_the_search_goes_on():
    X, y = load_iris(return_X_y=True)
    idx = np.random.default_rng(0).permutation(150)[:60]
    X, y = X[idx], y[idx]           # 40 training samples per fold: 50 neighbours cannot work
    automl = MiniAutoML(models=CHEAP, n_trials=5, warm_start_configs=[KNN_50],
                        random_state=0).fit(X, y)
    history = automl.history_
    assert history["status"].iloc[0] == "failed" and np.isnan(history["score"].iloc[0])
    assert "n_neighbors" in history["error"].iloc[0]
    assert (history["status"].iloc[1:] == "ok").all() and len(history) == 5
    board = automl.leaderboard_
    assert board["status"].iloc[-1] == "failed" and board["rank"].iloc[-1] == 5
    assert automl.best_config_ != KNN_50


def test_every_trial_failing_is_a_clear_error():
    class AlwaysKnn50(Sampler):
        def ask(self, space, history):
            return dict(KNN_50)

    X, y = load_iris(return_X_y=True)
    with pytest.raises(RuntimeError, match=r"no trial of the 3 succeeded.*n_neighbors"):
        MiniAutoML(models=["knn"], sampler=AlwaysKnn50(), n_trials=3).fit(X[::3], y[::3])


def test_warm_start_configs_come_first(cancer):
    X, y, _, _ = cancer
    space = cash_space(CHEAP)
    warm = [RandomSampler(seed=100 + i).ask(space, []) for i in range(3)]
    automl = MiniAutoML(models=CHEAP, n_trials=5, warm_start_configs=warm).fit(X, y)
    history = automl.history_
    assert list(history["config"][:3]) == warm
    assert list(history["source"]) == ["warm_start"] * 3 + ["sampler"] * 2
    assert len(MiniAutoML(models=CHEAP, n_trials=2, warm_start_configs=warm).fit(X, y).history_) == 2


# -- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    ({"models": ["svm", "catboost"]}, r"unknown model\(s\) \['catboost'\].*logistic_regression"),
    ({"task": "ranking"}, "task must be"),
    ({"n_trials": 0}, "n_trials must be a positive int"),
    ({"n_trials": -3}, "n_trials must be a positive int"),
    ({"n_trials": 2.5}, "n_trials must be a positive int"),
    ({"time_budget": 0}, "time_budget must be a positive number"),
    ({"time_budget": -1.0}, "time_budget must be a positive number"),
    ({"time_budget": float("nan")}, "time_budget must be a positive number"),
    ({"n_trials": None, "time_budget": None}, "no budget"),
    ({"cv": 1}, "cv must be an int >= 2"),
    ({"sampler": "bayes"}, "sampler must be 'random', 'tpe' or a course.hpo.Sampler"),
    ({"random_state": "seed"}, "random_state must be an int"),
    ({"warm_start_configs": [{"model": "svm"}]}, r"warm_start_configs\[0\] is not a configuration"),
    ({"warm_start_configs": {"model": "knn"}}, "must be a list of configuration dicts"),
    ({"scoring": "accuracy_of_doom"}, "accuracy_of_doom"),
])
def test_bad_settings(kwargs, match):
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match=match):
        MiniAutoML(**{"models": ["knn"], "n_trials": 2, **kwargs}).fit(X, y)


def test_bad_data():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="single class"):
        MiniAutoML(n_trials=2).fit(X, np.zeros(150))
    with pytest.raises(ValueError, match="X and y have different lengths: X has 150 rows, y has 149"):
        MiniAutoML(n_trials=2).fit(X, y[:-1])
    with pytest.raises(ValueError, match="Unknown label type"):
        MiniAutoML(n_trials=2).fit(X, y + np.linspace(0, 0.5, 150))   # continuous labels
    with pytest.raises(ValueError, match="y is constant"):
        MiniAutoML(task="regression", n_trials=2).fit(X, np.ones(150))
    with pytest.raises(ValueError, match="cannot be split into cv=3"):
        MiniAutoML(n_trials=2).fit(X[[0, 60]], y[[0, 60]])

    missing = X.copy()
    missing[::10, 2] = np.nan
    with pytest.raises(ValueError, match=r"missing values \(NaN in 15 rows\) but imputation=False"):
        MiniAutoML(models=["knn"], n_trials=2, imputation=False).fit(missing, y)
    automl = MiniAutoML(models=["knn"], n_trials=2, imputation=True).fit(missing, y)   # imputed
    assert automl.best_config_["imputer"] in ("mean", "median", "most_frequent")
    assert automl.predict(missing).shape == (150,)

    clean = MiniAutoML(models=["knn"], n_trials=2, imputation=False).fit(X, y)
    assert "imputer" not in clean.best_config_
    with pytest.raises(ValueError, match="imputation=False"):
        clean.predict(missing)
    with pytest.raises(ValueError, match="features"):
        clean.predict(X[:, :3])


def test_predict_before_fit_is_not_fitted_error():
    X, y = load_iris(return_X_y=True)
    automl = MiniAutoML()
    for method in (automl.predict, automl.predict_proba):
        with pytest.raises(NotFittedError):
            method(X)
    with pytest.raises(NotFittedError):
        automl.score(X, y)


# -- the benchmark ----------------------------------------------------------------------------------

def test_tiny_benchmark_writes_table_csv_and_plot(tmp_path, capsys):
    argv = ["--datasets", "wine", "--seeds", "1", "--trials", "4", "--workers", "1",
            "--out", str(tmp_path), "--check"]
    assert bench.main(argv) == 0
    data = pd.read_csv(tmp_path / "results.csv")
    assert list(data.columns) == bench.COLUMNS
    assert list(data["method"]) == list(bench.METHODS) and set(data["dataset"]) == {"wine"}
    assert (data["test_score"] > 0.5).all()
    fits = data.set_index("method")["n_fits"]
    assert fits["mini_random"] == fits["mini_tpe"] == fits["grid_svm"] == 3 * 4 + 1
    assert fits["default_rf"] == 1
    report = (tmp_path / "results.md").read_text()
    assert all(label in report for label in bench.METHODS.values())
    assert (tmp_path / "automl.png").stat().st_size > 1000
    assert "MiniAutoML, TPE" in capsys.readouterr().out


def test_benchmark_reports_a_crash_and_check_fails(tmp_path, monkeypatch):
    monkeypatch.setitem(bench.DATASETS, "broken", ("load_nothing", "classification"))
    argv = ["--datasets", "broken", "--methods", "default_rf", "--seeds", "1", "--trials", "2",
            "--workers", "1", "--out", str(tmp_path)]
    assert bench.main(argv) == 0
    assert "FAILED broken default_rf" in (tmp_path / "results.md").read_text()
    assert bench.main(argv + ["--check"]) == 1


def test_benchmark_command_line():
    assert bench.grid_shape(30) == (6, 5) and bench.grid_shape(8) == (4, 2)
    assert bench.grid_shape(1) == (1, 1)
    quick = bench.parse_args(["--quick"])
    assert (quick.seeds, quick.trials, quick.out) == (2, 8, bench.QUICK_OUT)
    full = bench.parse_args([])
    assert (full.seeds, full.trials, full.datasets) == (5, 50, list(bench.DATASETS))
    with pytest.raises(SystemExit):
        bench.parse_args(["--datasets", "mnist"])
