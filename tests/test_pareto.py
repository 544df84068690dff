"""Properties of dominance, non-dominated sorting, Pareto fronts and crowding distance
(course.hpo.pareto), checked against brute force and against Optuna."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from course.hpo.pareto import (
    crowding_distance,
    dominates,
    domination_matrix,
    is_pareto_efficient,
    non_domination_rank,
    non_dominated_sort,
    pareto_front,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)


# -- references -------------------------------------------------------------------------
def brute_dominates(a, b) -> bool:
    """Dominance written out element by element, no numpy."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def brute_fronts(points) -> list[list[int]]:
    """Peel fronts by repeatedly taking the points no remaining point dominates."""
    remaining = list(range(len(points)))
    fronts = []
    while remaining:
        front = [i for i in remaining
                 if not any(brute_dominates(points[j], points[i]) for j in remaining)]
        fronts.append(front)
        remaining = [i for i in remaining if i not in front]
    return fronts


def integer_points(seed: int, n: int, m: int, high: int = 5) -> np.ndarray:
    """Few distinct values per objective, so ties and duplicates are common."""
    return np.random.default_rng(seed).integers(0, high, size=(n, m)).astype(float)


def optuna_study(points: np.ndarray) -> optuna.Study:
    """A study whose trial ``i`` has ``points[i]`` as its values (public Optuna API)."""
    study = optuna.create_study(directions=["minimize"] * points.shape[1])
    study.add_trials([optuna.trial.create_trial(values=row.tolist()) for row in points])
    return study


def optuna_ranks(points: np.ndarray) -> np.ndarray:
    """Optuna's non-domination ranks. Private API: the one place this test reaches into it."""
    from optuna.study._multi_objective import _fast_non_domination_rank
    return _fast_non_domination_rank(points)


def optuna_crowding(points: np.ndarray) -> np.ndarray:
    """Optuna's NSGA-II crowding distance. Private API: the one place this test reaches into it."""
    from optuna.samplers.nsgaii._elite_population_selection_strategy import _calc_crowding_distance
    distances = _calc_crowding_distance(list(optuna_study(points).trials))
    return np.array([distances[i] for i in range(len(points))])


CASES = [(seed, n, m) for seed in range(4) for n, m in [(1, 2), (7, 1), (25, 2), (40, 3), (30, 4)]]


# -- dominance --------------------------------------------------------------------------
def test_dominates_small_cases():
    assert dominates([1, 2], [1, 3])
    assert dominates([0, 0, 0], [1, 1, 1])
    assert not dominates([1, 2], [1, 2])  # equal points do not dominate each other
    assert not dominates([1, 3], [2, 2])  # incomparable
    assert not dominates([2, 2], [1, 3])
    assert dominates([1.0], [2.0]) and not dominates([2.0], [1.0])
    assert dominates([0, 1], [0, np.inf])  # +inf (a failed trial) is dominated


@pytest.mark.parametrize("seed", range(3))
def test_domination_matrix_matches_brute_force(seed):
    points = integer_points(seed, 30, 3, high=3)
    matrix = domination_matrix(points)
    expected = [[brute_dominates(a, b) for b in points] for a in points]
    np.testing.assert_array_equal(matrix, expected)
    assert not matrix.diagonal().any()
    assert not (matrix & matrix.T).any()  # antisymmetric
    for i, j in [(0, 1), (3, 7), (12, 5)]:
        assert dominates(points[i], points[j]) == matrix[i, j]


# -- non-dominated sort -----------------------------------------------------------------
@pytest.mark.parametrize("seed, n, m", CASES)
def test_non_dominated_sort_matches_brute_force(seed, n, m):
    points = integer_points(seed, n, m)
    fronts = non_dominated_sort(points)
    assert [front.tolist() for front in fronts] == brute_fronts(points)


