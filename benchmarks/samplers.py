"""Benchmark every sampler on every objective: regret against budget, and cost.

Each (sampler, objective, seed) run is one call of :func:`course.hpo.loop.minimize`,
so the course's samplers and the wrapped Optuna and Hyperopt samplers meet under
exactly the same loop. A run's *regret* after ``t`` trials is the best value found
in its first ``t`` trials minus the objective's optimum (``Objective.regret``).

Usage (from the repository root)::

    python -m benchmarks.samplers                 # 20 seeds x 100 trials -> benchmarks/results/
    python -m benchmarks.samplers --quick         # 3 seeds x 30 trials -> benchmarks/results/quick/
    python -m benchmarks.samplers --quick --check # as CI: exit 1 if a sampler crashed
    python -m benchmarks.samplers --samplers random,optuna_tpe --objectives branin --seeds 5

Outputs, in ``--out``:

* ``results.md``: per objective and sampler, the median and interquartile range
  of the final regret, the median regret at a quarter, half and all of the budget,
  the median time per trial (sampler + objective) and the sampler's share of it;
* ``results.csv``: one row per sampler, objective, seed and trial;
* ``regret_curves.png``: median best-so-far regret with its interquartile band
  against the trial number, one panel per objective;
* ``failures.csv``: the runs that crashed (only when some did).

Sampler overhead is measured around ``ask`` and ``tell``; the objective's time is
``Trial.seconds``. Runs are spread over ``--workers`` processes (default: 2, the
cores of the course machines), each limited to one BLAS/torch thread so that two
workers do not fight over the same cores.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.arguments import exit_status, fill_sizes, names_among, positive_int
from benchmarks.parallel import run_tasks
from course.hpo.objectives import OBJECTIVES, Objective
from course.hpo.sampler import Sampler, Trial
from course.hpo.space import SearchSpace

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "benchmarks" / "results"
QUICK = {"seeds": 3, "trials": 30}
FULL = {"seeds": 20, "trials": 100}


# ======================================================================================
# The samplers under test
# ======================================================================================

@dataclass(frozen=True)
class SamplerSpec:
    """How to build one benchmarked sampler for a run.

    ``make(seed, space, n_trials)`` returns a fresh sampler; ``module`` is the course
    module it needs (checked before the run, so a missing one is skipped).
    """

    name: str
    label: str
    make: Callable[[int, SearchSpace, int], Sampler]
    module: str | None = None
    cost: int = 1  # relative cost, to start the slow runs first


def _course_random(seed, space, n_trials):
    from course.hpo.random_search import RandomSampler
    return RandomSampler(seed=seed)


def grid_points_for(space: SearchSpace, n_trials: int) -> int:
    """The most points per dimension whose grid still fits in ``n_trials`` trials."""
    from course.hpo.grid import grid_configurations

    points = 1
    while points < 1000 and len(grid_configurations(space, points + 1)) <= n_trials:
        points += 1
    return points


def _course_grid(seed, space, n_trials):
    from course.hpo.grid import GridSampler
    # shuffled, so that a budget cut short of the grid does not favour its first rows
    return GridSampler(grid_points_for(space, n_trials), shuffle=True, seed=seed)


def _course_tpe(multivariate):
    def make(seed, space, n_trials):
        from course.hpo.tpe import TPESampler
        return TPESampler(multivariate=multivariate, seed=seed)
    return make


def _course_gp(seed, space, n_trials):
    from course.hpo.gp import GPSampler
    return GPSampler(seed=seed)


def _optuna(kind):
    def make(seed, space, n_trials):
        from course.hpo.adapters import OptunaSampler
        return OptunaSampler(kind, seed=seed)
    return make


def _hyperopt(seed, space, n_trials):
    from course.hpo.adapters import HyperoptTPESampler
    return HyperoptTPESampler(seed=seed)


SAMPLERS: dict[str, SamplerSpec] = {spec.name: spec for spec in [
    SamplerSpec("random", "course random", _course_random),
    SamplerSpec("grid", "course grid (shuffled)", _course_grid),
    SamplerSpec("tpe", "course TPE (multivariate)", _course_tpe(True), "course.hpo.tpe", 2),
    SamplerSpec("tpe_univariate", "course TPE (univariate)", _course_tpe(False), "course.hpo.tpe", 2),
    SamplerSpec("gp", "course GP-BO", _course_gp, "course.hpo.gp", 10),
    SamplerSpec("optuna_random", "Optuna random", _optuna("random")),
    SamplerSpec("optuna_tpe", "Optuna TPE", _optuna("tpe"), None, 2),
    SamplerSpec("optuna_gp", "Optuna GP", _optuna("gp"), None, 10),
    SamplerSpec("optuna_cmaes", "Optuna CMA-ES", _optuna("cmaes"), None, 2),
    SamplerSpec("hyperopt_tpe", "Hyperopt TPE", _hyperopt, None, 2),
]}


def available_samplers(names: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split ``names`` into the samplers that can run and notes on those that cannot."""
    ready, notes = [], []
    for name in names:
        spec = SAMPLERS[name]
        if spec.module is not None:
            try:
                module = importlib.import_module(spec.module)
            except ImportError as err:
                notes.append(f"skipping {name}: {spec.module} is not available ({err})")
                continue
            if name == "tpe_univariate" and "multivariate" not in inspect.signature(
                    module.TPESampler).parameters:
                notes.append(f"skipping {name}: course TPESampler has no `multivariate` option")
                continue
        ready.append(name)
    return ready, notes


