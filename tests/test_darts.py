"""DARTS from scratch: the mixed operation is a softmax-weighted sum, the search cell is the
benchmark's cell relaxed, the genotype derivation keeps the top-k edges and never picks
``none``, and the first-order bilevel search lowers the validation loss, reproducibly."""

import numpy as np
import pytest
import torch

from course.nas.cell_space import EDGES, N_NODES, OPERATIONS, canonical
from course.nas.benchmark import load_benchmark
from course.nas.darts import (COLLAPSE_SETTINGS, DartsResult, MixedOp, SearchCell, SearchNetwork,
                              compare_with_benchmark, darts_search, darts_searches, derive_genotype,
                              operation_weights, plot_alpha_evolution, plot_skip_weight, retrain_genotype,
                              skip_fraction)
from course.nas.network import EPOCHS, Cell, digits_splits

NONE, SKIP, CONV, POOL = (OPERATIONS.index(name) for name in ("none", "skip_connect", "conv_3x3", "avg_pool_3x3"))


def incoming(j):
    return [e for e, (target, _) in enumerate(EDGES) if target == j]


@pytest.fixture(scope="module")
def short_search():
    return darts_search(epochs=3, seed=0, weight_lr=0.1)


# -- the mixed operation ------------------------------------------------------------------------
def test_mixed_op_is_the_softmax_weighted_sum_of_its_operations():
    torch.manual_seed(0)
    mixed = MixedOp(5)
    x = torch.randn(4, 5, 4, 4)
    alpha = torch.randn(len(OPERATIONS))
    weights = operation_weights(alpha)
    assert torch.all(weights > 0) and torch.isclose(weights.sum(), torch.tensor(1.0))
    assert torch.allclose(weights, torch.exp(alpha) / torch.exp(alpha).sum())
    expected = sum(w * op(x) for w, op in zip(weights, mixed.ops))
    assert torch.allclose(mixed(x, weights), expected, atol=1e-6)
    assert [type(op) for op in mixed.ops] == [type(m) for m in (MixedOp(5).ops)]


@pytest.mark.parametrize("chosen", range(len(OPERATIONS)))
def test_one_hot_weights_give_the_single_operation(chosen):
    torch.manual_seed(1)
    mixed = MixedOp(3)
    x = torch.randn(2, 3, 4, 4)
    one_hot = torch.zeros(len(OPERATIONS))
    one_hot[chosen] = 1.0
    assert torch.equal(mixed(x, one_hot), mixed.ops[chosen](x))
    # a one-hot alpha scaled until the softmax saturates selects the same operation
    assert torch.allclose(mixed(x, operation_weights(100.0 * one_hot)), mixed.ops[chosen](x), atol=1e-6)


def test_mixed_op_refuses_weights_of_the_wrong_length():
    with pytest.raises(ValueError, match=r"weights must have shape \(4,\)"):
        MixedOp(3)(torch.randn(1, 3, 4, 4), torch.ones(3) / 3)


def test_skip_dropout_acts_only_in_training_mode():
    torch.manual_seed(2)
    mixed = MixedOp(3, skip_dropout=0.5)
    x = torch.rand(8, 3, 4, 4) + 1.0
    only_skip = torch.zeros(len(OPERATIONS))
    only_skip[SKIP] = 1.0
    mixed.train()
    dropped = mixed(x, only_skip)
    assert 0.3 < (dropped == 0).float().mean() < 0.7  # about half the elements dropped ...
    assert torch.allclose(dropped[dropped != 0], 2 * x[dropped != 0])  # ... the rest rescaled by 1/(1-p)
    mixed.eval()
    assert torch.equal(mixed(x, only_skip), x)


# -- the search cell and network ---------------------------------------------------------------
def test_search_cell_with_one_hot_weights_is_the_benchmark_cell():
    arch = ("conv_3x3", "skip_connect", "avg_pool_3x3", "conv_3x3", "none", "conv_3x3")
    assert canonical(arch) == arch
    torch.manual_seed(3)
    search_cell, cell = SearchCell(6, affine=True), Cell(arch, 6)
    weights = torch.zeros(len(EDGES), len(OPERATIONS))
    for e, ((j, i), op) in enumerate(zip(EDGES, arch)):
        weights[e, OPERATIONS.index(op)] = 1.0
        if op == "conv_3x3":  # the same convolution weights on both sides
            cell.edges[f"{j}_{i}"].load_state_dict(search_cell.edges[e].ops[CONV].state_dict())
    x = torch.randn(5, 6, 4, 4)
    assert torch.allclose(search_cell(x, weights), cell(x), atol=1e-6)