@pytest.mark.parametrize("seed, n, m", CASES)
def test_fronts_partition_and_order(seed, n, m):
    points = integer_points(seed, n, m)
    fronts = non_dominated_sort(points)
    members = np.concatenate(fronts)
    assert sorted(members.tolist()) == list(range(n))  # every point in exactly one front
    for k, front in enumerate(fronts):
        assert front.dtype.kind == "i" and np.all(np.diff(front) > 0)
        same_or_later = np.concatenate(fronts[k:])
        for i in front:
            assert not any(brute_dominates(points[j], points[i]) for j in same_or_later)
            if k > 0:  # and it sits behind the previous front
                assert any(brute_dominates(points[j], points[i]) for j in fronts[k - 1])
    rank = non_domination_rank(points)
    for k, front in enumerate(fronts):
        assert np.all(rank[front] == k)


def test_duplicates_share_a_front():
    points = np.array([[1.0, 2.0], [1.0, 2.0], [2.0, 1.0], [2.0, 2.0], [2.0, 2.0]])
    assert [f.tolist() for f in non_dominated_sort(points)] == [[0, 1, 2], [3, 4]]
    assert pareto_front(points).tolist() == [0, 1, 2]


def test_one_objective_sorts_by_value():
    values = np.array([[3.0], [1.0], [2.0], [1.0], [3.0]])
    assert [f.tolist() for f in non_dominated_sort(values)] == [[1, 3], [2], [0, 4]]


def test_infinite_values_are_ordinary():
    points = np.array([[np.inf, np.inf], [0.0, 1.0], [1.0, 0.0], [-np.inf, 5.0]])
    assert [f.tolist() for f in non_dominated_sort(points)] == [[1, 2, 3], [0]]


def test_empty_input():
    empty = np.empty((0, 2))
    assert non_dominated_sort(empty) == []
    assert pareto_front(empty).size == 0
    assert is_pareto_efficient(empty).shape == (0,)
    assert crowding_distance(empty).shape == (0,)
    assert non_domination_rank(empty).shape == (0,)


@pytest.mark.parametrize("seed, n, m", CASES)
def test_non_dominated_sort_matches_optuna(seed, n, m):
    points = integer_points(seed, n, m)
    np.testing.assert_array_equal(non_domination_rank(points), optuna_ranks(points))


# -- Pareto front -----------------------------------------------------------------------
@pytest.mark.parametrize("seed, n, m", CASES)
def test_pareto_front_is_first_front(seed, n, m):
    points = integer_points(seed, n, m)
    expected = [i for i in range(n) if not any(brute_dominates(q, points[i]) for q in points)]
    assert pareto_front(points).tolist() == expected == non_dominated_sort(points)[0].tolist()
    np.testing.assert_array_equal(np.flatnonzero(is_pareto_efficient(points)), expected)


def test_pareto_front_in_blocks_matches_matrix():
    # more points than one block of is_pareto_efficient
    points = np.random.default_rng(0).random((1300, 2)) ** 0.2
    expected = ~domination_matrix(points).any(axis=0)
    np.testing.assert_array_equal(is_pareto_efficient(points), expected)


@pytest.mark.parametrize("m", [2, 3])
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("kind", ["continuous", "integer"])
def test_pareto_front_matches_optuna(m, seed, kind):
    rng = np.random.default_rng(seed)
    if kind == "integer":  # ties and duplicates
        points = integer_points(seed, 60, m, high=4)
    else:  # points near a front, so many are non-dominated; some repeated
        points = np.abs(rng.normal(size=(60, m)))
        points /= np.linalg.norm(points, axis=1, keepdims=True)
        points += 0.05 * rng.random((60, 1))
        points[::7] = points[1]
    best = sorted(trial.number for trial in optuna_study(points).best_trials)
    assert pareto_front(points).tolist() == best


# -- crowding distance ------------------------------------------------------------------
def test_crowding_distance_worked_example():
    # objective 1 range 4: gaps 2/4 and 3/4; objective 2 range 4: gaps 3/4 and 2/4
    distance = crowding_distance([[0, 4], [1, 2], [2, 1], [4, 0]])
    np.testing.assert_allclose(distance, [np.inf, 1.25, 1.25, np.inf])


