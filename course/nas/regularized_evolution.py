"""Regularised evolution (aging evolution): tournament selection, mutation, and death by age.

Real et al. (2019), Algorithm 1, with the course's ask/tell interface:

1. fill a *population* with ``P`` random configurations and evaluate them;
2. then, for every new trial: draw ``S`` members of the population at random (the
   *sample*), take the best of them as the *parent* (tournament selection), evaluate
   its *child* (the parent with one parameter changed, :func:`mutate_configuration`),
   add the child to the population and remove the population's *oldest* member.

Removing the oldest rather than the worst is the "regularisation": a configuration
survives only if its descendants keep winning tournaments, so one lucky evaluation
(a noisy training run) cannot dominate the search forever. Since every evaluated child
joins the population and the oldest leaves, the population is always the ``P`` most
recently told trials.

References
----------
E. Real, A. Aggarwal, Y. Huang and Q. V. Le, "Regularized evolution for image classifier
architecture search", AAAI 2019, Algorithm 1 (aging evolution).
X. Dong and Y. Yang, "NAS-Bench-201", ICLR 2020 (regularised evolution on a cell space:
the mutation changes one edge's operation).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from numbers import Integral
from typing import Any

import numpy as np

from course.hpo.sampler import Sampler, Trial
from course.hpo.space import Categorical, SearchSpace

__all__ = ["RegularizedEvolution", "mutate_configuration", "tournament"]

Mutation = Callable[[dict[str, Any], np.random.Generator], dict[str, Any]]


def mutate_configuration(space: SearchSpace, config: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """Change one uniformly chosen active parameter of ``config`` to a different value.

    A categorical parameter gets one of its *other* choices, uniformly; a numeric one a
    fresh uniform draw on its scale (different from the old value). Parameters that the
    change activates are sampled, those it deactivates are dropped. On the cell space
    (:func:`course.nas.cell_space.cell_space`) this is exactly
    :func:`course.nas.cell_space.mutate`: one edge gets a different operation, with the
    same draws from ``rng``.

    Raises
    ------
    ValueError
        If ``config`` is not a valid configuration of ``space``.
    """
    space.validate(config)
    active = space.active_names(config)
    name = active[int(rng.integers(len(active)))]
    param = space[name]
    if isinstance(param, Categorical):
        others = [c for c in param.choices if param.index(c) != param.index(config[name])]
        if not others:  # a single-choice parameter cannot change
            return dict(config)
        value = others[int(rng.integers(len(others)))]
    else:
        value = config[name]
        for _ in range(100):  # a numeric draw equals the old value with probability ~0 (Int: 1/range)
            value = param.sample(rng)
            if value != config[name]:
                break
    changed: dict[str, Any] = {}
    for p in space:  # keep every other value; repair what the change (de)activated
        if p.is_active(changed):
            changed[p.name] = value if p.name == name else config[p.name] if p.name in config else p.sample(rng)
    return changed


def tournament(values: Sequence[float], sample_size: int, rng: np.random.Generator) -> int:
    """Tournament selection: draw ``sample_size`` indices at random, return the best one's.

    ``values`` are minimised. The draws are independent (with replacement), as in
    Algorithm 1 of Real et al. (2019), where each draw is "a random element from the
    population"; ties go to the earliest draw.

    Raises
    ------
    ValueError
        If ``values`` is empty or ``sample_size`` is not a positive int.
    """
    if len(values) == 0:
        raise ValueError("the population is empty")
    if isinstance(sample_size, bool) or not isinstance(sample_size, Integral) or sample_size < 1:
        raise ValueError(f"sample_size must be a positive int, got {sample_size!r}")
    sample = rng.integers(len(values), size=int(sample_size))
    return int(sample[int(np.argmin(np.asarray(values, dtype=float)[sample]))])


class RegularizedEvolution(Sampler):
    """Aging evolution (Real et al. 2019, Algorithm 1) as an ask/tell sampler.

    Parameters
    ----------
    population_size : int
        ``P``: the number of random configurations the search starts with, and the
        number of most recent trials that form the population afterwards.
    sample_size : int
        ``S``: members drawn for each tournament, ``1 <= S <= P``. ``S = 1`` is a random
        walk from random members; larger ``S`` means greedier selection.
    mutation : callable, optional
        ``mutation(config, rng) -> config``, the child of a parent. The default is
        :func:`mutate_configuration` on the space being searched.
    seed : int, optional
        Seed of the generator; the same seed and the same results replay the same run.

    Raises
    ------
    ValueError
        For sizes that are not positive ints or ``sample_size > population_size``.
    TypeError
        If ``mutation`` is not callable.

    Notes
    -----
    The population is kept from :meth:`tell` (each told trial joins it; beyond ``P``
    members the oldest dies), so the sampler works with :func:`course.hpo.minimize` and
    with any loop that calls ``tell`` after each ``ask``. Values are minimised: to
    maximise an accuracy, tell its negative (or the error).

    References
    ----------
    Real et al. (2019), Algorithm 1.

    Examples
    --------
    >>> from course.hpo import minimize
    >>> from course.nas.cell_space import cell_space, to_architecture
    >>> space = cell_space()
    >>> def n_convs(config):   # fewer convolutions is "better" in this toy objective
    ...     return sum(op == "conv_3x3" for op in to_architecture(config))
    >>> history = minimize(n_convs, space, RegularizedEvolution(10, 3, seed=0), 60)
    >>> int(history["value"].min())
    0
    """

    def __init__(self, population_size: int = 20, sample_size: int = 5, mutation: Mutation | None = None,
                 seed: int | None = None) -> None:
        for name, value in (("population_size", population_size), ("sample_size", sample_size)):
            if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if sample_size > population_size:
            raise ValueError(f"sample_size must be <= population_size, got sample_size={sample_size} > "
                             f"population_size={population_size}")
        if mutation is not None and not callable(mutation):
            raise TypeError(f"mutation must be a callable (config, rng) -> config, got {type(mutation).__name__}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, Integral)):
            raise ValueError(f"seed must be an int or None, got {seed!r}")
        self.population_size, self.sample_size = int(population_size), int(sample_size)
        self.mutation, self.seed = mutation, seed
        self._rng: np.random.Generator | None = None
        self._n_asked = 0
        self.population: deque[tuple[dict[str, Any], float]] = deque()

    def ask(self, space: SearchSpace, history: Sequence[Trial]) -> dict[str, Any]:
        if self._rng is None:
            self._rng = np.random.default_rng(self.seed)
        self._n_asked += 1
        if self._n_asked <= self.population_size:  # Algorithm 1, lines 3-7: random initial population
            return space.sample(self._rng)
        if not self.population:
            raise RuntimeError("RegularizedEvolution: the initial population has no results yet; "
                               "call tell() after each ask()")
        members = list(self.population)
        parent = members[tournament([value for _, value in members], self.sample_size, self._rng)][0]
        if self.mutation is None:
            return mutate_configuration(space, parent, self._rng)
        return self.mutation(dict(parent), self._rng)

    def tell(self, trial: Trial) -> None:
        """Add the evaluated trial to the population; the oldest member dies beyond ``P``."""
        self.population.append((dict(trial.params), float(trial.value)))
        if len(self.population) > self.population_size:  # Algorithm 1, line 16: remove the oldest
            self.population.popleft()
