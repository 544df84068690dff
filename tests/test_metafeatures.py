"""Meta-features (course.automl.metafeatures): known values, invariances and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.datasets import load_wine, make_classification

from course.automl.metafeatures import (
    class_entropy,
    discretise,
    metafeature_descriptions,
    metafeature_groups,
    metafeatures,
    mutual_information,
)

CHEAP = ["simple", "statistical", "information"]


def blobs(n_per_class=30, k=3, d=4, seed=0, sep=3.0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(k), n_per_class)
    X = rng.normal(size=(len(y), d)) + sep * y[:, None]
    return X, y


# -- the groups ----------------------------------------------------------------------------
def test_groups_list_exactly_the_returned_keys_in_order():
    X, y = blobs()
    groups = metafeature_groups()
    assert list(groups) == ["simple", "statistical", "information", "landmarkers"]
    features = metafeatures(X, y)
    assert list(features) == [name for names in groups.values() for name in names]
    assert all(isinstance(v, float) and math.isfinite(v) for v in features.values())
    only = metafeatures(X, y, groups=["information", "simple"])
    assert list(only) == groups["simple"] + groups["information"]  # canonical order
    groups["simple"].append("tampered")
    assert "tampered" not in metafeature_groups()["simple"]  # a copy, not the module's list


def test_every_metafeature_is_documented():
    table = metafeature_descriptions()
    groups = metafeature_groups()
    assert list(table.index) == [name for names in groups.values() for name in names]
    assert all(table.loc[name, "group"] == group for group, names in groups.items() for name in names)
    assert (table["measures"].str.len() > 8).all() and (table["source"].str.len() > 5).all()


# -- simple ----------------------------------------------------------------------------------
def test_simple_values():
    X, y = blobs(n_per_class=25, k=4, d=5)
    f = metafeatures(X, y, groups=["simple"])
    assert (f["n_samples"], f["n_features"], f["n_classes"]) == (100.0, 5.0, 4.0)
    assert f["log_dimensionality"] == pytest.approx(math.log(5 / 100))
    assert f["samples_per_class_log"] == pytest.approx(math.log(25))
    assert f["class_prob_min"] == f["class_prob_max"] == 0.25
    assert f["class_imbalance_ratio"] == 1.0
    y_unbalanced = np.r_[np.zeros(80, int), np.ones(20, int)]
    f = metafeatures(X, y_unbalanced, groups=["simple"])
    assert (f["class_prob_min"], f["class_prob_max"], f["class_imbalance_ratio"]) == (0.2, 0.8, 0.25)


# -- information-theoretic ----------------------------------------------------------------
@pytest.mark.parametrize("k", [2, 3, 5, 10])
def test_balanced_class_entropy_is_log2_k(k):
    X, y = blobs(n_per_class=6, k=k)
    f = metafeatures(X, y, groups=["information"])
    assert f["class_entropy"] == pytest.approx(math.log2(k), abs=1e-12)
    assert f["class_entropy_normalised"] == pytest.approx(1.0)
    assert class_entropy(y) == pytest.approx(math.log2(k), abs=1e-12)


def test_class_entropy_of_a_known_distribution():
    y = [0] * 50 + [1] * 25 + [2] * 25  # p = 1/2, 1/4, 1/4: H = 1.5 bits
    assert class_entropy(y) == pytest.approx(1.5)
    assert class_entropy(["a"] * 7) == 0.0


def test_mutual_information_of_copy_and_of_independent_variables():
    y = np.repeat([0, 1, 2, 3], 10)
    assert mutual_information(y, y) == pytest.approx(2.0)
    x = np.tile([0, 1], 20)  # every class holds both values equally often
    assert mutual_information(x, y) == 0.0
    assert mutual_information(x, y) == mutual_information(y, x)


def test_information_group_on_a_perfect_and_a_useless_feature():
    y = np.repeat([0, 1], 20)
    perfect = np.c_[y * 10.0]                   # two bins, one per class
    f = metafeatures(perfect, y, groups=["information"])
    assert f["attribute_entropy_mean"] == pytest.approx(1.0)
    assert f["mutual_information_mean"] == f["mutual_information_max"] == pytest.approx(1.0)
    assert f["equivalent_attributes"] == pytest.approx(1.0)
    assert f["noise_signal_ratio"] == pytest.approx(0.0)
    useless = np.c_[np.tile([0.0, 1.0], 20)]    # independent of y
    f = metafeatures(useless, y, groups=["information"])
    assert f["mutual_information_mean"] == 0.0
    # The denominators are floored at 1e-3 bits: finite, and larger than any real signal.
    assert f["equivalent_attributes"] == pytest.approx(1.0 / 1e-3)
    assert f["noise_signal_ratio"] == pytest.approx(1.0 / 1e-3)


def test_discretise_uses_equal_width_bins():
    X = np.c_[[0.0, 1.0, 2.0, 9.99, 10.0], [5.0] * 5]
    codes = discretise(X, n_bins=10)
    assert codes[:, 0].tolist() == [0, 1, 2, 9, 9]    # the maximum joins the last bin
    assert codes[:, 1].tolist() == [0] * 5            # a constant column: one bin
    with pytest.raises(ValueError, match="n_bins"):
        discretise(X, n_bins=1)


# -- statistical ---------------------------------------------------------------------------
def test_skewness_and_kurtosis_match_scipy_and_constants_count_as_normal():
    rng = np.random.default_rng(1)
    X = np.c_[rng.exponential(size=300), rng.normal(size=300), np.full(300, 4.0)]
    y = np.repeat([0, 1], 150)
    f = metafeatures(X, y, groups=["statistical"])
    skews = [stats.skew(X[:, 0]), stats.skew(X[:, 1]), 0.0]
    kurts = [stats.kurtosis(X[:, 0]), stats.kurtosis(X[:, 1]), 0.0]
    assert f["skewness_max"] == pytest.approx(max(skews)) and f["skewness_max"] > 1.0
    assert f["skewness_mean"] == pytest.approx(np.mean(skews))
    assert f["skewness_std"] == pytest.approx(np.std(skews))
    assert f["kurtosis_min"] == pytest.approx(min(kurts))
    assert f["kurtosis_mean"] == pytest.approx(np.mean(kurts))


def test_correlation_and_pca_detect_redundant_features():
    rng = np.random.default_rng(2)
    base = rng.normal(size=(200, 1))
    y = np.repeat([0, 1], 100)
    copies = np.hstack([base * s for s in (1.0, -2.0, 3.0, 0.5)])
    f = metafeatures(copies, y, groups=["statistical"])
    assert f["abs_correlation_mean"] == pytest.approx(1.0)
    assert f["abs_correlation_max"] == pytest.approx(1.0)
    assert f["pca_fraction_95"] == pytest.approx(1 / 4)  # one component carries everything
    independent = rng.normal(size=(2000, 4))
    f = metafeatures(independent, np.repeat([0, 1], 1000), groups=["statistical"])
    assert f["abs_correlation_mean"] < 0.05
    assert f["pca_fraction_95"] == 1.0


# -- landmarkers ---------------------------------------------------------------------------
def test_landmarkers_on_data_one_feature_separates():
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1], 60)
    X = np.c_[y * 5.0 + rng.uniform(0, 1, 120), rng.normal(size=(120, 3))]
    f = metafeatures(X, y, groups=["landmarkers"])
    assert f["landmark_stump"] == 1.0 and f["landmark_lda"] == 1.0
    assert f["landmark_naive_bayes"] == 1.0


def test_landmarkers_tell_easy_from_noisy_data():
    easy = make_classification(300, 6, n_informative=4, class_sep=3.0, flip_y=0.0, random_state=0)
    hard = make_classification(300, 6, n_informative=4, class_sep=0.3, flip_y=0.3, random_state=0)
    f_easy = metafeatures(*easy, groups=["landmarkers"])
    f_hard = metafeatures(*hard, groups=["landmarkers"])
    for name in f_easy:
        assert 0.0 <= f_hard[name] < f_easy[name] <= 1.0


def test_landmarkers_are_seeded_and_subsample_large_data():
    X, y = make_classification(1500, 8, random_state=1)
    a = metafeatures(X, y, groups=["landmarkers"], random_state=7)
    assert a == metafeatures(X, y, groups=["landmarkers"], random_state=7)
    assert a != metafeatures(X, y, groups=["landmarkers"], random_state=8)  # other folds


def test_tiny_classes_use_fewer_folds():
    X, y = blobs(n_per_class=3, k=2, sep=20.0)
    f = metafeatures(X, y, groups=["landmarkers"])  # 3 per class: 3-fold CV
    assert f["landmark_1nn"] == f["landmark_stump"] == 1.0


# -- invariances ------------------------------------------------------------------------------
def test_invariant_to_positive_rescaling_of_features():
    X, y = load_wine(return_X_y=True)
    scales = 2.0 ** np.arange(-6, 7)  # powers of two: rescaling is exact in floating point
    a = metafeatures(X, y)
    b = metafeatures(X * scales, y)
    assert a.keys() == b.keys()
    for name in a:
        assert b[name] == pytest.approx(a[name], rel=1e-9, abs=1e-12), name


def test_invariant_to_row_order_and_label_names():
    X, y = load_wine(return_X_y=True)
    order = np.random.default_rng(4).permutation(len(y))
    a = metafeatures(X, y, groups=CHEAP)
    b = metafeatures(X[order], y[order], groups=CHEAP)
    for name in a:
        assert b[name] == pytest.approx(a[name], rel=1e-9, abs=1e-12), name
    names = np.array(["barolo", "grignolino", "barbera"])[y]
    a, b = metafeatures(X, y), metafeatures(X, names)
    for name in a:  # the class order may change the order of a sum: equal up to round-off
        assert b[name] == pytest.approx(a[name], rel=1e-12, abs=1e-15), name


def test_tracks_the_data_it_describes():
    easy = make_classification(200, 10, n_informative=8, n_redundant=0, class_sep=2.0, random_state=0)
    noisy = (np.c_[easy[0], np.random.default_rng(0).normal(size=(200, 30))], easy[1])
    f_easy, f_noisy = metafeatures(*easy, groups=CHEAP), metafeatures(*noisy, groups=CHEAP)
    assert f_noisy["n_features"] == 40.0
    assert f_noisy["mutual_information_mean"] < f_easy["mutual_information_mean"]
    assert f_noisy["noise_signal_ratio"] > f_easy["noise_signal_ratio"]


# -- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize("X, y, match", [
    (np.array([[1.0, np.nan], [2.0, 3.0], [1.0, 1.0], [0.0, 0.0]]), [0, 0, 1, 1], "NaN"),
    (np.array([[1.0, np.inf], [2.0, 3.0], [1.0, 1.0], [0.0, 0.0]]), [0, 0, 1, 1], "infinite"),
    (np.ones((4, 2)), [0, 0, 0, 0], "at least 2 classes"),
    (np.ones((4, 2)), [0, 0, 1], "different lengths"),
    (np.ones(4), [0, 0, 1, 1], "2-D"),
    (np.ones((4, 0)), [0, 0, 1, 1], "no features"),
    (np.ones((4, 2)), [0, 0, 0, 1], "at least 2 samples"),
    (np.ones((4, 2)), [[0, 0, 1, 1]], "1-D"),
    (np.ones((4, 2)), [0.0, 0.5, 1.0, 1.0], "non-integer"),
    (np.ones((4, 2)), [0.0, np.nan, 1.0, 1.0], "NaN labels"),
])
def test_bad_data_is_refused_with_a_clear_message(X, y, match):
    with pytest.raises(ValueError, match=match):
        metafeatures(X, y)


def test_bad_arguments():
    X, y = blobs()
    with pytest.raises(TypeError, match="numeric"):
        metafeatures([["a", "b"], ["c", "d"]], [0, 1])
    with pytest.raises(ValueError, match="unknown"):
        metafeatures(X, y, groups=["simple", "fancy"])
    with pytest.raises(ValueError, match="unknown or no"):
        metafeatures(X, y, groups=[])
    with pytest.raises(TypeError, match="iterable"):
        metafeatures(X, y, groups="simple")
    with pytest.raises(ValueError, match="random_state"):
        metafeatures(X, y, random_state=-1)
    with pytest.raises(ValueError, match="1-D"):
        mutual_information([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="non-empty"):
        class_entropy([])
