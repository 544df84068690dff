"""Benchmark objectives with a known (or carefully estimated) minimum.

A sampler is judged by its *regret*: how far the best value it found lies above
the best value there is. That needs objectives whose minimum is known:

* :func:`branin` and :func:`hartmann6`, the two classic synthetic test functions of
  global optimisation (Dixon and Szegő, 1978), cheap and with a known optimum;
* :func:`svm_digits`, a real tuning task: an SVM on a subsample of scikit-learn's
  bundled digits data, scored by 3-fold cross-validation. Its optimum is unknown;
  we estimated it once with a dense search (:func:`estimate_optimum`) and store the
  estimate in :data:`SVM_DIGITS_OPTIMUM`.

Every factory returns an :class:`Objective`, and :data:`OBJECTIVES` maps a name to
its factory (the benchmark in ``benchmarks/samplers.py`` runs them all).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .space import Categorical, Float, SearchSpace

__all__ = ["Objective", "branin", "hartmann6", "svm_digits", "estimate_optimum",
           "OBJECTIVES", "SVM_DIGITS_OPTIMUM", "SVM_DIGITS_ARGMIN"]


@dataclass(frozen=True)
class Objective:
    """A function to minimise, its search space and its minimum.

    Calling the objective with a configuration returns its value.

    Attributes
    ----------
    name : str
        Short name (the key in :data:`OBJECTIVES`).
    space : SearchSpace
        Where to search.
    function : callable
        Configuration dict -> float (lower is better).
    optimum : float
        The minimum of ``function`` over ``space``: known exactly for the synthetic
        functions, estimated for a tuning task (see ``optimum_note``).
    optimum_note : str
        Where the optimum comes from (a citation, or how it was estimated).
    optimum_is_estimate : bool
        ``True`` when ``optimum`` is only the best value a dense search found; a
        sampler may then beat it, and its regret is slightly negative.
    """

    name: str
    space: SearchSpace
    function: Callable[[dict[str, Any]], float]
    optimum: float
    optimum_note: str = ""
    optimum_is_estimate: bool = False

    def __call__(self, config: Mapping[str, Any]) -> float:
        return self.function(dict(config))

    def regret(self, value: float | np.ndarray) -> float | np.ndarray:
        """``value - optimum``: 0 at the minimum, positive above it.

        Not clipped: with an estimated optimum a negative regret means a sampler
        found a better configuration than the estimate (and the estimate should be
        updated). Plots on a log scale must clip it themselves.
        """
        if isinstance(value, (int, float, np.number)):
            return float(value) - self.optimum
        return np.asarray(value, dtype=float) - self.optimum


# ======================================================================================
# Branin
# ======================================================================================

#: The three global minimisers of Branin, (x1, x2) = (-pi, 12.275), (pi, 2.275), (9.42478, 2.475).
BRANIN_MINIMISERS = ((-math.pi, 12.275), (math.pi, 2.275), (3 * math.pi, 2.475))


def _branin(config: Mapping[str, float]) -> float:
    x1, x2 = config["x1"], config["x2"]
    # the standard constants: a = 1, b = 5.1 / (4 pi^2), c = 5 / pi, r = 6, s = 10, t = 1 / (8 pi)
    b, c, r, s, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 6.0, 10.0, 1 / (8 * math.pi)
    return (x2 - b * x1 ** 2 + c * x1 - r) ** 2 + s * (1 - t) * math.cos(x1) + s


def branin() -> Objective:
    """The Branin(-Hoo) function on x1 in [-5, 10], x2 in [0, 15]; two dimensions.

    f(x) = (x2 - b x1^2 + c x1 - r)^2 + s (1 - t) cos(x1) + s with the usual
    constants. It has three global minima, all of value 5 / (4 pi) = 0.397887
    (where the square vanishes and cos(x1) = -1), at (-pi, 12.275), (pi, 2.275) and
    (3 pi, 2.475).

    Returns
    -------
    Objective

    References
    ----------
    L. C. W. Dixon and G. P. Szegő, "The global optimisation problem: an
    introduction", in Towards Global Optimisation 2, North-Holland, 1978, pp. 1-15.
    S. Surjanovic and D. Bingham, Virtual Library of Simulation Experiments,
    https://www.sfu.ca/~ssurjano/branin.html (the constants and minimisers used here).
    """
    space = SearchSpace([Float("x1", -5.0, 10.0), Float("x2", 0.0, 15.0)])
    return Objective("branin", space, _branin, optimum=5 / (4 * math.pi),
                     optimum_note="5 / (4 pi) = 0.397887 (Dixon and Szegő 1978)")


# ======================================================================================
# Hartmann 6
# ======================================================================================

_HARTMANN_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_HARTMANN_A = np.array([
    [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
    [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
    [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
    [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
])
_HARTMANN_P = 1e-4 * np.array([
    [1312, 1696, 5569, 124, 8283, 5886],
    [2329, 4135, 8307, 3736, 1004, 9991],
    [2348, 1451, 3522, 2883, 3047, 6650],
    [4047, 8828, 8732, 5743, 1091, 381],
])
#: The global minimiser of Hartmann-6 as published (Surjanovic and Bingham).
HARTMANN6_MINIMISER = (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573)
_HARTMANN_NAMES = tuple(f"x{i}" for i in range(1, 7))


def _hartmann6(config: Mapping[str, float]) -> float:
    x = np.array([config[name] for name in _HARTMANN_NAMES])
    return float(-_HARTMANN_ALPHA @ np.exp(-np.sum(_HARTMANN_A * (x - _HARTMANN_P) ** 2, axis=1)))


def hartmann6() -> Objective:
    """The six-dimensional Hartmann function on [0, 1]^6.

    f(x) = -sum_i alpha_i exp(-sum_j A_ij (x_j - P_ij)^2), a sum of four Gaussian
    wells; six local minima, the global one -3.32237 at
    x* = (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573).

    Returns
    -------
    Objective
        Its ``optimum`` is -3.322368011415514, the published -3.32237 refined by
        L-BFGS-B started at x* (so that no point ever has a negative regret).

    References
    ----------
    L. C. W. Dixon and G. P. Szegő, "The global optimisation problem: an
    introduction", in Towards Global Optimisation 2, North-Holland, 1978, pp. 1-15.
    S. Surjanovic and D. Bingham, Virtual Library of Simulation Experiments,
    https://www.sfu.ca/~ssurjano/hart6.html (the constants A, P, alpha used here).
    """
    space = SearchSpace([Float(name, 0.0, 1.0) for name in _HARTMANN_NAMES])
    return Objective("hartmann6", space, _hartmann6, optimum=-3.322368011415514,
                     optimum_note="-3.32237 (Dixon and Szegő 1978), refined by L-BFGS-B from x*")


# ======================================================================================
# A real tuning task: an SVM on digits
# ======================================================================================

#: Best value found by :func:`estimate_optimum` (1 - mean 3-fold CV accuracy, i.e. about
#: 96.25 % accuracy). Found by the 61 x 61 grid already; 4000 random configurations and
#: 1500 local ones around the 10 best did not improve on it (9282 evaluations, 4.8 min).
SVM_DIGITS_OPTIMUM = 0.037519171061983325
#: A configuration attaining :data:`SVM_DIGITS_OPTIMUM` (a grid point: C = 10^1.2, gamma = 10^-2.7).
SVM_DIGITS_ARGMIN: dict[str, Any] = {"kernel": "rbf", "C": 15.848931924611142,
                                     "gamma": 0.0019952623149688807}

_SVM_N_SAMPLES = 400
_SVM_N_FOLDS = 3


def _svm_space() -> SearchSpace:
    return SearchSpace([
        Categorical("kernel", ["rbf", "linear"]),
        Float("C", 1e-3, 1e3, log=True),
        Float("gamma", 1e-5, 1e1, log=True, when={"kernel": "rbf"}),
    ])


def _svm_folds() -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """The fixed, standardised cross-validation folds of the digits subsample."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import StratifiedKFold, train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    # a stratified subsample keeps one evaluation near 15 ms; the benchmark makes tens of thousands
    X, _, y, _ = train_test_split(X, y, train_size=_SVM_N_SAMPLES, stratify=y, random_state=0)
    folds = []
    for train, test in StratifiedKFold(_SVM_N_FOLDS, shuffle=True, random_state=0).split(X, y):
        scaler = StandardScaler().fit(X[train])  # fitted on the training fold only: no leakage
        folds.append((scaler.transform(X[train]), y[train], scaler.transform(X[test]), y[test]))
    return folds


