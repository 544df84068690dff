"""Dataset meta-features: numbers that describe a classification dataset.

Meta-learning (Brazdil et al. 2009) learns *across* datasets: which configurations
worked on datasets like this one? "Like this one" needs a description of a dataset
as a fixed-length vector, its meta-features. :func:`metafeatures` computes four
groups of them, the families of the StatLog project (Michie et al. 1994) and of
auto-sklearn (Feurer et al. 2015, table 1 of the supplement):

``simple``
    Sizes and class balance: how many rows, columns and classes, their ratios on a
    log scale, and how unequal the class proportions are.
``statistical``
    The shape of the feature distributions (skewness, kurtosis), how the features
    move together (absolute correlations) and how many principal components carry
    the variance.
``information``
    Information theory on discretised features (equal-width bins): the entropy of
    the class, how much the features tell about it (mutual information), and the
    "noise" share of the features' entropy (Michie et al. 1994, section 7.3).
``landmarkers``
    The cross-validated accuracy of fast, simple learners (Pfahringer et al. 2000):
    a learner's performance is itself a description of the data. A 1-nearest
    neighbour, a decision stump, Gaussian naive Bayes and linear discriminant
    analysis, on a seeded stratified subsample.

Every meta-feature is a float and every value depends only on ``(X, y)`` and the
seed (the landmarkers' subsample and folds). Except for the landmarkers, all are
invariant to permuting the rows, and all are invariant to rescaling a feature
by a positive factor (the 1-NN and naive Bayes landmarkers standardise the
features first; LDA's shrinkage estimate standardises internally).

References
----------
P. Brazdil, C. Giraud-Carrier, C. Soares and R. Vilalta, *Metalearning:
Applications to Data Mining*, Springer 2009 (chapter 4: dataset characteristics).

D. Michie, D. J. Spiegelhalter and C. C. Taylor (eds.), *Machine Learning, Neural
and Statistical Classification* (StatLog), Ellis Horwood 1994 (section 7.3:
measures of datasets, including the equivalent number of attributes and the
noise-signal ratio).

B. Pfahringer, H. Bensusan and C. Giraud-Carrier, "Meta-learning by landmarking
various learning algorithms", ICML 2000.

M. Feurer, A. Klein, K. Eggensperger, J. Springenberg, M. Blum and F. Hutter,
"Efficient and Robust Automated Machine Learning", NeurIPS 2015 (section 3.1 and
the supplement's list of 38 meta-features).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable
from numbers import Integral
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["metafeature_groups", "metafeature_descriptions", "metafeatures", "class_entropy",
           "mutual_information", "discretise"]

N_BINS = 10
"""Equal-width bins per feature for the information-theoretic meta-features."""

LANDMARK_SAMPLES = 500
"""At most this many rows (a stratified subsample) for the landmarkers."""

LANDMARK_FOLDS = 5
"""Folds of the landmarkers' stratified cross-validation (fewer for tiny classes)."""


