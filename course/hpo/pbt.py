"""Population-based training (PBT): tune hyperparameters *while* the models train.

Jaderberg et al. (2017) train a population of models in parallel. Every
``ready_interval`` of training a member is *ready*; if it ranks in the bottom
``truncation`` fraction of the population it

1. **exploits**: throws its model away and copies the model (the checkpoint) of a
   member drawn uniformly from the top ``truncation`` fraction, and
2. **explores**: continues with a perturbed copy of that member's hyperparameters
   (or with hyperparameters drawn afresh from the prior),

then trains on. Good models spread, bad ones are replaced, and each member ends up
with a *schedule* of hyperparameters rather than one fixed setting, at the cost of a
single training run per member.

The paper (Algorithm 1) runs the members asynchronously. This module runs
*synchronous generations*: all members train to the next ready point, then the whole
population is ranked at once. That is the simplest form to read and to reproduce
(a seed fixes the run), and with equally fast members it makes the same decisions.

Under :func:`course.hpo.scheduler.run_schedule` (``stateful=True``) a member keeps
its trial id for the whole run (member ``i`` is trial ``i``), so the run's log shows
each member's hyperparameter schedule (:func:`hyperparameter_schedules`,
:func:`plot_schedules`); an exploit is a job whose ``resume`` names another trial.

The module also holds the paper's toy problem (:func:`toy_problem`, section 4.1 and
figure 2) and a small real task that trains in steps (:func:`mlp_digits_stateful`).

References
----------
M. Jaderberg, V. Dalibard, S. Osindero, W. M. Czarnecki, J. Donahue, A. Razavi,
O. Vinyals, T. Green, I. Dunning, K. Simonyan, C. Fernando and K. Kavukcuoglu,
"Population Based Training of Neural Networks", arXiv:1711.09846 (2017): section 3
(exploit and explore, truncation selection, perturb and resample) and Algorithm 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd

from .sampler import SearchExhausted
from .scheduler import Job, Scheduler, StatefulObjective
from .space import Categorical, Float, Int, SearchSpace

__all__ = ["PBT", "exploit", "explore", "hyperparameter_schedules", "plot_schedules",
           "toy_problem", "mlp_digits_stateful"]

EXPLORE_METHODS = ("perturb", "resample")


# ======================================================================================
# Checks shared by the public functions
# ======================================================================================

def _check_truncation(truncation: Any) -> float:
    if isinstance(truncation, bool) or not isinstance(truncation, Real) or not 0 < truncation <= 0.5:
        raise ValueError(f"truncation must be a fraction in (0, 0.5], got {truncation!r}")
    return float(truncation)


def _check_factors(perturb_factors: Any) -> tuple[float, ...]:
    if isinstance(perturb_factors, (str, bytes)) or not isinstance(perturb_factors, Sequence) \
            or len(perturb_factors) == 0:
        raise ValueError(f"perturb_factors must be a non-empty sequence of positive numbers, "
                         f"got {perturb_factors!r}")
    for factor in perturb_factors:
        if isinstance(factor, bool) or not isinstance(factor, Real) or not (
                math.isfinite(factor) and factor > 0):
            raise ValueError(f"perturb_factors must be positive finite numbers, got {perturb_factors!r}")
    return tuple(float(f) for f in perturb_factors)


def _check_probability(resample_probability: Any) -> float:
    if isinstance(resample_probability, bool) or not isinstance(resample_probability, Real) \
            or not 0 <= resample_probability <= 1:
        raise ValueError(f"resample_probability must be in [0, 1], got {resample_probability!r}")
    return float(resample_probability)


def _check_method(method: Any) -> str:
    if method not in EXPLORE_METHODS:
        raise ValueError(f"explore must be one of {EXPLORE_METHODS}, got {method!r}")
    return method


def cutoff(population_size: int, truncation: float) -> int:
    """How many members the truncation selection replaces (and how many it copies from).

    ``max(1, floor(truncation * population_size))``: at least one, so that a
    population of two (the paper's toy example) still exploits.

    Examples
    --------
    >>> cutoff(10, 0.2), cutoff(2, 0.2), cutoff(20, 0.25)
    (2, 1, 5)
    """
    # the small epsilon keeps 0.29 * 100 = 28.999999999999996 from rounding down to 28
    return max(1, int(math.floor(truncation * population_size + 1e-9)))


# ======================================================================================
# Exploit and explore: the two steps a learner writes
# ======================================================================================

def exploit(values: Sequence[float], truncation: float, rng: np.random.Generator) -> dict[int, int]:
    """Truncation selection: which members copy which (section 3.1, "exploit").

    Rank the members by value (lower is better). Each member in the bottom
    ``truncation`` fraction copies a member drawn uniformly from the top fraction.

    Parameters
    ----------
    values : sequence of float
        ``values[i]`` is member ``i``'s latest value (lower is better).
    truncation : float
        The fraction in (0, 0.5] at each end: the bottom ``cutoff(n, truncation)``
        members are replaced, by copies of the top as many. At most a half, so that
        no member is both.
    rng : numpy.random.Generator
        Draws the winners.

    Returns
    -------
    dict
        ``{loser: winner}`` for every replaced member. Ties are ranked by member
        index (the lower index counts as better), so a run stays reproducible.

    Raises
    ------
    ValueError
        With fewer than two values, a non-finite value, or ``truncation`` outside (0, 0.5].

    References
    ----------
    Jaderberg et al. (2017), section 3.1 ("Truncation selection") and Algorithm 1.

    Examples
    --------
    >>> exploit([0.3, 0.1, 0.9, 0.5, 0.2], 0.2, np.random.default_rng(0))
    {2: 1}
    """
    truncation = _check_truncation(truncation)
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) < 2:
        raise ValueError(f"exploit needs the values of at least two members, got {values.tolist()!r}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"every member's value must be finite, got {values.tolist()!r}")
    n_cut = cutoff(len(values), truncation)
    ranking = np.argsort(values, kind="stable")  # best first; ties keep index order
    top, bottom = ranking[:n_cut], ranking[len(values) - n_cut:]
    return {int(loser): int(top[rng.integers(n_cut)]) for loser in sorted(bottom)}


def _perturb_number(param: Float | Int, value: float, factor: float) -> float | int:
    """``value * factor``, clipped into the parameter's range (Ints rounded)."""
    moved = value * factor
    if isinstance(param, Int):
        new = int(round(moved))
        if new == value:
            # 2 * 0.8 and 2 * 1.2 both round back to 2: without this step a small
            # integer (a number of layers) could never change
            new = int(value) + (1 if factor > 1 else -1)
        return min(max(new, param.low), param.high)
    return min(max(float(moved), param.low), param.high)


def explore(config: Mapping[str, Any], space: SearchSpace, rng: np.random.Generator, *,
            method: str = "perturb", perturb_factors: Sequence[float] = (0.8, 1.2),
            resample_probability: float = 0.25) -> dict[str, Any]:
    """A new configuration near ``config`` (section 3.1, "explore").

    ``method="resample"`` draws a whole new configuration from the prior
    (``space.sample``). ``method="perturb"`` changes every parameter:

    * a number (Float or Int) is multiplied by a factor drawn uniformly from
      ``perturb_factors``, the paper's rule. On a log-scaled parameter this is a
      step of ``log(factor)`` on its own (log) scale; on a linear one, a step
      proportional to the value. The result is clipped into ``[low, high]``; an
      Int is rounded, and moved one step (up for a factor above 1, down otherwise)
      when rounding would undo the change. A value of exactly 0 stays 0: use
      ``"resample"`` for a linear range that starts at 0 if that matters.
    * a categorical is redrawn uniformly from its choices with probability
      ``resample_probability`` and kept otherwise (it has no scale to perturb on).

    Conditional spaces: parameters are visited in order, so a changed parent
    decides which children exist. A child that stays active is perturbed, one that
    becomes active is drawn from the prior, one that becomes inactive is dropped.

    Parameters
    ----------
    config : dict
        The configuration to explore from (a valid configuration of ``space``).
    space : SearchSpace
        Its space; the result is always a valid configuration of it.
    rng : numpy.random.Generator
        Source of randomness.
    method : {"perturb", "resample"}
        See above.
    perturb_factors : sequence of float
        The positive factors a number is multiplied by.
    resample_probability : float
        Chance that a categorical is redrawn under ``"perturb"``.

    Returns
    -------
    dict
        A new configuration (``config`` itself is not changed).

    Raises
    ------
    ValueError
        For an invalid ``config``, an unknown ``method``, bad factors or probability.

    References
    ----------
    Jaderberg et al. (2017), section 3.1 ("Perturb" and "Resample").

    Examples
    --------
    >>> space = SearchSpace([Float("lr", 1e-4, 1e-1, log=True), Int("layers", 1, 4)])
    >>> new = explore({"lr": 0.01, "layers": 2}, space, np.random.default_rng(0))
    >>> new["lr"] in (0.008, 0.012), new["layers"] in (1, 3)
    (True, True)
    """
    method = _check_method(method)
    factors = _check_factors(perturb_factors)
    resample_probability = _check_probability(resample_probability)
    space.validate(config)
    if method == "resample":
        return space.sample(rng)
    new: dict[str, Any] = {}
    for param in space:
        if not param.is_active(new):
            continue
        if param.name not in config:  # a parent changed and switched this child on
            new[param.name] = param.sample(rng)
        elif isinstance(param, Categorical):
            keep = rng.random() >= resample_probability
            new[param.name] = config[param.name] if keep else param.sample(rng)
        else:
            factor = factors[rng.integers(len(factors))]
            new[param.name] = _perturb_number(param, config[param.name], factor)
    return new


# ======================================================================================
# The scheduler
# ======================================================================================

class PBT(Scheduler):
    """Population-based training in synchronous generations.

    Generation 0 trains ``population_size`` configurations drawn from the prior from
    scratch up to the first ready point. After every generation but the last, the
    members are ranked by their latest value; :func:`exploit` picks the losers and
    their winners, :func:`explore` gives each loser a new configuration near its
    winner's, and the next generation trains every member up to the next ready
    point: a loser from its winner's checkpoint (``Job.resume`` = the winner's
    trial), every other member from its own.

    Parameters
    ----------
    space : SearchSpace
        The hyperparameters (conditional spaces work, see :func:`explore`).
    population_size : int
        Number of members, >= 2. Member ``i`` is trial ``i`` throughout.
    ready_interval : float
        Budget trained between two exploit/explore steps.
    max_budget : float
        Budget every member is trained to. The ready points are ``ready_interval,
        2 ready_interval, ...`` and ``max_budget`` (the last interval may be shorter).
    truncation : float
        Fraction in (0, 0.5]: the bottom ``max(1, floor(truncation * n))`` members
        are replaced by copies of the top as many.
    explore : {"perturb", "resample"}
        How a loser changes its winner's hyperparameters (see :func:`explore`).
    perturb_factors : sequence of float
        Factors a numeric hyperparameter is multiplied by under ``"perturb"``.
    resample_probability : float
        Chance that a categorical is redrawn under ``"perturb"``.
    seed : int, optional
        Seed of the initial population, the winners and the exploration: the same
        seed replays the same run.

    Raises
    ------
    ValueError
        When a parameter is out of range (each message names it).

    Notes
    -----
    The jobs of a generation come losers first. :func:`run_schedule` reads a
    resumed checkpoint when it starts a job, so a loser copies its winner before
    the winner trains on, whatever the number of workers. ``Job.bracket`` holds the
    generation. Fewer workers than members only make the generation take longer.

    References
    ----------
    Jaderberg et al. (2017), "Population Based Training of Neural Networks",
    arXiv:1711.09846, section 3 and Algorithm 1.

    Examples
    --------
    >>> from course.hpo.scheduler import run_schedule
    >>> space, objective = toy_problem()
    >>> log = run_schedule(objective, PBT(space, 2, 4, 20, seed=0), stateful=True)
    >>> len(log), sorted(log["trial"].unique().tolist())
    (10, [0, 1])
    """

    def __init__(self, space: SearchSpace, population_size: int, ready_interval: float,
                 max_budget: float, truncation: float = 0.2, explore: str = "perturb",
                 perturb_factors: Sequence[float] = (0.8, 1.2),
                 resample_probability: float = 0.25, seed: int | None = None) -> None:
        if not isinstance(space, SearchSpace):
            raise ValueError(f"space must be a SearchSpace, got {type(space).__name__}")
        if isinstance(population_size, bool) or not isinstance(population_size, (int, np.integer)) \
                or population_size < 2:
            raise ValueError(f"population_size must be an int >= 2, got {population_size!r}")
        for name, number in (("ready_interval", ready_interval), ("max_budget", max_budget)):
            if isinstance(number, bool) or not isinstance(number, Real) or not (
                    math.isfinite(number) and number > 0):
                raise ValueError(f"{name} must be a positive number, got {number!r}")
        if max_budget < ready_interval:
            raise ValueError(f"max_budget must be >= ready_interval, got max_budget={max_budget!r} "
                             f"< ready_interval={ready_interval!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(f"seed must be an int or None, got {seed!r}")
        self.space = space
        self.population_size = int(population_size)
        self.ready_interval = ready_interval
        self.max_budget = max_budget
        self.truncation = _check_truncation(truncation)
        self.explore = _check_method(explore)
        self.perturb_factors = _check_factors(perturb_factors)
        self.resample_probability = _check_probability(resample_probability)
        self.seed = seed
        # the budgets of the ready points, one per generation
        n_generations = math.ceil(max_budget / ready_interval - 1e-9)
        self.ready_points = [ready_interval * (g + 1) for g in range(n_generations - 1)] + [max_budget]
        self._rng: np.random.Generator | None = None

    # -- ask / tell -------------------------------------------------------------------
    def ask(self) -> Job | None:
        if self._rng is None:
            self._start()
        if self._queue:
            job = self._queue.pop(0)
            self._running.add(job.trial)
            return job
        if self._finished:
            raise SearchExhausted
        return None  # the generation's last jobs are still running

    def tell(self, job: Job, value: float) -> None:
        if self._rng is None or job.trial not in self._running:
            raise ValueError(f"{job} is not a running job of this PBT run")
        self._running.discard(job.trial)
        self.configs[job.trial] = dict(job.config)
        self.values[job.trial] = float(value)
        if self._queue or self._running:
            return  # the generation is not complete yet
        if self.generation == len(self.ready_points) - 1:
            self._finished = True
        else:
            self._next_generation()

    # -- the generations ----------------------------------------------------------------
    def _start(self) -> None:
        self._rng = np.random.default_rng(self.seed)
        self.generation = 0
        self.configs: list[dict[str, Any]] = [self.space.sample(self._rng)
                                              for _ in range(self.population_size)]
        self.values: list[float] = [math.nan] * self.population_size
        self._finished = False
        self._queue = [Job(member, dict(config), self.ready_points[0], None, 0)
                       for member, config in enumerate(self.configs)]
        self._running: set[int] = set()  # members whose job was asked for but not told

    def _next_generation(self) -> None:
        """Exploit and explore, then queue every member's next stretch of training."""
        self.generation += 1
        budget = self.ready_points[self.generation]
        winners = exploit(self.values, self.truncation, self._rng)
        losers_first = []
        for loser, winner in winners.items():
            config = explore(self.configs[winner], self.space, self._rng, method=self.explore,
                             perturb_factors=self.perturb_factors,
                             resample_probability=self.resample_probability)
            losers_first.append(Job(loser, config, budget, winner, self.generation))
        rest = [Job(member, dict(self.configs[member]), budget, member, self.generation)
                for member in range(self.population_size) if member not in winners]
        self._queue = losers_first + rest


# ======================================================================================
# Reading a run: each member's schedule of hyperparameters
# ======================================================================================

def hyperparameter_schedules(log: pd.DataFrame) -> pd.DataFrame:
    """Each member's hyperparameters over its training, from a PBT run's log.

    Parameters
    ----------
    log : pandas.DataFrame
        What :func:`~course.hpo.scheduler.run_schedule` returned for a :class:`PBT`
        run (columns ``trial, config, budget, resume, value, cost`` at least).

    Returns
    -------
    pandas.DataFrame
        One row per member and stretch of training, sorted by member and budget:
        ``member, start, end`` (the budget trained from and to), ``parent`` (whose
        checkpoint the stretch started from: the member itself, another member
        after an exploit, or -1 from scratch), ``exploited`` (bool), ``value``
        (reached at ``end``) and one column per hyperparameter (NaN where inactive).

    Examples
    --------
    >>> from course.hpo.scheduler import run_schedule
    >>> space, objective = toy_problem()
    >>> log = run_schedule(objective, PBT(space, 2, 4, 12, seed=0), stateful=True)
    >>> list(hyperparameter_schedules(log).columns)
    ['member', 'start', 'end', 'parent', 'exploited', 'value', 'h0', 'h1']
    """
    missing = {"trial", "config", "budget", "resume", "value", "cost"} - set(log.columns)
    if missing:
        raise ValueError(f"log lacks the column(s) {sorted(missing)}; pass run_schedule's result")
    log = log.sort_values(["trial", "budget"], kind="stable")
    records = []
    for row in log.itertuples(index=False):
        member = int(row.trial)
        parent = -1 if row.resume is None or pd.isna(row.resume) else int(row.resume)
        # a job trains from the budget of the checkpoint it resumes: budget - cost
        record = {"member": member, "start": row.budget - row.cost, "end": row.budget,
                  "parent": parent, "exploited": parent not in (-1, member), "value": row.value}
        record.update(row.config)
        records.append(record)
    names = list(dict.fromkeys(name for row in log["config"] for name in row))
    columns = ["member", "start", "end", "parent", "exploited", "value"] + names
    return pd.DataFrame.from_records(records, columns=columns)


def plot_schedules(log: pd.DataFrame, names: Sequence[str] | None = None, ax: Any = None,
                   space: SearchSpace | None = None) -> list:
    """Plot each member's schedule of hyperparameters: one panel per hyperparameter.

    Each member is one step line (its value of the hyperparameter against the
    budget); a dotted line marks an exploit, from the winner's setting to the
    loser's new (explored) one, so the lineage is visible.

    Parameters
    ----------
    log : pandas.DataFrame
        A PBT run's log (see :func:`hyperparameter_schedules`).
    names : sequence of str, optional
        Hyperparameters to plot (default: all that appear in the log).
    ax : matplotlib Axes or sequence of Axes, optional
        One per name; a new figure when omitted.
    space : SearchSpace, optional
        If given, log-scaled parameters get a log axis.

    Returns
    -------
    list of matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    schedules = hyperparameter_schedules(log)
    names = list(names) if names is not None else list(schedules.columns[6:])
    if ax is None:
        _, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.4), squeeze=False)
        axes = list(axes[0])
    else:
        axes = list(np.atleast_1d(ax))
    if len(axes) != len(names):
        raise ValueError(f"need one Axes per hyperparameter ({len(names)}), got {len(axes)}")
    colours = plt.get_cmap("tab10")
    for axis, name in zip(axes, names):
        for member, rows in schedules.groupby("member"):
            colour = colours(member % 10)
            xs, ys = [], []
            for row in rows.itertuples(index=False):
                xs += [row.start, row.end]
                ys += [getattr(row, name)] * 2
            axis.plot(xs, ys, color=colour, lw=1.5, label=f"member {member}")
            for row in rows[rows["exploited"]].itertuples(index=False):
                donor = schedules[(schedules["member"] == row.parent) & (schedules["end"] == row.start)]
                if len(donor):
                    axis.plot([row.start, row.start], [donor[name].iloc[0], getattr(row, name)],
                              ":", color=colour, lw=1.2)
                    axis.plot([row.start], [getattr(row, name)], "o", color=colour, ms=3)
        if space is not None and name in space and getattr(space[name], "log", False):
            axis.set_yscale("log")
        axis.set_xlabel("budget (step)")
        axis.set_title(name)
        axis.grid(True, alpha=0.3)
    return axes


# ======================================================================================
# The paper's toy problem (section 4.1, figure 2)
# ======================================================================================

#: The maximum of the toy problem's true objective Q(theta) = 1.2 - (theta_0^2 + theta_1^2).
TOY_Q_MAX = 1.2


def toy_problem(learning_rate: float = 0.02,
                theta_start: tuple[float, float] = (0.9, 0.9)) -> tuple[SearchSpace, StatefulObjective]:
    """The toy problem of the PBT paper: ascend a surrogate, be judged on the truth.

    The true objective is ``Q(theta) = 1.2 - (theta_0^2 + theta_1^2)``. Training
    only sees the surrogate ``Q_hat(theta | h) = 1.2 - (h_0 theta_0^2 + h_1
    theta_1^2)`` and does gradient ascent on it, one step per unit of budget:
    ``theta_i <- theta_i + learning_rate * dQ_hat/dtheta_i = theta_i (1 - 2
    learning_rate h_i)``. The hyperparameters ``h = (h0, h1)`` in [0, 1]^2 decide
    how fast each coordinate moves; a coordinate with ``h_i = 0`` never moves.

    Under the course's "lower is better" convention the value is the gap to the
    maximum, ``1.2 - Q(theta) = theta_0^2 + theta_1^2`` (0 at the optimum; 1.62 at
    the start (0.9, 0.9)).

    Parameters
    ----------
    learning_rate : float
        Step size of the gradient ascent.
    theta_start : (float, float)
        Where every member starts.

    Returns
    -------
    space : SearchSpace
        ``Float("h0", 0, 1), Float("h1", 0, 1)``.
    objective : callable
        ``objective(config, budget, checkpoint) -> (value, checkpoint)`` with
        checkpoint ``{"step": int, "theta": numpy array}``; the budget is rounded to
        a whole number of steps.

    References
    ----------
    Jaderberg et al. (2017), section 4.1 and figure 2 (two members, starting at
    theta = (0.9, 0.9), exploit and explore every 4 steps).

    Examples
    --------
    >>> space, objective = toy_problem()
    >>> value, checkpoint = objective({"h0": 1.0, "h1": 0.0}, 10, None)
    >>> round(value, 4), checkpoint["step"]
    (1.168, 10)
    """
    if not (isinstance(learning_rate, Real) and 0 < learning_rate < 0.5):
        raise ValueError(f"learning_rate must be in (0, 0.5) (a stable step), got {learning_rate!r}")
    start = np.array(theta_start, dtype=float)
    if start.shape != (2,) or not np.all(np.isfinite(start)):
        raise ValueError(f"theta_start must be two finite numbers, got {theta_start!r}")
    space = SearchSpace([Float("h0", 0.0, 1.0), Float("h1", 0.0, 1.0)])

    def objective(config: dict[str, Any], budget: float, checkpoint: Any) -> tuple[float, Any]:
        step, theta = (0, start.copy()) if checkpoint is None else (checkpoint["step"],
                                                                    np.array(checkpoint["theta"]))
        target = int(round(budget))
        if target < step:
            raise ValueError(f"budget {budget} is behind the checkpoint's step {step}")
        h = np.array([config["h0"], config["h1"]], dtype=float)
        for _ in range(target - step):
            theta = theta - learning_rate * 2.0 * h * theta  # ascent on Q_hat: grad = -2 h theta
        return float(np.sum(theta ** 2)), {"step": target, "theta": theta}

    return space, objective


# ======================================================================================
# A real model that trains in steps: an MLP on digits
# ======================================================================================

def mlp_digits_stateful(hidden_layer_sizes: tuple[int, ...] = (32,), batch_size: int = 64,
                        seed: int = 0) -> tuple[SearchSpace, StatefulObjective]:
    """A small MLP on scikit-learn's digits, trained by SGD one epoch per unit of budget.

    The 1797 digits are split (stratified, fixed) into 60 % training, 20 %
    validation and 20 % test data, standardised on the training part. The model
    is ``MLPClassifier(solver="sgd", learning_rate="constant")`` trained with
    ``partial_fit``; a checkpoint is the fitted estimator (run_schedule deep-copies
    it), so a member can change its hyperparameters between epochs.

    Hyperparameters: ``learning_rate`` in [1e-3, 0.5] (log), ``alpha`` (L2
    penalty) in [1e-6, 1e-1] (log) and ``momentum`` in [0, 0.95].

    Parameters
    ----------
    hidden_layer_sizes : tuple of int
        The network's hidden layers.
    batch_size : int
        Minibatch size of SGD.
    seed : int
        Seed of the weight initialisation and of the minibatch order, so the
        objective is deterministic.

    Returns
    -------
    space : SearchSpace
    objective : callable
        ``objective(config, budget, checkpoint) -> (validation error, checkpoint)``
        with checkpoint ``{"epoch": int, "model": MLPClassifier or None}`` (``None``
        once training diverged; its error is then that of always guessing, 0.9).
        ``objective.test_error(checkpoint)`` gives the test error of a checkpoint.

    Examples
    --------
    >>> space, objective = mlp_digits_stateful()
    >>> config = {"learning_rate": 0.05, "alpha": 1e-4, "momentum": 0.9}
    >>> error, checkpoint = objective(config, 3, None)
    >>> 0.0 <= error < 0.2, checkpoint["epoch"]
    (True, 3)
    """
    import warnings

    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X_train, X_rest, y_train, y_rest = train_test_split(X, y, train_size=0.6, stratify=y, random_state=0)
    X_val, X_test, y_val, y_test = train_test_split(X_rest, y_rest, train_size=0.5, stratify=y_rest,
                                                    random_state=0)
    scaler = StandardScaler().fit(X_train)
    X_train, X_val, X_test = scaler.transform(X_train), scaler.transform(X_val), scaler.transform(X_test)
    classes = np.unique(y)
    chance_error = 1.0 - 1.0 / len(classes)
    space = SearchSpace([
        Float("learning_rate", 1e-3, 0.5, log=True),
        Float("alpha", 1e-6, 1e-1, log=True),
        Float("momentum", 0.0, 0.95),
    ])

    def error(model: Any, X_eval: np.ndarray, y_eval: np.ndarray) -> float:
        return chance_error if model is None else float(np.mean(model.predict(X_eval) != y_eval))

    class Objective:
        def __call__(self, config: dict[str, Any], budget: float, checkpoint: Any) -> tuple[float, Any]:
            if checkpoint is None:
                epoch, model = 0, MLPClassifier(hidden_layer_sizes, solver="sgd", learning_rate="constant",
                                                batch_size=batch_size, random_state=seed)
            else:
                epoch, model = checkpoint["epoch"], checkpoint["model"]
            target = int(round(budget))
            if target < epoch:
                raise ValueError(f"budget {budget} is behind the checkpoint's epoch {epoch}")
            if model is not None:
                model.set_params(learning_rate_init=config["learning_rate"], alpha=config["alpha"],
                                 momentum=config["momentum"])
                optimiser = getattr(model, "_optimizer", None)
                if optimiser is not None:
                    # partial_fit builds its SGD optimiser once and keeps it, so a changed
                    # learning rate or momentum must reach the optimiser itself
                    optimiser.learning_rate_init = optimiser.learning_rate = config["learning_rate"]
                    optimiser.momentum = config["momentum"]
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        for _ in range(target - epoch):
                            model.partial_fit(X_train, y_train, classes=classes)
                except ValueError:  # the weights blew up (a learning rate too large)
                    model = None
            return error(model, X_val, y_val), {"epoch": target, "model": model}

        def test_error(self, checkpoint: Any) -> float:
            return error(checkpoint["model"], X_test, y_test)

    return space, Objective()
