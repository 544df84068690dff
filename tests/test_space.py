import math

import numpy as np
import pytest

from course.hpo import Categorical, Float, Int, SearchSpace, grid_configurations
from course.testing import random_space


@pytest.fixture
def svm_space():
    return SearchSpace([
        Categorical("kernel", ["linear", "rbf", "poly"]),
        Float("C", 1e-2, 1e2, log=True),
        Float("gamma", 1e-4, 1.0, log=True, when={"kernel": ["rbf", "poly"]}),
        Int("degree", 2, 5, when={"kernel": "poly"}),
    ])


@pytest.mark.parametrize("make, message", [
    (lambda: Categorical("k", []), "choices must not be empty"),
    (lambda: Categorical("k", ["a", "a"]), "choices must be distinct"),
    (lambda: Float("x", 1.0, 1.0), "low must be < high"),
    (lambda: Float("x", 2.0, 1.0), "low must be < high"),
    (lambda: Int("n", 5, 5), "low must be < high"),
    (lambda: Float("x", 0.0, 1.0, log=True), "a log scale needs low > 0"),
    (lambda: Int("n", -1, 10, log=True), "a log scale needs low > 0"),
    (lambda: Float("x", 0, math.inf), "must be finite"),
    (lambda: Float("x", "0", 1), "low must be a number"),
    (lambda: Int("n", 0.5, 3), "must be an integer"),
    (lambda: Float("", 0, 1), "non-empty str"),
    (lambda: SearchSpace([]), "at least one parameter"),
    (lambda: SearchSpace([Float("x", 0, 1), Float("x", 0, 2)]), "duplicate parameter name 'x'"),
    (lambda: SearchSpace([Float("g", 0, 1, when={"kernel": "rbf"})]), "unknown parameter 'kernel'"),
    (lambda: SearchSpace([Float("g", 0, 1, when={"k": "rbf"}), Categorical("k", ["rbf"])]),
     "a later parameter 'k'"),
    (lambda: SearchSpace([Categorical("k", ["a"]), Float("g", 0, 1, when={"k": "b"})]), "can never hold"),
])
def test_invalid_definitions_raise_clear_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_validate_names_the_problem(svm_space):
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['typo'\]"):
        svm_space.validate({"kernel": "linear", "C": 1.0, "typo": 3})
    with pytest.raises(ValueError, match="'gamma' is active but missing"):
        svm_space.validate({"kernel": "rbf", "C": 1.0})
    with pytest.raises(ValueError, match="'gamma' is given but inactive"):
        svm_space.validate({"kernel": "linear", "C": 1.0, "gamma": 0.1})
    with pytest.raises(ValueError, match="outside"):
        svm_space.validate({"kernel": "linear", "C": 1e3})
    with pytest.raises(ValueError, match="not one of"):
        svm_space.validate({"kernel": "sigmoid", "C": 1.0})
    with pytest.raises(ValueError, match="expected an integer"):
        svm_space.validate({"kernel": "poly", "C": 1.0, "gamma": 0.1, "degree": 2.5})
    with pytest.raises(KeyError, match="unknown parameter 'nope'"):
        svm_space["nope"]


def test_samples_are_valid_and_hold_exactly_the_active_parameters(svm_space):
    rng = np.random.default_rng(0)
    kernels = set()
    for _ in range(300):
        config = svm_space.sample(rng)
        svm_space.validate(config)
        kernels.add(config["kernel"])
        assert ("gamma" in config) == (config["kernel"] != "linear")
        assert ("degree" in config) == (config["kernel"] == "poly")
    assert kernels == {"linear", "rbf", "poly"}


def test_log_scale_sampling_is_uniform_in_log():
    param = Float("lr", 1e-4, 1e0, log=True)
    rng = np.random.default_rng(1)
    logs = np.log10([param.sample(rng) for _ in range(20000)])
    # uniform on [-4, 0]: each decade gets a quarter of the draws
    counts = np.histogram(logs, bins=4, range=(-4, 0))[0] / len(logs)
    assert np.allclose(counts, 0.25, atol=0.02)


def test_int_sampling_covers_every_integer_uniformly():
    param = Int("n", 3, 7)
    rng = np.random.default_rng(2)
    draws = np.array([param.sample(rng) for _ in range(10000)])
    assert set(draws) == {3, 4, 5, 6, 7}
    assert np.allclose(np.bincount(draws)[3:] / len(draws), 0.2, atol=0.02)


@pytest.mark.parametrize("seed", range(20))
def test_unit_cube_round_trip(seed):
    space = random_space(seed, conditional=seed % 2 == 0)
    rng = np.random.default_rng(seed)
    for _ in range(50):
        config = space.sample(rng)
        u = space.to_unit(config)
        active = ~np.isnan(u)
        assert np.all((u[active] >= 0) & (u[active] <= 1))
        assert [n for n, a in zip(space.names, active) if a] == list(config)
        back = space.from_unit(np.where(active, u, 0.5))
        assert back.keys() == config.keys()
        for name in config:
            if isinstance(config[name], float):
                assert back[name] == pytest.approx(config[name], rel=1e-9)
            else:
                assert back[name] == config[name]


def test_grid_values_include_the_bounds_exactly():
    assert Float("x", 1e-3, 1e1, log=True).grid_values(5) == [1e-3, 1e-2, 1e-1, 1.0, 10.0]
    assert Float("x", -1.0, 1.0).grid_values(3) == [-1.0, 0.0, 1.0]
    assert Int("n", 1, 1000, log=True).grid_values(4) == [1, 10, 100, 1000]
    assert Int("n", 0, 3).grid_values(10) == [0, 1, 2, 3]  # no duplicates
    assert Categorical("c", ["a", "b"]).grid_values(7) == ["a", "b"]
    with pytest.raises(ValueError, match="positive int"):
        Float("x", 0, 1).grid_values(0)


def test_grid_enumerates_exactly_the_grid(svm_space):
    grid = grid_configurations(svm_space, 3)
    # linear: 3 C values; rbf: 3 C x 3 gamma; poly: 3 C x 3 gamma x 4 degrees (2..5 in 3 points -> 2,4,5)
    degrees = svm_space["degree"].grid_values(3)
    assert len(grid) == 3 + 9 + 9 * len(degrees)
    keys = {tuple(sorted(c.items(), key=lambda kv: kv[0])) for c in grid}
    assert len(keys) == len(grid), "no configuration twice"
    for config in grid:
        svm_space.validate(config)
    flat = SearchSpace([Float("a", 0, 1), Int("b", 1, 3), Categorical("c", ["x", "y"])])
    expected = [{"a": a, "b": b, "c": c} for a in (0.0, 0.5, 1.0) for b in (1, 2, 3) for c in ("x", "y")]
    assert grid_configurations(flat, 3) == expected
    assert len(grid_configurations(flat, {"a": 2, "b": 3, "c": 1})) == 2 * 3 * 2
    with pytest.raises(ValueError, match="unknown parameter"):
        grid_configurations(flat, {"a": 2, "b": 3, "c": 1, "zzz": 4})
    with pytest.raises(ValueError, match="no entry for parameter 'c'"):
        grid_configurations(flat, {"a": 2, "b": 3})


def test_from_unit_rejects_wrong_shapes(svm_space):
    with pytest.raises(ValueError, match="expected 4 unit coordinates"):
        svm_space.from_unit([0.5, 0.5])
