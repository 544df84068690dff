"""Warm start and algorithm selection (course.automl.metalearning).

The first part checks the building blocks on small constructed meta-datasets with
known answers; the second evaluates both methods leave-one-dataset-out on the
committed meta-dataset (course/automl/data/meta_dataset.csv).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from course.automl.meta_dataset import load_meta_dataset
from course.automl.metalearning import (
    AlgorithmSelector,
    NearestDatasetWarmStart,
    average_rank_order,
    best_labels,
    leave_one_dataset_out_regret,
    leave_one_dataset_out_selection,
    plot_regret_curves,
    random_order_regret,
    regret_curve,
)


def two_clusters(n_per_cluster=6, seed=0):
    """Small datasets ("s*") where knn wins and large ones ("l*") where forest wins."""
    rng = np.random.default_rng(seed)
    names = [f"s{i}" for i in range(n_per_cluster)] + [f"l{i}" for i in range(n_per_cluster)]
    small = np.r_[np.ones(n_per_cluster), np.zeros(n_per_cluster)].astype(bool)
    mf = pd.DataFrame({
        "log_n": np.where(small, 5.0, 9.0) + rng.normal(0, 0.3, len(names)),
        "noise": np.tile(rng.normal(0, 1, n_per_cluster), 2),  # the same in both: uninformative
        "constant": 1.0,                          # dropped by the standardisation
    }, index=names)
    scores = pd.DataFrame({
        "knn_a": np.where(small, 0.90, 0.60), "knn_b": np.where(small, 0.85, 0.55),
        "forest_a": np.where(small, 0.70, 0.95), "forest_b": np.where(small, 0.65, 0.92),
        "bad": np.full(len(names), 0.30),
    }, index=names) + rng.uniform(0, 0.01, (len(names), 5))
    groups = {"knn_a": "knn", "knn_b": "knn", "forest_a": "forest", "forest_b": "forest", "bad": "bad"}
    return mf, scores, groups


# -- regret -------------------------------------------------------------------------------
def test_regret_curve_values():
    s = pd.Series({"a": 0.5, "b": 0.9, "c": 0.7, "d": 0.6})
    assert regret_curve(s, ["d", "a", "c", "b"], 4) == pytest.approx([0.3, 0.3, 0.2, 0.0])
    assert regret_curve(s, ["b", "a"], 2).tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="fewer than n_trials"):
        regret_curve(s, ["a"], 2)
    with pytest.raises(ValueError, match="not in scores"):
        regret_curve(s, ["a", "zzz"], 2)
    with pytest.raises(ValueError, match="n_trials"):
        regret_curve(s, ["a"], 0)


def test_random_order_regret_is_the_exact_expectation():
    rng = np.random.default_rng(0)
    s = pd.Series(rng.uniform(size=9).round(2))  # rounding makes ties
    exact = random_order_regret(s, 9)
    orders = rng.permuted(np.tile(s.to_numpy(), (20000, 1)), axis=1)  # 20000 random orders
    simulated = (s.max() - np.maximum.accumulate(orders, axis=1)).mean(axis=0)
    assert exact == pytest.approx(simulated, abs=0.005)
    assert exact[0] == pytest.approx(s.max() - s.mean())  # one random trial: the mean
    assert exact[-1] == 0.0 and np.all(np.diff(exact) <= 1e-12)
    with pytest.raises(ValueError, match="exceeds"):
        random_order_regret(s, 10)


def test_average_rank_order():
    scores = pd.DataFrame({"a": [0.9, 0.1, 0.1], "b": [0.5, 0.5, 0.5], "c": [0.1, 0.9, 0.2]})
    # ranks: a 1,3,3 (7/3); b 2,2,1 (5/3); c 3,1,2 (2)
    assert average_rank_order(scores) == ["b", "c", "a"]


# -- warm start ------------------------------------------------------------------------------
def test_distances_use_standardised_metafeatures():
    mf = pd.DataFrame({"n_samples": [100.0, 1000.0], "entropy": [0.1, 0.9]}, index=["a", "b"])
    scores = pd.DataFrame({"x": [1.0, 0.0]}, index=["a", "b"])
    warm = NearestDatasetWarmStart().fit(mf, scores)
    # In raw units n_samples dominates and 600 is nearer to "b"... but only by 0.11 of
    # the spread of n_samples, while the entropy says "a" by 0.75 of its spread.
    d = warm.distances({"n_samples": 600.0, "entropy": 0.2})
    assert list(d.index) == ["a", "b"]
    # standardised: (x - mean) / std with std = half the gap, so the L1 distance is
    # (|600 - 100| / 450) + (|0.2 - 0.1| / 0.4)
    assert d["a"] == pytest.approx(500 / 450 + 0.1 / 0.4)
    assert NearestDatasetWarmStart(metric="l2").fit(mf, scores).distances(
        {"n_samples": 600.0, "entropy": 0.2})["a"] == pytest.approx(math.hypot(500 / 450, 0.1 / 0.4))


def test_recommend_takes_the_best_of_the_nearest_datasets_first():
    mf, scores, _ = two_clusters()
    small = {"log_n": 5.0, "noise": 0.0, "constant": 1.0}
    # All neighbours: the best of each dataset, nearest first; every small dataset's best
    # is knn_a, so the next new one is the large datasets' best.
    assert NearestDatasetWarmStart().fit(mf, scores).recommend(small, 2) == ["knn_a", "forest_a"]
    # Three neighbours, all small: their best, then their second-best.
    assert NearestDatasetWarmStart(3).fit(mf, scores).recommend(small, 2) == ["knn_a", "knn_b"]
    large = {"log_n": 9.1, "noise": 0.0, "constant": 7.0}  # the constant meta-feature is ignored
    assert NearestDatasetWarmStart(3).fit(mf, scores).recommend(large, 3) == [
        "forest_a", "forest_b", "knn_a"]


def test_recommend_round_robin_over_the_neighbours():
    mf = pd.DataFrame({"x": [0.0, 1.0, 10.0]}, index=["near", "second", "far"])
    scores = pd.DataFrame({"a": [0.9, 0.1, 0.5], "b": [0.8, 0.9, 0.4], "c": [0.1, 0.8, 0.3],
                           "d": [0.0, 0.0, 0.9]}, index=mf.index)
    target = {"x": 0.1}
    all_neighbours = NearestDatasetWarmStart().fit(mf, scores)
    # best of near (a), of second (b), of far (d), then second round: near's 2nd (b, taken)...
    assert all_neighbours.recommend(target, 4) == ["a", "b", "d", "c"]
    two = NearestDatasetWarmStart(n_neighbors=2).fit(mf, scores)
    assert two.recommend(target, 4) == ["a", "b", "c", "d"]   # round 2 gives c; round 3 d
    one = NearestDatasetWarmStart(n_neighbors=1).fit(mf, scores)
    assert one.recommend(target, 10) == ["a", "b", "c", "d"]  # the nearest dataset's ranking
    assert len(set(all_neighbours.recommend(target, 4))) == 4


def test_warm_start_errors():
    mf, scores, _ = two_clusters()
    with pytest.raises(RuntimeError, match="fit"):
        NearestDatasetWarmStart().recommend({"log_n": 1.0})
    warm = NearestDatasetWarmStart().fit(mf, scores)
    with pytest.raises(ValueError, match="missing"):
        warm.recommend({"log_n": 1.0})
    with pytest.raises(ValueError, match="NaN"):
        warm.recommend({"log_n": np.nan, "noise": 0.0, "constant": 1.0})
    with pytest.raises(ValueError, match="n_configs"):
        warm.recommend({"log_n": 1.0, "noise": 0.0, "constant": 1.0}, 0)
    with pytest.raises(TypeError, match="dict, Series or DataFrame"):
        warm.recommend([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="metric"):
        NearestDatasetWarmStart(metric="cosine").fit(mf, scores)
    with pytest.raises(ValueError, match="n_neighbors"):
        NearestDatasetWarmStart(n_neighbors=0).fit(mf, scores)
    with pytest.raises(ValueError, match="same datasets"):
        NearestDatasetWarmStart().fit(mf, scores.iloc[1:])
    with pytest.raises(ValueError, match="NaN"):
        NearestDatasetWarmStart().fit(mf.assign(noise=np.nan), scores)
    with pytest.raises(TypeError, match="DataFrame"):
        NearestDatasetWarmStart().fit(mf.to_numpy(), scores)
    with pytest.raises(ValueError, match="duplicate"):
        NearestDatasetWarmStart().fit(mf.rename(index={"s1": "s0"}), scores.rename(index={"s1": "s0"}))


def test_leave_one_out_regret_on_constructed_data():
    mf, scores, _ = two_clusters()
    result = leave_one_dataset_out_regret(mf, scores, n_trials=3)
    assert result.index.names == ["strategy", "dataset"]
    assert list(result.columns) == [1, 2, 3]
    mean = result.groupby(level="strategy").mean()
    assert mean.loc["warm_start", 1] == pytest.approx(0.0, abs=0.011)  # the right family at once
    # Always the same order is wrong on one of the two clusters: warm start beats it.
    assert mean.loc["warm_start", 1] < min(mean.loc["average_rank", 1], mean.loc["random", 1]) - 0.2
    with pytest.raises(ValueError, match="exceeds"):
        leave_one_dataset_out_regret(mf, scores, n_trials=6)


def test_plot_regret_curves_draws_one_line_per_strategy():
    import matplotlib.pyplot as plt

    mf, scores, _ = two_clusters()
    result = leave_one_dataset_out_regret(mf, scores, n_trials=4)
    ax = plot_regret_curves(result)
    try:
        assert len(ax.get_lines()) == 3 and ax.get_yscale() == "log"
        means = result.groupby(level="strategy").mean()
        drawn = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
        assert np.allclose(drawn["cold start (random order)"], means.loc["random"])
    finally:
        plt.close(ax.figure)
    with pytest.raises(TypeError, match="leave_one_dataset_out_regret"):
        plot_regret_curves(scores)


# -- algorithm selection -----------------------------------------------------------------------
def test_best_labels_with_groups_and_ties():
    scores = pd.DataFrame({"a1": [0.9, 0.5], "b1": [0.9, 0.6], "a2": [0.1, 0.7]}, index=["x", "y"])
    assert best_labels(scores).tolist() == ["a1", "a2"]                   # tie: portfolio order
    assert best_labels(scores, {"a1": "a", "b1": "b", "a2": "a"}).tolist() == ["a", "a"]
    with pytest.raises(ValueError, match="no label"):
        best_labels(scores, {"a1": "a"})


@pytest.mark.parametrize("approach", ["regression", "classification"])
@pytest.mark.parametrize("model", ["knn", "forest"])
def test_selector_learns_the_clusters(model, approach):
    mf, scores, groups = two_clusters()
    selector = AlgorithmSelector(model=model, approach=approach).fit(mf, scores, groups)
    new = pd.DataFrame({"log_n": [4.8, 9.3], "noise": [0.5, -0.5], "constant": [1.0, 1.0]})
    assert selector.predict(new).tolist() == ["knn", "forest"]
    assert selector.predict(new.iloc[0]).tolist() == ["knn"]


def test_regression_selector_predicts_the_neighbours_mean_scores():
    mf, scores, groups = two_clusters()
    selector = AlgorithmSelector(n_neighbors=3).fit(mf, scores, groups)
    target = {"log_n": 5.0, "noise": 0.0, "constant": 1.0}
    nearest = NearestDatasetWarmStart().fit(mf, scores).distances(target).index[:3]
    family_scores = scores.T.groupby(pd.Series(groups)).max().T
    expected = family_scores.loc[nearest].mean()
    predicted = selector.predict_scores(target).iloc[0]
    assert predicted.to_dict() == pytest.approx(expected.to_dict())
    # Per configuration (no groups): the configuration with the best predicted score.
    assert AlgorithmSelector(n_neighbors=3).fit(mf, scores).predict(target).tolist() == ["knn_a"]


def test_leave_one_out_selection_on_constructed_data():
    mf, scores, groups = two_clusters()
    result = leave_one_dataset_out_selection(mf, scores, groups)
    assert result["hit_selected"].all() and (result["regret_selected"] == 0).all()
    # The baseline picks the family best on most *other* datasets: with one dataset of a
    # cluster held out, that is always the other cluster's family.
    assert not result["hit_baseline"].any()
    assert result["regret_baseline"].min() > 0.15
    assert set(result.columns) >= {"best", "selected", "baseline", "regret_selected", "regret_baseline"}


def test_selector_errors():
    mf, scores, groups = two_clusters()
    with pytest.raises(ValueError, match="model"):
        AlgorithmSelector(model="svm").fit(mf, scores)
    with pytest.raises(ValueError, match="approach"):
        AlgorithmSelector(approach="ranking").fit(mf, scores)
    with pytest.raises(ValueError, match="regression"):
        AlgorithmSelector(approach="classification").fit(mf, scores).predict_scores(mf)
    with pytest.raises(ValueError, match="exceeds"):
        AlgorithmSelector(n_neighbors=50).fit(mf, scores)
    with pytest.raises(RuntimeError, match="fit"):
        AlgorithmSelector().predict(mf)
    with pytest.raises(ValueError, match="missing"):
        AlgorithmSelector().fit(mf, scores).predict(pd.DataFrame({"log_n": [1.0]}))


# -- on the committed meta-dataset ---------------------------------------------------------------
@pytest.fixture(scope="module")
def meta():
    return load_meta_dataset()


def test_warm_start_beats_a_cold_start_on_held_out_datasets(meta):
    # Measured on the committed file: mean regret over the first 10 trials 0.011 (warm
    # start) against 0.044 (random order of the portfolio); better on 46 of 48 datasets.
    result = leave_one_dataset_out_regret(meta.metafeatures, meta.scores, n_trials=10)
    mean = result.groupby(level="strategy").mean()
    warm, cold = mean.loc["warm_start"], mean.loc["random"]
    assert (warm < cold).all()                      # at every trial from 1 to 10
    assert warm.mean() < 0.5 * cold.mean()
    assert warm[1] < 0.5 * cold[1]                  # the first recommendation alone
    per_dataset = result.mean(axis=1).unstack("strategy")
    assert (per_dataset["warm_start"] < per_dataset["random"]).sum() >= 40


def test_knn_ranking_warm_start_beats_a_cold_start(meta):
    # Measured: 0.008 against 0.044 (and 0.009 for the static best-on-average order).
    result = leave_one_dataset_out_regret(meta.metafeatures, meta.scores, n_trials=10,
                                          n_neighbors=5, strategy="average_rank")
    mean = result.groupby(level="strategy").mean()
    assert (mean.loc["warm_start"] < mean.loc["random"]).all()
    assert mean.loc["warm_start"].mean() < 0.5 * mean.loc["random"].mean()


def test_selector_beats_always_the_same_choice(meta):
    # Measured (k-NN regression, k = 3, model families): mean regret 0.011 against 0.026
    # for always choosing the family most often best (svm); the exact best family on
    # 19 of 48 held-out datasets against 18, within 0.02 of the best on 40 against 34.
    result = leave_one_dataset_out_selection(meta.metafeatures, meta.scores,
                                             meta.families.to_dict())
    assert result["regret_selected"].mean() < 0.7 * result["regret_baseline"].mean()
    assert result["hit_selected"].sum() >= result["hit_baseline"].sum()
    near = (result[["regret_selected", "regret_baseline"]] <= 0.02).sum()
    assert near["regret_selected"] > near["regret_baseline"]
    assert result["selected"].nunique() >= 3        # it does select, per dataset
