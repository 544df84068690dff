"""Ensemble selection: build an ensemble greedily from a library of fitted models.

An AutoML run trains many models anyway (every configuration the search tried).
Caruana et al. (2004) turn that *library* into an ensemble with a hill climb on a
held-out *hillclimb* (validation) set, using only the models' predictions on it:

1. start with the empty ensemble;
2. add the model of the library that makes the ensemble's validation score best;
   the ensemble's prediction is the plain average of its members' predictions
   (probabilities for a classifier);
3. repeat step 2 a fixed number of times (``ensemble_size``), or until every model
   was used;
4. return the ensemble, among the nested ones built along the way, with the best
   validation score.

Three refinements of the same paper, all here:

* **selection with replacement** (section 2.1): a model may be added again. Adding
  it twice gives it twice the weight, so the ensemble is a weighted average with
  weights ``count / size``, and the hill climb no longer gets worse as soon as the
  good models are used up, which is what happens without replacement;
* **sorted ensemble initialisation** (section 2.2): put the ``N`` best single models
  in the ensemble first, so that the greedy steps do not overfit the validation set
  by starting from a tiny ensemble; ``N`` is chosen on the validation set;
* **bagged ensemble selection** (section 2.3, :func:`bagged_ensemble_selection`):
  run the selection on random halves of the library and average the ensembles, so
  that no single lucky model dominates.

Auto-sklearn (Feurer et al. 2015, section 3.2) uses this method after its Bayesian
optimisation: the library is every model the search evaluated, the validation set
is the holdout set the search scored them on, selection is with replacement, and
the ensemble keeps all its ``ensemble_size = 50`` picks (no step 4). Here that is
``best_prefix=False``.

The selection needs no refitting: only a matrix of validation predictions, one row
of predictions per model. :class:`EnsembleSelectionClassifier` and
:class:`EnsembleSelectionRegressor` wrap it as scikit-learn estimators that fit the
library, select on a validation split, and predict with the weighted average.

Conventions: a *library* of predictions is an array of shape ``(n_models, n_samples)``
for regression or ``(n_models, n_samples, n_classes)`` of class probabilities for
classification (or a list of such arrays, one per model). Scores are reported in the
metric's own units (accuracy, log loss, mean squared error...); the selection
minimises losses and maximises scores as the metric demands.

References
----------
R. Caruana, A. Niculescu-Mizil, G. Crew and A. Ksikes, "Ensemble Selection from
Libraries of Models", ICML 2004 (section 2: the algorithm; 2.1 selection with
replacement; 2.2 sorted ensemble initialization; 2.3 bagged ensemble selection).

M. Feurer, A. Klein, K. Eggensperger, J. T. Springenberg, M. Blum and F. Hutter,
"Efficient and Robust Automated Machine Learning", NeurIPS 2015 (section 3.2:
ensemble selection with replacement from the models found by Bayesian optimisation,
ensemble size 50).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

__all__ = ["METRICS", "EnsembleSelectionResult", "BaggedEnsembleSelectionResult",
           "ensemble_selection", "bagged_ensemble_selection", "ensemble_predict",
           "EnsembleSelectionClassifier", "EnsembleSelectionRegressor"]

CLASSIFICATION, REGRESSION = "classification", "regression"
# floor for a probability before its log, as scikit-learn's log_loss clips
_EPS = 1e-15
# two candidates whose losses differ by less than this (relative) are tied
_TIE_TOLERANCE = 1e-12
# rows of probabilities must sum to 1 within this
_SUM_TOLERANCE = 1e-4


# ======================================================================================
# Metrics, computed for many candidate ensembles at once
# ======================================================================================

@dataclass(frozen=True)
class Metric:
    """A validation metric: ``score(y, predictions)`` for a batch of candidate ensembles.

    ``y`` holds class indices (classification) or targets (regression);
    ``predictions`` has shape ``(n_candidates, n_samples[, n_classes])``; the
    result has shape ``(n_candidates,)``.
    """

    name: str
    task: str
    greater_is_better: bool
    score: Callable[[np.ndarray, np.ndarray], np.ndarray]


def _accuracy(y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    return np.mean(np.argmax(proba, axis=-1) == y, axis=-1)


def _balanced_accuracy(y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    correct = np.argmax(proba, axis=-1) == y
    present = np.unique(y)
    return np.mean([correct[..., y == c].mean(axis=-1) for c in present], axis=0)


def _log_loss(y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    true_class = np.take_along_axis(proba, y[None, :, None], axis=-1)[..., 0]
    return -np.mean(np.log(np.clip(true_class, _EPS, 1.0)), axis=-1)


def _brier(y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    onehot = np.eye(proba.shape[-1])[y]
    return np.mean(np.sum((proba - onehot) ** 2, axis=-1), axis=-1)


def _mse(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    return np.mean((pred - y) ** 2, axis=-1)


def _rmse(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    return np.sqrt(_mse(y, pred))


def _mae(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    return np.mean(np.abs(pred - y), axis=-1)


def _r2(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    total = np.sum((y - y.mean()) ** 2)
    if total == 0:
        raise ValueError("r2 is undefined when y_val is constant; use metric='mse'")
    return 1.0 - np.sum((pred - y) ** 2, axis=-1) / total


#: The built-in metrics, by name.
METRICS: dict[str, Metric] = {m.name: m for m in [
    Metric("accuracy", CLASSIFICATION, True, _accuracy),
    Metric("balanced_accuracy", CLASSIFICATION, True, _balanced_accuracy),
    Metric("log_loss", CLASSIFICATION, False, _log_loss),
    Metric("brier", CLASSIFICATION, False, _brier),
    Metric("mse", REGRESSION, False, _mse),
    Metric("rmse", REGRESSION, False, _rmse),
    Metric("mae", REGRESSION, False, _mae),
    Metric("r2", REGRESSION, True, _r2),
]}
DEFAULT_METRIC = {CLASSIFICATION: "log_loss", REGRESSION: "mse"}


def _callable_metric(func: Callable, task: str, greater_is_better: Any, y_original: np.ndarray
                     ) -> Metric:
    """A user's ``func(y_true, y_pred) -> float`` as a batch :class:`Metric`."""
    if not isinstance(greater_is_better, bool):
        raise ValueError("greater_is_better must be True or False when metric is a callable, "
                         f"got {greater_is_better!r}")

    def score(_: np.ndarray, predictions: np.ndarray) -> np.ndarray:
        values = np.array([func(y_original, p) for p in predictions], dtype=float)
        if not np.all(np.isfinite(values)):
            raise ValueError(f"metric {getattr(func, '__name__', func)!r} returned a non-finite "
                             f"score: {values[~np.isfinite(values)][0]}")
        return values

    return Metric(getattr(func, "__name__", "metric"), task, greater_is_better, score)


