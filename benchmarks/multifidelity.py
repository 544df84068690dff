"""Benchmark the multi-fidelity methods on a real learning-curve objective.

Every method tunes the same five hyperparameters of a small neural network on the
digits data (:mod:`course.hpo.learning_curves`, ``R = 27`` epochs by default) with the
same total budget, counted in *epochs trained*:

* random search: every configuration trained for the full ``R`` epochs; its
  ``--trials`` trials fix the total budget ``B = trials * R`` of every method;
* the course's successive halving (restarted with a new seed when a bracket is done),
  Hyperband, BOHB and ASHA (on ``--asha-workers`` simulated workers), each run by
  :func:`course.hpo.scheduler.run_schedule` with ``max_total_budget = B``;
* Optuna's ``SuccessiveHalvingPruner`` and ``HyperbandPruner`` with a TPE sampler: a
  study that trains each trial epoch by epoch, calls ``trial.report`` and
  ``trial.should_prune`` after every epoch, and stops once ``B`` epochs were trained.
  Its budget is the epochs actually run before a trial was pruned.

All methods use the objective's cache: a continued run is charged only its extra
epochs, exactly as :func:`~course.hpo.scheduler.run_schedule` charges it.

The score of a run after ``b`` epochs is the *best validation error of a model
trained for the full R epochs* within its first ``b`` epochs of budget (the
incumbent of Hyperband and BOHB papers; a run with no such model yet scores 1.0).
A second, looser score counts every evaluated model, at any budget (for Optuna:
every reported epoch).

Usage (from the repository root)::

    python -m benchmarks.multifidelity            # 10 seeds, 50 trials -> benchmarks/results/multifidelity/
    python -m benchmarks.multifidelity --quick    # 2 seeds, 12 trials (CI) -> .../multifidelity/quick/
    python -m benchmarks.multifidelity --quick --check   # exit 1 if a method crashed
    python -m benchmarks.multifidelity --methods random,hyperband,bohb --seeds 20

Outputs, in ``--out``:

* ``results.md``: per method, the median [interquartile range] of the best error at
  1/3, 2/3 and all of random search's budget; the budget each method needs to reach
  random search's final median error, and its ratio to random search's budget;
  whether Hyperband and BOHB reach it with at most a third of it;
* ``results.csv``: one row per evaluation (a scheduler's job; one epoch of an
  Optuna trial): method, seed, step, trial, budget, cost, spent, value;
* ``best_error_vs_budget.png``: median best error (and interquartile band) against
  the budget spent, for both scores;
* ``failures.csv``: the runs that crashed (only when some did).

References
----------
L. Li, K. Jamieson, G. DeSalvo, A. Rostamizadeh and A. Talwalkar, "Hyperband: a novel
bandit-based approach to hyperparameter optimization", JMLR 18 (2018).
S. Falkner, A. Klein and F. Hutter, "BOHB: robust and efficient hyperparameter
optimization at scale", ICML 2018.
L. Li et al., "A system for massively parallel hyperparameter tuning", MLSys 2020 (ASHA).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import math
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

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "benchmarks" / "results" / "multifidelity"
QUICK = {"seeds": 2, "trials": 12}
FULL = {"seeds": 10, "trials": 50}
#: Hyperband and BOHB should reach random search's final median error with this share of its budget.
TARGET_FRACTION = 1 / 3
COLUMNS = ["method", "seed", "step", "trial", "budget", "cost", "spent", "value"]


# ======================================================================================
# The methods under test
# ======================================================================================

@dataclass(frozen=True)
class Settings:
    """What every run of one benchmark shares."""

    max_epochs: int = 27
    eta: int = 3
    total_budget: int = 27 * 50
    asha_workers: int = 4


@dataclass(frozen=True)
class MethodSpec:
    """One benchmarked method: ``run(seed, objective, settings) -> rows``.

    ``module`` is the course module it needs (checked before the benchmark starts, so
    a missing one is skipped with a note); ``cost`` orders the runs, slow ones first.
    """

    name: str
    label: str
    run: Callable[[int, Any, Settings], list[dict[str, Any]]]
    module: str | None = None
    cost: int = 1


def _rows_from_log(log: pd.DataFrame, trial_offset: int = 0) -> list[dict[str, Any]]:
    return [{"trial": int(job.trial) + trial_offset, "budget": float(job.budget),
             "cost": float(job.cost), "value": float(job.value)}
            for job in log.itertuples(index=False)]


def _run_random(seed: int, objective, settings: Settings) -> list[dict[str, Any]]:
    from course.hpo.random_search import RandomSampler
    from course.hpo.sampler import Trial

    sampler, history, rows = RandomSampler(seed=seed), [], []
    for trial in range(settings.total_budget // settings.max_epochs):
        config = sampler.ask(objective.space, history)
        value = objective(config, settings.max_epochs)
        history.append(Trial(trial, config, value))
        rows.append({"trial": trial, "budget": float(settings.max_epochs),
                     "cost": float(settings.max_epochs), "value": value})
    return rows


def _run_scheduler(make: Callable[[int], Any], objective, settings: Settings,
                   n_workers: int = 1) -> list[dict[str, Any]]:
    """Run schedulers until the budget is spent; a finished one is replaced by a fresh one.

    ``make(k)`` builds the ``k``-th scheduler (a new seed each time). Schedulers that
    can run forever (Hyperband, BOHB and ASHA here) are built once.
    """
    from course.hpo.scheduler import run_schedule

    rows: list[dict[str, Any]] = []
    spent, offset, restart = 0.0, 0, 0
    while spent < settings.total_budget:
        log = run_schedule(objective, make(restart), n_workers=n_workers,
                           max_total_budget=settings.total_budget - spent)
        if not len(log):
            break
        rows += _rows_from_log(log, offset)
        spent += float(log["cost"].sum())
        offset += int(log["trial"].max()) + 1
        restart += 1
    return rows


def _forever(cls) -> dict[str, Any]:
    """``n_iterations=None`` (run until the budget is spent) where the scheduler has it."""
    return {"n_iterations": None} if "n_iterations" in inspect.signature(cls).parameters else {}


def _restart_seed(seed: int, k: int) -> int:
    return seed if k == 0 else int(np.random.SeedSequence([seed, k]).generate_state(1)[0])


def _run_sh(seed, objective, settings):
    from course.hpo.successive_halving import SuccessiveHalving
    return _run_scheduler(lambda k: SuccessiveHalving(
        objective.space, objective.min_budget, settings.max_epochs, eta=settings.eta,
        seed=_restart_seed(seed, k)), objective, settings)


def _run_hyperband(seed, objective, settings):
    from course.hpo.hyperband import Hyperband
    return _run_scheduler(lambda k: Hyperband(
        objective.space, settings.max_epochs, eta=settings.eta, min_budget=objective.min_budget,
        seed=_restart_seed(seed, k), **_forever(Hyperband)), objective, settings)


def _run_bohb(seed, objective, settings):
    from course.hpo.bohb import BOHB
    return _run_scheduler(lambda k: BOHB(
        objective.space, settings.max_epochs, eta=settings.eta, min_budget=objective.min_budget,
        seed=_restart_seed(seed, k), **_forever(BOHB)), objective, settings)


def _run_asha(seed, objective, settings):
    from course.hpo.asha import ASHA
    return _run_scheduler(lambda k: ASHA(
        objective.space, objective.min_budget, settings.max_epochs, eta=settings.eta,
        seed=_restart_seed(seed, k)), objective, settings, n_workers=settings.asha_workers)


def _suggest(trial, space) -> dict[str, Any]:
    """The course's search space, asked of an Optuna trial one parameter at a time."""
    from course.hpo.space import Categorical, Float, Int

    config: dict[str, Any] = {}
    for param in space:
        if not param.is_active(config):
            continue
        if isinstance(param, Float):
            value = trial.suggest_float(param.name, param.low, param.high, log=param.log)
            config[param.name] = min(max(float(value), param.low), param.high)
        elif isinstance(param, Int):
            config[param.name] = int(trial.suggest_int(param.name, param.low, param.high, log=param.log))
        elif isinstance(param, Categorical):
            # Optuna's choices must be plain scalars; positions always are
            index = trial.suggest_categorical(param.name, list(range(len(param.choices))))
            config[param.name] = param.choices[index]
    return config