# ---------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------
def _check_data(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return ``X`` as a float matrix and ``y`` as integer class codes, or raise."""
    try:
        X = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as error:
        raise TypeError(f"X must be a numeric 2-D array, could not convert it: {error}") from None
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array (samples x features), got {X.ndim} dimension(s)")
    if X.shape[1] == 0:
        raise ValueError("X has no features (0 columns)")
    if np.isnan(X).any():
        raise ValueError(f"X contains {int(np.isnan(X).sum())} NaN value(s); impute them first")
    if not np.isfinite(X).all():
        raise ValueError("X contains infinite values")
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be a 1-D array of class labels, got shape {y.shape}")
    if len(y) != len(X):
        raise ValueError(f"X and y have different lengths: {len(X)} rows and {len(y)} labels")
    if y.dtype.kind == "f":
        if np.isnan(y).any():
            raise ValueError("y contains NaN labels")
        if not np.all(y == np.round(y)):
            raise ValueError("y must hold class labels, got non-integer floats (a regression target?)")
    classes, codes, counts = np.unique(y, return_inverse=True, return_counts=True)
    if len(classes) < 2:
        raise ValueError(f"y must contain at least 2 classes, got {len(classes)}")
    if counts.min() < 2:
        rare = classes[counts.argmin()]
        raise ValueError(f"every class needs at least 2 samples; class {rare!r} has 1")
    return X, codes.astype(int)


def _check_seed(random_state: Any) -> int:
    if isinstance(random_state, bool) or not isinstance(random_state, Integral) or random_state < 0:
        raise ValueError(f"random_state must be a non-negative int, got {random_state!r}")
    return int(random_state)


# ---------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------
def _entropy_of_counts(counts: np.ndarray) -> float:
    """Shannon entropy in bits of the distribution with these counts."""
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum() + 0.0)  # + 0.0 turns -0.0 into 0.0


def class_entropy(y: Any) -> float:
    """Entropy of the class distribution in bits, ``H(C) = -sum_c p_c log2 p_c``.

    ``log2 k`` for ``k`` balanced classes, 0 for a single class.

    Examples
    --------
    >>> class_entropy([0, 1, 2, 3] * 5)
    2.0
    """
    y = np.asarray(y)
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(f"y must be a non-empty 1-D array, got shape {y.shape}")
    _, counts = np.unique(y, return_counts=True)
    return _entropy_of_counts(counts)


def discretise(X: Any, n_bins: int = N_BINS) -> np.ndarray:
    """Map each column to ``n_bins`` equal-width bins over its range (codes 0..n_bins-1).

    A constant column goes entirely into bin 0. Equal-width bins keep the shape of
    the distribution (a skewed feature fills few bins) and do not change when a
    feature is shifted or rescaled by a positive factor.

    Examples
    --------
    >>> discretise([[0.0], [0.5], [1.0]], n_bins=2).ravel().tolist()
    [0, 1, 1]
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, Integral) or n_bins < 2:
        raise ValueError(f"n_bins must be an int >= 2, got {n_bins!r}")
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array, got {X.ndim} dimension(s)")
    low, high = X.min(axis=0), X.max(axis=0)
    width = np.where(high > low, high - low, 1.0)
    codes = np.floor((X - low) / width * n_bins).astype(int)
    return np.clip(codes, 0, n_bins - 1)


