"""Benchmark the course's mini-AutoML against a default random forest and a tuned grid.

On each bundled dataset and seed, every method sees the same train/test split
(``train_test_split(test_size=0.25, random_state=seed)``, stratified for
classification) and is scored once on the test part (accuracy; R^2 for regression):

* ``MiniAutoML`` with random search and with TPE (:mod:`course.automl.mini_automl`):
  ``--trials`` configurations of the full CASH space, each scored by 3-fold CV, then
  the best one refitted;
* ``GridSearchCV`` over an RBF SVM (standardised features; for regression an SVR
  with a standardised target too) on a ``C`` x ``gamma`` grid of as many points as
  ``--trials`` allows (7 x 7 = 49 for 50), 3-fold CV, refit: the tuned baseline;
* a default ``RandomForestClassifier`` / ``RandomForestRegressor`` (100 trees): the
  untuned baseline that is famously hard to beat.

The budget is counted in model fits and is the same for the three searches:
``trials x 3`` CV fits plus one refit (the grid may have a few points fewer when
``--trials`` is not a product of two near-equal integers). Wall time is reported
too; every run is single-threaded, two runs at a time on two cores.

Usage (from the repository root)::

    python -m benchmarks.automl                  # 4 datasets, 5 seeds, 50 trials -> benchmarks/results/automl/
    python -m benchmarks.automl --quick          # CI size (< 60 s) -> benchmarks/results/quick/automl/
    python -m benchmarks.automl --quick --check  # exit 1 if any run crashed
    python -m benchmarks.automl --datasets wine,digits --seeds 3 --trials 20

Outputs, in ``--out``: ``results.md`` (median test score [IQR] and median wall time
per dataset and method, and how often each method beats the default forest),
``results.csv`` (one row per dataset, method and seed) and ``automl.png`` (test
scores per seed, and the mini-AutoML's best CV score against the trial number for
random search and TPE).

References
----------
M. Feurer et al., "Efficient and robust automated machine learning", NeurIPS 2015
(section 6 compares auto-sklearn with Auto-WEKA and Hyperopt-sklearn the same way:
same datasets, same budget, test performance over repeated runs).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.arguments import exit_status, fill_sizes, names_among, positive_int
from benchmarks.parallel import limit_threads, run_tasks

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "benchmarks" / "results" / "automl"
QUICK_OUT = REPO / "benchmarks" / "results" / "quick" / "automl"

#: name -> (scikit-learn loader, task)
DATASETS = {
    "breast_cancer": ("load_breast_cancer", "classification"),
    "wine": ("load_wine", "classification"),
    "digits": ("load_digits", "classification"),
    "diabetes": ("load_diabetes", "regression"),
}
METHODS = {
    "mini_random": "MiniAutoML, random search",
    "mini_tpe": "MiniAutoML, TPE",
    "grid_svm": "GridSearchCV, RBF SVM grid",
    "default_rf": "default RandomForest",
}
SHORT = {"mini_random": "mini\nrandom", "mini_tpe": "mini\nTPE", "grid_svm": "grid\nSVM",
         "default_rf": "default\nRF"}
QUICK = {"datasets": ["breast_cancer", "wine", "diabetes"], "seeds": 2, "trials": 8}
FULL = {"datasets": list(DATASETS), "seeds": 5, "trials": 50}
CV = 3
COLUMNS = ["dataset", "task", "method", "seed", "test_score", "cv_score", "n_fits", "seconds",
           "best_model", "failed_trials"]


@dataclass(frozen=True)
class Task:
    dataset: str
    method: str
    seed: int
    trials: int


# ======================================================================================
# The methods
# ======================================================================================

def load(dataset: str, seed: int):
    """The dataset's train/test split for ``seed`` (the same for every method)."""
    import sklearn.datasets
    from sklearn.model_selection import train_test_split

    loader, task = DATASETS[dataset]
    X, y = getattr(sklearn.datasets, loader)(return_X_y=True)
    stratify = y if task == "classification" else None
    return task, train_test_split(X, y, test_size=0.25, random_state=seed, stratify=stratify)


