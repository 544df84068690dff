"""Hyperparameter optimisation from scratch: search spaces, samplers and the loop.

Every sampler implements :class:`Sampler` (``ask``/``tell``) and runs in
:func:`minimize`, which returns the run's history as a DataFrame:

    >>> from course.hpo import Float, SearchSpace, TPESampler, minimize
    >>> space = SearchSpace([Float("x", -5.0, 5.0)])
    >>> history = minimize(lambda c: (c["x"] - 1) ** 2, space, TPESampler(seed=0), 30)
    >>> len(history)
    30

Multi-fidelity methods implement :class:`Scheduler` (``ask`` a :class:`Job`, ``tell`` its
value) and run in :func:`run_schedule`: successive halving, Hyperband, ASHA, BOHB and
population-based training. Multi-objective tools: Pareto dominance and fronts,
hypervolume, NSGA-II.

Wrappers around Optuna's and Hyperopt's samplers live in :mod:`course.hpo.adapters`,
benchmark objectives in :mod:`course.hpo.objectives` and :mod:`course.hpo.learning_curves`.
Distributed HPO (one Optuna study shared by worker processes, over a journal file or
PostgreSQL) lives in :mod:`course.hpo.distributed`; its public names are importable from
here too, loaded on first use.
"""

from .asha import ASHA
from .bohb import BOHB
from .gp import GPSampler
from .grid import GridSampler, grid_configurations
from .hyperband import Hyperband, hyperband_schedule
from .hypervolume import hypervolume
from .loop import ObjectiveError, best_so_far, best_trial, history_frame, minimize
from .nsga2 import NSGA2Sampler, nsga2_select
from .pareto import crowding_distance, dominates, non_dominated_sort, pareto_front
from .pbt import PBT
from .random_search import RandomSampler
from .sampler import Sampler, SearchExhausted, Trial
from .scheduler import Job, Scheduler, run_schedule
from .space import Categorical, Float, Int, Parameter, SearchSpace
from .successive_halving import SuccessiveHalving
from .tpe import TPESampler

__all__ = [
    "SearchSpace", "Parameter", "Float", "Int", "Categorical",
    "Sampler", "Trial", "SearchExhausted",
    "minimize", "history_frame", "best_trial", "best_so_far", "ObjectiveError",
    "GridSampler", "grid_configurations", "RandomSampler", "GPSampler", "TPESampler",
    "Job", "Scheduler", "run_schedule",
    "SuccessiveHalving", "Hyperband", "hyperband_schedule", "ASHA", "BOHB", "PBT",
    "dominates", "non_dominated_sort", "pareto_front", "crowding_distance", "hypervolume",
    "nsga2_select", "NSGA2Sampler",
]

# Distributed HPO is loaded on first use (PEP 562): it imports Optuna, which the labs do
# not need, and `python -m course.hpo.distributed` must not find its module already
# imported by this package (runpy would warn and run it twice).
_DISTRIBUTED = (
    "open_storage", "StorageError", "HeartbeatJournalStorage", "run_worker", "launch_workers",
    "WorkerPool", "WorkerError", "enqueue_best_trials", "digits_svm_objective",
)
__all__ += list(_DISTRIBUTED)


def __getattr__(name):
    if name in _DISTRIBUTED:
        from . import distributed

        return getattr(distributed, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
