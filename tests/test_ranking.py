"""course.tools.ranking: protocol checks, averages, the tie rule, average ranks, Nemenyi."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from course.tools.ranking import (average_ranks, check_protocol, critical_difference, dataset_ranks,
                                  mean_over_seeds, plot_average_ranks, rank_dataset, simulate_results, tied)


def table(scores, *, budget=60.0, higher=True):
    """Raw results from {dataset: {tool: [score per seed]}}."""
    rows = [(tool, dataset, seed, budget, score, higher)
            for dataset, by_tool in scores.items() for tool, values in by_tool.items()
            for seed, score in enumerate(values)]
    return pd.DataFrame(rows, columns=["tool", "dataset", "seed", "budget_s", "score", "higher_is_better"])


# -- protocol ----------------------------------------------------------------------------------

def test_check_protocol_accepts_a_fair_table_and_sorts_it():
    raw = simulate_results(3)
    clean = check_protocol(raw)
    assert len(clean) == len(raw)
    assert list(clean.columns) == ["tool", "dataset", "seed", "budget_s", "score", "higher_is_better"]
    assert clean[["dataset", "tool", "seed"]].apply(tuple, axis=1).is_monotonic_increasing
    pd.testing.assert_frame_equal(raw, simulate_results(3))   # the input is left alone


def test_check_protocol_without_direction_column_uses_the_keyword():
    raw = table({"d": {"a": [1.0, 2.0], "b": [3.0, 4.0]}}).drop(columns="higher_is_better")
    assert not check_protocol(raw, higher_is_better=False)["higher_is_better"].any()
    assert check_protocol(raw)["higher_is_better"].all()


def test_a_different_budget_is_refused_with_its_row():
    raw = simulate_results(0)
    raw.loc[7, "budget_s"] = 120.0
    with pytest.raises(ValueError, match="same budget") as err:
        check_protocol(raw)
    assert "120.0" in str(err.value) and raw.loc[7, "tool"] in str(err.value)


def test_a_missing_seed_is_refused_naming_the_tool_and_dataset():
    raw = simulate_results(1)
    drop = raw[(raw.tool == "tool_2") & (raw.dataset == "data_1") & (raw.seed == 4)].index
    with pytest.raises(ValueError, match=r"same seeds.*\('tool_2', 'data_1'\)"):
        check_protocol(raw.drop(index=drop))


def test_other_seeds_are_refused():
    raw = simulate_results(1)
    raw.loc[(raw.tool == "tool_0") & (raw.dataset == "data_0") & (raw.seed == 0), "seed"] = 99
    with pytest.raises(ValueError, match="same seeds"):
        check_protocol(raw)


def test_a_tool_missing_on_a_dataset_is_refused():
    raw = simulate_results(2)
    with pytest.raises(ValueError, match=r"every dataset.*\('tool_1', 'data_3'\)"):
        check_protocol(raw[~((raw.tool == "tool_1") & (raw.dataset == "data_3"))])


def test_duplicates_nan_scores_and_missing_columns_are_refused():
    raw = simulate_results(4)
    with pytest.raises(ValueError, match="run once"):
        check_protocol(pd.concat([raw, raw.iloc[[5]]]))
    bad = raw.copy()
    bad.loc[9, "score"] = np.nan
    with pytest.raises(ValueError, match="finite") as err:
        check_protocol(bad)
    assert "NaN" in str(err.value)
    bad = raw.copy().astype({"score": object})
    bad.loc[2, "score"] = "high"
    with pytest.raises(ValueError, match="finite"):
        check_protocol(bad)
    with pytest.raises(ValueError, match=r"\['budget_s'\]"):
        check_protocol(raw.drop(columns="budget_s"))
    with pytest.raises(ValueError, match="empty"):
        check_protocol(raw.iloc[:0])
    with pytest.raises(TypeError, match="DataFrame"):
        check_protocol(raw.to_dict())


def test_mixed_directions_on_a_dataset_are_refused():
    raw = simulate_results(5)
    raw.loc[raw.index[0], "higher_is_better"] = not raw.loc[raw.index[0], "higher_is_better"]
    with pytest.raises(ValueError, match="direction"):
        check_protocol(raw)


# -- averages and the tie rule -----------------------------------------------------------------

def test_mean_over_seeds_matches_a_groupby():
    raw = simulate_results(6, n_tools=3, n_datasets=4, n_seeds=3)
    means = mean_over_seeds(raw)
    assert means.shape == (4, 3)
    expected = raw.groupby(["dataset", "tool"])["score"].mean().unstack()
    np.testing.assert_allclose(means.to_numpy(), expected.to_numpy())


@pytest.mark.parametrize("seed", range(30))
def test_tied_is_the_paired_t_test_not_rejecting(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 12))
    a = rng.normal(0.8, 0.02, n)
    b = a + rng.normal(rng.choice([0.0, 0.01, 0.03]), 0.02, n)
    alpha = float(rng.choice([0.01, 0.05, 0.1]))
    assert tied(a, b, alpha=alpha) == (stats.ttest_rel(a, b).pvalue >= alpha)


def test_tied_without_spread_needs_equal_scores():
    assert tied([0.5], [0.5]) and not tied([0.5], [0.6])
    assert not tied([0.5, 0.6], [0.4, 0.5])          # constant difference 0.1: separated
    assert tied([0.5, 0.6], [0.5, 0.6])
    with pytest.raises(ValueError, match="same length"):
        tied([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="alpha"):
        tied([1.0, 2.0], [1.0, 3.0], alpha=1.5)
    with pytest.raises(ValueError, match="finite"):
        tied([1.0, np.nan], [1.0, 3.0])


def test_rank_dataset_groups_around_the_best_member():
    seeds = 6
    rng = np.random.default_rng(0)
    base = rng.normal(0, 0.01, seeds)
    # a and b tie, c is far below: a, b share 1.5 and c gets 3
    scores = pd.DataFrame({"a": 0.90 + base, "b": 0.90 + base + rng.normal(0, 0.01, seeds),
                           "c": 0.70 + base})
    assert rank_dataset(scores).to_dict() == {"a": 1.5, "b": 1.5, "c": 3.0}
    # lower is better flips the order
    assert rank_dataset(scores, higher_is_better=False)["c"] == 1.0


def test_rank_dataset_chain_does_not_tie_the_ends():
    # a~b and b~c under the test, but a is clearly better than c: the group is {a, b}
    a = np.array([0.90, 0.91, 0.92, 0.90, 0.91])
    b = a - np.array([0.01, 0.03, -0.01, 0.02, 0.00])
    c = b - np.array([0.00, -0.01, 0.03, 0.00, 0.02])
    assert tied(a, b) and tied(b, c) and not tied(a, c)
    ranks = rank_dataset(pd.DataFrame({"a": a, "b": b, "c": c}))
    assert ranks.to_dict() == {"a": 1.5, "b": 1.5, "c": 3.0}


@pytest.mark.parametrize("seed", range(20))
def test_one_seed_gives_ordinary_ranks(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 8))
    values = rng.integers(0, 5, k).astype(float)       # exact ties happen
    scores = pd.DataFrame([values], columns=[f"t{j}" for j in range(k)])
    np.testing.assert_array_equal(rank_dataset(scores).to_numpy(), stats.rankdata(-values))


@pytest.mark.parametrize("seed", range(20))
def test_ranks_are_a_permutation_average(seed):
    raw = simulate_results(seed, n_tools=int(np.random.default_rng(seed).integers(2, 7)))
    ranks = dataset_ranks(raw)
    k = ranks.shape[1]
    np.testing.assert_allclose(ranks.sum(axis=1), k * (k + 1) / 2)
    assert ((ranks >= 1) & (ranks <= k)).all(axis=None)
    # better means never get worse ranks
    means = mean_over_seeds(raw)
    for dataset in ranks.index:
        sign = 1 if raw.loc[raw.dataset == dataset, "higher_is_better"].iloc[0] else -1
        order = np.argsort(-sign * means.loc[dataset].to_numpy(), kind="stable")
        assert np.all(np.diff(ranks.loc[dataset].to_numpy()[order]) >= 0)


def test_a_very_small_alpha_ties_everything_with_noise():
    raw = simulate_results(7)
    ranks = dataset_ranks(raw, alpha=1e-9)
    k = ranks.shape[1]
    assert (ranks == (k + 1) / 2).all(axis=None)


def test_average_ranks_on_a_hand_made_example():
    raw = table({"d1": {"a": [0.9, 0.92, 0.91], "b": [0.8, 0.81, 0.8], "c": [0.7, 0.7, 0.71]},
                 "d2": {"a": [0.5, 0.5, 0.5], "b": [0.6, 0.61, 0.6], "c": [0.4, 0.4, 0.41]}})
    assert average_ranks(raw).to_dict() == {"a": 1.5, "b": 1.5, "c": 3.0}
    assert average_ranks(raw).index.tolist() == ["a", "b", "c"]


def test_direction_per_dataset_is_honoured():
    up = table({"acc": {"a": [0.9, 0.91, 0.9], "b": [0.8, 0.79, 0.8]}}, higher=True)
    down = table({"err": {"a": [0.1, 0.09, 0.1], "b": [0.2, 0.21, 0.2]}}, higher=False)
    ranks = dataset_ranks(pd.concat([up, down], ignore_index=True))
    assert ranks.loc["acc", "a"] == 1 and ranks.loc["err", "a"] == 1


# -- Nemenyi -----------------------------------------------------------------------------------

@pytest.mark.parametrize("k, q", [(2, 1.960), (3, 2.343), (4, 2.569), (5, 2.728), (10, 3.164)])
def test_critical_difference_uses_demsar_table_5a(k, q):
    n = 12
    assert critical_difference(k, n) == pytest.approx(q * np.sqrt(k * (k + 1) / (6 * n)), abs=1e-3)


def test_critical_difference_shrinks_with_datasets_and_rejects_bad_input():
    assert critical_difference(4, 20) < critical_difference(4, 10)
    assert critical_difference(4, 10, alpha=0.1) < critical_difference(4, 10)
    for bad in ((1, 10), (4, 0), (4.0, 10), (True, 3)):
        with pytest.raises(ValueError):
            critical_difference(*bad)


def test_simulator_is_seeded_and_fair():
    pd.testing.assert_frame_equal(simulate_results(11), simulate_results(11))
    assert not simulate_results(11).equals(simulate_results(12))
    check_protocol(simulate_results(11, n_tools=2, n_datasets=1, n_seeds=1))
    with pytest.raises(ValueError, match="n_seeds"):
        simulate_results(0, n_seeds=0)


def test_plot_average_ranks_draws_one_bar_per_tool():
    ranks = average_ranks(simulate_results(0))
    ax = plot_average_ranks(ranks, cd=critical_difference(len(ranks), 6))
    assert len(ax.patches) >= len(ranks)
    plt.close("all")
    with pytest.raises(ValueError):
        plot_average_ranks(pd.Series(dtype=float))
