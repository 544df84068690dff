"""The one interface every multi-fidelity scheduler shares, and the loop that runs it.

A *job* trains one configuration up to a *budget* (epochs, steps, samples...). A
scheduler decides which job runs next (:meth:`Scheduler.ask`) and learns each job's
result (:meth:`Scheduler.tell`). That covers

* successive halving, Hyperband and BOHB: start many configurations on a small
  budget, continue only the best on larger budgets (a job with ``resume`` set to its
  own trial continues that trial);
* ASHA: the same, asynchronously, as soon as a worker is free;
* population-based training: a job with ``resume`` set to *another* trial starts
  from that trial's checkpoint (exploit) with a changed configuration (explore).

:func:`run_schedule` runs a scheduler against an objective on simulated parallel
workers, so asynchronous methods can be studied on one core: a job occupies a worker
for as long as its cost (budget actually trained), not for its wall time.
"""

from __future__ import annotations

import copy
import heapq
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

import pandas as pd

from .sampler import SearchExhausted

__all__ = ["Job", "Scheduler", "run_schedule", "StatefulObjective", "StatelessObjective"]

# objective(config, budget) -> value at that budget of one deterministic training run
StatelessObjective = Callable[[dict[str, Any], float], float]
# objective(config, budget, checkpoint) -> (value, checkpoint); checkpoint None = from scratch
StatefulObjective = Callable[[dict[str, Any], float, Any], tuple[float, Any]]


@dataclass(frozen=True)
class Job:
    """One unit of work: train ``config`` until ``budget``.

    Attributes
    ----------
    trial : int
        Identifies the model being trained. A promotion keeps the trial; a new
        configuration gets a new one.
    config : dict
        The hyperparameters to train with.
    budget : float
        The total budget the model has been trained for when the job ends.
    resume : int or None
        The trial whose latest checkpoint the job starts from: ``None`` trains from
        scratch, ``trial`` itself continues training, another trial copies its
        model first (PBT's exploit).
    bracket : int
        Free for the scheduler's bookkeeping (Hyperband's bracket, PBT's generation).
    """

    trial: int
    config: dict[str, Any] = field(hash=False)
    budget: float
    resume: int | None = None
    bracket: int = 0


class Scheduler(ABC):
    """Base class of multi-fidelity schedulers (successive halving, Hyperband, ASHA, BOHB, PBT).

    Configure in ``__init__`` (including ``seed``); decide in :meth:`ask`; learn in
    :meth:`tell`. A scheduler never trains anything itself.
    """

    @abstractmethod
    def ask(self) -> Job | None:
        """The next job to start.

        Returns ``None`` when nothing can start until a running job reports (a
        synchronous rung waiting for its last result). Raises
        :class:`~course.hpo.sampler.SearchExhausted` when the schedule is complete.
        """

    @abstractmethod
    def tell(self, job: Job, value: float) -> None:
        """Receive the value (lower is better) that ``job`` reached at ``job.budget``."""


def _check_value(value: Any, job: Job) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"objective returned {value!r} for {job}; it must return a finite float")
    return float(value)


def run_schedule(objective: StatelessObjective | StatefulObjective, scheduler: Scheduler, *,
                 n_workers: int = 1, stateful: bool = False,
                 max_total_budget: float | None = None) -> pd.DataFrame:
    """Run ``scheduler`` to completion on ``n_workers`` simulated workers.

    Parameters
    ----------
    objective : callable
        ``stateful=False``: ``objective(config, budget) -> value``, the value after
        training ``config`` for ``budget`` in one deterministic run (continuing a
        trial then costs only the extra budget). ``stateful=True``:
        ``objective(config, budget, checkpoint) -> (value, checkpoint)``, which
        trains from ``checkpoint`` (``None``: from scratch) up to ``budget``.
    scheduler : Scheduler
        Decides the jobs.
    n_workers : int
        Simulated workers. A job occupies one for ``cost`` time units, where cost is
        the budget it trains: ``budget`` from scratch, ``budget`` minus the resumed
        checkpoint's budget otherwise.
    stateful : bool
        Which objective convention is used (see ``objective``).
    max_total_budget : float, optional
        Stop starting jobs once the total cost reaches this.

    Returns
    -------
    pandas.DataFrame
        One row per finished job, in the order results arrived: ``job, trial,
        config, budget, resume, bracket, value, cost, start, end`` (simulated time)
        and ``seconds`` (wall time of the objective call).
    """
    if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
        raise ValueError(f"n_workers must be a positive int, got {n_workers!r}")
    if not isinstance(scheduler, Scheduler):
        raise ValueError(f"scheduler must be a course.hpo.Scheduler, got {type(scheduler).__name__}")
    if max_total_budget is not None and not max_total_budget > 0:
        raise ValueError(f"max_total_budget must be positive, got {max_total_budget!r}")

    checkpoints: dict[int, tuple[float, Any]] = {}   # trial -> (budget reached, checkpoint)
    running: list[tuple[float, int, Job, float, float, Any, float]] = []  # heap by end time
    rows: list[dict[str, Any]] = []
    now, spent, n_started, exhausted = 0.0, 0.0, 0, False

    def start(job: Job) -> None:
        nonlocal spent, n_started
        if job.resume is not None and job.resume not in checkpoints:
            raise ValueError(f"{job} resumes trial {job.resume}, which has no finished job yet")
        reached, checkpoint = checkpoints.get(job.resume, (0.0, None)) if job.resume is not None else (0.0, None)
        if job.budget <= reached and job.resume is not None:
            raise ValueError(f"{job} asks for budget {job.budget}, but trial {job.resume} is already at {reached}")
        cost = job.budget - reached
        began = time.perf_counter()
        if stateful:
            value, checkpoint = objective(dict(job.config), job.budget, copy.deepcopy(checkpoint))
        else:
            value = objective(dict(job.config), job.budget)
        value = _check_value(value, job)
        seconds = time.perf_counter() - began
        spent += cost
        heapq.heappush(running, (now + cost, n_started, job, value, cost, checkpoint, seconds))
        n_started += 1

    while True:
        while not exhausted and len(running) < n_workers and (max_total_budget is None or spent < max_total_budget):
            try:
                job = scheduler.ask()
            except SearchExhausted:
                exhausted = True
                break
            if job is None:
                break
            start(job)
        if not running:
            if exhausted or max_total_budget is not None and spent >= max_total_budget:
                break
            raise RuntimeError(f"{type(scheduler).__name__} is waiting for results but no job is running")
        end, order, job, value, cost, checkpoint, seconds = heapq.heappop(running)
        begin, now = end - cost, end
        checkpoints[job.trial] = (job.budget, checkpoint)
        rows.append({"job": order, "trial": job.trial, "config": dict(job.config), "budget": job.budget,
                     "resume": job.resume, "bracket": job.bracket, "value": value, "cost": cost,
                     "start": begin, "end": end, "seconds": seconds})
        scheduler.tell(job, value)
    columns = ["job", "trial", "config", "budget", "resume", "bracket", "value", "cost", "start", "end", "seconds"]
    return pd.DataFrame(rows, columns=columns)
