import pandas as pd
import pytest

from benchmarks import samplers as bench
from course.hpo.sampler import Sampler
from course.hpo.space import Float, SearchSpace

TINY = ["--seeds", "2", "--trials", "8", "--samplers", "random,optuna_tpe",
        "--objectives", "branin", "--workers", "1"]


def test_tiny_benchmark_writes_table_csv_and_plot(tmp_path, capsys):
    assert bench.main(TINY + ["--out", str(tmp_path), "--check"]) == 0
    table = (tmp_path / "results.md").read_text()
    assert "## branin" in table and "course random" in table and "Optuna TPE" in table
    assert "regret @2" in table and "regret @4" in table and "regret @8" in table
    assert (tmp_path / "regret_curves.png").stat().st_size > 1000
    assert not (tmp_path / "failures.csv").exists()

    data = pd.read_csv(tmp_path / "results.csv")
    assert len(data) == 2 * 2 * 8  # samplers x seeds x trials
    assert set(data["sampler"]) == {"random", "optuna_tpe"}
    assert set(data["seed"]) == {0, 1}
    assert set(data["objective"]) == {"branin"}
    assert {"value", "best_value", "regret", "objective_s", "sampler_s", "params"} <= set(data.columns)
    for _, run in data.groupby(["sampler", "seed"]):
        assert list(run["trial"]) == list(range(8))
        assert run["best_value"].is_monotonic_decreasing
        assert (run["regret"] >= 0).all()
        assert (run["best_value"] <= run["value"]).all()
    assert (data[["objective_s", "sampler_s"]] >= 0).all().all()
    assert "course random" in capsys.readouterr().out  # the table is printed too


class _Broken(Sampler):
    def ask(self, space, history):
        return {"x1": 1e9, "x2": 0.0}  # outside the space


def test_check_fails_when_a_sampler_proposes_invalid_configurations(tmp_path, monkeypatch):
    monkeypatch.setitem(bench.SAMPLERS, "broken",
                        bench.SamplerSpec("broken", "broken", lambda seed, space, n: _Broken()))
    argv = ["--seeds", "1", "--trials", "3", "--samplers", "random,broken",
            "--objectives", "branin", "--workers", "1", "--out", str(tmp_path)]
    assert bench.main(argv) == 0  # a failure is reported, not fatal, without --check
    failures = pd.read_csv(tmp_path / "failures.csv")
    assert list(failures["kind"]) == ["invalid"]
    assert bench.main(argv + ["--check"]) == 1
    assert "failed" in (tmp_path / "results.md").read_text()


def test_bad_command_lines_are_rejected():
    for argv in (["--samplers", "nope"], ["--objectives", "rosenbrock"], ["--seeds", "0"]):
        with pytest.raises(SystemExit):
            bench.parse_args(argv)


def test_quick_mode_defaults():
    args = bench.parse_args(["--quick"])
    assert (args.seeds, args.trials) == (3, 30)
    assert args.out == bench.DEFAULT_OUT / "quick"
    full = bench.parse_args([])
    assert (full.seeds, full.trials) == (20, 100)
    assert full.samplers == list(bench.SAMPLERS)


def test_checkpoints_and_grid_size():
    assert bench.checkpoints(100) == [25, 50, 100]
    assert bench.checkpoints(30) == [8, 15, 30]
    space = SearchSpace([Float("a", 0, 1), Float("b", 0, 1)])
    assert bench.grid_points_for(space, 100) == 10
    assert bench.grid_points_for(space, 99) == 9
