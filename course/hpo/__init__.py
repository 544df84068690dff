"""Hyperparameter optimisation from scratch: search spaces, samplers and the loop.

Every sampler implements :class:`Sampler` (``ask``/``tell``) and runs in
:func:`minimize`, which returns the run's history as a DataFrame:

    >>> from course.hpo import Float, SearchSpace, TPESampler, minimize
    >>> space = SearchSpace([Float("x", -5.0, 5.0)])
    >>> history = minimize(lambda c: (c["x"] - 1) ** 2, space, TPESampler(seed=0), 30)
    >>> len(history)
    30

Wrappers around Optuna's and Hyperopt's samplers live in :mod:`course.hpo.adapters`,
benchmark objectives in :mod:`course.hpo.objectives`.
"""

from .gp import GPSampler
from .grid import GridSampler, grid_configurations
from .loop import ObjectiveError, best_so_far, best_trial, history_frame, minimize
from .random_search import RandomSampler
from .sampler import Sampler, SearchExhausted, Trial
from .space import Categorical, Float, Int, Parameter, SearchSpace
from .tpe import TPESampler

__all__ = [
    "SearchSpace", "Parameter", "Float", "Int", "Categorical",
    "Sampler", "Trial", "SearchExhausted",
    "minimize", "history_frame", "best_trial", "best_so_far", "ObjectiveError",
    "GridSampler", "grid_configurations", "RandomSampler", "GPSampler", "TPESampler",
]
