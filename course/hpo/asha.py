"""ASHA: asynchronous successive halving, for many parallel workers.

Synchronous successive halving waits at the end of every rung for its slowest job,
so with many workers most of them idle. ASHA never waits: whenever a worker is
free, :meth:`ASHA.ask` (the paper's ``get_job``)

1. looks at the rungs from the highest (below the top) down: a configuration of
   rung ``k`` that is in the top ``floor(|rung k| / eta)`` of the results so far and
   has not been promoted yet is promoted, i.e. continued to the budget of rung
   ``k + 1``;
2. if no rung has such a configuration, starts a new one on the bottom rung.

Decisions are made on the results available *now*, so a configuration can be
promoted that synchronous SH would not have promoted with all results in (a
*mispromotion*, Li et al. 2020, section 3.3); their number grows much more slowly
than the number of configurations. Also, because a rung's top set can change as
results arrive, the rule of the paper can promote *more* than ``floor(n_k / eta)``
of ``n_k`` results (three results, the best is promoted; a fourth, better result
arrives and is promoted too: 2 > floor(4 / 3)). ``cap_promotions=True`` adds that
cap, a stricter variant that is not in the paper.

References
----------
L. Li, K. Jamieson, A. Rostamizadeh, E. Gonina, J. Ben-tzur, M. Hardt, B. Recht
and A. Talwalkar, "A System for Massively Parallel Hyperparameter Tuning", MLSys
2020, Algorithm 2 (ASHA) and section 3.3 (mispromotions).
"""

from __future__ import annotations

import bisect
from typing import Any

import numpy as np

from .sampler import Sampler, SearchExhausted, Trial, checked_proposal
from .scheduler import Job, Scheduler
from .space import SearchSpace
from .successive_halving import (check_budgets, check_count, check_eta, check_sampler, check_seed,
                                 check_space, check_value, rung_budgets, rung_survivors)

__all__ = ["ASHA", "promotable"]


def promotable(results: dict[int, float], promoted: set[int], eta: int) -> list[int]:
    """The trials of a rung that ASHA may promote now, best first.

    Parameters
    ----------
    results : dict
        ``trial -> value`` of every result the rung has so far.
    promoted : set of int
        Trials already promoted from this rung.
    eta : int
        Reduction factor.

    Returns
    -------
    list of int
        The trials in the top ``floor(len(results) / eta)`` (ties to the lower trial
        id, :func:`~course.hpo.successive_halving.rung_survivors`) that are not in
        ``promoted``.

    References
    ----------
    Li et al. (2020), Algorithm 2, ``get_job``: ``candidates = top_k(rung k,
    |rung k| / eta)``, ``promotable = {t in candidates: t not already promoted}``.
    """
    trials = sorted(results)
    top = rung_survivors([results[t] for t in trials], eta)
    return [trials[i] for i in top if trials[i] not in promoted]