def grid_shape(trials: int) -> tuple[int, int]:
    """``(n_C, n_gamma)`` with ``n_C * n_gamma <= trials``, as square as possible (30 -> 6 x 5)."""
    n_gamma = max(1, math.isqrt(trials))
    return trials // n_gamma, n_gamma


def grid_search(task: str, trials: int, seed: int):
    """GridSearchCV over ``C`` x ``gamma`` of an RBF SVM on standardised features."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, SVR

    n_c, n_gamma = grid_shape(trials)
    grid = {"C": np.logspace(-1, 3, n_c), "gamma": np.logspace(-4, 0, n_gamma)}
    if task == "classification":
        model = make_pipeline(StandardScaler(), SVC())
        grid = {f"svc__{k}": v for k, v in grid.items()}
        cv = StratifiedKFold(CV, shuffle=True, random_state=seed)
    else:
        model = TransformedTargetRegressor(make_pipeline(StandardScaler(), SVR()),
                                           transformer=StandardScaler())
        grid = {f"regressor__svr__{k}": v for k, v in grid.items()}
        cv = KFold(CV, shuffle=True, random_state=seed)
    return GridSearchCV(model, grid, cv=cv, n_jobs=1, refit=True), n_c * n_gamma


def run_one(task: Task) -> dict[str, Any]:
    """One method on one dataset and seed; never raises (a crash is reported in ``error``)."""
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    from course.automl import MiniAutoML

    result: dict[str, Any] = {"task": task, "row": None, "curve": None, "error": None, "seconds": 0.0}
    start = time.perf_counter()
    try:
        kind, (X_train, X_test, y_train, y_test) = load(task.dataset, task.seed)
        row = {"dataset": task.dataset, "task": kind, "method": task.method, "seed": task.seed,
               "best_model": "", "failed_trials": 0}
        if task.method.startswith("mini_"):
            model = MiniAutoML(task=kind, sampler=task.method.removeprefix("mini_"),
                               n_trials=task.trials, cv=CV, random_state=task.seed)
            model.fit(X_train, y_train)
            board = model.leaderboard_
            row.update(cv_score=model.best_score_, n_fits=CV * len(board) + 1,
                       best_model=model.best_config_["model"],
                       failed_trials=int((board["status"] != "ok").sum()))
            result["curve"] = model.history_["best_score"].to_numpy()
        elif task.method == "grid_svm":
            model, points = grid_search(kind, task.trials, task.seed)
            model.fit(X_train, y_train)
            row.update(cv_score=float(model.best_score_), n_fits=CV * points + 1, best_model="svm")
        else:
            cls = RandomForestClassifier if kind == "classification" else RandomForestRegressor
            model = cls(n_estimators=100, n_jobs=1, random_state=task.seed).fit(X_train, y_train)
            row.update(cv_score=math.nan, n_fits=1, best_model="random_forest")
        row["test_score"] = float(model.score(X_test, y_test))
        row["seconds"] = time.perf_counter() - start
        result["row"] = row
    except Exception as err:  # a benchmark reports a crash, it does not stop
        result["error"] = (f"{type(err).__name__}: {err}", "".join(traceback.format_exception(err))[-2000:])
    result["seconds"] = time.perf_counter() - start
    return result


# ======================================================================================
# Summaries and the figure
# ======================================================================================

def _iqr(values: pd.Series) -> str:
    q25, q50, q75 = np.percentile(values, [25, 50, 75])
    return f"{q50:.4f} [{q25:.4f}, {q75:.4f}]"


def markdown(data: pd.DataFrame, args: argparse.Namespace, notes: Sequence[str]) -> str:
    n_c, n_gamma = grid_shape(args.trials)
    lines = [f"# Mini-AutoML benchmark: {args.seeds} seeds, {args.trials} trials", "",
             f"Same train/test split per dataset and seed (75/25) for every method. Budget: "
             f"MiniAutoML {args.trials} configurations x {CV}-fold CV + 1 refit = "
             f"{CV * args.trials + 1} fits; GridSearchCV {n_c} C x {n_gamma} gamma = "
             f"{n_c * n_gamma} points x {CV} folds + 1 refit = {CV * n_c * n_gamma + 1} fits; "
             "the default forest 1 fit. Test score: accuracy (classification) or R^2 "
             "(regression); median [interquartile range] over seeds. Wall time per run, "
             "single-threaded, two runs at a time on two cores.", ""]
    header = ["dataset", "method", "test score [IQR]", "best CV score", "fits", "s / run",
              "beats default RF", "models chosen"]
    lines += ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * 5 + ["---"]) + "|"]
    for dataset in [d for d in DATASETS if d in set(data["dataset"])]:
        frame = data[data["dataset"] == dataset]
        rf = frame[frame["method"] == "default_rf"].set_index("seed")["test_score"]
        for method, label in METHODS.items():
            rows = frame[frame["method"] == method]
            if not len(rows):
                continue
            scores = rows.set_index("seed")["test_score"]
            common = scores.index.intersection(rf.index)
            beats = ("" if method == "default_rf" or not len(common)
                     else f"{int((scores[common] > rf[common]).sum())}/{len(common)}")
            chosen = ""
            if method.startswith("mini_"):
                counts = rows["best_model"].value_counts()
                chosen = ", ".join(f"{m} {c}" for m, c in counts.items())
            cv = "" if rows["cv_score"].isna().all() else f"{rows['cv_score'].median():.4f}"
            lines.append(f"| {dataset} | {label} | {_iqr(rows['test_score'])} | {cv} | "
                         f"{rows['n_fits'].median():.0f} | {rows['seconds'].median():.1f} | {beats} | "
                         f"{chosen} |")
    lines.append("")
    mini = data[data["method"].str.startswith("mini_")]
    if len(mini):
        lines += [f"Failed trials (recorded in the leaderboard, not fatal): "
                  f"{int(mini['failed_trials'].sum())} of {len(mini) * args.trials}.", ""]
    if notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in notes] + [""]
    return "\n".join(lines)


def plot(data: pd.DataFrame, curves: dict[tuple[str, str, int], np.ndarray], trials: int,
         path: Path) -> None:
    """Top: test score per method (dots: seeds; bar: median). Bottom: best CV score vs trial."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    datasets = [d for d in DATASETS if d in set(data["dataset"])]
    fig, axes = plt.subplots(2, len(datasets), figsize=(4.2 * len(datasets), 7.5), squeeze=False)
    colours = {m: plt.get_cmap("tab10")(k) for k, m in enumerate(METHODS)}
    for j, dataset in enumerate(datasets):
        frame = data[data["dataset"] == dataset]
        ax = axes[0, j]
        for k, method in enumerate(METHODS):
            scores = frame.loc[frame["method"] == method, "test_score"].to_numpy()
            if not len(scores):
                continue
            jitter = np.linspace(-0.15, 0.15, len(scores)) if len(scores) > 1 else np.zeros(1)
            ax.plot(k + jitter, scores, "o", color=colours[method], alpha=0.6, ms=5)
            ax.hlines(np.median(scores), k - 0.3, k + 0.3, color=colours[method], lw=2.5)
        ax.set_xticks(range(len(METHODS)), [SHORT[m] for m in METHODS], fontsize=8)
        task = DATASETS[dataset][1]
        ax.set_title(f"{dataset} ({task})", fontsize=10)
        ax.set_ylabel("test accuracy" if task == "classification" else "test R^2")
        ax.grid(True, axis="y", alpha=0.3)
        ax = axes[1, j]
        for method in ("mini_random", "mini_tpe"):
            runs = [c for (d, m, _), c in curves.items() if d == dataset and m == method]
            if not runs:
                continue
            length = min(len(c) for c in runs)
            best = np.array([c[:length] for c in runs])
            trial = np.arange(1, length + 1)
            ax.plot(trial, np.nanmedian(best, axis=0), color=colours[method], label=METHODS[method])
            ax.fill_between(trial, *np.nanpercentile(best, [25, 75], axis=0), color=colours[method],
                            alpha=0.15, lw=0)
        grid = frame.loc[frame["method"] == "grid_svm", "cv_score"]
        if len(grid):
            ax.axhline(grid.median(), color=colours["grid_svm"], ls="--", lw=1,
                       label="GridSearchCV best CV (median)")
        ax.set(xlabel="trial", ylabel="best CV score so far (median, IQR)", xlim=(1, trials))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle("Mini-AutoML against a default random forest and a tuned SVM grid, same split "
                 "and fit budget")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ======================================================================================
