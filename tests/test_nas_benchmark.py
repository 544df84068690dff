"""The tabular NAS benchmark: its cell space, network, committed table, query API and generator."""

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from course.hpo import RandomSampler, minimize
from course.nas import make_benchmark
from course.nas.benchmark import DEFAULT_TABLE, NASBenchmark, load_benchmark, query
from course.nas.cell_space import (EDGES, N_NODES, OPERATIONS, all_architectures, canonical, cell_space,
                                   check_architecture, from_string, is_canonical, mutate, to_architecture,
                                   to_config, to_string, unique_architectures)
from course.nas.network import (BUDGETS, CHANNELS, Cell, CellNetwork, count_parameters, digits_splits,
                                train_network)
from course.nas.ops import OPS, make_op

ALL = list(all_architectures())


# -- the space and its encodings --------------------------------------------------------------
def test_edges_join_every_earlier_node_to_every_later_one():
    assert EDGES == tuple((j, i) for j in range(1, N_NODES) for i in range(j))
    assert set(OPERATIONS) <= set(OPS) and {"none", "skip_connect"} <= set(OPERATIONS)
    assert cell_space().names == [f"edge_{j}_{i}" for j, i in EDGES]
    assert len(ALL) == len(set(ALL)) == len(OPERATIONS) ** len(EDGES)


def test_strings_and_configurations_round_trip_for_every_architecture():
    strings = {to_string(arch) for arch in ALL}
    assert len(strings) == len(ALL)
    for arch in ALL:
        assert from_string(to_string(arch)) == arch
        assert to_architecture(to_config(arch)) == arch
    assert to_string(("conv_3x3", "none", "skip_connect", "avg_pool_3x3", "none", "conv_3x3")) == \
        "|conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|conv_3x3~2|"


@pytest.mark.parametrize("text, message", [
    ("|conv_3x3~0|+|none~0|none~1|", "expected 3 groups"),
    ("|conv_3x3~0|+|none~0|none~2|+|none~0|none~1|none~2|", "expected 'op~1'"),
    ("|conv_3x3~0|+|none~0|+|none~0|none~1|none~2|", "node 2 needs 2 incoming edges"),
    ("conv_3x3~0+|none~0|none~1|+|none~0|none~1|none~2|", "must start and end with '|'"),
    ("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown operation 'conv_5x5'"),
])
def test_malformed_strings_are_refused_with_the_reason(text, message):
    with pytest.raises(ValueError, match=message):
        from_string(text)


@pytest.mark.parametrize("arch, error, message", [
    (("none",) * 5, ValueError, "one operation per edge"),
    (("none",) * 5 + ("conv_1x1",), ValueError, "unknown operation 'conv_1x1'"),
    ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", TypeError, "use from_string"),
    (42, TypeError, "an architecture is a tuple"),
])
def test_bad_architectures_are_refused(arch, error, message):
    with pytest.raises(error, match=message):
        check_architecture(arch)


def test_course_samplers_run_on_the_cell_space():
    history = minimize(lambda c: float(sum(op == "none" for op in to_architecture(c))), cell_space(),
                       RandomSampler(seed=0), 20)
    assert len(history) == 20 and history["value"].between(0, len(EDGES)).all()


def test_mutation_changes_exactly_one_edge_to_each_other_operation_alike():
    rng = np.random.default_rng(0)
    parent = ("conv_3x3", "none", "skip_connect", "avg_pool_3x3", "none", "conv_3x3")
    changes = Counter()
    for _ in range(3600):
        child = mutate(parent, rng)
        diff = [(k, child[k]) for k in range(len(EDGES)) if child[k] != parent[k]]
        assert len(diff) == 1
        changes[diff[0]] += 1
    assert len(changes) == len(EDGES) * (len(OPERATIONS) - 1)  # every edge, every other operation
    assert min(changes.values()) > 0.6 * 3600 / len(changes)  # about uniformly
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        mutate(parent, 0)


# -- deduplication ---------------------------------------------------------------------------
def test_canonical_forms_are_idempotent_and_every_architecture_has_one_in_the_table_set():
    unique = set(unique_architectures())
    assert all(is_canonical(arch) for arch in unique)
    assert {canonical(arch) for arch in ALL} == unique
    assert len(unique) < len(ALL) / 1.5  # deduplication is worth it
    assert canonical(("conv_3x3", "none", "conv_3x3", "none", "none", "none")) == ("none",) * 6


