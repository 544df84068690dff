"""CASH: one conditional search space over preprocessing and model families.

The *Combined Algorithm Selection and Hyperparameter optimisation* problem
(Thornton et al. 2013, eq. 3) asks for the algorithm ``A`` and its hyperparameters
``lambda`` that minimise the cross-validated loss,

    A*, lambda* = argmin over A in {A_1, ..., A_k}, lambda in Lambda_A  of  CV-loss(A_lambda, D).

Auto-WEKA's trick, which auto-sklearn kept (Feurer et al. 2015), is to make the choice of
algorithm one more hyperparameter, a categorical *root*, and every algorithm's own
hyperparameters conditional children of it. CASH then becomes ordinary HPO over one
tree-structured space, which any sampler of :mod:`course.hpo` can search.

Here a configuration is a flat dict, exactly as a :mod:`course.hpo` sampler produces it
on :func:`cash_space`:

* ``"imputer"``: ``"mean"``, ``"median"`` or ``"most_frequent"`` (only when the space
  allows imputation);
* ``"scaler"``: ``"none"``, ``"standard"``, ``"minmax"`` or ``"robust"``;
* ``"features"``: ``"none"``, ``"select_k_best"`` (univariate selection),
  ``"pca"`` or ``"polynomial"`` (degree-2 construction), with hyperparameters such as
  ``"select_k_best:fraction"`` or ``"pca:variance"``;
* ``"model"``: one of :data:`MODELS` (classification) or :data:`REGRESSION_MODELS`,
  with hyperparameters named ``"<model>:<hyperparameter>"`` (``"svm:C"``,
  ``"knn:n_neighbors"``); a hyperparameter may depend on another one of its model
  (``"svm:gamma"`` exists only for the RBF kernel).

:func:`build_pipeline` turns such a dict into a scikit-learn
:class:`~sklearn.pipeline.Pipeline` with the steps ``imputer``, ``scaler``,
``features`` and ``model`` (an unused step is ``"passthrough"``). Every model's
iterations and estimators are capped so that one fit takes well under a second on
the bundled datasets.

References
----------
C. Thornton, F. Hutter, H. H. Hoos and K. Leyton-Brown, "Auto-WEKA: combined selection
and hyperparameter optimization of classification algorithms", KDD 2013 (section 3,
eq. 3: the CASH problem and its conditional space).

M. Feurer, A. Klein, K. Eggensperger, J. Springenberg, M. Blum and F. Hutter,
"Efficient and robust automated machine learning", NeurIPS 2015 (section 2 and
table 1 of the supplement: the preprocessing and model families of auto-sklearn).

Examples
--------
>>> import numpy as np
>>> from course.hpo import RandomSampler
>>> space = cash_space(["knn", "svm"])
>>> config = RandomSampler(seed=0).ask(space, [])
>>> config["model"] in ("knn", "svm")
True
>>> pipeline = build_pipeline({"scaler": "standard", "model": "knn", "knn:n_neighbors": 3})
>>> [name for name, _ in pipeline.steps]
['imputer', 'scaler', 'features', 'model']
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import combinations, combinations_with_replacement
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import TransformedTargetRegressor
from sklearn.decomposition import PCA
from sklearn.ensemble import (HistGradientBoostingClassifier, HistGradientBoostingRegressor,
                              RandomForestClassifier, RandomForestRegressor)
from sklearn.feature_selection import SelectorMixin, f_classif, f_regression
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler
from sklearn.svm import SVC, SVR
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils.validation import check_is_fitted, validate_data

from course.hpo.space import Categorical, Float, Int, Parameter, SearchSpace

__all__ = [
    "MODELS", "REGRESSION_MODELS", "TASKS", "IMPUTERS", "SCALERS", "FEATURES",
    "Hyperparameter", "Component", "models_for", "components", "cash_space",
    "build_pipeline", "SelectBestFraction", "PolynomialOnBestFeatures", "StableSignPCA",
]

TASKS = ("classification", "regression")


# ======================================================================================
# Hyperparameters and components
# ======================================================================================

@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter of a component, named without its component's prefix.

    Parameters
    ----------
    name : str
        Short name (``"C"``); the search space calls it ``"<component>:<name>"``.
    kind : {"float", "int", "categorical"}
        Which :mod:`course.hpo.space` parameter it becomes.
    domain : tuple
        ``(low, high)`` for numbers, the choices for a categorical.
    default : object
        The value :func:`build_pipeline` uses when a configuration leaves it out.
    log : bool
        Search a number on a log scale.
    when : dict, optional
        Condition on *sibling* hyperparameters (short names), e.g.
        ``{"kernel": "rbf"}``; the component's own choice is always implied.
    """

    name: str
    kind: str
    domain: tuple
    default: Any
    log: bool = False
    when: Mapping[str, Any] | None = None

    def parameter(self, group: str, component: str) -> Parameter:
        """The search-space parameter ``"<component>:<name>"``, active when ``group == component``."""
        when = {group: component}
        for sibling, allowed in (self.when or {}).items():
            when[f"{component}:{sibling}"] = allowed
        full = f"{component}:{self.name}"
        if self.kind == "float":
            return Float(full, *self.domain, log=self.log, when=when)
        if self.kind == "int":
            return Int(full, *self.domain, log=self.log, when=when)
        return Categorical(full, list(self.domain), when=when)