def _optuna(pruner_name: str):
    def run(seed, objective, settings):
        import optuna
        from optuna.trial import TrialState

        if pruner_name == "sha":
            pruner = optuna.pruners.SuccessiveHalvingPruner(
                min_resource=objective.min_budget, reduction_factor=settings.eta,
                min_early_stopping_rate=0)
        else:
            pruner = optuna.pruners.HyperbandPruner(
                min_resource=objective.min_budget, max_resource=settings.max_epochs,
                reduction_factor=settings.eta)
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)   # no line per trial
        try:
            # HyperbandPruner picks a trial's bracket from a hash of the study's name, which
            # Optuna would draw at random: a fixed name makes the run reproducible
            study = optuna.create_study(direction="minimize", pruner=pruner,
                                        study_name=f"{pruner_name}-seed{seed}",
                                        sampler=optuna.samplers.TPESampler(seed=seed))
            rows: list[dict[str, Any]] = []
            spent = 0
            while spent < settings.total_budget:
                trial = study.ask()
                config = _suggest(trial, objective.space)
                state, value = TrialState.COMPLETE, math.nan
                for epoch in range(1, settings.max_epochs + 1):
                    value = objective(config, epoch)   # continues the cached run: one more epoch
                    spent += 1
                    rows.append({"trial": trial.number, "budget": float(epoch), "cost": 1.0,
                                 "value": value})
                    trial.report(value, epoch)
                    if epoch < settings.max_epochs and (trial.should_prune()
                                                        or spent >= settings.total_budget):
                        state = TrialState.PRUNED
                        break
                study.tell(trial, value if state == TrialState.COMPLETE else None, state=state)
        finally:
            optuna.logging.set_verbosity(verbosity)
        return rows
    return run


