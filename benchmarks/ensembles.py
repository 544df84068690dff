"""Benchmark ensembles built from a library of models: ensemble selection against the alternatives.

For every dataset and seed, the data are split into training (50 %), validation
(25 %) and test (25 %) parts, and a *library* of about 30 scikit-learn models of
different families and hyperparameters (a stand-in for the models an AutoML
search leaves behind) is fitted on the training part. Then every method builds
one predictor from that library, using the validation part only to choose, and is
scored on the test part:

* **single best**: the library's best model on validation;
* **ensemble selection** (:func:`course.automl.ensemble_selection.ensemble_selection`,
  Caruana et al. 2004) with replacement, 50 picks, best prefix (the paper's step 4);
* the same **without replacement**, for contrast;
* the same with replacement but **keeping all 50 picks** (auto-sklearn's variant);
* **bagged** ensemble selection (20 bags of half the library; section 2.3);
* **uniform average** of the whole library;
* **blending**: a stacking model (logistic regression on the probabilities; ridge
  regression with a built-in CV on the predictions) fitted on the library's
  validation predictions;
* **stacking** with scikit-learn's ``StackingClassifier`` / ``StackingRegressor``:
  the library refitted with 5-fold cross-validation on training *and* validation
  data (it needs no separate validation set, so it gets all of it), with the same
  final models as blending;
* the single best model and ensemble selection (with replacement) again, with their
  members **refitted on training + validation** once chosen (auto-sklearn's
  ``refit``): the same data footing as stacking, whose base models see both parts.

The hill climb of ensemble selection optimises the log loss (classification) or
mean squared error (regression) on validation; the single best model is chosen by
the same metric. The table reports the test value of that metric, the test
accuracy or R^2, the number of distinct models each ensemble uses, and how often
each method beats the single best model.

Usage (from the repository root)::

    python -m benchmarks.ensembles                 # 6 datasets x 10 seeds -> benchmarks/results/ensembles/
    python -m benchmarks.ensembles --quick         # CI size (< 60 s) -> benchmarks/results/quick/ensembles/
    python -m benchmarks.ensembles --quick --check # exit 1 if any run crashed
    python -m benchmarks.ensembles --datasets wine,diabetes --seeds 3 --workers 1

Outputs, in ``--out``: ``results.md`` (the tables), ``results.csv`` (one row per
dataset, seed and method), ``ensembles.png`` (test loss of each method relative to
the single best model, per dataset) and ``ensemble_size.png`` (validation and test
loss of the ensemble after each greedy pick, with and without replacement);
``failures.csv`` when some run or library model crashed.

References
----------
R. Caruana, A. Niculescu-Mizil, G. Crew and A. Ksikes, "Ensemble Selection from
Libraries of Models", ICML 2004.
M. Feurer et al., "Efficient and Robust Automated Machine Learning", NeurIPS 2015.
D. H. Wolpert, "Stacked generalization", Neural Networks 5(2), 1992.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.arguments import exit_status, names_among, positive_int
from benchmarks.parallel import limit_threads, run_tasks

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "benchmarks" / "results" / "ensembles"
QUICK_OUT = REPO / "benchmarks" / "results" / "quick" / "ensembles"

ENSEMBLE_SIZE = 50
N_BAGS = 20
FULL = {"seeds": 10, "datasets": ["breast_cancer", "wine", "digits", "synthetic", "diabetes", "friedman1"],
        "library": "full", "stacking_cv": 5}
QUICK = {"seeds": 2, "datasets": ["breast_cancer", "wine", "diabetes"], "library": "quick",
         "stacking_cv": 3}

METHODS = {
    "single_best": "single best model (on validation)",
    "es": "ensemble selection, with replacement",
    "es_no_replacement": "ensemble selection, without replacement",
    "es_all_picks": "ensemble selection, all 50 picks (auto-sklearn)",
    "es_bagged": "bagged ensemble selection (20 bags)",
    "uniform": "uniform average of the library",
    "blending": "blending (stacking model fitted on validation)",
    "stacking": "stacking (scikit-learn, CV on train + validation)",
    "single_best_refit": "single best model, refitted on train + validation",
    "es_refit": "ensemble selection, members refitted on train + validation",
}
COLUMNS = ["dataset", "task", "seed", "method", "val_loss", "test_loss", "test_score", "models_used",
           "library_size", "seconds"]


# ======================================================================================
# Data and libraries
# ======================================================================================

def load(name: str) -> tuple[np.ndarray, np.ndarray, str]:
    """A bundled or generated dataset: ``(X, y, task)``."""
    from sklearn import datasets

    if name == "breast_cancer":
        X, y = datasets.load_breast_cancer(return_X_y=True)
    elif name == "wine":
        X, y = datasets.load_wine(return_X_y=True)
    elif name == "digits":
        X, y = datasets.load_digits(return_X_y=True)
    elif name == "synthetic":   # three classes, some informative, some redundant, 5 % label noise
        X, y = datasets.make_classification(1500, n_features=20, n_informative=8, n_redundant=4,
                                            n_classes=3, flip_y=0.05, class_sep=0.8, random_state=0)
    elif name == "diabetes":
        X, y = datasets.load_diabetes(return_X_y=True)
        return X, y, "regression"
    elif name == "friedman1":   # y = 10 sin(pi x0 x1) + 20 (x2 - 0.5)^2 + 10 x3 + 5 x4 + noise
        X, y = datasets.make_friedman1(1000, n_features=10, noise=1.0, random_state=0)
        return X, y, "regression"
    else:
        raise ValueError(f"unknown dataset {name!r}; choose from {FULL['datasets']}")
    return X, y, "classification"


def classifier_library(size: str, seed: int) -> list[tuple[str, Any]]:
    """About 30 classifiers (12 with ``size="quick"``) of different families and settings."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis, QuadraticDiscriminantAnalysis
    from sklearn.ensemble import (ExtraTreesClassifier, HistGradientBoostingClassifier,
                                  RandomForestClassifier)
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    def scaled(model):
        return make_pipeline(StandardScaler(), model)

    library = [(f"logreg_C{c:g}", scaled(LogisticRegression(C=c, max_iter=2000)))
               for c in (0.01, 0.1, 1.0, 10.0)]
    library += [(f"knn_{k}", scaled(KNeighborsClassifier(k))) for k in (1, 5, 15, 50)]
    library += [(f"tree_depth{d}", DecisionTreeClassifier(max_depth=d, random_state=seed))
                for d in (2, 5, None)]
    library += [("naive_bayes", GaussianNB())]
    if size == "quick":
        return library
    library += [(f"svc_C{c:g}", scaled(SVC(C=c, probability=True, random_state=seed)))
                for c in (0.1, 1.0, 10.0)]
    library += [(f"forest_{f}_leaf{leaf}", RandomForestClassifier(
        100, max_features=f, min_samples_leaf=leaf, random_state=seed, n_jobs=1))
        for f, leaf in (("sqrt", 1), ("sqrt", 5), (0.5, 1))]
    library += [(f"extra_trees_leaf{leaf}", ExtraTreesClassifier(
        100, min_samples_leaf=leaf, random_state=seed, n_jobs=1)) for leaf in (1, 5)]
    library += [(f"boosting_lr{lr:g}", HistGradientBoostingClassifier(
        learning_rate=lr, max_iter=60, max_leaf_nodes=15, early_stopping=False, random_state=seed))
        for lr in (0.05, 0.3)]
    library += [("lda", LinearDiscriminantAnalysis()),
                ("qda_reg0.5", QuadraticDiscriminantAnalysis(reg_param=0.5))]
    library += [(f"mlp_alpha{a:g}", scaled(MLPClassifier(hidden_layer_sizes=(64,), alpha=a, max_iter=300, random_state=seed)))
                for a in (1e-4, 1.0)]
    library += [(f"knn_{k}_distance", scaled(KNeighborsClassifier(k, weights="distance"))) for k in (5, 15)]
    return library


