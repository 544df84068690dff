"""Pareto dominance: which of several trade-offs are worth keeping.

With several objectives to minimise (say validation error and training time) there
is usually no single best configuration. Point ``a`` *dominates* point ``b`` when it
is no worse in every objective and strictly better in at least one; the points that
no other point dominates form the *Pareto front*, the set of best trade-offs.

NSGA-II (Deb et al. 2002) ranks a whole population with two tools, both here:

1. :func:`non_dominated_sort` (section III-A) peels the points into fronts
   ``F_1, F_2, ...``: ``F_1`` is the Pareto front, ``F_2`` the Pareto front of what
   remains once ``F_1`` is removed, and so on;
2. :func:`crowding_distance` (section III-B) measures, within one front, how much
   empty space surrounds each point, so that a selection can prefer points in
   sparse regions and keep the front spread out.

Conventions shared by every function of this module, :mod:`course.hpo.hypervolume`
and :mod:`course.hpo.nsga2`:

* every objective is minimised (negate the ones to maximise);
* a set of points is an array of shape ``(n_points, n_objectives)``, one row per
  point; ``n_points`` may be 0, ``n_objectives`` must be at least 1;
* NaN is rejected with a ``ValueError``; ``+inf`` and ``-inf`` are ordinary values
  for dominance (a failed trial recorded as ``+inf`` is dominated by every finite
  one), but :func:`crowding_distance` needs finite values;
* equal points do not dominate each other, so duplicates of a Pareto-optimal point
  are all on the front.

References
----------
K. Deb, A. Pratap, S. Agarwal and T. Meyarivan, "A fast and elitist multiobjective
genetic algorithm: NSGA-II", IEEE Transactions on Evolutionary Computation 6(2),
182-197, 2002 (section III-A: fast non-dominated sort; section III-B: crowding
distance).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["dominates", "domination_matrix", "non_dominated_sort", "non_domination_rank",
           "is_pareto_efficient", "pareto_front", "crowding_distance"]

ArrayLike = Sequence[Sequence[float]] | np.ndarray

# Rows of the pairwise comparison handled at once by is_pareto_efficient: bounds its
# memory to about _BLOCK * n booleans instead of n * n.
_BLOCK = 512


def _as_points(points: ArrayLike, name: str = "points") -> np.ndarray:
    """``points`` as a float array of shape ``(n, m)`` with ``m >= 1`` and no NaN."""
    try:
        array = np.asarray(points, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{name} must be a numeric array of shape (n_points, n_objectives): {err}"
        ) from None
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_points, n_objectives), got shape {array.shape}"
        )
    if array.shape[1] == 0:
        raise ValueError(f"{name} must have at least one objective, got shape {array.shape}")
    nan_rows = np.flatnonzero(np.isnan(array).any(axis=1))
    if nan_rows.size:
        raise ValueError(f"{name} must not contain NaN (found in row {int(nan_rows[0])})")
    return array


def _as_vector(vector: ArrayLike, name: str) -> np.ndarray:
    """``vector`` as a float array of shape ``(m,)`` with ``m >= 1`` and no NaN."""
    try:
        array = np.asarray(vector, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a numeric vector of objective values: {err}") from None
    if array.ndim != 1 or array.size == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D vector of objective values, got shape {array.shape}"
        )
    if np.isnan(array).any():
        raise ValueError(f"{name} must not contain NaN, got {array.tolist()}")
    return array


def dominates(a: ArrayLike, b: ArrayLike) -> bool:
    """Whether ``a`` Pareto-dominates ``b`` (minimisation).

    Parameters
    ----------
    a, b : array_like of shape (n_objectives,)
        Two points.

    Returns
    -------
    bool
        ``True`` iff ``a <= b`` in every objective and ``a < b`` in at least one.
        A point never dominates itself or an equal point.

    Raises
    ------
    ValueError
        If ``a`` or ``b`` is not a non-empty 1-D vector, contains NaN, or the two
        have different numbers of objectives.

    References
    ----------
    Deb et al. (2002), section III-A (the dominance relation used by the sort).

    Examples
    --------
    >>> dominates([1, 2], [1, 3]), dominates([1, 2], [1, 2]), dominates([1, 3], [2, 2])
    (True, False, False)
    """
    a, b = _as_vector(a, "a"), _as_vector(b, "b")
    if a.shape != b.shape:
        raise ValueError(
            f"a and b must have the same number of objectives, got {a.size} and {b.size}"
        )
    return bool(np.all(a <= b) and np.any(a < b))


def domination_matrix(points: ArrayLike) -> np.ndarray:
    """All pairwise dominance relations: ``D[i, j]`` is whether point ``i`` dominates ``j``.

    Built one objective at a time, so it needs ``O(m n^2)`` time but only two
    ``n x n`` boolean arrays of memory (about 2 MB per thousand points squared).

    Parameters
    ----------
    points : array_like of shape (n_points, n_objectives)

    Returns
    -------
    numpy.ndarray of bool, shape (n_points, n_points)
        Row ``i`` is Deb et al.'s set ``S_i`` (the points ``i`` dominates); the sum of
        column ``j`` is their counter ``n_j`` (how many points dominate ``j``).

    Raises
    ------
    ValueError
        If ``points`` is not an ``(n, m)`` array with ``m >= 1`` or contains NaN.
    """
    points = _as_points(points)
    no_worse = np.ones((len(points), len(points)), dtype=bool)
    better_somewhere = np.zeros_like(no_worse)
    for column in points.T:
        no_worse &= column[:, None] <= column[None, :]
        better_somewhere |= column[:, None] < column[None, :]
    return no_worse & better_somewhere


def non_dominated_sort(points: ArrayLike) -> list[np.ndarray]:
    """Split points into non-dominated fronts, best first (NSGA-II's fast non-dominated sort).

    Deb et al.'s algorithm, with its two bookkeeping structures as arrays: the
    domination matrix holds every ``S_p`` (as rows), and ``domination_count`` holds
    every ``n_p``. The first front is the points with ``n_p = 0``; removing a front
    decrements ``n_q`` once for every member that dominates ``q``, and the points
    whose counter reaches 0 form the next front.

    Parameters
    ----------
    points : array_like of shape (n_points, n_objectives)
        Objective values to minimise, one row per point.

    Returns
    -------
    list of numpy.ndarray of int
        The fronts ``F_1, F_2, ...``: each an ascending array of row indices. Every
        index appears in exactly one front; no point is dominated by a point of its
        own or of a later front, and every point of front ``k > 1`` is dominated by
        some point of front ``k - 1``. No points, no fronts: ``[]``.

    Raises
    ------
    ValueError
        If ``points`` is not an ``(n, m)`` array with ``m >= 1`` or contains NaN.

    References
    ----------
    Deb et al. (2002), section III-A, the procedure ``fast-non-dominated-sort``;
    ``O(m n^2)`` time, ``O(n^2)`` memory.

    Examples
    --------
    >>> [front.tolist() for front in non_dominated_sort([[1, 4], [2, 2], [3, 3], [4, 1], [4, 4]])]
    [[0, 1, 3], [2], [4]]
    """
    dominated_by = domination_matrix(points)  # row p is S_p
    domination_count = dominated_by.sum(axis=0)  # n_q: how many points dominate q
    fronts = []
    current = np.flatnonzero(domination_count == 0)
    while current.size:
        fronts.append(current)
        # every q dominated by a member of the current front loses one dominator
        domination_count = domination_count - dominated_by[current].sum(axis=0)
        domination_count[current] = -1  # never pick an already sorted point again
        current = np.flatnonzero(domination_count == 0)
    return fronts


def non_domination_rank(points: ArrayLike) -> np.ndarray:
    """The front of each point: 0 for the Pareto front, 1 for the next, and so on.

    Parameters
    ----------
    points : array_like of shape (n_points, n_objectives)

    Returns
    -------
    numpy.ndarray of int, shape (n_points,)
        ``rank[i] == k`` iff ``i`` is in ``non_dominated_sort(points)[k]``.

    Raises
    ------
    ValueError
        As :func:`non_dominated_sort`.
    """
    points = _as_points(points)
    rank = np.empty(len(points), dtype=int)
    for k, front in enumerate(non_dominated_sort(points)):
        rank[front] = k
    return rank


def is_pareto_efficient(points: ArrayLike) -> np.ndarray:
    """Which points no other point dominates.

    Parameters
    ----------
    points : array_like of shape (n_points, n_objectives)

    Returns
    -------
    numpy.ndarray of bool, shape (n_points,)
        ``True`` for the members of the first front. Duplicates of a Pareto-optimal
        point are all ``True`` (equal points do not dominate each other).

    Raises
    ------
    ValueError
        If ``points`` is not an ``(n, m)`` array with ``m >= 1`` or contains NaN.

    Notes
    -----
    Compares a block of rows with all points at a time, so memory stays
    ``O(n)`` per row even for many thousands of points (time ``O(m n^2)``).
    """
    points = _as_points(points)
    efficient = np.empty(len(points), dtype=bool)
    for start in range(0, len(points), _BLOCK):
        block = points[start:start + _BLOCK]
        # other[j] dominates block[i]: no worse everywhere and better somewhere
        no_worse = np.all(points[None, :, :] <= block[:, None, :], axis=2)
        better_somewhere = np.any(points[None, :, :] < block[:, None, :], axis=2)
        efficient[start:start + _BLOCK] = ~np.any(no_worse & better_somewhere, axis=1)
    return efficient


def pareto_front(points: ArrayLike) -> np.ndarray:
    """Row indices of the Pareto-optimal points, ascending.

    Parameters
    ----------
    points : array_like of shape (n_points, n_objectives)

    Returns
    -------
    numpy.ndarray of int
        ``np.flatnonzero(is_pareto_efficient(points))``, which equals
        ``non_dominated_sort(points)[0]`` (for at least one point).

    Raises
    ------
    ValueError
        As :func:`is_pareto_efficient`.

    Examples
    --------
    >>> pareto_front([[1, 4], [2, 2], [3, 3], [2, 2]]).tolist()
    [0, 1, 3]
    """
    return np.flatnonzero(is_pareto_efficient(points))


def crowding_distance(points: ArrayLike) -> np.ndarray:
    """NSGA-II's crowding distance of each point of one front.

    For every objective, sort the points by it; the two extreme points get an
    infinite distance (so a selection always keeps the ends of the front), and every
    other point adds the normalised gap between its two neighbours,

        d_i += (f(next_i) - f(previous_i)) / (f_max - f_min),

    i.e. half the perimeter of the largest cuboid around ``i`` that contains no
    other point, in units of each objective's range.

    Parameters
    ----------
    points : array_like of shape (n_points, n_objectives)
        The points of one front (the distance means little across fronts).

    Returns
    -------
    numpy.ndarray of float, shape (n_points,)
        Non-negative; ``inf`` for the extremes. Ties are broken by row order:
        among points sharing the smallest (largest) value of an objective, the
        first (last) of them is the extreme one. An objective on which all points
        agree (``f_max == f_min``, where the paper's formula divides by zero) is
        skipped: it has no extremes and adds nothing, so a single point, or
        identical points, have distance 0. Two distinct points are both ``inf``
        (the same convention as Optuna's NSGA-II).

    Raises
    ------
    ValueError
        If ``points`` is not an ``(n, m)`` array with ``m >= 1``, or is not finite.

    References
    ----------
    Deb et al. (2002), section III-B, the procedure ``crowding-distance-assignment``.

    Examples
    --------
    >>> crowding_distance([[0, 4], [1, 2], [2, 1], [4, 0]]).tolist()
    [inf, 1.25, 1.25, inf]
    """
    points = _as_points(points)
    if not np.isfinite(points).all():
        raise ValueError("crowding distance needs finite objective values; got +-inf")
    n = len(points)
    distance = np.zeros(n)
    if n == 0:
        return distance
    for column in points.T:
        order = np.argsort(column, kind="stable")
        values = column[order]
        spread = values[-1] - values[0]
        if spread == 0:
            continue  # no extremes to keep and no gaps to measure on this objective
        distance[order[0]] = distance[order[-1]] = np.inf
        distance[order[1:-1]] += (values[2:] - values[:-2]) / spread
    return distance
