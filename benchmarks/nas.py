"""Benchmark NAS search strategies on the course's tabular benchmark (:mod:`course.nas.benchmark`).

Four strategies search the 4,096 cells of :mod:`course.nas.cell_space` (2,128 distinct
functions), each on ``--seeds`` seeds, for the same *simulated* time budget:

* random search (:class:`course.hpo.RandomSampler`), every cell trained for 9 epochs;
* regularised evolution (:class:`course.nas.RegularizedEvolution`, Real et al. 2019,
  population ``P``, tournament sample ``S``), 9 epochs;
* the course's TPE (:class:`course.hpo.TPESampler`, multivariate, on the 6 categorical
  edges), 9 epochs;
* the course's Hyperband (:class:`course.hpo.Hyperband`, budgets 1, 3, 9 epochs, the
  benchmark's recorded budgets, ``eta = 3``; its brackets repeat until the time is spent).

Simulating a training run: evaluating a cell draws one of the benchmark's 3 training
seeds at random (from the run's own generator) and returns that run's *validation*
accuracy at the budget; it costs that run's recorded training time (CPU seconds up to
the budget). A Hyperband trial keeps its seed when promoted, and a promotion costs only
the extra epochs' seconds. Simulated time is summed over the evaluations (one worker).

Scores, in accuracy points, of the *incumbent*: the cell with the best validation accuracy
observed so far *at 9 epochs* (Hyperband's lower budgets only guide its promotions).

* **validation regret** ``max_a mean_valid(a) - mean_valid(incumbent)``: how well the
  search optimised what it sees (means over the 3 seeds, at 9 epochs). The main score:
  regularised evolution should beat random search on its mean.
* **test regret** ``max_a mean_test(a) - mean_test(incumbent)``: what a learner would get
  on held-out data. It has a floor: the cell with the best mean validation accuracy is
  about a point below the best test accuracy (360 images each; the top cells are within
  noise of each other), and no search that only sees validation accuracies can beat that
  except by luck. ``results.md`` prints the floor.

Before a first 9-epoch evaluation, a regret is that of the worst cell. The search never
sees a test accuracy.

Usage (from the repository root)::

    python -m benchmarks.nas               # 30 seeds, 200 trainings' time -> benchmarks/results/nas/
    python -m benchmarks.nas --quick       # CI size (< 60 s) -> benchmarks/results/quick/nas/
    python -m benchmarks.nas --quick --check   # exit 1 if any run crashed

Outputs, in ``--out``: ``results.md`` (for both regrets, the mean and median at a quarter,
half and all of the budget, the number of evaluations, and whether regularised evolution
beats random search on the mean final regret), ``results.csv`` (one row per evaluation)
and ``regret_vs_time.png`` (mean regrets against simulated time, with standard errors).

References
----------
E. Real, A. Aggarwal, Y. Huang and Q. V. Le, "Regularized evolution for image classifier
architecture search", AAAI 2019. X. Dong and Y. Yang, "NAS-Bench-201", ICLR 2020
(section 5: the same four families of search on a tabular benchmark, simulated time).
L. Li et al., "Hyperband", JMLR 18 (2018). J. Bergstra et al., "Algorithms for
hyper-parameter optimization", NeurIPS 2011 (TPE).
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.arguments import exit_status
from benchmarks.parallel import limit_threads, run_tasks
from course.hpo import Hyperband, RandomSampler, SearchExhausted, TPESampler, Trial
from course.hpo.sampler import Sampler, checked_proposal
from course.hpo.scheduler import run_schedule
from course.nas.benchmark import NASBenchmark, load_benchmark
from course.nas.cell_space import cell_space, to_architecture
from course.nas.regularized_evolution import RegularizedEvolution

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "benchmarks" / "results" / "nas"
QUICK_OUT = REPO / "benchmarks" / "results" / "quick" / "nas"
FULL = {"seeds": 30, "trainings": 200}
QUICK = {"seeds": 4, "trainings": 60}
METHODS = ("random", "regularized_evolution", "tpe", "hyperband")
#: Regularised evolution's population and tournament sizes (Real et al. 2019 use P=100, S=25
#: on a far larger space; these suit a few hundred evaluations of 2,128 distinct cells).
POPULATION, SAMPLE = 20, 5
COLUMNS = ["method", "seed", "step", "arch", "epochs", "valid_accuracy", "cost", "time", "valid_regret", "regret"]
#: The scores: column of results.csv -> what it is.
REGRETS = {"valid_regret": "validation regret", "regret": "test regret"}


class SimulatedTraining:
    """Evaluate cells by looking them up: one random training seed per run, cost = its seconds."""

    def __init__(self, bench: NASBenchmark, seed: int) -> None:
        self.bench = bench
        self.rng = np.random.default_rng([seed, 2019])  # the noise of training, apart from the searcher
        self.valid = bench.mean_accuracies("valid_accuracy")
        self.test = bench.mean_accuracies("test_accuracy")
        self.elapsed = 0.0
        self.rows: list[dict[str, Any]] = []
        self._incumbent = (-np.inf, str(self.valid.idxmin()), str(self.test.idxmin()))  # (observed, for each score)

    def train(self, config: dict[str, Any], epochs: int, run_seed: int | None = None,
              from_epochs: int | None = None) -> tuple[float, int]:
        """Validation accuracy after ``epochs`` (continuing from ``from_epochs``); returns it and the seed."""
        arch = to_architecture(config)
        seed = int(self.bench.seeds[self.rng.integers(len(self.bench.seeds))]) if run_seed is None else run_seed
        record = self.bench.query(arch, epochs, seed)
        cost = record["train_seconds"]
        if from_epochs is not None:
            cost -= self.bench.query(arch, from_epochs, seed)["train_seconds"]
        self.elapsed += cost
        if epochs == self.bench.budgets[-1] and record["valid_accuracy"] > self._incumbent[0]:
            self._incumbent = (record["valid_accuracy"], record["arch"], record["arch"])
        _, for_valid, for_test = self._incumbent
        self.rows.append({"step": len(self.rows), "arch": record["arch"], "epochs": epochs,
                          "valid_accuracy": record["valid_accuracy"], "cost": cost, "time": self.elapsed,
                          "valid_regret": 100 * (self.valid.max() - self.valid[for_valid]),
                          "regret": 100 * (self.test.max() - self.test[for_test])})
        return record["valid_accuracy"], seed


def run_sampler(sampler: Sampler, training: SimulatedTraining, time_budget: float) -> None:
    """Ask, train for the full budget, tell, until the simulated time is spent."""
    space, history = cell_space(), []
    epochs = training.bench.budgets[-1]
    while training.elapsed < time_budget:
        config = checked_proposal(sampler, space, history)
        accuracy, _ = training.train(config, epochs)
        trial = Trial(len(history), config, 1.0 - accuracy)  # minimise the validation error
        history.append(trial)
        sampler.tell(trial)


def run_hyperband(seed: int, training: SimulatedTraining, time_budget: float) -> None:
    """Hyperband on the recorded budgets; a checkpoint is (training seed, epochs reached)."""
    budgets = training.bench.budgets

    def objective(config: dict[str, Any], budget: float, checkpoint: Any) -> tuple[float, Any]:
        if training.elapsed >= time_budget:
            raise SearchExhausted  # the time is spent: end the run here
        run_seed, reached = checkpoint if checkpoint is not None else (None, None)
        accuracy, run_seed = training.train(config, int(budget), run_seed, reached)
        return 1.0 - accuracy, (run_seed, int(budget))

    scheduler = Hyperband(cell_space(), max_budget=budgets[-1], eta=3, min_budget=budgets[0], seed=seed,
                          n_iterations=None)
    try:
        run_schedule(objective, scheduler, stateful=True)
    except SearchExhausted:
        pass


def make_sampler(method: str, seed: int) -> Sampler:
    if method == "random":
        return RandomSampler(seed=seed)
    if method == "regularized_evolution":
        return RegularizedEvolution(POPULATION, SAMPLE, seed=seed)
    if method == "tpe":
        return TPESampler(seed=seed)
    raise ValueError(f"unknown method {method!r}; choose from {list(METHODS)}")


def run_one(task: tuple[str, int, float, str | None]) -> dict[str, Any]:
    """One method on one seed (a module-level function, so worker processes can run it)."""
    method, seed, time_budget, table = task
    began = time.perf_counter()
    try:
        training = SimulatedTraining(load_benchmark(table), seed)
        if method == "hyperband":
            run_hyperband(seed, training, time_budget)
        else:
            run_sampler(make_sampler(method, seed), training, time_budget)
        rows = [{"method": method, "seed": seed, **row} for row in training.rows]
        error = None
    except Exception as err:
        rows, error = [], (type(err).__name__, str(err), traceback.format_exc())
    return {"method": method, "seed": seed, "rows": rows, "seconds": time.perf_counter() - began,
            "error": error}


def _metric(score: str) -> str:
    return {"valid_regret": "valid_accuracy", "regret": "test_accuracy"}[score]


def initial_regret(bench: NASBenchmark, score: str = "regret") -> float:
    """A regret (``"valid_regret"`` or ``"regret"``) before any 9-epoch evaluation: the worst cell's."""
    means = bench.mean_accuracies(_metric(score))
    return 100 * float(means.max() - means.min())