def _svm_function(folds) -> Callable[[dict[str, Any]], float]:
    from sklearn.svm import SVC

    def error(config: dict[str, Any]) -> float:
        gamma = config["gamma"] if config["kernel"] == "rbf" else "scale"
        accuracies = []
        for X_train, y_train, X_test, y_test in folds:
            model = SVC(kernel=config["kernel"], C=config["C"], gamma=gamma).fit(X_train, y_train)
            accuracies.append(np.mean(model.predict(X_test) == y_test))
        return float(1.0 - np.mean(accuracies))

    return error


def svm_digits() -> Objective:
    """Tune an SVM classifier on 400 digits: 1 - mean 3-fold cross-validated accuracy.

    The space is conditional: ``kernel`` in {rbf, linear}, ``C`` in [1e-3, 1e3]
    (log scale) and, for the RBF kernel only, ``gamma`` in [1e-5, 10] (log scale).
    The data are a stratified subsample of 400 of scikit-learn's bundled 1797
    digits (no download), standardised within each training fold; the folds come
    from ``StratifiedKFold(3, shuffle=True, random_state=0)``, so the objective is
    deterministic. One evaluation takes 10-40 ms.

    Returns
    -------
    Objective
        Its ``optimum`` is an estimate, :data:`SVM_DIGITS_OPTIMUM` (see
        :func:`estimate_optimum`); ``optimum_is_estimate`` is ``True``.

    References
    ----------
    C. Cortes and V. Vapnik, "Support-vector networks", Machine Learning 20 (1995).
    C.-W. Hsu, C.-C. Chang and C.-J. Lin, "A practical guide to support vector
    classification" (2003): search C and gamma on a log scale.
    """
    return Objective("svm_digits", _svm_space(), _svm_function(_svm_folds()),
                     optimum=SVM_DIGITS_OPTIMUM,
                     optimum_note="best of a dense grid, long random runs and local refinement "
                                  "(estimate_optimum)",
                     optimum_is_estimate=True)