class ASHA(Scheduler):
    """Asynchronous successive halving (Li et al. 2020, Algorithm 2).

    Parameters
    ----------
    space : SearchSpace
        Where new configurations come from.
    min_budget, max_budget : float
        ``0 < min_budget <= max_budget``; the rungs are
        :func:`~course.hpo.successive_halving.rung_budgets` (anchored at ``max_budget``).
    eta : int
        Reduction factor, >= 2.
    seed : int, optional
        Seed of the generator that samples configurations (when ``sampler`` is None).
    sampler : Sampler, optional
        A course sampler that proposes new configurations; it sees the results on
        the bottom rung, in the order they arrived. Default: uniform sampling.
    n_configs : int, optional
        Stop starting new configurations after this many. ASHA then still promotes
        what the rule allows, returns ``None`` while results it waits for are
        pending, and raises :class:`~course.hpo.sampler.SearchExhausted` when
        nothing is left. Default ``None``: new configurations forever, so stop the
        run with ``run_schedule(..., max_total_budget=...)``; :meth:`ask` then never
        returns ``None``.
    cap_promotions : bool
        ``False`` (the paper): promote any configuration in the current top
        ``1/eta`` not promoted yet. ``True``: also never let the promotions from a
        rung exceed ``floor(n_k / eta)`` of its ``n_k`` results.

    Attributes
    ----------
    budgets : list of float
        The rung budgets.
    rung_results : list of dict
        Per rung, ``trial -> value`` of the results so far.
    promoted : list of set
        Per rung, the trials promoted from it.

    Raises
    ------
    ValueError
        For any argument outside the ranges above.

    References
    ----------
    Li et al. (2020), Algorithm 2. The early-stopping rate ``s`` of the paper is 0
    here (the bottom rung is ``min_budget``).

    Examples
    --------
    >>> from course.hpo.scheduler import run_schedule
    >>> from course.hpo.space import Float, SearchSpace
    >>> space = SearchSpace([Float("x", -1.0, 1.0)])
    >>> log = run_schedule(lambda c, b: c["x"] ** 2 + 1 / b, ASHA(space, 1, 27, seed=0),
    ...                    n_workers=4, max_total_budget=300)
    >>> bool(log["end"].max() < log["cost"].sum())   # four workers busy at once
    True
    """

    def __init__(self, space: SearchSpace, min_budget: float, max_budget: float, eta: int = 3,
                 seed: int | None = None, sampler: Sampler | None = None, *,
                 n_configs: int | None = None, cap_promotions: bool = False) -> None:
        self.space = check_space(space, "ASHA")
        self.eta = check_eta(eta)
        self.min_budget, self.max_budget = check_budgets(min_budget, max_budget)
        self.budgets = rung_budgets(self.min_budget, self.max_budget, self.eta)
        self.seed = check_seed(seed)
        self.sampler = check_sampler(sampler)
        self.n_configs = check_count("n_configs", n_configs, allow_none=True)
        if not isinstance(cap_promotions, (bool, np.bool_)):
            raise ValueError(f"cap_promotions must be a bool, got {cap_promotions!r}")
        self.cap_promotions = bool(cap_promotions)
        self._rng: np.random.Generator | None = None
        self.rung_results: list[dict[int, float]] = [{} for _ in self.budgets]
        self.promoted: list[set[int]] = [set() for _ in self.budgets]
        # per rung, (value, trial) of all results and of those not promoted yet, both sorted,
        # so that a decision does not re-sort the rung (thousands of jobs stay fast)
        self._ranked: list[list[tuple[float, int]]] = [[] for _ in self.budgets]
        self._unpromoted: list[list[tuple[float, int]]] = [[] for _ in self.budgets]
        self._configs: dict[int, dict[str, Any]] = {}
        self._running: set[tuple[int, float]] = set()   # (trial, budget) of unanswered jobs
        self._history: list[Trial] = []                  # bottom-rung results, for the sampler

    def _promotion(self) -> Job | None:
        # from the highest rung below the top down: finishing good configurations first
        for k in range(len(self.budgets) - 2, -1, -1):
            n_top = len(self.rung_results[k]) // self.eta
            if self.cap_promotions and len(self.promoted[k]) >= n_top:
                continue
            # promotable(...)[0] in O(log n): the best configuration not promoted yet is
            # promotable exactly when its rank in the rung is within the top n_top
            waiting = self._unpromoted[k]
            if waiting and bisect.bisect_left(self._ranked[k], waiting[0]) < n_top:
                _, trial = waiting.pop(0)
                self.promoted[k].add(trial)
                return Job(trial, dict(self._configs[trial]), self.budgets[k + 1], resume=trial)
        return None

    def _new_configuration(self) -> Job:
        trial = len(self._configs)
        if self.sampler is None:
            config = self.space.sample(self._rng)
        else:
            config = checked_proposal(self.sampler, self.space, self._history)
        self._configs[trial] = dict(config)
        return Job(trial, dict(config), self.budgets[0])

    def ask(self) -> Job | None:
        if self._rng is None:
            self._rng = np.random.default_rng(self.seed)
        job = self._promotion()
        if job is None:
            if self.n_configs is None or len(self._configs) < self.n_configs:
                job = self._new_configuration()
            elif self._running:
                return None  # a pending result may still allow a promotion
            else:
                raise SearchExhausted(f"ASHA has started its {self.n_configs} configurations "
                                      "and promoted all it may")
        self._running.add((job.trial, job.budget))
        return job

    def tell(self, job: Job, value: float) -> None:
        key = (job.trial, job.budget)
        if key not in self._running:
            raise ValueError(f"{job} is not a running job of this ASHA")
        value = check_value(value, job)
        self._running.discard(key)
        k = self.budgets.index(job.budget)
        self.rung_results[k][job.trial] = value
        bisect.insort(self._ranked[k], (value, job.trial))
        bisect.insort(self._unpromoted[k], (value, job.trial))
        if job.resume is None and self.sampler is not None:
            trial = Trial(len(self._history), dict(job.config), value)
            self._history.append(trial)
            self.sampler.tell(trial)
