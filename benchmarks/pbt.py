"""Benchmark population-based training: the paper's toy problem and a real model.

Two comparisons, each over many seeds:

* **Toy problem** (Jaderberg et al. 2017, section 4.1, figure 2; see
  :func:`course.hpo.pbt.toy_problem`): two members, exploit/explore every 4 steps.
  PBT against the *same* population (the same two initial h) trained with its
  hyperparameters fixed, against the paper's "grid search" h = (1, 0), (0, 1), and,
  as a reference no search of two members can know beforehand, the best fixed
  setting of the whole range, h = (1, 1). The value is ``1.2 - Q(theta)`` (0 at
  the optimum); the table also gives Q.
* **Real model** (:func:`course.hpo.pbt.mlp_digits_stateful`, an MLP on digits
  trained one epoch per unit of budget): PBT against random search with the same
  population, i.e. the same initial configurations trained to the end without
  exploit/explore (the same compute). Validation error of the best member, and the
  test error of that member.

Optionally (``--ray``), Ray Tune's ``PopulationBasedTraining`` runs the toy problem
with two members, for a wall-time comparison. It is slow (about 3 minutes on two
shared cores, against milliseconds here: Ray restarts a trial from its checkpoint
at every exploit), hence not part of the default run. Ray perturbs without clipping
into the ``tune.uniform`` range, so its h may leave [0, 1].

Usage (from the repository root)::

    python -m benchmarks.pbt               # 20 toy seeds, 10 MLP seeds -> benchmarks/results/pbt/
    python -m benchmarks.pbt --quick       # CI size (< 60 s) -> benchmarks/results/quick/pbt/
    python -m benchmarks.pbt --quick --check   # exit 1 if any run crashed
    python -m benchmarks.pbt --ray         # also time Ray Tune's PBT on the toy problem (+3 min)

Outputs, in ``--out``: ``results.md`` (the tables), ``results.csv`` (one row per
method and seed), ``pbt_toy.png`` (like the paper's figure 2: theta trajectories,
Q over training and the schedules of h found) and ``pbt_mlp.png`` (the schedules
of the MLP's hyperparameters in one PBT run).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.arguments import exit_status
from benchmarks.parallel import limit_threads
from course.hpo.pbt import PBT, TOY_Q_MAX, mlp_digits_stateful, plot_schedules, toy_problem
from course.hpo.scheduler import run_schedule

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "benchmarks" / "results" / "pbt"
QUICK_OUT = REPO / "benchmarks" / "results" / "quick" / "pbt"

#: the toy problem as in the paper: two members, exploit/explore every 4 steps
TOY = {"population": 2, "ready": 4, "budget": 60, "learning_rate": 0.02}
QUICK = {"toy_seeds": 12, "mlp_seeds": 3, "mlp_population": 6, "mlp_ready": 2, "mlp_budget": 10}
FULL = {"toy_seeds": 20, "mlp_seeds": 10, "mlp_population": 10, "mlp_ready": 2, "mlp_budget": 30}


# ======================================================================================
# Training with fixed hyperparameters (the baselines) and tracing the toy's theta
# ======================================================================================

def train_fixed(objective: Callable, config: dict[str, Any], ready_points: Sequence[float]
                ) -> tuple[float, Any]:
    """Train one configuration through the same ready points as PBT, never changing it."""
    value, checkpoint = None, None
    for budget in ready_points:
        value, checkpoint = objective(dict(config), budget, checkpoint)
    return value, checkpoint


class TracedToy:
    """Wraps the toy objective and keeps theta after every step of every call.

    ``paths[k]`` is the trajectory of the k-th call, which is the ``job`` column of
    run_schedule's log, from the checkpoint it started at to where it ended.
    """

    def __init__(self, objective: Callable) -> None:
        self.objective = objective
        self.paths: list[np.ndarray] = []

    def __call__(self, config, budget, checkpoint):
        if checkpoint is None:
            _, checkpoint = self.objective(config, 0, None)  # step 0: the starting point
        path = [checkpoint["theta"]]
        value = None
        for step in range(checkpoint["step"] + 1, int(round(budget)) + 1):
            value, checkpoint = self.objective(config, step, checkpoint)
            path.append(checkpoint["theta"])
        self.paths.append(np.array(path))
        return value, checkpoint


# ======================================================================================
# The runs
# ======================================================================================

def toy_runs(seeds: int) -> tuple[list[dict[str, Any]], list[str], dict[str, Any]]:
    """Every toy method on every seed; returns rows, failures and one traced run to plot."""
    space, objective = toy_problem(learning_rate=TOY["learning_rate"])
    budget = TOY["budget"]
    ready_points = PBT(space, TOY["population"], TOY["ready"], budget).ready_points
    rows, failures, example = [], [], {}
    grid = [{"h0": 1.0, "h1": 0.0}, {"h0": 0.0, "h1": 1.0}]
    grid_value = min(train_fixed(objective, c, ready_points)[0] for c in grid)
    oracle_value = train_fixed(objective, {"h0": 1.0, "h1": 1.0}, ready_points)[0]
    for seed in range(seeds):
        for method in ("pbt_perturb", "pbt_resample"):
            try:
                start = time.perf_counter()
                traced = TracedToy(objective)
                pbt = PBT(space, TOY["population"], TOY["ready"], budget,
                          explore=method.split("_")[1], seed=seed)
                log = run_schedule(traced, pbt, stateful=True)
                seconds = time.perf_counter() - start
                rows.append({"problem": "toy", "method": method, "seed": seed,
                             "value": float(log[log["budget"] == budget]["value"].min()),
                             "exploits": int((log["resume"].notna() & (log["resume"] != log["trial"])).sum()),
                             "seconds": seconds})
                if method == "pbt_perturb":
                    initial = log[log["bracket"] == 0]["config"].tolist()
                    start = time.perf_counter()
                    fixed_traced = TracedToy(objective)
                    fixed = [train_fixed(fixed_traced, c, ready_points)[0] for c in initial]
                    rows.append({"problem": "toy", "method": "fixed_population", "seed": seed,
                                 "value": float(min(fixed)), "exploits": 0,
                                 "seconds": time.perf_counter() - start})
                    if seed == 0:
                        example = {"log": log, "paths": traced.paths, "space": space,
                                   "fixed_paths": fixed_traced.paths, "initial": initial}
            except Exception as err:  # a benchmark reports a crash, it does not stop
                failures.append(f"toy {method} seed {seed}: {type(err).__name__}: {err}\n"
                                + traceback.format_exc()[-1500:])
        rows.append({"problem": "toy", "method": "paper_grid", "seed": seed, "value": grid_value,
                     "exploits": 0, "seconds": 0.0})
        rows.append({"problem": "toy", "method": "oracle_fixed", "seed": seed, "value": oracle_value,
                     "exploits": 0, "seconds": 0.0})
    return rows, failures, example


def mlp_runs(seeds: int, population: int, ready: int, budget: int
             ) -> tuple[list[dict[str, Any]], list[str], dict[str, Any]]:
    """PBT and random search (the same population, fixed) on the MLP; rows, failures, one log."""
    space, objective = mlp_digits_stateful()
    ready_points = PBT(space, population, ready, budget).ready_points
    rows, failures, example = [], [], {}
    for seed in range(seeds):
        try:
            start = time.perf_counter()
            final_checkpoints: dict[int, Any] = {}

            def keep_final(config, b, checkpoint, _store=final_checkpoints):
                value, checkpoint = objective(config, b, checkpoint)
                if b >= budget:
                    _store[len(_store)] = (value, checkpoint)
                return value, checkpoint

            log = run_schedule(keep_final, PBT(space, population, ready, budget, seed=seed), stateful=True)
            seconds = time.perf_counter() - start
            value, checkpoint = min(final_checkpoints.values(), key=lambda vc: vc[0])
            rows.append({"problem": "mlp_digits", "method": "pbt_perturb", "seed": seed, "value": value,
                         "test_error": objective.test_error(checkpoint),
                         "exploits": int((log["resume"].notna() & (log["resume"] != log["trial"])).sum()),
                         "seconds": seconds})
            if seed == 0:
                example = {"log": log, "space": space}
            start = time.perf_counter()
            fixed = [train_fixed(objective, c, ready_points)
                     for c in log[log["bracket"] == 0]["config"]]
            value, checkpoint = min(fixed, key=lambda vc: vc[0])
            rows.append({"problem": "mlp_digits", "method": "random_search", "seed": seed, "value": value,
                         "test_error": objective.test_error(checkpoint), "exploits": 0,
                         "seconds": time.perf_counter() - start})
        except Exception as err:
            failures.append(f"mlp seed {seed}: {type(err).__name__}: {err}\n" + traceback.format_exc()[-1500:])
    return rows, failures, example


def ray_toy(seed: int = 0) -> dict[str, Any]:
    """Ray Tune's PopulationBasedTraining on the toy problem (2 members); wall time and result."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    scratch = tempfile.mkdtemp(prefix="pbt-ray-")
    os.environ["RAY_TMPDIR"] = scratch
    import pickle
    import random

    import ray
    from ray import tune
    from ray.tune.schedulers import PopulationBasedTraining

    space, objective = toy_problem(learning_rate=TOY["learning_rate"])

    def trainable(config):
        checkpoint, step = None, 0
        restored = tune.get_checkpoint()
        if restored is not None:
            with restored.as_directory() as folder:
                with open(Path(folder) / "state.pkl", "rb") as f:
                    checkpoint = pickle.load(f)
            step = checkpoint["step"]
        while step < TOY["budget"]:
            step += 1
            value, checkpoint = objective({"h0": config["h0"], "h1": config["h1"]}, step, checkpoint)
            if step % TOY["ready"] == 0:  # checkpoint at the ready points, where PBT acts
                with tempfile.TemporaryDirectory(dir=scratch) as folder:
                    with open(Path(folder) / "state.pkl", "wb") as f:
                        pickle.dump(checkpoint, f)
                    tune.report({"value": value, "step": step},
                                checkpoint=tune.Checkpoint.from_directory(folder))
            else:
                tune.report({"value": value, "step": step})

    random.seed(seed)
    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=scratch)
    try:
        scheduler = PopulationBasedTraining(
            time_attr="step", metric="value", mode="min", perturbation_interval=TOY["ready"],
            quantile_fraction=0.5, resample_probability=0.0,
            hyperparam_mutations={"h0": tune.uniform(0.0, 1.0), "h1": tune.uniform(0.0, 1.0)},
            synch=True)  # no seed argument: Ray draws from Python's global `random`
        rng = np.random.default_rng(seed)
        initial = [space.sample(rng) for _ in range(TOY["population"])]
        # the same two initial configurations as the course's PBT with this seed
        h1_by_h0 = {c["h0"]: c["h1"] for c in initial}
        tuner = tune.Tuner(
            trainable,
            param_space={"h0": tune.grid_search([c["h0"] for c in initial]),
                         "h1": tune.sample_from(lambda spec: h1_by_h0[spec.config["h0"]])},
            tune_config=tune.TuneConfig(scheduler=scheduler, num_samples=1, max_concurrent_trials=2),
            run_config=tune.RunConfig(storage_path=str(Path(scratch) / "results"), verbose=0,
                                      stop={"step": TOY["budget"]}),
        )
        results = tuner.fit()
        values = [r.metrics["value"] for r in results if r.metrics and "value" in r.metrics]
        return {"value": float(min(values)), "seconds": time.perf_counter() - start}
    finally:
        ray.shutdown()
        shutil.rmtree(scratch, ignore_errors=True)


