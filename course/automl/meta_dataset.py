"""A meta-dataset for meta-learning: many datasets, one fixed portfolio, every score.

For each dataset of a fixed family, the meta-dataset holds

* its meta-features (:func:`course.automl.metafeatures.metafeatures`), and
* the cross-validated balanced accuracy of each of the 28 configurations of
  :data:`PORTFOLIO` (CASH configurations of :func:`course.automl.cash.cash_space`,
  turned into pipelines by :func:`course.automl.cash.build_pipeline`).

This is the knowledge base of auto-sklearn's meta-learning (Feurer et al. 2015,
section 3.1), in miniature: auto-sklearn stored, for 140 OpenML datasets, the
meta-features and the best configurations found by Bayesian optimisation; here
the datasets are the bundled scikit-learn ones plus a seeded family of synthetic
ones, and every dataset is scored on the same portfolio, so that a meta-learner
can be evaluated leave-one-dataset-out by looking scores up
(:mod:`course.automl.metalearning`).

The datasets (:func:`dataset_names`, :func:`load_dataset`): iris, wine,
breast_cancer and digits, then 44 synthetic ones drawn from :data:`DATA_SEED`:
32 from ``make_classification`` (varied size, number of features, informative and
redundant features, classes, clusters, class separation, label noise and class
weights), 4 each from ``make_moons``, ``make_circles`` and
``make_gaussian_quantiles`` (with added noise features). Many synthetic datasets
get features on very different scales or exponentially skewed features, so that
the preprocessing choices of the portfolio matter.

The portfolio (:data:`PORTFOLIO`): 4 configurations per model family of
:data:`course.automl.cash.MODELS`, drawn once (November 2026) as the first four draws of
``RandomSampler(seed=2015 + i)`` on ``cash_space([family], imputation=False)``
for the ``i``-th family, rounded to 4 significant digits. They are kept here as
literal dicts, so that a change of the search space does not silently change the
data (``tests/test_meta_dataset.py`` checks that each is still a valid
configuration of the space).

Regenerate the committed file (seeds: :data:`DATA_SEED` = 2015 for the synthetic
datasets, :data:`CV_SEED` = 0 for the folds, :data:`MODEL_SEED` = 0 for every
pipeline and 0 for the landmarkers' subsample and folds)::

    python -m course.automl.meta_dataset --out course/automl/data/meta_dataset.csv --jobs 2

It costs about 3 CPU-minutes (1344 cross-validations), so about 2 minutes with
``--jobs 2`` on an idle machine. The file is the same byte for byte on every run
(nothing time-based in it, floats rounded to 6 decimals, every computation
single-threaded). Load it with :func:`load_meta_dataset`.

References
----------
M. Feurer, A. Klein, K. Eggensperger, J. Springenberg, M. Blum and F. Hutter,
"Efficient and Robust Automated Machine Learning", NeurIPS 2015 (section 3.1).

P. Brazdil, C. Giraud-Carrier, C. Soares and R. Vilalta, *Metalearning:
Applications to Data Mining*, Springer 2009 (chapter 2: the meta-dataset of
meta-features and performance).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .metafeatures import metafeature_groups, metafeatures

__all__ = [
    "DATA_SEED", "CV_SEED", "MODEL_SEED", "CV_FOLDS", "SCORING", "PORTFOLIO", "DEFAULT_PATH",
    "MetaDataset", "dataset_names", "dataset_description", "load_dataset", "evaluate_portfolio",
    "dataset_row", "generate", "load_meta_dataset",
]

DATA_SEED = 2015
"""Seed of the synthetic datasets: the ``i``-th one uses ``DATA_SEED + i``."""
CV_SEED = 0
"""Seed of the stratified folds that score the portfolio."""
MODEL_SEED = 0
"""``random_state`` of every pipeline (and of the landmarkers)."""
CV_FOLDS = 5
"""Folds of the stratified cross-validation that scores the portfolio."""
SCORING = "balanced_accuracy"
"""The score of a configuration on a dataset: mean balanced accuracy over the folds."""
DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "meta_dataset.csv"
"""Where the committed meta-dataset lives."""

BUNDLED = ("iris", "wine", "breast_cancer", "digits")
N_SYNTHETIC = {"classification": 32, "moons": 4, "circles": 4, "quantiles": 4}

#: The fixed portfolio: 4 configurations per model family, drawn once (see the module
#: docstring) and kept literally.
PORTFOLIO: dict[str, dict[str, Any]] = {
    "logistic_regression_1": {"scaler": "minmax", "features": "none",
        "model": "logistic_regression", "logistic_regression:C": 0.05491,
        "logistic_regression:class_weight": "balanced"},
    "logistic_regression_2": {"scaler": "robust", "features": "polynomial",
        "polynomial:n_inputs": 6, "polynomial:interaction_only": True,
        "model": "logistic_regression", "logistic_regression:C": 0.3812,
        "logistic_regression:class_weight": "balanced"},
    "logistic_regression_3": {"scaler": "minmax", "features": "pca", "pca:variance": 0.5768,
        "pca:whiten": False, "model": "logistic_regression", "logistic_regression:C": 5.043,
        "logistic_regression:class_weight": "balanced"},
    "logistic_regression_4": {"scaler": "minmax", "features": "polynomial",
        "polynomial:n_inputs": 4, "polynomial:interaction_only": False,
        "model": "logistic_regression", "logistic_regression:C": 0.1762,
        "logistic_regression:class_weight": "balanced"},
    "knn_1": {"scaler": "robust", "features": "select_k_best",
        "select_k_best:fraction": 0.3301, "model": "knn", "knn:n_neighbors": 3,
        "knn:weights": "uniform", "knn:p": 1},
    "knn_2": {"scaler": "none", "features": "pca", "pca:variance": 0.9556, "pca:whiten": False,
        "model": "knn", "knn:n_neighbors": 1, "knn:weights": "uniform", "knn:p": 1},
    "knn_3": {"scaler": "standard", "features": "none", "model": "knn", "knn:n_neighbors": 4,
        "knn:weights": "distance", "knn:p": 2},
    "knn_4": {"scaler": "none", "features": "select_k_best", "select_k_best:fraction": 0.978,
        "model": "knn", "knn:n_neighbors": 4, "knn:weights": "uniform", "knn:p": 1},
    "svm_1": {"scaler": "robust", "features": "pca", "pca:variance": 0.7265,
        "pca:whiten": False, "model": "svm", "svm:C": 0.1255, "svm:kernel": "linear",
        "svm:class_weight": "balanced"},
    "svm_2": {"scaler": "minmax", "features": "polynomial", "polynomial:n_inputs": 4,
        "polynomial:interaction_only": False, "model": "svm", "svm:C": 4.088,
        "svm:kernel": "linear", "svm:class_weight": "none"},
    "svm_3": {"scaler": "minmax", "features": "polynomial", "polynomial:n_inputs": 7,
        "polynomial:interaction_only": False, "model": "svm", "svm:C": 492.4,
        "svm:kernel": "rbf", "svm:gamma": 0.03168, "svm:class_weight": "balanced"},
    "svm_4": {"scaler": "minmax", "features": "pca", "pca:variance": 0.7512,
        "pca:whiten": True, "model": "svm", "svm:C": 0.338, "svm:kernel": "linear",
        "svm:class_weight": "none"},
    "decision_tree_1": {"scaler": "standard", "features": "none", "model": "decision_tree",
        "decision_tree:criterion": "gini", "decision_tree:max_depth": 16,
        "decision_tree:min_samples_leaf": 14},
    "decision_tree_2": {"scaler": "robust", "features": "select_k_best",
        "select_k_best:fraction": 0.7056, "model": "decision_tree",
        "decision_tree:criterion": "gini", "decision_tree:max_depth": 10,
        "decision_tree:min_samples_leaf": 40},
    "decision_tree_3": {"scaler": "robust", "features": "select_k_best",
        "select_k_best:fraction": 0.4812, "model": "decision_tree",
        "decision_tree:criterion": "gini", "decision_tree:max_depth": 13,
        "decision_tree:min_samples_leaf": 3},
    "decision_tree_4": {"scaler": "minmax", "features": "none", "model": "decision_tree",
        "decision_tree:criterion": "entropy", "decision_tree:max_depth": 7,
        "decision_tree:min_samples_leaf": 3},
    "random_forest_1": {"scaler": "none", "features": "select_k_best",
        "select_k_best:fraction": 0.4063, "model": "random_forest",
        "random_forest:criterion": "entropy", "random_forest:n_estimators": 23,
        "random_forest:max_features": 0.3797, "random_forest:min_samples_leaf": 9},
    "random_forest_2": {"scaler": "standard", "features": "pca", "pca:variance": 0.9651,
        "pca:whiten": True, "model": "random_forest", "random_forest:criterion": "entropy",
        "random_forest:n_estimators": 27, "random_forest:max_features": 0.09148,
        "random_forest:min_samples_leaf": 10},
    "random_forest_3": {"scaler": "none", "features": "polynomial", "polynomial:n_inputs": 3,
        "polynomial:interaction_only": True, "model": "random_forest",
        "random_forest:criterion": "entropy", "random_forest:n_estimators": 26,
        "random_forest:max_features": 0.057, "random_forest:min_samples_leaf": 1},
    "random_forest_4": {"scaler": "standard", "features": "select_k_best",
        "select_k_best:fraction": 0.6568, "model": "random_forest",
        "random_forest:criterion": "entropy", "random_forest:n_estimators": 21,
        "random_forest:max_features": 0.05289, "random_forest:min_samples_leaf": 5},
    "gradient_boosting_1": {"scaler": "standard", "features": "pca", "pca:variance": 0.859,
        "pca:whiten": False, "model": "gradient_boosting",
        "gradient_boosting:learning_rate": 0.3376, "gradient_boosting:max_iter": 16,
        "gradient_boosting:max_leaf_nodes": 13, "gradient_boosting:min_samples_leaf": 12,
        "gradient_boosting:l2_regularization": 0.002124},
    "gradient_boosting_2": {"scaler": "robust", "features": "polynomial",
        "polynomial:n_inputs": 3, "polynomial:interaction_only": True,
        "model": "gradient_boosting", "gradient_boosting:learning_rate": 0.1061,
        "gradient_boosting:max_iter": 25, "gradient_boosting:max_leaf_nodes": 8,
        "gradient_boosting:min_samples_leaf": 13,
        "gradient_boosting:l2_regularization": 1.256e-07},
    "gradient_boosting_3": {"scaler": "standard", "features": "polynomial",
        "polynomial:n_inputs": 8, "polynomial:interaction_only": False,
        "model": "gradient_boosting", "gradient_boosting:learning_rate": 0.02621,
        "gradient_boosting:max_iter": 16, "gradient_boosting:max_leaf_nodes": 8,
        "gradient_boosting:min_samples_leaf": 1, "gradient_boosting:l2_regularization": 0.3381},
    "gradient_boosting_4": {"scaler": "none", "features": "none", "model": "gradient_boosting",
        "gradient_boosting:learning_rate": 0.9512, "gradient_boosting:max_iter": 10,
        "gradient_boosting:max_leaf_nodes": 14, "gradient_boosting:min_samples_leaf": 1,
        "gradient_boosting:l2_regularization": 2.698e-06},
    "mlp_1": {"scaler": "robust", "features": "polynomial", "polynomial:n_inputs": 2,
        "polynomial:interaction_only": False, "model": "mlp", "mlp:units": 24, "mlp:layers": 2,
        "mlp:activation": "tanh", "mlp:alpha": 0.03477, "mlp:learning_rate_init": 0.0001798},
    "mlp_2": {"scaler": "standard", "features": "polynomial", "polynomial:n_inputs": 6,
        "polynomial:interaction_only": True, "model": "mlp", "mlp:units": 16, "mlp:layers": 1,
        "mlp:activation": "relu", "mlp:alpha": 0.0001864, "mlp:learning_rate_init": 0.002704},
    "mlp_3": {"scaler": "minmax", "features": "polynomial", "polynomial:n_inputs": 5,
        "polynomial:interaction_only": False, "model": "mlp", "mlp:units": 25, "mlp:layers": 2,
        "mlp:activation": "tanh", "mlp:alpha": 0.01341, "mlp:learning_rate_init": 0.04558},
    "mlp_4": {"scaler": "robust", "features": "pca", "pca:variance": 0.5123,
        "pca:whiten": True, "model": "mlp", "mlp:units": 26, "mlp:layers": 1,
        "mlp:activation": "relu", "mlp:alpha": 0.000136, "mlp:learning_rate_init": 0.02384},
}


# ---------------------------------------------------------------------------------------
# The datasets
# ---------------------------------------------------------------------------------------
def _synthetic_specs() -> dict[str, dict[str, Any]]:
    """Name -> generator settings of every synthetic dataset, drawn from DATA_SEED."""
    specs: dict[str, dict[str, Any]] = {}
    index = 0
    for kind, count in N_SYNTHETIC.items():
        for j in range(count):
            rng = np.random.default_rng(DATA_SEED + index)
            specs[f"{kind}_{j + 1:02d}"] = _draw_spec(kind, rng, DATA_SEED + index)
            index += 1
    return specs


def _draw_spec(kind: str, rng: np.random.Generator, seed: int) -> dict[str, Any]:
    n_samples = int(round(math.exp(rng.uniform(math.log(100), math.log(800)))))
    spec: dict[str, Any] = {"kind": kind, "seed": seed}
    if kind == "classification":
        n_classes = int(rng.choice([2, 2, 3, 4, 5]))
        n_informative = int(rng.integers(2, 9))
        n_clusters = int(rng.integers(1, 3))
        while n_classes * n_clusters > 2 ** n_informative:  # make_classification's constraint
            n_clusters -= 1
        n_redundant, n_noise = int(rng.integers(0, 5)), int(rng.integers(0, 25))
        if rng.random() < 0.5:
            weights = None
        else:  # one majority class, the others share the rest; no class below 8 %
            major = float(rng.uniform(0.5, 0.8))
            weights = [round(major, 3)] + [round((1 - major) / (n_classes - 1), 3)] * (n_classes - 1)
            weights = None if min(weights) < 0.08 else weights[:-1]
        spec["call"] = dict(
            n_samples=n_samples, n_features=n_informative + n_redundant + n_noise,
            n_informative=n_informative, n_redundant=n_redundant, n_classes=n_classes,
            n_clusters_per_class=n_clusters, weights=weights,
            class_sep=round(float(rng.uniform(0.4, 2.0)), 3),
            flip_y=round(float(rng.uniform(0.0, 0.15)), 3), random_state=seed)
    elif kind == "moons":
        spec["call"] = dict(n_samples=n_samples, noise=round(float(rng.uniform(0.05, 0.4)), 3),
                            random_state=seed)
    elif kind == "circles":
        spec["call"] = dict(n_samples=n_samples, noise=round(float(rng.uniform(0.02, 0.2)), 3),
                            factor=round(float(rng.uniform(0.3, 0.8)), 3), random_state=seed)
    else:
        spec["call"] = dict(n_samples=n_samples, n_features=int(rng.integers(2, 7)),
                            n_classes=int(rng.integers(2, 5)), random_state=seed)
    spec["noise_features"] = 0 if kind == "classification" else int(rng.integers(0, 11))
    spec["scale_spread"] = float(rng.choice([0.0, 1.5]))      # features scaled by 10^U(-s, s)
    spec["skewed_fraction"] = float(rng.choice([0.0, 0.0, 0.3]))  # share of features exp-transformed
    return spec


def dataset_names() -> list[str]:
    """The meta-dataset's datasets, in the file's order: the bundled ones, then the synthetic ones.

    Examples
    --------
    >>> names = dataset_names()
    >>> len(names), names[:5], names[-1]
    (48, ['iris', 'wine', 'breast_cancer', 'digits', 'classification_01'], 'quantiles_04')
    """
    return list(BUNDLED) + list(_synthetic_specs())


def _check_name(name: Any) -> str:
    if name not in BUNDLED and name not in _synthetic_specs():
        raise ValueError(f"unknown dataset {name!r}; dataset_names() lists the "
                         f"{len(dataset_names())} datasets")
    return name


def dataset_description(name: str) -> str:
    """How the dataset is made: the loader or the generator call with its arguments.

    Examples
    --------
    >>> dataset_description("iris")
    'sklearn.datasets.load_iris()'
    >>> dataset_description("moons_01")[:36]
    'sklearn.datasets.make_moons(n_sample'
    """
    _check_name(name)
    if name in BUNDLED:
        return f"sklearn.datasets.load_{name}()"
    spec = _synthetic_specs()[name]
    function = {"classification": "make_classification", "moons": "make_moons",
                "circles": "make_circles", "quantiles": "make_gaussian_quantiles"}[spec["kind"]]
    args = ", ".join(f"{key}={value!r}" for key, value in spec["call"].items())
    extras = [f"{spec['noise_features']} N(0, 1) noise features"] if spec["noise_features"] else []
    if spec["skewed_fraction"]:
        extras.append(f"{spec['skewed_fraction']:.0%} of features exp-transformed")
    if spec["scale_spread"]:
        extras.append(f"features scaled by 10^U(-{spec['scale_spread']}, {spec['scale_spread']})")
    return f"sklearn.datasets.{function}({args})" + "".join(f"; {e}" for e in extras)


def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The features and labels of one dataset of the meta-dataset, regenerated from its seed.

    Parameters
    ----------
    name : str
        One of :func:`dataset_names`.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
        Integer class labels; every class has at least :data:`CV_FOLDS` samples.

    Examples
    --------
    >>> X, y = load_dataset("circles_01")
    >>> X.shape[0] == len(y) and set(y.tolist()) == {0, 1}
    True
    """
    from sklearn import datasets

    _check_name(name)
    if name in BUNDLED:
        return getattr(datasets, f"load_{name}")(return_X_y=True)
    spec = _synthetic_specs()[name]
    make = {"classification": datasets.make_classification, "moons": datasets.make_moons,
            "circles": datasets.make_circles,
            "quantiles": datasets.make_gaussian_quantiles}[spec["kind"]]
    X, y = make(**spec["call"])
    rng = np.random.default_rng(spec["seed"])
    if spec["noise_features"]:
        X = np.hstack([X, rng.normal(size=(len(X), spec["noise_features"]))])
    n_skewed = int(round(spec["skewed_fraction"] * X.shape[1]))
    if n_skewed:
        columns = rng.choice(X.shape[1], size=n_skewed, replace=False)
        Z = X[:, columns]
        X[:, columns] = np.exp((Z - Z.mean(axis=0)) / Z.std(axis=0))
    if spec["scale_spread"]:
        X = X * 10.0 ** rng.uniform(-spec["scale_spread"], spec["scale_spread"], X.shape[1])
    counts = np.bincount(y)
    if counts.min() < CV_FOLDS:  # cannot happen with the settings above; a guard for edits
        raise RuntimeError(f"dataset {name!r} has a class with {counts.min()} < {CV_FOLDS} samples")
    return X, y