def mutual_information(a: Any, b: Any) -> float:
    """Mutual information in bits of two discrete variables, ``H(A) + H(B) - H(A, B)``.

    Examples
    --------
    >>> mutual_information([0, 0, 1, 1], [5, 5, 7, 7])  # b determines a: H(A) = 1 bit
    1.0
    >>> mutual_information([0, 1, 0, 1], [0, 0, 1, 1])  # independent
    0.0
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a and b must be 1-D arrays of the same length, got {a.shape} and {b.shape}")
    _, a_codes = np.unique(a, return_inverse=True)
    _, b_codes = np.unique(b, return_inverse=True)
    joint = np.unique(a_codes * (b_codes.max() + 1) + b_codes, return_counts=True)[1]
    mi = (_entropy_of_counts(np.bincount(a_codes)) + _entropy_of_counts(np.bincount(b_codes))
          - _entropy_of_counts(joint))
    return max(mi, 0.0)  # round-off may leave -1e-16


def _summary(prefix: str, values: np.ndarray) -> dict[str, float]:
    """Mean, min, max and standard deviation of one value per feature."""
    return {f"{prefix}_mean": float(values.mean()), f"{prefix}_min": float(values.min()),
            f"{prefix}_max": float(values.max()), f"{prefix}_std": float(values.std())}


# ---------------------------------------------------------------------------------------
# The four groups
# ---------------------------------------------------------------------------------------
def _simple(X: np.ndarray, y: np.ndarray, random_state: int) -> dict[str, float]:
    """Sizes and class balance (Brazdil et al. 2009, section 4.2; Feurer et al. 2015)."""
    n, d = X.shape
    proportions = np.bincount(y) / n
    return {
        "n_samples": float(n),
        "n_features": float(d),
        "n_classes": float(len(proportions)),
        "log_n_samples": math.log(n),
        "log_n_features": math.log(d),
        "log_dimensionality": math.log(d / n),          # log(d / n): wide data is > 0
        "class_prob_min": float(proportions.min()),
        "class_prob_max": float(proportions.max()),
        "class_imbalance_ratio": float(proportions.min() / proportions.max()),  # 1 = balanced
        "samples_per_class_log": math.log(n / len(proportions)),
    }


def _statistical(X: np.ndarray, y: np.ndarray, random_state: int) -> dict[str, float]:
    """Distribution shape, correlation and PCA summaries (Brazdil et al. 2009, 4.3).

    Constant features have no defined skewness, kurtosis or correlation; they count
    as symmetric (skewness 0), normal-tailed (excess kurtosis 0) and uncorrelated.
    """
    varying = X.std(axis=0) > 0
    skewness, kurtosis = np.zeros(X.shape[1]), np.zeros(X.shape[1])
    if varying.any():
        skewness[varying] = stats.skew(X[:, varying], axis=0)
        kurtosis[varying] = stats.kurtosis(X[:, varying], axis=0)  # excess: 0 for a normal
    features = {**_summary("skewness", skewness), **_summary("kurtosis", kurtosis)}
    if varying.sum() >= 2:
        corr = np.corrcoef(X[:, varying], rowvar=False)
        upper = np.abs(corr[np.triu_indices_from(corr, k=1)])
        # Pairs with a constant feature contribute 0 to the mean over all d(d-1)/2 pairs.
        n_pairs = X.shape[1] * (X.shape[1] - 1) / 2
        mean_abs, max_abs = float(upper.sum() / n_pairs), float(upper.max())
    else:
        mean_abs = max_abs = 0.0
    features["abs_correlation_mean"] = mean_abs
    features["abs_correlation_max"] = max_abs
    features["pca_fraction_95"] = _pca_fraction(X)
    return features


def _pca_fraction(X: np.ndarray) -> float:
    """Fraction of the features whose principal components keep 95 % of the variance.

    On standardised features, so it measures redundancy rather than units: close to
    ``1 / d`` when all features repeat one signal, close to 1 when they are independent.
    """
    std = X.std(axis=0)
    varying = std > 0
    if not varying.any():
        return 1.0 / X.shape[1]
    Z = (X[:, varying] - X[:, varying].mean(axis=0)) / std[varying]
    eigenvalues = np.linalg.svd(Z, compute_uv=False) ** 2
    explained = np.cumsum(eigenvalues) / eigenvalues.sum()
    needed = int(np.searchsorted(explained, 0.95 - 1e-12) + 1)
    return needed / X.shape[1]


def _information(X: np.ndarray, y: np.ndarray, random_state: int) -> dict[str, float]:
    """Entropies and mutual information of discretised features (Michie et al. 1994, 7.3).

    * ``class_entropy`` H(C) in bits, and ``class_entropy_normalised`` H(C) / log2 k
      (1 for balanced classes);
    * ``attribute_entropy_mean``: mean H(X_j) of the discretised features;
    * ``mutual_information_mean`` / ``_max``: mean and largest MI(X_j; C), how
      much one feature alone tells about the class;
    * ``equivalent_attributes`` = H(C) / mean MI: how many (independent) features
      of average quality it would take to determine the class;
    * ``noise_signal_ratio`` = (mean H(X_j) - mean MI) / mean MI: the share of a
      feature's information that says nothing about the class.

    When the features carry (almost) no information about the class, mean MI is
    close to 0 and both ratios would explode; their denominator is therefore
    ``max(mean MI, 1e-3)`` bits, which caps them at a finite value.
    """
    h_class = _entropy_of_counts(np.bincount(y))
    codes = discretise(X)
    h_attr = np.array([_entropy_of_counts(np.bincount(column)) for column in codes.T])
    mi = np.array([mutual_information(column, y) for column in codes.T])
    mean_mi = max(float(mi.mean()), 1e-3)
    return {
        "class_entropy": h_class,
        "class_entropy_normalised": h_class / math.log2(len(np.unique(y))),
        "attribute_entropy_mean": float(h_attr.mean()),
        "mutual_information_mean": float(mi.mean()),
        "mutual_information_max": float(mi.max()),
        "equivalent_attributes": h_class / mean_mi,
        "noise_signal_ratio": (float(h_attr.mean()) - float(mi.mean())) / mean_mi,
    }


def _stratified_subsample(y: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Row indices of a class-proportional subsample of about ``size`` rows (>= 2 per class)."""
    if len(y) <= size:
        return np.arange(len(y))
    chosen = []
    for c in range(y.max() + 1):
        members = np.flatnonzero(y == c)
        take = max(2, round(len(members) * size / len(y)))
        chosen.append(rng.choice(members, size=min(take, len(members)), replace=False))
    return np.sort(np.concatenate(chosen))


def _landmark_learners(random_state: int) -> dict[str, Any]:
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    return {
        "landmark_1nn": make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=1)),
        "landmark_stump": DecisionTreeClassifier(max_depth=1, random_state=random_state),
        # Standardised first: GaussianNB's variance smoothing (1e-9 x the largest
        # feature variance) would otherwise depend on the features' units.
        "landmark_naive_bayes": make_pipeline(StandardScaler(), GaussianNB()),
        # Shrinkage keeps LDA defined with collinear or constant features (digits' borders).
        "landmark_lda": LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"),
    }