@pytest.mark.parametrize("seed", range(5))
def test_crowding_distance_boundaries_infinite(seed):
    rng = np.random.default_rng(seed)
    points = rng.random((12, 3))
    distance = crowding_distance(points)
    extremes = set(np.argmin(points, axis=0)) | set(np.argmax(points, axis=0))
    assert set(np.flatnonzero(np.isinf(distance))) == extremes
    interior = np.isfinite(distance)
    assert np.all(distance[interior] >= 0)
    # each objective adds at most 2 (the full range, for a point between both ends)
    assert np.all(distance[interior] <= 2 * points.shape[1])


@pytest.mark.parametrize("seed", range(3))
def test_crowding_distance_invariances(seed):
    rng = np.random.default_rng(seed)
    points = rng.random((15, 2))
    distance = crowding_distance(points)
    # units do not matter: each objective is divided by its range
    rescaled = points * np.array([1000.0, 0.01]) + np.array([5.0, -3.0])
    np.testing.assert_allclose(crowding_distance(rescaled), distance)
    # a point's distance does not depend on where it is listed (no ties here)
    permutation = rng.permutation(15)
    np.testing.assert_allclose(crowding_distance(points[permutation]), distance[permutation])


def test_crowding_distance_small_and_constant():
    assert crowding_distance([[1.0, 2.0]]).tolist() == [0.0]  # nothing varies
    assert crowding_distance([[1.0, 2.0], [2.0, 1.0]]).tolist() == [np.inf, np.inf]
    # all points equal: no objective varies, every distance is 0
    assert crowding_distance(np.ones((4, 2))).tolist() == [0.0] * 4
    # a constant objective adds nothing; the other one decides
    distance = crowding_distance([[0.0, 7.0], [1.0, 7.0], [3.0, 7.0]])
    np.testing.assert_allclose(distance, [np.inf, 1.0, np.inf])


def test_crowding_distance_ties_broken_by_row_order():
    # two copies of each extreme: the first copy of the minimum, the last of the maximum
    distance = crowding_distance([[0.0], [0.0], [1.0], [2.0], [2.0]])
    assert np.isinf(distance[0]) and np.isinf(distance[4])
    assert np.isfinite(distance[[1, 2, 3]]).all()


@pytest.mark.parametrize("seed", range(4))
def test_crowding_distance_matches_optuna(seed):
    rng = np.random.default_rng(seed)
    points = np.abs(rng.normal(size=(20, 3)))
    points /= np.linalg.norm(points, axis=1, keepdims=True)  # one front
    np.testing.assert_allclose(crowding_distance(points), optuna_crowding(points))


# -- bad input --------------------------------------------------------------------------
@pytest.mark.parametrize("function", [non_dominated_sort, pareto_front, is_pareto_efficient,
                                      crowding_distance, domination_matrix, non_domination_rank])
def test_bad_points_raise(function):
    with pytest.raises(ValueError, match="2-D"):
        function([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="2-D"):
        function(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="at least one objective"):
        function(np.zeros((3, 0)))
    with pytest.raises(ValueError, match="NaN"):
        function([[1.0, 2.0], [np.nan, 1.0]])
    with pytest.raises(ValueError, match="numeric"):
        function([["a", "b"]])


def test_dominates_bad_input_raises():
    with pytest.raises(ValueError, match="same number of objectives"):
        dominates([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="NaN"):
        dominates([1, np.nan], [1, 2])
    with pytest.raises(ValueError, match="1-D"):
        dominates([[1, 2]], [[1, 2]])
    with pytest.raises(ValueError, match="1-D"):
        dominates([], [])


def test_crowding_distance_needs_finite_values():
    with pytest.raises(ValueError, match="finite"):
        crowding_distance([[0.0, 1.0], [np.inf, 0.0]])
