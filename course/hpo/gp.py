"""Bayesian optimisation with a Gaussian process (GP-BO).

The loop of Bayesian optimisation (Brochu, Cora and de Freitas 2010; Shahriari et al.
2016) after ``n_startup_trials`` random configurations is, for every new trial:

1. encode the finished trials as points of the unit cube and standardise their values;
2. fit a GP with a Matern 5/2 ARD kernel to them, choosing the kernel's
   hyperparameters by maximising the log marginal likelihood (plus a weak prior);
3. propose the configuration that maximises an acquisition function of the GP's
   posterior mean and standard deviation -- expected improvement by default.

References
----------
C. E. Rasmussen and C. K. I. Williams, *Gaussian Processes for Machine Learning*,
MIT Press (2006): Algorithm 2.1 (posterior via Cholesky), eqs. 2.25/2.26 (posterior
mean and variance), eq. 2.30 (log marginal likelihood), eq. 5.9 (its gradient),
eq. 4.17 (the Matern 5/2 kernel).

J. Mockus, V. Tiesis and A. Zilinskas, "The application of Bayesian methods for
seeking the extremum", Towards Global Optimization 2 (1978); D. R. Jones, M. Schonlau
and W. J. Welch, "Efficient global optimization of expensive black-box functions",
J. Global Optimization 13 (1998), eq. 15: expected improvement.

H. J. Kushner, "A new method of locating the maximum point of an arbitrary multipeak
curve in the presence of noise", J. Basic Engineering 86 (1964): probability of
improvement. N. Srinivas, A. Krause, S. Kakade and M. Seeger, "Gaussian process
optimization in the bandit setting", ICML (2010): confidence bounds.

S. Ament, S. Daulton, D. Eriksson, M. Balandat and E. Bakshy, "Unexpected improvements
to expected improvement for Bayesian optimization", NeurIPS (2023): optimise log EI,
computed without underflow.

M. Balandat et al., "BoTorch: a framework for efficient Monte-Carlo Bayesian
optimization", NeurIPS (2020): the Gamma(3, 6) lengthscale prior and the Boltzmann
choice of the starting points of the acquisition's local optimisation.

C. Hvarfner, E. O. Hellsten and L. Nardi, "Vanilla Bayesian optimization performs
great in high dimensions", ICML (2024): the alternative lengthscale prior we tried.

J. Snoek, H. Larochelle and R. P. Adams, "Practical Bayesian optimization of machine
learning algorithms", NeurIPS (2012): Matern 5/2 ARD kernel for hyperparameter search.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
from scipy.linalg import cho_solve, cholesky, solve_triangular
from scipy.optimize import minimize as scipy_minimize
from scipy.special import erfcx, log_ndtr, ndtr

from .sampler import Sampler, Trial
from .space import Categorical, Int, SearchSpace

__all__ = [
    "matern52_kernel", "log_marginal_likelihood", "fit_hyperparameters", "GaussianProcess",
    "expected_improvement", "log_expected_improvement", "probability_of_improvement",
    "lower_confidence_bound", "GPSampler",
]

_SQRT5 = math.sqrt(5.0)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)

# Bounds of the hyperparameters. Inputs live in [0, 1]^d and outputs are standardised,
# so lengthscales far outside [0.01, 100] and signal variances far from 1 are never useful.
_LENGTHSCALE_BOUNDS = (1e-2, 1e2)
_SIGNAL_VAR_BOUNDS = (1e-2, 1e2)
# The noise floor doubles as the Cholesky jitter: even a noiseless objective gets 1e-6,
# which keeps K well conditioned when two trials are (nearly) the same configuration.
_NOISE_VAR_BOUNDS = (1e-6, 1.0)


# ---------------------------------------------------------------------------------------
# 1. The kernel
# ---------------------------------------------------------------------------------------
def _matern52(r: np.ndarray) -> np.ndarray:
    """Matern 5/2 correlation of scaled distances ``r`` (R&W eq. 4.17 with nu = 5/2)."""
    s = _SQRT5 * r
    return (1.0 + s + s * s / 3.0) * np.exp(-s)


def _sq_dist(A: np.ndarray, B: np.ndarray, inv_l2: np.ndarray, categorical: np.ndarray) -> np.ndarray:
    """Scaled squared distances ``sum_j d_j(a, b)^2 / l_j^2`` between the rows of A and B.

    A numeric coordinate contributes ``(a_j - b_j)^2``; a categorical one (stored as a
    choice index) contributes 1 if the choices differ, else 0 -- every pair of distinct
    choices is equally far apart, as no order between them is assumed.
    """
    num = ~categorical
    An = A[:, num] * np.sqrt(inv_l2[num])
    Bn = B[:, num] * np.sqrt(inv_l2[num])
    # |a - b|^2 = |a|^2 + |b|^2 - 2 a.b turns the pairwise loop into one matrix product
    r2 = (An * An).sum(1)[:, None] + (Bn * Bn).sum(1)[None, :] - 2.0 * An @ Bn.T
    for j in np.flatnonzero(categorical):
        r2 += (A[:, j][:, None] != B[:, j][None, :]) * inv_l2[j]
    return np.maximum(r2, 0.0)


def _raw_sq_diffs(X: np.ndarray, categorical: np.ndarray) -> np.ndarray:
    """Per-coordinate unscaled squared differences, shape (n, n, d), for the gradient."""
    diff = X[:, None, :] - X[None, :, :]
    d2 = diff * diff
    d2[..., categorical] = (d2[..., categorical] > 0).astype(float)
    return d2


def matern52_kernel(A: np.ndarray, B: np.ndarray, lengthscales: np.ndarray, signal_var: float,
                    categorical: np.ndarray | None = None) -> np.ndarray:
    """The Matern 5/2 ARD covariance matrix ``k(a_i, b_j)``.

    Parameters
    ----------
    A, B : ndarray of shape (n, d) and (m, d)
        Points; categorical coordinates hold choice indices.
    lengthscales : ndarray of shape (d,)
        One lengthscale per coordinate (automatic relevance determination).
    signal_var : float
        The prior variance ``k(x, x)``.
    categorical : ndarray of bool, shape (d,), optional
        Which coordinates are categorical (compared by equality only).

    Returns
    -------
    ndarray of shape (n, m)

    References
    ----------
    Rasmussen and Williams (2006), eq. 4.17 with nu = 5/2.
    """
    A, B = np.atleast_2d(np.asarray(A, float)), np.atleast_2d(np.asarray(B, float))
    lengthscales = np.asarray(lengthscales, float)
    categorical = np.zeros(A.shape[1], bool) if categorical is None else np.asarray(categorical, bool)
    return signal_var * _matern52(np.sqrt(_sq_dist(A, B, 1.0 / lengthscales**2, categorical)))


def _cholesky(K: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of K, adding jitter to the diagonal only if it is needed."""
    jitter = 0.0
    for _ in range(6):
        try:
            return cholesky(K + jitter * np.eye(len(K)), lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            jitter = max(10.0 * jitter, 1e-8 * float(np.mean(np.diag(K))))
    raise np.linalg.LinAlgError("the kernel matrix is not positive definite even with jitter")


# ---------------------------------------------------------------------------------------
# 2. Hyperparameters: maximise the log marginal likelihood
# ---------------------------------------------------------------------------------------
# Priors (all on the log-hyperparameters, which L-BFGS-B optimises):
#   lengthscale l ~ Gamma(3, 6), the long-time BoTorch default for inputs in [0, 1]^d
#     (mean 0.5, mode 1/3); it keeps l in about [0.05, 2]. A lengthscale beyond ~2 makes a
#     coordinate look irrelevant, and with few trials that is usually a wrong and sticky
#     conclusion: on Hartmann-6 the dimension-scaled prior of Hvarfner et al. (2024) let
#     the fit switch off dimensions after 10 trials and the search then stalled.
#   signal variance log s2 ~ N(0, 1): the outputs are standardised, so s2 is near 1.
#   noise variance log sn2 ~ N(log 1e-4, 3^2): hyperparameter searches are often (almost)
#     deterministic, but the noise must stay free to absorb what the kernel cannot fit.
_LENGTHSCALE_GAMMA = (3.0, 6.0)
_LOG_VAR_PRIOR_MEAN = np.array([0.0, math.log(1e-4)])
_LOG_VAR_PRIOR_SD = np.array([1.0, 3.0])


def _log_prior(theta: np.ndarray) -> tuple[float, np.ndarray]:
    """Log prior density of ``theta`` (up to a constant) and its gradient."""
    shape, rate = _LENGTHSCALE_GAMMA
    log_l = theta[:-2]
    l = np.exp(log_l)
    # the density of log l for l ~ Gamma(a, b) is prop. to l^a exp(-b l) (Jacobian l included)
    value = np.sum(shape * log_l - rate * l)
    grad_l = shape - rate * l
    z = (theta[-2:] - _LOG_VAR_PRIOR_MEAN) / _LOG_VAR_PRIOR_SD
    value -= 0.5 * np.sum(z * z)
    return float(value), np.concatenate([grad_l, -z / _LOG_VAR_PRIOR_SD])


def _unpack(theta: np.ndarray) -> tuple[np.ndarray, float, float]:
    return np.exp(theta[:-2]), float(np.exp(theta[-2])), float(np.exp(theta[-1]))


def _lml_and_grad(theta: np.ndarray, raw_d2: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Log marginal likelihood (R&W eq. 2.30) and its gradient in ``theta`` (eq. 5.9).

    ``theta = [log l_1..log l_d, log s2, log sn2]``; ``raw_d2`` from :func:`_raw_sq_diffs`.
    """
    lengthscales, signal_var, noise_var = _unpack(theta)
    n = len(y)
    inv_l2 = 1.0 / lengthscales**2
    r = np.sqrt(raw_d2 @ inv_l2)
    s = _SQRT5 * r
    e = np.exp(-s)
    K_f = signal_var * (1.0 + s + s * s / 3.0) * e
    L = _cholesky(K_f + noise_var * np.eye(n))
    alpha = cho_solve((L, True), y, check_finite=False)
    lml = -0.5 * y @ alpha - np.sum(np.log(np.diag(L))) - n * _LOG_SQRT_2PI

    # eq. 5.9: d lml / d theta_j = 1/2 tr((alpha alpha^T - K^-1) dK/dtheta_j)
    W = np.outer(alpha, alpha) - cho_solve((L, True), np.eye(n), check_finite=False)
    # Matern 5/2: dk/d log l_j = s2 * 5/3 (1 + sqrt5 r) exp(-sqrt5 r) * d_j^2 / l_j^2,
    # which has no 1/r and so is exact at r = 0 (the diagonal)
    G = W * (signal_var * 5.0 / 3.0 * (1.0 + s) * e)
    grad_l = 0.5 * (G.reshape(-1) @ raw_d2.reshape(n * n, -1)) * inv_l2
    grad_s2 = 0.5 * np.sum(W * K_f)
    grad_noise = 0.5 * noise_var * np.trace(W)
    return float(lml), np.concatenate([grad_l, [grad_s2, grad_noise]])


def _theta(lengthscales, signal_var, noise_var, d) -> np.ndarray:
    lengthscales = np.broadcast_to(np.asarray(lengthscales, float), (d,))
    return np.log(np.concatenate([lengthscales, [signal_var, noise_var]]))


def log_marginal_likelihood(X: np.ndarray, y: np.ndarray, lengthscales: np.ndarray,
                            signal_var: float, noise_var: float,
                            categorical: np.ndarray | None = None) -> float:
    """``log p(y | X, hyperparameters)`` of a zero-mean GP with a Matern 5/2 kernel.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    y : ndarray of shape (n,)
    lengthscales, signal_var, noise_var
        The kernel's hyperparameters.
    categorical : ndarray of bool, shape (d,), optional
        Which coordinates are categorical.

    Returns
    -------
    float

    References
    ----------
    Rasmussen and Williams (2006), eq. 2.30 and Algorithm 2.1, line 7.
    """
    X, y = np.atleast_2d(np.asarray(X, float)), np.asarray(y, float)
    categorical = np.zeros(X.shape[1], bool) if categorical is None else np.asarray(categorical, bool)
    theta = _theta(lengthscales, signal_var, noise_var, X.shape[1])
    return _lml_and_grad(theta, _raw_sq_diffs(X, categorical), y)[0]


def fit_hyperparameters(X: np.ndarray, y: np.ndarray, categorical: np.ndarray | None = None, *,
                        init: dict[str, Any] | None = None, n_restarts: int = 0,
                        rng: np.random.Generator | None = None,
                        use_prior: bool = True) -> dict[str, Any]:
    """Kernel hyperparameters that maximise the log marginal likelihood (+ log prior).

    L-BFGS-B on the logarithms of the lengthscales, the signal and the noise variance,
    with the analytic gradient, from the default start (every lengthscale 0.5, signal
    variance 1, noise variance 1e-3), from ``init`` if given (the previous trial's fit:
    a warm start) and from ``n_restarts`` draws of the prior; the best optimum wins.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Inputs in the unit cube (categorical coordinates: choice indices).
    y : ndarray of shape (n,)
        Outputs, ideally standardised (the bounds and priors assume it).
    categorical : ndarray of bool, shape (d,), optional
        Which coordinates are categorical.
    init : dict, optional
        A start point with keys ``lengthscales``, ``signal_var``, ``noise_var``.
    n_restarts : int
        Extra starts drawn from the prior (needs ``rng``).
    rng : numpy.random.Generator, optional
        Source of the restarts.
    use_prior : bool
        Add the weak priors described above :func:`_log_prior` (a MAP estimate) or not
        (maximum likelihood type II).

    Returns
    -------
    dict
        ``lengthscales`` (ndarray), ``signal_var``, ``noise_var`` and ``objective`` (the
        maximised log marginal likelihood, plus the log prior if ``use_prior``).

    References
    ----------
    Rasmussen and Williams (2006), section 5.4.1, eqs. 2.30 and 5.9.
    """
    X, y = np.atleast_2d(np.asarray(X, float)), np.asarray(y, float)
    n, d = X.shape
    categorical = np.zeros(d, bool) if categorical is None else np.asarray(categorical, bool)
    raw_d2 = _raw_sq_diffs(X, categorical)

    def negative_objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        try:
            value, grad = _lml_and_grad(theta, raw_d2, y)
        except np.linalg.LinAlgError:
            return 1e10, np.zeros_like(theta)
        if use_prior:
            prior, prior_grad = _log_prior(theta)
            value, grad = value + prior, grad + prior_grad
        return -value, -grad

    bounds = ([np.log(_LENGTHSCALE_BOUNDS)] * d + [np.log(_SIGNAL_VAR_BOUNDS), np.log(_NOISE_VAR_BOUNDS)])
    lower, upper = np.array(bounds).T
    starts = [_theta(0.5, 1.0, 1e-3, d)]
    if init is not None:
        starts.append(np.clip(_theta(init["lengthscales"], init["signal_var"], init["noise_var"], d),
                              lower, upper))
    if n_restarts:
        rng = np.random.default_rng() if rng is None else rng
        for _ in range(n_restarts):
            shape, rate = _LENGTHSCALE_GAMMA
            draw = np.concatenate([np.log(rng.gamma(shape, 1.0 / rate, d)),
                                   rng.normal(_LOG_VAR_PRIOR_MEAN, _LOG_VAR_PRIOR_SD)])
            starts.append(np.clip(draw, lower, upper))

    best_theta, best_value = starts[0], math.inf
    for start in starts:
        result = scipy_minimize(negative_objective, start, jac=True, method="L-BFGS-B",
                                bounds=bounds, options={"maxiter": 200})
        if result.fun < best_value:
            best_theta, best_value = result.x, float(result.fun)
    lengthscales, signal_var, noise_var = _unpack(best_theta)
    return {"lengthscales": lengthscales, "signal_var": signal_var, "noise_var": noise_var,
            "objective": -best_value}


# ---------------------------------------------------------------------------------------
# 3. The posterior
# ---------------------------------------------------------------------------------------
class GaussianProcess:
    """A zero-mean GP regressor with a Matern 5/2 ARD kernel, conditioned on (X, y).

    The Cholesky factor of ``K + noise I`` is computed once here (R&W Algorithm 2.1,
    lines 2-3) and reused by every :meth:`predict`.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Training inputs (categorical coordinates: choice indices).
    y : ndarray of shape (n,)
        Training outputs.
    lengthscales : ndarray of shape (d,) or float
    signal_var : float
    noise_var : float
        The kernel's hyperparameters (see :func:`fit_hyperparameters`).
    categorical : ndarray of bool, shape (d,), optional
        Which coordinates are categorical.

    References
    ----------
    Rasmussen and Williams (2006), Algorithm 2.1, eqs. 2.25 and 2.26.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, lengthscales: np.ndarray | float,
                 signal_var: float, noise_var: float,
                 categorical: np.ndarray | None = None) -> None:
        self.X = np.atleast_2d(np.asarray(X, float))
        self.y = np.asarray(y, float)
        n, d = self.X.shape
        if self.y.shape != (n,):
            raise ValueError(f"y must have shape ({n},) to match X, got {self.y.shape}")
        self.lengthscales = np.broadcast_to(np.asarray(lengthscales, float), (d,)).copy()
        self.signal_var, self.noise_var = float(signal_var), float(noise_var)
        self.categorical = np.zeros(d, bool) if categorical is None else np.asarray(categorical, bool)
        self._inv_l2 = 1.0 / self.lengthscales**2
        K = self.kernel(self.X, self.X) + self.noise_var * np.eye(n)
        self.L = _cholesky(K)
        self.alpha = cho_solve((self.L, True), self.y, check_finite=False)

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, categorical: np.ndarray | None = None,
            **kwargs: Any) -> GaussianProcess:
        """Fit the hyperparameters (:func:`fit_hyperparameters`, same keywords), then condition.

        Examples
        --------
        >>> X = np.linspace(0, 1, 8)[:, None]
        >>> gp = GaussianProcess.fit(X, np.sin(6 * X[:, 0]))
        >>> mean, var = gp.predict(X)
        >>> bool(np.allclose(mean, np.sin(6 * X[:, 0]), atol=1e-2))
        True
        """
        params = fit_hyperparameters(X, y, categorical, **kwargs)
        return cls(X, y, params["lengthscales"], params["signal_var"], params["noise_var"], categorical)

    def kernel(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """Covariance ``k(A, B)`` with this GP's hyperparameters."""
        return self.signal_var * _matern52(np.sqrt(_sq_dist(A, B, self._inv_l2, self.categorical)))

    def predict(self, Xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance of the latent function at the rows of ``Xs``.

        Returns
        -------
        mean, var : ndarray of shape (m,)
            eq. 2.25 ``k*^T alpha`` and eq. 2.26 ``k(x*, x*) - v^T v`` with ``v = L \\ k*``
            (the variance of f, without the observation noise).
        """
        Xs = np.atleast_2d(np.asarray(Xs, float))
        Ks = self.kernel(Xs, self.X)                      # (m, n)
        mean = Ks @ self.alpha
        v = solve_triangular(self.L, Ks.T, lower=True, check_finite=False)
        var = np.maximum(self.signal_var - np.sum(v * v, axis=0), 0.0)
        return mean, var

    def predict_with_gradient(self, Xs: np.ndarray) -> tuple[np.ndarray, ...]:
        """Posterior mean, variance and their gradients in the numeric coordinates.

        Returns
        -------
        mean, var : ndarray of shape (m,)
        dmean, dvar : ndarray of shape (m, d)
            Zero in the categorical coordinates (they are not differentiable).
        """
        Xs = np.atleast_2d(np.asarray(Xs, float))
        diff = Xs[:, None, :] - self.X[None, :, :]        # (m, n, d)
        d2 = diff * diff
        d2[..., self.categorical] = (d2[..., self.categorical] > 0)
        s = _SQRT5 * np.sqrt(d2 @ self._inv_l2)           # (m, n)
        e = np.exp(-s)
        Ks = self.signal_var * (1.0 + s + s * s / 3.0) * e
        # dk/dx_j = -s2 * 5/3 (1 + sqrt5 r) exp(-sqrt5 r) (x_j - X_j) / l_j^2
        dKs = (-(self.signal_var * 5.0 / 3.0) * (1.0 + s) * e)[..., None] * diff * self._inv_l2
        dKs[..., self.categorical] = 0.0
        mean = Ks @ self.alpha
        dmean = np.einsum("mnd,n->md", dKs, self.alpha)
        Kinv_ks = cho_solve((self.L, True), Ks.T, check_finite=False).T   # (m, n)
        var = np.maximum(self.signal_var - np.sum(Ks * Kinv_ks, axis=1), 0.0)
        dvar = -2.0 * np.einsum("mnd,mn->md", dKs, Kinv_ks)
        return mean, var, dmean, dvar


# ---------------------------------------------------------------------------------------
# 4. Acquisition functions (for minimisation)
# ---------------------------------------------------------------------------------------
def _log_h(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``log h(z)`` with ``h(z) = phi(z) + z Phi(z)``, plus ``Phi/h`` and ``phi/h``.

    EI = sigma h(z). For z < -1, h is a difference of two nearly equal tiny numbers;
    factoring out phi(z) leaves ``1 - t m(t)`` with t = -z and Mills' ratio
    ``m(t) = Phi(-t) / phi(t)`` computed by ``erfcx`` without underflow (Ament et al.
    2023), and its asymptotic series ``1/t^2 - 3/t^4 + 15/t^6`` once it cancels.
    """
    z = np.asarray(z, float)
    log_h = np.empty_like(z)
    Phi_over_h = np.empty_like(z)
    phi_over_h = np.empty_like(z)
    upper = z > -1.0
    zu = z[upper]
    phi_u = np.exp(-0.5 * zu * zu - _LOG_SQRT_2PI)
    Phi_u = ndtr(zu)
    h_u = phi_u + zu * Phi_u
    log_h[upper] = np.log(h_u)
    Phi_over_h[upper] = Phi_u / h_u
    phi_over_h[upper] = phi_u / h_u
    t = -z[~upper]
    mills = math.sqrt(math.pi / 2.0) * erfcx(t / math.sqrt(2.0))
    with np.errstate(over="ignore"):
        t2 = t * t
        q = np.where(t < 1e3, 1.0 - t * mills, 1.0 / t2 - 3.0 / t2**2 + 15.0 / t2**3)
    log_h[~upper] = -0.5 * t2 - _LOG_SQRT_2PI + np.log(q)
    Phi_over_h[~upper] = mills / q
    phi_over_h[~upper] = 1.0 / q
    return log_h, Phi_over_h, phi_over_h


def _check_mu_sigma(mu, sigma) -> tuple[np.ndarray, np.ndarray]:
    mu, sigma = np.broadcast_arrays(np.asarray(mu, float), np.asarray(sigma, float))
    if np.any(sigma < 0):
        raise ValueError("sigma must be >= 0 (it is a posterior standard deviation)")
    return mu, sigma


def log_expected_improvement(mu: np.ndarray, sigma: np.ndarray, best: float,
                             xi: float = 0.0) -> np.ndarray:
    """``log EI``, accurate even where EI underflows to 0 (``-inf`` only where EI is exactly 0).

    See :func:`expected_improvement` for the arguments and the references.
    """
    mu, sigma = _check_mu_sigma(mu, sigma)
    improvement = best - xi - mu
    out = np.full(mu.shape, -np.inf)
    pos = sigma > 0
    z = improvement[pos] / sigma[pos]
    out[pos] = _log_h(z)[0] + np.log(sigma[pos])
    certain = ~pos & (improvement > 0)
    out[certain] = np.log(improvement[certain])
    return out


def expected_improvement(mu: np.ndarray, sigma: np.ndarray, best: float,
                         xi: float = 0.0) -> np.ndarray:
    """Expected improvement over ``best`` of a Gaussian ``N(mu, sigma^2)``, for minimisation.

    ``EI = E[max(best - xi - f, 0)] = (best - xi - mu) Phi(z) + sigma phi(z)`` with
    ``z = (best - xi - mu) / sigma``; where ``sigma = 0`` it is ``max(best - xi - mu, 0)``.

    Parameters
    ----------
    mu, sigma : array_like
        Posterior mean and standard deviation (broadcast together; sigma >= 0).
    best : float
        The incumbent (lowest value observed so far).
    xi : float
        Required margin of improvement (>= 0 trades exploitation for exploration).

    Returns
    -------
    ndarray
        EI >= 0, of the broadcast shape.

    References
    ----------
    Mockus et al. (1978); Jones, Schonlau and Welch (1998), eq. 15.
    """
    return np.exp(log_expected_improvement(mu, sigma, best, xi))


def probability_of_improvement(mu: np.ndarray, sigma: np.ndarray, best: float,
                               xi: float = 0.0) -> np.ndarray:
    """``P(f < best - xi)`` for ``f ~ N(mu, sigma^2)``: ``Phi((best - xi - mu) / sigma)``.

    Parameters are as in :func:`expected_improvement`; where ``sigma = 0`` the
    probability is 1 if ``mu < best - xi`` else 0. The result lies in [0, 1].

    References
    ----------
    Kushner (1964); Jones (2001), "A taxonomy of global optimization methods based on
    response surfaces", J. Global Optimization 21, section 4.
    """
    mu, sigma = _check_mu_sigma(mu, sigma)
    improvement = best - xi - mu
    out = (improvement > 0).astype(float)
    pos = sigma > 0
    out[pos] = ndtr(improvement[pos] / sigma[pos])
    return out


def lower_confidence_bound(mu: np.ndarray, sigma: np.ndarray, kappa: float = 2.0) -> np.ndarray:
    """``mu - kappa sigma``: the optimistic estimate of a minimisation problem.

    This is the upper confidence bound (GP-UCB) of Srinivas et al. (2010) for
    ``-f``; the sampler proposes the point with the *lowest* bound.

    Parameters
    ----------
    mu, sigma : array_like
        Posterior mean and standard deviation.
    kappa : float
        Weight of the uncertainty (>= 0); 0 is pure exploitation.

    Returns
    -------
    ndarray
        The bound, to be minimised.

    References
    ----------
    Srinivas, Krause, Kakade and Seeger (2010), eq. 6 (with beta = kappa^2).
    """
    if kappa < 0:
        raise ValueError(f"kappa must be >= 0, got {kappa!r}")
    mu, sigma = _check_mu_sigma(mu, sigma)
    return mu - kappa * sigma


# ---------------------------------------------------------------------------------------
# 5. From configurations to GP inputs and back
# ---------------------------------------------------------------------------------------
class _Encoding:
    """Maps configurations of a space to GP inputs, one coordinate per parameter.

    * Float / Int: the parameter's unit coordinate. Ints are optimised as if continuous
      but, wherever a candidate is compared with others, snapped to the centre of its
      integer's cell, so the GP scores the configuration that would really be run.
    * Categorical: the index of the choice, compared by equality in the kernel (one
      lengthscale per parameter). This is one-hot encoding with one lengthscale shared
      by a parameter's columns (distance 0 or 2/l^2), without the continuous relaxation
      that makes one-hot acquisition optimisation propose non-existent half-choices.
    * Inactive parameters (conditional spaces) get a fixed value: 0.5 for a numeric
      coordinate, the index -1 for a categorical one. All configurations lacking a
      parameter then agree on that coordinate, so the kernel ignores it between them;
      an active and an inactive configuration still differ through the parent.
    """

    INACTIVE_NUMERIC = 0.5
    INACTIVE_CATEGORICAL = -1.0

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.params = list(space)
        self.categorical = np.array([isinstance(p, Categorical) for p in self.params])
        self.n_choices = np.array([len(p.choices) if isinstance(p, Categorical) else 0
                                   for p in self.params])
        parents = {parent for p in self.params for parent in p.when}
        # Numeric parents change which parameters exist, so gradient steps must not move them.
        self.movable = np.array([not isinstance(p, Categorical) and p.name not in parents
                                 for p in self.params])
        self.index = {p.name: j for j, p in enumerate(self.params)}

    def from_configs(self, configs: Sequence[dict[str, Any]]) -> np.ndarray:
        Z = np.empty((len(configs), len(self.params)))
        for i, config in enumerate(configs):
            for j, p in enumerate(self.params):
                if p.name not in config:
                    Z[i, j] = self.INACTIVE_CATEGORICAL if self.categorical[j] else self.INACTIVE_NUMERIC
                elif self.categorical[j]:
                    Z[i, j] = p.index(config[p.name])
                else:
                    Z[i, j] = p.to_unit(config[p.name])
        return Z

    def from_unit(self, U: np.ndarray, return_active: bool = False):
        """GP inputs of the configurations ``space.from_unit(u)`` for the rows u of U.

        With ``return_active``, also the (m, d) mask of the parameters that exist.
        """
        U = np.clip(U, 0.0, 1.0)
        m = len(U)
        Z = np.empty_like(U)
        active = np.ones((m, len(self.params)), bool)
        values: dict[int, np.ndarray] = {}   # decoded values of parents, for conditions
        for j, p in enumerate(self.params):
            for parent, allowed in p.when.items():
                q = self.index[parent]
                if q not in values:
                    if self.categorical[q]:
                        values[q] = np.array(self.params[q].choices, dtype=object)[Z[:, q].astype(int).clip(0)]
                    else:
                        values[q] = np.array([self.params[q].from_unit(u) for u in U[:, q]], dtype=object)
                active[:, j] &= active[:, q] & np.array([v in allowed for v in values[q]])
            if self.categorical[j]:
                # Categorical.from_unit: choice floor(u k), the last one for u = 1
                Z[:, j] = np.minimum(np.floor(U[:, j] * self.n_choices[j]), self.n_choices[j] - 1)
            elif isinstance(p, Int):
                # snap to the centre of the integer's cell (exactly what will be evaluated)
                ints = np.array([p.from_unit(u) for u in U[:, j]])
                uniq, inverse = np.unique(ints, return_inverse=True)
                Z[:, j] = np.array([p.to_unit(int(v)) for v in uniq])[inverse]
            else:
                Z[:, j] = U[:, j]
            Z[~active[:, j], j] = self.INACTIVE_CATEGORICAL if self.categorical[j] else self.INACTIVE_NUMERIC
        return (Z, active) if return_active else Z

    def to_unit(self, Z: np.ndarray) -> np.ndarray:
        """Unit coordinates whose configuration is encoded by the rows of Z."""
        U = np.array(Z, float)
        cat = self.categorical
        U[:, cat] = (np.maximum(Z[:, cat], 0.0) + 0.5) / self.n_choices[cat]
        return np.clip(U, 0.0, 1.0)

    def categorical_neighbours(self, z: np.ndarray) -> np.ndarray:
        """Encodings of ``z`` with one categorical parameter set to another choice.

        Children that the change activates start at the centre of their range.
        """
        rows = []
        for j in np.flatnonzero(self.categorical):
            if z[j] == self.INACTIVE_CATEGORICAL:
                continue
            for c in range(self.n_choices[j]):
                if c != z[j]:
                    row = z.copy()
                    row[j] = c
                    rows.append(row)
        if not rows:
            return np.empty((0, len(z)))
        return self.from_unit(self.to_unit(np.array(rows)))

    def config(self, z: np.ndarray) -> dict[str, Any]:
        return self.space.from_unit(self.to_unit(z[None, :])[0])


# ---------------------------------------------------------------------------------------
# 6. The sampler
# ---------------------------------------------------------------------------------------
_ACQUISITIONS = ("ei", "lcb", "ucb", "pi")
_THREADPOOLS: Any = None


def _single_threaded_blas() -> contextlib.AbstractContextManager:
    """Run BLAS on one thread: for matrices of a few hundred rows, threads only contend
    (measured: 7x slower with 2 threads on a busy 2-core machine)."""
    global _THREADPOOLS
    try:
        from threadpoolctl import ThreadpoolController   # installed with scikit-learn
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    if _THREADPOOLS is None:
        _THREADPOOLS = ThreadpoolController()
    return _THREADPOOLS.limit(limits=1, user_api="blas")


class GPSampler(Sampler):
    """Bayesian optimisation with a Matern 5/2 GP and expected improvement.

    Parameters
    ----------
    acquisition : {"ei", "lcb", "pi"}
        Expected improvement (default), the lower confidence bound ``mu - kappa sigma``
        (``"ucb"`` is accepted as a synonym: GP-UCB for the negated objective) or the
        probability of improvement.
    n_startup_trials : int
        Random configurations before the GP is used (at least 1).
    xi : float
        Margin of improvement for "ei" and "pi", in units of the standard deviation of
        the observed values. 0 suits EI; PI is greedy without a margin, and Lizotte (2008,
        PhD thesis, Univ. of Alberta) suggests 0.01 for it.
    kappa : float
        Exploration weight of "lcb".
    n_candidates : int
        Random candidates scored per trial before the local optimisation.
    n_local_search : int
        How many candidates L-BFGS-B refines (the best one and others drawn in
        proportion to their acquisition value); 0 keeps the best candidate as it is.
    seed : int, optional
        Makes a run exactly reproducible.

    Raises
    ------
    ValueError
        For an unknown acquisition or a non-positive / negative numeric argument.

    Notes
    -----
    Observed values are standardised (zero mean, unit variance) before fitting, so that
    the hyperparameter bounds and priors fit every objective's scale; no warping is
    applied, so the EI of the model is the EI of the objective itself. The hyperparameters
    of the previous trial warm-start the next fit, which keeps a trial fast; a fresh
    sampler (or an empty history) starts from scratch, so a seed replays a run exactly.

    References
    ----------
    Snoek, Larochelle and Adams (2012); Jones, Schonlau and Welch (1998); see the module.
    """

    def __init__(self, acquisition: str = "ei", *, n_startup_trials: int = 10, xi: float = 0.0,
                 kappa: float = 2.0, n_candidates: int = 2000, n_local_search: int = 5,
                 seed: int | None = None) -> None:
        if acquisition not in _ACQUISITIONS:
            raise ValueError(f"acquisition must be one of {_ACQUISITIONS}, got {acquisition!r}")
        for name, value, low in (("n_startup_trials", n_startup_trials, 1),
                                 ("n_candidates", n_candidates, 1),
                                 ("n_local_search", n_local_search, 0)):
            if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
                kind = "positive" if low == 1 else "non-negative"
                raise ValueError(f"{name} must be a {kind} int, got {value!r}")
        for name, value in (("xi", xi), ("kappa", kappa)):
            if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        self.acquisition = "lcb" if acquisition == "ucb" else acquisition
        self.n_startup_trials = int(n_startup_trials)
        self.xi, self.kappa = float(xi), float(kappa)
        self.n_candidates, self.n_local_search = int(n_candidates), int(n_local_search)
        self.seed = seed
        self._rng: np.random.Generator | None = None
        self._hyperparameters: dict[str, Any] | None = None
        self.gp: GaussianProcess | None = None     # the last fitted model, for inspection

    # -- the acquisition, as a utility to maximise, with its gradient --------------------
    def _utility(self, mean: np.ndarray, var: np.ndarray, best: float):
        """Utility u(mu, sigma) and du/dmu, du/dsigma (log EI, log PI or -LCB)."""
        sigma = np.sqrt(np.maximum(var, 1e-12))  # a floor keeps log EI and its gradient finite
        if self.acquisition == "lcb":
            return -mean + self.kappa * sigma, -np.ones_like(mean), np.full_like(mean, self.kappa), sigma
        z = (best - self.xi - mean) / sigma
        if self.acquisition == "ei":
            log_h, Phi_over_h, phi_over_h = _log_h(z)
            # log EI = log h(z) + log sigma; d/dmu = -Phi/(h sigma), d/dsigma = phi/(h sigma)
            return log_h + np.log(sigma), -Phi_over_h / sigma, phi_over_h / sigma, sigma
        log_pi = log_ndtr(z)
        ratio = np.exp(-0.5 * z * z - _LOG_SQRT_2PI - log_pi)   # phi(z) / Phi(z)
        return log_pi, -ratio / sigma, -ratio * z / sigma, sigma

    def _score(self, gp: GaussianProcess, Z: np.ndarray, best: float) -> np.ndarray:
        mean, var = gp.predict(Z)
        return self._utility(mean, var, best)[0]

    def _pick_starts(self, scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The best candidate, plus ``n_local_search - 1`` drawn with probability prop. to
        ``exp(score)`` (for log EI: prop. to EI), without replacement.

        Starting every local search next to the incumbent would refine one basin only;
        Boltzmann sampling spreads the starts over all promising regions (BoTorch's
        initialisation heuristic, Balandat et al. 2020).
        """
        best = int(np.argmax(scores))
        weights = np.exp(scores - scores[best])
        weights[best] = 0.0
        n_more = min(self.n_local_search - 1, int(np.count_nonzero(weights > 0)))
        if n_more <= 0:
            return np.array([best])
        more = rng.choice(len(scores), size=n_more, replace=False, p=weights / weights.sum())
        return np.concatenate([[best], more])

    def _local_search(self, gp: GaussianProcess, encoding: _Encoding, Z0: np.ndarray,
                      best: float) -> np.ndarray:
        """L-BFGS-B on the movable numeric coordinates of all starts at once.

        The starts do not interact, so maximising the sum of their utilities maximises
        each one; a single joint run saves most of the Python overhead of one per start.
        """
        _, active = encoding.from_unit(encoding.to_unit(Z0), return_active=True)
        free = encoding.movable[None, :] & active
        if not free.any():
            return Z0
        Z = Z0.copy()

        def negative_utility(x: np.ndarray) -> tuple[float, np.ndarray]:
            Z[free] = x
            mean, var, dmean, dvar = gp.predict_with_gradient(Z)
            u, du_dmean, du_dsigma, sigma = self._utility(mean, var, best)
            # chain rule through sigma = sqrt(var): dsigma = dvar / (2 sigma)
            grad = du_dmean[:, None] * dmean + (du_dsigma / (2.0 * sigma))[:, None] * dvar
            return -float(np.sum(u)), -grad[free]

        result = scipy_minimize(negative_utility, Z0[free], jac=True, method="L-BFGS-B",
                                bounds=[(0.0, 1.0)] * int(free.sum()), options={"maxiter": 100})
        Z[free] = result.x
        return Z

    def _candidates(self, space: SearchSpace, encoding: _Encoding, history: Sequence[Trial],
                    rng: np.random.Generator) -> np.ndarray:
        """Uniform random points, plus perturbations of the 5 best trials at scales from
        0.001 to 0.1 of the unit cube (a coarse global search and a fine local one)."""
        d = len(space)
        U_random = rng.random((self.n_candidates, d))
        top = np.argsort([t.value for t in history], kind="stable")[:5]
        U_top = np.nan_to_num(np.array([space.to_unit(history[i].params) for i in top]), nan=0.5)
        U_local = np.repeat(U_top, max(self.n_candidates // 20, 1), axis=0)
        scale = 10.0 ** rng.uniform(-3.0, -1.0, (len(U_local), 1))
        U_local += scale * rng.standard_normal(U_local.shape)
        # a categorical is perturbed by drawing a new choice, for about one in d of them
        resample = encoding.categorical[None, :] & (rng.random(U_local.shape) < 1.0 / d)
        U_local[resample] = rng.random(int(resample.sum()))
        return encoding.from_unit(np.vstack([U_random, U_local]))

    # -- ask -------------------------------------------------------------------------------
    def ask(self, space: SearchSpace, history: Sequence[Trial]) -> dict[str, Any]:
        if self._rng is None or len(history) == 0:
            # a new run: replay the seed and forget the previous run's fit
            self._rng = np.random.default_rng(self.seed)
            self._hyperparameters = None
        rng = self._rng
        if len(history) < self.n_startup_trials:
            return space.sample(rng)
        with _single_threaded_blas():
            return self._propose(space, history, rng)

    def _propose(self, space: SearchSpace, history: Sequence[Trial],
                 rng: np.random.Generator) -> dict[str, Any]:
        # 1. encode the trials; standardise their values
        encoding = _Encoding(space)
        X = encoding.from_configs([t.params for t in history])
        values = np.array([t.value for t in history], float)
        std = values.std()
        y = (values - values.mean()) / (std if std > 0 else 1.0)
        best = float(y.min())

        # 2. fit the GP, warm-started at the previous trial's hyperparameters
        init = self._hyperparameters
        if init is not None and len(init["lengthscales"]) != X.shape[1]:
            init = None                                   # another space than last time
        params = fit_hyperparameters(X, y, encoding.categorical, init=init)
        self._hyperparameters = params
        gp = self.gp = GaussianProcess(X, y, params["lengthscales"], params["signal_var"],
                                       params["noise_var"], encoding.categorical)

        # 3. maximise the acquisition: score many candidates, refine a few with L-BFGS-B
        Z = self._candidates(space, encoding, history, rng)
        scores = self._score(gp, Z, best)
        if self.n_local_search:
            Z_opt = self._local_search(gp, encoding, Z[self._pick_starts(scores, rng)], best)
            Z_opt = encoding.from_unit(encoding.to_unit(Z_opt))   # snap Ints to what will run
            Z = np.vstack([Z, Z_opt])
            scores = np.concatenate([scores, self._score(gp, Z_opt, best)])
        if encoding.categorical.any():
            # gradients cannot change a choice: try every single-choice change of the winner
            neighbours = encoding.categorical_neighbours(Z[int(np.argmax(scores))])
            Z = np.vstack([Z, neighbours])
            scores = np.concatenate([scores, self._score(gp, neighbours, best)])
        return encoding.config(Z[int(np.argmax(scores))])
