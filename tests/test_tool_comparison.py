"""The fair tool comparison (course.tools.comparison) and its benchmark (benchmarks/tools.py).

The failure tests run real tools and real processes: a budget too small for TPOT, a
target with NaN, unknown names, a hanging tool with helpers in another session whose
whole tree must be killed, and a cluster that cannot start (no Java on the PATH).
Runners used only here are module-level functions, so the fresh process of a cell can
import them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import psutil
import pytest

from benchmarks import tools as bench
from course.tools.comparison import (RESULT_COLUMNS, TOOLS, BudgetTooSmallError, ToolFailedError,
                                     ToolTimeoutError, compare, lines_of_code, load_split,
                                     plot_comparison, run_cell, run_h2o, run_mini_automl,
                                     run_optuna_sklearn, summarise)

PIDFILE = "COURSE_TEST_PIDFILE"


# ======================================================================================
# Runners for the tests (module-level: a spawned process imports them by name)
# ======================================================================================

def hang_with_helpers(X_train, y_train, X_test, task, budget_s, seed):
    """A tool that never answers, with a child in its own session (as H2O starts Java)."""
    helper = subprocess.Popen(["sleep", "300"], start_new_session=True)
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    with open(os.environ[PIDFILE], "w") as file:
        file.write(f"{os.getpid()} {helper.pid} {worker.pid}")
    time.sleep(300)


def _hold(megabytes: int) -> float:
    block = np.ones(megabytes * 2 ** 20 // 8)        # touched, so it is resident
    time.sleep(1.0)
    return float(block[0])


def allocate_400_mib(X_train, y_train, X_test, task, budget_s, seed):
    return np.zeros(len(X_test)) * _hold(400)


def allocate_800_mib(X_train, y_train, X_test, task, budget_s, seed):
    return np.zeros(len(X_test)) * _hold(800)


def allocate_400_mib_here_and_in_a_child(X_train, y_train, X_test, task, budget_s, seed):
    code = "import numpy as np, time; block = np.ones(400 * 2 ** 20 // 8); time.sleep(1.5)"
    child = subprocess.Popen([sys.executable, "-c", code])
    _hold(400)
    child.wait()
    return np.zeros(len(X_test))


def h2o_without_java(X_train, y_train, X_test, task, budget_s, seed):
    """H2O on a machine without Java: the cluster cannot start."""
    os.environ["PATH"] = "/nonexistent"
    os.environ["H2O_JAVA_HOME"] = "/nonexistent/java"
    os.environ.pop("JAVA_HOME", None)
    return run_h2o(X_train, y_train, X_test, task, budget_s, seed)


def returns_wrong_length(X_train, y_train, X_test, task, budget_s, seed):
    return np.zeros(3)


def _our_processes() -> set[tuple[int, float]]:
    """This test process's descendants, except multiprocessing's own resource tracker."""
    found = set()
    for process in psutil.Process().children(recursive=True):
        try:
            if "resource_tracker" not in " ".join(process.cmdline()):
                found.add((process.pid, process.create_time()))
        except psutil.Error:
            pass
    return found


@pytest.fixture
def no_process_left():
    """Fail the test if it leaves a process behind."""
    before = _our_processes()
    yield
    time.sleep(0.2)
    left = _our_processes() - before
    assert not left, f"processes left behind: {left}"


# ======================================================================================
# Measurements
# ======================================================================================

def _known(x):
    """A docstring

    over three lines."""
    # a comment, then a blank line

    def inner(y):
        '''Inner docstring.'''
        return y + 1          # a trailing comment does not make a line a comment
    total = inner(
        x,
    )
    text = """a string