def _full_cell_output(arch, cell, x):
    """Every edge computed, dead ones too, with the canonical cell's weights where it has them."""
    nodes = [x]
    for j in range(1, N_NODES):
        total = torch.zeros_like(x)
        for i in range(j):
            op = arch[EDGES.index((j, i))]
            key = f"{j}_{i}"
            module = cell.edges[key] if key in cell.edges else make_op(op, x.shape[1]).eval()
            total = total + module(nodes[i])
        nodes.append(total)
    return nodes[-1]


def test_removed_edges_change_nothing_and_kept_edges_matter():
    rng = np.random.default_rng(1)
    torch.manual_seed(0)
    x = torch.randn(4, CHANNELS, 4, 4)
    for k in rng.choice(len(ALL), 40, replace=False):
        arch = ALL[k]
        cell = Cell(arch, CHANNELS).eval()
        with torch.no_grad():
            assert torch.allclose(cell(x), _full_cell_output(arch, cell, x), atol=1e-6), to_string(arch)
        for e, op in enumerate(cell.arch):  # dropping any kept edge changes the function
            if op != "none":
                pruned = list(cell.arch)
                pruned[e] = "none"
                assert canonical(pruned) != cell.arch


# -- network and training --------------------------------------------------------------------
def test_digits_splits_are_fixed_stratified_and_standardised():
    data = digits_splits()
    assert (len(data.y_train), len(data.y_valid), len(data.y_test)) == (1077, 360, 360)
    assert data.x_train.shape[1:] == (1, 8, 8) and data.x_train.dtype == torch.float32
    for y in (data.y_train, data.y_valid, data.y_test):
        assert torch.bincount(y, minlength=10).min() > 0.08 * len(y)
    assert abs(float(data.x_train.mean())) < 1e-5 and abs(float(data.x_train.std()) - 1) < 1e-3
    assert torch.equal(digits_splits().x_test, data.x_test)
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        digits_splits(-1)


def test_equivalent_architectures_build_the_same_network():
    arch = ("conv_3x3", "conv_3x3", "none", "none", "none", "skip_connect")  # edges into node 1, 2 dead
    torch.manual_seed(0)
    a = CellNetwork(arch)
    torch.manual_seed(0)
    b = CellNetwork(canonical(arch))
    assert count_parameters(a) == count_parameters(b)
    x = digits_splits().x_valid[:5]
    assert a(x).shape == (5, 10) and torch.equal(a(x), b(x))
    with pytest.raises(ValueError, match="n_cells must be a positive int"):
        CellNetwork(arch, n_cells=0)


def test_training_is_deterministic_and_records_every_budget():
    arch = ("skip_connect", "none", "avg_pool_3x3", "conv_3x3", "none", "skip_connect")
    first = train_network(arch, epochs=2, seed=3, record_at=(1, 2))
    again = train_network(arch, epochs=2, seed=3, record_at=(1, 2))
    assert first.budgets == (1, 2)
    assert (first.valid_accuracy, first.test_accuracy, first.params) == \
        (again.valid_accuracy, again.test_accuracy, again.params)
    assert first.train_seconds[0] < first.train_seconds[1]
    assert torch.get_num_threads() >= 1 and not torch.are_deterministic_algorithms_enabled()  # restored
    with pytest.raises(ValueError, match="no record at 3 epochs"):
        first.at(3)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"epochs": 0}, ValueError, "epochs must be a positive int"),
    ({"epochs": 3, "record_at": (1, 4)}, ValueError, r"record_at must hold ints in \[1, epochs=3\]"),
    ({"epochs": 3, "record_at": (3, 1)}, ValueError, "strictly increasing"),
    ({"epochs": 3, "seed": -2}, ValueError, "seed must be a non-negative int"),
    ({"epochs": 3, "batch_size": 0}, ValueError, "batch_size must be a positive int"),
])
def test_training_arguments_are_checked(kwargs, error, message):
    with pytest.raises(error, match=message):
        train_network(("none",) * 6, **{"record_at": None, **kwargs})


def test_training_needs_a_module_or_an_architecture():
    with pytest.raises(TypeError, match="torch.nn.Module or an architecture"):
        train_network(3, epochs=1, record_at=None)


# -- the committed table and the query API ---------------------------------------------------
@pytest.fixture(scope="module")
def bench():
    return load_benchmark()


def test_the_committed_table_is_complete_small_and_made_by_this_code(bench):
    assert DEFAULT_TABLE.stat().st_size < 5 * 2**20
    assert len(bench) == len(unique_architectures()) and bench.seeds == make_benchmark.SEEDS
    assert len(bench.table) == len(bench) * len(bench.seeds)
    assert bench.budgets == BUDGETS
    recorded = json.loads(DEFAULT_TABLE.with_suffix(".json").read_text())
    assert recorded["settings"] == make_benchmark.settings()  # not stale against the code
    assert list(bench.table.columns) == make_benchmark.columns()