@dataclass(frozen=True)
class Component:
    """One choice of a pipeline step: its hyperparameters and how to build it.

    ``build(hp, task, random_state, probability)`` receives the hyperparameters by
    their short names, every one of them filled in (defaults for those a configuration
    leaves out, none of the inactive ones), and returns a scikit-learn estimator, or
    ``"passthrough"`` for a step that does nothing.
    """

    name: str
    build: Callable[..., Any]
    hyperparameters: tuple[Hyperparameter, ...] = field(default=())


def _float(name, low, high, default, *, log=False, when=None) -> Hyperparameter:
    return Hyperparameter(name, "float", (low, high), default, log, when)


def _int(name, low, high, default, *, log=False, when=None) -> Hyperparameter:
    return Hyperparameter(name, "int", (low, high), default, log, when)


def _cat(name, choices, default, *, when=None) -> Hyperparameter:
    return Hyperparameter(name, "categorical", tuple(choices), default, when=when)


# ======================================================================================
# The feature steps: two that need the number of features (known only at fit time), and PCA
# ======================================================================================

def _univariate_scores(X: np.ndarray, y: np.ndarray, task: str) -> np.ndarray:
    """ANOVA F (classification) or correlation F (regression) per feature; constant ones score -inf."""
    score_func = f_classif if task == "classification" else f_regression
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant features: a warning and NaN, handled below
        scores = np.asarray(score_func(X, y)[0], dtype=float)
    return np.where(np.isfinite(scores), scores, -np.inf)


def _best_features(X: np.ndarray, y: np.ndarray, task: str, k: int) -> np.ndarray:
    """Indices of the ``k`` best features by univariate score (ties: the earlier feature)."""
    order = np.argsort(-_univariate_scores(X, y, task), kind="stable")
    return np.sort(order[:k])


def _check_task(task: Any) -> str:
    if task not in TASKS:
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
    return task


class SelectBestFraction(SelectorMixin, BaseEstimator):
    """Keep the best ``fraction`` of the features by a univariate F-test.

    :class:`~sklearn.feature_selection.SelectKBest` with ``k = max(1, round(fraction *
    n_features))``: the search space cannot know ``n_features``, so it searches the
    fraction.

    Parameters
    ----------
    fraction : float
        Share of features to keep, in (0, 1].
    task : {"classification", "regression"}
        ANOVA F-test (:func:`~sklearn.feature_selection.f_classif`) or the F-test of
        the correlation with the target (:func:`~sklearn.feature_selection.f_regression`).
        Constant features score lowest.
    """

    def __init__(self, fraction: float = 0.5, task: str = "classification") -> None:
        self.fraction = fraction
        self.task = task

    def fit(self, X, y) -> "SelectBestFraction":
        _check_task(self.task)
        if not 0.0 < self.fraction <= 1.0:
            raise ValueError(f"fraction must be in (0, 1], got {self.fraction!r}")
        X, y = validate_data(self, X, y)
        k = max(1, int(round(self.fraction * X.shape[1])))
        self.support_ = np.zeros(X.shape[1], dtype=bool)
        self.support_[_best_features(X, y, self.task, k)] = True
        return self

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "support_")
        return self.support_