# ---------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------
def _check_portfolio(portfolio: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(portfolio, dict) or not portfolio:
        raise TypeError("portfolio must be a non-empty dict of name -> configuration")
    for name, config in portfolio.items():
        if not isinstance(name, str) or not isinstance(config, dict):
            raise TypeError(f"portfolio entry {name!r} must map a str to a configuration dict")
    return portfolio


def evaluate_portfolio(X: Any, y: Any, portfolio: dict[str, dict[str, Any]] | None = None
                       ) -> dict[str, float]:
    """Cross-validated balanced accuracy of every configuration of the portfolio.

    Stratified :data:`CV_FOLDS`-fold cross-validation shuffled with :data:`CV_SEED`,
    the same folds for every configuration; each pipeline is
    ``build_pipeline(config, random_state=MODEL_SEED, probability=False)``.

    Parameters
    ----------
    X, y : array-like
        A classification dataset; every class needs at least :data:`CV_FOLDS` samples.
    portfolio : dict, optional
        Name -> configuration; :data:`PORTFOLIO` by default.

    Returns
    -------
    dict of str to float
        Name -> mean balanced accuracy over the folds, in the portfolio's order.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    from .cash import build_pipeline

    portfolio = _check_portfolio(PORTFOLIO if portfolio is None else portfolio)
    X, y = np.asarray(X, dtype=float), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X and y have different lengths: {len(X)} and {len(y)}")
    if np.unique(y, return_counts=True)[1].min() < CV_FOLDS:
        raise ValueError(f"every class needs at least {CV_FOLDS} samples for {CV_FOLDS}-fold CV")
    folds = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=CV_SEED)
    scores = {}
    with warnings.catch_warnings():
        # Capped iterations (MLP, logistic regression) are part of the configuration.
        warnings.simplefilter("ignore", category=ConvergenceWarning)
        for name, config in portfolio.items():
            pipeline = build_pipeline(config, random_state=MODEL_SEED, probability=False)
            scores[name] = float(cross_val_score(pipeline, X, y, cv=folds, scoring=SCORING,
                                                 error_score="raise").mean())
    return scores


def dataset_row(name: str, portfolio: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """One row of the meta-dataset: the dataset's meta-features and portfolio scores.

    Columns: ``dataset``, ``description``, ``mf:<meta-feature>`` for every
    meta-feature and ``score:<configuration>`` for every configuration, floats
    rounded to 6 decimals. Computed single-threaded, so that the result does not
    depend on the machine's number of cores.
    """
    from threadpoolctl import threadpool_limits

    X, y = load_dataset(name)
    with threadpool_limits(limits=1):
        features = metafeatures(X, y, random_state=MODEL_SEED)
        scores = evaluate_portfolio(X, y, portfolio)
    row: dict[str, Any] = {"dataset": name, "description": dataset_description(name)}
    row.update({f"mf:{key}": round(value, 6) for key, value in features.items()})
    row.update({f"score:{key}": round(value, 6) for key, value in scores.items()})
    return row


def generate(names: Sequence[str] | None = None, *, jobs: int = 1) -> pd.DataFrame:
    """Compute the meta-dataset's rows, in parallel over datasets.

    Parameters
    ----------
    names : sequence of str, optional
        Which datasets; all of :func:`dataset_names` by default.
    jobs : int, default 1
        Worker processes (each dataset is computed in one process, single-threaded;
        the result does not depend on ``jobs``).

    Returns
    -------
    DataFrame
        One row per dataset, in the order of ``names`` (see :func:`dataset_row`).
    """
    names = dataset_names() if names is None else [_check_name(n) for n in names]
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive int, got {jobs!r}")
    if jobs == 1:
        rows = [dataset_row(name) for name in names]
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:  # joins its workers on exit
            rows = list(pool.map(dataset_row, names))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MetaDataset:
    """The meta-dataset as pandas frames.

    Attributes
    ----------
    metafeatures : DataFrame
        Datasets (index ``dataset``) x meta-features.
    scores : DataFrame
        Datasets (index ``dataset``) x configurations (columns named as in
        ``portfolio``): mean cross-validated balanced accuracy.
    portfolio : dict
        Configuration name -> CASH configuration dict.
    descriptions : Series
        Dataset -> how it is made (:func:`dataset_description`).
    """

    metafeatures: pd.DataFrame
    scores: pd.DataFrame
    portfolio: dict[str, dict[str, Any]]
    descriptions: pd.Series

    @property
    def families(self) -> pd.Series:
        """Configuration -> its model family (the ``"model"`` entry)."""
        return pd.Series({name: config["model"] for name, config in self.portfolio.items()},
                         name="model")

    def long_scores(self) -> pd.DataFrame:
        """The scores in long (tidy) form: one row per dataset and configuration.

        Columns ``dataset``, ``configuration``, ``model`` and ``score``.
        """
        long = self.scores.rename_axis(columns="configuration").stack().rename("score").reset_index()
        long.insert(2, "model", long["configuration"].map(self.families))
        return long


def load_meta_dataset(path: str | Path | None = None) -> MetaDataset:
    """Read the meta-dataset written by ``python -m course.automl.meta_dataset``.

    Parameters
    ----------
    path : str or Path, optional
        The CSV file; the committed ``course/automl/data/meta_dataset.csv`` by default.

    Returns
    -------
    MetaDataset
        Meta-features and scores per dataset, and the portfolio.

    Raises
    ------
    FileNotFoundError
        If the file does not exist (the message gives the command that makes it).
    ValueError
        If its columns do not match the meta-features and the portfolio of this
        version of the code, or it holds missing values.

    Examples
    --------
    >>> meta = load_meta_dataset()
    >>> meta.scores.shape, meta.metafeatures.shape[0]
    ((48, 28), 48)
    >>> meta.families["svm_1"]
    'svm'
    """
    path = DEFAULT_PATH if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no meta-dataset at {path}; make it with "
                                f"`python -m course.automl.meta_dataset --out {path}`")
    frame = pd.read_csv(path, index_col="dataset")
    mf_columns = [f"mf:{n}" for names in metafeature_groups().values() for n in names]
    score_columns = [f"score:{n}" for n in PORTFOLIO]
    expected = ["description", *mf_columns, *score_columns]
    if list(frame.columns) != expected:
        missing = [c for c in expected if c not in frame.columns]
        extra = [c for c in frame.columns if c not in expected]
        raise ValueError(f"{path} does not match this version of the code (missing columns "
                         f"{missing[:4]}, unexpected {extra[:4]}); regenerate it")
    numbers = frame[mf_columns + score_columns]
    if numbers.isna().any().any():
        raise ValueError(f"{path} has missing values")
    return MetaDataset(
        metafeatures=numbers[mf_columns].rename(columns=lambda c: c[len("mf:"):]),
        scores=numbers[score_columns].rename(columns=lambda c: c[len("score:"):]),
        portfolio={name: dict(config) for name, config in PORTFOLIO.items()},
        descriptions=frame["description"])


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course.automl.meta_dataset",
        description="Generate the meta-dataset: meta-features and portfolio scores per dataset.")
    parser.add_argument("--out", type=Path, default=DEFAULT_PATH, help="CSV file to write")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be a positive int, got {args.jobs}")
    start = time.perf_counter()
    frame = generate(jobs=args.jobs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out, index=False, lineterminator="\n")
    elapsed = time.perf_counter() - start
    print(f"wrote {len(frame)} datasets x {len(PORTFOLIO)} configurations to {args.out} "
          f"in {elapsed:.0f} s with {args.jobs} job(s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