# ======================================================================================
# One run
# ======================================================================================

class _Timed(Sampler):
    """Delegates to a sampler and adds up the wall time of its ask and tell calls."""

    def __init__(self, inner: Sampler) -> None:
        self.inner = inner
        self.seconds: list[float] = []

    def ask(self, space, history):
        start = time.perf_counter()
        try:
            return self.inner.ask(space, history)
        finally:
            self.seconds.append(time.perf_counter() - start)

    def tell(self, trial: Trial) -> None:
        start = time.perf_counter()
        try:
            self.inner.tell(trial)
        finally:
            self.seconds[trial.number] += time.perf_counter() - start


_OBJECTIVE_CACHE: dict[str, Objective] = {}


def _objective(name: str) -> Objective:
    if name not in _OBJECTIVE_CACHE:  # the SVM task loads and splits its data once per process
        _OBJECTIVE_CACHE[name] = OBJECTIVES[name]()
    return _OBJECTIVE_CACHE[name]


def run_one(task: tuple[str, str, int, int]) -> dict[str, Any]:
    """Run one sampler on one objective for one seed; never raises.

    Returns a dict with ``rows`` (one per trial) and ``error`` (``None``, or the
    kind and message of a failure: ``"invalid"`` for a configuration outside the
    space, ``"crash"`` for anything else).
    """
    from course.hpo.loop import minimize

    sampler_name, objective_name, seed, n_trials = task
    result: dict[str, Any] = {"sampler": sampler_name, "objective": objective_name, "seed": seed,
                              "rows": [], "error": None, "seconds": 0.0}
    start = time.perf_counter()
    try:
        objective = _objective(objective_name)
        sampler = _Timed(SAMPLERS[sampler_name].make(seed, objective.space, n_trials))
        history = minimize(objective, objective.space, sampler, n_trials, progress=False)
    except Exception as err:  # a benchmark reports a broken sampler, it does not stop
        kind = "invalid" if "invalid configuration" in str(err) else "crash"
        result["error"] = (kind, f"{type(err).__name__}: {err}",
                           "".join(traceback.format_exception(err))[-2000:])
        result["seconds"] = time.perf_counter() - start
        return result
    best = np.minimum.accumulate(history["value"].to_numpy())
    for i, row in enumerate(history.itertuples(index=False)):
        result["rows"].append({
            "sampler": sampler_name, "objective": objective_name, "seed": seed,
            "trial": int(row.trial), "value": float(row.value), "best_value": float(best[i]),
            "regret": float(objective.regret(best[i])),
            "objective_s": float(row.time), "sampler_s": float(sampler.seconds[i]),
            "params": json.dumps(row.params, sort_keys=True, default=str),
        })
    result["seconds"] = time.perf_counter() - start
    return result


