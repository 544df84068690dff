"""Tree-structured Parzen Estimator (TPE): model where good and bad configurations lie.

Instead of modelling the objective ``p(y | x)`` like a Gaussian process, TPE models
the configurations: it splits the finished trials at a quantile of their values
into a *good* and a *bad* group and fits one density to each,

    l(x) = p(x | y in the good group),        g(x) = p(x | y in the bad group).

Bergstra et al. (2011, eq. 3-6) show that expected improvement is monotone in
``l(x) / g(x)``, so TPE proposes the candidate, among a few drawn from ``l``, that
maximises ``log l(x) - log g(x)``. One step of :class:`TPESampler` reads:

1. fewer than ``n_startup_trials`` results: sample from the prior (random search);
2. split the history into good and bad (:func:`split_good_bad`);
3. fit the Parzen estimators ``l`` on good and ``g`` on bad (:class:`ParzenEstimator`);
4. draw ``n_ei_candidates`` points from ``l``;
5. return the candidate with the largest ``log l - log g``.

All densities live in the unit cube of :meth:`SearchSpace.to_unit` (log scales are
already log there). Their ingredients, each a small function below, are the
components Watanabe (2023) found to matter:

* the split size (:func:`default_gamma`, :func:`good_count`);
* down-weighting old bad observations (:func:`ramp_weights`);
* a prior kernel with weight ``prior_weight / (n + prior_weight)``;
* the bandwidth: the neighbour-distance heuristic with "magic clip"
  (:func:`neighbour_bandwidths`) or Scott's rule (:func:`scott_bandwidths`);
* truncated Gaussian kernels on [0, 1] for numbers
  (:func:`truncated_normal_logpdf`), an integer's probability being the mass of its
  cell (:func:`truncated_normal_logmass`);
* smoothed categorical kernels (:func:`categorical_kernels`);
* univariate (independent per parameter, the 2011 algorithm) or multivariate
  (one product kernel per observation, Falkner et al. 2018) densities.

The "tree": a conditional parameter only enters the densities of the observations
where it is active. Univariate: each parameter's mixture is fitted on exactly those
observations. Multivariate: an observation where a parameter was inactive
contributes a *uniform* factor in that dimension, and a candidate where a parameter
is inactive skips that dimension for every kernel. Because parent values are
modelled too, this is a proper density over the tree-structured space (each
kernel integrates to 1 over every branch), so ``l / g`` compares candidates from
different branches fairly.

References
----------
J. Bergstra, R. Bardenet, Y. Bengio and B. Kégl, "Algorithms for Hyper-Parameter
Optimization", NeurIPS 2011 (section 4, eq. 3-6).

S. Watanabe, "Tree-structured Parzen estimator: understanding its algorithm
components and their roles for better empirical performance", arXiv:2304.11127,
2023 (section 3: splitting, weighting, KDE, bandwidth, prior, magic clip).

S. Falkner, A. Klein and F. Hutter, "BOHB: Robust and Efficient Hyperparameter
Optimization at Scale", ICML 2018 (multivariate product-kernel KDE).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
from scipy.special import logsumexp, ndtr, ndtri

from .sampler import Sampler, Trial
from .space import Categorical, Int, SearchSpace

__all__ = [
    "default_gamma", "good_count", "split_good_bad", "ramp_weights",
    "neighbour_bandwidths", "scott_bandwidths", "truncated_normal_logpdf",
    "truncated_normal_logmass", "truncated_normal_sample", "categorical_kernels",
    "ParzenEstimator", "TPESampler",
]

Gamma = float | Callable[[int], int] | None

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_TINY = 1e-300  # floor for probabilities before a log; the prior kernel keeps mixtures far above it


# ---------------------------------------------------------------------------------------
# 1. Splitting the history into good and bad
# ---------------------------------------------------------------------------------------
def default_gamma(n: int) -> int:
    """Number of good observations out of ``n``: ``min(ceil(n / 10), 25)``.

    The "linear" split with a cap, Optuna's default and Watanabe (2023, section 3.1)
    with beta = 0.1: the good group grows with ``n`` so ``l`` keeps learning, but
    never beyond 25 so it stays focused on the very best region.
    """
    return min(-(-n // 10), 25)


def good_count(n: int, gamma: Gamma = None) -> int:
    """How many of ``n`` observations go into the good group.

    Parameters
    ----------
    n : int
        Number of observations, ``n >= 0``.
    gamma : float, callable or None
        ``None``: :func:`default_gamma`. A float in (0, 1]: ``ceil(gamma * n)``.
        A callable ``n -> int``: its result.

    Returns
    -------
    int
        The count, clipped to ``[1, n]`` (so the good group is never empty when
        there is at least one observation), and 0 for ``n == 0``.

    Raises
    ------
    ValueError
        If ``gamma`` is a float outside (0, 1] or a callable returns a non-integer.
    """
    if n <= 0:
        return 0
    gamma = _check_gamma(gamma)
    if gamma is None:
        k = default_gamma(n)
    elif callable(gamma):
        k = gamma(n)
        if isinstance(k, bool) or not isinstance(k, Integral):
            raise ValueError(f"gamma(n) must return an int, got {k!r} for n={n}")
    else:
        # the small tolerance keeps e.g. 0.07 * 100 = 7.000000000000001 from rounding up to 8
        k = math.ceil(gamma * n - 1e-9)
    return int(min(max(k, 1), n))


def split_good_bad(values: Sequence[float] | np.ndarray,
                   gamma: Gamma = None) -> tuple[np.ndarray, np.ndarray]:
    """Split observations into the good (lowest values) and the bad group.

    Parameters
    ----------
    values : sequence of float
        Objective values in trial order (lower is better).
    gamma : float, callable or None
        Size of the good group, see :func:`good_count`.

    Returns
    -------
    good, bad : numpy.ndarray of int
        Indices into ``values``, each sorted ascending (trial order, which the
        weights of :func:`ramp_weights` rely on). ``len(good) == good_count(n,
        gamma)`` and every good value is <= every bad value. Ties are broken by
        trial order: among equal values the earlier trial is good.

    References
    ----------
    Bergstra et al. (2011), section 4: ``y*`` is the gamma-quantile of the values.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {values.shape}")
    if np.isnan(values).any():
        raise ValueError("values must not contain NaN")
    n_good = good_count(len(values), gamma)
    order = np.argsort(values, kind="stable")  # stable: ties keep trial order
    return np.sort(order[:n_good]), np.sort(order[n_good:])