# Command line
# ======================================================================================

def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.automl",
        description="MiniAutoML (random search, TPE) against a default random forest and a tuned "
                    "SVM grid on bundled datasets, at the same fit budget.")
    parser.add_argument("--quick", action="store_true",
                        help=f"CI size: {', '.join(QUICK['datasets'])}, {QUICK['seeds']} seeds, "
                             f"{QUICK['trials']} trials; output in benchmarks/results/quick/automl/")
    parser.add_argument("--datasets", type=names_among("dataset", DATASETS),
                        help="comma-separated subset of: " + ", ".join(DATASETS))
    parser.add_argument("--methods", type=names_among("method", METHODS), default=list(METHODS),
                        help="comma-separated subset of: " + ", ".join(METHODS))
    parser.add_argument("--seeds", type=positive_int, help=f"seeds (default {FULL['seeds']})")
    parser.add_argument("--trials", type=positive_int,
                        help=f"MiniAutoML configurations, which also size the grid "
                             f"(default {FULL['trials']})")
    parser.add_argument("--out", type=Path, help="output folder (default benchmarks/results/automl/)")
    parser.add_argument("--workers", type=positive_int, default=min(2, os.cpu_count() or 1),
                        help="parallel processes (default: 2, or 1 on one core)")
    parser.add_argument("--check", action="store_true", help="exit 1 if any run crashed")
    args = parser.parse_args(argv)
    return fill_sizes(args, QUICK, FULL, QUICK_OUT, DEFAULT_OUT)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns the exit status (1 only for ``--check`` failures)."""
    args = parse_args(argv)
    limit_threads()
    start = time.perf_counter()
    tasks = [Task(d, m, s, args.trials) for d in args.datasets for s in range(args.seeds)
             for m in args.methods]
    # slow runs first balance the workers: digits and the searches
    tasks.sort(key=lambda t: (t.dataset != "digits", not t.method.startswith("mini_")))
    print(f"{len(tasks)} runs: {len(args.datasets)} datasets x {len(args.methods)} methods x "
          f"{args.seeds} seeds, {args.trials} trials, {args.workers} worker(s)")
    results = run_tasks(run_one, tasks, args.workers,
                        describe=lambda r: f"{r['task'].dataset:>13} {r['task'].method:>11} "
                                           f"seed {r['task'].seed:<2}")
    rows = [r["row"] for r in results if r["row"] is not None]
    data = pd.DataFrame.from_records(rows, columns=COLUMNS)
    data["_order"] = data["dataset"].map(list(DATASETS).index) * 100 + data["method"].map(list(METHODS).index)
    data = data.sort_values(["_order", "seed"]).drop(columns="_order").reset_index(drop=True)
    curves = {(r["task"].dataset, r["task"].method, r["task"].seed): r["curve"]
              for r in results if r["curve"] is not None}
    failures = [r for r in results if r["error"]]
    args.out.mkdir(parents=True, exist_ok=True)
    data.to_csv(args.out / "results.csv", index=False, float_format="%.6g")
    notes = [f"FAILED {f['task'].dataset} {f['task'].method} seed {f['task'].seed}: "
             f"{f['error'][0][:300]}" for f in failures]
    notes.append(f"wall time {time.perf_counter() - start:.0f} s with {args.workers} worker(s); "
                 f"command: python -m benchmarks.automl "
                 f"{' '.join(argv if argv is not None else sys.argv[1:])}")
    report = markdown(data, args, notes)
    (args.out / "results.md").write_text(report + "\n")
    if len(data):
        plot(data, curves, args.trials, args.out / "automl.png")
    print()
    print(report)
    print(f"results in {args.out}")
    for failure in failures:
        print(failure["error"][1], file=sys.stderr)
    return exit_status(args.check, len(failures), "run(s) crashed")


if __name__ == "__main__":
    sys.exit(main())
