"""Hypervolume: one number for the quality of a whole Pareto front.

The hypervolume of a set of points ``P`` (all objectives minimised) with respect
to a reference point ``r`` is the volume of the region they dominate and ``r``
bounds,

    HV(P, r) = volume( union over p in P of the box [p_1, r_1] x ... x [p_m, r_m] ).

It grows whenever a new point dominates a part of the space that no old point
did, so it rewards both convergence to the true front and spread along it; it is
the usual score of a multi-objective search (and the only unary indicator that is
strictly monotone in Pareto dominance, Zitzler et al. 2003).

How it is computed here, exactly:

* 2 objectives: sort by the first objective and sweep; each point adds the strip
  between its second objective and the best one seen so far (``O(n log n)``);
* ``m >= 3`` objectives: HSO, the hypervolume by slicing objectives (While et al.
  2006). Sort by the last objective; between two consecutive values ``z_i`` and
  ``z_{i+1}`` the dominated region is a slab of thickness ``z_{i+1} - z_i`` whose
  cross-section is the ``(m-1)``-dimensional hypervolume of the ``i + 1`` points
  met so far. Recursing down to the 2-D sweep takes ``O(n^2 log n)`` in 3-D and
  roughly ``O(n^{m-1})`` in general: fine for a few hundred points in 3-D and
  a few dozen in 5-D, not for many-objective problems with large fronts.

Conventions (shared with :mod:`course.hpo.pareto`): ``points`` has shape
``(n_points, n_objectives)``, ``reference`` shape ``(n_objectives,)``. A point
contributes only if it is strictly better than the reference in *every* objective;
any other point, including one that equals or exceeds the reference somewhere (for
example a failed trial stored as ``+inf``), spans an empty box and contributes 0.
So the reference need not dominate every point, and no points means a
hypervolume of 0.

References
----------
L. While, P. Hingston, L. Barone and S. Huband, "A faster algorithm for calculating
hypervolume", IEEE Transactions on Evolutionary Computation 10(1), 29-38, 2006
(section III: the HSO algorithm, slicing one objective at a time).

E. Zitzler, L. Thiele, M. Laumanns, C. M. Fonseca and V. Grunert da Fonseca,
"Performance assessment of multiobjective optimizers: an analysis and review",
IEEE Transactions on Evolutionary Computation 7(2), 117-132, 2003.
"""

from __future__ import annotations

import numpy as np

from .pareto import ArrayLike, _as_points, _as_vector, is_pareto_efficient

__all__ = ["hypervolume", "hypervolume_contributions"]


