"""A mini-AutoML: CASH search with the course's samplers, a leaderboard, a refit.

:class:`MiniAutoML` is a scikit-learn estimator whose ``fit`` solves the CASH problem
(Thornton et al. 2013) on the training data, the way Auto-WEKA and auto-sklearn do:

1. build the conditional space over preprocessing and models
   (:func:`course.automl.cash.cash_space`);
2. evaluate the warm-start configurations, if any (meta-learning plugs in here,
   Feurer et al. 2015, section 3.1);
3. then, while the budget (trials, seconds or both) lasts: ``ask`` the sampler for a
   configuration, build its pipeline (:func:`course.automl.cash.build_pipeline`),
   score it by k-fold cross-validation, ``tell`` the sampler;
4. rank every trial in a leaderboard; refit the best pipeline on all the data.

A pipeline that fails (a fit error, a NaN score) is recorded as ``"failed"`` with its
error message and the search goes on; the sampler is told a loss worse than any seen,
so that a model-based sampler (TPE) learns to avoid that region.

References
----------
C. Thornton, F. Hutter, H. H. Hoos and K. Leyton-Brown, "Auto-WEKA: combined selection
and hyperparameter optimization of classification algorithms", KDD 2013 (section 3).

M. Feurer, A. Klein, K. Eggensperger, J. Springenberg, M. Blum and F. Hutter,
"Efficient and robust automated machine learning", NeurIPS 2015 (sections 2-3).

J. Bergstra and Y. Bengio, "Random search for hyper-parameter optimization", JMLR 13
(2012); J. Bergstra, R. Bardenet, Y. Bengio and B. Kégl, "Algorithms for
hyper-parameter optimization", NeurIPS 2011 (TPE): the two samplers by name.

Examples
--------
>>> from sklearn.datasets import load_iris
>>> X, y = load_iris(return_X_y=True)
>>> automl = MiniAutoML(models=["knn", "decision_tree"], n_trials=5, random_state=0).fit(X, y)
>>> len(automl.leaderboard_), automl.leaderboard_["rank"].tolist()
(5, [1, 2, 3, 4, 5])
>>> bool(automl.score(X, y) > 0.9)
True
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import get_scorer
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.utils import ClassifierTags, RegressorTags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _num_samples, check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from course.hpo.random_search import RandomSampler
from course.hpo.sampler import Sampler, SearchExhausted, Trial, checked_proposal
from course.hpo.space import SearchSpace
from course.hpo.tpe import TPESampler

from .cash import TASKS, build_pipeline, cash_space

__all__ = ["MiniAutoML", "TrialResult", "cross_validate_config", "plot_history"]

#: Columns of :attr:`MiniAutoML.leaderboard_`, in order.
LEADERBOARD_COLUMNS = ["rank", "trial", "model", "score", "score_std", "status", "fit_time",
                       "source", "error", "config"]
#: Columns of :attr:`MiniAutoML.history_`, in order.
HISTORY_COLUMNS = ["trial", "elapsed", "fit_time", "model", "status", "score", "best_score",
                   "source", "config"]


# ======================================================================================
# Scoring one configuration
# ======================================================================================

@dataclass(frozen=True)
class TrialResult:
    """The cross-validated score of one configuration.

    Attributes
    ----------
    status : {"ok", "failed", "timeout"}
        ``"timeout"``: stopped between folds because the time budget ran out.
    scores : tuple of float
        One score per finished fold (higher is better).
    seconds : float
        Wall time of the evaluation.
    error : str
        The exception (type and message) of a failed trial, else ``""``.
    """

    status: str
    scores: tuple[float, ...]
    seconds: float
    error: str = ""

    @property
    def score(self) -> float:
        """Mean fold score; NaN unless ``status == "ok"``."""
        return float(np.mean(self.scores)) if self.status == "ok" else math.nan


def cross_validate_config(config: Mapping[str, Any], X: np.ndarray, y: np.ndarray, *,
                          splits: Sequence[tuple[np.ndarray, np.ndarray]], scoring: Any,
                          task: str = "classification", random_state: int | None = 0,
                          deadline: float = math.inf) -> TrialResult:
    """Score one configuration by cross-validation, never raising for a broken pipeline.

    Parameters
    ----------
    config : dict
        A configuration of :func:`course.automl.cash.cash_space`.
    X, y : numpy.ndarray
        The training data.
    splits : sequence of (train indices, test indices)
        The folds; every configuration of a search uses the same ones.
    scoring : callable
        A scikit-learn scorer ``scorer(estimator, X, y) -> float``, higher is better.
    task : {"classification", "regression"}
    random_state : int or None
        Seed of the pipeline's randomised steps.
    deadline : float
        A :func:`time.perf_counter` value; the evaluation stops after the first fold
        that ends past it (status ``"timeout"``).

    Returns
    -------
    TrialResult
        ``"failed"`` with the error message if building, fitting or scoring raised,
        or a fold score is not finite.
    """
    start = time.perf_counter()
    scores: list[float] = []
    try:
        pipeline = build_pipeline(config, task=task, random_state=random_state)
        for k, (train, test) in enumerate(splits):
            fitted = copy.deepcopy(pipeline).fit(X[train], y[train])
            score = float(scoring(fitted, X[test], y[test]))
            if not math.isfinite(score):
                raise ValueError(f"the score of fold {k} is {score}")
            scores.append(score)
            if time.perf_counter() > deadline and k + 1 < len(splits):
                return TrialResult("timeout", tuple(scores), time.perf_counter() - start)
    except Exception as err:  # a broken pipeline is a result of the search, not a crash
        return TrialResult("failed", tuple(scores), time.perf_counter() - start,
                           f"{type(err).__name__}: {err}")
    return TrialResult("ok", tuple(scores), time.perf_counter() - start)


# ======================================================================================
# The estimator
# ======================================================================================

def _is_positive_int(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, Integral) and value >= 1


class MiniAutoML(BaseEstimator):
    """CASH by random search or TPE, with a leaderboard and a refit of the best pipeline.

    Parameters
    ----------
    task : {"classification", "regression"}
        Which model families (:data:`course.automl.cash.MODELS` or
        :data:`~course.automl.cash.REGRESSION_MODELS`) and which default score.
    models : sequence of str, optional
        Restrict the search to these model families; ``None`` searches all of them.
    sampler : {"random", "tpe"} or course.hpo.Sampler
        ``"random"``: :class:`~course.hpo.RandomSampler`; ``"tpe"``:
        :class:`~course.hpo.TPESampler` with ``min(10, max(3, n_trials // 3))`` random
        start-up trials (10 without ``n_trials``), both seeded with ``random_state``.
        A sampler instance is copied at every ``fit``, so fitting twice replays the
        same search.
    n_trials : int or None
        Configurations to evaluate (warm-start ones included, failed ones too).
    time_budget : float or None
        Seconds of search. No trial starts after it (but the first one always runs);
        a running trial is stopped after the fold that crosses it (``"timeout"``),
        unless no trial has succeeded yet.
        The final refit of the best pipeline comes on top. With both budgets, the
        search stops at whichever runs out first; at least one must be set.
    cv : int
        Folds of the cross-validation (stratified and shuffled for classification,
        shuffled for regression), the same folds for every configuration.
    scoring : str, callable or None
        A scikit-learn scorer name (``"balanced_accuracy"``, ``"neg_log_loss"``...) or
        callable ``scorer(estimator, X, y)``, higher is better. ``None``: accuracy for
        classification, R^2 for regression. Also used by :meth:`score`.
    imputation : bool
        Search over mean/median/most-frequent imputation. With ``False`` the pipelines
        cannot take missing values, and ``fit`` refuses an ``X`` with NaN.
    warm_start_configs : sequence of dict, optional
        Configurations of the search space to evaluate first, in order (e.g. the best
        ones on similar datasets, from meta-learning). They count towards ``n_trials``
        and are in the history the sampler reads (TPE models them), but are never
        passed to its ``tell``, which answers an ``ask``.
    random_state : int or None
        Seeds the sampler, the folds and every pipeline: the same seed gives the same
        leaderboard (all but the times).

    Attributes
    ----------
    leaderboard_ : pandas.DataFrame
        One row per trial, best first: ``rank`` (1 = best), ``trial``, ``model``,
        ``score`` (mean CV score), ``score_std``, ``status`` (``"ok"``, ``"failed"``,
        ``"timeout"``; failures rank last), ``fit_time`` (seconds of its CV),
        ``source`` (``"warm_start"`` or ``"sampler"``), ``error``, ``config``.
    history_ : pandas.DataFrame
        The trials in the order they ran: ``trial``, ``elapsed`` (seconds since the
        search began, at the trial's end), ``fit_time``, ``model``, ``status``,
        ``score``, ``best_score`` (the incumbent so far), ``source``, ``config``, then
        ``score_std`` and ``error`` as in the leaderboard.
        :func:`plot_history` draws score against time from it.
    best_config_ : dict
        The configuration of the best trial.
    best_score_ : float
        Its mean CV score.
    best_pipeline_ : sklearn.pipeline.Pipeline
        That configuration's pipeline, refitted on all of ``X, y``.
    classes_ : numpy.ndarray
        The class labels (classification only).
    search_seconds_, refit_seconds_ : float
        Wall time of the search and of the final refit.
    n_features_in_, feature_names_in_
        As every scikit-learn estimator.

    Raises
    ------
    ValueError
        From :meth:`fit`: an unknown task, sampler or model (the message lists the
        known ones), a budget that is not positive or both budgets ``None``, a bad
        ``cv``, a warm-start configuration outside the space, ``X`` and ``y`` of
        different lengths, ``y`` with a single class (or a constant target), ``X``
        with NaN when ``imputation=False``.
    sklearn.exceptions.NotFittedError
        From :meth:`predict`, :meth:`predict_proba` and :meth:`score` before ``fit``.
    RuntimeError
        From :meth:`fit`, if every trial failed (the message gives the first errors).

    Notes
    -----
    Every fit runs on a single thread (``threadpoolctl``): the models are small, and
    OpenMP threads waiting for a busy core cost more than they save on a shared
    machine; single-threaded trials also make the time budget predictable.
    Convergence warnings of the capped models are silenced during ``fit``.
    """

    def __init__(self, *, task: str = "classification", models: Sequence[str] | None = None,
                 sampler: str | Sampler = "random", n_trials: int | None = 30,
                 time_budget: float | None = None, cv: int = 3, scoring: Any = None,
                 imputation: bool = True, warm_start_configs: Sequence[Mapping[str, Any]] | None = None,
                 random_state: int | None = 0) -> None:
        self.task = task
        self.models = models
        self.sampler = sampler
        self.n_trials = n_trials
        self.time_budget = time_budget
        self.cv = cv
        self.scoring = scoring
        self.imputation = imputation
        self.warm_start_configs = warm_start_configs
        self.random_state = random_state

    # -- scikit-learn plumbing ----------------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = bool(self.imputation)
        if self.task == "classification":
            tags.estimator_type = "classifier"
            tags.classifier_tags = ClassifierTags()
        elif self.task == "regression":
            tags.estimator_type = "regressor"
            tags.regressor_tags = RegressorTags()
        return tags

    # -- checking the settings and the data ---------------------------------------------
    def _check_settings(self) -> SearchSpace:
        if self.task not in TASKS:
            raise ValueError(f"task must be 'classification' or 'regression', got {self.task!r}")
        if self.n_trials is None and self.time_budget is None:
            raise ValueError("no budget: set n_trials, time_budget or both (both are None)")
        if self.n_trials is not None and not _is_positive_int(self.n_trials):
            raise ValueError(f"n_trials must be a positive int or None, got {self.n_trials!r}")
        if self.time_budget is not None and (
                isinstance(self.time_budget, bool) or not isinstance(self.time_budget, Real)
                or not math.isfinite(self.time_budget) or self.time_budget <= 0):
            raise ValueError(f"time_budget must be a positive number of seconds or None, "
                             f"got {self.time_budget!r}")
        if not _is_positive_int(self.cv) or self.cv < 2:
            raise ValueError(f"cv must be an int >= 2 (the number of folds), got {self.cv!r}")
        if self.random_state is not None and not (isinstance(self.random_state, Integral)
                                                  and not isinstance(self.random_state, bool)):
            raise ValueError(f"random_state must be an int or None, got {self.random_state!r}")
        if not (self.sampler in ("random", "tpe") if isinstance(self.sampler, str)
                else isinstance(self.sampler, Sampler)):
            raise ValueError(f"sampler must be 'random', 'tpe' or a course.hpo.Sampler instance, "
                             f"got {self.sampler!r}")
        return cash_space(self.models, task=self.task, imputation=self.imputation)

    def _check_warm_start(self, space: SearchSpace) -> list[dict[str, Any]]:
        if self.warm_start_configs is None:
            return []
        if isinstance(self.warm_start_configs, Mapping) or not isinstance(self.warm_start_configs,
                                                                          Sequence):
            raise ValueError("warm_start_configs must be a list of configuration dicts, got "
                             f"{type(self.warm_start_configs).__name__}")
        configs = []
        for i, config in enumerate(self.warm_start_configs):
            try:
                space.validate(config)
            except ValueError as err:
                raise ValueError(f"warm_start_configs[{i}] is not a configuration of the search "
                                 f"space: {err}") from None
            configs.append(dict(config))
        return configs

    def _check_nan(self, X: np.ndarray) -> np.ndarray:
        if not self.imputation and np.isnan(X).any():
            rows = int(np.isnan(X).any(axis=1).sum())
            raise ValueError(f"X has missing values (NaN in {rows} rows) but imputation=False: "
                             "allow imputation or impute X first")
        return X

    def _check_X(self, X) -> np.ndarray:
        """``X`` at predict time: as many features (and the same names) as in ``fit``."""
        return self._check_nan(validate_data(self, X, reset=False, dtype="numeric",
                                             ensure_all_finite="allow-nan"))

    def _check_data(self, X, y) -> tuple[np.ndarray, np.ndarray]:
        if y is None:
            raise ValueError("y is required: MiniAutoML is supervised")
        n_x, n_y = _num_samples(X), _num_samples(y)
        if n_x != n_y:
            raise ValueError(f"X and y have different lengths: X has {n_x} rows, y has {n_y}")
        X, y = validate_data(self, X, y, dtype="numeric", ensure_all_finite="allow-nan",
                             y_numeric=self.task == "regression")
        self._check_nan(X)
        if self.task == "classification":
            check_classification_targets(y)
            self.classes_ = np.unique(y)
            if len(self.classes_) < 2:
                raise ValueError(f"y has a single class ({self.classes_[0]!r}): a classifier needs "
                                 "at least two")
        else:
            self.__dict__.pop("classes_", None)   # from an earlier fit as a classifier
            if np.ptp(y) == 0:
                raise ValueError(f"y is constant ({y[0]!r}): there is nothing to regress")
        if len(y) < self.cv:
            raise ValueError(f"{len(y)} samples cannot be split into cv={self.cv} folds")
        return X, y

    # -- the search ---------------------------------------------------------------------
    def _make_sampler(self) -> Sampler:
        if self.sampler == "random":
            return RandomSampler(seed=self.random_state)
        if self.sampler == "tpe":
            # a third of the budget (at most 10, Optuna's default) as random start-up trials,
            # so that TPE's model also gets to act on small budgets
            startup = 10 if self.n_trials is None else min(10, max(3, self.n_trials // 3))
            return TPESampler(n_startup_trials=startup, seed=self.random_state)
        return copy.deepcopy(self.sampler)

    def _scorer(self):
        if self.scoring is None:
            return get_scorer("accuracy" if self.task == "classification" else "r2")
        if isinstance(self.scoring, str):
            return get_scorer(self.scoring)
        if callable(self.scoring):
            return self.scoring
        raise ValueError(f"scoring must be None, a scorer name or a callable, got {self.scoring!r}")

    def _splits(self, X, y) -> list[tuple[np.ndarray, np.ndarray]]:
        splitter = (StratifiedKFold if self.task == "classification" else KFold)(
            n_splits=self.cv, shuffle=True, random_state=self.random_state)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The least populated class")
            return list(splitter.split(X, y))

    def fit(self, X, y) -> "MiniAutoML":
        """Search the CASH space on ``X, y`` and refit the best pipeline.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric features (a DataFrame keeps its column names); NaN only with
            ``imputation=True``.
        y : array-like of shape (n_samples,)
            Class labels (classification) or numeric targets (regression).

        Returns
        -------
        MiniAutoML
            ``self``, fitted.
        """
        space = self._check_settings()
        warm = self._check_warm_start(space)
        scorer = self._scorer()
        X, y = self._check_data(X, y)
        splits = self._splits(X, y)
        sampler = self._make_sampler()
        budget = math.inf if self.time_budget is None else float(self.time_budget)
        n_max = math.inf if self.n_trials is None else self.n_trials

        trials: list[Trial] = []   # what the sampler sees: loss = -score
        rows: list[dict[str, Any]] = []
        start = time.perf_counter()
        with threadpool_limits(1), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            while len(trials) < n_max and (not trials or time.perf_counter() - start < budget):
                source = "warm_start" if len(trials) < len(warm) else "sampler"
                if source == "warm_start":
                    config = warm[len(trials)]
                else:
                    try:
                        config = checked_proposal(sampler, space, trials)
                    except SearchExhausted:
                        break
                any_ok = any(row["status"] == "ok" for row in rows)
                result = cross_validate_config(
                    config, X, y, splits=splits, scoring=scorer, task=self.task,
                    random_state=self.random_state,
                    deadline=start + budget if any_ok else math.inf)
                loss = -result.score if result.status == "ok" else self._failure_loss(trials)
                trial = Trial(len(trials), dict(config), loss, result.seconds)
                trials.append(trial)
                if source == "sampler":
                    sampler.tell(trial)
                rows.append(self._row(trial, result, source, time.perf_counter() - start))
            self.search_seconds_ = time.perf_counter() - start
            self.history_ = self._history(rows)
            self.leaderboard_ = self._leaderboard(self.history_)
            self._refit(X, y)
        return self

    @staticmethod
    def _failure_loss(trials: Sequence[Trial]) -> float:
        """Worse than every loss so far (1.0 before any): failures rank last for the sampler."""
        return max((t.value for t in trials), default=0.0) + 1.0

    @staticmethod
    def _row(trial: Trial, result: TrialResult, source: str, elapsed: float) -> dict[str, Any]:
        return {"trial": trial.number, "elapsed": elapsed, "fit_time": result.seconds,
                "model": trial.params["model"], "status": result.status, "score": result.score,
                "score_std": float(np.std(result.scores)) if result.status == "ok" else math.nan,
                "source": source, "error": result.error, "config": dict(trial.params)}

    @staticmethod
    def _history(rows: list[dict[str, Any]]) -> pd.DataFrame:
        history = pd.DataFrame.from_records(rows, columns=HISTORY_COLUMNS + ["score_std", "error"])
        history["best_score"] = history["score"].cummax()  # NaN (failures) are skipped
        return history.astype({"trial": "int64", "elapsed": "float64", "fit_time": "float64",
                               "score": "float64", "best_score": "float64"})

    @staticmethod
    def _leaderboard(history: pd.DataFrame) -> pd.DataFrame:
        ok = history["status"] == "ok"
        board = pd.concat([history[ok].sort_values(["score", "trial"], ascending=[False, True]),
                           history[~ok].sort_values("trial")])
        board.insert(0, "rank", np.arange(1, len(board) + 1))
        return board[LEADERBOARD_COLUMNS].reset_index(drop=True)

    def _refit(self, X: np.ndarray, y: np.ndarray) -> None:
        board = self.leaderboard_
        if len(board) == 0 or board["status"].iloc[0] != "ok":
            errors = "; ".join(f"trial {r.trial} ({r.model}): {r.error or r.status}"
                               for r in board.head(3).itertuples())
            raise RuntimeError(f"no trial of the {len(board)} succeeded, nothing to refit. "
                               f"First errors: {errors}")
        best = board.iloc[0]
        self.best_config_ = dict(best["config"])
        self.best_score_ = float(best["score"])
        start = time.perf_counter()
        self.best_pipeline_ = build_pipeline(self.best_config_, task=self.task,
                                             random_state=self.random_state).fit(X, y)
        self.refit_seconds_ = time.perf_counter() - start

    # -- using the fitted model ---------------------------------------------------------
    def predict(self, X) -> np.ndarray:
        """Predictions of the refitted best pipeline."""
        check_is_fitted(self, "best_pipeline_")
        return self.best_pipeline_.predict(self._check_X(X))

    @available_if(lambda self: self.task == "classification")
    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities of the refitted best pipeline, columns in :attr:`classes_` order."""
        check_is_fitted(self, "best_pipeline_")
        return self.best_pipeline_.predict_proba(self._check_X(X))

    def score(self, X, y) -> float:
        """The ``scoring`` of the search (default: accuracy or R^2) on ``X, y``."""
        check_is_fitted(self, "best_pipeline_")
        return float(self._scorer()(self, X, y))


# ======================================================================================
# A picture of the search
# ======================================================================================

def plot_history(history: pd.DataFrame, ax=None, *, label: str | None = None, color=None):
    """Score of every trial (dots; crosses for failures) and the best so far against time.

    Parameters
    ----------
    history : pandas.DataFrame
        :attr:`MiniAutoML.history_`.
    ax : matplotlib Axes, optional
        Where to draw; a new figure when ``None``.
    label : str, optional
        Legend label of the best-so-far line.
    color : optional
        Matplotlib colour of this run.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    if not isinstance(history, pd.DataFrame) or not {"elapsed", "score", "best_score",
                                                     "status"} <= set(history.columns):
        raise ValueError("history must be MiniAutoML.history_ (a DataFrame with elapsed, score, "
                         "best_score and status columns)")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    ok = history["status"] == "ok"
    line, = ax.step(history["elapsed"], history["best_score"], where="post", label=label, color=color)
    ax.plot(history.loc[ok, "elapsed"], history.loc[ok, "score"], "o", ms=3, alpha=0.5,
            color=line.get_color())
    if (~ok).any():
        low = history.loc[ok, "score"].min() if ok.any() else 0.0
        ax.plot(history.loc[~ok, "elapsed"], np.full((~ok).sum(), low), "x", color=line.get_color(),
                alpha=0.7)
    ax.set(xlabel="seconds of search", ylabel="CV score (dots: trials; line: best so far)")
    ax.grid(True, alpha=0.3)
    return ax