class PolynomialOnBestFeatures(TransformerMixin, BaseEstimator):
    """Append the degree-2 products of the ``n_inputs`` best features to all features.

    Full polynomial expansion of ``d`` features makes ``d (d + 3) / 2`` columns (2144
    for the 64 pixels of digits), too many for a cheap search. Expanding only the
    best few by a univariate F-test keeps the construction cheap: ``n_inputs = 5``
    adds 15 products (10 with ``interaction_only``).

    Parameters
    ----------
    n_inputs : int
        How many of the best features to expand (all of them when there are fewer).
    interaction_only : bool
        Only products of two different features, no squares.
    task : {"classification", "regression"}
        Which F-test ranks the features, as in :class:`SelectBestFraction`.
    """

    def __init__(self, n_inputs: int = 5, interaction_only: bool = False,
                 task: str = "classification") -> None:
        self.n_inputs = n_inputs
        self.interaction_only = interaction_only
        self.task = task

    def fit(self, X, y) -> "PolynomialOnBestFeatures":
        _check_task(self.task)
        if isinstance(self.n_inputs, bool) or not isinstance(self.n_inputs, (int, np.integer)) \
                or self.n_inputs < 1:
            raise ValueError(f"n_inputs must be a positive int, got {self.n_inputs!r}")
        X, y = validate_data(self, X, y)
        self.inputs_ = _best_features(X, y, self.task, min(int(self.n_inputs), X.shape[1]))
        pairs = combinations if self.interaction_only else combinations_with_replacement
        self.pairs_ = np.array(list(pairs(range(len(self.inputs_)), 2)), dtype=int).reshape(-1, 2)
        return self

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self, "pairs_")
        X = validate_data(self, X, reset=False)
        chosen = X[:, self.inputs_]
        products = chosen[:, self.pairs_[:, 0]] * chosen[:, self.pairs_[:, 1]]
        return np.hstack([X, products])

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "pairs_")
        names = (np.asarray(input_features, dtype=object) if input_features is not None
                 else np.array([f"x{i}" for i in range(self.n_features_in_)], dtype=object))
        chosen = names[self.inputs_]
        products = [f"{chosen[a]} {chosen[b]}" if a != b else f"{chosen[a]}^2" for a, b in self.pairs_]
        return np.concatenate([names, np.array(products, dtype=object)])


class StableSignPCA(PCA):
    """:class:`~sklearn.decomposition.PCA` whose components' signs do not hang on rounding.

    A principal component is defined up to its sign. scikit-learn fixes the sign by
    making each component's largest-magnitude loading positive. When two loadings tie
    in magnitude, which one counts as the largest is decided by the last bit of a
    float, and that differs between CPUs (BLAS kernels, vector instructions). Ties are
    not rare: two standardised features always have the principal directions
    ``(1, 1) / sqrt(2)`` and ``(1, -1) / sqrt(2)``. A flipped component is harmless to
    sign-symmetric models (k-NN, linear models) but not to trees, boosting or an MLP
    (whose random initialisation is not symmetric), so their scores moved between
    machines.

    Here the *first* loading whose magnitude is within a relative :attr:`TIE` of the
    largest is made positive: exact ties are broken by position, not by rounding. The
    subspace, the variances and whitening are PCA's own.
    """

    #: Loadings whose magnitudes differ by less than this, relatively, count as tied.
    #: Rounding moves them by about 1e-14; real differences are far larger.
    TIE = 1e-9

    def fit(self, X, y=None) -> "StableSignPCA":
        super().fit(X, y)
        magnitude = np.abs(self.components_)
        tied = magnitude >= (1.0 - self.TIE) * magnitude.max(axis=1, keepdims=True)
        first = tied.argmax(axis=1)
        signs = np.sign(self.components_[np.arange(len(first)), first])
        self.components_ *= signs[:, None]
        return self

    def fit_transform(self, X, y=None) -> np.ndarray:
        return self.fit(X, y).transform(X)


# ======================================================================================
# The components: preprocessing
# ======================================================================================

def _passthrough(hp, task, random_state, probability):
    return "passthrough"


