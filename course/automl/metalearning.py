"""Meta-learning across datasets: warm-start a search, select an algorithm.

Both methods learn from a *meta-dataset*: for each earlier dataset its
meta-features (:mod:`course.automl.metafeatures`) and the score of every
configuration of a fixed portfolio (:mod:`course.automl.meta_dataset`).

**Nearest-dataset warm start** (Feurer et al. 2015, section 3.1; Brazdil et al.
2009, chapter 5): a search on a new dataset should first try what worked on
similar datasets. :class:`NearestDatasetWarmStart`

1. standardises the meta-features with the mean and standard deviation of the
   training datasets (so no meta-feature counts more because of its units);
2. computes the L1 distance from the new dataset to each training dataset;
3. recommends, nearest dataset first, the best configuration of each of the
   ``n_neighbors`` nearest datasets (skipping configurations already chosen),
   then their second-best ones, and so on.

Auto-sklearn evaluates the best configuration of each of the 25 nearest datasets
before its Bayesian optimisation starts; step 3 is that, with the rounds after the
first filling the list when there are fewer neighbours than trials. A variant
(``strategy="average_rank"``, the k-NN ranking method of Brazdil et al. 2003)
orders the portfolio by its mean rank over the ``n_neighbors`` nearest datasets
instead: it pools their evidence rather than trusting each neighbour's single best
(a noisy cross-validation estimate). Over *all* datasets it becomes the static
"best on average" order (:func:`average_rank_order`), the strong baseline any
warm start must be compared with.

**Algorithm selection** (Rice 1976): learn a mapping from the *feature space* (the
meta-features) to the *algorithm space* (a model family, or a configuration).
:class:`AlgorithmSelector` learns it in one of two ways, each with a k-nearest-
neighbour or a random-forest model: *regression* predicts the score of every
choice (Rice's performance space) and selects the highest prediction, as SATzilla
does (Xu et al. 2008); *classification* predicts the label "best choice" directly.
Regression keeps the information that two choices were nearly tied on a training
dataset, which the single best label throws away.

Both are evaluated leave-one-dataset-out: each dataset in turn is the new one and
the others are the training meta-dataset (:func:`leave_one_dataset_out_regret`,
:func:`leave_one_dataset_out_selection`). The *regret* after ``t`` trials is the
best score of the portfolio on that dataset minus the best score among the first
``t`` configurations tried; a *cold start* tries the portfolio in a random order
(:func:`random_order_regret`, its exact expectation).

References
----------
M. Feurer, A. Klein, K. Eggensperger, J. Springenberg, M. Blum and F. Hutter,
"Efficient and Robust Automated Machine Learning", NeurIPS 2015 (section 3.1:
meta-learning for finding good instantiations; L1 distance in meta-feature space,
the best configurations of the 25 nearest datasets).

J. R. Rice, "The Algorithm Selection Problem", Advances in Computers 15 (1976)
(the problem, feature, algorithm and performance spaces; the selection mapping).

P. Brazdil, C. Giraud-Carrier, C. Soares and R. Vilalta, *Metalearning:
Applications to Data Mining*, Springer 2009 (chapters 2 and 5).

P. Brazdil, C. Soares and J. Pinto da Costa, "Ranking Learning Algorithms: Using
IBL and Meta-Learning on Accuracy and Time Results", Machine Learning 50 (2003)
(k-NN ranking: average the ranks over the k nearest datasets).

L. Xu, F. Hutter, H. H. Hoos and K. Leyton-Brown, "SATzilla: Portfolio-based
Algorithm Selection for SAT", JAIR 32 (2008) (select by predicted performance).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "NearestDatasetWarmStart", "AlgorithmSelector", "best_labels", "regret_curve",
    "random_order_regret", "average_rank_order", "leave_one_dataset_out_regret",
    "leave_one_dataset_out_selection", "plot_regret_curves",
]


# ---------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------
def _check_positive_int(name: str, value: Any, *, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _check_frame(name: str, frame: Any) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame (one row per dataset), "
                        f"got {type(frame).__name__}")
    if frame.empty:
        raise ValueError(f"{name} is empty")
    if not frame.index.is_unique:
        raise ValueError(f"{name} has duplicate dataset names in its index")
    try:
        values = frame.to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must hold numbers only") from None
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return frame.astype(float)


def _check_meta(metafeatures: Any, scores: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both frames valid and about the same datasets, in the same row order."""
    metafeatures = _check_frame("metafeatures", metafeatures)
    scores = _check_frame("scores", scores)
    if set(metafeatures.index) != set(scores.index):
        only_mf = sorted(set(metafeatures.index) - set(scores.index))[:3]
        only_sc = sorted(set(scores.index) - set(metafeatures.index))[:3]
        raise ValueError("metafeatures and scores must describe the same datasets; "
                         f"only in metafeatures: {only_mf}, only in scores: {only_sc}")
    if not scores.columns.is_unique:
        raise ValueError("scores has duplicate configuration names in its columns")
    return metafeatures, scores.loc[metafeatures.index]