def test_search_batch_norms_have_no_affine_parameters_unless_asked():
    plain, affine = MixedOp(3), MixedOp(3, affine=True)
    assert [tuple(p.shape) for p in plain.parameters()] == [(3, 3, 3, 3)]  # the convolution only
    assert sum(p.numel() for p in affine.parameters()) == 3 * 3 * 3 * 3 + 2 * 3
    x = torch.randn(8, 3, 4, 4)
    assert torch.allclose(plain.ops[CONV](x).mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)


def test_node_sums_its_incoming_edges():
    cell = SearchCell(2)
    x = torch.randn(1, 2, 4, 4)
    weights = torch.zeros(len(EDGES), len(OPERATIONS))
    weights[:, SKIP] = 1.0  # every edge the identity: node_j = 2^(j-1) x
    assert torch.allclose(cell(x, weights), 2 ** (N_NODES - 2) * x)


def test_search_network_shapes_and_parameter_split():
    torch.manual_seed(4)
    net = SearchNetwork(channels=6, n_cells=2)
    assert net(torch.randn(7, 1, 8, 8)).shape == (7, 10)
    assert net.alpha.shape == (len(EDGES), len(OPERATIONS))
    assert [p is net.alpha for p in net.arch_parameters()] == [True]
    weights = net.weight_parameters()
    assert all(p is not net.alpha for p in weights)
    assert len(weights) + 1 == len(list(net.parameters()))
    assert net.alpha.abs().max() < 0.01  # the paper's small random initialisation


def test_alpha_receives_the_gradient_of_the_loss():
    torch.manual_seed(5)
    net = SearchNetwork(channels=4)
    loss = torch.nn.functional.cross_entropy(net(torch.randn(16, 1, 8, 8)), torch.randint(0, 10, (16,)))
    loss.backward()
    assert net.alpha.grad is not None and net.alpha.grad.abs().sum() > 0


@pytest.mark.parametrize("kwargs, message", [
    (dict(channels=0), "channels must be a positive int"),
    (dict(n_cells=1.5), "n_cells must be a positive int"),
    (dict(operations=("none", "conv_5x5")), "unknown operation 'conv_5x5'"),
    (dict(operations=("none", "none")), "must not repeat"),
    (dict(skip_dropout=1.0), r"skip_dropout must be a number in \[0, 1\)"),
])
def test_search_network_refuses_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SearchNetwork(**kwargs)


# -- genotype derivation -----------------------------------------------------------------------
def hand_made_alpha():
    alpha = np.zeros((len(EDGES), len(OPERATIONS)))
    alpha[0] = [5.0, 1.0, 2.0, 0.0]   # (1,0): none is strongest, conv_3x3 the strongest other
    alpha[1] = [0.0, 3.0, 0.0, 0.0]   # (2,0): skip_connect, strong
    alpha[2] = [0.0, 0.0, 1.0, 0.0]   # (2,1): conv_3x3, weaker
    alpha[3] = [9.0, 0.0, 0.0, 0.5]   # (3,0): mostly none; avg_pool weakly
    alpha[4] = [0.0, 0.0, 2.0, 0.0]   # (3,1): conv_3x3
    alpha[5] = [0.0, 0.0, 0.0, 2.5]   # (3,2): avg_pool_3x3, strongest into node 3
    return alpha


def test_argmax_derivation_never_picks_none():
    assert derive_genotype(hand_made_alpha()) == \
        ("conv_3x3", "skip_connect", "conv_3x3", "avg_pool_3x3", "conv_3x3", "avg_pool_3x3")