def _imputer(strategy: str) -> Component:
    return Component(strategy, lambda hp, task, random_state, probability:
                     SimpleImputer(strategy=strategy))


def _scaler(name: str, cls) -> Component:
    return Component(name, lambda hp, task, random_state, probability: cls())


IMPUTERS: dict[str, Component] = {name: _imputer(name) for name in ("mean", "median", "most_frequent")}

SCALERS: dict[str, Component] = {
    "none": Component("none", _passthrough),
    "standard": _scaler("standard", StandardScaler),
    "minmax": _scaler("minmax", MinMaxScaler),
    "robust": _scaler("robust", RobustScaler),
}

FEATURES: dict[str, Component] = {
    "none": Component("none", _passthrough),
    "select_k_best": Component(
        "select_k_best",
        lambda hp, task, random_state, probability: SelectBestFraction(hp["fraction"], task),
        (_float("fraction", 0.1, 1.0, 0.5),)),
    "pca": Component(
        "pca",
        # a float n_components keeps the fewest components explaining that share of variance
        lambda hp, task, random_state, probability: StableSignPCA(
            n_components=hp["variance"], whiten=hp["whiten"], svd_solver="full",
            random_state=random_state),
        (_float("variance", 0.5, 0.999, 0.95), _cat("whiten", [False, True], False))),
    "polynomial": Component(
        "polynomial",
        lambda hp, task, random_state, probability: PolynomialOnBestFeatures(
            hp["n_inputs"], hp["interaction_only"], task),
        (_int("n_inputs", 2, 8, 5), _cat("interaction_only", [False, True], False))),
}


# ======================================================================================
# The components: models (iterations and estimators capped to keep every fit cheap)
# ======================================================================================

def _class_weight(name: str) -> str | None:
    return None if name == "none" else name


def _svm(hp, task, random_state, probability):
    options = dict(C=hp["C"], kernel=hp["kernel"], gamma=hp.get("gamma", "scale"), max_iter=50_000)
    if task == "regression":
        return SVR(epsilon=hp["epsilon"], **options)
    svc = SVC(class_weight=_class_weight(hp["class_weight"]), random_state=random_state, **options)
    # SVC has no predict_proba of its own (`probability=True` is deprecated since
    # scikit-learn 1.9): Platt's sigmoid on out-of-fold decision values gives one.
    return CalibratedClassifierCV(svc, method="sigmoid", cv=3, ensemble=False) if probability else svc


def _knn(hp, task, random_state, probability):
    cls = KNeighborsClassifier if task == "classification" else KNeighborsRegressor
    return cls(n_neighbors=hp["n_neighbors"], weights=hp["weights"], p=hp["p"])


def _tree(hp, task, random_state, probability):
    if task == "classification":
        return DecisionTreeClassifier(criterion=hp["criterion"], max_depth=hp["max_depth"],
                                      min_samples_leaf=hp["min_samples_leaf"], random_state=random_state)
    return DecisionTreeRegressor(max_depth=hp["max_depth"], min_samples_leaf=hp["min_samples_leaf"],
                                 random_state=random_state)


def _forest(hp, task, random_state, probability):
    options = dict(n_estimators=hp["n_estimators"], max_features=hp["max_features"],
                   min_samples_leaf=hp["min_samples_leaf"], n_jobs=1, random_state=random_state)
    if task == "classification":
        return RandomForestClassifier(criterion=hp["criterion"], **options)
    return RandomForestRegressor(**options)


def _boosting(hp, task, random_state, probability):
    cls = HistGradientBoostingClassifier if task == "classification" else HistGradientBoostingRegressor
    return cls(learning_rate=hp["learning_rate"], max_iter=hp["max_iter"],
               max_leaf_nodes=hp["max_leaf_nodes"], min_samples_leaf=hp["min_samples_leaf"],
               l2_regularization=hp["l2_regularization"], early_stopping=False,
               random_state=random_state)


def _mlp(hp, task, random_state, probability):
    cls = MLPClassifier if task == "classification" else MLPRegressor
    return cls(hidden_layer_sizes=(hp["units"],) * hp["layers"], activation=hp["activation"],
               alpha=hp["alpha"], learning_rate_init=hp["learning_rate_init"], max_iter=50,
               random_state=random_state)