def _as_rows(target: Any, columns: pd.Index) -> pd.DataFrame:
    """A dict, Series or DataFrame of meta-features as a DataFrame with ``columns``."""
    if isinstance(target, Mapping):
        target = pd.Series(dict(target), dtype=float)
    if isinstance(target, pd.Series):
        target = target.to_frame().T
    if not isinstance(target, pd.DataFrame):
        raise TypeError("the new dataset's meta-features must be a dict, Series or DataFrame, "
                        f"got {type(target).__name__}")
    missing = [c for c in columns if c not in target.columns]
    if missing:
        raise ValueError(f"meta-features missing for the new dataset: {missing[:5]}"
                         f"{' ...' if len(missing) > 5 else ''}")
    rows = target[columns].astype(float)
    if not np.isfinite(rows.to_numpy()).all():
        raise ValueError("the new dataset's meta-features contain NaN or infinite values")
    return rows


class _Standardiser:
    """z-scores with the training datasets' mean and standard deviation.

    Meta-features that are constant over the training datasets carry no information
    about which training dataset is closer; they are dropped.
    """

    def fit(self, metafeatures: pd.DataFrame) -> "_Standardiser":
        std = metafeatures.std(axis=0, ddof=0)
        self.columns = metafeatures.columns
        self.keep = (std > 1e-12 * (1.0 + metafeatures.abs().max(axis=0))).to_numpy()
        self.mean = metafeatures.mean(axis=0).to_numpy()[self.keep]
        self.std = std.to_numpy()[self.keep]
        return self

    def transform(self, rows: pd.DataFrame) -> np.ndarray:
        return (rows[self.columns].to_numpy(dtype=float)[:, self.keep] - self.mean) / self.std


# ---------------------------------------------------------------------------------------
# Warm start
# ---------------------------------------------------------------------------------------
def _ranked_configurations(scores: pd.Series) -> list[str]:
    """Configurations from best to worst score; ties keep the portfolio's order."""
    order = np.argsort(-scores.to_numpy(dtype=float), kind="stable")
    return [scores.index[i] for i in order]