def test_queries_accept_every_encoding_and_map_equivalent_cells_together(bench):
    arch = ("conv_3x3", "skip_connect", "conv_3x3", "none", "avg_pool_3x3", "conv_3x3")
    record = bench.query(arch, 9)
    assert bench.query(to_string(arch), 9) == bench.query(to_config(arch), 9) == query(arch, 9) == record
    assert record["arch"] == to_string(canonical(arch))
    dead_edge_changed = ("conv_3x3", "skip_connect", "conv_3x3", "none", "avg_pool_3x3", "conv_3x3")
    assert bench.query(canonical(dead_edge_changed)) == bench.query(dead_edge_changed)
    per_seed = [bench.query(arch, 9, seed) for seed in bench.seeds]
    for key in ("valid_accuracy", "test_accuracy", "train_seconds"):
        assert record[key] == pytest.approx(np.mean([r[key] for r in per_seed]))
    times = [bench.query(arch, b)["train_seconds"] for b in bench.budgets]
    assert times == sorted(times) and times[0] > 0
    assert 0 <= record["test_accuracy"] <= 1 and record["params"] > 0


def test_equivalent_cells_share_a_row_for_every_architecture(bench):
    means = bench.mean_accuracies("valid_accuracy")
    rng = np.random.default_rng(0)
    for k in rng.choice(len(ALL), 300, replace=False):
        assert bench.query(ALL[k])["valid_accuracy"] == means[to_string(canonical(ALL[k]))]


def test_best_and_median_architectures(bench):
    means = bench.mean_accuracies("test_accuracy")
    best = bench.best_architecture("test_accuracy")
    assert best["test_accuracy"] == pytest.approx(means.max())
    median = bench.median_architecture("test_accuracy")
    assert (means < median["test_accuracy"]).sum() <= len(means) // 2 <= (means <= median["test_accuracy"]).sum()
    assert best["test_accuracy"] > 0.95 and median["test_accuracy"] < best["test_accuracy"]
    assert bench.query(("none",) * 6)["test_accuracy"] < 0.2  # a cell that outputs zeros guesses


def test_a_search_of_a_thousand_queries_takes_milliseconds(bench):
    import time

    archs = [ALL[k] for k in np.random.default_rng(0).integers(len(ALL), size=1000)]
    began = time.perf_counter()
    for arch in archs:
        bench.query(arch, 9, 0)
    assert time.perf_counter() - began < 1.0


@pytest.mark.parametrize("args, error, message", [
    ((("none",) * 6, 4), ValueError, r"no record at epochs=4; the benchmark recorded budgets \[1, 3, 9\]"),
    ((("none",) * 6, 9, 7), ValueError, "unknown seed 7"),
    ((("none",) * 4, 9), ValueError, "one operation per edge"),
    (("|none~0|+|none~0|", 9), ValueError, "expected 3 groups"),
    ((12, 9), TypeError, "an architecture is a tuple"),
    (({"edge_1_0": "none"}, 9), ValueError, "is active but missing"),
])
def test_bad_queries_say_what_is_wrong(bench, args, error, message):
    with pytest.raises(error, match=message):
        bench.query(*args)


def test_a_partial_table_is_refused_unless_asked_and_then_missing_cells_raise(tmp_path, bench):
    partial = tmp_path / "partial.csv"
    bench.table.iloc[:30].to_csv(partial, index=False)
    with pytest.raises(ValueError, match="incomplete"):
        NASBenchmark(partial)
    small = NASBenchmark(partial, allow_partial=True)
    present = small.architectures()[0]
    assert small.query(present, 9, int(bench.table.iloc[0]["seed"]))["arch"] == to_string(present)
    missing = next(arch for arch in bench.architectures() if to_string(arch) not in set(small.table["arch"]))
    with pytest.raises(KeyError, match="not in the table"):
        small.query(missing)
    with pytest.raises(FileNotFoundError, match="generate it with"):
        NASBenchmark(tmp_path / "absent.csv")