def ramp_weights(n: int, n_flat: int = 25) -> np.ndarray:
    """Weights of ``n`` observations in trial order: old ones count less.

    The newest ``n_flat`` observations get weight 1; the older ones a linear ramp
    from ``1/n`` up to 1. With fewer than ``n_flat`` observations all weights are 1.
    Applied to the bad group it lets ``g`` forget the early random-search trials
    that no longer say much about where the search is now (Optuna's default
    weights; Watanabe 2023, section 3.2, "old decay").

    Returns
    -------
    numpy.ndarray
        Shape ``(n,)``, all positive.
    """
    if n < n_flat:
        return np.ones(n)
    return np.concatenate([np.linspace(1.0 / n, 1.0, n - n_flat), np.ones(n_flat)])


# ---------------------------------------------------------------------------------------
# 2. Kernels and bandwidths on the unit interval
# ---------------------------------------------------------------------------------------
def _magic_clip(sigmas: np.ndarray, n_observations: int) -> np.ndarray:
    """Keep bandwidths in ``[1 / min(100, n + 2), 1]``.

    The lower bound is Bergstra et al.'s "magic clip" (hyperopt; Watanabe 2023,
    section 3.4): with few observations no kernel may be narrower than about the
    average spacing ``1 / (n + 2)``, else ``l`` collapses onto single points and the
    search stops exploring.
    """
    return np.clip(sigmas, 1.0 / min(100.0, n_observations + 2.0), 1.0)