class NearestDatasetWarmStart:
    """Recommend the configurations that were best on the nearest training datasets.

    Parameters
    ----------
    n_neighbors : int, optional
        How many nearest training datasets to draw configurations from. ``None``
        (default) uses all, nearest first: the list of recommendations is then the
        best configuration of each dataset in order of distance, as in auto-sklearn.
        With fewer neighbours than configurations asked for, later rounds take each
        neighbour's second-best configuration, then third-best, and so on.
    metric : {"l1", "l2"}, default "l1"
        Distance between standardised meta-feature vectors; auto-sklearn uses L1.
    strategy : {"best_per_dataset", "average_rank"}, default "best_per_dataset"
        ``"best_per_dataset"``: the neighbours' best configurations, nearest first
        (auto-sklearn). ``"average_rank"``: the portfolio ordered by mean rank over
        the ``n_neighbors`` nearest datasets (Brazdil et al. 2003); give it a small
        ``n_neighbors`` (with all datasets it ignores the new dataset).

    References
    ----------
    Feurer et al. 2015, section 3.1; Brazdil et al. 2003 (k-NN ranking).

    Examples
    --------
    >>> mf = pd.DataFrame({"n": [100.0, 110.0, 5000.0]}, index=["a", "b", "c"])
    >>> scores = pd.DataFrame({"knn": [0.9, 0.8, 0.6], "forest": [0.7, 0.85, 0.95]},
    ...                       index=["a", "b", "c"])
    >>> warm = NearestDatasetWarmStart().fit(mf, scores)
    >>> warm.recommend({"n": 120.0}, n_configs=2)   # b is nearest, then a
    ['forest', 'knn']
    >>> warm.recommend({"n": 4000.0}, n_configs=1)  # c is nearest
    ['forest']
    """

    def __init__(self, n_neighbors: int | None = None, metric: str = "l1",
                 strategy: str = "best_per_dataset") -> None:
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.strategy = strategy

    def fit(self, metafeatures: pd.DataFrame, scores: pd.DataFrame) -> "NearestDatasetWarmStart":
        """Store the training meta-dataset and the standardisation fitted on it.

        Parameters
        ----------
        metafeatures : DataFrame
            One row per training dataset (index: dataset name), one column per
            meta-feature.
        scores : DataFrame
            One row per training dataset (the same names), one column per portfolio
            configuration; higher is better.
        """
        _check_positive_int("n_neighbors", self.n_neighbors, allow_none=True)
        if self.metric not in ("l1", "l2"):
            raise ValueError(f"metric must be 'l1' or 'l2', got {self.metric!r}")
        if self.strategy not in ("best_per_dataset", "average_rank"):
            raise ValueError("strategy must be 'best_per_dataset' or 'average_rank', "
                             f"got {self.strategy!r}")
        self.metafeatures_, self.scores_ = _check_meta(metafeatures, scores)
        self.standardiser_ = _Standardiser().fit(self.metafeatures_)
        self.train_points_ = self.standardiser_.transform(self.metafeatures_)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "scores_"):
            raise RuntimeError("call fit(metafeatures, scores) before using the warm start")

    def distances(self, target: Mapping[str, float] | pd.Series) -> pd.Series:
        """Distance from the new dataset to every training dataset, nearest first.

        Parameters
        ----------
        target : dict or Series
            The new dataset's meta-features (at least the training columns; extra
            keys are ignored).
        """
        self._check_fitted()
        point = self.standardiser_.transform(_as_rows(target, self.metafeatures_.columns))
        if len(point) != 1:
            raise ValueError(f"expected the meta-features of one dataset, got {len(point)} rows")
        diff = np.abs(self.train_points_ - point)
        dist = diff.sum(axis=1) if self.metric == "l1" else np.sqrt((diff ** 2).sum(axis=1))
        order = np.argsort(dist, kind="stable")
        return pd.Series(dist[order], index=self.metafeatures_.index[order], name="distance")

    def recommend(self, target: Mapping[str, float] | pd.Series, n_configs: int = 10) -> list[str]:
        """The configurations to try first on the new dataset, in order.

        Parameters
        ----------
        target : dict or Series
            The new dataset's meta-features.
        n_configs : int, default 10
            How many configurations to return (at most the portfolio's size).

        Returns
        -------
        list of str
            Distinct configuration names (columns of the training scores).
        """
        n_configs = _check_positive_int("n_configs", n_configs)
        self._check_fitted()
        n_configs = min(n_configs, self.scores_.shape[1])
        neighbours = self.distances(target).index[: self.n_neighbors]
        if self.strategy == "average_rank":
            return average_rank_order(self.scores_.loc[neighbours])[:n_configs]
        rankings = [_ranked_configurations(self.scores_.loc[name]) for name in neighbours]
        chosen: list[str] = []
        for depth in range(self.scores_.shape[1]):      # round 1: each neighbour's best...
            for ranking in rankings:
                if ranking[depth] not in chosen:
                    chosen.append(ranking[depth])
                    if len(chosen) == n_configs:
                        return chosen
        return chosen