def estimate_optimum(*, grid_points: int = 61, n_random: int = 4000, n_local: int = 150,
                     n_best: int = 10, seed: int = 0, verbose: bool = False) -> tuple[float, dict[str, Any]]:
    """Estimate the minimum of :func:`svm_digits` by brute force.

    Three searches, and the best configuration any of them found:

    1. a grid: ``grid_points`` values of C (linear kernel) and ``grid_points``^2
       values of (C, gamma) (RBF kernel), evenly spaced on the log scales;
    2. ``n_random`` configurations drawn uniformly from the space;
    3. around each of the ``n_best`` best configurations so far, ``n_local`` points
       drawn uniformly within +-0.25 decades in C and gamma.

    With the defaults this takes a few minutes. Recompute the stored constant with::

        .venv/bin/python -m course.hpo.objectives

    Parameters
    ----------
    grid_points : int
        Grid values per log-scaled parameter.
    n_random : int
        Configurations of the random search.
    n_local : int
        Local samples around each of the ``n_best`` best configurations.
    n_best : int
        How many of the best configurations to refine.
    seed : int
        Seed of the random and local searches.
    verbose : bool
        Print the best value after each stage.

    Returns
    -------
    value : float
        The smallest value found.
    config : dict
        A configuration that attains it.
    """
    for name, value in (("grid_points", grid_points), ("n_random", n_random),
                        ("n_local", n_local), ("n_best", n_best)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    space = _svm_space()
    function = _svm_function(_svm_folds())
    rng = np.random.default_rng(seed)
    results: list[tuple[float, dict[str, Any]]] = []

    def evaluate(config: dict[str, Any]) -> None:
        results.append((function(config), config))

    Cs = space["C"].grid_values(grid_points)
    for C in Cs:
        evaluate({"kernel": "linear", "C": C})
        for gamma in space["gamma"].grid_values(grid_points):
            evaluate({"kernel": "rbf", "C": C, "gamma": gamma})
    if verbose:
        print(f"grid ({len(results)} configurations): {min(r[0] for r in results):.6f}")
    for _ in range(n_random):
        evaluate(space.sample(rng))
    if verbose:
        print(f"+ random ({len(results)}): {min(r[0] for r in results):.6f}")
    results.sort(key=lambda r: r[0])
    for _, centre in results[:n_best]:
        for _ in range(n_local):
            config = dict(centre)
            for name in ("C", "gamma"):
                if name in config:
                    param = space[name]
                    exponent = math.log10(config[name]) + rng.uniform(-0.25, 0.25)
                    config[name] = min(max(10.0 ** exponent, param.low), param.high)
            evaluate(config)
    if verbose:
        print(f"+ local ({len(results)}): {min(r[0] for r in results):.6f}")
    value, config = min(results, key=lambda r: r[0])
    return value, config


#: The registry the benchmark iterates over: name -> factory of an :class:`Objective`.
OBJECTIVES: dict[str, Callable[[], Objective]] = {
    "branin": branin,
    "hartmann6": hartmann6,
    "svm_digits": svm_digits,
}


if __name__ == "__main__":
    best, where = estimate_optimum(verbose=True)
    print(f"SVM_DIGITS_OPTIMUM = {best!r}\nSVM_DIGITS_ARGMIN = {where!r}")
