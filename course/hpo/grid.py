"""Grid search: evaluate every combination of a few values per parameter.

Reference: J. Bergstra and Y. Bengio, "Random search for hyper-parameter
optimization", JMLR 13 (2012), section 1: grid search is the "trial set" formed by
the Cartesian product of one list of values per hyperparameter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .sampler import Sampler, SearchExhausted, Trial
from .space import SearchSpace

__all__ = ["grid_configurations", "GridSampler"]


def _points_for(points_per_dim: int | Mapping[str, int], name: str) -> int:
    if isinstance(points_per_dim, Mapping):
        if name not in points_per_dim:
            raise ValueError(f"points_per_dim has no entry for parameter {name!r}")
        return points_per_dim[name]
    return points_per_dim


def grid_configurations(space: SearchSpace,
                        points_per_dim: int | Mapping[str, int]) -> list[dict[str, Any]]:
    """Every configuration of the grid over ``space``.

    Parameters
    ----------
    space : SearchSpace
        The space to cover. A conditional parameter is only varied in the branches
        where it is active, so no two configurations are identical.
    points_per_dim : int or dict
        Grid values per numeric parameter (a categorical parameter always uses all
        of its choices). A dict gives a number per parameter name.

    Returns
    -------
    list of dict
        In the order of :func:`itertools.product` over the parameters as listed
        (the first parameter varies slowest).
    """
    if isinstance(points_per_dim, Mapping):
        unknown = set(points_per_dim) - set(space.names)
        if unknown:
            raise ValueError(f"points_per_dim names unknown parameter(s) {sorted(unknown)}")
    values = {p.name: p.grid_values(_points_for(points_per_dim, p.name)) for p in space}

    configs: list[dict[str, Any]] = [{}]
    for param in space:
        extended = []
        for config in configs:
            if param.is_active(config):
                extended.extend({**config, param.name: v} for v in values[param.name])
            else:
                extended.append(config)
        configs = extended
    return configs


class GridSampler(Sampler):
    """Proposes the grid's configurations one by one, then reports exhaustion.

    Parameters
    ----------
    points_per_dim : int or dict
        As in :func:`grid_configurations`.
    shuffle : bool
        Visit the grid in a random order (useful when the budget may run out before
        the grid does); ``seed`` fixes that order.
    seed : int, optional
        Seed of the shuffle.
    """

    def __init__(self, points_per_dim: int | Mapping[str, int] = 5, *, shuffle: bool = False,
                 seed: int | None = None) -> None:
        self.points_per_dim = points_per_dim
        self.shuffle = shuffle
        self.seed = seed
        self._grid: list[dict[str, Any]] | None = None
        self._space: SearchSpace | None = None

    def ask(self, space: SearchSpace, history: Sequence[Trial]) -> dict[str, Any]:
        if self._grid is None or self._space is not space:
            self._space = space
            self._grid = grid_configurations(space, self.points_per_dim)
            if self.shuffle:
                order = np.random.default_rng(self.seed).permutation(len(self._grid))
                self._grid = [self._grid[i] for i in order]
        if len(history) >= len(self._grid):
            raise SearchExhausted(f"all {len(self._grid)} grid points were evaluated")
        return dict(self._grid[len(history)])