def neighbour_bandwidths(mus: np.ndarray) -> np.ndarray:
    """Univariate bandwidths from distances to neighbouring observations, magic-clipped.

    Sort the observations together with the interval ends 0 and 1; each kernel's
    bandwidth is the larger of its distances to its left and right neighbour. The two
    outermost observations ignore their distance to the interval end (so a point
    near 0 is not blown up by the empty region beyond it). Then
    :func:`_magic_clip`.

    Parameters
    ----------
    mus : numpy.ndarray
        Shape ``(n,)``, observations in [0, 1].

    Returns
    -------
    numpy.ndarray
        Shape ``(n,)``, in the order of ``mus``.

    References
    ----------
    Bergstra et al. (2011), section 4.2 (hyperopt's heuristic); Watanabe (2023),
    section 3.4 and its appendix on the "Optuna/hyperopt" bandwidth.
    """
    mus = np.asarray(mus, dtype=float)
    n = len(mus)
    if n == 0:
        return np.empty(0)
    order = np.argsort(mus, kind="stable")
    padded = np.concatenate([[0.0], mus[order], [1.0]])
    gaps = np.diff(padded)
    sigmas_sorted = np.maximum(gaps[:-1], gaps[1:])
    if n >= 2:
        sigmas_sorted[0] = gaps[1]
        sigmas_sorted[-1] = gaps[-2]
    sigmas = np.empty(n)
    sigmas[order] = sigmas_sorted
    return _magic_clip(sigmas, n)


def scott_bandwidths(points: np.ndarray, n_dims: int = 1) -> np.ndarray:
    """Scott's rule bandwidth, one per dimension, magic-clipped.

    ``h_d = 1.059 * s_d * n ** (-1 / (n_dims + 4))`` with the robust spread
    ``s_d = min(std_d, IQR_d / 1.349)`` (Scott 1992, eq. 6.42 for the product kernel;
    Watanabe 2023, section 3.4). Every kernel of a dimension shares its bandwidth.

    Parameters
    ----------
    points : numpy.ndarray
        Shape ``(n,)`` or ``(n, d)``: observations in [0, 1], one column per dimension.
    n_dims : int
        The dimension of the joint density the bandwidth is for (1 for univariate
        TPE, the number of parameters for multivariate TPE).

    Returns
    -------
    numpy.ndarray
        Shape ``(d,)`` (or a scalar array for 1-D input).
    """
    points = np.asarray(points, dtype=float)
    one_d = points.ndim == 1
    points = points.reshape(len(points), -1)
    n = len(points)
    if n == 0:
        return np.ones(()) if one_d else np.ones(points.shape[1])
    std = points.std(axis=0, ddof=1) if n > 1 else np.zeros(points.shape[1])
    iqr = np.subtract(*np.percentile(points, [75, 25], axis=0))
    spread = np.where(iqr > 0, np.minimum(std, iqr / 1.349), std)
    h = _magic_clip(1.059 * spread * n ** (-1.0 / (n_dims + 4)), n)
    return h[0] if one_d else h