def regret_floor(bench: NASBenchmark) -> float:
    """The test regret of the cell with the best mean validation accuracy."""
    valid, test = bench.mean_accuracies("valid_accuracy"), bench.mean_accuracies("test_accuracy")
    return 100 * float(test.max() - test[valid.idxmax()])


def regret_at(data: pd.DataFrame, times: np.ndarray, initial: float, score: str = "regret") -> pd.DataFrame:
    """A regret of every (method, seed) run at each of ``times``: its value after the last
    evaluation that ended by then, ``initial`` before the first."""
    out = []
    for (method, seed), run in data.groupby(["method", "seed"], sort=False):
        ends, regrets = run["time"].to_numpy(), run[score].to_numpy()
        index = np.searchsorted(ends, times, side="right") - 1
        values = np.where(index >= 0, regrets[np.maximum(index, 0)], initial)
        out.append(pd.DataFrame({"method": method, "seed": seed, "time": times, "regret": values}))
    return pd.concat(out, ignore_index=True)


def _regret_table(data: pd.DataFrame, bench: NASBenchmark, checkpoints: np.ndarray,
                  score: str) -> tuple[list[str], dict[str, pd.Series]]:
    """Markdown rows of one regret for every method, and each method's final regrets."""
    at = regret_at(data, checkpoints, initial_regret(bench, score), score)
    lines = [f"| method | mean {REGRETS[score]} at 25% | at 50% | at 100% | median at 100% | evaluations (mean) |",
             "|---|---|---|---|---|---|"]
    final = {}
    for method in [m for m in METHODS if m in set(data["method"])]:
        cells = []
        for t in checkpoints:
            r = at[(at["method"] == method) & np.isclose(at["time"], t)]["regret"]
            cells.append(f"{r.mean():.2f} ({r.std(ddof=1) / np.sqrt(len(r)):.2f})" if len(r) > 1 else f"{r.mean():.2f}")
            final[method] = r
        runs = data[data["method"] == method].groupby("seed").size()
        lines.append(f"| {method} | {' | '.join(cells)} | {final[method].median():.2f} | {runs.mean():.0f} |")
    return lines, final