def _logistic(hp, task, random_state, probability):
    return LogisticRegression(C=hp["C"], class_weight=_class_weight(hp["class_weight"]), max_iter=200)


def _ridge(hp, task, random_state, probability):
    return Ridge(alpha=hp["alpha"])


_KNN = (_int("n_neighbors", 1, 50, 5, log=True), _cat("weights", ["uniform", "distance"], "uniform"),
        _cat("p", [1, 2], 2))
_TREE_SIZE = (_int("max_depth", 1, 20, 10), _int("min_samples_leaf", 1, 50, 1, log=True))
_FOREST = (_int("n_estimators", 10, 50, 30, log=True), _float("max_features", 0.05, 0.5, 0.2, log=True),
           _int("min_samples_leaf", 1, 20, 1, log=True))
_BOOSTING = (_float("learning_rate", 0.02, 1.0, 0.1, log=True), _int("max_iter", 10, 30, 20, log=True),
             _int("max_leaf_nodes", 4, 16, 8, log=True), _int("min_samples_leaf", 1, 50, 20, log=True),
             _float("l2_regularization", 1e-8, 1.0, 1e-8, log=True))
_MLP = (_int("units", 16, 64, 32, log=True), _int("layers", 1, 2, 1),
        _cat("activation", ["relu", "tanh"], "relu"), _float("alpha", 1e-6, 1e-1, 1e-4, log=True),
        _float("learning_rate_init", 1e-4, 1e-1, 1e-3, log=True))
_KERNEL = (_cat("kernel", ["rbf", "linear"], "rbf"),
           _float("gamma", 1e-4, 1.0, 0.01, log=True, when={"kernel": "rbf"}))
_CLASS_WEIGHT = _cat("class_weight", ["none", "balanced"], "none")

CLASSIFIERS: dict[str, Component] = {
    "logistic_regression": Component("logistic_regression", _logistic,
                                     (_float("C", 1e-3, 1e3, 1.0, log=True), _CLASS_WEIGHT)),
    "knn": Component("knn", _knn, _KNN),
    "svm": Component("svm", _svm, (_float("C", 1e-2, 1e3, 1.0, log=True), *_KERNEL, _CLASS_WEIGHT)),
    "decision_tree": Component("decision_tree", _tree,
                               (_cat("criterion", ["gini", "entropy"], "gini"), *_TREE_SIZE)),
    "random_forest": Component("random_forest", _forest,
                               (_cat("criterion", ["gini", "entropy"], "gini"), *_FOREST)),
    "gradient_boosting": Component("gradient_boosting", _boosting, _BOOSTING),
    "mlp": Component("mlp", _mlp, _MLP),
}

REGRESSORS: dict[str, Component] = {
    "ridge": Component("ridge", _ridge, (_float("alpha", 1e-4, 1e3, 1.0, log=True),)),
    "knn": Component("knn", _knn, _KNN),
    "svr": Component("svr", _svm, (_float("C", 1e-2, 1e3, 1.0, log=True), *_KERNEL,
                                   _float("epsilon", 1e-3, 1.0, 0.1, log=True))),
    "decision_tree": Component("decision_tree", _tree, _TREE_SIZE),
    "random_forest": Component("random_forest", _forest, _FOREST),
    "gradient_boosting": Component("gradient_boosting", _boosting, _BOOSTING),
    "mlp": Component("mlp", _mlp, _MLP),
}

#: The classification model families, in the order of the ``"model"`` choice.
MODELS: tuple[str, ...] = tuple(CLASSIFIERS)
#: Their regression counterparts.
REGRESSION_MODELS: tuple[str, ...] = tuple(REGRESSORS)


def models_for(task: str = "classification") -> tuple[str, ...]:
    """The model names of ``task``: :data:`MODELS` or :data:`REGRESSION_MODELS`."""
    return MODELS if _check_task(task) == "classification" else REGRESSION_MODELS


def components(task: str = "classification") -> dict[str, dict[str, Component]]:
    """Every step's choices for ``task``: a dict with keys imputer, scaler, features and model."""
    models = CLASSIFIERS if _check_task(task) == "classification" else REGRESSORS
    return {"imputer": IMPUTERS, "scaler": SCALERS, "features": FEATURES, "model": models}