def regressor_library(size: str, seed: int) -> list[tuple[str, Any]]:
    """About 25 regressors (11 with ``size="quick"``); targets are standardised where it matters."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.ensemble import (ExtraTreesRegressor, HistGradientBoostingRegressor,
                                  RandomForestRegressor)
    from sklearn.linear_model import Lasso, Ridge
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVR
    from sklearn.tree import DecisionTreeRegressor

    def scaled(model):   # standardised features and target
        return TransformedTargetRegressor(make_pipeline(StandardScaler(), model),
                                          transformer=StandardScaler())

    library = [(f"ridge_alpha{a:g}", scaled(Ridge(alpha=a))) for a in (0.01, 10.0, 1000.0)]
    library += [(f"knn_{k}", scaled(KNeighborsRegressor(k))) for k in (1, 5, 15, 50)]
    library += [(f"tree_depth{d}", DecisionTreeRegressor(max_depth=d, random_state=seed))
                for d in (2, 5, None)]
    library += [("lasso_alpha0.1", scaled(Lasso(alpha=0.1)))]
    if size == "quick":
        return library
    library += [(f"svr_C{c:g}", scaled(SVR(C=c))) for c in (0.1, 1.0, 10.0)]
    library += [(f"forest_{f}_leaf{leaf}", RandomForestRegressor(
        100, max_features=f, min_samples_leaf=leaf, random_state=seed, n_jobs=1))
        for f, leaf in ((1.0, 1), (1.0, 5), (0.33, 1))]
    library += [(f"extra_trees_leaf{leaf}", ExtraTreesRegressor(
        100, min_samples_leaf=leaf, random_state=seed, n_jobs=1)) for leaf in (1, 5)]
    library += [(f"boosting_lr{lr:g}", HistGradientBoostingRegressor(
        learning_rate=lr, max_iter=60, max_leaf_nodes=15, early_stopping=False, random_state=seed))
        for lr in (0.05, 0.3)]
    library += [(f"mlp_alpha{a:g}", scaled(MLPRegressor(hidden_layer_sizes=(64,), alpha=a, max_iter=500, random_state=seed)))
                for a in (1e-4, 1.0)]
    library += [("lasso_alpha0.01", scaled(Lasso(alpha=0.01)))]
    return library


def split(X: np.ndarray, y: np.ndarray, task: str, seed: int) -> tuple[np.ndarray, ...]:
    """Training 50 %, validation 25 %, test 25 % (stratified for classification)."""
    from sklearn.model_selection import train_test_split

    stratify = y if task == "classification" else None
    X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=0.25, random_state=seed,
                                                      stratify=stratify)
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=1 / 3, random_state=seed,
        stratify=y_rest if task == "classification" else None)
    return X_train, X_val, X_test, y_train, y_val, y_test


# ======================================================================================
# The methods
# ======================================================================================

def losses(task: str, y: np.ndarray, predictions: np.ndarray) -> tuple[float, float]:
    """(loss, score): log loss and accuracy, or mean squared error and R^2."""
    from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, r2_score

    if task == "classification":
        return (float(log_loss(y, predictions, labels=np.arange(predictions.shape[1]))),
                float(accuracy_score(y, predictions.argmax(axis=1))))
    return float(mean_squared_error(y, predictions)), float(r2_score(y, predictions))


def blending_model(task: str, seed: int) -> Any:
    """The stacking model: logistic regression on probabilities, or ridge with a built-in CV."""
    from sklearn.linear_model import LogisticRegression, RidgeCV

    if task == "classification":
        return LogisticRegression(C=1.0, max_iter=2000)
    return RidgeCV(alphas=np.logspace(-3, 3, 13))


def fit_library(library: list[tuple[str, Any]], X_train, y_train, X_val, X_test, task: str
                ) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
    """Fit every model; its validation and test predictions. A model that crashes is left out."""
    names, val, test, failures = [], [], [], []
    for name, model in library:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")   # convergence warnings of the weaker settings
                model.fit(X_train, y_train)
                predict = model.predict_proba if task == "classification" else model.predict
                val.append(predict(X_val))
                test.append(predict(X_test))
            names.append(name)
        except Exception as err:
            failures.append(f"library model {name}: {type(err).__name__}: {err}")
    return names, np.array(val), np.array(test), failures


def ensemble_methods(task: str, val: np.ndarray, test: np.ndarray, y_val: np.ndarray,
                     y_test: np.ndarray, seed: int) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Every method built from the validation predictions alone.

    Returns, per method, its validation and test predictions, the number of distinct
    models it uses and the seconds it took; and, for the size plot, the greedy paths
    with and without replacement: validation and test loss after each pick, and the
    size kept.
    """
    from course.automl.ensemble_selection import (bagged_ensemble_selection, ensemble_predict,
                                                  ensemble_selection)

    metric = "log_loss" if task == "classification" else "mse"
    selections = {
        "single_best": lambda: ensemble_selection(val, y_val, 1, metric=metric),
        "es": lambda: ensemble_selection(val, y_val, ENSEMBLE_SIZE, metric=metric),
        "es_no_replacement": lambda: ensemble_selection(val, y_val, ENSEMBLE_SIZE, metric=metric,
                                                        replacement=False),
        "es_all_picks": lambda: ensemble_selection(val, y_val, ENSEMBLE_SIZE, metric=metric,
                                                   best_prefix=False),
        "es_bagged": lambda: bagged_ensemble_selection(val, y_val, ENSEMBLE_SIZE, metric=metric,
                                                       n_bags=N_BAGS, seed=seed),
    }
    out: dict[str, dict[str, Any]] = {}
    results = {}
    for name, select in selections.items():
        start = time.perf_counter()
        results[name] = select()
        weights = results[name].weights
        out[name] = {"val": ensemble_predict(val, weights), "test": ensemble_predict(test, weights),
                     "used": int(np.count_nonzero(weights)), "seconds": time.perf_counter() - start,
                     "weights": weights}
    uniform = np.ones(len(val))
    out["uniform"] = {"val": ensemble_predict(val, uniform), "test": ensemble_predict(test, uniform),
                      "used": len(val), "seconds": 0.0}

    # blending: the stacking model learns from the validation predictions only
    start = time.perf_counter()
    model = blending_model(task, seed)
    features_val = np.concatenate(list(val), axis=1) if task == "classification" else val.T
    features_test = np.concatenate(list(test), axis=1) if task == "classification" else test.T
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(features_val, y_val)
    predict = model.predict_proba if task == "classification" else model.predict
    out["blending"] = {"val": predict(features_val), "test": predict(features_test), "used": len(val),
                       "seconds": time.perf_counter() - start}

    paths = {}
    for name in ("es", "es_no_replacement"):
        result = results[name]
        counts = np.arange(1, len(result.indices) + 1).reshape((-1,) + (1,) * (val.ndim - 1))
        test_path = np.cumsum(test[result.indices], axis=0) / counts
        paths[name] = {"val": result.trajectory.tolist(), "size": result.size,
                       "test": [losses(task, y_test, p)[0] for p in test_path]}
    return out, paths


