"""BOHB: Hyperband whose new configurations come from a TPE-style model.

Hyperband samples every new configuration at random, so it never gets better at
*what* it tries, only at how quickly it drops the bad ones. BOHB keeps Hyperband's
brackets and replaces the sampling (Falkner et al. 2018, Algorithm 2):

1. with probability ``random_fraction`` (paper: 1/3) return a random configuration,
   which keeps the search exploring (and BOHB's worst case close to Hyperband's);
2. take the largest budget ``b`` with at least ``N_min + 2`` results, where
   ``N_min = d + 1`` for ``d`` hyperparameters (:func:`model_budget`); if there is
   none, return a random configuration;
3. split its results into the best ``N_l = max(N_min, q N_b)`` (good, paper:
   ``q = 15%``) and the worst ``N_g = max(N_min, N_b - N_l)`` (bad) (eq. 2-3,
   :func:`good_bad_split`), and fit multivariate kernel density estimates
   ``l(x)`` on the good and ``g(x)`` on the bad configurations;
4. draw ``n_samples`` (paper: 64) candidates from ``l'``, which is ``l`` with its
   bandwidths multiplied by ``bandwidth_factor`` (paper: 3) to explore around the
   good configurations, and return the candidate with the largest ``l(x) / g(x)``.

Why the largest budget: its results are the most faithful to the full budget;
why "enough" results: a KDE in ``d`` dimensions needs at least ``d + 1`` points.
The results at all budgets, promotions included, are kept as observations.

The densities are the course's TPE pieces (:class:`~course.hpo.tpe.ParzenEstimator`
with one product kernel per observation, Scott's bandwidth rule, and
:func:`~course.hpo.tpe.split_good_bad`), so conditional spaces work as in TPE. One
difference to the paper: the estimator adds a wide prior kernel (weight of one
observation), like the course's TPE sampler.

References
----------
S. Falkner, A. Klein and F. Hutter, "BOHB: Robust and Efficient Hyperparameter
Optimization at Scale", ICML 2018 (section 3, eq. 2-3 and Algorithm 2).

L. Li et al., "Hyperband: A Novel Bandit-Based Approach to Hyperparameter
Optimization", JMLR 18 (2018) (the brackets, :mod:`course.hpo.hyperband`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np

from .hyperband import Hyperband
from .scheduler import Job
from .space import SearchSpace
from .tpe import ParzenEstimator, split_good_bad

__all__ = ["model_budget", "good_bad_split", "BOHB"]


def model_budget(counts: Mapping[float, int], n_min: int) -> float | None:
    """The budget BOHB builds its model on: the largest with at least ``n_min + 2`` results.

    Parameters
    ----------
    counts : mapping
        ``budget -> number of results`` at that budget.
    n_min : int
        The minimum number of points of a KDE (paper: ``d + 1``).

    Returns
    -------
    float or None
        That budget, or ``None`` if no budget has enough results yet (then BOHB
        samples at random).

    References
    ----------
    Falkner et al. (2018), Algorithm 2, line 3: ``b = argmax{D_b : |D_b| >= N_min + 2}``.
    """
    enough = [budget for budget, count in counts.items() if count >= n_min + 2]
    return max(enough) if enough else None


def good_bad_split(values: Sequence[float] | np.ndarray, n_min: int,
                   top_fraction: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    """BOHB's good and bad observations (eq. 2-3), which overlap when there are few.

    Parameters
    ----------
    values : sequence of float
        Results at one budget, in the order they arrived (lower is better).
    n_min : int
        Minimum size of each group.
    top_fraction : float
        The quantile ``q`` in (0, 1) of the good group (paper: 0.15).

    Returns
    -------
    good, bad : numpy.ndarray of int
        Indices into ``values``: the best ``N_l = max(n_min, floor(q N))`` and the worst
        ``N_g = max(n_min, N - N_l)``, each capped at ``N`` and sorted ascending. With
        ``N < N_l + N_g`` the middle observations are in both groups, so that each
        KDE has its ``n_min`` points.

    References
    ----------
    Falkner et al. (2018), eq. 2-3.
    """
    values = np.asarray(values, dtype=float)
    n = len(values)
    n_good = min(max(n_min, math.floor(top_fraction * n)), n)
    n_bad = min(max(n_min, n - n_good), n)
    good, _ = split_good_bad(values, lambda _: n_good)
    # the worst n_bad are the "best" of the negated values
    bad, _ = split_good_bad(-values, lambda _: n_bad)
    return good, bad


def _widened(estimator: ParzenEstimator, factor: float) -> ParzenEstimator:
    """A copy of ``estimator`` whose numeric kernels are ``factor`` times wider (BOHB's ``l'``).

    Categorical kernels are already smoothed towards uniform and stay as they are.
    """
    wide = copy.copy(estimator)
    wide.kernels = [(kind, spec) if kind == "cat" else (kind, (spec[0], spec[1] * factor))
                    for kind, spec in estimator.kernels]
    return wide


def _check_fraction(name: str, value: Any, *, closed_low: bool) -> float:
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and ((0.0 <= value < 1.0) if closed_low else (0.0 < value < 1.0))
    if not ok:
        interval = "[0, 1)" if closed_low else "(0, 1)"
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}")
    return float(value)


class BOHB(Hyperband):
    """BOHB (Falkner et al. 2018): Hyperband with model-based sampling.

    Parameters
    ----------
    space : SearchSpace
        Where to search (Float, Int, log scales, Categorical, conditional).
    max_budget : float
        The budget of every bracket's last rung.
    eta : int
        Reduction factor, >= 2.
    min_budget : float
        The smallest budget, ``0 < min_budget <= max_budget``.
    seed : int, optional
        Seed of the generator behind every random choice (random configurations,
        the random fraction, the candidates).
    n_iterations : int or None
        How often to run all brackets (``None``: forever, stop with
        ``max_total_budget``).
    random_fraction : float
        Probability ``rho`` in [0, 1) that a new configuration is random (paper: 1/3).
    top_fraction : float
        Quantile ``q`` in (0, 1) of the good group (paper: 0.15).
    n_samples : int
        Candidates ``N_s`` drawn from ``l'`` (paper: 64).
    bandwidth_factor : float
        ``b_w`` >= 1, how much wider ``l'`` is than ``l`` (paper: 3).
    min_points : int, optional
        ``N_min``; default ``d + 1`` with ``d = len(space)``.

    Attributes
    ----------
    origins : dict
        ``trial -> "model"`` or ``"random"``: where each configuration came from.

    Raises
    ------
    ValueError
        For any argument outside the ranges above.

    References
    ----------
    Falkner et al. (2018), Algorithm 2 and section 3 (default values in section 4).
    """

    def __init__(self, space: SearchSpace, max_budget: float, eta: int = 3,
                 min_budget: float = 1, seed: int | None = None, *,
                 n_iterations: int | None = 1, random_fraction: float = 1 / 3,
                 top_fraction: float = 0.15, n_samples: int = 64,
                 bandwidth_factor: float = 3.0, min_points: int | None = None) -> None:
        super().__init__(space, max_budget, eta, min_budget, seed, n_iterations=n_iterations)
        self.random_fraction = _check_fraction("random_fraction", random_fraction, closed_low=True)
        self.top_fraction = _check_fraction("top_fraction", top_fraction, closed_low=False)
        if isinstance(n_samples, bool) or not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive int, got {n_samples!r}")
        self.n_samples = int(n_samples)
        if (isinstance(bandwidth_factor, bool) or not isinstance(bandwidth_factor, Real)
                or not math.isfinite(bandwidth_factor) or bandwidth_factor < 1):
            raise ValueError(f"bandwidth_factor must be a number >= 1, got {bandwidth_factor!r}")
        self.bandwidth_factor = float(bandwidth_factor)
        if min_points is None:
            min_points = len(self.space) + 1
        if isinstance(min_points, bool) or not isinstance(min_points, Integral) or min_points < 1:
            raise ValueError(f"min_points must be a positive int or None, got {min_points!r}")
        self.min_points = int(min_points)
        self.origins: dict[int, str] = {}
        self._points: dict[float, list[np.ndarray]] = {}   # budget -> unit-cube configurations
        self._values: dict[float, list[float]] = {}        # budget -> their results

    def _model_configuration(self) -> dict[str, Any] | None:
        """Algorithm 2, lines 3-6; ``None`` while no budget has enough results."""
        budget = model_budget({b: len(v) for b, v in self._values.items()}, self.min_points)
        if budget is None:
            return None
        points = np.array(self._points[budget])
        good, bad = good_bad_split(self._values[budget], self.min_points, self.top_fraction)
        below = ParzenEstimator(self.space, points[good], bandwidth="scott")   # l(x)
        above = ParzenEstimator(self.space, points[bad], bandwidth="scott")    # g(x)
        u = _widened(below, self.bandwidth_factor).sample(self._rng, self.n_samples)
        configs = [self.space.from_unit(row) for row in u]
        active = np.array([[p.name in c for p in self.space] for c in configs])
        ratio = below.log_pdf(u, active) - above.log_pdf(u, active)
        return configs[int(np.argmax(ratio))]

    def sample_configuration(self) -> dict[str, Any]:
        """Algorithm 2: a random configuration with probability ``rho``, else the model's."""
        config = None
        if self._rng.random() >= self.random_fraction:
            config = self._model_configuration()
        self.origins[self._n_trials] = "random" if config is None else "model"
        return self.space.sample(self._rng) if config is None else config

    def tell(self, job: Job, value: float) -> None:
        super().tell(job, value)
        self._points.setdefault(job.budget, []).append(self.space.to_unit(job.config))
        self._values.setdefault(job.budget, []).append(float(value))