def test_top_k_keeps_the_strongest_incoming_edges_by_their_best_non_none_weight():
    # node 3: edge (3,0)'s avg_pool weight is tiny (none dominates it), so it loses to (3,1) and (3,2)
    assert derive_genotype(hand_made_alpha(), k=2) == \
        ("conv_3x3", "skip_connect", "conv_3x3", "none", "conv_3x3", "avg_pool_3x3")
    assert derive_genotype(hand_made_alpha(), k=1) == \
        ("conv_3x3", "skip_connect", "none", "none", "none", "avg_pool_3x3")


def test_k_at_least_the_in_degree_keeps_every_edge():
    alpha = hand_made_alpha()
    largest_in_degree = max(len(incoming(j)) for j in range(1, N_NODES))
    assert derive_genotype(alpha, k=largest_in_degree) == derive_genotype(alpha, k=10) == derive_genotype(alpha)


def test_every_node_keeps_min_k_in_degree_edges_on_random_alphas():
    rng = np.random.default_rng(0)
    for _ in range(50):
        alpha = rng.normal(size=(len(EDGES), len(OPERATIONS)))
        for k in (1, 2):
            genotype = derive_genotype(alpha, k=k)
            for j in range(1, N_NODES):
                kept = [e for e in incoming(j) if genotype[e] != "none"]
                assert len(kept) == min(k, len(incoming(j)))
                weights = np.exp(alpha) / np.exp(alpha).sum(axis=1, keepdims=True)
                strength = {e: weights[e, [SKIP, CONV, POOL]].max() for e in incoming(j)}
                assert min(strength[e] for e in kept) >= max(
                    [strength[e] for e in incoming(j) if e not in kept], default=0.0)


def test_ties_go_to_the_earlier_edge_and_the_earlier_operation():
    alpha = np.zeros((len(EDGES), len(OPERATIONS)))  # every operation equally strong everywhere
    assert derive_genotype(alpha) == ("skip_connect",) * len(EDGES)  # first operation after none
    assert derive_genotype(alpha, k=1) == ("skip_connect", "skip_connect", "none", "skip_connect", "none", "none")
    alpha[:, CONV] = alpha[:, POOL] = 1.0  # conv_3x3 and avg_pool_3x3 tie: conv_3x3 is listed first
    assert set(derive_genotype(alpha)) == {"conv_3x3"}


def test_derivation_accepts_a_tensor_and_restricted_operations():
    alpha = torch.tensor(hand_made_alpha(), dtype=torch.float32, requires_grad=True)
    assert derive_genotype(alpha) == derive_genotype(hand_made_alpha())
    assert derive_genotype(np.eye(len(EDGES), 3), operations=("none", "skip_connect", "conv_3x3")) == \
        ("skip_connect", "skip_connect", "conv_3x3", "skip_connect", "skip_connect", "skip_connect")


@pytest.mark.parametrize("alpha, k, error, message", [
    (np.zeros((5, 4)), None, ValueError, r"alpha must have shape \(6, 4\)"),
    (np.zeros((6, 3)), None, ValueError, r"alpha must have shape \(6, 4\)"),
    (np.zeros(24), None, ValueError, r"alpha must have shape"),
    (np.full((6, 4), np.nan), None, ValueError, "alpha must be finite"),
    ("alpha", None, TypeError, "alpha must be a numeric array"),
    (np.zeros((6, 4)), 0, ValueError, "k must be a positive int"),
    (np.zeros((6, 4)), 1.5, ValueError, "k must be a positive int"),
    (np.zeros((6, 4)), True, ValueError, "k must be a positive int"),
])
def test_bad_alpha_or_k_is_named(alpha, k, error, message):
    with pytest.raises(error, match=message):
        derive_genotype(alpha, k)


def test_derivation_needs_an_operation_other_than_none():
    with pytest.raises(ValueError, match="other than 'none'"):
        derive_genotype(np.zeros((len(EDGES), 1)), operations=("none",))


def test_skip_fraction_counts_skip_connections_among_used_edges():
    assert skip_fraction(("skip_connect",) * 6) == 1.0
    assert skip_fraction(("skip_connect", "none", "conv_3x3", "none", "none", "none")) == 0.5
    assert skip_fraction(("none",) * 6) == 0.0
    with pytest.raises(TypeError, match="sequence of operation names"):
        skip_fraction("skip_connect")