METHODS: dict[str, MethodSpec] = {spec.name: spec for spec in [
    MethodSpec("random", "random search (full budget)", _run_random, "course.hpo.random_search"),
    MethodSpec("sh", "course successive halving", _run_sh, "course.hpo.successive_halving"),
    MethodSpec("hyperband", "course Hyperband", _run_hyperband, "course.hpo.hyperband"),
    MethodSpec("bohb", "course BOHB", _run_bohb, "course.hpo.bohb", 3),
    MethodSpec("asha", "course ASHA", _run_asha, "course.hpo.asha"),
    MethodSpec("optuna_sha", "Optuna TPE + SuccessiveHalvingPruner", _optuna("sha"), None, 3),
    MethodSpec("optuna_hyperband", "Optuna TPE + HyperbandPruner", _optuna("hyperband"), None, 3),
]}


def available_methods(names: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split ``names`` into the methods that can run and notes on those that cannot."""
    ready, notes = [], []
    for name in names:
        module = METHODS[name].module
        if module is not None:
            try:
                importlib.import_module(module)
            except ImportError as err:
                notes.append(f"skipping {name}: {module} is not available ({err})")
                continue
        ready.append(name)
    return ready, notes


# ======================================================================================
# Running
# ======================================================================================

_OBJECTIVES: dict[int, Any] = {}


def _objective(max_epochs: int):
    """One objective (and cache) per process and ``R``: runs of all methods share it."""
    if max_epochs not in _OBJECTIVES:
        from course.hpo.learning_curves import mlp_digits
        _OBJECTIVES[max_epochs] = mlp_digits(max_epochs)
    return _OBJECTIVES[max_epochs]


def run_one(task: tuple[str, int, Settings]) -> dict[str, Any]:
    """Run one method for one seed; never raises (a crash is reported in ``error``)."""
    name, seed, settings = task
    result: dict[str, Any] = {"method": name, "seed": seed, "rows": [], "error": None,
                              "seconds": 0.0}
    start = time.perf_counter()
    try:
        rows = METHODS[name].run(seed, _objective(settings.max_epochs), settings)
    except Exception as err:  # a benchmark reports a broken method, it does not stop
        result["error"] = (f"{type(err).__name__}: {err}", "".join(traceback.format_exception(err))[-2000:])
        rows = []
    spent = 0.0
    for step, row in enumerate(rows):
        spent += row["cost"]
        result["rows"].append({"method": name, "seed": seed, "step": step, **row, "spent": spent})
    result["seconds"] = time.perf_counter() - start
    return result


def run_all(tasks: list[tuple[str, int, Settings]], workers: int,
            log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Run the tasks over ``workers`` processes (in this process when 1)."""
    return run_tasks(run_one, tasks, workers, log=log,
                     describe=lambda r: f"{r['method']:>16} seed {r['seed']:<3}")


# ======================================================================================
# Summaries
# ======================================================================================

def best_curves(run: pd.DataFrame, max_epochs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``spent`` after each evaluation and the best errors so far (full budget; any budget).

    Before the first model trained for ``max_epochs`` the full-budget score is 1.0,
    the worst possible error.
    """
    run = run.sort_values("step")
    values = run["value"].to_numpy(dtype=float)
    full = np.where(np.isclose(run["budget"].to_numpy(dtype=float), max_epochs), values, 1.0)
    return (run["spent"].to_numpy(dtype=float), np.minimum.accumulate(full),
            np.minimum.accumulate(values))


def best_at(spent: np.ndarray, best: np.ndarray, budget: float) -> float:
    """The best value among the evaluations that finished within ``budget``."""
    k = int(np.searchsorted(spent, budget + 1e-9, side="right"))
    return float(best[k - 1]) if k else 1.0


def budget_to_reach(spent: np.ndarray, best: np.ndarray, target: float) -> float:
    """The budget after which the best value is <= ``target`` (inf if never)."""
    hit = np.flatnonzero(best <= target + 1e-12)
    return float(spent[hit[0]]) if len(hit) else math.inf


def marks(total_budget: int) -> list[int]:
    """A third, two thirds and all of the budget."""
    return [int(round(total_budget * f)) for f in (1 / 3, 2 / 3, 1.0)]


def summarise(data: pd.DataFrame, methods: list[str], failures: list[dict[str, Any]],
              settings: Settings) -> tuple[pd.DataFrame, dict[str, float]]:
    """One row per method (the table's figures) and the targets (random search's final medians)."""
    R, B = settings.max_epochs, settings.total_budget
    curves = {(m, s): best_curves(run, R) for (m, s), run in data.groupby(["method", "seed"])}
    targets = {}
    for score, index in (("full", 1), ("any", 2)):
        finals = [best_at(c[0], c[index], B) for (m, _), c in curves.items() if m == "random"]
        targets[score] = float(np.median(finals)) if finals else math.nan
    records = []
    for method in methods:
        runs = [c for (m, _), c in curves.items() if m == method]
        record: dict[str, Any] = {"method": method, "runs": len(runs),
                                  "failed": sum(f["method"] == method for f in failures)}
        if runs:
            for score, index in (("full", 1), ("any", 2)):
                for mark in marks(B):
                    at = [best_at(c[0], c[index], mark) for c in runs]
                    record[f"{score}_{mark}_median"] = float(np.median(at))
                    record[f"{score}_{mark}_q25"], record[f"{score}_{mark}_q75"] = map(
                        float, np.percentile(at, [25, 75]))
                needed = np.array([budget_to_reach(c[0], c[index], targets[score]) for c in runs])
                reached = needed[np.isfinite(needed)]
                record[f"{score}_reached"] = len(reached)
                # the median run: inf (not reached) when half the runs or more never got there
                record[f"{score}_budget_to_target"] = float(np.median(needed))
            frame = data[data["method"] == method]
            record["configs"] = float(frame.groupby("seed")["trial"].nunique().median())
            record["epochs"] = float(frame.groupby("seed")["cost"].sum().median())
        records.append(record)
    return pd.DataFrame.from_records(records), targets


def _err(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:.4f}"


def _budget_cells(record: dict[str, Any], score: str, B: int) -> list[str]:
    needed = record[f"{score}_budget_to_target"]
    reached = f"{record[f'{score}_reached']}/{record['runs']}"
    if not np.isfinite(needed):
        return [f"not reached ({reached})", "> 1"]
    return [f"{needed:.0f} ({reached})", f"{needed / B:.2f}"]


def target_verdicts(summary: pd.DataFrame, settings: Settings) -> list[str]:
    """Whether Hyperband and BOHB reach random search's final median with <= 1/3 of its budget."""
    lines = []
    B = settings.total_budget
    for method in ("hyperband", "bohb"):
        row = summary[summary["method"] == method]
        if not len(row) or not row.iloc[0]["runs"]:
            lines.append(f"- {METHODS[method].label}: not run.")
            continue
        needed = float(row.iloc[0]["full_budget_to_target"])
        met = needed <= TARGET_FRACTION * B + 1e-9
        shown = "not within the budget" if not np.isfinite(needed) else \
            f"after {needed:.0f} epochs = {needed / B:.2f} of random search's {B}"
        lines.append(f"- {METHODS[method].label}, median run: reaches it {shown}; target "
                     f"{'MET' if met else 'NOT met'}.")
    return lines


def markdown_report(summary: pd.DataFrame, targets: dict[str, float], settings: Settings,
                    n_seeds: int, notes: Sequence[str] = ()) -> str:
    from course.hpo.learning_curves import mlp_digits

    R, B = settings.max_epochs, settings.total_budget
    objective = mlp_digits(R)
    estimate = objective.best_value_estimate
    ms = marks(B)
    lines = [f"# Multi-fidelity benchmark: MLP on digits, R = {R} epochs, eta = {settings.eta}, "
             f"{n_seeds} seeds", "",
             f"Total budget per run: B = {B} epochs ({B // R} random-search trials of {R} epochs). "
             f"Budget = epochs trained (continuing a run costs only the extra epochs; Optuna: "
             f"epochs run before pruning). ASHA runs on {settings.asha_workers} simulated workers, "
             f"the others on one. Figures: median [interquartile range] over seeds. One "
             f"validation image is {1 / objective.n_validation:.4f} of error "
             f"({objective.n_validation} validation images).", ""]
    if estimate is not None:
        lines += [f"Best reachable validation error, estimated by a long random + local search: "
                  f"{estimate:.4f} (`course.hpo.learning_curves.MLP_DIGITS_BEST`).", ""]
    for score, title, explanation in (
            ("full", "Best error of a model trained for the full budget",
             "The incumbent: best validation error among models trained for all R epochs "
             "(1.0 before the first one)."),
            ("any", "Best error of any evaluated model",
             "Best validation error among all evaluations, at any budget (Optuna: every "
             "reported epoch; the schedulers: each job's final epoch only).")):
        target = targets[score]
        lines += [f"## {title}", "", explanation + f" Target: random search's final median, "
                  f"{_err(target)}. 'epochs to target': median over seeds of the budget "
                  "after which a run is at or below it (how many runs got there).", ""]
        header = (["method", "runs"] + [f"best @{m} ({m / B:.2f} B)" for m in ms]
                  + ["epochs to target", "/ B"])
        if score == "full":
            header += ["configs tried"]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
        for record in summary.to_dict("records"):
            label = METHODS[record["method"]].label
            runs = f"{record['runs']}" + (f" ({record['failed']} failed)" if record["failed"] else "")
            if not record["runs"]:
                lines.append("| " + " | ".join([label, runs] + ["n/a"] * (len(header) - 2)) + " |")
                continue
            cells = [label, runs]
            cells += [f"{_err(record[f'{score}_{m}_median'])} [{_err(record[f'{score}_{m}_q25'])}, "
                      f"{_err(record[f'{score}_{m}_q75'])}]" for m in ms]
            cells += _budget_cells(record, score, B)
            if score == "full":
                cells.append(f"{record['configs']:.0f}")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += [f"## Target: Hyperband and BOHB reach random search's final median error "
              f"({_err(targets['full'])}, full-budget score) with at most 1/3 of its budget", ""]
    lines += target_verdicts(summary, settings) + [""]
    if notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in notes] + [""]
    return "\n".join(lines)


def plot_curves(data: pd.DataFrame, methods: list[str], settings: Settings,
                targets: dict[str, float], path: Path) -> None:
    """Median best error (log scale) with an interquartile band against the budget spent."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    R, B = settings.max_epochs, settings.total_budget
    grid = np.linspace(1, B, 300)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True)
    colours = plt.get_cmap("tab10")
    lowest = float(data["value"].min()) if len(data) else 0.01
    for ax, (score, index, title) in zip(axes, (("full", 1, "model trained for all R epochs"),
                                                ("any", 2, "any evaluated model"))):
        for k, method in enumerate(methods):
            runs = [best_curves(run, R) for _, run in data[data["method"] == method].groupby("seed")]
            if not runs:
                continue
            best = np.array([[best_at(c[0], c[index], b) for b in grid] for c in runs])
            low, median, high = np.percentile(best, [25, 50, 75], axis=0)
            style = "--" if method.startswith("optuna") else "-"
            ax.plot(grid, median, style, color=colours(k % 10), lw=1.6, label=METHODS[method].label)
            ax.fill_between(grid, low, high, color=colours(k % 10), alpha=0.12, lw=0)
        if np.isfinite(targets[score]):
            ax.axhline(targets[score], color="grey", lw=0.8, ls=":")
        ax.axvline(TARGET_FRACTION * B, color="grey", lw=0.8, ls=":")
        ax.set_yscale("log")
        ax.set_title(f"best validation error: {title}", fontsize=10)
        ax.set_xlabel("total budget spent (epochs)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("validation error (median, IQR band)")
    if np.isfinite(targets["full"]) and targets["full"] > 0:
        # zoom on the race near the target; 1.0 ("no model yet") and chance are off the chart
        axes[0].set_ylim(0.9 * min(lowest, targets["full"]), min(1.05, 4 * targets["full"]))
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ======================================================================================
# Command line
# ======================================================================================

def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.multifidelity",
        description="Random search, successive halving, Hyperband, BOHB, ASHA and Optuna's "
                    "pruners on a learning-curve objective, at equal budgets.")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK['seeds']} seeds, {QUICK['trials']} random-search trials (CI); "
                             "output in benchmarks/results/multifidelity/quick/")
    parser.add_argument("--seeds", type=positive_int, help=f"seeds per method (default {FULL['seeds']})")
    parser.add_argument("--trials", type=positive_int,
                        help=f"random-search trials; they set every method's budget to trials * R "
                             f"(default {FULL['trials']})")
    parser.add_argument("--max-epochs", type=positive_int, default=27,
                        help="R, the full budget in epochs; a power of eta (default 27)")
    parser.add_argument("--eta", type=positive_int, default=3, help="reduction factor (default 3)")
    parser.add_argument("--asha-workers", type=positive_int, default=4,
                        help="simulated workers of ASHA (default 4)")
    parser.add_argument("--methods", type=names_among("method", METHODS), default=list(METHODS),
                        help="comma-separated subset of: " + ", ".join(METHODS))
    parser.add_argument("--out", type=Path, help="output folder (default benchmarks/results/multifidelity/)")
    parser.add_argument("--workers", type=positive_int, default=min(2, os.cpu_count() or 1),
                        help="parallel processes (default: 2, or 1 on one core)")
    parser.add_argument("--check", action="store_true",
                        help="exit with status 1 if any method crashed (not a performance check)")
    args = parser.parse_args(argv)
    fill_sizes(args, QUICK, FULL, DEFAULT_OUT / "quick", DEFAULT_OUT)
    if args.eta < 2:
        parser.error(f"--eta must be >= 2, got {args.eta}")
    power = round(math.log(args.max_epochs, args.eta))
    if args.eta ** power != args.max_epochs:
        parser.error(f"--max-epochs must be a power of eta={args.eta} (so that every rung is a "
                     f"whole number of epochs), got {args.max_epochs}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns the exit status (1 only for ``--check`` failures)."""
    args = parse_args(argv)
    start = time.perf_counter()
    settings = Settings(max_epochs=args.max_epochs, eta=args.eta,
                        total_budget=args.trials * args.max_epochs, asha_workers=args.asha_workers)
    methods, notes = available_methods(args.methods)
    for note in notes:
        print(note)
    tasks = [(m, seed, settings) for m in methods for seed in range(args.seeds)]
    tasks.sort(key=lambda task: -METHODS[task[0]].cost)   # slow runs first balance the workers
    print(f"{len(tasks)} runs: {len(methods)} methods x {args.seeds} seeds, budget "
          f"{settings.total_budget} epochs each (R = {settings.max_epochs}), {args.workers} worker(s)")
    results = run_all(tasks, args.workers)

    data = pd.DataFrame.from_records([row for r in results for row in r["rows"]], columns=COLUMNS)
    data = data.sort_values(["method", "seed", "step"], kind="stable")
    failures = [{"method": r["method"], "seed": r["seed"], "message": r["error"][0],
                 "traceback": r["error"][1]} for r in results if r["error"]]
    args.out.mkdir(parents=True, exist_ok=True)
    data.to_csv(args.out / "results.csv", index=False, float_format="%.6g")   # 6 digits tell k / 899 apart
    if failures:
        pd.DataFrame(failures).to_csv(args.out / "failures.csv", index=False)
    elif (args.out / "failures.csv").exists():
        (args.out / "failures.csv").unlink()   # from an earlier run
    summary, targets = summarise(data[data["method"].isin(methods)], methods, failures, settings)
    wall = time.perf_counter() - start
    notes = notes + [f"{f['method']} (seed {f['seed']}) failed: {f['message'][:300]}" for f in failures]
    notes.append(f"wall time {wall:.0f} s with {args.workers} worker(s); command: python -m "
                 f"benchmarks.multifidelity {' '.join(argv if argv is not None else sys.argv[1:])}")
    report = markdown_report(summary, targets, settings, args.seeds, notes)
    (args.out / "results.md").write_text(report + "\n")
    if len(data):
        plot_curves(data, methods, settings, targets, args.out / "best_error_vs_budget.png")
    print()
    print(report)
    print(f"results in {args.out}")
    return exit_status(args.check, len(failures), "run(s) crashed")


if __name__ == "__main__":
    sys.exit(main())