# ======================================================================================
# The space
# ======================================================================================

def _check_models(models: Sequence[str] | None, task: str) -> tuple[str, ...]:
    known = models_for(task)
    if models is None:
        return known
    if isinstance(models, str):
        models = [models]
    if not isinstance(models, Sequence) or isinstance(models, bytes):
        raise TypeError(f"models must be a list of model names or None, got {type(models).__name__}")
    models = tuple(models)
    if not models:
        raise ValueError(f"models must name at least one model; the {task} models are {list(known)}")
    unknown = [m for m in models if m not in known]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown} for task {task!r}; choose from {list(known)}")
    if len(set(models)) != len(models):
        raise ValueError(f"models lists a model twice: {list(models)}")
    return models


def _step(group: str, choices: dict[str, Component], names: Sequence[str]) -> list[Parameter]:
    """The root categorical of one step, then each choice's hyperparameters as its children."""
    params: list[Parameter] = [Categorical(group, list(names))]
    for name in names:
        params.extend(hp.parameter(group, name) for hp in choices[name].hyperparameters)
    return params


def cash_space(models: Sequence[str] | None = None, *, task: str = "classification",
               imputation: bool = True) -> SearchSpace:
    """The conditional CASH search space over preprocessing and model families.

    Four categorical roots, in pipeline order: ``imputer`` (only with
    ``imputation=True``), ``scaler``, ``features`` and ``model``; every choice's
    hyperparameters are conditional children named ``"<choice>:<hyperparameter>"``.

    Parameters
    ----------
    models : sequence of str, optional
        The model families to choose from, a subset of :data:`MODELS` (classification)
        or :data:`REGRESSION_MODELS` (regression); ``None`` for all of them. A single
        name is accepted too.
    task : {"classification", "regression"}
        Which model families and feature scores.
    imputation : bool
        Include the ``imputer`` choice (mean, median, most frequent). Without it the
        pipelines cannot take missing values.

    Returns
    -------
    course.hpo.SearchSpace
        Its configurations are what :func:`build_pipeline` takes.

    Raises
    ------
    ValueError
        For an unknown task, an unknown or repeated model name (the message lists
        the known ones), or an empty ``models``.
    TypeError
        If ``models`` is not a sequence of names or ``imputation`` not a bool.

    References
    ----------
    Thornton et al. (2013), section 3: the algorithm choice as the root of a
    conditional hyperparameter space.

    Examples
    --------
    >>> space = cash_space(["svm"], imputation=False)
    >>> space.names[:3]
    ['scaler', 'features', 'select_k_best:fraction']
    >>> space["svm:gamma"].when
    {'model': ('svm',), 'svm:kernel': ('rbf',)}
    """
    task = _check_task(task)
    models = _check_models(models, task)
    if not isinstance(imputation, (bool, np.bool_)):
        raise TypeError(f"imputation must be a bool, got {imputation!r}")
    steps = components(task)
    params: list[Parameter] = []
    if imputation:
        params += _step("imputer", steps["imputer"], list(IMPUTERS))
    params += _step("scaler", steps["scaler"], list(SCALERS))
    params += _step("features", steps["features"], list(FEATURES))
    params += _step("model", steps["model"], models)
    return SearchSpace(params)


# ======================================================================================
# Configuration -> pipeline
# ======================================================================================

@lru_cache(maxsize=None)
def _full_space(task: str) -> SearchSpace:
    """Every choice of ``task``: what :func:`build_pipeline` checks a configuration against."""
    return cash_space(task=task, imputation=True)


def _hyperparameters(config: Mapping[str, Any], component: Component) -> dict[str, Any]:
    """The short-named hyperparameters of ``component``: the configuration's values, else defaults."""
    chosen = {hp.name: config.get(f"{component.name}:{hp.name}", hp.default)
              for hp in component.hyperparameters}
    active = {}
    for hp in component.hyperparameters:  # a child whose sibling condition fails stays out
        if all(chosen.get(parent) in (allowed if isinstance(allowed, (list, tuple)) else (allowed,))
               for parent, allowed in (hp.when or {}).items()):
            active[hp.name] = chosen[hp.name]
    return active