def markdown(data: pd.DataFrame, bench: NASBenchmark, time_budget: float, sizes: dict[str, Any],
             failures: Sequence[str], seconds: float) -> tuple[str, bool]:
    """The report; also whether regularised evolution beats random search on mean final validation regret."""
    checkpoints = np.array([0.25, 0.5, 1.0]) * time_budget
    best = bench.best_architecture("test_accuracy")
    where = bench.path.relative_to(REPO) if bench.path.is_relative_to(REPO) else bench.path
    lines = [
        "# NAS search strategies on the course's tabular benchmark",
        "",
        f"{len(bench)} distinct cells (4,096 architectures), 3 training seeds, budgets {list(bench.budgets)} epochs "
        f"(table `{where}`). Best mean test accuracy {100 * best['test_accuracy']:.2f}% (`{best['arch']}`); "
        f"best mean validation accuracy {100 * bench.best_architecture('valid_accuracy')['valid_accuracy']:.2f}%.",
        "",
        f"{sizes['seeds']} seeds per method; each run has a simulated time budget of {time_budget:.1f} s (the mean "
        f"9-epoch training time times {sizes['trainings']}). An evaluation returns the validation accuracy of one "
        "of the 3 recorded training runs, drawn at random. The incumbent is the cell with the best validation "
        "accuracy observed at 9 epochs; its regrets are in accuracy points (mean over seeds, standard error in "
        "brackets).",
        "",
    ]
    verdicts = {}
    for score in REGRETS:
        rows, final = _regret_table(data, bench, checkpoints, score)
        lines += [f"## {REGRETS[score].capitalize()}", ""] + rows + [""]
        if score == "regret":
            lines += [f"Floor: the cell with the best mean validation accuracy has a test regret of "
                      f"{regret_floor(bench):.2f} points; a search that sees only validation accuracies "
                      "cannot be expected to go below it.", ""]
        if "random" in final and "regularized_evolution" in final:
            re_mean, rs_mean = final["regularized_evolution"].mean(), final["random"].mean()
            verdicts[score] = re_mean < rs_mean
            gap_se = np.sqrt(final["regularized_evolution"].var(ddof=1) / len(final["regularized_evolution"])
                             + final["random"].var(ddof=1) / len(final["random"]))
            lines += [f"Regularised evolution beats random search on mean final {REGRETS[score]}: "
                      f"**{'yes' if verdicts[score] else 'no'}** ({re_mean:.2f} against {rs_mean:.2f} points, "
                      f"difference {rs_mean - re_mean:.2f} ± {gap_se:.2f} s.e.; P={POPULATION}, S={SAMPLE}).", ""]
    lines += [f"Wall time of the whole benchmark: {seconds:.0f} s."]
    if failures:
        lines += ["", f"**{len(failures)} run(s) crashed:**", ""] + [f"- {f.splitlines()[0]}" for f in failures]
    return "\n".join(lines) + "\n", verdicts.get("valid_regret", False)