def average_rank_order(scores: pd.DataFrame) -> list[str]:
    """The portfolio ordered by mean rank over the training datasets (best first).

    The static, "best on average" portfolio: what a search would try first without
    looking at the new dataset at all. Rank 1 is the best configuration of a dataset,
    tied configurations share their mean rank; ties of the mean keep portfolio order.

    Examples
    --------
    >>> scores = pd.DataFrame({"a": [0.9, 0.5, 0.5], "b": [0.8, 0.7, 0.7], "c": [0.1, 0.2, 0.3]})
    >>> average_rank_order(scores)  # mean ranks: a 5/3, b 4/3, c 3
    ['b', 'a', 'c']
    """
    scores = _check_frame("scores", scores)
    ranks = scores.rank(axis=1, ascending=False, method="average").mean(axis=0)
    order = np.argsort(ranks.to_numpy(), kind="stable")
    return [scores.columns[i] for i in order]


# ---------------------------------------------------------------------------------------
# Regret
# ---------------------------------------------------------------------------------------
def regret_curve(scores: pd.Series, order: Sequence[str], n_trials: int) -> np.ndarray:
    """Regret after each of the first ``n_trials`` configurations tried in ``order``.

    ``regret[t - 1] = max(scores) - max(scores[order[:t]])``: 0 once the portfolio's
    best configuration on this dataset has been tried.

    Examples
    --------
    >>> s = pd.Series({"a": 0.5, "b": 0.9, "c": 0.7})
    >>> regret_curve(s, ["a", "c", "b"], 3).round(3).tolist()
    [0.4, 0.2, 0.0]
    """
    n_trials = _check_positive_int("n_trials", n_trials)
    if len(order) < n_trials:
        raise ValueError(f"order has {len(order)} configurations, fewer than n_trials={n_trials}")
    unknown = [c for c in order[:n_trials] if c not in scores.index]
    if unknown:
        raise ValueError(f"configurations not in scores: {unknown[:3]}")
    tried = scores.loc[list(order[:n_trials])].to_numpy(dtype=float)
    return float(scores.max()) - np.maximum.accumulate(tried)


def random_order_regret(scores: pd.Series, n_trials: int) -> np.ndarray:
    """Expected regret of trying the portfolio in a uniformly random order (cold start).

    Exact, not sampled: after ``t`` trials without replacement out of ``m``, the
    ``i``-th smallest score (1-based) is the best one tried with probability
    ``C(i - 1, t - 1) / C(m, t)``.

    Examples
    --------
    >>> random_order_regret(pd.Series([0.0, 1.0]), 2).tolist()  # 1st trial: 50 % chance of 1.0
    [0.5, 0.0]
    """
    n_trials = _check_positive_int("n_trials", n_trials)
    values = np.sort(scores.to_numpy(dtype=float))
    m = len(values)
    if n_trials > m:
        raise ValueError(f"n_trials={n_trials} exceeds the portfolio's {m} configurations")
    expected = []
    for t in range(1, n_trials + 1):
        weights = np.array([math.comb(i - 1, t - 1) for i in range(1, m + 1)], dtype=float)
        expected.append(float(weights @ values) / math.comb(m, t))
    return values[-1] - np.array(expected)


def leave_one_dataset_out_regret(metafeatures: pd.DataFrame, scores: pd.DataFrame, *,
                                 n_trials: int = 10, n_neighbors: int | None = None,
                                 metric: str = "l1", strategy: str = "best_per_dataset"
                                 ) -> pd.DataFrame:
    """Regret curves of warm start, the average-rank portfolio and a random order.

    Each dataset in turn is held out: the warm start and the average-rank order are
    fitted on the other datasets only, then its configurations are "tried" on the
    held-out dataset by looking up their scores.

    Parameters
    ----------
    metafeatures, scores : DataFrame
        The meta-dataset (see :meth:`NearestDatasetWarmStart.fit`); at least 2 datasets.
    n_trials : int, default 10
        Length of the curves (at most the portfolio's size).
    n_neighbors, metric, strategy
        Passed to :class:`NearestDatasetWarmStart`.

    Returns
    -------
    DataFrame
        Index ``(strategy, dataset)`` with strategies ``"warm_start"``,
        ``"average_rank"`` and ``"random"`` (the expectation of
        :func:`random_order_regret`); columns ``1 .. n_trials``: the regret after
        that many trials. ``result.groupby(level="strategy").mean()`` gives the mean
        curves.
    """
    metafeatures, scores = _check_meta(metafeatures, scores)
    n_trials = _check_positive_int("n_trials", n_trials)
    if len(scores) < 2:
        raise ValueError("leave-one-dataset-out needs at least 2 datasets")
    if n_trials > scores.shape[1]:
        raise ValueError(f"n_trials={n_trials} exceeds the portfolio's {scores.shape[1]} configurations")
    rows = {}
    for held_out in scores.index:
        train = scores.index != held_out
        warm = NearestDatasetWarmStart(n_neighbors, metric, strategy).fit(metafeatures[train],
                                                                          scores[train])
        target = scores.loc[held_out]
        rows[("warm_start", held_out)] = regret_curve(
            target, warm.recommend(metafeatures.loc[held_out], n_trials), n_trials)
        rows[("average_rank", held_out)] = regret_curve(
            target, average_rank_order(scores[train]), n_trials)
        rows[("random", held_out)] = random_order_regret(target, n_trials)
    result = pd.DataFrame.from_dict(rows, orient="index", columns=range(1, n_trials + 1))
    result.index = pd.MultiIndex.from_tuples(result.index, names=["strategy", "dataset"])
    return result.sort_index(level="strategy", sort_remaining=False)