# -- reproducing the table --------------------------------------------------------------------
def test_retraining_sampled_architectures_reproduces_the_table(bench):
    """Training is deterministic, so with the same libraries on the same CPU model (the table's
    recorded provenance) the accuracies repeat exactly.

    Elsewhere torch's kernels (its own vector code, MKL and oneDNN, each chosen by the CPU)
    round differently and SGD amplifies the last bits. Measured against the committed table
    (made on an AVX-512 machine) by retraining 150 of its rows here on AVX2, and 150 again
    with ``ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41 MKL_ENABLE_INSTRUCTIONS=SSE4_2``:
    the largest differences were 2 images of 360 after 1 epoch, 18 after 3 (mid-schedule, at a
    high learning rate) and 3 after 9. So elsewhere the 1- and 9-epoch accuracies must agree
    within 3 points (11 images, over three times the largest seen), which a change of data,
    recipe or network still breaks; the 3-epoch ones are not compared.
    """
    recorded = json.loads(DEFAULT_TABLE.with_suffix(".json").read_text())["provenance"]
    same_machine = recorded == make_benchmark.provenance()
    rows = bench.table.sample(2, random_state=np.random.default_rng(7).integers(2**31))
    for _, row in rows.iterrows():
        new = make_benchmark.train_row((row["arch"], int(row["seed"])))
        assert new["params"] == row["params"]
        for b in BUDGETS if same_machine else (BUDGETS[0], BUDGETS[-1]):
            for metric in ("valid_accuracy", "test_accuracy"):
                key = f"{metric}_{b}"
                if same_machine:
                    assert float(new[key]) == pytest.approx(row[key], abs=1e-6), (row["arch"], key)
                else:
                    assert abs(float(new[key]) - row[key]) <= 0.03, (row["arch"], key)


# -- the generator ----------------------------------------------------------------------------
def test_the_generator_resumes_drops_a_truncated_line_and_refuses_other_settings(tmp_path, capsys):
    out = tmp_path / "table.csv"
    assert make_benchmark.generate(out, workers=1, seeds=[0], limit=2, log=lambda line: None) == 2
    first = make_benchmark.read_rows(out)
    with open(out, "a") as handle:
        handle.write(first[0]["arch"] + ",1,28")  # an interrupted write: no newline
    assert make_benchmark.read_rows(out) == first
    assert make_benchmark.generate(out, workers=1, seeds=[0], limit=3, log=lambda line: None) == 1
    rows = make_benchmark.read_rows(out)
    assert rows[:2] == first and len(rows) == 3 and out.read_text().endswith("\n")
    assert len({row["arch"] for row in rows}) == 3 and all(is_canonical(from_string(r["arch"])) for r in rows)
    assert make_benchmark.generate(out, workers=1, seeds=[0], limit=3, log=lambda line: None) == 0
    meta = out.with_suffix(".json")
    changed = json.loads(meta.read_text())
    changed["settings"]["epochs"] = 200
    meta.write_text(json.dumps(changed))
    assert make_benchmark.main(["--out", str(out), "--workers", "1", "--limit", "3"]) == 2
    assert "other settings" in capsys.readouterr().err
    with pytest.raises(ValueError, match="seeds must be a non-empty subset"):
        make_benchmark.generate(tmp_path / "other.csv", seeds=[5])


# -- the search benchmark (benchmarks/nas.py) on a tiny budget --------------------------------
def test_tiny_search_benchmark_writes_table_csv_and_plot(tmp_path, capsys, bench):
    from benchmarks import nas

    assert nas.main(["--seeds", "2", "--trainings", "12", "--workers", "1", "--out", str(tmp_path), "--check"]) == 0
    report = (tmp_path / "results.md").read_text()
    for method in nas.METHODS:
        assert f"| {method} |" in report
    assert "beats random search on mean final validation regret" in report and "crashed" not in report
    assert "beats random search on mean final test regret" in report and "Floor:" in report
    assert (tmp_path / "regret_vs_time.png").stat().st_size > 1000
    assert "regularized_evolution" in capsys.readouterr().out
    data = pd.read_csv(tmp_path / "results.csv")
    assert list(data.columns) == nas.COLUMNS and set(data["seed"]) == {0, 1}
    budget = 12 * bench.mean_accuracies("train_seconds").mean()
    for (method, _), run in data.groupby(["method", "seed"]):
        assert list(run["step"]) == list(range(len(run)))
        np.testing.assert_allclose(run["time"], run["cost"].cumsum())
        assert run["time"].iloc[-1] >= budget and run["time"].iloc[-2] < budget  # stopped once spent
        for score in nas.REGRETS:
            assert (run[score] >= 0).all() and (run[score] <= nas.initial_regret(bench, score)).all()
        assert run["valid_regret"].iloc[-1] <= run["valid_regret"].iloc[0]
        assert set(run["epochs"]) <= set(bench.budgets)
        if method != "hyperband":
            assert (run["epochs"] == 9).all()
    hyperband = data[data["method"] == "hyperband"]
    assert set(hyperband["epochs"]) == {1, 3, 9}