# -- the bilevel search ------------------------------------------------------------------------
def test_search_lowers_the_validation_loss_and_moves_alpha(short_search):
    history = short_search.history
    assert list(history["epoch"]) == [0, 1, 2, 3]
    assert np.all(np.diff(history["valid_loss"]) < 0)  # every epoch lowers it
    assert history["valid_loss"].iloc[-1] < 0.7 * history["valid_loss"].iloc[0]
    assert history["valid_accuracy"].iloc[-1] > 0.5
    assert np.abs(short_search.alphas[-1] - short_search.alphas[0]).max() > 0.01


def test_search_result_shapes_and_cost(short_search):
    assert isinstance(short_search, DartsResult)
    assert short_search.alphas.shape == (4, len(EDGES), len(OPERATIONS))
    assert np.allclose(short_search.weights.sum(axis=-1), 1.0)
    assert short_search.genotype == derive_genotype(short_search.alphas[-1])
    assert short_search.genotype == short_search.history["genotype"].iloc[-1]
    assert short_search.genotype_at(0) == derive_genotype(short_search.alphas[0])
    assert short_search.epochs == 3 and short_search.search_seconds > 0 and short_search.wall_seconds > 0
    assert np.allclose(short_search.network.alpha.detach().numpy(), short_search.alphas[-1])
    assert history_is_increasing(short_search.history["seconds"])


def history_is_increasing(values):
    return bool(np.all(np.diff(values.to_numpy()) > 0))


def test_search_is_reproducible_and_leaves_global_state_alone(short_search):
    threads = torch.get_num_threads()
    before = torch.random.get_rng_state()
    again = darts_search(epochs=3, seed=0, weight_lr=0.1)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert torch.get_num_threads() == threads and not torch.are_deterministic_algorithms_enabled()
    assert np.array_equal(again.alphas, short_search.alphas)
    assert again.genotype == short_search.genotype
    other = darts_search(epochs=1, seed=1, weight_lr=0.1)
    assert not np.array_equal(other.alphas[1], short_search.alphas[1])


def test_search_never_looks_at_the_test_split():
    data = digits_splits(0)
    poisoned = type(data)(data.x_train, data.y_train, data.x_valid, data.y_valid,
                          torch.full_like(data.x_test, float("nan")), torch.full_like(data.y_test, -1))
    assert np.array_equal(darts_search(epochs=1, data=poisoned).alphas, darts_search(epochs=1).alphas)


def test_alpha_learns_from_the_validation_split_only_through_its_own_step():
    data = digits_splits(0)
    shuffled = type(data)(data.x_train, data.y_train, data.x_valid, data.y_valid.roll(1),
                          data.x_test, data.y_test)
    plain, wrong_labels = darts_search(epochs=1, data=data), darts_search(epochs=1, data=shuffled)
    assert not np.allclose(plain.alphas[1], wrong_labels.alphas[1])


def test_skip_dropout_changes_the_search():
    plain = darts_search(epochs=1, seed=0)
    dropped = darts_search(epochs=1, seed=0, skip_dropout=0.5)
    assert not np.allclose(plain.alphas[1], dropped.alphas[1])


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(epochs=0), ValueError, "epochs must be a positive int"),
    (dict(seed=-1), ValueError, "seed must be a non-negative int"),
    (dict(arch_lr=0.0), ValueError, "arch_lr must be a positive finite number"),
    (dict(weight_lr=float("nan")), ValueError, "weight_lr must be a positive finite number"),
    (dict(weight_decay=-1e-3), ValueError, "weight_decay must be a non-negative"),
    (dict(weight_lr=0.01, weight_lr_min=0.1), ValueError, "weight_lr_min must be <= weight_lr"),
    (dict(skip_dropout=-0.1), ValueError, "skip_dropout must be a number in"),
    (dict(k=0), ValueError, "k must be a positive int"),
    (dict(batch_size=0), ValueError, "batch_size must be a positive int"),
    (dict(data="digits"), TypeError, "data must be a DigitsSplits"),
])
def test_search_refuses_bad_settings(kwargs, error, message):
    with pytest.raises(error, match=message):
        darts_search(**kwargs)