def _landmarkers(X: np.ndarray, y: np.ndarray, random_state: int) -> dict[str, float]:
    """Cross-validated accuracy of four cheap learners (Pfahringer et al. 2000).

    Each learner's inductive bias probes one property: 1-NN local structure, the
    stump a single informative feature, naive Bayes independent features, LDA
    linear separability with a shared covariance. They run on a stratified
    subsample of at most :data:`LANDMARK_SAMPLES` rows with stratified
    :data:`LANDMARK_FOLDS`-fold cross-validation (fewer folds if a class is smaller),
    both seeded by ``random_state``.
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    rng = np.random.default_rng(random_state)
    rows = _stratified_subsample(y, LANDMARK_SAMPLES, rng)
    Xs, ys = X[rows], y[rows]
    folds = int(min(LANDMARK_FOLDS, np.bincount(ys).min()))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=random_state)
    result = {}
    with warnings.catch_warnings():
        # Constant features inside a fold make GaussianNB/LDA warn; the score stays valid.
        warnings.simplefilter("ignore", category=RuntimeWarning)
        warnings.simplefilter("ignore", category=UserWarning)
        for name, learner in _landmark_learners(random_state).items():
            result[name] = float(cross_val_score(learner, Xs, ys, cv=cv, scoring="accuracy").mean())
    return result


_GROUPS: dict[str, Callable[[np.ndarray, np.ndarray, int], dict[str, float]]] = {
    "simple": _simple,
    "statistical": _statistical,
    "information": _information,
    "landmarkers": _landmarkers,
}


_BRAZDIL = "Brazdil et al. 2009, ch. 4"
_STATLOG = "Michie et al. 1994, sec. 7.3"
_FEURER = "Feurer et al. 2015, suppl. table 1"
_PFAHRINGER = "Pfahringer et al. 2000"

#: Every meta-feature: its group, what it measures and where it comes from.
_CATALOGUE: dict[str, tuple[str, str, str]] = {
    "n_samples": ("simple", "number of rows n", _BRAZDIL),
    "n_features": ("simple", "number of features d", _BRAZDIL),
    "n_classes": ("simple", "number of classes k", _BRAZDIL),
    "log_n_samples": ("simple", "natural log of n", _FEURER),
    "log_n_features": ("simple", "natural log of d", _FEURER),
    "log_dimensionality": ("simple", "log(d / n): > 0 for wide data (more features than rows)", _FEURER),
    "class_prob_min": ("simple", "share of the rarest class", _FEURER),
    "class_prob_max": ("simple", "share of the most frequent class (the majority-vote accuracy)",
                       _FEURER),
    "class_imbalance_ratio": ("simple", "rarest / most frequent class share: 1 when balanced",
                              _BRAZDIL),
    "samples_per_class_log": ("simple", "log(n / k): rows available per class", _BRAZDIL),
    "skewness_mean": ("statistical", "mean skewness of the features (0: symmetric)", _BRAZDIL),
    "skewness_min": ("statistical", "smallest skewness of a feature", _FEURER),
    "skewness_max": ("statistical", "largest skewness of a feature", _FEURER),
    "skewness_std": ("statistical", "standard deviation of the features' skewness", _FEURER),
    "kurtosis_mean": ("statistical", "mean excess kurtosis (0: normal tails, > 0: heavy tails)",
                      _BRAZDIL),
    "kurtosis_min": ("statistical", "smallest excess kurtosis of a feature", _FEURER),
    "kurtosis_max": ("statistical", "largest excess kurtosis of a feature", _FEURER),
    "kurtosis_std": ("statistical", "standard deviation of the features' excess kurtosis", _FEURER),
    "abs_correlation_mean": ("statistical", "mean |Pearson correlation| over feature pairs",
                             _STATLOG),
    "abs_correlation_max": ("statistical", "largest |correlation| of two features (redundancy)",
                            _BRAZDIL),
    "pca_fraction_95": ("statistical", "share of principal components (of standardised "
                        "features) keeping 95 % of the variance", _FEURER),
    "class_entropy": ("information", "H(C) in bits: log2 k for k balanced classes", _STATLOG),
    "class_entropy_normalised": ("information", "H(C) / log2 k: 1 when balanced", _BRAZDIL),
    "attribute_entropy_mean": ("information", "mean entropy of the discretised features", _STATLOG),
    "mutual_information_mean": ("information", "mean MI(feature; class) in bits: how much one "
                                "feature tells about the class", _STATLOG),
    "mutual_information_max": ("information", "MI of the most informative feature", _BRAZDIL),
    "equivalent_attributes": ("information", "H(C) / mean MI: features of average quality "
                              "needed to determine the class", _STATLOG),
    "noise_signal_ratio": ("information", "(mean H(X) - mean MI) / mean MI: irrelevant share "
                           "of the features' information", _STATLOG),
    "landmark_1nn": ("landmarkers", "CV accuracy of 1-nearest neighbour (standardised features): "
                     "local structure", _PFAHRINGER),
    "landmark_stump": ("landmarkers", "CV accuracy of a depth-1 decision tree: one informative "
                       "feature", _PFAHRINGER),
    "landmark_naive_bayes": ("landmarkers", "CV accuracy of Gaussian naive Bayes: independent "
                             "features", _PFAHRINGER),
    "landmark_lda": ("landmarkers", "CV accuracy of linear discriminant analysis: linear "
                     "separability", _PFAHRINGER),
}


def metafeature_descriptions() -> "pd.DataFrame":
    """A table of every meta-feature: group, what it measures, and its source.

    Returns
    -------
    pandas.DataFrame
        Index: the meta-feature names in the order :func:`metafeatures` returns them;
        columns ``group``, ``measures`` and ``source`` (see the References of the
        module docstring).

    Examples
    --------
    >>> table = metafeature_descriptions()
    >>> table.loc["class_entropy", "group"], len(table)
    ('information', 32)
    """
    import pandas as pd

    return pd.DataFrame.from_dict(_CATALOGUE, orient="index",
                                  columns=["group", "measures", "source"]).rename_axis("name")


def metafeature_groups() -> dict[str, list[str]]:
    """The meta-feature groups and the names of the meta-features in each, in order.

    Returns
    -------
    dict
        ``{"simple": [...], "statistical": [...], "information": [...],
        "landmarkers": [...]}``; the union is exactly the keys :func:`metafeatures`
        returns with every group.

    Examples
    --------
    >>> list(metafeature_groups())
    ['simple', 'statistical', 'information', 'landmarkers']
    >>> metafeature_groups()["landmarkers"]
    ['landmark_1nn', 'landmark_stump', 'landmark_naive_bayes', 'landmark_lda']
    """
    groups: dict[str, list[str]] = {group: [] for group in _GROUPS}
    for name, (group, _, _) in _CATALOGUE.items():
        groups[group].append(name)
    return groups


def metafeatures(X: Any, y: Any, *, groups: Iterable[str] | None = None,
                 random_state: int = 0) -> dict[str, float]:
    """Describe a classification dataset by its meta-features.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Numeric features without missing or infinite values.
    y : array-like of shape (n_samples,)
        Class labels (any type ``np.unique`` can sort); at least 2 classes, each with
        at least 2 samples (the landmarkers' stratified cross-validation needs them).
    groups : iterable of str, optional
        Which groups to compute (see :func:`metafeature_groups`); all four by default.
        The landmarkers are the only costly group (about a second on a few hundred rows).
    random_state : int, default 0
        Seeds the landmarkers' subsample and folds; the other groups are deterministic.

    Returns
    -------
    dict of str to float
        The meta-features, group by group in the order of :func:`metafeature_groups`.

    Raises
    ------
    TypeError
        If ``X`` is not numeric.
    ValueError
        If ``X`` is not 2-D, has no columns, holds NaN or infinite values; if ``y``
        is not 1-D, has another length than ``X``, fewer than 2 classes or a class with
        a single sample; if a group name is unknown or ``random_state`` is invalid.

    References
    ----------
    Brazdil et al. 2009 (chapter 4), Michie et al. 1994 (section 7.3), Pfahringer et
    al. 2000, Feurer et al. 2015: see the module docstring.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> features = metafeatures(*load_iris(return_X_y=True), groups=["simple", "information"])
    >>> features["n_classes"], round(features["class_entropy"], 4)  # 3 balanced classes
    (3.0, 1.585)
    """
    X, codes = _check_data(X, y)
    random_state = _check_seed(random_state)
    if groups is None:
        chosen = list(_GROUPS)
    else:
        if isinstance(groups, str):
            raise TypeError(f"groups must be an iterable of group names, not the str {groups!r}")
        chosen = list(groups)
        unknown = [g for g in chosen if g not in _GROUPS]
        if unknown or not chosen:
            raise ValueError(f"unknown or no meta-feature group(s) {unknown!r}; "
                             f"choose among {list(_GROUPS)}")
    result: dict[str, float] = {}
    for group in _GROUPS:  # always in the canonical order
        if group in chosen:
            result.update(_GROUPS[group](X, codes, random_state))
    return result
