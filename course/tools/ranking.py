"""Ranking AutoML tools from raw results: a fair protocol, averages, ties and ranks.

A comparison of tools is only as fair as its protocol. This module takes the *raw*
results of a benchmark, one row per run, and turns them into a ranking in four steps
that follow Demšar (2006):

1. :func:`check_protocol`: every tool ran on every dataset, with the same time budget
   and the same seeds as every other tool there; one score per run, no missing score.
   A table that breaks the protocol is refused with the offending rows named, because
   averaging over unequal budgets or seeds silently favours one tool;
2. :func:`mean_over_seeds`: the score of a tool on a dataset is its mean over seeds;
3. :func:`rank_dataset` / :func:`dataset_ranks`: on each dataset the tools are ranked,
   1 for the best, with a **statistical tie rule** (:func:`tied`): two tools whose
   difference is not significant under a two-sided paired *t*-test over the seeds
   share a rank (Dietterich 1998 discusses paired tests for comparing learners);
4. :func:`average_ranks`: the mean rank of each tool over the datasets, the statistic
   Demšar recommends for comparing several methods on several datasets, with
   :func:`critical_difference` (the Nemenyi test) to read which gaps are significant.

The raw results are a tidy :class:`pandas.DataFrame` with one row per run and the
columns

``tool``
    the tool's name;
``dataset``
    the dataset's name;
``seed``
    the seed of the run (the same seed means the same data split for every tool, so
    runs with the same seed are *paired*);
``budget_s``
    the time budget of the run, in seconds;
``score``
    the score of the run (a finite number);
``higher_is_better`` (optional)
    whether a larger score is better, the same in every row of a dataset (accuracy:
    ``True``; an error or a log loss: ``False``). Without this column the keyword
    ``higher_is_better`` of each function applies to every dataset.

The tie rule, exactly. On one dataset, sort the tools by mean score, best first (equal
means in the order of the tool names). Walk down the list: the first tool opens a
group; each next tool joins the current group if it is tied with the group's *first*
(best) member, and opens a new group otherwise. Tools ``a`` and ``b`` are tied when,
with ``d_s = score_a(s) - score_b(s)`` over the ``n`` shared seeds,

    |mean(d)| <= t_{1 - alpha/2, n-1} * sd(d) / sqrt(n)

(the paired *t*-test does not reject equal means at level ``alpha``; ``sd`` with
``n - 1`` degrees of freedom). With one seed, or differences without spread, only
equal scores tie. The members of a group occupy consecutive positions ``p..q`` and all
get the average position ``(p + q) / 2``, as in Demšar's ranks for ties; the ranks on a
dataset always sum to ``k (k + 1) / 2`` for ``k`` tools. Comparing with the group's
best member (rather than chaining neighbour to neighbour) keeps a long run of small
steps from tying the best tool with a clearly worse one.

References
----------
J. Demšar, "Statistical comparisons of classifiers over multiple data sets", Journal of
Machine Learning Research 7, 1-30, 2006 (section 3.2.2: average ranks, ties share the
average rank, the Nemenyi test and its critical difference, equation on p. 11, and
table 5a for ``q_alpha``).

T. G. Dietterich, "Approximate statistical tests for comparing supervised classification
learning algorithms", Neural Computation 10(7), 1895-1923, 1998 (paired tests over
repeated runs, and why their variance is underestimated when runs share data).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["RESULT_COLUMNS", "check_protocol", "mean_over_seeds", "tied", "rank_dataset",
           "dataset_ranks", "average_ranks", "critical_difference", "simulate_results",
           "plot_average_ranks"]

RESULT_COLUMNS = ("tool", "dataset", "seed", "budget_s", "score")
_SHOWN_ROWS = 5  # offending rows quoted in an error message


def _rows(frame: pd.DataFrame, mask: pd.Series | np.ndarray) -> str:
    """The first offending rows of ``frame``, for an error message."""
    bad = frame[np.asarray(mask, dtype=bool)]
    shown = bad.head(_SHOWN_ROWS).to_string()
    more = f"\n... and {len(bad) - _SHOWN_ROWS} more" if len(bad) > _SHOWN_ROWS else ""
    return f"\n{shown}{more}"


def _check_alpha(alpha: float) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be a float in (0, 1), got {alpha!r}")
    return float(alpha)


def check_protocol(results: pd.DataFrame, *, higher_is_better: bool = True) -> pd.DataFrame:
    """Refuse a results table whose comparison would be unfair; return a clean copy.

    Parameters
    ----------
    results : pandas.DataFrame
        Raw results, one row per run, with the columns of :data:`RESULT_COLUMNS` and
        optionally ``higher_is_better`` (see the module's docstring).
    higher_is_better : bool, default True
        Direction of the score on every dataset, when ``results`` has no
        ``higher_is_better`` column (the column wins when present).

    Returns
    -------
    pandas.DataFrame
        A copy with the columns of :data:`RESULT_COLUMNS` plus ``higher_is_better``
        (bool, one value per dataset), ``score`` and ``budget_s`` as floats, sorted by
        dataset, tool and seed, with a fresh index.

    Raises
    ------
    TypeError
        If ``results`` is not a DataFrame or ``higher_is_better`` not a bool.
    ValueError
        Naming the offending rows, if a column is missing; a score or budget is not a
        finite number; a (tool, dataset, seed) appears twice; the direction of the
        score differs within a dataset; the tools of a dataset ran with different
        budgets; a tool did not run on every dataset; or the seeds of a (tool, dataset)
        differ from those of the other tools.

    Examples
    --------
    >>> raw = pd.DataFrame({"tool": ["a", "a", "b", "b"], "dataset": "d", "seed": [0, 1, 0, 1],
    ...                     "budget_s": 60, "score": [0.9, 0.8, 0.7, 0.7]})
    >>> check_protocol(raw)["higher_is_better"].all()
    np.True_
    """
    if not isinstance(results, pd.DataFrame):
        raise TypeError(f"results must be a pandas DataFrame, got {type(results).__name__}")
    if not isinstance(higher_is_better, (bool, np.bool_)):
        raise TypeError(f"higher_is_better must be a bool, got {higher_is_better!r}")
    missing = [c for c in RESULT_COLUMNS if c not in results.columns]
    if missing:
        raise ValueError(f"results lack the column(s) {missing}; it has {list(results.columns)}")
    if results.empty:
        raise ValueError("results are empty: no run to rank")
    frame = results.loc[:, [c for c in (*RESULT_COLUMNS, "higher_is_better") if c in results.columns]].copy()
    if "higher_is_better" not in frame.columns:
        frame["higher_is_better"] = bool(higher_is_better)
    for column in ("score", "budget_s"):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = ~np.isfinite(values.to_numpy(dtype=float))
        if bad.any():
            raise ValueError(f"every {column} must be a finite number; offending rows:{_rows(results, bad)}")
        frame[column] = values.astype(float)
    if frame[["tool", "dataset", "seed"]].isna().any(axis=None):
        raise ValueError(f"tool, dataset and seed must not be missing; offending rows:"
                         f"{_rows(results, frame[['tool', 'dataset', 'seed']].isna().any(axis=1))}")
    duplicated = frame.duplicated(["tool", "dataset", "seed"], keep=False)
    if duplicated.any():
        raise ValueError(f"each (tool, dataset, seed) must be run once; repeated rows:{_rows(results, duplicated)}")
    directions = frame["higher_is_better"]
    if not directions.map(lambda v: isinstance(v, (bool, np.bool_))).all():
        raise ValueError(f"higher_is_better must hold booleans; offending rows:"
                         f"{_rows(results, ~directions.map(lambda v: isinstance(v, (bool, np.bool_))))}")
    frame["higher_is_better"] = directions.astype(bool)
    mixed = frame.groupby("dataset")["higher_is_better"].transform("nunique") > 1
    if mixed.any():
        raise ValueError(f"the score's direction (higher_is_better) must be the same on a whole dataset; "
                         f"rows of the mixed datasets:{_rows(results, mixed)}")
    budgets = frame.groupby("dataset")["budget_s"].transform(lambda b: b.mode().iloc[0])
    off_budget = frame["budget_s"] != budgets
    if off_budget.any():
        raise ValueError(f"every tool must run with the same budget on a dataset; rows whose budget_s differs "
                         f"from the dataset's most common budget:{_rows(results, off_budget)}")
    tools, datasets = sorted(frame["tool"].unique(), key=str), sorted(frame["dataset"].unique(), key=str)
    ran = frame.groupby(["tool", "dataset"]).size()
    absent = [(t, d) for t in tools for d in datasets if (t, d) not in ran.index]
    if absent:
        raise ValueError(f"every tool must run on every dataset; missing (tool, dataset) pairs: "
                         f"{absent[:_SHOWN_ROWS]}{' ...' if len(absent) > _SHOWN_ROWS else ''}")
    seed_sets = frame.groupby(["tool", "dataset"])["seed"].agg(lambda s: frozenset(s.tolist()))
    common = seed_sets.mode().iloc[0]
    odd_pairs = set(seed_sets.index[seed_sets != common])
    if odd_pairs:
        odd = pd.Series([(t, d) in odd_pairs for t, d in zip(frame["tool"], frame["dataset"])], index=frame.index)
        raise ValueError(f"every tool must run with the same seeds on every dataset (the most common set is "
                         f"{sorted(common, key=str)}); the runs of {sorted(odd_pairs, key=str)} differ:"
                         f"{_rows(results, odd)}")
    # names sort as text (mixed types allowed), seeds as they are
    return frame.sort_values(["dataset", "tool", "seed"], key=lambda c: c if c.name == "seed" else c.map(str),
                             kind="stable").reset_index(drop=True)


def mean_over_seeds(results: pd.DataFrame, *, higher_is_better: bool = True) -> pd.DataFrame:
    """The mean score of each tool on each dataset, over the seeds.

    Parameters
    ----------
    results : pandas.DataFrame
        Raw results (checked with :func:`check_protocol`).
    higher_is_better : bool, default True
        As in :func:`check_protocol`.

    Returns
    -------
    pandas.DataFrame
        One row per dataset and one column per tool (both sorted by name), the mean
        score over the seeds.

    Raises
    ------
    ValueError, TypeError
        As :func:`check_protocol`.
    """
    frame = check_protocol(results, higher_is_better=higher_is_better)
    table = frame.pivot_table(index="dataset", columns="tool", values="score", aggfunc="mean")
    table.columns.name, table.index.name = "tool", "dataset"
    return table


def tied(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *, alpha: float = 0.05) -> bool:
    """Whether two tools' paired scores are tied: a paired *t*-test does not separate them.

    Parameters
    ----------
    a, b : array_like of shape (n_seeds,)
        Scores of two tools on one dataset, ``a[s]`` and ``b[s]`` from the same seed.
    alpha : float, default 0.05
        Level of the two-sided test.

    Returns
    -------
    bool
        ``|mean(d)| <= t_{1 - alpha/2, n-1} sd(d) / sqrt(n)`` with ``d = a - b``. With
        one seed, or ``sd(d) == 0``, this is ``mean(d) == 0``.

    Raises
    ------
    ValueError
        If ``a`` and ``b`` are not non-empty 1-D arrays of the same length of finite
        numbers, or ``alpha`` is not in ``(0, 1)``.

    References
    ----------
    Dietterich (1998), section 3 (the paired *t*-test over repeated runs).

    Examples
    --------
    >>> tied([0.90, 0.80, 0.85], [0.89, 0.81, 0.84]), tied([0.9, 0.91, 0.92], [0.8, 0.8, 0.81])
    (True, False)
    """
    alpha = _check_alpha(alpha)
    try:
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"a and b must be numeric arrays of scores: {err}") from None
    if a.ndim != 1 or a.shape != b.shape or a.size == 0:
        raise ValueError(f"a and b must be non-empty 1-D arrays of the same length, got shapes {a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("a and b must hold finite scores")
    d = a - b
    n = d.size
    spread = d.std(ddof=1) if n > 1 else 0.0
    if spread == 0:
        return bool(d.mean() == 0)
    threshold = stats.t.ppf(1 - alpha / 2, n - 1) * spread / np.sqrt(n)
    return bool(abs(d.mean()) <= threshold)


def rank_dataset(scores: pd.DataFrame, *, higher_is_better: bool = True, alpha: float = 0.05) -> pd.Series:
    """Rank the tools on one dataset, 1 for the best, tied tools sharing the average rank.

    Parameters
    ----------
    scores : pandas.DataFrame
        One row per seed and one column per tool: ``scores.loc[s, t]`` is tool ``t``'s
        score with seed ``s`` (rows are paired by seed). At least one row and column,
        all finite.
    higher_is_better : bool, default True
        Whether a larger score is better.
    alpha : float, default 0.05
        Level of the paired test of :func:`tied`.

    Returns
    -------
    pandas.Series of float
        Rank of each tool (indexed by the columns, in their order), between 1 and
        ``k``; the ranks sum to ``k (k + 1) / 2``. The grouping rule is in the module's
        docstring.

    Raises
    ------
    TypeError
        If ``scores`` is not a DataFrame.
    ValueError
        If it is empty or holds a value that is not a finite number.

    References
    ----------
    Demšar (2006), section 3.2.2 (tied methods share the average of their ranks).

    Examples
    --------
    >>> scores = pd.DataFrame({"a": [0.90, 0.92, 0.91], "b": [0.80, 0.81, 0.80], "c": [0.91, 0.90, 0.92]})
    >>> rank_dataset(scores).tolist()
    [1.5, 3.0, 1.5]
    """
    if not isinstance(scores, pd.DataFrame):
        raise TypeError(f"scores must be a DataFrame (seeds x tools), got {type(scores).__name__}")
    if scores.shape[0] == 0 or scores.shape[1] == 0:
        raise ValueError(f"scores must have at least one seed and one tool, got shape {scores.shape}")
    values = scores.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise ValueError("scores must hold finite numbers only")
    alpha = _check_alpha(alpha)
    sign = 1.0 if higher_is_better else -1.0
    means = sign * values.mean(axis=0)
    names = [str(c) for c in scores.columns]
    # best mean first; equal means in the order of the tool names
    order = sorted(range(len(names)), key=lambda j: (-means[j], names[j]))
    ranks = np.empty(len(names))
    position = 0
    while position < len(order):
        leader = order[position]
        end = position + 1
        while end < len(order) and tied(values[:, leader], values[:, order[end]], alpha=alpha):
            end += 1
        # positions position+1 .. end (1-based) share their average
        ranks[order[position:end]] = (position + 1 + end) / 2
        position = end
    return pd.Series(ranks, index=scores.columns, name="rank")


def dataset_ranks(results: pd.DataFrame, *, higher_is_better: bool = True, alpha: float = 0.05) -> pd.DataFrame:
    """The rank of every tool on every dataset (:func:`rank_dataset` on each).

    Parameters
    ----------
    results : pandas.DataFrame
        Raw results (checked with :func:`check_protocol`).
    higher_is_better : bool, default True
        Direction of the score, when ``results`` has no ``higher_is_better`` column.
    alpha : float, default 0.05
        Level of the tie rule's paired test.

    Returns
    -------
    pandas.DataFrame
        One row per dataset and one column per tool (both sorted by name).

    Raises
    ------
    ValueError, TypeError
        As :func:`check_protocol`, or for a bad ``alpha``.
    """
    alpha = _check_alpha(alpha)
    frame = check_protocol(results, higher_is_better=higher_is_better)
    rows = {}
    for dataset, runs in frame.groupby("dataset", sort=False):
        scores = runs.pivot(index="seed", columns="tool", values="score")
        rows[dataset] = rank_dataset(scores, higher_is_better=bool(runs["higher_is_better"].iloc[0]), alpha=alpha)
    table = pd.DataFrame(rows).T
    table.index.name, table.columns.name = "dataset", "tool"
    return table


def average_ranks(results: pd.DataFrame, *, higher_is_better: bool = True, alpha: float = 0.05) -> pd.Series:
    """Each tool's rank averaged over the datasets, best (lowest) first.

    Parameters
    ----------
    results : pandas.DataFrame
        Raw results (checked with :func:`check_protocol`).
    higher_is_better : bool, default True
        Direction of the score, when ``results`` has no ``higher_is_better`` column.
    alpha : float, default 0.05
        Level of the tie rule's paired test.

    Returns
    -------
    pandas.Series of float
        Indexed by tool, sorted by average rank (ties in the order of the names).

    Raises
    ------
    ValueError, TypeError
        As :func:`dataset_ranks`.

    References
    ----------
    Demšar (2006), section 3.2.2.

    Examples
    --------
    >>> raw = pd.DataFrame({"tool": ["a", "b"] * 2, "dataset": ["d1", "d1", "d2", "d2"], "seed": 0,
    ...                     "budget_s": 10, "score": [0.9, 0.8, 0.7, 0.6]})
    >>> average_ranks(raw).to_dict()
    {'a': 1.0, 'b': 2.0}
    """
    ranks = dataset_ranks(results, higher_is_better=higher_is_better, alpha=alpha).mean(axis=0)
    order = sorted(ranks.index, key=lambda t: (ranks[t], str(t)))
    return ranks[order].rename("average rank")


def critical_difference(n_tools: int, n_datasets: int, *, alpha: float = 0.05) -> float:
    """The Nemenyi test's critical difference of average ranks.

    Two tools whose average ranks over ``n_datasets`` differ by more than

        CD = q_alpha * sqrt(k (k + 1) / (6 N))

    perform significantly differently at level ``alpha``, where ``q_alpha`` is the
    studentized range quantile for ``k`` groups and infinite degrees of freedom,
    divided by ``sqrt(2)``.

    Parameters
    ----------
    n_tools : int
        ``k >= 2``, the number of tools compared.
    n_datasets : int
        ``N >= 1``, the number of datasets.
    alpha : float, default 0.05
        Level of the test.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If ``n_tools < 2``, ``n_datasets < 1`` (or either is not an int), or ``alpha``
        is not in ``(0, 1)``.

    Notes
    -----
    The test assumes ordinary ranks (ties only for equal scores); ranks from the
    statistical tie rule are pulled towards the middle, so the test becomes
    conservative, not wrong. With few datasets (Demšar suggests at least about 10) the
    critical difference is large: most gaps will not be significant.

    References
    ----------
    Demšar (2006), section 3.2.2, and table 5a (``q_0.05 = 1.960, 2.343, 2.569, 2.728``
    for ``k = 2, 3, 4, 5``).

    Examples
    --------
    >>> round(critical_difference(4, 10), 3)
    1.483
    """
    for name, value, low in (("n_tools", n_tools, 2), ("n_datasets", n_datasets, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    alpha = _check_alpha(alpha)
    q_alpha = stats.studentized_range.ppf(1 - alpha, n_tools, np.inf) / np.sqrt(2)
    return float(q_alpha * np.sqrt(n_tools * (n_tools + 1) / (6 * n_datasets)))


def simulate_results(seed: int, *, n_tools: int = 4, n_datasets: int = 6, n_seeds: int = 5,
                     budget_s: float = 60.0, noise: float = 0.01) -> pd.DataFrame:
    """A seeded table of raw results that respects the protocol, for exercises and tests.

    Each tool has a true skill, each dataset a difficulty and a direction (two thirds
    accuracy-like, one third error-like), each (dataset, seed) a shared split effect,
    and each run its own noise. Some tools are given the same skill, so ties occur.

    Parameters
    ----------
    seed : int
        Seed of the simulator; the same seed gives the same table.
    n_tools, n_datasets, n_seeds : int, default 4, 6, 5
        Size of the benchmark (each at least 1; tools are named ``tool_0``, ...,
        datasets ``data_0``, ...; the seeds are ``0 .. n_seeds - 1``).
    budget_s : float, default 60
        The budget of every run.
    noise : float, default 0.01
        Standard deviation of the per-run noise (the split effect shared by the tools
        on one (dataset, seed) has a standard deviation of 0.03).

    Returns
    -------
    pandas.DataFrame
        Columns ``tool, dataset, seed, budget_s, score, higher_is_better``, one row per
        run, in a shuffled order.

    Raises
    ------
    ValueError
        If a size is not a positive int, or ``budget_s`` or ``noise`` is negative.
    """
    for name, value in (("n_tools", n_tools), ("n_datasets", n_datasets), ("n_seeds", n_seeds)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not budget_s > 0 or not noise >= 0:
        raise ValueError(f"budget_s must be positive and noise non-negative, got {budget_s!r} and {noise!r}")
    rng = np.random.default_rng(seed)
    skill = rng.choice(np.linspace(0.0, 0.08, 5), size=n_tools)   # repeated values: some true ties
    difficulty = rng.uniform(0.6, 0.9, n_datasets)
    higher = rng.random(n_datasets) < 2 / 3
    split = rng.normal(0.0, 0.03, (n_datasets, n_seeds))   # shared by all tools on a seed
    rows = []
    for d in range(n_datasets):
        for t in range(n_tools):
            accuracy = difficulty[d] + skill[t] + split[d] + rng.normal(0.0, noise, n_seeds)
            score = accuracy if higher[d] else 1.0 - accuracy
            rows += [(f"tool_{t}", f"data_{d}", s, float(budget_s), float(score[s]), bool(higher[d]))
                     for s in range(n_seeds)]
    frame = pd.DataFrame(rows, columns=[*RESULT_COLUMNS, "higher_is_better"])
    return frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)


def plot_average_ranks(ranks: pd.Series, *, cd: float | None = None, ax=None, title: str | None = None):
    """A horizontal bar chart of average ranks, best on top, with an optional critical difference.

    Parameters
    ----------
    ranks : pandas.Series
        Average rank per tool (as returned by :func:`average_ranks`).
    cd : float, optional
        A critical difference (:func:`critical_difference`), drawn as a bar from the
        best tool's rank: tools whose bar ends inside it are not significantly worse.
    ax : matplotlib Axes, optional
        Where to draw (a new figure otherwise).
    title : str, optional

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib.pyplot as plt

    if not isinstance(ranks, pd.Series) or ranks.empty:
        raise ValueError("ranks must be a non-empty pandas Series of average ranks")
    ranks = ranks.sort_values(kind="stable")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.5 * len(ranks) + 1.2))
    positions = np.arange(len(ranks))[::-1]
    ax.barh(positions, ranks.to_numpy(), color="tab:blue", alpha=0.8)
    ax.set_yticks(positions, [str(t) for t in ranks.index])
    for y, value in zip(positions, ranks.to_numpy()):
        ax.text(value + 0.03, y, f"{value:.2f}", va="center", fontsize=8)
    if cd is not None:
        best = float(ranks.iloc[0])
        ax.axvspan(best, best + cd, color="tab:orange", alpha=0.2, label=f"critical difference {cd:.2f}")
        ax.legend(fontsize=8, loc="lower right")
    ax.set(xlabel="average rank (1 = best)", xlim=(0, len(ranks) + 0.5), title=title or "average rank over datasets")
    return ax
