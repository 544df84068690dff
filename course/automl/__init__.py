"""AutoML from scratch: CASH, meta-learning, ensembles and feature engineering.

The package's areas, each a module (chapter 1 of the course; chapter 4 reuses them):

* **CASH** (:mod:`course.automl.cash`): one conditional search space over
  preprocessing (imputation, scaling, feature selection and construction) and model
  families with their hyperparameters (:func:`cash_space`), and the function that turns
  a configuration into a scikit-learn pipeline (:func:`build_pipeline`).
* **A mini-AutoML** (:mod:`course.automl.mini_automl`): :class:`MiniAutoML`, a
  scikit-learn estimator that searches the CASH space with the course's random search
  or TPE under a trial or time budget, keeps a leaderboard and refits the best pipeline.
* **Meta-learning** (:mod:`course.automl.metafeatures`, :mod:`course.automl.meta_dataset`,
  :mod:`course.automl.metalearning`): dataset meta-features, a meta-dataset generated
  by the repository, nearest-dataset warm start and algorithm selection.
* **Ensembles** (:mod:`course.automl.ensemble_selection`): greedy ensemble selection
  with replacement (Caruana et al. 2004), as in auto-sklearn, against stacking.
* **Feature engineering** (:mod:`course.automl.feature_engineering`): automated
  feature construction and selection.
"""

from .cash import MODELS, REGRESSION_MODELS, build_pipeline, cash_space
from .ensemble_selection import (METRICS, BaggedEnsembleSelectionResult, EnsembleSelectionClassifier,
                                 EnsembleSelectionRegressor, EnsembleSelectionResult, bagged_ensemble_selection,
                                 ensemble_predict, ensemble_selection)
from .feature_engineering import FeatureConstructor, FilterSelector, ForwardSelector
from .meta_dataset import PORTFOLIO, MetaDataset, load_meta_dataset
from .metafeatures import metafeature_descriptions, metafeature_groups, metafeatures
from .metalearning import (AlgorithmSelector, NearestDatasetWarmStart, leave_one_dataset_out_regret,
                           leave_one_dataset_out_selection, plot_regret_curves)
from .mini_automl import MiniAutoML, plot_history

__all__ = [
    "MODELS", "REGRESSION_MODELS", "cash_space", "build_pipeline", "MiniAutoML", "plot_history",
    "metafeatures", "metafeature_groups", "metafeature_descriptions",
    "PORTFOLIO", "MetaDataset", "load_meta_dataset",
    "NearestDatasetWarmStart", "AlgorithmSelector", "leave_one_dataset_out_regret",
    "leave_one_dataset_out_selection", "plot_regret_curves",
    "ensemble_selection", "bagged_ensemble_selection", "ensemble_predict", "EnsembleSelectionResult",
    "BaggedEnsembleSelectionResult", "EnsembleSelectionClassifier", "EnsembleSelectionRegressor", "METRICS",
    "FeatureConstructor", "FilterSelector", "ForwardSelector",
]