_STRATEGY_LABELS = {"warm_start": "warm start (nearest datasets)",
                    "average_rank": "best on average (static)",
                    "random": "cold start (random order)"}


def plot_regret_curves(result: pd.DataFrame, ax: Any = None, *, title: str | None = None) -> Any:
    """Plot the mean regret per trial of each strategy of :func:`leave_one_dataset_out_regret`.

    Parameters
    ----------
    result : DataFrame
        What :func:`leave_one_dataset_out_regret` returns (several results may be
        concatenated after renaming their ``strategy`` level).
    ax : matplotlib Axes, optional
        Where to draw; a new figure by default.
    title : str, optional
        The axes' title.

    Returns
    -------
    matplotlib Axes
        Mean regret over the held-out datasets (log scale) against the number of trials,
        one line per strategy, with its standard error as a band.
    """
    import matplotlib.pyplot as plt

    if not isinstance(result, pd.DataFrame) or result.index.names[:1] != ["strategy"]:
        raise TypeError("result must be the DataFrame of leave_one_dataset_out_regret "
                        "(index levels strategy, dataset)")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    grouped = result.groupby(level="strategy", sort=False)
    mean, sem = grouped.mean(), grouped.sem().fillna(0.0)
    trials = np.asarray(result.columns, dtype=int)
    for strategy in mean.index:
        line, = ax.plot(trials, mean.loc[strategy], marker="o",
                        label=_STRATEGY_LABELS.get(strategy, strategy))
        low = np.maximum(mean.loc[strategy] - sem.loc[strategy], 1e-6)
        ax.fill_between(trials, low, mean.loc[strategy] + sem.loc[strategy],
                        color=line.get_color(), alpha=0.15)
    ax.set_yscale("log")
    ax.set_xticks(trials)
    ax.set_xlabel("trials (configurations of the portfolio evaluated)")
    ax.set_ylabel("mean regret (best score - best so far)")
    n_datasets = result.index.get_level_values("dataset").nunique()
    ax.set_title(title or f"Leave-one-dataset-out, {n_datasets} datasets")
    ax.legend()
    return ax


# ---------------------------------------------------------------------------------------
# Algorithm selection
# ---------------------------------------------------------------------------------------
def _group_scores(scores: pd.DataFrame, groups: Mapping[str, str] | None) -> pd.DataFrame:
    """Best score of each group (e.g. model family) per dataset; columns in first-seen order."""
    if groups is None:
        return scores
    missing = [c for c in scores.columns if c not in groups]
    if missing:
        raise ValueError(f"groups has no label for configuration(s) {missing[:3]}")
    labels = [groups[c] for c in scores.columns]
    return scores.T.groupby(labels, sort=False).max().T