def refitted_ensemble(library: list[tuple[str, Any]], weights: np.ndarray, task: str, X_fit, y_fit,
                      X_test) -> np.ndarray:
    """The ensemble's weights, with its members refitted on training + validation data.

    Auto-sklearn offers this as ``refit``: the validation data chose the ensemble,
    and then also train its members. It puts ensemble selection on the same data
    footing as stacking, whose base models see training + validation data.
    """
    from sklearn.base import clone

    predictions = np.zeros(1)
    for member in np.flatnonzero(weights):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = clone(library[member][1]).fit(X_fit, y_fit)
            predicted = model.predict_proba(X_test) if task == "classification" else model.predict(X_test)
        predictions = predictions + weights[member] * predicted
    return predictions / weights.sum()


def sklearn_stacking(library: list[tuple[str, Any]], task: str, X_fit, y_fit, X_test, cv: int,
                     seed: int) -> np.ndarray:
    """scikit-learn's stacking of the same library, fitted on training + validation data."""
    from sklearn.base import clone
    from sklearn.ensemble import StackingClassifier, StackingRegressor
    from sklearn.model_selection import KFold, StratifiedKFold

    estimators = [(name, clone(model)) for name, model in library]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if task == "classification":
            stack = StackingClassifier(estimators, final_estimator=blending_model(task, seed),
                                       cv=StratifiedKFold(cv, shuffle=True, random_state=seed),
                                       stack_method="predict_proba", n_jobs=1)
            return stack.fit(X_fit, y_fit).predict_proba(X_test)
        stack = StackingRegressor(estimators, final_estimator=blending_model(task, seed),
                                  cv=KFold(cv, shuffle=True, random_state=seed), n_jobs=1)
        return stack.fit(X_fit, y_fit).predict(X_test)


