"""Properties of the exact hypervolume (course.hpo.hypervolume), checked against two
brute-force computations and against Optuna."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest

from course.hpo.hypervolume import hypervolume, hypervolume_contributions


# -- references -------------------------------------------------------------------------
def inclusion_exclusion(points, reference) -> Fraction:
    """Volume of the union of boxes [p, r] by inclusion-exclusion over all subsets, exactly.

    The intersection of the boxes of a subset S is the box [max over S, r], empty
    (volume 0) as soon as one side is non-positive. Exponential in n: n <= 8.
    """
    boxes = [[Fraction(float(x)) for x in p] for p in points]
    r = [Fraction(float(x)) for x in reference]
    total = Fraction(0)
    for size in range(1, len(boxes) + 1):
        for subset in itertools.combinations(boxes, size):
            corner = [max(p[k] for p in subset) for k in range(len(r))]
            volume = Fraction(1)
            for c, rk in zip(corner, r):
                volume *= max(rk - c, Fraction(0))
            total += volume if size % 2 else -volume
    return total


def grid_count(points, reference) -> int:
    """For integer points and reference: count the unit cells [c, c + 1] in the union.

    Cell c (its lower corner) is covered iff some point p has p <= c componentwise
    and c < r, so the count is the hypervolume, exactly.
    """
    points = np.asarray(points, dtype=int)
    cells = np.array(list(itertools.product(*[range(int(min(points[:, k].min(), r)), int(r))
                                              for k, r in enumerate(reference)])))
    if cells.size == 0:
        return 0
    covered = np.zeros(len(cells), dtype=bool)
    for p in points:
        covered |= np.all(p <= cells, axis=1)
    return int(covered.sum())


def optuna_hypervolume(points, reference) -> float:
    """Optuna's exact hypervolume. Private API (optuna._hypervolume): the one place this
    test reaches into it. Optuna requires every point to be <= the reference."""
    from optuna._hypervolume import compute_hypervolume
    return compute_hypervolume(np.asarray(points, float), np.asarray(reference, float))


def random_front(rng, n, m):
    """Points near the positive unit sphere: most of them are mutually non-dominated."""
    points = np.abs(rng.normal(size=(n, m)))
    return points / np.linalg.norm(points, axis=1, keepdims=True) + 0.1 * rng.random((n, 1))


# -- exactness --------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_matches_inclusion_exclusion(seed, m):
    rng = np.random.default_rng(seed)
    n = 7 if m < 4 else 6
    points = np.vstack([random_front(rng, n - 1, m), rng.random((1, m)) + 0.5])
    reference = np.full(m, 1.3)
    points[0, 0] = 1.5  # one point is outside the reference box: it contributes 0
    expected = inclusion_exclusion(points, reference)
    assert hypervolume(points, reference) == pytest.approx(float(expected), rel=1e-12)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("m, n, high", [(2, 40, 12), (3, 40, 8), (4, 25, 6)])
def test_matches_grid_count_with_ties(seed, m, n, high):
    rng = np.random.default_rng(seed)
    points = rng.integers(0, high + 2, size=(n, m))  # some on or beyond the reference
    reference = np.full(m, high)
    assert hypervolume(points, reference) == grid_count(points, reference)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("m", [2, 3, 4])
@pytest.mark.parametrize("kind", ["front", "integer"])
def test_matches_optuna(seed, m, kind):
    rng = np.random.default_rng(seed)
    if kind == "front":
        points = random_front(rng, 80 if m < 4 else 40, m)
        points[::5] = points[3]  # duplicates
        reference = np.full(m, 1.5)
    else:  # ties in every objective, duplicates, points on the reference
        points = rng.integers(0, 7, size=(60, m)).astype(float)
        reference = np.full(m, 6.0)
    assert hypervolume(points, reference) == pytest.approx(
        optuna_hypervolume(points, reference), rel=1e-12)


def test_known_values():
    assert hypervolume([[1, 3], [2, 2], [3, 1]], [4, 4]) == 6.0
    assert hypervolume([[1, 1, 1]], [2, 3, 4]) == 6.0  # one box
    assert hypervolume([[0.5]], [2.0]) == 1.5
    assert hypervolume([[0.0, 0.0, 0.0, 0.0]], [1, 2, 3, 4]) == 24.0
    # boxes 2 x 2 x 2 and 1 x 3 x 2 overlapping in a 1 x 2 x 2 prism: 8 + 6 - 4
    assert hypervolume([[0, 1, 0], [1, 0, 0]], [2, 3, 2]) == 10.0


def test_points_not_strictly_better_than_reference_contribute_nothing():
    reference = [4.0, 4.0]
    assert hypervolume(np.empty((0, 2)), reference) == 0.0
    assert hypervolume([[5.0, 0.0], [0.0, 4.0], [np.inf, 1.0]], reference) == 0.0
    assert hypervolume([[1.0, 1.0], [5.0, 0.0], [4.0, 0.0]], reference) == 9.0
    assert hypervolume([[1.0, 1.0, 1.0], [0.0, 0.0, 9.0]], [2.0, 2.0, 2.0]) == 1.0


# -- invariances and monotonicity -------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("m", [2, 3, 4])
def test_monotone_when_adding_points(seed, m):
    rng = np.random.default_rng(seed)
    points = rng.random((25, m))
    reference = np.ones(m)
    volumes = [hypervolume(points[:i], reference) for i in range(len(points) + 1)]
    assert volumes[0] == 0.0
    assert np.all(np.diff(volumes) >= -1e-12)
    # a point that dominates a Pareto-optimal point adds strictly positive volume
    better = points[[np.argmin(points.sum(axis=1))]] - 0.01
    assert hypervolume(np.vstack([points, better]), reference) > volumes[-1]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("m", [2, 3, 4])
def test_invariant_to_dominated_points_duplicates_and_order(seed, m):
    rng = np.random.default_rng(seed)
    points = random_front(rng, 20, m)
    reference = np.full(m, 1.4)
    volume = hypervolume(points, reference)
    dominated = points[rng.integers(0, 20, size=15)] + rng.random((15, m)) * 0.1
    duplicates = points[rng.integers(0, 20, size=10)]
    padded = np.vstack([points, dominated, duplicates])
    assert hypervolume(padded, reference) == pytest.approx(volume, rel=1e-12)
    shuffled = padded[rng.permutation(len(padded))]
    assert hypervolume(shuffled, reference) == pytest.approx(volume, rel=1e-12)
    # permuting the objectives (with the reference) does not change the volume either
    columns = rng.permutation(m)
    assert hypervolume(points[:, columns], reference[columns]) == pytest.approx(volume, rel=1e-12)


@pytest.mark.parametrize("m", [2, 3])
def test_scales_with_the_units(m):
    rng = np.random.default_rng(0)
    points, reference = rng.random((15, m)), np.ones(m)
    scale, shift = rng.random(m) + 0.5, rng.normal(size=m)
    expected = hypervolume(points, reference) * np.prod(scale)
    assert hypervolume(points * scale + shift, reference * scale + shift) == pytest.approx(expected)


def test_large_3d_front_is_fast_enough_and_agrees_with_optuna():
    rng = np.random.default_rng(1)
    points = random_front(rng, 400, 3)
    reference = np.full(3, 1.5)
    assert hypervolume(points, reference) == pytest.approx(optuna_hypervolume(points, reference),
                                                           rel=1e-12)


# -- contributions ----------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("m", [2, 3])
def test_contributions(seed, m):
    rng = np.random.default_rng(seed)
    points = random_front(rng, 12, m)
    points = np.vstack([points, points[2], points[5] + 0.05, np.full(m, 9.0)])
    reference = np.full(m, 1.4)
    contributions = hypervolume_contributions(points, reference)
    total = hypervolume(points, reference)
    for i in range(len(points)):
        without = hypervolume(np.delete(points, i, axis=0), reference)
        assert contributions[i] == pytest.approx(total - without, abs=1e-12)
    assert contributions[2] == contributions[12] == 0.0  # a duplicated pair
    assert contributions[13] == 0.0  # dominated
    assert contributions[14] == 0.0  # outside the reference box
    assert np.all(contributions >= 0)


def test_contributions_2d_closed_form():
    # on a sorted 2-D front, point i owns the rectangle between its two neighbours
    front = np.array([[1.0, 6.0], [2.0, 4.0], [4.0, 3.0], [5.0, 1.0]])
    reference = np.array([7.0, 7.0])
    x = np.append(front[:, 0], reference[0])
    y = np.insert(front[:, 1], 0, reference[1])
    expected = (x[1:] - x[:-1]) * (y[:-1] - y[1:])
    np.testing.assert_allclose(hypervolume_contributions(front, reference), expected)


# -- bad input --------------------------------------------------------------------------
@pytest.mark.parametrize("function", [hypervolume, hypervolume_contributions])
def test_bad_input_raises(function):
    with pytest.raises(ValueError, match="3 objectives but reference has 2"):
        function(np.zeros((4, 3)), [1.0, 1.0])
    with pytest.raises(ValueError, match="2-D"):
        function([0.5, 0.5], [1.0, 1.0])
    with pytest.raises(ValueError, match="NaN"):
        function([[0.5, np.nan]], [1.0, 1.0])
    with pytest.raises(ValueError, match="reference must not contain NaN"):
        function([[0.5, 0.5]], [1.0, np.nan])
    with pytest.raises(ValueError, match="reference must be finite"):
        function([[0.5, 0.5]], [1.0, np.inf])
    with pytest.raises(ValueError, match="reference must be a non-empty 1-D"):
        function([[0.5, 0.5]], [[1.0, 1.0]])
    with pytest.raises(ValueError, match="at least one objective"):
        function(np.zeros((2, 0)), [1.0])
    with pytest.raises(ValueError, match="infinite"):
        function([[-np.inf, 0.5]], [1.0, 1.0])