# ======================================================================================
# Summaries and figures
# ======================================================================================

LABELS = {
    "pbt_perturb": "PBT (perturb x0.8/x1.2)",
    "pbt_resample": "PBT (resample from the prior)",
    "fixed_population": "same population, h fixed (no exploit/explore)",
    "paper_grid": "paper's grid h=(1,0),(0,1), fixed",
    "oracle_fixed": "best fixed h of the whole range, h=(1,1) (reference)",
    "random_search": "random search, same population (no exploit/explore)",
    "ray_pbt": "Ray Tune PopulationBasedTraining",
}


def _iqr(values: pd.Series) -> str:
    q25, q50, q75 = np.percentile(values, [25, 50, 75])
    return f"{q50:.4f} [{q25:.4f}, {q75:.4f}]"


def markdown(data: pd.DataFrame, sizes: dict[str, Any], notes: Sequence[str]) -> str:
    lines = ["# Population-based training benchmark", ""]
    toy = data[data["problem"] == "toy"]
    if len(toy):
        pbt = toy[toy["method"] == "pbt_perturb"].set_index("seed")["value"]
        fixed = toy[toy["method"] == "fixed_population"].set_index("seed")["value"]
        wins = (pbt < fixed.reindex(pbt.index)).mean()
        lines += [
            f"## Toy problem (Jaderberg et al. 2017, figure 2): {toy['seed'].nunique()} seeds",
            "",
            f"Population {TOY['population']}, exploit/explore every {TOY['ready']} steps, "
            f"{TOY['budget']} gradient steps (learning rate {TOY['learning_rate']}) from theta = (0.9, 0.9). "
            "Value = 1.2 - Q(theta) = theta_0^2 + theta_1^2 of the best member at the end (lower is "
            "better; 1.62 at the start). Median [interquartile range] over seeds.",
            "",
            "| method | 1.2 - Q [IQR] | median Q | exploits / run | s / run |",
            "|---|---:|---:|---:|---:|",
        ]
        for method in ("pbt_perturb", "pbt_resample", "fixed_population", "paper_grid", "oracle_fixed",
                       "ray_pbt"):
            rows = toy[toy["method"] == method]
            if len(rows):
                lines.append(f"| {LABELS[method]} | {_iqr(rows['value'])} | "
                             f"{TOY_Q_MAX - rows['value'].median():.4f} | "
                             f"{'n/a' if rows['exploits'].isna().all() else format(rows['exploits'].median(), '.0f')} | "
                             f"{rows['seconds'].median():.3f} |")
        lines += ["", f"PBT (perturb) ends better than the same population with fixed h in "
                      f"{wins:.0%} of the seeds; median ratio of values "
                      f"{np.median(pbt / fixed.reindex(pbt.index)):.2f}.", ""]
    mlp = data[data["problem"] == "mlp_digits"]
    if len(mlp):
        lines += [
            f"## MLP on digits: {mlp['seed'].nunique()} seeds",
            "",
            f"Population {sizes['mlp_population']}, exploit/explore every {sizes['mlp_ready']} epochs, "
            f"{sizes['mlp_budget']} epochs per member (both methods train the same "
            f"{sizes['mlp_population'] * sizes['mlp_budget']} epochs). Best member's validation error "
            "(what PBT ranks by) and that member's test error; median [IQR] over seeds.",
            "",
            "| method | validation error [IQR] | test error [IQR] | exploits / run | s / run |",
            "|---|---:|---:|---:|---:|",
        ]
        for method in ("pbt_perturb", "random_search"):
            rows = mlp[mlp["method"] == method]
            if len(rows):
                lines.append(f"| {LABELS[method]} | {_iqr(rows['value'])} | {_iqr(rows['test_error'])} | "
                             f"{rows['exploits'].median():.0f} | {rows['seconds'].median():.2f} |")
        pbt = mlp[mlp["method"] == "pbt_perturb"].set_index("seed")
        rs = mlp[mlp["method"] == "random_search"].set_index("seed").reindex(pbt.index)
        lines += ["", f"PBT's best member is better / equal / worse on validation than random "
                      f"search's in {(pbt['value'] < rs['value']).sum()} / {(pbt['value'] == rs['value']).sum()}"
                      f" / {(pbt['value'] > rs['value']).sum()} seeds; on test in "
                      f"{(pbt['test_error'] < rs['test_error']).sum()} / "
                      f"{(pbt['test_error'] == rs['test_error']).sum()} / "
                      f"{(pbt['test_error'] > rs['test_error']).sum()}.", ""]
    if notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in notes] + [""]
    return "\n".join(lines)


