"""Automated feature engineering: construct many candidate features, then select.

A linear model cannot use an interaction it never sees: if the target depends on
``x1 * x2``, no weighting of ``x1`` and ``x2`` recovers it. Automated feature
engineering systems (Deep Feature Synthesis, Kanter & Veeramachaneni 2015;
ExploreKit, Katz et al. 2016) therefore work in two phases:

1. **construction**: apply a fixed set of operators to the existing features
   (products, ratios, squares, logarithms...) and get many candidates
   (:class:`FeatureConstructor`);
2. **selection**: keep the candidates that help, either by ranking each one on its
   own with a statistic (*filter*, :class:`FilterSelector`; Guyon & Elisseeff
   2003, section 2) or by searching subsets with the cross-validated score of the
   model that will use them (*wrapper*, :class:`ForwardSelector`; Kohavi & John
   1997).

A filter is cheap (one statistic per feature) but judges features one at a time,
blind to the model; a wrapper sees what the model makes of a feature among the
others, at the price of one cross-validation per candidate and step.

Every class is a scikit-learn transformer (``fit``/``transform``, ``get_params``,
``clone``, ``get_feature_names_out``), so construction and selection are steps of a
:class:`~sklearn.pipeline.Pipeline`, and their settings can be searched like any
hyperparameter, e.g. by the course's CASH search.

References
----------
J. M. Kanter and K. Veeramachaneni, "Deep Feature Synthesis: Towards Automating Data
Science Endeavors", IEEE DSAA 2015 (feature construction by stacking primitive
operators).

G. Katz, E. C. R. Shin and D. Song, "ExploreKit: Automatic Feature Generation and
Selection", IEEE ICDM 2016 (unary and binary operators generate candidates; a
ranker and a model-based evaluation select among them).

I. Guyon and A. Elisseeff, "An Introduction to Variable and Feature Selection",
JMLR 3, 1157-1182, 2003 (section 2: variable ranking, filters; section 4:
wrappers and greedy forward selection).

R. Kohavi and G. H. John, "Wrappers for Feature Subset Selection", Artificial
Intelligence 97(1-2), 273-324, 1997 (the wrapper approach: search the subsets with
the induction algorithm's estimated accuracy; forward selection by hill climbing).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, TransformerMixin, clone
from sklearn.feature_selection import (SelectorMixin, f_classif, f_regression, mutual_info_classif,
                                       mutual_info_regression)
from sklearn.model_selection import cross_val_score
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["OPERATIONS", "FeatureConstructor", "FilterSelector", "ForwardSelector"]

#: The construction operators: name -> what each new feature is.
OPERATIONS = {
    "product": "x_i * x_j for every pair i < j (interaction terms)",
    "ratio": "x_i / x_j for every ordered pair i != j, 0 where |x_j| <= eps (safe division)",
    "square": "x_i ** 2 for every feature",
    "log": "log(x_i) for every feature that is > 0 on the training data",
    "sqrt": "sqrt(x_i) for every feature that is >= 0 on the training data",
}
#: Shortcuts for groups of operators.
SHORTCUTS = {"polynomial": ("square", "product")}   # the degree-2 polynomial terms


def _input_names(estimator: BaseEstimator) -> list[str]:
    names = getattr(estimator, "feature_names_in_", None)
    return [str(n) for n in names] if names is not None else [f"x{i}" for i in range(estimator.n_features_in_)]


# ======================================================================================
# Construction
# ======================================================================================

class FeatureConstructor(TransformerMixin, BaseEstimator):
    """Construct new features from the existing ones with fixed operators.

    ``fit`` records which features exist and which are positive (for ``log`` and
    ``sqrt``); ``transform`` computes, in this order, the original features (with
    ``include_original``) and then each operator's features, in the order of
    ``operations``. See :data:`OPERATIONS` for the operators; ``"polynomial"`` is a
    shortcut for ``("square", "product")``, the degree-2 terms.

    Parameters
    ----------
    operations : sequence of str, default ("product",)
        The operators to apply, each once.
    include_original : bool, default True
        Whether the output starts with the input features.
    eps : float, default 1e-8
        Safe division: a ratio whose denominator is at most ``eps`` in absolute
        value is 0 (a missing interaction, not an infinity).

    Attributes
    ----------
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had column names (a pandas DataFrame).
    recipes_ : list of tuple
        How each output feature is computed: ``(operation, i, j)`` with ``j``
        ``None`` for unary operators and ``("original", i, None)`` for a copy.
    lower_bounds_ : ndarray of shape (n_features_in_,)
        The training minimum of each feature: ``log`` and ``sqrt`` clip new values
        below it, so unseen data never makes them NaN.

    Raises
    ------
    ValueError
        In ``fit``, for an unknown operator, a negative ``eps``, or when nothing
        would be output.

    References
    ----------
    Katz et al. (2016), section 3.1 (unary and binary operators applied to every
    feature and pair of features); Kanter & Veeramachaneni (2015), section 3
    (primitive functions composed into features).

    Examples
    --------
    >>> X = np.array([[1.0, 2.0, 4.0], [3.0, 0.0, 1.0]])
    >>> constructor = FeatureConstructor(operations=("product", "ratio")).fit(X)
    >>> constructor.get_feature_names_out()[:6].tolist()
    ['x0', 'x1', 'x2', 'x0*x1', 'x0*x2', 'x1*x2']
    >>> constructor.transform(X)[:, 6:].round(2).tolist()   # x0/x1, x0/x2, x1/x0, x1/x2, x2/x0, x2/x1
    [[0.5, 0.25, 2.0, 0.5, 4.0, 2.0], [0.0, 3.0, 0.0, 0.0, 0.33, 0.0]]
    """

    def __init__(self, operations: Sequence[str] = ("product",), include_original: bool = True,
                 eps: float = 1e-8) -> None:
        self.operations = operations
        self.include_original = include_original
        self.eps = eps

    def _check_params(self) -> list[str]:
        if isinstance(self.operations, str) or not isinstance(self.operations, Sequence):
            raise ValueError("operations must be a list of operator names, e.g. ('product', 'ratio'), "
                             f"got {self.operations!r}")
        expanded: list[str] = []
        for op in self.operations:
            for name in SHORTCUTS.get(op, (op,)):
                if name not in OPERATIONS:
                    raise ValueError(f"unknown operation {op!r}; choose from "
                                     f"{sorted(OPERATIONS) + sorted(SHORTCUTS)}")
                if name not in expanded:
                    expanded.append(name)
        if isinstance(self.eps, bool) or not isinstance(self.eps, Real) or not self.eps >= 0:
            raise ValueError(f"eps must be a number >= 0, got {self.eps!r}")
        if not isinstance(self.include_original, (bool, np.bool_)):
            raise ValueError(f"include_original must be True or False, got {self.include_original!r}")
        return expanded

    def fit(self, X: Any, y: Any = None) -> "FeatureConstructor":
        """Record the input features and which of them ``log`` and ``sqrt`` apply to."""
        operations = self._check_params()
        X = validate_data(self, X, dtype=np.float64)
        d = X.shape[1]
        self.lower_bounds_ = X.min(axis=0)
        recipes: list[tuple[str, int, int | None]] = []
        if self.include_original:
            recipes += [("original", i, None) for i in range(d)]
        for op in operations:
            if op == "product":
                recipes += [(op, i, j) for i in range(d) for j in range(i + 1, d)]
            elif op == "ratio":
                recipes += [(op, i, j) for i in range(d) for j in range(d) if i != j]
            elif op == "square":
                recipes += [(op, i, None) for i in range(d)]
            elif op == "log":
                recipes += [(op, i, None) for i in range(d) if self.lower_bounds_[i] > 0]
            elif op == "sqrt":
                recipes += [(op, i, None) for i in range(d) if self.lower_bounds_[i] >= 0]
        if not recipes:
            raise ValueError(f"nothing to output: operations {list(self.operations)} construct no "
                             f"feature from {d} input feature(s) and include_original is False")
        self.recipes_ = recipes
        return self

    def transform(self, X: Any) -> np.ndarray:
        """The original features (optionally) followed by the constructed ones."""
        check_is_fitted(self, "recipes_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        columns = []
        for op, i, j in self.recipes_:
            x = X[:, i]
            if op == "original":
                columns.append(x)
            elif op == "product":
                columns.append(x * X[:, j])
            elif op == "ratio":
                denominator = X[:, j]
                safe = np.abs(denominator) > self.eps
                columns.append(np.divide(x, denominator, out=np.zeros_like(x), where=safe))
            elif op == "square":
                columns.append(x ** 2)
            elif op == "log":
                columns.append(np.log(np.maximum(x, self.lower_bounds_[i])))
            elif op == "sqrt":
                columns.append(np.sqrt(np.maximum(x, self.lower_bounds_[i])))
        return np.column_stack(columns)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names like ``x0``, ``x0*x1``, ``x0/x1``, ``x0^2``, ``log(x0)``, ``sqrt(x0)``."""
        check_is_fitted(self, "recipes_")
        names = _input_names(self) if input_features is None else [str(n) for n in input_features]
        if len(names) != self.n_features_in_:
            raise ValueError(f"input_features must have {self.n_features_in_} names, got {len(names)}")
        pattern = {"original": "{a}", "product": "{a}*{b}", "ratio": "{a}/{b}", "square": "{a}^2",
                   "log": "log({a})", "sqrt": "sqrt({a})"}
        return np.array([pattern[op].format(a=names[i], b=names[j] if j is not None else "")
                         for op, i, j in self.recipes_], dtype=object)