# ======================================================================================
# One dataset and seed
# ======================================================================================

def run_one(task: tuple[str, int, dict[str, Any]]) -> dict[str, Any]:
    """Every method on one dataset and seed; never raises (a crash is reported in ``error``)."""
    dataset, seed, sizes = task
    result: dict[str, Any] = {"dataset": dataset, "seed": seed, "rows": [], "paths": {},
                              "failures": [], "error": None, "seconds": 0.0}
    start = time.perf_counter()
    try:
        X, y, kind = load(dataset)
        X_train, X_val, X_test, y_train, y_val, y_test = split(X, y, kind, seed)
        make = classifier_library if kind == "classification" else regressor_library
        library = make(sizes["library"], seed)
        names, val, test, failures = fit_library(library, X_train, y_train, X_val, X_test, kind)
        result["failures"] = failures
        library_seconds = time.perf_counter() - start
        methods, result["paths"] = ensemble_methods(kind, val, test, y_val, y_test, seed)
        mid = time.perf_counter()
        fitted = [(name, model) for name, model in library if name in names]
        stacked = sklearn_stacking(fitted, kind, np.concatenate([X_train, X_val]),
                                   np.concatenate([y_train, y_val]), X_test, sizes["stacking_cv"], seed)
        # stacking has no validation predictions: it never saw a separate validation set
        methods["stacking"] = {"val": None, "test": stacked, "used": len(names),
                               "seconds": time.perf_counter() - mid}
        for method in ("single_best", "es"):
            mid = time.perf_counter()
            weights = methods[method]["weights"]
            methods[f"{method}_refit"] = {
                "val": None, "used": int(np.count_nonzero(weights)),
                "test": refitted_ensemble(fitted, weights, kind, np.concatenate([X_train, X_val]),
                                          np.concatenate([y_train, y_val]), X_test),
                "seconds": time.perf_counter() - mid}
        for method, built in methods.items():
            test_loss, test_score = losses(kind, y_test, built["test"])
            result["rows"].append({
                "dataset": dataset, "task": kind, "seed": seed, "method": method,
                "val_loss": np.nan if built["val"] is None else losses(kind, y_val, built["val"])[0],
                "test_loss": test_loss, "test_score": test_score, "models_used": built["used"],
                "library_size": len(names), "seconds": built["seconds"]})
        result["library_seconds"] = library_seconds
    except Exception as err:  # a benchmark reports a crash, it does not stop
        result["error"] = (f"{type(err).__name__}: {err}", "".join(traceback.format_exception(err))[-2000:])
    result["seconds"] = time.perf_counter() - start
    return result