def run_all(tasks: list[tuple[str, str, int, int]], workers: int,
            log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Run the tasks, over ``workers`` processes (in this process when 1)."""
    return run_tasks(run_one, tasks, workers, log=log, describe=lambda r: (
        f"{r['sampler']:>15} {r['objective']:<11} seed {r['seed']:<3}"))


# ======================================================================================
# Summaries
# ======================================================================================

def checkpoints(n_trials: int) -> list[int]:
    """A quarter, half and all of the budget: 25/50/100 for 100 trials."""
    return sorted({max(1, round(n_trials * f)) for f in (0.25, 0.5, 1.0)})


def regret_matrix(frame: pd.DataFrame, n_trials: int) -> np.ndarray:
    """Best-so-far regret, shape (runs, n_trials), one row per seed.

    A run that stopped early (a grid smaller than the budget) keeps its last
    best-so-far value for the remaining trials.
    """
    rows = []
    for _, run in frame.groupby("seed", sort=True):
        regret = run.sort_values("trial")["regret"].to_numpy()
        rows.append(np.concatenate([regret, np.full(n_trials - len(regret), regret[-1])])
                    if len(regret) < n_trials else regret[:n_trials])
    return np.array(rows)


def _fmt(x: float) -> str:
    if not np.isfinite(x):
        return "n/a"
    if x == 0:
        return "0"
    return f"{x:.2e}" if abs(x) < 1e-2 or abs(x) >= 1e3 else f"{x:.3f}"


def summarise(data: pd.DataFrame, failures: list[dict[str, Any]], samplers: list[str],
              objectives: list[str], n_trials: int) -> pd.DataFrame:
    """One row per (objective, sampler): the figures of the markdown table."""
    marks = checkpoints(n_trials)
    failed = pd.Series([(f["objective"], f["sampler"]) for f in failures], dtype=object).value_counts()
    records = []
    for objective in objectives:
        for sampler in samplers:
            frame = data[(data["objective"] == objective) & (data["sampler"] == sampler)]
            record: dict[str, Any] = {"objective": objective, "sampler": sampler,
                                      "runs": frame["seed"].nunique(),
                                      "failed": int(failed.get((objective, sampler), 0))}
            if len(frame):
                regret = regret_matrix(frame, n_trials)
                final = regret[:, -1]
                record["final_median"] = float(np.median(final))
                record["final_q25"], record["final_q75"] = map(float, np.percentile(final, [25, 75]))
                for t in marks:
                    record[f"at_{t}"] = float(np.median(regret[:, t - 1]))
                record["trial_s"] = float(np.median(frame["objective_s"] + frame["sampler_s"]))
                record["sampler_s"] = float(np.median(frame["sampler_s"]))
                record["trials_run"] = int(frame.groupby("seed").size().median())
            records.append(record)
    return pd.DataFrame.from_records(records)


def markdown_table(summary: pd.DataFrame, n_seeds: int, n_trials: int,
                   notes: Sequence[str] = ()) -> str:
    marks = checkpoints(n_trials)
    lines = [f"# Sampler benchmark: {n_seeds} seeds x {n_trials} trials", "",
             "Regret = best value so far - the objective's optimum (lower is better). "
             "Final regret: median [interquartile range] over seeds. "
             "Time per trial: median over all trials, sampler (ask + tell) + objective; "
             "sampler alone in the last column.", ""]
    for objective, table in summary.groupby("objective", sort=False):
        estimate = _objective(objective)
        lines.append(f"## {objective}")
        lines.append("")
        lines.append(f"Optimum {estimate.optimum:.6g} ({estimate.optimum_note})."
                     + (" The optimum is an estimate, so a regret can be slightly negative."
                        if estimate.optimum_is_estimate else ""))
        lines.append("")
        header = (["sampler", "runs", "final regret [IQR]"] + [f"regret @{t}" for t in marks]
                  + ["s/trial", "sampler s/trial"])
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
        for record in table.to_dict("records"):
            label = SAMPLERS[record["sampler"]].label
            runs = f"{record['runs']}" + (f" ({record['failed']} failed)" if record["failed"] else "")
            if record["runs"] == 0:
                lines.append("| " + " | ".join([label, runs] + ["n/a"] * (len(header) - 2)) + " |")
                continue
            if record["sampler"] == "grid" and record["trials_run"] < n_trials:
                label += f" ({record['trials_run']} points)"
            cells = [label, runs,
                     f"{_fmt(record['final_median'])} [{_fmt(record['final_q25'])}, {_fmt(record['final_q75'])}]"]
            cells += [_fmt(record[f"at_{t}"]) for t in marks]
            cells += [f"{record['trial_s'] * 1e3:.1f} ms", f"{record['sampler_s'] * 1e3:.1f} ms"]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    if notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in notes] + [""]
    return "\n".join(lines)


def plot_curves(data: pd.DataFrame, samplers: list[str], objectives: list[str],
                n_trials: int, path: Path) -> None:
    """Median best-so-far regret with an interquartile band, log-y, one panel per objective."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(objectives), figsize=(5.2 * len(objectives), 4.2), squeeze=False)
    colours = plt.get_cmap("tab10")
    styles = {"course": "-", "optuna": "--", "hyperopt": ":"}
    trials = np.arange(1, n_trials + 1)
    for ax, objective in zip(axes[0], objectives):
        frame = data[data["objective"] == objective]
        positive = frame["regret"][frame["regret"] > 0]
        # a log axis cannot show 0 (found the optimum) or a negative regret (beat an estimate)
        floor = max(float(positive.min()) / 2, 1e-12) if len(positive) else 1e-12
        for k, sampler in enumerate(samplers):
            runs = frame[frame["sampler"] == sampler]
            if not len(runs):
                continue
            regret = np.maximum(regret_matrix(runs, n_trials), floor)
            low, median, high = np.percentile(regret, [25, 50, 75], axis=0)
            family = sampler.split("_")[0] if sampler.startswith(("optuna", "hyperopt")) else "course"
            ax.plot(trials, median, styles[family], color=colours(k % 10), lw=1.6,
                    label=SAMPLERS[sampler].label)
            ax.fill_between(trials, low, high, color=colours(k % 10), alpha=0.12, lw=0)
        ax.set_yscale("log")
        ax.set_title(objective)
        ax.set_xlabel("trial")
        ax.set_ylabel(f"best-so-far regret (<= 0 drawn at {floor:.1e})")
        ax.grid(True, which="major", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    for ax in axes[0][1:]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=min(5, max(1, len(labels))), frameon=False)
    fig.tight_layout(rect=(0, 0.08 + 0.04 * (len(labels) > 5), 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ======================================================================================
# Command line
# ======================================================================================

def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.samplers",
        description="Benchmark the course's samplers against Optuna's and Hyperopt's.")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK['seeds']} seeds x {QUICK['trials']} trials (CI); "
                             "output in benchmarks/results/quick/")
    parser.add_argument("--seeds", type=positive_int, help=f"seeds per run (default {FULL['seeds']})")
    parser.add_argument("--trials", type=positive_int, help=f"trials per run (default {FULL['trials']})")
    parser.add_argument("--samplers", type=names_among("sampler", SAMPLERS), default=list(SAMPLERS),
                        help="comma-separated subset of: " + ", ".join(SAMPLERS))
    parser.add_argument("--objectives", type=names_among("objective", OBJECTIVES),
                        default=list(OBJECTIVES),
                        help="comma-separated subset of: " + ", ".join(OBJECTIVES))
    parser.add_argument("--out", type=Path, help="output folder (default benchmarks/results/)")
    parser.add_argument("--workers", type=positive_int, default=min(2, os.cpu_count() or 1),
                        help="parallel processes (default: 2, or 1 on one core)")
    parser.add_argument("--check", action="store_true",
                        help="exit with status 1 if any sampler crashed or proposed an invalid "
                             "configuration (not a performance check)")
    args = parser.parse_args(argv)
    return fill_sizes(args, QUICK, FULL, DEFAULT_OUT / "quick", DEFAULT_OUT)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns the exit status (1 only for ``--check`` failures)."""
    args = parse_args(argv)
    start = time.perf_counter()
    samplers, notes = available_samplers(args.samplers)
    for note in notes:
        print(note)
    tasks = [(s, o, seed, args.trials) for o in args.objectives for s in samplers
             for seed in range(args.seeds)]
    tasks.sort(key=lambda task: -SAMPLERS[task[0]].cost)  # slow runs first balance the workers
    print(f"{len(tasks)} runs: {len(samplers)} samplers x {len(args.objectives)} objectives x "
          f"{args.seeds} seeds, {args.trials} trials each, {args.workers} worker(s)")
    results = run_all(tasks, args.workers)

    rows = [row for result in results for row in result["rows"]]
    columns = ["sampler", "objective", "seed", "trial", "value", "best_value", "regret",
               "objective_s", "sampler_s", "params"]
    data = pd.DataFrame.from_records(rows, columns=columns)
    data = data.sort_values(["objective", "sampler", "seed", "trial"], kind="stable")
    failures = [{"sampler": r["sampler"], "objective": r["objective"], "seed": r["seed"],
                 "kind": r["error"][0], "message": r["error"][1], "traceback": r["error"][2]}
                for r in results if r["error"]]

    args.out.mkdir(parents=True, exist_ok=True)
    data.to_csv(args.out / "results.csv", index=False)
    if failures:
        pd.DataFrame(failures).to_csv(args.out / "failures.csv", index=False)
    elif (args.out / "failures.csv").exists():
        (args.out / "failures.csv").unlink()  # from an earlier run
    summary = summarise(data, failures, samplers, args.objectives, args.trials)
    wall = time.perf_counter() - start
    notes = notes + [f"{f['sampler']} on {f['objective']} (seed {f['seed']}) failed: {f['message'][:300]}"
                     for f in failures]
    notes.append(f"wall time {wall:.0f} s with {args.workers} worker(s); command: "
                 f"python -m benchmarks.samplers {' '.join(argv if argv is not None else sys.argv[1:])}")
    table = markdown_table(summary, args.seeds, args.trials, notes)
    (args.out / "results.md").write_text(table + "\n")
    if len(data):
        plot_curves(data, samplers, args.objectives, args.trials, args.out / "regret_curves.png")
    print()
    print(table)
    print(f"results in {args.out}")
    return exit_status(args.check, len(failures), "run(s) crashed or proposed invalid configurations")


if __name__ == "__main__":
    sys.exit(main())