that is not a docstring"""
    return total, text


def test_lines_of_code_counts_code_only():
    # def inner, return, total = inner( / x, / ), text = ... (2 lines), return -> 8
    assert lines_of_code(_known) == 8
    assert lines_of_code(allocate_400_mib) == 1
    with pytest.raises(TypeError, match="readable source"):
        lines_of_code(len)


def test_runner_line_counts_are_the_tool_code():
    counts = {name: lines_of_code(runner) for name, runner in TOOLS.items()}
    assert counts["mini_automl"] == 5                   # import, build, fit, predict
    assert all(5 <= n <= 40 for n in counts.values()), counts
    assert counts["optuna_sklearn"] > counts["mini_automl"]   # the model space is user code there


def test_peak_memory_of_a_process_and_of_its_children():
    task, X_train, X_test, y_train, _ = load_split("wine", 0)
    args = (X_train, y_train, X_test, task, 1.0, 0)
    # a big caller: a child forked from it must not report the caller's memory as its own
    caller_block = np.ones(1024 * 2 ** 20 // 8)
    # differences cancel what the interpreter and its imports hold
    small = run_cell(allocate_400_mib, *args, timeout_s=60)
    large = run_cell(allocate_800_mib, *args, timeout_s=60)
    tree = run_cell(allocate_400_mib_here_and_in_a_child, *args, timeout_s=60)
    assert [small["status"], large["status"], tree["status"]] == ["ok"] * 3, (large, tree)
    assert 360 < large["peak_memory_mb"] - small["peak_memory_mb"] < 440, (small, large)
    # the child's 400 MiB and its interpreter count too: the tree's peak, not the process's
    assert 380 < tree["peak_memory_mb"] - small["peak_memory_mb"] < 500, (small, tree)
    assert tree["n_processes"] == 2 and small["n_processes"] == 1
    assert small["seconds"] >= 1.0
    assert small["peak_memory_mb"] < 800 < caller_block.nbytes / 2 ** 20, small


# ======================================================================================
# Failures: clear messages, no process left
# ======================================================================================

def test_bad_names_and_budgets_are_refused_before_any_process(no_process_left):
    with pytest.raises(ValueError, match="unknown tool 'autosklearn'; choose from mini_automl"):
        compare(["mini_automl", "autosklearn"], ["wine"])
    with pytest.raises(ValueError, match="unknown dataset 'iris'; choose from breast_cancer"):
        compare(["mini_automl"], ["wine", "iris"])
    for budget in (0, -5, float("nan"), "10", True):
        with pytest.raises(ValueError, match="budget_s must be a positive number of seconds"):
            compare(["mini_automl"], ["wine"], budget_s=budget)
    with pytest.raises(ValueError, match="seeds must be"):
        compare(["mini_automl"], ["wine"], seeds=0)
    with pytest.raises(ValueError, match="on_error must be"):
        compare(["mini_automl"], ["wine"], on_error="ignore")
    with pytest.raises(ValueError, match="tools must be a non-empty list"):
        compare("mini_automl", ["wine"])


def test_missing_targets_are_named_and_counted(no_process_left):
    X, y = np.random.default_rng(0).normal(size=(50, 3)), np.arange(50.0)
    y[[3, 10, 20]] = np.nan
    with pytest.raises(ValueError, match="dataset 'sensors' has 3 missing targets"):
        compare(["mini_automl"], {"sensors": (X, y, "regression")}, budget_s=1)
    labels = pd.Series(["a", "b", None, "a"] * 10)
    with pytest.raises(ValueError, match="dataset 'labels' has 10 missing targets"):
        load_split(("labels", np.ones((40, 2)), labels, "classification"), seed=0)


def test_budget_too_small_for_tpot_raises_naming_tool_and_budget(no_process_left):
    start = time.perf_counter()
    with pytest.raises(BudgetTooSmallError, match=r"tpot on wine \(seed 0\) could not finish a single "
                                                  r"model within a budget of 0.2 s.*No individuals"):
        compare(["tpot"], ["wine"], seeds=1, budget_s=0.2)
    assert time.perf_counter() - start < 60          # an answer, not a hang


def test_budget_too_small_is_recorded_with_on_error_record(no_process_left):
    results = compare(["h2o"], ["wine"], seeds=1, budget_s=0.5, on_error="record")
    assert results["status"].tolist() == ["budget_too_small"]
    assert "max_runtime_secs >= 1" in results["error"].iloc[0]
    assert np.isnan(results["test_score"].iloc[0])
    assert "budget_too_small" in summarise(results)["failures"].iloc[0]


def test_a_cluster_that_cannot_start_gives_a_clear_message(no_process_left):
    with pytest.raises(ToolFailedError, match="(?s)h2o_without_java on wine.*ClusterStartError.*Java"):
        compare([h2o_without_java], ["wine"], seeds=1, budget_s=2)


def test_a_hanging_tool_is_killed_with_its_whole_tree(tmp_path, monkeypatch, no_process_left):
    pidfile = tmp_path / "pids"
    monkeypatch.setenv(PIDFILE, str(pidfile))
    start = time.perf_counter()
    with pytest.raises(ToolTimeoutError, match="hang_with_helpers on wine.*killed its process tree"):
        compare([hang_with_helpers], ["wine"], seeds=1, budget_s=0.5, grace_s=4)
    assert time.perf_counter() - start < 30
    pids = [int(p) for p in pidfile.read_text().split()]
    assert len(pids) == 3
    alive = [pid for pid in pids if psutil.pid_exists(pid)
             and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"still running after the timeout: {alive}"


def test_a_tool_returning_garbage_fails_clearly():
    results = compare([returns_wrong_length], ["wine"], seeds=1, budget_s=1, on_error="record")
    assert results["status"].tolist() == ["failed"]
    assert "returned 3 predictions for 45 test rows" in results["error"].iloc[0]


# ======================================================================================
# A real comparison
# ======================================================================================

def test_the_split_is_the_same_for_every_tool_and_differs_between_seeds():
    a = load_split("breast_cancer", 3)
    b = load_split("breast_cancer", 3)
    c = load_split("breast_cancer", 4)
    assert all(np.array_equal(x, y) for x, y in zip(a[1:], b[1:]))
    assert not np.array_equal(a[1], c[1])
    assert len(a[2]) == 143                         # 25 % of 569 rows, rounded up
    small = load_split("digits", 0, max_rows=300)
    assert len(small[1]) + len(small[2]) == 300


def test_a_real_small_comparison(no_process_left):
    results = compare(["mini_automl", "optuna_sklearn"], ["wine", "diabetes"], seeds=[0, 1],
                      budget_s=1.0)
    assert list(results.columns) == RESULT_COLUMNS
    assert len(results) == 8 and (results["status"] == "ok").all(), results["error"].tolist()
    wine = results[results["dataset"] == "wine"]
    diabetes = results[results["dataset"] == "diabetes"]
    assert (wine["test_score"] > 0.8).all() and (diabetes["test_score"] > 0.2).all()
    assert (results["seconds"] >= 1.0).all()        # each search used its budget
    assert (results["peak_memory_mb"] > 50).all()
    assert set(results.loc[results["tool"] == "optuna_sklearn", "lines_of_code"]) == \
        {lines_of_code(run_optuna_sklearn)}
    assert set(results.loc[results["tool"] == "mini_automl", "lines_of_code"]) == \
        {lines_of_code(run_mini_automl)}
    table = summarise(results)
    assert len(table) == 4 and (table["runs"] == "2/2").all()
    assert table["test score"].str.contains("±").all()
    figure = plot_comparison(results)
    assert len(figure.axes) == 3
    with pytest.raises(ValueError, match="results must be the DataFrame compare"):
        summarise(results.drop(columns="seconds"))


def test_benchmark_script_writes_table_csv_and_plot(tmp_path, capsys, no_process_left):
    status = bench.main(["--tools", "mini_automl", "--datasets", "wine", "--seeds", "1",
                         "--budget", "1", "--out", str(tmp_path)])
    assert status == 0
    out = capsys.readouterr().out
    assert "| wine | course MiniAutoML |" in out
    for name in ("results.md", "results.csv", "tools.png"):
        assert (tmp_path / name).is_file(), name
    saved = pd.read_csv(tmp_path / "results.csv")
    assert saved["status"].tolist() == ["ok"]


def test_benchmark_command_line():
    quick = bench.parse_args(["--quick"])
    full = bench.parse_args([])
    assert quick.budget < full.budget and full.seeds == 3 and len(full.datasets) >= 3
    assert "diabetes" in quick.datasets and set(quick.tools) == set(TOOLS)
    with pytest.raises(SystemExit):
        bench.parse_args(["--tools", "autosklearn"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--budget", "0"])
