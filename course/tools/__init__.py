"""AutoML tools in practice (chapter 4): running real tools fairly, and what comes after the search.

* :mod:`course.tools.h2o_cluster`: a local H2O cluster that is always shut down.
* :mod:`course.tools.comparison`: the course's mini-AutoML, Optuna + scikit-learn, TPOT,
  H2O AutoML and AutoKeras on the same data, split, seeds and wall-clock budget.
* :mod:`course.tools.ranking`: ranking tools from raw results, with a statistical tie rule.
* :mod:`course.tools.deployment`: choosing under a latency limit, saving and reloading a
  model safely, detecting drift and deciding when to re-tune.
"""

from .comparison import (DATASETS, TOOL_NAMES, TOOLS, BudgetTooSmallError, ToolFailedError, ToolTimeoutError,
                         compare, lines_of_code, load_split, plot_comparison, summarise)
from .deployment import (choose_under_latency, drift_report, ks_statistic, load_model, measure_latency, plot_drift,
                         population_stability_index, predictions_match, save_model, should_retune)
from .h2o_cluster import ClusterStartError, check_java, cluster_processes, h2o_cluster
from .ranking import (average_ranks, check_protocol, critical_difference, dataset_ranks, mean_over_seeds,
                      plot_average_ranks, rank_dataset, simulate_results, tied)

__all__ = [
    "compare", "summarise", "plot_comparison", "lines_of_code", "load_split", "TOOLS", "TOOL_NAMES", "DATASETS",
    "BudgetTooSmallError", "ToolTimeoutError", "ToolFailedError",
    "h2o_cluster", "ClusterStartError", "check_java", "cluster_processes",
    "check_protocol", "mean_over_seeds", "tied", "rank_dataset", "dataset_ranks", "average_ranks",
    "critical_difference", "simulate_results", "plot_average_ranks",
    "choose_under_latency", "measure_latency", "save_model", "load_model", "predictions_match",
    "population_stability_index", "ks_statistic", "drift_report", "should_retune", "plot_drift",
]