def _check_inputs(points: ArrayLike, reference: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    reference = _as_vector(reference, "reference")
    if not np.isfinite(reference).all():
        raise ValueError(f"reference must be finite, got {reference.tolist()}")
    points = _as_points(points)
    if points.shape[1] != reference.size:
        raise ValueError(
            f"points have {points.shape[1]} objectives but reference has {reference.size}"
        )
    return points, reference


def _contributing(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Mask of the points strictly better than ``reference`` in every objective."""
    inside = np.all(points < reference, axis=1)
    if np.isneginf(points[inside]).any():
        raise ValueError("the hypervolume is infinite: a point has an objective equal to -inf")
    return inside


def _hypervolume_2d(points: np.ndarray, reference: np.ndarray) -> float:
    """Sweep in 2-D: points sorted by x each add ``(r_x - x) * (best y so far - y)``.

    Dominated or duplicate points are harmless: they do not lower the best ``y``,
    so their strip has height 0.
    """
    order = np.lexsort((points[:, 1], points[:, 0]))
    x, y = points[order, 0], points[order, 1]
    best_y = np.minimum.accumulate(y)
    previous_best_y = np.concatenate(([reference[1]], best_y[:-1]))
    return float(np.sum((reference[0] - x) * (previous_best_y - best_y)))


def _hypervolume_slicing(points: np.ndarray, reference: np.ndarray) -> float:
    """HSO: slice along the last objective into slabs of ``(m-1)``-D hypervolumes.

    ``points`` must all be strictly better than ``reference``.
    """
    n_objectives = points.shape[1]
    if n_objectives == 1:
        return float(reference[0] - points[:, 0].min())
    if n_objectives == 2:
        return _hypervolume_2d(points, reference)
    points = points[np.argsort(points[:, -1], kind="stable")]
    depth = points[:, -1]
    thickness = np.append(depth[1:], reference[-1]) - depth
    volume = 0.0
    for i in np.flatnonzero(thickness > 0):
        # the slab (depth[i], depth[i+1]) is dominated exactly by the points met so far
        cross_section = points[:i + 1, :-1]
        if n_objectives > 3:
            # the 2-D sweep ignores dominated points for free; deeper recursions do not
            cross_section = cross_section[is_pareto_efficient(cross_section)]
        volume += thickness[i] * _hypervolume_slicing(cross_section, reference[:-1])
    return volume


def hypervolume(points: ArrayLike, reference: ArrayLike) -> float:
    """Exact hypervolume dominated by ``points`` and bounded by ``reference``.

    Parameters
    ----------
    points : array_like of shape (n_points, n_objectives)
        Objective values to minimise. May be empty (shape ``(0, n_objectives)``),
        and may hold dominated points,
        duplicates and points outside the reference box (all contribute nothing).
    reference : array_like of shape (n_objectives,)
        The reference point; finite.

    Returns
    -------
    float
        The volume of the union of the boxes ``[p, reference]`` over the points
        ``p`` strictly better than ``reference`` in every objective; 0.0 if there
        are none.

    Raises
    ------
    ValueError
        If ``points`` is not 2-D, has no objectives or contains NaN; if
        ``reference`` is not a finite 1-D vector; if their numbers of objectives
        differ; or if a contributing point has a coordinate ``-inf`` (the volume
        would be infinite).

    References
    ----------
    2-D: the sort-and-sweep; ``m >= 3``: While et al. (2006), section III (HSO).

    Examples
    --------
    >>> hypervolume([[1, 3], [2, 2], [3, 1]], reference=[4, 4])
    6.0
    >>> hypervolume([[1, 1, 1]], reference=[2, 3, 4])
    6.0
    >>> hypervolume([[5, 0]], reference=[4, 4])   # not better than the reference in x
    0.0
    """
    points, reference = _check_inputs(points, reference)
    points = points[_contributing(points, reference)]
    if len(points) == 0:
        return 0.0
    if points.shape[1] >= 3:
        # only the Pareto front, each point once, spans the dominated region; dropping
        # the rest saves slices (the 2-D sweep skips them for free, in O(n log n))
        points = np.unique(points[is_pareto_efficient(points)], axis=0)
    return float(_hypervolume_slicing(points, reference))


def hypervolume_contributions(points: ArrayLike, reference: ArrayLike) -> np.ndarray:
    """Exclusive contribution of each point: the hypervolume lost without it.

    Parameters
    ----------
    points : array_like of shape (n_points, n_objectives)
    reference : array_like of shape (n_objectives,)

    Returns
    -------
    numpy.ndarray of float, shape (n_points,)
        ``hypervolume(points, reference) - hypervolume(points without row i,
        reference)``. Dominated points, points outside the reference box and
        points with a duplicate all contribute 0 (removing one copy of a
        duplicate loses nothing). Without point ``i``, points that only ``i``
        dominated count again, so they are kept in the second hypervolume.
        Computed as differences of hypervolumes, so tiny contributions carry the
        round-off of the total.

    Raises
    ------
    ValueError
        As :func:`hypervolume`.

    Examples
    --------
    >>> hypervolume_contributions([[1, 3], [2, 2], [3, 1], [3, 3]], [4, 4]).tolist()
    [1.0, 1.0, 1.0, 0.0]
    """
    points, reference = _check_inputs(points, reference)
    contributions = np.zeros(len(points))
    inside = _contributing(points, reference)
    if not inside.any():
        return contributions
    candidates = np.flatnonzero(inside)
    front = candidates[is_pareto_efficient(points[candidates])]
    _, first, counts = np.unique(points[front], axis=0, return_index=True, return_counts=True)
    total = hypervolume(points[candidates], reference)
    for i in front[first[counts == 1]]:
        # without i, points that only i dominated count again: keep them all
        contributions[i] = total - hypervolume(points[candidates[candidates != i]], reference)
    return contributions