# ======================================================================================
# Selection shared parts
# ======================================================================================

def _n_to_keep(k: Any, n_features: int, name: str) -> int:
    """``k`` features (an int, capped at ``n_features``) or a fraction of them (at least one)."""
    if isinstance(k, bool) or not isinstance(k, Real):
        raise ValueError(f"{name} must be a positive int (a count) or a float in (0, 1] "
                         f"(a fraction of the features), got {k!r}")
    if isinstance(k, Integral):
        if k < 1:
            raise ValueError(f"{name} must be a positive int or a float in (0, 1], got {k!r}")
        return min(int(k), n_features)
    if not 0 < k <= 1:
        raise ValueError(f"{name} as a fraction must be in (0, 1], got {k!r}")
    return max(1, int(round(k * n_features)))


def _task(y: np.ndarray, task: str) -> str:
    if task not in ("auto", "classification", "regression"):
        raise ValueError(f"task must be 'auto', 'classification' or 'regression', got {task!r}")
    if task != "auto":
        return task
    kind = type_of_target(y)
    return "regression" if kind in ("continuous", "continuous-multioutput") else "classification"


# ======================================================================================
# Filter
# ======================================================================================

class FilterSelector(SelectorMixin, BaseEstimator):
    """Keep the ``k`` features with the highest univariate relevance score.

    The filter of Guyon & Elisseeff (2003, section 2, "variable ranking"): score
    each feature on its own against the target, sort, keep the top ``k``.

    1. score every feature: mutual information with ``y`` (any dependence,
       estimated with nearest neighbours) or the ANOVA F statistic (a difference
       of class means; for regression, the F test of a linear correlation);
    2. rank the features by decreasing score (ties: the earlier feature first; a
       NaN score, e.g. of a constant feature, ranks last);
    3. keep the first ``k``.

    Parameters
    ----------
    criterion : {"mutual_info", "anova"} or callable, default "mutual_info"
        The relevance score, or a function ``score(X, y)`` returning one score per
        feature (or a ``(scores, p_values)`` pair, as scikit-learn's tests do).
    k : int or float, default 0.5
        How many features to keep: an int (at most all of them) or a fraction in
        (0, 1] of the features (at least one).
    task : {"auto", "classification", "regression"}, default "auto"
        Which version of the score to use; "auto" looks at ``y``.
    seed : int, optional, default 0
        Seed of the mutual information estimator (it adds a little noise).

    Attributes
    ----------
    scores_ : ndarray of shape (n_features_in_,)
    ranking_ : ndarray of int
        The features, best first.
    support_ : ndarray of bool
        Which features are kept.

    References
    ----------
    Guyon & Elisseeff (2003), section 2 (ranking criteria: correlation, information
    theoretic criteria).

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> X, y = make_classification(200, n_features=8, n_informative=2, n_redundant=0,
    ...                            n_clusters_per_class=1, shuffle=False, random_state=0)
    >>> FilterSelector(criterion="anova", k=2).fit(X, y).get_support(indices=True).tolist()
    [0, 1]
    """

    def __init__(self, criterion: str | Callable = "mutual_info", k: int | float = 0.5,
                 task: str = "auto", seed: int | None = 0) -> None:
        self.criterion = criterion
        self.k = k
        self.task = task
        self.seed = seed

    def _scores(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        task = _task(y, self.task)
        if callable(self.criterion):
            result = self.criterion(X, y)
            scores = result[0] if isinstance(result, tuple) else result
        elif self.criterion == "mutual_info":
            if len(X) < 4:   # the estimator compares each sample with its 3 nearest neighbours
                raise ValueError(f"criterion='mutual_info' needs at least 4 samples, got "
                                 f"n_samples = {len(X)}")
            estimate = mutual_info_classif if task == "classification" else mutual_info_regression
            scores = estimate(X, y, random_state=self.seed)
        elif self.criterion == "anova":
            with np.errstate(divide="ignore", invalid="ignore"):
                scores = (f_classif if task == "classification" else f_regression)(X, y)[0]
        else:
            raise ValueError(f"criterion must be 'mutual_info', 'anova' or a callable score(X, y), "
                             f"got {self.criterion!r}")
        scores = np.asarray(scores, dtype=float)
        if scores.shape != (X.shape[1],):
            raise ValueError(f"the criterion must return one score per feature ({X.shape[1]}), "
                             f"got shape {scores.shape}")
        return scores

    def fit(self, X: Any, y: Any) -> "FilterSelector":
        """Score and rank the features."""
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=self.task == "regression")
        n_keep = _n_to_keep(self.k, X.shape[1], "k")
        self.scores_ = self._scores(X, y)
        ranked = np.where(np.isnan(self.scores_), -np.inf, self.scores_)
        self.ranking_ = np.argsort(-ranked, kind="stable")
        self.support_ = np.zeros(X.shape[1], dtype=bool)
        self.support_[self.ranking_[:n_keep]] = True
        return self

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "support_")
        return self.support_