# ======================================================================================
# Input checks
# ======================================================================================

def _as_library(predictions: Any) -> np.ndarray:
    """The library as a float array ``(n_models, n_samples[, n_classes])``, or a clear error."""
    if isinstance(predictions, np.ndarray):
        models = list(predictions) if predictions.ndim >= 1 else None
    elif isinstance(predictions, Sequence) and not isinstance(predictions, (str, bytes)):
        models = list(predictions)
    else:
        models = None
    if models is None:
        raise TypeError("validation_predictions must be an array of shape (n_models, n_samples"
                        "[, n_classes]) or a list of per-model arrays, got "
                        f"{type(predictions).__name__}")
    if not models:
        raise ValueError("the library is empty: validation_predictions holds no model")
    arrays = []
    for i, model in enumerate(models):
        try:
            array = np.asarray(model, dtype=float)
        except (TypeError, ValueError) as err:
            raise ValueError(f"the predictions of model {i} are not numeric: {err}") from None
        if array.ndim not in (1, 2) or array.size == 0:
            raise ValueError(f"the predictions of model {i} must be a non-empty (n_samples,) array "
                             f"(regression) or (n_samples, n_classes) array (probabilities), "
                             f"got shape {array.shape}")
        if arrays and array.shape != arrays[0].shape:
            raise ValueError(f"the predictions of model {i} have shape {array.shape}, but those of "
                             f"model 0 have shape {arrays[0].shape}: every model must predict the "
                             "same validation samples (and classes)")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"the predictions of model {i} contain NaN or infinity")
        arrays.append(array)
    return np.stack(arrays)


def _check_probabilities(library: np.ndarray) -> None:
    if library.shape[-1] < 2:
        raise ValueError("classification needs probabilities for at least 2 classes, got shape "
                         f"{library.shape[1:]} per model")
    for i, proba in enumerate(library):
        if proba.min() < 0 or proba.max() > 1:
            raise ValueError(f"the predictions of model {i} are not probabilities: values outside "
                             f"[0, 1] (min {proba.min():.3g}, max {proba.max():.3g})")
        worst = np.max(np.abs(proba.sum(axis=1) - 1.0))
        if worst > _SUM_TOLERANCE:
            raise ValueError(f"the probabilities of model {i} do not sum to 1 over the classes "
                             f"(off by up to {worst:.3g}); pass predict_proba outputs")