def test_alpha_evolution_plot_has_one_panel_per_edge(short_search):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axes = plot_alpha_evolution(short_search, title="DARTS")
    assert len(axes) == len(EDGES)
    assert all(len(ax.get_lines()) == len(OPERATIONS) for ax in axes)
    assert np.allclose(axes[0].get_lines()[CONV].get_ydata(), short_search.weights[:, 0, CONV])
    plt.close("all")
    with pytest.raises(TypeError, match="DartsResult"):
        plot_alpha_evolution(short_search.alphas)
    ax = plot_skip_weight({"DARTS": short_search})
    assert np.allclose(ax.get_lines()[0].get_ydata(), short_search.weights[:, :, SKIP].mean(axis=1))
    plt.close("all")
    with pytest.raises(TypeError, match="dict mapping a label"):
        plot_skip_weight([short_search])


# -- retraining and the benchmark --------------------------------------------------------------
@pytest.fixture(scope="module")
def benchmark():
    return load_benchmark(allow_partial=True)  # the table may still be growing


def test_retraining_reproduces_the_benchmark_entry(benchmark):
    arch = benchmark.architectures()[len(benchmark) // 2]
    runs = retrain_genotype(arch, seeds=(0,))
    assert list(runs.columns) == ["seed", "valid_accuracy", "test_accuracy", "train_seconds", "params"]
    recorded = benchmark.query(arch, EPOCHS, seed=0)
    assert runs["test_accuracy"].iloc[0] == pytest.approx(recorded["test_accuracy"], abs=1e-5)
    assert runs["valid_accuracy"].iloc[0] == pytest.approx(recorded["valid_accuracy"], abs=1e-5)
    assert runs["params"].iloc[0] == recorded["params"]


def test_comparison_puts_the_cell_beside_the_best_and_median(benchmark):
    arch = benchmark.architectures()[0]
    retrained = retrain_genotype(arch, seeds=(0,), epochs=1)
    table = compare_with_benchmark(arch, retrained, benchmark=benchmark)
    assert list(table.index) == ["DARTS (retrained)", "DARTS (benchmark)", "benchmark best", "benchmark median"]
    best, median = table.loc["benchmark best"], table.loc["benchmark median"]
    assert best["valid_accuracy"] >= median["valid_accuracy"]
    assert table.loc["DARTS (benchmark)", "test_accuracy"] == benchmark.query(arch)["test_accuracy"]
    assert table.loc["DARTS (retrained)", "test_accuracy"] == retrained["test_accuracy"].mean()
    assert ((table["test_rank"] >= 0) & (table["test_rank"] <= 1)).all()
    assert list(compare_with_benchmark(arch, benchmark=benchmark).index)[0] == "DARTS (benchmark)"


def test_retraining_refuses_bad_input():
    with pytest.raises(ValueError, match="one operation per edge"):
        retrain_genotype(("conv_3x3",) * 5)
    with pytest.raises(ValueError, match="seeds must be a non-empty sequence"):
        retrain_genotype(("conv_3x3",) * 6, seeds=())


def test_collapse_settings_run_a_deeper_supernet():
    result = darts_search(**{**COLLAPSE_SETTINGS, "epochs": 1})
    assert len(result.network.cells) == COLLAPSE_SETTINGS["n_cells"] > 1  # deeper than the retrained network
    assert result.alphas.shape == (2, len(EDGES), len(OPERATIONS))


def test_searches_side_by_side_equal_the_same_searches_alone():
    searches = {"plain": dict(epochs=1, seed=3), "dropout": dict(epochs=1, seed=4, skip_dropout=0.5)}
    together = darts_searches(searches, workers=2)
    assert list(together) == ["plain", "dropout"]
    for name, kwargs in searches.items():
        alone = darts_search(**kwargs)
        np.testing.assert_array_equal(together[name].alphas, alone.alphas)
        assert together[name].genotype == alone.genotype


@pytest.mark.parametrize("searches, workers, error, message", [
    ([dict(epochs=1)], 2, TypeError, "must map a name"),
    ({"a": dict(epochs=1, learning_rate=0.1)}, 2, ValueError, "search 'a'.*learning_rate"),
    ({"a": dict(epochs=1)}, 0, ValueError, "workers"),
])
def test_searches_side_by_side_refuse_bad_arguments_before_starting(searches, workers, error, message):
    with pytest.raises(error, match=message):
        darts_searches(searches, workers=workers)