# ======================================================================================
# Wrapper
# ======================================================================================

class ForwardSelector(SelectorMixin, MetaEstimatorMixin, BaseEstimator):
    """Greedy forward selection with a model's cross-validated score (a wrapper).

    Kohavi & John (1997) evaluate a subset of features by the estimated accuracy
    of the learning algorithm itself, and search the subsets by hill climbing. The
    forward version:

    1. start with no feature;
    2. for each feature not yet selected, cross-validate ``estimator`` on the
       selected features plus that one;
    3. if the best of these scores improves on the current score by more than
       ``tol``, add its feature and go to 2 (the first step always adds one);
    4. stop otherwise, or when ``max_features`` are selected.

    Parameters
    ----------
    estimator : estimator
        The model whose score judges the subsets (cloned for every fit).
    scoring : str or callable, optional
        A scikit-learn scoring name or scorer; default: the estimator's ``score``
        (accuracy, R^2).
    cv : int or cross-validation splitter, default 5
        As for :func:`~sklearn.model_selection.cross_val_score` (an int gives
        stratified folds for a classifier, unshuffled, hence deterministic).
    max_features : int or float, optional
        The cap: a count, or a fraction in (0, 1] of the features. Default: all.
    tol : float, default 0.0
        The smallest improvement of the mean CV score worth a new feature.
    n_jobs : int, optional
        Passed to :func:`~sklearn.model_selection.cross_val_score`.

    Attributes
    ----------
    selected_ : list of int
        The selected features, in the order they were added.
    scores_ : list of float
        The mean CV score after each addition.
    n_evaluations_ : int
        How many subsets were cross-validated.
    support_ : ndarray of bool

    References
    ----------
    Kohavi & John (1997), sections 3 (the wrapper approach) and 3.2 (hill-climbing
    search, forward selection). Guyon & Elisseeff (2003), section 4.2 (greedy
    search strategies: forward selection).

    Examples
    --------
    Three informative features among ten; the third is nearly useless on its own
    (a filter ranks it below a noise feature) but helps once the other two are in:

    >>> from sklearn.datasets import make_classification
    >>> from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    >>> X, y = make_classification(300, n_features=10, n_informative=3, n_redundant=0,
    ...                            n_clusters_per_class=1, shuffle=False, random_state=0)
    >>> selector = ForwardSelector(LinearDiscriminantAnalysis(), tol=0.01).fit(X, y)
    >>> selector.selected_, [round(s, 3) for s in selector.scores_]
    ([0, 1, 2], [0.887, 0.923, 0.987])
    >>> FilterSelector(criterion="anova", k=3).fit(X, y).get_support(indices=True).tolist()
    [0, 1, 5]
    """

    def __init__(self, estimator: Any, *, scoring: str | Callable | None = None, cv: Any = 5,
                 max_features: int | float | None = None, tol: float = 0.0,
                 n_jobs: int | None = None) -> None:
        self.estimator = estimator
        self.scoring = scoring
        self.cv = cv
        self.max_features = max_features
        self.tol = tol
        self.n_jobs = n_jobs

    def _cv_score(self, X: np.ndarray, y: np.ndarray, features: list[int]) -> float:
        scores = cross_val_score(clone(self.estimator), X[:, features], y, scoring=self.scoring,
                                 cv=self.cv, n_jobs=self.n_jobs, error_score="raise")
        return float(np.mean(scores))

    def fit(self, X: Any, y: Any) -> "ForwardSelector":
        """Add features one at a time while the cross-validated score improves."""
        if not hasattr(self.estimator, "fit"):
            raise ValueError(f"estimator must be a scikit-learn estimator, got {self.estimator!r:.80}")
        if isinstance(self.tol, bool) or not isinstance(self.tol, Real) or not math.isfinite(self.tol):
            raise ValueError(f"tol must be a finite number, got {self.tol!r}")
        X, y = validate_data(self, X, y, dtype=np.float64)
        d = X.shape[1]
        cap = d if self.max_features is None else _n_to_keep(self.max_features, d, "max_features")
        selected: list[int] = []
        scores: list[float] = []
        evaluations = 0
        current = -np.inf
        while len(selected) < cap:
            candidates = [j for j in range(d) if j not in selected]               # step 2
            trial = [self._cv_score(X, y, selected + [j]) for j in candidates]
            evaluations += len(candidates)
            best = int(np.argmax(trial))                                           # ties: lowest index
            if selected and trial[best] - current <= self.tol:                     # step 4
                break
            selected.append(candidates[best])                                      # step 3
            current = trial[best]
            scores.append(current)
        self.selected_ = selected
        self.scores_ = scores
        self.n_evaluations_ = evaluations
        self.support_ = np.zeros(d, dtype=bool)
        self.support_[selected] = True
        return self

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "support_")
        return self.support_