def plot(data: pd.DataFrame, bench: NASBenchmark, time_budget: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = np.geomspace(time_budget / 100, time_budget, 200)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, score in zip(axes, REGRETS):
        at = regret_at(data, times, initial_regret(bench, score), score)
        lowest = np.inf
        for method in [m for m in METHODS if m in set(at["method"])]:
            grid = at[at["method"] == method].pivot(index="time", columns="seed", values="regret")
            mean, se = grid.mean(axis=1), grid.std(axis=1, ddof=1) / np.sqrt(grid.shape[1])
            lowest = min(lowest, float((mean - se).min()))
            ax.plot(grid.index, mean, label=method.replace("_", " "))
            ax.fill_between(grid.index, mean - se, mean + se, alpha=0.2)
        if score == "regret":
            ax.axhline(regret_floor(bench), color="grey", linestyle="--", label="floor: best validation cell")
        ax.set_xscale("log")
        # the first evaluations start tens of points above; the search happens below 10
        ax.set_ylim(max(lowest, 0.05) * 0.8, 10)
        ax.set_xlabel("simulated training time (CPU seconds)")
        ax.set_ylabel(f"{REGRETS[score]} of the incumbent (accuracy points)")
        ax.set_yscale("log")
        ax.set_title(f"{REGRETS[score].capitalize()}: mean over {data['seed'].nunique()} seeds (± s.e.)")
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nas", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI size (< 60 s); output in benchmarks/results/quick/nas/")
    parser.add_argument("--out", type=Path, help="output folder (default benchmarks/results/nas/)")
    parser.add_argument("--seeds", type=int, help="seeds per method (default 30; quick 4)")
    parser.add_argument("--trainings", type=int, help="time budget in mean 9-epoch trainings (default 200; quick 60)")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated subset of {','.join(METHODS)}")
    parser.add_argument("--table", type=Path, help="benchmark table (default: the committed one)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--check", action="store_true", help="exit 1 if any run crashed")
    args = parser.parse_args(argv)
    sizes = dict(QUICK if args.quick else FULL)
    for key in ("seeds", "trainings"):
        if getattr(args, key) is not None:
            if getattr(args, key) < 1:
                parser.error(f"--{key} must be a positive int")
            sizes[key] = getattr(args, key)
    args.sizes = sizes
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(args.methods) - set(METHODS))
    if unknown or not args.methods:
        parser.error(f"unknown method(s) {unknown}; choose from {','.join(METHODS)}")
    if args.out is None:
        args.out = QUICK_OUT if args.quick else DEFAULT_OUT
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.perf_counter()
    limit_threads()
    table = None if args.table is None else str(args.table)
    bench = load_benchmark(table)
    time_budget = args.sizes["trainings"] * float(bench.mean_accuracies("train_seconds").mean())
    tasks = [(method, seed, time_budget, table) for method in args.methods for seed in range(args.sizes["seeds"])]
    results = run_tasks(run_one, tasks, args.workers, lambda r: f"{r['method']} seed {r['seed']}")
    failures = [f"{r['method']} seed {r['seed']}: {r['error'][0]}: {r['error'][1]}\n{r['error'][2]}"
                for r in results if r["error"]]
    results.sort(key=lambda r: (METHODS.index(r["method"]), r["seed"]))
    data = pd.DataFrame([row for r in results for row in r["rows"]], columns=COLUMNS)
    args.out.mkdir(parents=True, exist_ok=True)
    data.to_csv(args.out / "results.csv", index=False)
    text, _ = markdown(data, bench, time_budget, args.sizes, failures, time.perf_counter() - began)
    if len(data):
        plot(data, bench, time_budget, args.out / "regret_vs_time.png")
    (args.out / "results.md").write_text(text)
    print(text)
    for failure in failures:
        print(failure, file=sys.stderr)
    return exit_status(args.check, len(failures), "run(s) crashed")


if __name__ == "__main__":
    sys.exit(main())