def best_labels(scores: pd.DataFrame, groups: Mapping[str, str] | None = None) -> pd.Series:
    """The best configuration (or group of configurations) of each dataset.

    Parameters
    ----------
    scores : DataFrame
        Datasets x configurations, higher is better.
    groups : mapping, optional
        Configuration name -> label (e.g. its model family); a group's score on a
        dataset is its best configuration's score. ``None``: each configuration is
        its own label.

    Returns
    -------
    Series
        One label per dataset; ties go to the label seen first in the portfolio.

    Examples
    --------
    >>> scores = pd.DataFrame({"svm_1": [0.9, 0.6], "svm_2": [0.7, 0.8], "tree": [0.8, 0.95]},
    ...                       index=["d1", "d2"])
    >>> best_labels(scores, {"svm_1": "svm", "svm_2": "svm", "tree": "tree"}).tolist()
    ['svm', 'tree']
    """
    grouped = _group_scores(_check_frame("scores", scores), groups)
    best = np.argmax(grouped.to_numpy(), axis=1)  # first maximum: portfolio order
    return pd.Series(grouped.columns[best], index=grouped.index, name="best")


class AlgorithmSelector:
    """Predict the best model family (or configuration) of a dataset from its meta-features.

    Rice's (1976) selection mapping, learned from the training datasets (the
    examples), their standardised meta-features (the inputs) and their scores.

    Parameters
    ----------
    model : {"knn", "forest"}, default "knn"
        A k-nearest-neighbour model (L1 distance on standardised meta-features, as
        the warm start, uniform weights) or a random forest of 200 trees.
    approach : {"regression", "classification"}, default "regression"
        ``"regression"``: predict the score of every choice (a choice's score on a
        dataset is that of its best configuration) and select the largest
        prediction; with k-NN, the choice with the best mean score over the
        ``n_neighbors`` nearest datasets. ``"classification"``: predict the best
        label (:func:`best_labels`) directly.
    n_neighbors : int, default 3
        Neighbours of the k-NN model (ignored by the forest).
    random_state : int, default 0
        Seed of the random forest.

    References
    ----------
    Rice 1976; Xu et al. 2008 (selection by predicted performance).

    Examples
    --------
    >>> mf = pd.DataFrame({"n": [100.0, 120.0, 5000.0, 6000.0]}, index=list("abcd"))
    >>> scores = pd.DataFrame({"knn": [0.9, 0.9, 0.6, 0.5], "forest": [0.7, 0.8, 0.9, 0.9]},
    ...                       index=list("abcd"))
    >>> selector = AlgorithmSelector(n_neighbors=2).fit(mf, scores)
    >>> selector.predict(pd.DataFrame({"n": [90.0, 5500.0]})).tolist()
    ['knn', 'forest']
    >>> selector.predict_scores({"n": 90.0}).round(2).to_dict("records")
    [{'knn': 0.9, 'forest': 0.75}]
    """

    def __init__(self, model: str = "knn", approach: str = "regression", n_neighbors: int = 3,
                 random_state: int = 0) -> None:
        self.model = model
        self.approach = approach
        self.n_neighbors = n_neighbors
        self.random_state = random_state

    def _estimator(self, n_train: int) -> Any:
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
        from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

        if self.approach not in ("regression", "classification"):
            raise ValueError("approach must be 'regression' or 'classification', "
                             f"got {self.approach!r}")
        regression = self.approach == "regression"
        if self.model == "knn":
            k = _check_positive_int("n_neighbors", self.n_neighbors)
            if k > n_train:
                raise ValueError(f"n_neighbors={k} exceeds the {n_train} training datasets")
            cls = KNeighborsRegressor if regression else KNeighborsClassifier
            return cls(n_neighbors=k, metric="manhattan")
        if self.model == "forest":
            cls = RandomForestRegressor if regression else RandomForestClassifier
            return cls(n_estimators=200, random_state=self.random_state)
        raise ValueError(f"model must be 'knn' or 'forest', got {self.model!r}")

    def fit(self, metafeatures: pd.DataFrame, scores: pd.DataFrame,
            groups: Mapping[str, str] | None = None) -> "AlgorithmSelector":
        """Learn the selection mapping from a meta-dataset.

        Parameters
        ----------
        metafeatures, scores : DataFrame
            The training meta-dataset (see :meth:`NearestDatasetWarmStart.fit`).
        groups : mapping, optional
            Configuration -> label (e.g. model family) to select among; ``None``
            selects among the configurations themselves.
        """
        metafeatures, scores = _check_meta(metafeatures, scores)
        estimator = self._estimator(len(metafeatures))
        self.choice_scores_ = _group_scores(scores, groups)
        self.standardiser_ = _Standardiser().fit(metafeatures)
        self.columns_ = metafeatures.columns
        inputs = self.standardiser_.transform(metafeatures)
        if self.approach == "regression":
            self.estimator_ = estimator.fit(inputs, self.choice_scores_.to_numpy())
        else:
            self.estimator_ = estimator.fit(inputs, best_labels(scores, groups).to_numpy())
        return self

    def _inputs(self, metafeatures: Any) -> tuple[np.ndarray, pd.Index]:
        if not hasattr(self, "estimator_"):
            raise RuntimeError("call fit(metafeatures, scores) before predicting")
        rows = _as_rows(metafeatures, self.columns_)
        return self.standardiser_.transform(rows), rows.index

    def predict_scores(self, metafeatures: pd.DataFrame | Mapping[str, float] | pd.Series
                       ) -> pd.DataFrame:
        """The predicted score of every choice on each dataset (regression approach only)."""
        if self.approach != "regression":
            raise ValueError("predict_scores needs approach='regression'")
        inputs, index = self._inputs(metafeatures)
        predicted = np.asarray(self.estimator_.predict(inputs)).reshape(len(inputs), -1)
        return pd.DataFrame(predicted, index=index, columns=self.choice_scores_.columns)

    def predict(self, metafeatures: pd.DataFrame | Mapping[str, float] | pd.Series) -> np.ndarray:
        """The predicted best label of each dataset (one row of meta-features each).

        With regression, ties between predicted scores go to the choice first in
        the portfolio.
        """
        if self.approach == "regression":
            predicted = self.predict_scores(metafeatures)
            return predicted.columns.to_numpy()[np.argmax(predicted.to_numpy(), axis=1)]
        inputs, _ = self._inputs(metafeatures)
        return self.estimator_.predict(inputs)


