import math

import numpy as np
import pandas as pd
import pytest

from benchmarks import multifidelity as bench

# R = 9 epochs, 4 random-search trials: a budget of 36 epochs per run
TINY = ["--seeds", "2", "--trials", "4", "--max-epochs", "9", "--workers", "1"]


def test_tiny_benchmark_writes_table_csv_and_plot(tmp_path, capsys):
    assert bench.main(TINY + ["--out", str(tmp_path), "--check"]) == 0
    ran, notes = bench.available_methods(list(bench.METHODS))
    assert "random" in ran and "optuna_hyperband" in ran
    assert len(ran) + len(notes) == len(bench.METHODS)   # a missing course module is a note

    report = (tmp_path / "results.md").read_text()
    for name in ran:
        assert report.count(bench.METHODS[name].label) >= 2    # in both tables
    assert "best @12" in report and "best @24" in report and "best @36" in report
    assert "epochs to target" in report and "Hyperband" in report
    assert (tmp_path / "best_error_vs_budget.png").stat().st_size > 1000
    assert not (tmp_path / "failures.csv").exists()
    assert "random search" in capsys.readouterr().out   # the report is printed too

    data = pd.read_csv(tmp_path / "results.csv")
    assert list(data.columns) == bench.COLUMNS
    assert set(data["method"]) == set(ran)
    assert set(data["seed"]) == {0, 1}
    assert ((data["value"] >= 0) & (data["value"] <= 1)).all()
    assert ((data["budget"] >= 1) & (data["budget"] <= 9)).all()
    for (method, _), run in data.groupby(["method", "seed"]):
        assert list(run["step"]) == list(range(len(run)))
        np.testing.assert_allclose(run["spent"], run["cost"].cumsum())
        assert run["spent"].iloc[-1] >= 36 - 1e-9                  # every method used its budget
        assert run["spent"].iloc[-1] < 36 + 9 * 4                  # and overshot by < one job per worker
        if method == "random":
            assert len(run) == 4 and (run["budget"] == 9).all()
        if method.startswith("optuna"):
            assert (run["cost"] == 1).all()                          # one row per epoch trained


def test_a_crashing_method_is_reported_and_fails_check(tmp_path, monkeypatch):
    def broken(seed, objective, settings):
        raise RuntimeError("boom")

    monkeypatch.setitem(bench.METHODS, "broken", bench.MethodSpec("broken", "broken", broken))
    argv = ["--seeds", "1", "--trials", "2", "--max-epochs", "3", "--workers", "1",
            "--methods", "random,broken", "--out", str(tmp_path)]
    assert bench.main(argv) == 0          # reported, not fatal, without --check
    failures = pd.read_csv(tmp_path / "failures.csv")
    assert list(failures["method"]) == ["broken"] and "boom" in failures["message"][0]
    assert "failed" in (tmp_path / "results.md").read_text()
    assert bench.main(argv + ["--check"]) == 1


def test_summary_helpers():
    spent = np.array([3.0, 6.0, 9.0])
    best = np.array([0.5, 0.2, 0.1])
    assert bench.best_at(spent, best, 2) == 1.0     # nothing finished yet: the worst error
    assert bench.best_at(spent, best, 6) == 0.2
    assert bench.budget_to_reach(spent, best, 0.2) == 6.0
    assert math.isinf(bench.budget_to_reach(spent, best, 0.05))
    assert bench.marks(1350) == [450, 900, 1350]
    run = pd.DataFrame({"step": [0, 1, 2], "budget": [1.0, 3.0, 3.0], "value": [0.3, 0.4, 0.2],
                        "spent": [1.0, 3.0, 6.0]})
    _, full, anywhere = bench.best_curves(run, 3)
    assert list(full) == [1.0, 0.4, 0.2] and list(anywhere) == [0.3, 0.3, 0.2]


def test_command_line_defaults_and_errors():
    quick = bench.parse_args(["--quick"])
    assert (quick.seeds, quick.trials) == (2, 12)
    assert quick.out == bench.DEFAULT_OUT / "quick"
    full = bench.parse_args([])
    assert (full.seeds, full.trials, full.max_epochs) == (10, 50, 27)
    assert full.methods == list(bench.METHODS)
    for argv in (["--methods", "nope"], ["--seeds", "0"], ["--max-epochs", "20"], ["--eta", "1"]):
        with pytest.raises(SystemExit):
            bench.parse_args(argv)


@pytest.mark.parametrize("method", ["random", "optuna_hyperband", "hyperband", "asha"])
def test_a_seed_replays_the_same_run(method):
    settings = bench.Settings(max_epochs=9, total_budget=27)
    first = bench.run_one((method, 3, settings))
    again = bench.run_one((method, 3, settings))
    assert first["error"] is None and again["error"] is None
    assert [(r["trial"], r["budget"], r["value"]) for r in first["rows"]] == \
        [(r["trial"], r["budget"], r["value"]) for r in again["rows"]]
