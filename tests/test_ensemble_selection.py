import itertools

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, log_loss, mean_squared_error
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from course.automl.ensemble_selection import (
    METRICS, EnsembleSelectionClassifier, EnsembleSelectionRegressor, bagged_ensemble_selection,
    ensemble_predict, ensemble_selection)


def random_probabilities(seed, n_models=6, n_samples=40, n_classes=3):
    """A library of random probability predictions and labels, models of varying quality."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n_samples)
    onehot = np.eye(n_classes)[y]
    library = []
    for m in range(n_models):
        skill = rng.uniform(0.0, 3.0)
        logits = skill * onehot + rng.normal(size=(n_samples, n_classes))
        p = np.exp(logits)
        library.append(p / p.sum(axis=1, keepdims=True))
    return np.array(library), y


def random_regressions(seed, n_models=6, n_samples=30):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n_samples)
    library = np.array([y + rng.normal(loc=rng.normal(scale=0.3), scale=rng.uniform(0.2, 1.5),
                                       size=n_samples) for _ in range(n_models)])
    return library, y


SKLEARN = {
    "log_loss": lambda y, p: log_loss(y, p, labels=np.arange(p.shape[1])),
    "accuracy": lambda y, p: accuracy_score(y, np.argmax(p, axis=1)),
    "mse": mean_squared_error,
}


def naive_loss(metric, y, prediction):
    value = SKLEARN[metric](y, prediction)
    return -value if METRICS[metric].greater_is_better else value


# ---------------------------------------------------------------------------------------
# Hand-computable cases
# ---------------------------------------------------------------------------------------

def test_first_pick_is_the_best_single_model():
    for seed in range(5):
        for metric, (library, y) in [("log_loss", random_probabilities(seed)),
                                     ("accuracy", random_probabilities(seed)),
                                     ("mse", random_regressions(seed))]:
            result = ensemble_selection(library, y, 5, metric=metric)
            singles = [naive_loss(metric, y, p) for p in library]
            assert result.indices[0] == int(np.argmin(singles))       # ties: the lowest index
            assert result.trajectory[0] == pytest.approx(SKLEARN[metric](y, library[result.indices[0]]))


def test_with_replacement_a_model_is_picked_twice():
    # y = 0; the exact ensemble is 2/3 of A (+1) and 1/3 of B (-2)
    y = np.zeros(4)
    a, b, c = np.ones(4), np.full(4, -2.0), np.full(4, 3.0)
    result = ensemble_selection([a, b, c], y, 3, metric="mse")
    assert result.indices.tolist() == [0, 1, 0]
    np.testing.assert_allclose(result.trajectory, [1.0, 0.25, 0.0])
    assert result.size == 3 and result.weights.tolist() == pytest.approx([2 / 3, 1 / 3, 0.0])
    assert result.score == 0.0

    # without replacement the third pick must be a new model: the bad one, so step 4 drops it
    without = ensemble_selection([a, b, c], y, 3, metric="mse", replacement=False)
    assert without.indices.tolist() == [0, 1, 2]
    np.testing.assert_allclose(without.trajectory, [1.0, 0.25, (2 / 3) ** 2])
    assert without.size == 2 and without.weights.tolist() == [0.5, 0.5, 0.0]

    # auto-sklearn keeps every pick
    kept = ensemble_selection([a, b, c], y, 3, metric="mse", replacement=False, best_prefix=False)
    assert kept.size == 3 and kept.weights.tolist() == pytest.approx([1 / 3] * 3)


def test_without_replacement_stops_when_the_library_is_used_up():
    library, y = random_regressions(0, n_models=4)
    result = ensemble_selection(library, y, 50, replacement=False, best_prefix=False)
    assert sorted(result.indices.tolist()) == [0, 1, 2, 3]
    assert result.size == 4 and np.allclose(result.weights, 0.25)


def test_trajectory_decreases_while_models_err_on_different_samples():
    # model i errs by c on sample i only: k distinct models give MSE c^2 / (k n), so every
    # new model helps; once all are in, any repeat hurts, and step 4 keeps the n distinct ones
    n, c = 5, 2.0
    y = np.zeros(n)
    library = c * np.eye(n)
    result = ensemble_selection(library, y, n + 3, metric="mse")
    np.testing.assert_allclose(result.trajectory[:n], [c ** 2 / (k * n) for k in range(1, n + 1)])
    assert np.all(np.diff(result.trajectory[:n]) < 0)
    assert result.indices[:n].tolist() == list(range(n))             # ties: lowest index first
    assert result.trajectory[n] > result.trajectory[n - 1]           # a repeat hurts
    assert result.size == n and np.allclose(result.weights, 1 / n)


def test_step_4_returns_the_shortest_best_prefix():
    rose = 0
    for seed in range(8):
        library, y = random_probabilities(seed, n_models=8)
        result = ensemble_selection(library, y, 25, metric="log_loss")
        best = result.trajectory.min()
        assert result.score == pytest.approx(best, rel=1e-12)
        # re-adding the only member of a one-model ensemble changes nothing: a tie, kept short
        assert result.size == 1 + int(np.flatnonzero(result.trajectory <= best * (1 + 1e-12))[0])
        rose += bool(np.any(np.diff(result.trajectory) > 1e-12))
        # never worse on validation than the best single model (the first pick)
        assert result.score <= result.trajectory[0]
        for t in range(len(result.indices)):           # each entry is that prefix's score
            average = library[result.indices[:t + 1]].mean(axis=0)
            assert result.trajectory[t] == pytest.approx(SKLEARN["log_loss"](y, average))
        counts = np.bincount(result.indices[:result.size], minlength=len(library))
        np.testing.assert_allclose(result.weights, counts / result.size)
        np.testing.assert_allclose(result.predict(library), library[result.indices[:result.size]].mean(0))
    assert rose > 0                                   # the climb is not monotone in general


def test_two_models_and_mse_the_weight_stays_within_one_step_of_the_optimum():
    # the loss is quadratic in the mixing weight, so each greedy step moves it towards the
    # optimum alpha*, and after k picks it is within 1 / k of it
    rng = np.random.default_rng(1)
    y = rng.normal(size=50)
    a, b = y + rng.normal(0.3, 1.0, 50), y + rng.normal(-0.2, 0.7, 50)
    d = a - b
    alpha_star = float(np.clip(np.dot(y - b, d) / np.dot(d, d), 0, 1))
    for k in (5, 20, 50):
        result = ensemble_selection([a, b], y, k, best_prefix=False)
        assert abs(result.weights[0] - alpha_star) <= 1 / k + 1e-12


# ---------------------------------------------------------------------------------------
# Brute force on tiny libraries
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("metric", ["log_loss", "accuracy", "mse"])
@pytest.mark.parametrize("replacement", [True, False])
def test_every_pick_is_the_best_extension_by_a_naive_search(metric, replacement):
    for seed in range(4):
        library, y = random_regressions(seed, 5) if metric == "mse" else random_probabilities(seed, 5)
        result = ensemble_selection(library, y, 7, metric=metric, replacement=replacement)
        picks = []
        for step in range(len(result.indices)):
            allowed = [m for m in range(len(library)) if replacement or m not in picks]
            losses = {m: naive_loss(metric, y, library[picks + [m]].mean(axis=0)) for m in allowed}
            best = min(losses.values())
            assert losses[int(result.indices[step])] == pytest.approx(best, abs=1e-12)
            first_tied = min(m for m, v in losses.items() if v <= best + 1e-12 * max(1, abs(best)))
            assert result.indices[step] == first_tied                   # deterministic ties
            picks.append(int(result.indices[step]))
        assert len(picks) == (7 if replacement else 5)


def test_size_one_is_the_exhaustive_optimum_and_larger_sizes_are_no_better_than_it():
    for seed in range(3):
        library, y = random_regressions(seed, n_models=4, n_samples=20)
        for size in (1, 2, 3):
            exhaustive = min(mean_squared_error(y, library[list(combo)].mean(axis=0))
                             for combo in itertools.combinations_with_replacement(range(4), size))
            greedy = ensemble_selection(library, y, size, best_prefix=False)
            assert greedy.score >= exhaustive - 1e-12
            if size == 1:
                assert greedy.score == pytest.approx(exhaustive)


# ---------------------------------------------------------------------------------------
# Sorted initialisation, ties, metrics, bagging
# ---------------------------------------------------------------------------------------

def test_sorted_initialisation_starts_with_the_n_best_models():
    library, y = random_probabilities(3, n_models=8)
    singles = [SKLEARN["log_loss"](y, p) for p in library]
    order = np.argsort(singles, kind="stable")
    result = ensemble_selection(library, y, 10, init_size=3)
    assert result.indices[:3].tolist() == order[:3].tolist()
    assert result.size >= 3                                 # the prefix never cuts into it
    np.testing.assert_allclose(result.trajectory[2], SKLEARN["log_loss"](y, library[order[:3]].mean(0)))

    auto = ensemble_selection(library, y, 10, init_size="auto")
    averages = [SKLEARN["log_loss"](y, library[order[:n]].mean(0)) for n in range(1, 9)]
    n_best = int(np.argmin(averages)) + 1
    assert auto.indices[:n_best].tolist() == order[:n_best].tolist()
    # the greedy part starts right after: its first pick is the best extension
    extensions = [SKLEARN["log_loss"](y, library[list(order[:n_best]) + [m]].mean(0)) for m in range(8)]
    if n_best < 10:
        assert auto.indices[n_best] == int(np.argmin(extensions))


def test_ties_are_broken_by_index_or_by_a_seeded_draw():
    library, y = random_regressions(0, n_models=3)
    twins = np.concatenate([library, library[[0, 0, 0]]])     # models 3, 4, 5 copy model 0
    best = int(np.argmin([mean_squared_error(y, p) for p in library]))
    if best != 0:
        twins = np.concatenate([library, library[[best] * 3]])
    first = ensemble_selection(twins, y, 1)
    assert first.indices[0] == best
    draws = {int(ensemble_selection(twins, y, 1, ties="random", seed=s).indices[0]) for s in range(30)}
    assert draws == {best, 3, 4, 5}
    again = [ensemble_selection(twins, y, 6, ties="random", seed=7).indices.tolist() for _ in range(2)]
    assert again[0] == again[1]


def test_string_labels_with_classes_and_a_callable_metric():
    library, y = random_probabilities(5)
    names = np.array(["cat", "dog", "eel"])
    by_index = ensemble_selection(library, y, 8, metric="accuracy")
    by_name = ensemble_selection(library, names[y], 8, metric="accuracy", classes=names)
    assert by_index.indices.tolist() == by_name.indices.tolist()
    custom = ensemble_selection(library, y, 8, greater_is_better=True,
                                metric=lambda t, p: accuracy_score(t, np.argmax(p, axis=1)))
    assert custom.indices.tolist() == by_index.indices.tolist()
    np.testing.assert_allclose(custom.trajectory, by_index.trajectory)
    reg, target = random_regressions(2)
    a = ensemble_selection(reg, target, 10, metric=mean_squared_error, greater_is_better=False)
    b = ensemble_selection(reg, target, 10, metric="mse")
    assert a.indices.tolist() == b.indices.tolist() and a.metric == "mean_squared_error"


@pytest.mark.parametrize("metric", sorted(METRICS))
def test_every_built_in_metric_runs_and_reports_in_its_own_units(metric):
    library, y = random_regressions(1) if METRICS[metric].task == "regression" else random_probabilities(1)
    result = ensemble_selection(library, y, 6, metric=metric)
    assert result.metric == metric and len(result.trajectory) == 6
    better = np.max if METRICS[metric].greater_is_better else np.min
    assert result.score == better(result.trajectory)


def test_bagged_selection_averages_its_bags():
    library, y = random_probabilities(4, n_models=10)
    bagged = bagged_ensemble_selection(library, y, 10, n_bags=5, bag_fraction=0.5, seed=3)
    assert len(bagged.bags) == len(bagged.results) == 5
    for bag, result in zip(bagged.bags, bagged.results):
        assert len(bag) == 5 and set(result.indices) <= set(bag.tolist())
        assert result.weights[np.setdiff1d(np.arange(10), bag)].sum() == 0
    np.testing.assert_allclose(bagged.weights, np.mean([r.weights for r in bagged.results], axis=0))
    assert bagged.score == pytest.approx(SKLEARN["log_loss"](y, ensemble_predict(library, bagged.weights)))
    again = bagged_ensemble_selection(library, y, 10, n_bags=5, bag_fraction=0.5, seed=3)
    np.testing.assert_array_equal(again.weights, bagged.weights)
    one_bag = bagged_ensemble_selection(library, y, 10, n_bags=1, bag_fraction=1.0)
    np.testing.assert_array_equal(one_bag.weights, ensemble_selection(library, y, 10).weights)


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------

def test_clear_errors_for_bad_input():
    library, y = random_probabilities(0, n_models=3)
    reg, target = random_regressions(0, n_models=3)
    cases = [
        (lambda: ensemble_selection([], y), ValueError, "library is empty"),
        (lambda: ensemble_selection([library[0], library[1][:-1]], y), ValueError, "model 1 have shape"),
        (lambda: ensemble_selection(library, y[:-1]), ValueError, "y_val must be a 1-D array of 40"),
        (lambda: ensemble_selection(library, y, 0), ValueError, "ensemble_size must be a positive int"),
        (lambda: ensemble_selection(library, y, -3), ValueError, "got -3"),
        (lambda: ensemble_selection(library, y, 2.5), ValueError, "ensemble_size"),
        (lambda: ensemble_selection(library, y, True), ValueError, "ensemble_size"),
        (lambda: ensemble_selection(library * 2, y), ValueError, "not probabilities"),
        (lambda: ensemble_selection(library * 0.5, y), ValueError, "do not sum to 1"),
        (lambda: ensemble_selection(library, y + 5), ValueError, "not one of the classes"),
        (lambda: ensemble_selection(library, y, metric="mse"), ValueError, "regression metric"),
        (lambda: ensemble_selection(reg, target, metric="accuracy"), ValueError, "classification metric"),
        (lambda: ensemble_selection(reg, target, metric="nope"), ValueError, "metric must be one of"),
        (lambda: ensemble_selection(reg, target, metric=mean_squared_error), ValueError,
         "greater_is_better must be True or False"),
        (lambda: ensemble_selection(reg, target, init_size=4, replacement=False), ValueError,
         "init_size must be"),
        (lambda: ensemble_selection(reg, target, 3, init_size=-1), ValueError, "init_size"),
        (lambda: ensemble_selection(reg, target, ties="last"), ValueError, "ties must be"),
        (lambda: ensemble_selection(reg, target, replacement="yes"), ValueError, "replacement"),
        (lambda: ensemble_selection(reg, np.full(30, np.nan)), ValueError, "NaN"),
        (lambda: ensemble_selection(np.where(np.eye(3, 30) > 0, np.nan, reg), target), ValueError,
         "model 0 contain NaN"),
        (lambda: ensemble_selection(reg, target, classes=[0, 1]), ValueError, "only for classification"),
        (lambda: ensemble_selection(42, target), TypeError, "list of per-model arrays"),
        (lambda: ensemble_selection(reg, np.zeros(30), metric="r2"), ValueError, "y_val is constant"),
        (lambda: bagged_ensemble_selection(reg, target, bag_fraction=0), ValueError, "bag_fraction"),
        (lambda: bagged_ensemble_selection(reg, target, n_bags=0), ValueError, "n_bags"),
        (lambda: ensemble_predict(reg, [1, 2]), ValueError, "one entry per model"),
        (lambda: ensemble_predict(reg, [0, 0, 0]), ValueError, "not all zero"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()


# ---------------------------------------------------------------------------------------
# The scikit-learn estimators
# ---------------------------------------------------------------------------------------

def classifier_library():
    return [("nb", GaussianNB()), ("stump", DecisionTreeClassifier(max_depth=1, random_state=0)),
            ("tree", DecisionTreeClassifier(max_depth=4, random_state=0)),
            ("knn", make_pipeline(StandardScaler(), KNeighborsClassifier(7))),
            ("lr", make_pipeline(StandardScaler(), LogisticRegression(C=0.1)))]


def test_classifier_fits_selects_and_predicts():
    X, y = load_wine(return_X_y=True)
    names = np.array(["barolo", "grignolino", "barbera"])[y]
    X_train, X_test, y_train, y_test = train_test_split(X, names, test_size=0.3, random_state=0,
                                                        stratify=names)
    ensemble = EnsembleSelectionClassifier(classifier_library(), ensemble_size=20, seed=0)
    ensemble.fit(X_train, y_train)
    assert sorted(ensemble.classes_) == sorted(set(names))
    proba = ensemble.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(ensemble.predict(X_test)) <= set(names)
    assert ensemble.score(X_test, y_test) > 0.85
    assert ensemble.weights_.sum() == pytest.approx(1.0) and set(ensemble.named_estimators_) == {
        "nb", "stump", "tree", "knn", "lr"}
    assert ensemble.weights_[1] == 0            # the stump is never worth picking here
    manual = sum(w * e.predict_proba(X_test) for w, e in zip(ensemble.weights_, ensemble.estimators_))
    np.testing.assert_allclose(proba, manual)
    # same seed, same split, same ensemble; a clone is unfitted and keeps the settings
    again = clone(ensemble).fit(X_train, y_train)
    np.testing.assert_array_equal(again.weights_, ensemble.weights_)
    assert clone(ensemble).get_params()["ensemble_size"] == 20
    assert not hasattr(clone(ensemble), "weights_")


def test_prefit_classifier_matches_the_function_on_the_validation_predictions():
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.4, random_state=1, stratify=y)
    fitted = [e.fit(X_train, y_train) for _, e in classifier_library()]
    ensemble = EnsembleSelectionClassifier(fitted, ensemble_size=15, prefit=True).fit(X_val, y_val)
    expected = ensemble_selection([e.predict_proba(X_val) for e in fitted], y_val, 15)
    np.testing.assert_array_equal(ensemble.selection_.indices, expected.indices)
    np.testing.assert_array_equal(ensemble.weights_, expected.weights)
    assert ensemble.estimators_[0] is fitted[0]            # prefit: the models are not refitted


def test_regressor_fits_selects_and_predicts():
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    library = [Ridge(alpha=a) for a in (0.01, 1.0, 100.0)] + [
        KNeighborsRegressor(n_neighbors=k) for k in (1, 15)] + [DecisionTreeRegressor(max_depth=3)]
    ensemble = EnsembleSelectionRegressor(library, ensemble_size=20, seed=0).fit(X_train, y_train)
    prediction = ensemble.predict(X_test)
    assert prediction.shape == (len(X_test),)
    assert ensemble.score(X_test, y_test) > 0.3
    assert ensemble.weights_[3] == 0                 # 1-NN is too noisy to be picked
    singles = [mean_squared_error(y_test, e.predict(X_test)) for e in ensemble.estimators_]
    assert mean_squared_error(y_test, prediction) < np.median(singles)


def test_estimator_errors():
    X, y = load_wine(return_X_y=True)
    with pytest.raises(ValueError, match="no predict_proba"):
        EnsembleSelectionClassifier([GaussianNB(), LinearSVC()], seed=0).fit(X, y)
    with pytest.raises(ValueError, match="not fitted"):
        EnsembleSelectionClassifier([GaussianNB()], prefit=True).fit(X, y)
    with pytest.raises(ValueError, match="non-empty list"):
        EnsembleSelectionClassifier([]).fit(X, y)
    with pytest.raises(ValueError, match="validation_size"):
        EnsembleSelectionClassifier([GaussianNB()], validation_size=1.5).fit(X, y)
    two_classes = GaussianNB().fit(X[y < 2], y[y < 2])
    three = GaussianNB().fit(X, y)
    with pytest.raises(ValueError, match="every model must see every class"):
        EnsembleSelectionClassifier([three, two_classes], prefit=True).fit(X, y)
    with pytest.raises(ValueError, match="ensemble_size"):
        EnsembleSelectionClassifier([GaussianNB()], ensemble_size=0).fit(X, y)


# ---------------------------------------------------------------------------------------
# The benchmark (benchmarks/ensembles.py), at a tiny size
# ---------------------------------------------------------------------------------------

def test_tiny_benchmark_writes_table_csv_and_plots(tmp_path, capsys):
    from benchmarks import ensembles as bench

    argv = ["--quick", "--datasets", "wine,diabetes", "--seeds", "1", "--workers", "1",
            "--out", str(tmp_path), "--check"]
    assert bench.main(argv) == 0
    data = pd.read_csv(tmp_path / "results.csv")
    assert list(data.columns) == bench.COLUMNS
    assert set(data["method"]) == set(bench.METHODS) and set(data["dataset"]) == {"wine", "diabetes"}
    assert len(data) == 2 * len(bench.METHODS)
    best = data[data["method"] == "single_best"].set_index("dataset")
    es = data[data["method"] == "es"].set_index("dataset")
    # on validation, ensemble selection is never worse than its first pick, the single best
    assert (es["val_loss"] <= best["val_loss"] + 1e-12).all()
    assert (data[data["method"] == "single_best"]["models_used"] == 1).all()
    classification = data[data["task"] == "classification"]
    assert classification["test_score"].between(0, 1).all()
    report = (tmp_path / "results.md").read_text()
    for label in bench.METHODS.values():
        assert label in report
    assert "## wine" in report and "## diabetes" in report and "relative test loss" in report
    for png in ("ensembles.png", "ensemble_size.png"):
        assert (tmp_path / png).stat().st_size > 1000
    assert not (tmp_path / "failures.csv").exists()
    assert "ensemble selection, with replacement" in capsys.readouterr().out


def test_benchmark_reports_a_crash_and_fails_check(tmp_path, monkeypatch):
    from benchmarks import ensembles as bench

    real_load = bench.load

    def broken(name):
        if name == "wine":
            raise RuntimeError("boom")
        return real_load(name)

    monkeypatch.setattr(bench, "load", broken)
    argv = ["--quick", "--datasets", "wine", "--seeds", "2", "--workers", "1", "--out", str(tmp_path)]
    assert bench.main(argv) == 0                  # reported, not fatal, without --check
    failures = pd.read_csv(tmp_path / "failures.csv")
    assert list(failures["dataset"]) == ["wine", "wine"] and "boom" in failures["message"][0]
    report = (tmp_path / "results.md").read_text()
    assert "No run finished" in report and "FAILED wine seed 1" in report
    assert bench.main(argv + ["--check"]) == 1
    with pytest.raises(SystemExit):
        bench.parse_args(["--datasets", "mnist"])
    assert bench.parse_args(["--quick"]).out == bench.QUICK_OUT