def leave_one_dataset_out_selection(metafeatures: pd.DataFrame, scores: pd.DataFrame,
                                    groups: Mapping[str, str] | None = None, *,
                                    model: str = "knn", approach: str = "regression",
                                    n_neighbors: int = 3, random_state: int = 0) -> pd.DataFrame:
    """Evaluate :class:`AlgorithmSelector` against always making the same choice.

    For each held-out dataset, the selector (with these ``model``, ``approach``,
    ``n_neighbors`` and ``random_state``) is fitted on the others, and so is the
    baseline: the label that was best on most training datasets (ties: portfolio order).

    Returns
    -------
    DataFrame
        One row per dataset with ``best`` (the label(s) that reach the best score,
        joined by ``|`` when tied), ``selected`` and ``baseline`` (the choices),
        ``regret_selected`` and ``regret_baseline`` (best score minus the score of
        the choice), ``hit_selected`` and ``hit_baseline`` (the choice reaches the best
        score, so a tie counts as a hit). Their means are the accuracies and mean
        regrets.
    """
    metafeatures, scores = _check_meta(metafeatures, scores)
    if len(scores) < 2:
        raise ValueError("leave-one-dataset-out needs at least 2 datasets")
    grouped = _group_scores(scores, groups)
    rows = []
    for held_out in scores.index:
        train = scores.index != held_out
        selector = AlgorithmSelector(model, approach, n_neighbors, random_state)
        selected = selector.fit(metafeatures[train], scores[train], groups).predict(
            metafeatures.loc[[held_out]])[0]
        counts = best_labels(scores[train], groups).value_counts().reindex(grouped.columns,
                                                                           fill_value=0)
        baseline = counts.index[np.argmax(counts.to_numpy())]
        target = grouped.loc[held_out]
        best = target.max()
        rows.append({
            "dataset": held_out,
            "best": "|".join(str(label) for label in target.index[target == best]),
            "selected": selected, "baseline": baseline,
            "regret_selected": best - target[selected], "regret_baseline": best - target[baseline],
            "hit_selected": bool(target[selected] == best), "hit_baseline": bool(target[baseline] == best),
        })
    return pd.DataFrame(rows).set_index("dataset")
