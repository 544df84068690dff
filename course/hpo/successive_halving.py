"""Successive halving: start many configurations cheaply, continue only the best.

Training a configuration for a small budget (a few epochs, a subsample) already
says something about how good it is. Successive halving (SH) spends a fixed budget
in *rungs*:

1. sample ``n`` configurations and train each for ``r_0 = min_budget``;
2. keep the best ``floor(n_i / eta)`` of the ``n_i`` configurations of rung ``i``
   (:func:`rung_survivors`) and continue them to ``r_{i+1} = eta * r_i``;
3. stop at the rung whose budget is ``max_budget`` (:func:`rung_budgets`).

Every rung costs about the same, ``n_i (r_i - r_{i-1})``, so SH evaluates ``eta^K``
configurations for roughly ``K + 1`` times the cost of training one of them fully.
The bet it makes is that the ranking at a small budget predicts the ranking at the
full budget; Hyperband (:mod:`course.hpo.hyperband`) hedges that bet.

This scheduler is *synchronous*: a rung is decided only when all its results are
in, so :meth:`SuccessiveHalving.ask` returns ``None`` (wait) while the last jobs
of a rung are running. ASHA (:mod:`course.hpo.asha`) removes that wait.

The shared machinery of the synchronous schedulers also lives here: the input
checks, and :class:`SuccessiveHalvingBracket`, one run of SH over given rungs,
which Hyperband and BOHB run once per bracket.

References
----------
K. Jamieson and A. Talwalkar, "Non-stochastic Best Arm Identification and
Hyperparameter Optimization", AISTATS 2016 (Algorithm 1, with halving, eta = 2).

L. Li, K. Jamieson, G. DeSalvo, A. Rostamizadeh and A. Talwalkar, "Hyperband: A
Novel Bandit-Based Approach to Hyperparameter Optimization", JMLR 18 (2018)
(Algorithm 1, the inner loop: ``n_i = floor(n eta^-i)``, ``r_i = r eta^i``, keep the
top ``floor(n_i / eta)``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np

from .sampler import Sampler, SearchExhausted, Trial, checked_proposal
from .scheduler import Job, Scheduler
from .space import SearchSpace

__all__ = ["rung_survivors", "rung_budgets", "SuccessiveHalvingBracket", "SuccessiveHalving"]

# budgets are floats: min_budget * eta**k may land a hair above max_budget by round-off
_BUDGET_TOLERANCE = 1e-9


# ---------------------------------------------------------------------------------------
# Input checks shared by the multi-fidelity schedulers
# ---------------------------------------------------------------------------------------
def check_eta(eta: Any) -> int:
    """``eta`` as an int, or a ``ValueError`` unless it is an int >= 2."""
    if isinstance(eta, bool) or not isinstance(eta, Integral) or eta < 2:
        raise ValueError(f"eta must be an int >= 2, got {eta!r}")
    return int(eta)


def check_budgets(min_budget: Any, max_budget: Any) -> tuple[float, float]:
    """Both budgets as floats, or a ``ValueError`` unless ``0 < min_budget <= max_budget``."""
    for label, budget in (("min_budget", min_budget), ("max_budget", max_budget)):
        if isinstance(budget, bool) or not isinstance(budget, Real) or not math.isfinite(budget):
            raise ValueError(f"{label} must be a finite number, got {budget!r}")
        if budget <= 0:
            raise ValueError(f"{label} must be > 0, got {budget!r}")
    if min_budget > max_budget:
        raise ValueError(f"min_budget must be <= max_budget, got min_budget={min_budget!r} "
                         f"> max_budget={max_budget!r}")
    return float(min_budget), float(max_budget)


def check_space(space: Any, who: str) -> SearchSpace:
    if not isinstance(space, SearchSpace):
        raise ValueError(f"{who}: space must be a SearchSpace, got {type(space).__name__}")
    return space


def check_seed(seed: Any) -> int | None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, Integral)):
        raise ValueError(f"seed must be an int or None, got {seed!r}")
    return None if seed is None else int(seed)


def check_sampler(sampler: Any) -> Sampler | None:
    if sampler is not None and not isinstance(sampler, Sampler):
        what = sampler.__name__ if isinstance(sampler, type) else type(sampler).__name__
        raise ValueError(f"sampler must be a course Sampler instance (e.g. TPESampler(seed=0)) "
                         f"or None, got {what}")
    return sampler


def check_count(name: str, value: Any, *, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        extra = " or None" if allow_none else ""
        raise ValueError(f"{name} must be a positive int{extra}, got {value!r}")
    return int(value)


def check_value(value: Any, job: Job) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"the value of {job} must be a finite float, got {value!r}")
    return float(value)


# ---------------------------------------------------------------------------------------
# The two rules of successive halving
# ---------------------------------------------------------------------------------------
def n_halvings(min_budget: float, max_budget: float, eta: int) -> int:
    """``K = floor(log_eta(max_budget / min_budget))``, computed without ``math.log``.

    ``math.log(243, 3)`` is ``4.999999999999999``, so a float logarithm can lose a
    whole rung; multiplying by ``eta`` until the next step would pass ``max_budget``
    cannot.
    """
    k = 0
    while min_budget * eta ** (k + 1) <= max_budget * (1.0 + _BUDGET_TOLERANCE):
        k += 1
    return k


def rung_budgets(min_budget: float, max_budget: float, eta: int = 3) -> list[float]:
    """The budgets of successive halving's rungs: ``max_budget * eta^-i``, ending at ``max_budget``.

    Parameters
    ----------
    min_budget, max_budget : float
        ``0 < min_budget <= max_budget``.
    eta : int
        Factor between consecutive budgets, >= 2.

    Returns
    -------
    list of float
        ``[max_budget / eta^K, ..., max_budget / eta, max_budget]`` with
        ``K = floor(log_eta(max_budget / min_budget))``. The budgets are anchored at
        the top so that the last rung trains to exactly ``max_budget`` (as in
        Hyperband, ``r_i = R eta^(i - s)``); the first is the smallest budget of
        the ladder that is still >= ``min_budget``, so it equals ``min_budget``
        only when ``max_budget / min_budget`` is a power of ``eta``.

    Raises
    ------
    ValueError
        For ``eta < 2``, a budget <= 0 or ``min_budget > max_budget``.

    Examples
    --------
    >>> rung_budgets(1, 81, 3)
    [1.0, 3.0, 9.0, 27.0, 81.0]
    >>> rung_budgets(1, 100, 3)   # 100/81 is the smallest budget >= 1 on the ladder
    [1.2345679012345678, 3.7037037037037037, 11.11111111111111, 33.333333333333336, 100.0]

    References
    ----------
    Li et al. (2018), Algorithm 1 (``r_i = r eta^i`` with ``r = R eta^-s``).
    """
    eta = check_eta(eta)
    min_budget, max_budget = check_budgets(min_budget, max_budget)
    k = n_halvings(min_budget, max_budget, eta)
    return [max_budget / eta ** (k - i) for i in range(k + 1)]


def rung_survivors(values: Sequence[float] | np.ndarray, eta: int = 3) -> np.ndarray:
    """Which configurations of a rung continue: the best ``floor(n / eta)`` of ``n``.

    Parameters
    ----------
    values : sequence of float
        The rung's results (lower is better), in trial order.
    eta : int
        Reduction factor, >= 2.

    Returns
    -------
    numpy.ndarray of int
        Indices into ``values`` of exactly ``floor(n / eta)`` survivors, best first.
        Ties go to the earlier index (a stable sort), so the choice is deterministic.
        This may be *empty* (for ``n < eta``): keeping "at least one" would break
        the cost of a rung that the schedules rely on, so the schedulers choose
        ``n`` large enough instead (:class:`SuccessiveHalving` checks
        ``n_configs >= eta^K``; Hyperband's ``n`` always is).

    Raises
    ------
    ValueError
        For ``eta < 2``, values that are not 1-D, or NaN values.

    Examples
    --------
    >>> rung_survivors([0.5, 0.1, 0.9, 0.1, 0.3, 0.7, 0.2], eta=3).tolist()
    [1, 3]

    References
    ----------
    Li et al. (2018), Algorithm 1: ``T = top_k(T, L, floor(n_i / eta))``.
    """
    eta = check_eta(eta)
    values = np.asarray(values, dtype=float)
    if values.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {values.shape}")
    if np.isnan(values).any():
        raise ValueError("values must not contain NaN")
    n_keep = len(values) // eta
    return np.argsort(values, kind="stable")[:n_keep]


# ---------------------------------------------------------------------------------------
# One bracket: synchronous successive halving over given rungs
# ---------------------------------------------------------------------------------------
NewTrial = Callable[[], tuple[int, dict[str, Any]]]


class SuccessiveHalvingBracket:
    """One run of synchronous successive halving over fixed rungs ``[(n_i, r_i), ...]``.

    Not a :class:`Scheduler` itself: :class:`SuccessiveHalving`, Hyperband and BOHB
    own the trial numbers and the way new configurations are made, and hand this
    bracket a ``new_trial`` function that returns ``(trial, config)``.

    Parameters
    ----------
    rungs : sequence of (int, float)
        ``(n_i, r_i)``: how many configurations rung ``i`` trains, to which budget.
        Budgets must increase; ``n_{i+1}`` must be ``floor(n_i / eta)`` (what
        :func:`rung_survivors` keeps) and the last ``n`` at least 1.
    eta : int
        Reduction factor.
    bracket : int
        Written into every :attr:`Job.bracket`.

    Raises
    ------
    ValueError
        If the rungs do not follow these rules.
    """

    def __init__(self, rungs: Sequence[tuple[int, float]], eta: int, bracket: int = 0) -> None:
        self.eta = check_eta(eta)
        self.rungs = [(int(n), float(r)) for n, r in rungs]
        if not self.rungs:
            raise ValueError("a bracket needs at least one rung")
        for i, (n, r) in enumerate(self.rungs):
            if i and r <= self.rungs[i - 1][1]:
                raise ValueError(f"rung budgets must increase, got {[r for _, r in self.rungs]}")
            if i and n != self.rungs[i - 1][0] // self.eta:
                raise ValueError(f"rung {i} must hold floor(n_{i - 1} / eta) configurations, "
                                 f"got {[n for n, _ in self.rungs]} with eta={self.eta}")
        if self.rungs[-1][0] < 1:
            raise ValueError(f"the last rung must hold at least one configuration, "
                             f"got {[n for n, _ in self.rungs]}")
        self.bracket = int(bracket)
        self.rung = 0                                  # the rung being trained
        self.done = False
        self._configs: dict[int, dict[str, Any]] = {}  # trial -> configuration
        self._to_start: list[int] = []                 # promoted trials not yet started, best first
        self._n_started = 0                            # jobs started in the current rung
        self._results: dict[int, float] = {}           # trial -> value in the current rung
        self._running: set[int] = set()

    def ask(self, new_trial: NewTrial) -> Job | None:
        """The next job of this bracket, or ``None`` when it must wait (or is done)."""
        n, budget = self.rungs[self.rung]
        if self.done or self._n_started >= n:
            return None
        if self.rung == 0:
            trial, config = new_trial()
            self._configs[trial] = dict(config)
            resume = None
        else:
            trial = self._to_start.pop(0)
            resume = trial  # continue the trial's own checkpoint: only the extra budget is paid
        self._n_started += 1
        self._running.add(trial)
        return Job(trial, dict(self._configs[trial]), budget, resume, self.bracket)

    def tell(self, job: Job, value: float) -> None:
        """Record a result; when the rung is complete, pick its survivors and move up."""
        n, budget = self.rungs[self.rung]
        if job.trial not in self._running or job.budget != budget or job.bracket != self.bracket:
            raise ValueError(f"{job} is not a running job of bracket {self.bracket}")
        self._running.discard(job.trial)
        self._results[job.trial] = check_value(value, job)
        if len(self._results) < n:
            return
        if self.rung == len(self.rungs) - 1:
            self.done = True
            return
        trials = sorted(self._results)  # trial order, so ties go to the lower trial id
        survivors = rung_survivors([self._results[t] for t in trials], self.eta)
        self._to_start = [trials[i] for i in survivors]
        self.rung += 1
        self._n_started, self._results = 0, {}


# ---------------------------------------------------------------------------------------
# The scheduler
# ---------------------------------------------------------------------------------------
class SuccessiveHalving(Scheduler):
    """Synchronous successive halving (Jamieson and Talwalkar 2016; Li et al. 2018).

    Parameters
    ----------
    space : SearchSpace
        Where new configurations come from.
    min_budget, max_budget : float
        Budget of the first and the last rung, ``0 < min_budget <= max_budget``; the
        rungs are :func:`rung_budgets` (anchored at ``max_budget``).
    eta : int
        Reduction factor, >= 2: each rung keeps ``floor(n_i / eta)`` configurations
        and trains them ``eta`` times longer.
    n_configs : int, optional
        Configurations in the first rung; default ``eta^K`` where ``K + 1`` is the
        number of rungs, so that exactly one reaches ``max_budget``. Must be at
        least ``eta^K`` (otherwise the last rung would be empty).
    seed : int, optional
        Seed of the generator that samples configurations (when ``sampler`` is None).
    sampler : Sampler, optional
        A course sampler (e.g. ``TPESampler(seed=0)``) that proposes the new
        configurations; it sees the results of the first rung, the one budget every
        configuration is trained for (values at different budgets do not compare).
        Default: uniform sampling from ``space``.

    Attributes
    ----------
    budgets : list of float
        The rung budgets.
    rungs : list of (int, float)
        ``(n_i, r_i)`` of every rung.

    Raises
    ------
    ValueError
        For any argument outside the ranges above.

    Notes
    -----
    A job that continues a configuration sets ``resume`` to its own trial, so the
    total cost is ``sum_i n_i (r_i - r_{i-1})`` (with ``r_{-1} = 0``). If a finite
    sampler (a grid) raises :class:`~course.hpo.sampler.SearchExhausted` during the
    first rung, the run ends there.

    References
    ----------
    Jamieson and Talwalkar (2016), Algorithm 1; Li et al. (2018), Algorithm 1 (the
    inner loop for one bracket ``s``).

    Examples
    --------
    >>> from course.hpo.scheduler import run_schedule
    >>> from course.hpo.space import Float, SearchSpace
    >>> space = SearchSpace([Float("x", -1.0, 1.0)])
    >>> sh = SuccessiveHalving(space, min_budget=1, max_budget=27, eta=3, seed=0)
    >>> log = run_schedule(lambda c, b: c["x"] ** 2 + 1 / b, sh)
    >>> log.groupby("budget").size().tolist()
    [27, 9, 3, 1]
    """

    def __init__(self, space: SearchSpace, min_budget: float, max_budget: float, eta: int = 3,
                 n_configs: int | None = None, seed: int | None = None,
                 sampler: Sampler | None = None) -> None:
        self.space = check_space(space, "SuccessiveHalving")
        self.eta = check_eta(eta)
        self.min_budget, self.max_budget = check_budgets(min_budget, max_budget)
        self.budgets = rung_budgets(self.min_budget, self.max_budget, self.eta)
        k = len(self.budgets) - 1
        n_configs = check_count("n_configs", n_configs, allow_none=True)
        if n_configs is None:
            n_configs = self.eta ** k
        if n_configs < self.eta ** k:
            raise ValueError(
                f"n_configs must be >= eta^K = {self.eta}^{k} = {self.eta ** k} so that a "
                f"configuration reaches max_budget after {k} halvings, got {n_configs}; "
                f"use more configurations or a larger min_budget")
        self.n_configs = n_configs
        self.rungs = [(n_configs // self.eta ** i, r) for i, r in enumerate(self.budgets)]
        self.seed = check_seed(seed)
        self.sampler = check_sampler(sampler)
        self._rng: np.random.Generator | None = None
        self._bracket: SuccessiveHalvingBracket | None = None
        self._history: list[Trial] = []  # first-rung results, what the sampler learns from
        self._n_trials = 0

    def _new_trial(self) -> tuple[int, dict[str, Any]]:
        trial, self._n_trials = self._n_trials, self._n_trials + 1
        if self.sampler is None:
            config = self.space.sample(self._rng)
        else:
            config = checked_proposal(self.sampler, self.space, self._history)
        return trial, config

    def ask(self) -> Job | None:
        if self._bracket is None:
            self._rng = np.random.default_rng(self.seed)
            self._bracket = SuccessiveHalvingBracket(self.rungs, self.eta)
        job = self._bracket.ask(self._new_trial)
        if job is None and self._bracket.done:
            raise SearchExhausted("successive halving has trained its last rung")
        return job

    def tell(self, job: Job, value: float) -> None:
        if self._bracket is None:
            raise ValueError(f"{job} was never asked for: ask() has not been called yet")
        first_rung = job.resume is None
        self._bracket.tell(job, value)
        if first_rung and self.sampler is not None:
            trial = Trial(len(self._history), dict(job.config), float(value))
            self._history.append(trial)
            self.sampler.tell(trial)