def _encode_labels(y_val: Any, n_samples: int, n_classes: int, classes: Any) -> np.ndarray:
    """Class labels as column indices of the probability arrays."""
    y = np.asarray(y_val)
    if y.ndim != 1 or len(y) != n_samples:
        raise ValueError(f"y_val must be a 1-D array of {n_samples} labels (one per validation "
                         f"sample of the predictions), got shape {y.shape}")
    if classes is None:
        classes = np.arange(n_classes)
    classes = np.asarray(classes)
    if classes.ndim != 1 or len(classes) != n_classes:
        raise ValueError(f"classes must list the {n_classes} classes of the probability columns, "
                         f"in order, got {len(classes) if classes.ndim == 1 else classes.shape}")
    index = {label: k for k, label in enumerate(classes.tolist())}
    try:
        return np.array([index[label] for label in y.tolist()], dtype=int)
    except KeyError as err:
        raise ValueError(f"y_val holds the label {err.args[0]!r}, which is not one of the classes "
                         f"{classes.tolist()} (pass classes=... when the labels are not "
                         f"0..{n_classes - 1})") from None


def _check_targets(y_val: Any, n_samples: int) -> np.ndarray:
    try:
        y = np.asarray(y_val, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"y_val must hold numeric targets for regression: {err}") from None
    if y.ndim != 1 or len(y) != n_samples:
        raise ValueError(f"y_val must be a 1-D array of {n_samples} targets (one per validation "
                         f"sample of the predictions), got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("y_val contains NaN or infinity")
    return y


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _resolve_metric(metric: Any, task: str, greater_is_better: Any, y_original: np.ndarray
                    ) -> Metric:
    if metric is None:
        return METRICS[DEFAULT_METRIC[task]]
    if callable(metric):
        return _callable_metric(metric, task, greater_is_better, y_original)
    if not isinstance(metric, str) or metric not in METRICS:
        raise ValueError(f"metric must be one of {sorted(METRICS)} or a callable "
                         f"metric(y_true, y_pred), got {metric!r}")
    found = METRICS[metric]
    if found.task != task:
        shape = ("(n_models, n_samples, n_classes) probabilities" if found.task == CLASSIFICATION
                 else "(n_models, n_samples) predictions")
        raise ValueError(f"metric {metric!r} is a {found.task} metric, but the predictions are "
                         f"{task} ones; it needs {shape}")
    return found


def _prepare(validation_predictions: Any, y_val: Any, metric: Any, greater_is_better: Any,
             classes: Any) -> tuple[np.ndarray, np.ndarray, Metric]:
    """Checked library, encoded targets and metric."""
    library = _as_library(validation_predictions)
    task = CLASSIFICATION if library.ndim == 3 else REGRESSION
    if task == CLASSIFICATION:
        _check_probabilities(library)
        y = _encode_labels(y_val, library.shape[1], library.shape[2], classes)
    else:
        if classes is not None:
            raise ValueError("classes is only for classification (probability predictions)")
        y = _check_targets(y_val, library.shape[1])
    return library, y, _resolve_metric(metric, task, greater_is_better, np.asarray(y_val))


# ======================================================================================
# The algorithm
# ======================================================================================

@dataclass(frozen=True)
class EnsembleSelectionResult:
    """What :func:`ensemble_selection` found.

    Attributes
    ----------
    indices : ndarray of int, shape (n_picks,)
        The model picked at each step, in order (the sorted initialisation first).
        A model appears several times when picked again (with replacement).
    trajectory : ndarray of float, shape (n_picks,)
        ``trajectory[t]`` is the validation score of the ensemble of
        ``indices[:t + 1]``, in the metric's units.
    size : int
        How many picks the returned ensemble keeps: the best prefix (Caruana's
        step 4) or all of them.
    weights : ndarray of float, shape (n_models,)
        How often each model occurs in ``indices[:size]``, divided by ``size``
        (they sum to 1).
    score : float
        The validation score of the returned ensemble, ``trajectory[size - 1]``.
    metric : str
        The metric's name.
    greater_is_better : bool
        Whether a larger score is better (accuracy, r2) or worse (losses).
    """

    indices: np.ndarray
    trajectory: np.ndarray
    size: int
    weights: np.ndarray
    score: float
    metric: str
    greater_is_better: bool

    def predict(self, predictions: Any) -> np.ndarray:
        """The ensemble's prediction from the library's predictions on new data."""
        return ensemble_predict(predictions, self.weights)


def _losses(metric: Metric, y: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """The metric as a loss (lower is better) for each candidate ensemble."""
    scores = metric.score(y, candidates)
    return -scores if metric.greater_is_better else scores


def _pick(losses: np.ndarray, allowed: np.ndarray, ties: str, rng: np.random.Generator) -> int:
    """The allowed candidate with the lowest loss; ties go to the lowest index or at random."""
    masked = np.where(allowed, losses, np.inf)
    best = masked.min()
    tied = np.flatnonzero(masked <= best + _TIE_TOLERANCE * max(1.0, abs(best)))
    return int(tied[0]) if ties == "first" else int(rng.choice(tied))


def _sorted_initialisation(library: np.ndarray, y: np.ndarray, metric: Metric, init_size: Any,
                           max_size: int) -> list[int]:
    """The ``N`` best single models, best first (Caruana et al. 2004, section 2.2).

    With ``init_size="auto"``, ``N`` is the number of best models whose plain
    average scores best on the validation set ("N is chosen by looking at
    performance on the hillclimb set").
    """
    single = _losses(metric, y, library)
    order = np.argsort(single, kind="stable")      # ties: the lower index first
    if init_size != "auto":
        return order[:init_size].tolist()
    scores = _prefix_scores(library[order[:max_size]], y, metric)
    n_best = int(np.argmax(scores) if metric.greater_is_better else np.argmin(scores)) + 1
    return order[:n_best].tolist()


def ensemble_selection(validation_predictions: Any, y_val: Any, ensemble_size: int = 50, *,
                       metric: str | Callable | None = None,
                       greater_is_better: bool | None = None,
                       replacement: bool = True, init_size: int | str = 0,
                       best_prefix: bool = True, ties: str = "first", seed: int | None = None,
                       classes: Any = None) -> EnsembleSelectionResult:
    """Greedy forward selection of an ensemble from a library of models' predictions.

    The algorithm of Caruana et al. (2004), section 2, step by step:

    0. (optional, section 2.2) start from the ``init_size`` best single models;
    1. for ``t`` in the remaining steps, for every model ``m`` of the library (not
       yet used, without replacement), average ``m``'s predictions into the
       current ensemble: ``(sum of the members' predictions + p_m) / (t + 1)``;
    2. add the model whose candidate ensemble scores best on the validation set;
       record that score in the trajectory;
    3. stop after ``ensemble_size`` picks (or when every model is used, without
       replacement);
    4. return the best prefix of the picks (``best_prefix=True``, the paper's last
       step) or all of them (``best_prefix=False``, auto-sklearn's choice).

    Parameters
    ----------
    validation_predictions : array_like or list of array_like
        The library: each model's predictions on the same validation samples,
        shape ``(n_models, n_samples)`` for regression, or class probabilities
        (``predict_proba``), shape ``(n_models, n_samples, n_classes)``, for
        classification. The shape decides the task.
    y_val : array_like of shape (n_samples,)
        The validation targets; for classification, labels among ``classes``.
    ensemble_size : int, default 50
        The number of greedy picks (auto-sklearn uses 50). Without replacement at
        most ``n_models`` picks are made.
    metric : str or callable, optional
        What the hill climb optimises on the validation set: one of
        :data:`METRICS` (``"accuracy"``, ``"balanced_accuracy"``, ``"log_loss"``,
        ``"brier"`` for classification; ``"mse"``, ``"rmse"``, ``"mae"``, ``"r2"``
        for regression), or a function ``metric(y_true, y_pred) -> float`` called
        with ``y_val`` and one candidate's averaged predictions (probabilities
        of shape ``(n_samples, n_classes)`` for classification). Default:
        ``"log_loss"`` (classification; accuracy on a small validation set has many
        ties, and the climb overfits them) and ``"mse"`` (regression).
    greater_is_better : bool, optional
        Required with a callable ``metric``: whether its larger values are better.
    replacement : bool, default True
        Whether a model may be picked again (section 2.1).
    init_size : int or "auto", default 0
        Sorted ensemble initialisation (section 2.2): start with this many best
        single models (each once), or with ``"auto"`` the number whose average
        scores best on the validation set. 0 is the plain algorithm.
    best_prefix : bool, default True
        Keep the prefix of the picks whose ensemble scored best on the validation
        set (step 4; the shortest one on ties, and never shorter than the sorted
        initialisation), or keep every pick (auto-sklearn).
    ties : {"first", "random"}, default "first"
        How a tie between candidates is broken: the model with the lowest index
        (deterministic) or one drawn with ``seed``.
    seed : int, optional
        Seed of the tie-breaking draws with ``ties="random"``.
    classes : array_like, optional
        The class labels of the probability columns, in order (scikit-learn's
        ``classes_``); default ``0 .. n_classes - 1``.

    Returns
    -------
    EnsembleSelectionResult
        The selection order, the validation score after each pick, the weights of
        the returned ensemble and its score.

    Raises
    ------
    ValueError
        If the library is empty, the models' predictions differ in shape or hold
        NaN, probabilities are not probabilities, ``y_val`` does not match the
        predictions, ``ensemble_size`` is not a positive int, ``init_size`` is
        negative or larger than ``ensemble_size`` or the library, the metric is
        unknown or of the other task, or an option has an unknown value.
    TypeError
        If ``validation_predictions`` is not an array or a list of arrays.

    References
    ----------
    Caruana et al. (2004), section 2 (the four steps), 2.1 (with replacement), 2.2
    (sorted initialisation). Feurer et al. (2015), section 3.2 (auto-sklearn: with
    replacement, 50 picks, all kept).

    Examples
    --------
    Two regressors that err in opposite directions, and a bad one. The climb picks
    the best single model, then the one whose errors cancel its own; further
    picks only trade one for the other, so the best prefix has two models.

    >>> y = np.array([1.0, 2.0, 3.0])
    >>> library = [y + 0.5, y - 0.6, y + 2.0]
    >>> result = ensemble_selection(library, y, ensemble_size=4)
    >>> result.indices.tolist(), np.round(result.trajectory, 4).tolist()
    ([0, 1, 0, 1], [0.25, 0.0025, 0.0178, 0.0025])
    >>> result.size, result.weights.tolist(), round(result.score, 4)
    (2, [0.5, 0.5, 0.0], 0.0025)
    """
    library, y, found = _prepare(validation_predictions, y_val, metric, greater_is_better, classes)
    ensemble_size = _check_positive_int("ensemble_size", ensemble_size)
    _check_options(replacement, best_prefix, ties, seed)
    n_models = len(library)
    n_picks = ensemble_size if replacement else min(ensemble_size, n_models)
    if not (init_size == "auto" or (isinstance(init_size, Integral) and not isinstance(init_size, bool)
                                    and 0 <= init_size <= n_picks)):
        raise ValueError(f"init_size must be 'auto' or an int from 0 to {n_picks} (the number of "
                         f"picks: ensemble_size, at most n_models without replacement), "
                         f"got {init_size!r}")
    rng = np.random.default_rng(seed)

    # step 0: sorted initialisation (section 2.2)
    picks = _sorted_initialisation(library, y, found, init_size, n_picks) if init_size else []
    n_init = len(picks)
    trajectory = _prefix_scores(library[picks], y, found).tolist()
    running_sum = library[picks].sum(axis=0)
    used = np.zeros(n_models, dtype=bool)
    used[picks] = True

    # steps 1-3: greedy forward selection
    for t in range(n_init, n_picks):
        candidates = (running_sum[None] + library) / (t + 1)               # step 1
        losses = _losses(found, y, candidates)
        allowed = np.ones(n_models, dtype=bool) if replacement else ~used
        best = _pick(losses, allowed, ties, rng)                            # step 2
        picks.append(best)
        used[best] = True
        running_sum = running_sum + library[best]
        trajectory.append(float(-losses[best] if found.greater_is_better else losses[best]))

    # step 4: the best prefix (the shortest on ties, never inside the initialisation)
    trajectory_array = np.array(trajectory)
    size = len(picks)
    if best_prefix:
        start = max(n_init, 1) - 1
        losses = -trajectory_array if found.greater_is_better else trajectory_array
        best = losses[start:].min()
        size = start + int(np.flatnonzero(
            losses[start:] <= best + _TIE_TOLERANCE * max(1.0, abs(best)))[0]) + 1
    indices = np.array(picks, dtype=int)
    return EnsembleSelectionResult(indices=indices, trajectory=trajectory_array, size=size,
                                   weights=np.bincount(indices[:size], minlength=n_models) / size,
                                   score=float(trajectory_array[size - 1]),
                                   metric=found.name, greater_is_better=found.greater_is_better)


def _prefix_scores(members: np.ndarray, y: np.ndarray, metric: Metric) -> np.ndarray:
    """The validation score of the average of ``members[:k]`` for every ``k >= 1``."""
    if not len(members):
        return np.empty(0)
    sizes = np.arange(1, len(members) + 1).reshape((-1,) + (1,) * (members.ndim - 1))
    return np.asarray(metric.score(y, np.cumsum(members, axis=0) / sizes), dtype=float)


def _check_options(replacement: Any, best_prefix: Any, ties: Any, seed: Any) -> None:
    for name, value in (("replacement", replacement), ("best_prefix", best_prefix)):
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{name} must be True or False, got {value!r}")
    if ties not in ("first", "random"):
        raise ValueError(f"ties must be 'first' or 'random', got {ties!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, Integral)):
        raise ValueError(f"seed must be an int or None, got {seed!r}")


# ======================================================================================
# Bagged ensemble selection (section 2.3) and predicting with the weights
# ======================================================================================

@dataclass(frozen=True)
class BaggedEnsembleSelectionResult:
    """What :func:`bagged_ensemble_selection` found.

    Attributes
    ----------
    weights : ndarray of float, shape (n_models,)
        The average of the bags' ensemble weights (they sum to 1).
    score : float
        The validation score of the averaged ensemble.
    bags : tuple of ndarray of int
        The models (indices into the whole library) each bag could choose from.
    results : tuple of EnsembleSelectionResult
        The selection in each bag, with indices and weights over the whole library.
    metric : str
    greater_is_better : bool
    """

    weights: np.ndarray
    score: float
    bags: tuple[np.ndarray, ...]
    results: tuple[EnsembleSelectionResult, ...]
    metric: str
    greater_is_better: bool

    def predict(self, predictions: Any) -> np.ndarray:
        """The ensemble's prediction from the library's predictions on new data."""
        return ensemble_predict(predictions, self.weights)


def bagged_ensemble_selection(validation_predictions: Any, y_val: Any, ensemble_size: int = 50, *,
                              n_bags: int = 20, bag_fraction: float = 0.5, seed: int | None = 0,
                              **options: Any) -> BaggedEnsembleSelectionResult:
    """Ensemble selection on random parts of the library, averaged (Caruana et al. 2004, 2.3).

    With many models, some fit the validation set well by chance and the hill climb
    over-uses them. Bagging reduces that: for each of ``n_bags`` bags,

    1. draw ``round(bag_fraction * n_models)`` models of the library at random
       (without replacement within a bag);
    2. run :func:`ensemble_selection` on those models only;

    and return the average of the bags' weights (the paper's "final ensemble is
    the average of the bagged ensembles"; it used 20 bags and p = 0.5).

    Parameters
    ----------
    validation_predictions, y_val, ensemble_size
        As for :func:`ensemble_selection`.
    n_bags : int, default 20
        The number of bags.
    bag_fraction : float, default 0.5
        The share of the library each bag sees, in (0, 1]; a bag has at least one model.
    seed : int, optional
        Seed of the bags' draws (and of random tie-breaking).
    **options
        Passed on to :func:`ensemble_selection` (``metric``, ``replacement``,
        ``init_size``, ``best_prefix``, ``ties``, ``classes``...).

    Returns
    -------
    BaggedEnsembleSelectionResult

    Raises
    ------
    ValueError
        As :func:`ensemble_selection`, and if ``n_bags`` is not a positive int or
        ``bag_fraction`` is not in (0, 1].

    References
    ----------
    Caruana et al. (2004), section 2.3 ("Bagged Ensemble Selection").

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.normal(size=50)
    >>> library = [y + rng.normal(scale=s, size=50) for s in (0.3, 0.5, 1.0, 2.0)]
    >>> bagged = bagged_ensemble_selection(library, y, 10, n_bags=4, seed=0)
    >>> round(float(bagged.weights.sum()), 6), len(bagged.results)
    (1.0, 4)
    """
    n_bags = _check_positive_int("n_bags", n_bags)
    if isinstance(bag_fraction, bool) or not isinstance(bag_fraction, Real) \
            or not 0 < bag_fraction <= 1:
        raise ValueError(f"bag_fraction must be a number in (0, 1], got {bag_fraction!r}")
    if "ties" in options and options["ties"] == "random":
        options.setdefault("seed", seed)
    library, y, found = _prepare(validation_predictions, y_val, options.get("metric"),
                                 options.get("greater_is_better"), options.get("classes"))
    n_models = len(library)
    bag_size = max(1, int(round(bag_fraction * n_models)))
    rng = np.random.default_rng(seed)
    bags, results = [], []
    for _ in range(n_bags):
        bag = np.sort(rng.choice(n_models, size=bag_size, replace=False))
        inside = ensemble_selection(library[bag], y_val, ensemble_size, **options)
        weights = np.zeros(n_models)
        weights[bag] = inside.weights
        bags.append(bag)
        results.append(EnsembleSelectionResult(
            indices=bag[inside.indices], trajectory=inside.trajectory, size=inside.size,
            weights=weights, score=inside.score, metric=inside.metric,
            greater_is_better=inside.greater_is_better))
    weights = np.mean([r.weights for r in results], axis=0)
    score = float(found.score(y, ensemble_predict(library, weights)[None])[0])
    return BaggedEnsembleSelectionResult(weights=weights, score=score, bags=tuple(bags),
                                         results=tuple(results), metric=found.name,
                                         greater_is_better=found.greater_is_better)


def ensemble_predict(predictions: Any, weights: Any) -> np.ndarray:
    """The weighted average of a library's predictions: the ensemble's prediction.

    Parameters
    ----------
    predictions : array_like or list of array_like
        Each model's predictions on the same samples, shape ``(n_models, n_samples)``
        or ``(n_models, n_samples, n_classes)``, as for :func:`ensemble_selection`.
    weights : array_like of shape (n_models,)
        Non-negative weights, not all zero (e.g. ``EnsembleSelectionResult.weights``);
        they are normalised to sum to 1.

    Returns
    -------
    ndarray of shape (n_samples,) or (n_samples, n_classes)

    Raises
    ------
    ValueError
        If the weights do not match the library or are negative, NaN or all zero.

    Examples
    --------
    >>> ensemble_predict([[1.0, 2.0], [3.0, 6.0]], [3, 1]).tolist()
    [1.5, 3.0]
    """
    library = _as_library(predictions)
    w = np.asarray(weights, dtype=float)
    if w.shape != (len(library),):
        raise ValueError(f"weights must have one entry per model ({len(library)}), got shape {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be finite, non-negative and not all zero, got {w.tolist()}")
    return np.tensordot(w / w.sum(), library, axes=1)


# ======================================================================================
# scikit-learn estimators
# ======================================================================================

def _named_estimators(estimators: Any) -> list[tuple[str, Any]]:
    """``estimators`` as ``(name, estimator)`` pairs; plain estimators are named by position."""
    if isinstance(estimators, (str, bytes)) or not isinstance(estimators, Sequence) or not estimators:
        raise ValueError("estimators must be a non-empty list of estimators or of (name, estimator) "
                         f"pairs, got {estimators!r:.80}")
    named = []
    for i, item in enumerate(estimators):
        name, estimator = item if isinstance(item, tuple) and len(item) == 2 else (f"model{i}", item)
        if not hasattr(estimator, "fit") or not hasattr(estimator, "predict"):
            raise ValueError(f"estimator {name!r} is not an estimator (it has no fit/predict): "
                             f"{estimator!r:.80}")
        named.append((str(name), estimator))
    return named


class _EnsembleSelectionBase(BaseEstimator):
    """Fit a library of models, select an ensemble on a validation split, predict with it."""

    def __init__(self, estimators: Sequence[Any], *, ensemble_size: int = 50,
                 metric: str | Callable | None = None, greater_is_better: bool | None = None,
                 replacement: bool = True, init_size: int | str = 0, best_prefix: bool = True,
                 ties: str = "first", prefit: bool = False, validation_size: float = 0.25,
                 seed: int | None = None) -> None:
        self.estimators = estimators
        self.ensemble_size = ensemble_size
        self.metric = metric
        self.greater_is_better = greater_is_better
        self.replacement = replacement
        self.init_size = init_size
        self.best_prefix = best_prefix
        self.ties = ties
        self.prefit = prefit
        self.validation_size = validation_size
        self.seed = seed

    def fit(self, X: Any, y: Any) -> "_EnsembleSelectionBase":
        """Fit the library on a training split (unless ``prefit``) and select on the rest.

        With ``prefit=True`` the estimators are already fitted and ``(X, y)`` is
        the validation set the selection uses.
        """
        named = _named_estimators(self.estimators)
        if self.prefit:
            for name, estimator in named:
                check_is_fitted(estimator, msg=f"prefit=True, but estimator {name!r} is not fitted")
            fitted, X_val, y_val = [e for _, e in named], X, y
        else:
            if isinstance(self.validation_size, bool) or not isinstance(self.validation_size, Real) \
                    or not 0 < self.validation_size < 1:
                raise ValueError(f"validation_size must be a fraction in (0, 1), "
                                 f"got {self.validation_size!r}")
            X_train, X_val, y_train, y_val = train_test_split(
                X, y, test_size=self.validation_size, random_state=self.seed,
                stratify=y if self._is_classifier() else None)
            fitted = [clone(e).fit(X_train, y_train) for _, e in named]
        self._set_targets(fitted, y)
        predictions = [self._library_predict(e, X_val) for e in fitted]
        self.selection_ = ensemble_selection(
            predictions, y_val, self.ensemble_size, metric=self.metric,
            greater_is_better=self.greater_is_better, replacement=self.replacement,
            init_size=self.init_size, best_prefix=self.best_prefix, ties=self.ties,
            seed=self.seed, classes=getattr(self, "classes_", None))
        self.estimators_ = fitted
        self.named_estimators_ = dict(zip([n for n, _ in named], fitted))
        self.weights_ = self.selection_.weights
        if hasattr(fitted[0], "n_features_in_"):
            self.n_features_in_ = fitted[0].n_features_in_
        return self

    def _ensemble(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "weights_")
        members = np.flatnonzero(self.weights_)
        return sum(self.weights_[m] * self._library_predict(self.estimators_[m], X) for m in members)

    def _is_classifier(self) -> bool:
        raise NotImplementedError

    def _set_targets(self, fitted: list[Any], y: Any) -> None:
        pass

    def _library_predict(self, estimator: Any, X: Any) -> np.ndarray:
        raise NotImplementedError


class EnsembleSelectionClassifier(ClassifierMixin, _EnsembleSelectionBase):
    """A classifier that averages the class probabilities of a selected ensemble.

    ``fit(X, y)`` (1) splits off ``validation_size`` of the data (stratified, with
    ``seed``), (2) fits a clone of every estimator of the library on the rest, (3)
    runs :func:`ensemble_selection` on their validation probabilities. As in
    auto-sklearn, the models are not refitted on the validation data. With
    ``prefit=True``, the estimators are taken as fitted and ``(X, y)`` is the
    validation set.

    Parameters
    ----------
    estimators : list of estimators or of (name, estimator) pairs
        The library; every estimator needs ``predict_proba``.
    ensemble_size, metric, greater_is_better, replacement, init_size, best_prefix, ties
        As for :func:`ensemble_selection` (the default metric is log loss).
    prefit : bool, default False
        Whether the estimators are already fitted.
    validation_size : float, default 0.25
        The share of ``X`` held out for the selection (without ``prefit``).
    seed : int, optional
        Seed of the split and of random tie-breaking.

    Attributes
    ----------
    classes_ : ndarray
        The class labels.
    estimators_ : list
        The fitted library.
    named_estimators_ : dict
        The fitted library by name.
    weights_ : ndarray of shape (n_estimators,)
        The ensemble's weights.
    selection_ : EnsembleSelectionResult
        The selection order, trajectory and validation score.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.naive_bayes import GaussianNB
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> library = [("nb", GaussianNB()), ("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
    ...            ("lr", make_pipeline(StandardScaler(), LogisticRegression()))]
    >>> ensemble = EnsembleSelectionClassifier(library, ensemble_size=10, seed=0).fit(X, y)
    >>> ensemble.predict_proba(X[:2]).shape, float(ensemble.weights_.sum())
    ((2, 2), 1.0)
    """

    def _is_classifier(self) -> bool:
        return True

    def _set_targets(self, fitted: list[Any], y: Any) -> None:
        classes = np.unique(np.asarray(y)) if not self.prefit else getattr(fitted[0], "classes_", None)
        if classes is None:
            raise ValueError("the estimators must be classifiers with classes_")
        for i, estimator in enumerate(fitted):
            if not hasattr(estimator, "predict_proba"):
                raise ValueError(f"estimator {i} ({type(estimator).__name__}) has no predict_proba; "
                                 "ensemble selection averages class probabilities")
            if not np.array_equal(getattr(estimator, "classes_", None), classes):
                raise ValueError(f"estimator {i} knows the classes {list(estimator.classes_)}, but the "
                                 f"ensemble needs {list(classes)}; every model must see every class")
        self.classes_ = classes

    def _library_predict(self, estimator: Any, X: Any) -> np.ndarray:
        return estimator.predict_proba(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        """The weighted average of the members' ``predict_proba``."""
        return self._ensemble(X)

    def predict(self, X: Any) -> np.ndarray:
        """The class with the largest averaged probability."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class EnsembleSelectionRegressor(RegressorMixin, _EnsembleSelectionBase):
    """A regressor that averages the predictions of a selected ensemble.

    Like :class:`EnsembleSelectionClassifier` (random, not stratified, validation
    split; default metric: mean squared error), with ``predict`` in place of
    ``predict_proba``.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn.neighbors import KNeighborsRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> library = [Ridge(alpha=a) for a in (0.01, 1.0, 100.0)] + [KNeighborsRegressor(15)]
    >>> ensemble = EnsembleSelectionRegressor(library, ensemble_size=10, seed=0).fit(X, y)
    >>> ensemble.predict(X[:3]).shape, ensemble.selection_.metric
    ((3,), 'mse')
    """

    def _is_classifier(self) -> bool:
        return False

    def _library_predict(self, estimator: Any, X: Any) -> np.ndarray:
        return np.asarray(estimator.predict(X), dtype=float).reshape(-1)

    def predict(self, X: Any) -> np.ndarray:
        """The weighted average of the members' predictions."""
        return self._ensemble(X)
