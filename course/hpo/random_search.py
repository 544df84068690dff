"""Random search: draw every configuration independently from the prior.

Reference: J. Bergstra and Y. Bengio, "Random search for hyper-parameter
optimization", JMLR 13 (2012). Random trials cover each single dimension with as
many distinct values as there are trials, which is why they beat a grid of the same
size when only a few hyperparameters matter ("low effective dimensionality").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .sampler import Sampler, Trial
from .space import SearchSpace

__all__ = ["RandomSampler"]


class RandomSampler(Sampler):
    """Samples every parameter uniformly on its own scale, ignoring the history.

    Parameters
    ----------
    seed : int, optional
        Seed of the generator; the same seed gives the same sequence of configurations.
    """

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self._rng: np.random.Generator | None = None

    def ask(self, space: SearchSpace, history: Sequence[Trial]) -> dict[str, Any]:
        if self._rng is None:
            self._rng = np.random.default_rng(self.seed)
        return space.sample(self._rng)