# ======================================================================================
# Summaries and figures
# ======================================================================================

def _iqr(values: pd.Series, digits: int = 4) -> str:
    q25, q50, q75 = np.percentile(values, [25, 50, 75])
    return f"{q50:.{digits}f} [{q25:.{digits}f}, {q75:.{digits}f}]"


def relative_losses(data: pd.DataFrame) -> pd.DataFrame:
    """Each row's test loss divided by the single best model's on the same dataset and seed."""
    best = data[data["method"] == "single_best"].set_index(["dataset", "seed"])["test_loss"]
    key = pd.MultiIndex.from_frame(data[["dataset", "seed"]])
    return data.assign(relative=data["test_loss"].to_numpy() / best.reindex(key).to_numpy())


def markdown(data: pd.DataFrame, sizes: dict[str, Any], notes: Sequence[str]) -> str:
    lines = ["# Ensembles from a library of models", "",
             f"Each dataset is split 50 / 25 / 25 % into training, validation and test parts with "
             f"{sizes['seeds']} seeds. A library of {sizes['library']!r} scikit-learn models is fitted "
             f"on training; every method chooses with validation and is scored on test. Ensemble "
             f"selection: {ENSEMBLE_SIZE} picks, hill climbing on validation log loss "
             f"(classification) or mean squared error (regression); the single best model is "
             f"chosen by the same metric. Stacking refits the library with {sizes['stacking_cv']}-fold "
             f"CV on training + validation. Figures: median [interquartile range] over seeds; "
             f"'beats best' counts the seeds whose test loss is lower than the single best model's.",
             ""]
    data = relative_losses(data)
    for dataset, frame in data.groupby("dataset", sort=False):
        kind = frame["task"].iloc[0]
        loss, score = ("log loss", "accuracy") if kind == "classification" else ("MSE", "R^2")
        n_seeds = frame["seed"].nunique()
        library = int(frame["library_size"].median())
        lines += [f"## {dataset} ({kind}, library of {library} models, {n_seeds} seeds)", "",
                  f"| method | test {loss} [IQR] | test {score} [IQR] | validation {loss} | "
                  f"models used | beats best | s |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for method, label in METHODS.items():
            rows = frame[frame["method"] == method]
            if not len(rows):
                continue
            beats = "" if method == "single_best" else f"{int((rows['relative'] < 1).sum())}/{len(rows)}"
            val = "n/a" if rows["val_loss"].isna().all() else f"{rows['val_loss'].median():.4f}"
            lines.append(f"| {label} | {_iqr(rows['test_loss'], 4 if kind == 'classification' else 1)} | "
                         f"{_iqr(rows['test_score'])} | {val} | {rows['models_used'].median():.0f} | "
                         f"{beats} | {rows['seconds'].median():.2f} |")
        lines.append("")
    lines += ["## All datasets: test loss relative to the single best model", "",
              "Median over every dataset and seed of (method's test loss) / (single best model's); "
              "below 1 is better. Mean rank: the method's rank by test loss among all methods on the "
              "same dataset and seed (1 = best), averaged.", "",
              "| method | relative test loss [IQR] | beats best | mean rank |", "|---|---:|---:|---:|"]
    ranks = data.groupby(["dataset", "seed"])["test_loss"].rank(method="average")
    data = data.assign(rank=ranks)
    for method, label in METHODS.items():
        rows = data[data["method"] == method]
        if not len(rows):
            continue
        beats = "" if method == "single_best" else f"{int((rows['relative'] < 1).sum())}/{len(rows)}"
        lines.append(f"| {label} | {_iqr(rows['relative'], 3)} | {beats} | {rows['rank'].mean():.2f} |")
    lines.append("")
    if notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in notes] + [""]
    return "\n".join(lines)