def plot_toy(example: dict[str, Any], png: Path) -> None:
    """Like the paper's figure 2: theta trajectories, Q against steps, the schedules of h."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    log, traces, fixed_paths = example["log"], example["paths"], example["fixed_paths"]
    fig, axes = plt.subplots(1, 4, figsize=(19, 4.2))
    colours = plt.get_cmap("tab10")
    grid = np.linspace(-0.1, 1.0, 200)
    t0, t1 = np.meshgrid(grid, grid)
    axes[0].contour(t0, t1, TOY_Q_MAX - (t0 ** 2 + t1 ** 2), levels=12, colors="0.8", linewidths=0.7)
    previous_end: dict[int, np.ndarray] = {}
    for row in log.sort_values("job").itertuples():
        trace, member = traces[int(row.job)], int(row.trial)
        colour = colours(member)
        if member in previous_end and row.resume != row.trial:  # exploit: jump to the winner's theta
            jump = np.array([previous_end[member], trace[0]])
            axes[0].plot(jump[:, 0], jump[:, 1], ":", color=colour, lw=1)
        axes[0].plot(trace[:, 0], trace[:, 1], "-", color=colour, lw=1.6,
                     label=f"PBT member {member}" if row.bracket == 0 else None)
        steps = np.arange(row.budget - len(trace) + 1, row.budget + 1)
        axes[1].plot(steps, TOY_Q_MAX - np.sum(trace ** 2, axis=1), color=colour, lw=1.6,
                     label=f"PBT member {member}" if row.bracket == 0 else None)
        previous_end[member] = trace[-1]
    # the fixed runs: one call per ready point; concatenate each member's calls
    per_member = len(fixed_paths) // len(example["initial"])
    for k in range(len(example["initial"])):
        trace = np.concatenate([p if i == 0 else p[1:] for i, p in
                               enumerate(fixed_paths[k * per_member:(k + 1) * per_member])])
        axes[0].plot(trace[:, 0], trace[:, 1], "--", color=colours(k), lw=1, alpha=0.6,
                     label=f"member {k}, h fixed")
        axes[1].plot(np.arange(len(trace)), TOY_Q_MAX - np.sum(trace ** 2, axis=1), "--",
                     color=colours(k), lw=1, alpha=0.6, label=f"member {k}, h fixed")
    axes[0].plot([0.9], [0.9], "k*", ms=9)
    axes[0].set(xlabel="theta_0", ylabel="theta_1", title="theta (contours of Q; dotted: exploit)",
                xlim=(-0.05, 0.95), ylim=(-0.05, 0.95))
    axes[0].legend(fontsize=7, loc="lower right")
    axes[1].set(xlabel="step", ylabel="Q(theta)", title="Q during training (max 1.2)")
    axes[1].legend(fontsize=7, loc="lower right")
    axes[1].grid(True, alpha=0.3)
    plot_schedules(log, names=["h0", "h1"], ax=axes[2:], space=example["space"])
    for ax in axes[2:]:
        ax.set_ylabel("value")
        ax.set_title(f"schedule of {ax.get_title()} found by PBT")
    fig.suptitle("PBT on the toy problem of Jaderberg et al. (2017), seed 0")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def plot_mlp(example: dict[str, Any], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    axes = plot_schedules(example["log"], space=example["space"])
    axes[0].figure.suptitle("Hyperparameter schedules PBT found for the MLP on digits, seed 0 "
                            "(dotted: exploit)")
    axes[0].figure.tight_layout()
    axes[0].figure.savefig(path, dpi=110)
    plt.close(axes[0].figure)


# ======================================================================================
# Command line
# ======================================================================================

def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pbt",
                                     description="Benchmark population-based training.")
    parser.add_argument("--quick", action="store_true", help="CI size (< 60 s); output in "
                        "benchmarks/results/quick/pbt/")
    parser.add_argument("--out", type=Path, help="output folder (default benchmarks/results/pbt/)")
    parser.add_argument("--ray", action="store_true",
                        help="also time Ray Tune's PopulationBasedTraining on the toy problem")
    parser.add_argument("--check", action="store_true", help="exit 1 if any run crashed")
    args = parser.parse_args(argv)
    args.sizes = QUICK if args.quick else FULL
    args.out = args.out or (QUICK_OUT if args.quick else DEFAULT_OUT)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    limit_threads()
    start = time.perf_counter()
    sizes = args.sizes
    toy_rows, toy_failures, toy_example = toy_runs(sizes["toy_seeds"])
    print(f"toy problem: {sizes['toy_seeds']} seeds in {time.perf_counter() - start:.1f} s")
    mid = time.perf_counter()
    mlp_rows, mlp_failures, mlp_example = mlp_runs(sizes["mlp_seeds"], sizes["mlp_population"],
                                                   sizes["mlp_ready"], sizes["mlp_budget"])
    print(f"MLP on digits: {sizes['mlp_seeds']} seeds in {time.perf_counter() - mid:.1f} s")
    rows, failures = toy_rows + mlp_rows, toy_failures + mlp_failures
    notes = []
    if args.ray:
        try:
            result = ray_toy()
            rows.append({"problem": "toy", "method": "ray_pbt", "seed": 0, "value": result["value"],
                         "exploits": np.nan, "seconds": result["seconds"]})
            notes.append(f"Ray Tune PopulationBasedTraining (synch=True, quantile_fraction=0.5, "
                         f"2 members, seed 0): {result['seconds']:.1f} s wall including ray.init, "
                         f"against {np.median([r['seconds'] for r in toy_rows if r['method'] == 'pbt_perturb']) * 1e3:.1f}"
                         " ms for the course's PBT")
        except Exception as err:
            notes.append(f"Ray Tune comparison skipped: {type(err).__name__}: {str(err)[:300]}")
    data = pd.DataFrame.from_records(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    data.to_csv(args.out / "results.csv", index=False)
    for failure in failures:
        notes.append("FAILED " + failure.splitlines()[0])
    wall = time.perf_counter() - start
    notes.append(f"wall time {wall:.0f} s; command: python -m benchmarks.pbt "
                 f"{' '.join(argv if argv is not None else sys.argv[1:])}")
    table = markdown(data, sizes, notes)
    (args.out / "results.md").write_text(table + "\n")
    if toy_example:
        plot_toy(toy_example, args.out / "pbt_toy.png")
    if mlp_example:
        plot_mlp(mlp_example, args.out / "pbt_mlp.png")
    print()
    print(table)
    print(f"results in {args.out}")
    for failure in failures:
        print(failure, file=sys.stderr)
    return exit_status(args.check, len(failures), "run(s) crashed")


if __name__ == "__main__":
    sys.exit(main())