def _log_normaliser(mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Log of the Gaussian's mass on [0, 1]; with ``mu`` in [0, 1] it is at least about log(1/2)."""
    return np.log(ndtr((1.0 - mu) / sigma) - ndtr(-mu / sigma))


def truncated_normal_logpdf(x: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Log density on [0, 1] of ``N(mu, sigma^2)`` truncated to [0, 1].

    Broadcasts: ``x`` of shape ``(m, 1)`` against ``mu, sigma`` of shape ``(K,)``
    gives the ``(m, K)`` matrix of every point under every kernel.
    """
    z = (x - mu) / sigma
    return -0.5 * z * z - _LOG_SQRT_2PI - np.log(sigma) - _log_normaliser(mu, sigma)


def truncated_normal_logmass(a: np.ndarray, b: np.ndarray, mu: np.ndarray,
                             sigma: np.ndarray) -> np.ndarray:
    """Log probability of the cell ``[a, b]`` under ``N(mu, sigma^2)`` truncated to [0, 1].

    This is how an integer is scored: the probability that sampling from the kernel
    and rounding (what :meth:`Int.from_unit` does) yields that integer. Broadcasts like
    :func:`truncated_normal_logpdf`.
    """
    za, zb = (a - mu) / sigma, (b - mu) / sigma
    # subtract CDFs in the tail where they are small, so the difference keeps its digits
    upper = za > 0
    mass = np.where(upper, ndtr(-za) - ndtr(-zb), ndtr(zb) - ndtr(za))
    return np.log(np.maximum(mass, _TINY)) - _log_normaliser(mu, sigma)


def truncated_normal_sample(rng: np.random.Generator, mu: np.ndarray,
                            sigma: np.ndarray) -> np.ndarray:
    """One draw from each ``N(mu_i, sigma_i^2)`` truncated to [0, 1] (inverse CDF)."""
    lo, hi = ndtr(-mu / sigma), ndtr((1.0 - mu) / sigma)
    u = lo + rng.random(np.shape(mu)) * (hi - lo)
    return np.clip(mu + sigma * ndtri(u), 0.0, 1.0)


def categorical_kernels(observed: np.ndarray, n_choices: int,
                        prior_weight: float = 1.0) -> np.ndarray:
    """Smoothed categorical kernels: one probability row per observation, plus the prior.

    Observation ``i`` that took choice ``c_i`` gets the row proportional to
    ``onehot(c_i) + prior_weight / (n + 1)`` with ``n`` the number of observations
    where the parameter is active (count plus a uniform pseudo-count: an
    Aitchison-Aitken kernel whose smoothing shrinks as observations accumulate);
    the last row, the prior, is uniform. ``observed`` may hold ``-1`` for an
    observation where the parameter was inactive: its row is uniform too.

    Returns
    -------
    numpy.ndarray
        Shape ``(n + 1, n_choices)``, every row sums to 1.

    References
    ----------
    Watanabe (2023), section 3.3 (categorical kernels); Aitchison and Aitken,
    Biometrika 63 (1976).
    """
    observed = np.asarray(observed, dtype=int)
    active = observed >= 0
    rows = np.full((len(observed) + 1, n_choices), prior_weight / (active.sum() + 1))
    rows[np.flatnonzero(active), observed[active]] += 1.0
    return rows / rows.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------------------------------
# 3. The Parzen estimator over a whole (possibly conditional) space
# ---------------------------------------------------------------------------------------
def _int_cells(param: Int, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit-interval edges of the integer cells that the points ``u`` fall into."""
    f = np.log if param.log else (lambda v: np.asarray(v, dtype=float))
    lo, hi = f(param.low - 0.5), f(param.high + 0.5)
    x = lo + np.clip(u, 0.0, 1.0) * (hi - lo)
    value = np.exp(x) if param.log else x
    k = np.clip(np.floor(value + 0.5), param.low, param.high)  # the rounding of Int.from_unit
    return (f(k - 0.5) - lo) / (hi - lo), (f(k + 0.5) - lo) / (hi - lo)


class ParzenEstimator:
    """Mixture of one kernel per observation plus a prior kernel, in the unit cube.

    Parameters
    ----------
    space : SearchSpace
        Gives each coordinate's kind (Float, Int, Categorical).
    points : numpy.ndarray
        Shape ``(n, d)``: observations as from :meth:`SearchSpace.to_unit`, NaN where
        a parameter was inactive.
    weights : numpy.ndarray, optional
        Shape ``(n,)``, non-negative observation weights (default: all 1).
    multivariate : bool
        ``True``: ``p(x) = sum_i w_i prod_d k_d(x_d | x_i)``, one product kernel per
        observation (Falkner et al. 2018). ``False``: ``p(x) = prod_d p_d(x_d)`` with
        each ``p_d`` a 1-D mixture over the observations where ``d`` is active
        (Bergstra et al. 2011).
    bandwidth : {"neighbour", "scott"}
        :func:`neighbour_bandwidths` (per kernel) or :func:`scott_bandwidths` (per
        dimension; with ``n_dims = d`` when multivariate).
    prior_weight : float
        Weight of the prior kernel relative to one observation of weight 1. The prior
        is ``N(0.5, 1)`` truncated to [0, 1] (nearly flat) for numbers and uniform for
        categories.

    Notes
    -----
    Per kernel and dimension: a Float is a truncated Gaussian density, an Int the
    mass of its cell under that Gaussian (:func:`truncated_normal_logmass`), a
    Categorical a row of :func:`categorical_kernels`. Where an observation's
    parameter was inactive its factor is uniform (see the module docstring).
    """

    def __init__(self, space: SearchSpace, points: np.ndarray, weights: np.ndarray | None = None,
                 *, multivariate: bool = True, bandwidth: str = "neighbour",
                 prior_weight: float = 1.0) -> None:
        points = np.asarray(points, dtype=float).reshape(-1, len(space))
        n = len(points)
        weights = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
        if weights.shape != (n,) or (weights < 0).any():
            raise ValueError(f"weights must be {n} non-negative numbers, got {weights!r}")
        if bandwidth not in ("neighbour", "scott"):
            raise ValueError(f"bandwidth must be 'neighbour' or 'scott', got {bandwidth!r}")
        self.params = list(space)
        self.multivariate = multivariate
        active = ~np.isnan(points)                       # (n, d)
        self.active = np.vstack([active, np.ones((1, len(space)), bool)])  # prior always "active"

        # kernel weights: a shared vector (multivariate) or one per dimension (univariate),
        # the prior last; inactive observations drop out of a univariate mixture
        w = np.append(weights, prior_weight)
        with np.errstate(divide="ignore"):  # a zero weight is a kernel with log-weight -inf
            if multivariate:
                self.log_w = np.log(w / w.sum())
            else:
                w_d = w[None, :] * self.active.T          # (d, n + 1)
                self.log_w = np.log(w_d / w_d.sum(axis=1, keepdims=True))

        n_numeric = sum(not isinstance(p, Categorical) for p in self.params)
        self.kernels: list[tuple[str, Any]] = []
        for j, param in enumerate(self.params):
            col = points[:, j]
            on = active[:, j]
            if isinstance(param, Categorical):
                idx = np.where(on, np.floor(np.nan_to_num(col) * len(param.choices)), -1)
                idx = np.minimum(idx, len(param.choices) - 1).astype(int)
                probs = categorical_kernels(idx, len(param.choices), prior_weight)
                self.kernels.append(("cat", probs))
                continue
            mus = np.where(on, col, 0.5)
            sigmas = np.ones(n)
            if on.any():
                if bandwidth == "neighbour":
                    sigmas[on] = neighbour_bandwidths(col[on])
                else:
                    sigmas[on] = scott_bandwidths(col[on], n_numeric if multivariate else 1)
            mus, sigmas = np.append(mus, 0.5), np.append(sigmas, 1.0)
            self.kernels.append(("int" if isinstance(param, Int) else "float", (mus, sigmas)))

    @property
    def n_kernels(self) -> int:
        return self.active.shape[0]

    def _kernel_logpdf(self, j: int, u: np.ndarray) -> np.ndarray:
        """``(m, K)``: log density of coordinate ``j`` of each point under each kernel."""
        kind, spec = self.kernels[j]
        col = u[:, j][:, None]
        if kind == "cat":
            idx = np.minimum(np.floor(u[:, j] * spec.shape[1]), spec.shape[1] - 1).astype(int)
            return np.log(spec[:, idx].T)
        mus, sigmas = spec
        if kind == "float":
            logk = truncated_normal_logpdf(col, mus, sigmas)
            log_uniform = np.zeros_like(col)
        else:
            a, b = _int_cells(self.params[j], u[:, j])
            a, b = a[:, None], b[:, None]
            logk = truncated_normal_logmass(a, b, mus, sigmas)
            log_uniform = np.log(b - a)
        # an observation without this parameter contributes a uniform factor
        return np.where(self.active[:, j], logk, log_uniform)

    def log_pdf(self, u: np.ndarray, active: np.ndarray | None = None) -> np.ndarray:
        """Log density of points of the unit cube.

        Parameters
        ----------
        u : numpy.ndarray
            Shape ``(m, d)``; coordinates of inactive parameters are ignored.
        active : numpy.ndarray of bool, optional
            Shape ``(m, d)``: which parameters each point has (default: all).

        Returns
        -------
        numpy.ndarray
            Shape ``(m,)``. For Int coordinates the factor is a probability (cell
            mass), for Categorical ones a probability, for Float ones a density.
        """
        u = np.atleast_2d(np.asarray(u, dtype=float))
        active = np.ones(u.shape, bool) if active is None else np.asarray(active, bool)
        u = np.where(active, u, 0.5)  # placeholders; their terms are masked out below
        if self.multivariate:
            total = np.zeros((len(u), self.n_kernels))
            for j in range(len(self.params)):
                total += np.where(active[:, j][:, None], self._kernel_logpdf(j, u), 0.0)
            return logsumexp(total + self.log_w, axis=1)
        out = np.zeros(len(u))
        for j in range(len(self.params)):
            marginal = logsumexp(self._kernel_logpdf(j, u) + self.log_w[j], axis=1)
            out += np.where(active[:, j], marginal, 0.0)
        return out

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Draw ``size`` points, shape ``(size, d)``, inside [0, 1].

        Multivariate: pick one kernel per point, then every coordinate from it.
        Univariate: pick a kernel per point and per coordinate. Categorical
        coordinates come back as cell centres ``(index + 0.5) / n_choices``.
        """
        out = np.empty((size, len(self.params)))
        if self.multivariate:
            shared = rng.choice(self.n_kernels, size=size, p=np.exp(self.log_w))
        for j, (kind, spec) in enumerate(self.kernels):
            k = shared if self.multivariate else rng.choice(
                self.n_kernels, size=size, p=np.exp(self.log_w[j]))
            if kind == "cat":
                cdf = np.cumsum(spec[k], axis=1)
                idx = np.minimum((cdf < rng.random(size)[:, None]).sum(axis=1), spec.shape[1] - 1)
                out[:, j] = (idx + 0.5) / spec.shape[1]
            else:
                mus, sigmas = spec
                draw = truncated_normal_sample(rng, mus[k], sigmas[k])
                uniform = rng.random(size)
                out[:, j] = np.where(self.active[k, j], draw, uniform)
        return out


# ---------------------------------------------------------------------------------------
# 4. The sampler
# ---------------------------------------------------------------------------------------
def _check_gamma(gamma: Any) -> Gamma:
    if gamma is None or callable(gamma):
        return gamma
    if isinstance(gamma, bool) or not isinstance(gamma, Real) or not 0.0 < gamma <= 1.0:
        raise ValueError(f"gamma must be a float in (0, 1], a callable n -> n_good or None, "
                         f"got {gamma!r}")
    return float(gamma)


def _check_count(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        kind = "a positive" if minimum == 1 else "a non-negative"
        raise ValueError(f"{name} must be {kind} int, got {value!r}")
    return int(value)


class TPESampler(Sampler):
    """Tree-structured Parzen Estimator (Bergstra et al. 2011, Watanabe 2023).

    Parameters
    ----------
    gamma : float, callable or None
        Size of the good group: ``None`` for :func:`default_gamma`
        (``min(ceil(0.1 n), 25)``), a float in (0, 1] for ``ceil(gamma * n)``, or a
        callable ``n -> n_good``. See :func:`good_count`.
    n_startup_trials : int
        Random configurations (from the prior) before the model takes over; 0 is
        allowed, the very first proposal then still comes from the prior.
    n_ei_candidates : int
        Candidates drawn from ``l(x)`` per proposal; more means greedier.
    multivariate : bool
        Joint product-kernel densities (default; what Optuna uses) or independent
        per-parameter densities (the 2011 algorithm).
    bandwidth : {"neighbour", "scott"}
        Bandwidth rule, see :class:`ParzenEstimator`.
    prior_weight : float
        Weight of the prior kernel, > 0.
    ramp : bool
        Down-weight old bad observations with :func:`ramp_weights` (good ones are
        always weighted uniformly).
    seed : int, optional
        Seed of the sampler's generator; same seed => same run.

    Attributes
    ----------
    candidates_ : list of dict
        The candidates of the last model-based proposal (empty during start-up).
    scores_ : numpy.ndarray
        Their ``log l(x) - log g(x)``; :meth:`ask` returned the argmax.

    Raises
    ------
    ValueError
        For any argument outside the ranges above.

    References
    ----------
    Bergstra et al. (2011), section 4 and eq. 6 (EI proportional to ``l/g``);
    Watanabe (2023), Algorithm 1.
    """

    def __init__(self, gamma: Gamma = None, n_startup_trials: int = 10,
                 n_ei_candidates: int = 24, multivariate: bool = True,
                 seed: int | None = None, *, bandwidth: str = "neighbour",
                 prior_weight: float = 1.0, ramp: bool = True) -> None:
        self.gamma = _check_gamma(gamma)
        self.n_startup_trials = _check_count("n_startup_trials", n_startup_trials, 0)
        self.n_ei_candidates = _check_count("n_ei_candidates", n_ei_candidates, 1)
        if not isinstance(multivariate, (bool, np.bool_)):
            raise ValueError(f"multivariate must be a bool, got {multivariate!r}")
        if bandwidth not in ("neighbour", "scott"):
            raise ValueError(f"bandwidth must be 'neighbour' or 'scott', got {bandwidth!r}")
        if (isinstance(prior_weight, bool) or not isinstance(prior_weight, Real)
                or not math.isfinite(prior_weight) or prior_weight <= 0):
            raise ValueError(f"prior_weight must be a positive finite number, got {prior_weight!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, Integral)):
            raise ValueError(f"seed must be an int or None, got {seed!r}")
        self.multivariate = bool(multivariate)
        self.bandwidth = bandwidth
        self.prior_weight = float(prior_weight)
        self.ramp = bool(ramp)
        self.seed = seed
        self._rng: np.random.Generator | None = None
        self._space: SearchSpace | None = None
        self._units: list[tuple[Trial, np.ndarray]] = []  # to_unit of past trials, computed once
        self.candidates_: list[dict[str, Any]] = []
        self.scores_ = np.empty(0)

    def _unit_history(self, space: SearchSpace, history: Sequence[Trial]) -> np.ndarray:
        if self._space is not space:
            self._space, self._units = space, []
        for i, trial in enumerate(history):
            if i < len(self._units) and self._units[i][0] is trial:
                continue
            del self._units[i:]
            self._units.append((trial, space.to_unit(trial.params)))
        del self._units[len(history):]
        return np.array([u for _, u in self._units]).reshape(len(history), len(space))

    def ask(self, space: SearchSpace, history: Sequence[Trial]) -> dict[str, Any]:
        if self._rng is None:
            self._rng = np.random.default_rng(self.seed)
        # 1. start-up: random search from the prior
        if len(history) < max(self.n_startup_trials, 1):
            self.candidates_, self.scores_ = [], np.empty(0)
            return space.sample(self._rng)

        # 2. split at the gamma-quantile
        points = self._unit_history(space, history)
        good, bad = split_good_bad([t.value for t in history], self.gamma)

        # 3. l(x) on the good, g(x) on the bad observations
        options = dict(multivariate=self.multivariate, bandwidth=self.bandwidth,
                       prior_weight=self.prior_weight)
        bad_weights = ramp_weights(len(bad)) if self.ramp else None
        below = ParzenEstimator(space, points[good], None, **options)
        above = ParzenEstimator(space, points[bad], bad_weights, **options)

        # 4. candidates from l(x); which parameters each has depends on its sampled parents
        u = below.sample(self._rng, self.n_ei_candidates)
        configs = [space.from_unit(row) for row in u]
        active = np.array([[p.name in c for p in space] for c in configs])

        # 5. the candidate with the largest l/g, i.e. the largest expected improvement
        self.scores_ = below.log_pdf(u, active) - above.log_pdf(u, active)
        self.candidates_ = configs
        return dict(configs[int(np.argmax(self.scores_))])