_RATIO_TICKS = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.2, 1.3, 1.5, 2.0, 3.0,
                5.0, 10.0, 20.0]


def _ratio_ticks(low: float, high: float, n: int = 6) -> list[float]:
    """Round ratios between ``low`` and ``high``, about evenly spaced on a log axis, with 1."""
    gap = np.log(high / low) / n
    ticks = [1.0] if low <= 1.0 <= high else []
    for direction in (1, -1):
        last = 1.0
        for t in sorted(_RATIO_TICKS, reverse=direction < 0):
            if low <= t <= high and direction * np.log(t / last) >= gap:
                ticks.append(t)
                last = t
    return sorted(ticks)


def plot_methods(data: pd.DataFrame, png: Path) -> None:
    """Per dataset: each seed's test loss relative to the single best model, per method."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullLocator

    data = relative_losses(data)
    datasets = list(dict.fromkeys(data["dataset"]))
    methods = [m for m in METHODS if m in set(data["method"])]
    columns = min(3, len(datasets))
    rows = -(-len(datasets) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 0.45 * len(methods) * rows + 1.6),
                             squeeze=False, sharey=True)
    colours = {m: plt.get_cmap("tab10")(i) for i, m in enumerate(methods)}
    for ax, dataset in zip(axes.flat, datasets):
        frame = data[data["dataset"] == dataset]
        for k, method in enumerate(methods):
            values = frame[frame["method"] == method]["relative"].to_numpy()
            jitter = np.linspace(-0.15, 0.15, len(values)) if len(values) > 1 else np.zeros(1)
            ax.scatter(values, k + jitter, s=12, alpha=0.6, color=colours[method])
            ax.plot([np.median(values)] * 2, [k - 0.3, k + 0.3], color="black", lw=2)
        ax.axvline(1.0, color="0.5", ls="--", lw=1)
        kind = frame["task"].iloc[0]
        ax.set_title(f"{dataset} ({'log loss' if kind == 'classification' else 'MSE'})")
        ax.set_xlabel("test loss / single best model's (log scale)")
        ax.set_xscale("log")
        # a few plain-number ticks: the default log ticks of a narrow range overlap
        ticks = _ratio_ticks(*ax.get_xlim())
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.grid(True, axis="x", alpha=0.3)
    for ax in axes.flat[len(datasets):]:
        ax.axis("off")
    axes[0, 0].set_yticks(range(len(methods)), [METHODS[m] for m in methods])
    axes[0, 0].invert_yaxis()
    for ax in axes[:, 0]:
        ax.tick_params(axis="y", labelsize=8)
    fig.suptitle("Ensemble selection vs the single best model vs stacking: test loss relative to the "
                 "best single model (dots: seeds; bar: median; left of the dashed line is better)")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def plot_sizes(paths: dict[str, list[dict[str, Any]]], kinds: dict[str, str], png: Path) -> None:
    """Validation and test loss after each pick, with and without replacement (median over seeds)."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    datasets = list(paths)
    columns = min(3, len(datasets))
    rows = -(-len(datasets) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 3.6 * rows), squeeze=False)
    for ax, dataset in zip(axes.flat, datasets):
        for name, colour, label in (("es", "tab:blue", "with replacement"),
                                    ("es_no_replacement", "tab:orange", "without replacement")):
            runs = [p[name] for p in paths[dataset] if name in p]
            if not runs:
                continue
            length = min(len(r["val"]) for r in runs)
            for part, style in (("val", "--"), ("test", "-")):
                # relative to the first pick (the single best model) of the same seed
                curves = np.array([np.array(r[part][:length]) / r[part][0] for r in runs])
                ax.plot(np.arange(1, length + 1), np.median(curves, axis=0), style, color=colour,
                        label=f"{label}, {'validation' if part == 'val' else 'test'}")
        ax.axhline(1.0, color="0.5", lw=0.8)
        loss = "log loss" if kinds[dataset] == "classification" else "MSE"
        ax.set(title=dataset, xlabel="greedy picks (ensemble size)",
               ylabel=f"{loss} / single best model's")
        ax.grid(True, alpha=0.3)
    for ax in axes.flat[len(datasets):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Ensemble selection: loss after each greedy pick, median over seeds "
                 "(without replacement the climb must take worse models once the good ones are used)")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


