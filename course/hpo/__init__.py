"""Hyperparameter optimisation from scratch: search spaces, samplers and the loop.

Every sampler implements :class:`Sampler` (``ask``/``tell``) and runs in
:func:`minimize`, which returns the run's history as a DataFrame.
"""

from .grid import GridSampler, grid_configurations
from .loop import ObjectiveError, best_so_far, best_trial, history_frame, minimize
from .random_search import RandomSampler
from .sampler import Sampler, SearchExhausted, Trial
from .space import Categorical, Float, Int, Parameter, SearchSpace

__all__ = [
    "SearchSpace", "Parameter", "Float", "Int", "Categorical",
    "Sampler", "Trial", "SearchExhausted",
    "minimize", "history_frame", "best_trial", "best_so_far", "ObjectiveError",
    "GridSampler", "grid_configurations", "RandomSampler",
]
