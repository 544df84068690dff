"""Hyperband: successive halving, hedged over how aggressively to stop early.

Successive halving with many configurations on a tiny budget is right when small
budgets already rank configurations well, and wrong when they do not (a learning
rate that starts slowly but ends best). Hyperband does not guess: with ``R`` the
maximum budget in units of the minimum one, it runs ``s_max + 1`` *brackets*,

    s_max = floor(log_eta(R)),        B = (s_max + 1) R,

and bracket ``s = s_max, ..., 0`` is successive halving from

    n = ceil(B / R * eta^s / (s + 1))   configurations at   r = R eta^-s,

so every bracket costs about ``B``. Bracket ``s_max`` is the most aggressive (many
configurations, smallest budget); bracket 0 is random search at the full budget.
:func:`hyperband_schedule` lists the brackets; for ``R = 81, eta = 3`` it is Table 1
of the paper:

    s=4: (81, 1) (27, 3) (9, 9) (3, 27) (1, 81)
    s=3: (34, 3) (11, 9) (3, 27) (1, 81)
    s=2: (15, 9) (5, 27) (1, 81)
    s=1: (8, 27) (2, 81)
    s=0: (5, 81)

The brackets run one after the other, each synchronously (like
:class:`~course.hpo.successive_halving.SuccessiveHalving`): with several workers,
the end of every rung leaves workers idle, which is what ASHA fixes.

References
----------
L. Li, K. Jamieson, G. DeSalvo, A. Rostamizadeh and A. Talwalkar, "Hyperband: A
Novel Bandit-Based Approach to Hyperparameter Optimization", JMLR 18 (2018),
Algorithm 1 and Table 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .sampler import SearchExhausted
from .scheduler import Job, Scheduler
from .space import SearchSpace
from .successive_halving import (SuccessiveHalvingBracket, check_budgets, check_count, check_eta,
                                 check_seed, check_space, rung_budgets)

__all__ = ["hyperband_schedule", "Hyperband"]


def hyperband_schedule(max_budget: float, eta: int = 3,
                       min_budget: float = 1) -> list[list[tuple[int, float]]]:
    """Hyperband's brackets, each a list of successive-halving rungs ``(n_i, r_i)``.

    Parameters
    ----------
    max_budget : float
        The largest budget (the paper's ``R`` when ``min_budget = 1``).
    eta : int
        Reduction factor, >= 2.
    min_budget : float
        The smallest budget a rung may use, ``0 < min_budget <= max_budget``.

    Returns
    -------
    list of list of (int, float)
        Brackets in the paper's order ``s = s_max, ..., 0``. Bracket ``s`` has
        ``s + 1`` rungs with ``n_i = floor(n eta^-i)`` configurations at
        ``r_i = max_budget eta^(i - s)``, where ``n = ceil((s_max + 1) eta^s / (s + 1))``
        (that is ``ceil(B / R * eta^s / (s + 1))`` with ``B = (s_max + 1) R``, computed
        in integers) and ``s_max = floor(log_eta(max_budget / min_budget))`` (counted by
        multiplying, never with a float logarithm).

    Raises
    ------
    ValueError
        For ``eta < 2``, a budget <= 0, or ``min_budget > max_budget`` (``R < eta^0``).

    Examples
    --------
    >>> hyperband_schedule(81, 3)[1]
    [(34, 3.0), (11, 9.0), (3, 27.0), (1, 81.0)]

    References
    ----------
    Li et al. (2018), Algorithm 1 (lines 1-4) and Table 1.
    """
    eta = check_eta(eta)
    min_budget, max_budget = check_budgets(min_budget, max_budget)
    budgets = rung_budgets(min_budget, max_budget, eta)  # max_budget * eta^-s_max, ..., max_budget
    s_max = len(budgets) - 1
    brackets = []
    for s in range(s_max, -1, -1):
        n = -(-(s_max + 1) * eta ** s // (s + 1))  # ceil in integers: no float round-off
        rung_sizes = [n // eta ** i for i in range(s + 1)]  # floor(n eta^-i)
        brackets.append(list(zip(rung_sizes, budgets[s_max - s:])))
    return brackets


class Hyperband(Scheduler):
    """Hyperband (Li et al. 2018): successive halving in brackets of decreasing aggression.

    Parameters
    ----------
    space : SearchSpace
        Where new configurations are sampled (uniformly).
    max_budget : float
        The budget of every bracket's last rung (``R`` in units of ``min_budget``).
    eta : int
        Reduction factor, >= 2.
    min_budget : float
        The smallest budget, ``0 < min_budget <= max_budget``.
    seed : int, optional
        Seed of the generator that samples configurations.
    n_iterations : int or None
        How often to run the whole set of brackets (the paper's outer loop for
        longer runs). ``None`` repeats forever: stop the run with
        ``run_schedule(..., max_total_budget=...)``.

    Attributes
    ----------
    schedule : list of list of (int, float)
        :func:`hyperband_schedule` of the budgets.

    Raises
    ------
    ValueError
        For any argument outside the ranges above.

    Notes
    -----
    ``Job.bracket`` counts the brackets run so far (0, 1, 2, ...); bracket ``b``
    is the paper's ``s = s_max - (b mod (s_max + 1))``. New configurations come from
    :meth:`sample_configuration`, which BOHB overrides.

    References
    ----------
    Li et al. (2018), Algorithm 1.

    Examples
    --------
    >>> from course.hpo.scheduler import run_schedule
    >>> from course.hpo.space import Float, SearchSpace
    >>> space = SearchSpace([Float("x", -1.0, 1.0)])
    >>> log = run_schedule(lambda c, b: c["x"] ** 2 + 1 / b, Hyperband(space, 9, eta=3, seed=0))
    >>> log.groupby("bracket").size().tolist()   # brackets s=2, 1, 0: 9+3+1, 5+1, 3
    [13, 6, 3]
    """

    def __init__(self, space: SearchSpace, max_budget: float, eta: int = 3,
                 min_budget: float = 1, seed: int | None = None, *,
                 n_iterations: int | None = 1) -> None:
        self.space = check_space(space, type(self).__name__)
        self.eta = check_eta(eta)
        self.min_budget, self.max_budget = check_budgets(min_budget, max_budget)
        self.schedule = hyperband_schedule(self.max_budget, self.eta, self.min_budget)
        self.n_iterations = check_count("n_iterations", n_iterations, allow_none=True)
        self.seed = check_seed(seed)
        self._rng: np.random.Generator | None = None
        self._bracket: SuccessiveHalvingBracket | None = None
        self._n_brackets = 0  # brackets started so far
        self._n_trials = 0

    @property
    def s_max(self) -> int:
        return len(self.schedule) - 1

    def sample_configuration(self) -> dict[str, Any]:
        """A new configuration for the first rung of a bracket: uniform from the space."""
        return self.space.sample(self._rng)

    def _new_trial(self) -> tuple[int, dict[str, Any]]:
        config = self.sample_configuration()  # may read self._n_trials, the trial it is for
        trial, self._n_trials = self._n_trials, self._n_trials + 1
        return trial, config

    def _start_next_bracket(self) -> bool:
        total = None if self.n_iterations is None else self.n_iterations * len(self.schedule)
        if total is not None and self._n_brackets >= total:
            return False
        rungs = self.schedule[self._n_brackets % len(self.schedule)]
        self._bracket = SuccessiveHalvingBracket(rungs, self.eta, bracket=self._n_brackets)
        self._n_brackets += 1
        return True

    def ask(self) -> Job | None:
        if self._rng is None:
            self._rng = np.random.default_rng(self.seed)
        if self._bracket is None or self._bracket.done:
            if not self._start_next_bracket():
                raise SearchExhausted("Hyperband has run all its brackets")
        return self._bracket.ask(self._new_trial)

    def tell(self, job: Job, value: float) -> None:
        if self._bracket is None or job.bracket != self._bracket.bracket:
            raise ValueError(f"{job} does not belong to the running bracket")
        self._bracket.tell(job, value)