# ======================================================================================
# Command line
# ======================================================================================

def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ensembles",
                                     description="Benchmark ensemble selection against the single "
                                                 "best model, averaging and stacking.")
    parser.add_argument("--quick", action="store_true",
                        help="CI size (< 60 s); output in benchmarks/results/quick/ensembles/")
    parser.add_argument("--seeds", type=positive_int, help="number of seeds (default 10; quick 2)")
    parser.add_argument("--datasets", type=names_among("dataset", FULL["datasets"]),
                        help="comma-separated subset of: " + ", ".join(FULL["datasets"]))
    parser.add_argument("--workers", type=positive_int, default=min(2, os.cpu_count() or 1),
                        help="parallel processes (default: 2, or 1 on one core)")
    parser.add_argument("--out", type=Path, help="output folder (default benchmarks/results/ensembles/)")
    parser.add_argument("--check", action="store_true", help="exit 1 if any run crashed")
    args = parser.parse_args(argv)
    sizes = dict(QUICK if args.quick else FULL)
    if args.seeds:
        sizes["seeds"] = args.seeds
    if args.datasets:
        sizes["datasets"] = args.datasets
    args.sizes = sizes
    args.out = args.out or (QUICK_OUT if args.quick else DEFAULT_OUT)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    limit_threads()
    start = time.perf_counter()
    sizes = args.sizes
    # the slow datasets first, so that the workers finish together
    order = {"digits": 0, "synthetic": 1, "friedman1": 2}
    tasks = sorted(((d, s, sizes) for d in sizes["datasets"] for s in range(sizes["seeds"])),
                   key=lambda t: (order.get(t[0], 9), t[1]))
    print(f"{len(tasks)} runs: {len(sizes['datasets'])} datasets x {sizes['seeds']} seeds, "
          f"{args.workers} worker(s)")
    results = run_tasks(run_one, tasks, args.workers,
                        describe=lambda r: f"{r['dataset']:>14} seed {r['seed']:<3}")
    results.sort(key=lambda r: (sizes["datasets"].index(r["dataset"]), r["seed"]))
    rows = [row for r in results for row in r["rows"]]
    data = pd.DataFrame.from_records(rows, columns=COLUMNS)
    args.out.mkdir(parents=True, exist_ok=True)
    data.to_csv(args.out / "results.csv", index=False)
    failures = [{"dataset": r["dataset"], "seed": r["seed"], "message": r["error"][0],
                 "traceback": r["error"][1]} for r in results if r["error"]]
    failures += [{"dataset": r["dataset"], "seed": r["seed"], "message": f, "traceback": ""}
                 for r in results for f in r["failures"]]
    failure_file = args.out / "failures.csv"
    if failures:
        pd.DataFrame.from_records(failures).to_csv(failure_file, index=False)
    elif failure_file.exists():
        failure_file.unlink()
    notes = [f"FAILED {f['dataset']} seed {f['seed']}: {f['message'][:300]}" for f in failures]
    library_seconds = [r["library_seconds"] for r in results if "library_seconds" in r]
    if library_seconds:
        notes.append(f"fitting a library took {np.median(library_seconds):.1f} s (median over runs); "
                     "the 's' column is the time to build the ensemble from the fitted library's "
                     "predictions (for stacking and the refitted rows: the refitting); the "
                     "validation loss is the one each method was selected or fitted on, hence optimistic")
    wall = time.perf_counter() - start
    notes.append(f"wall time {wall:.0f} s with {args.workers} worker(s); command: python -m "
                 f"benchmarks.ensembles {' '.join(argv if argv is not None else sys.argv[1:])}")
    table = markdown(data, sizes, notes) if len(data) else "# Ensembles\n\nNo run finished.\n" + \
        "\n".join(f"- {n}" for n in notes)
    (args.out / "results.md").write_text(table + "\n")
    if len(data):
        plot_methods(data, args.out / "ensembles.png")
        paths = {d: [r["paths"] for r in results if r["dataset"] == d and r["paths"]]
                 for d in sizes["datasets"]}
        kinds = dict(zip(data["dataset"], data["task"]))
        plot_sizes({d: p for d, p in paths.items() if p}, kinds, args.out / "ensemble_size.png")
    print()
    print(table)
    print(f"results in {args.out}")
    for failure in failures:
        print(f"{failure['dataset']} seed {failure['seed']}: {failure['message']}\n{failure['traceback']}",
              file=sys.stderr)
    return exit_status(args.check, len(failures), "failure(s)")


if __name__ == "__main__":
    sys.exit(main())
