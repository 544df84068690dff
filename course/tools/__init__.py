"""AutoML tools in practice (chapter 4): running real tools fairly, and what comes after the search.

* :mod:`course.tools.h2o_cluster`: a local H2O cluster that is always shut down.
* :mod:`course.tools.comparison`: the course's mini-AutoML, Optuna + scikit-learn, TPOT,
  H2O AutoML and AutoKeras on the same data, split, seeds and wall-clock budget.
* :mod:`course.tools.ranking`: ranking tools from raw results, with a statistical tie rule.
* :mod:`course.tools.deployment`: choosing under a latency limit, saving and reloading a
  model safely, detecting drift and deciding when to re-tune.
"""