def _check_config(config: Any, task: str) -> SearchSpace:
    if not isinstance(config, Mapping):
        raise TypeError(f"a configuration must be a dict, got {type(config).__name__}")
    known = models_for(task)
    if "model" not in config:
        raise ValueError(f"the configuration has no 'model'; choose one of {list(known)}")
    if config["model"] not in known:
        raise ValueError(f"unknown model {config['model']!r} for task {task!r}; choose from {list(known)}")
    space = _full_space(task)
    for group in ("imputer", "scaler", "features"):
        if group in config:
            space[group].check(config[group])
    # a hyperparameter left out falls back to its default, so conditions see the defaults too
    filled = {**_defaults(task, config), **config}
    for name, value in config.items():
        if name not in space:
            raise ValueError(f"unknown key {name!r} in the configuration; the {task} space has "
                             f"{space.names}")
        param = space[name]
        if not param.is_active(filled):
            raise ValueError(f"{name!r} is set but inactive in this configuration: it needs "
                             f"{ {k: (v[0] if len(v) == 1 else list(v)) for k, v in param.when.items()} }")
        param.check(value)
    return space


def _defaults(task: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """Default values of the hyperparameters of the choices made in ``config``."""
    out: dict[str, Any] = {}
    for group, choices in components(task).items():
        if group in config and config[group] in choices:
            component = choices[config[group]]
            out.update({f"{component.name}:{hp.name}": hp.default for hp in component.hyperparameters})
    return out


def build_pipeline(config: Mapping[str, Any], *, task: str = "classification",
                   random_state: int | None = 0, probability: bool = True) -> Pipeline:
    """Turn a CASH configuration into an (unfitted) scikit-learn pipeline.

    Parameters
    ----------
    config : dict
        A configuration of :func:`cash_space`: ``"model"`` is required; ``"imputer"``
        (absent: no imputation), ``"scaler"`` and ``"features"`` (absent: ``"none"``)
        and every hyperparameter (absent: its default) may be left out, so
        ``{"model": "svm"}`` is a valid configuration.
    task : {"classification", "regression"}
        Which model families.
    random_state : int or None
        Seed of every randomised step (forests, boosting, MLPs, trees, PCA).
    probability : bool
        Classification only: give the SVM a ``predict_proba`` by Platt scaling
        (:class:`~sklearn.calibration.CalibratedClassifierCV` with ``cv=3`` around
        :class:`~sklearn.svm.SVC`, three more SVM fits). Every other classifier has
        one anyway, so with ``True`` every pipeline can predict probabilities.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Steps ``imputer``, ``scaler``, ``features``, ``model``; an unused step is
        ``"passthrough"``. A regressor is wrapped in a
        :class:`~sklearn.compose.TransformedTargetRegressor` that standardises the
        target, so that ``epsilon`` of the SVR and the MLP's step sizes mean the same
        on every dataset.

    Raises
    ------
    TypeError
        If ``config`` is not a dict.
    ValueError
        For an unknown task or model (the message lists the known models), an unknown
        key, a hyperparameter of a choice not made (``"svm:C"`` with ``model="knn"``),
        or a value outside its range.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> X, y = load_iris(return_X_y=True)
    >>> pipe = build_pipeline({"scaler": "standard", "features": "pca", "pca:variance": 0.9,
    ...                        "model": "logistic_regression", "logistic_regression:C": 10.0})
    >>> bool(pipe.fit(X, y).score(X, y) > 0.9)
    True
    """
    task = _check_task(task)
    if random_state is not None and (isinstance(random_state, bool)
                                     or not isinstance(random_state, (int, np.integer))):
        raise TypeError(f"random_state must be an int or None, got {random_state!r}")
    _check_config(config, task)
    steps = components(task)
    built = []
    for group, default in (("imputer", None), ("scaler", "none"), ("features", "none"), ("model", None)):
        name = config.get(group, default)
        if name is None:
            built.append((group, "passthrough"))
            continue
        component = steps[group][name]
        estimator = component.build(_hyperparameters(config, component), task, random_state,
                                    bool(probability))
        if group == "model" and task == "regression":
            estimator = TransformedTargetRegressor(regressor=estimator, transformer=StandardScaler())
        built.append((group, estimator))
    return Pipeline(built)
