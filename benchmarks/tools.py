"""Benchmark five AutoML tools on the same data, split, seeds and wall-clock budget.

The same comparison as the chapter-4 tour (:func:`course.tools.comparison.compare`),
with a larger budget and more seeds: the course's ``MiniAutoML``, Optuna +
scikit-learn, TPOT, H2O AutoML and AutoKeras. On each bundled dataset and seed every
tool gets the same 75/25 train/test split and ``--budget`` seconds of search, runs in a
fresh process (its whole process tree is killed if it runs past ``2 x budget +
--grace`` seconds), and is scored on the test part (accuracy; R^2 for regression).
Cells run one at a time, so no tool competes with another for the cores; each tool is
asked to use one thread or job.

Measured per cell: the test score, the runner's wall time (tool import, server or
cluster start, search, refit and prediction: what a user waits for), the peak resident
memory of the process tree (H2O's Java server and TPOT's dask worker included) and the
lines of user code of the tool's runner. A tool that cannot run is reported with its
exact error, never with a made-up number.

Usage (from the repository root)::

    python -m benchmarks.tools                  # 3 datasets, 3 seeds, 20 s -> benchmarks/results/tools/
    python -m benchmarks.tools --quick          # CI size (about 3 min) -> benchmarks/results/quick/tools/
    python -m benchmarks.tools --quick --check  # exit 1 if any cell did not finish
    python -m benchmarks.tools --tools mini_automl,h2o --datasets wine --seeds 2 --budget 10
    python -m benchmarks.tools --seed-start 2 --seeds 1 --append   # add seed 2 to earlier results

Outputs, in ``--out``: ``results.md`` (mean ± std over seeds per dataset and tool, and
the exact error of every cell that did not finish), ``results.csv`` (one row per tool,
dataset and seed) and ``tools.png`` (score against time per dataset, and peak memory).

References
----------
P. Gijsbers et al., "AMLB: an AutoML benchmark", JMLR 25(101) (2024): the same
protocol at full scale (same folds, budget and hardware for every framework).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from benchmarks.arguments import exit_status, fill_sizes, names_among, positive_int
from benchmarks.parallel import limit_threads
from course.tools.comparison import DATASETS, TOOL_NAMES, TOOLS, compare, plot_comparison, summarise

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "benchmarks" / "results" / "tools"
QUICK_OUT = REPO / "benchmarks" / "results" / "quick" / "tools"
# TPOT finishes no pipeline below a few seconds (its clock includes starting its dask worker),
# and how many depends on the CPU: 5 s sufficed on the machine that wrote this benchmark but
# not on a slower one of the same kind (AMD EPYC, family 25), where 8 s did. The quick budget
# keeps a margin over that, so that --check passes on any machine of this kind.
QUICK = {"datasets": ["breast_cancer", "wine", "diabetes"], "seeds": 1, "budget": 10.0}
FULL = {"datasets": ["breast_cancer", "wine", "diabetes"], "seeds": 3, "budget": 20.0}


def positive_seconds(text: str) -> float:
    """An ``argparse`` type: a positive number of seconds, e.g. ``--budget 2.5``."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def markdown(results: pd.DataFrame, args: argparse.Namespace, notes: Sequence[str]) -> str:
    """The table of mean ± std over seeds, then every cell that did not finish, with its error."""
    table = summarise(results).drop(columns="failures")
    table["tool"] = table["tool"].map(lambda t: TOOL_NAMES.get(t, t))
    seeds = sorted(results["seed"].unique())
    lines = [f"# AutoML tools side by side: {results['budget_s'].iloc[0]:g} s budget, "
             f"seeds {', '.join(map(str, seeds))}", "",
             "Same 75/25 train/test split per dataset and seed for every tool; test accuracy "
             "(classification) or R^2 (regression), mean ± std over the seeds that finished. "
             "Seconds: the tool's whole run as a user waits for it (import, server or cluster "
             "start, search, refit, prediction), one cell at a time, one thread or job per tool. "
             "Peak memory: the resident memory of the cell's process tree (Java server and dask "
             "workers included), sampled every 50 ms. Lines of code: non-blank, non-comment lines "
             "of the tool's runner in course/tools/comparison.py.", ""]
    header = list(table.columns)
    lines += ["| " + " | ".join(header) + " |",
              "|" + "|".join(["---"] * 2 + ["---:"] * (len(header) - 2)) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    failed = results[results["status"] != "ok"]
    lines += ["", f"Cells that did not finish: {len(failed)} of {len(results)}.", ""]
    lines += [f"- {r.tool} on {r.dataset}, seed {r.seed}: **{r.status}** after {r.seconds:.1f} s: "
              f"`{r.error[:400]}`" for r in failed.itertuples()]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.tools",
        description="The course's MiniAutoML, Optuna + scikit-learn, TPOT, H2O AutoML and "
                    "AutoKeras on the same bundled datasets, splits, seeds and wall-clock budget.")
    parser.add_argument("--quick", action="store_true",
                        help=f"CI size: {', '.join(QUICK['datasets'])}, {QUICK['seeds']} seed, "
                             f"{QUICK['budget']:g} s; output in benchmarks/results/quick/tools/")
    parser.add_argument("--tools", type=names_among("tool", TOOLS), default=list(TOOLS),
                        help="comma-separated subset of: " + ", ".join(TOOLS))
    parser.add_argument("--datasets", type=names_among("dataset", DATASETS),
                        help="comma-separated subset of: " + ", ".join(DATASETS))
    parser.add_argument("--seeds", type=positive_int, help=f"number of seeds (default {FULL['seeds']})")
    parser.add_argument("--seed-start", type=int, default=0, help="first seed (default 0)")
    parser.add_argument("--budget", type=positive_seconds,
                        help=f"seconds of search per tool and cell (default {FULL['budget']:g})")
    parser.add_argument("--grace", type=positive_seconds, default=60.0,
                        help="a cell is killed after 2 x budget + grace seconds (default 60)")
    parser.add_argument("--max-rows", type=positive_int, help="subsample every dataset to this many rows")
    parser.add_argument("--out", type=Path, help="output folder (default benchmarks/results/tools/)")
    parser.add_argument("--append", action="store_true",
                        help="add to the results.csv already in --out (a cell run again replaces "
                             "the old one): run a long benchmark in parts")
    parser.add_argument("--check", action="store_true", help="exit 1 if any cell did not finish")
    args = parser.parse_args(argv)
    return fill_sizes(args, QUICK, FULL, QUICK_OUT, DEFAULT_OUT)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns the exit status (1 only for ``--check`` failures)."""
    args = parse_args(argv)
    limit_threads()
    start = time.perf_counter()
    seeds = list(range(args.seed_start, args.seed_start + args.seeds))
    print(f"{len(args.tools) * len(args.datasets) * len(seeds)} cells: {len(args.datasets)} datasets "
          f"x {len(args.tools)} tools x {len(seeds)} seeds, {args.budget:g} s budget, one at a time")
    results = compare(args.tools, args.datasets, seeds, args.budget, max_rows=args.max_rows,
                      grace_s=args.grace, on_error="record", log=print)
    args.out.mkdir(parents=True, exist_ok=True)
    csv = args.out / "results.csv"
    if args.append and csv.is_file():
        old = pd.read_csv(csv, keep_default_na=False, na_values=[""])
        old["error"] = old["error"].astype(object).fillna("").astype(str)
        key = ["tool", "dataset", "seed"]
        kept = old.merge(results[key], on=key, how="left", indicator=True)
        old = old[(kept["_merge"] == "left_only").to_numpy()]
        results = pd.concat([old, results], ignore_index=True)
    order = {name: k for k, name in enumerate(TOOLS)}
    results = results.sort_values(["dataset", "tool", "seed"],
                                  key=lambda c: c.map(order) if c.name == "tool" else c,
                                  kind="stable").reset_index(drop=True)
    results.to_csv(csv, index=False, float_format="%.6g")
    command = " ".join(argv if argv is not None else sys.argv[1:])
    notes = [f"wall time of this run {time.perf_counter() - start:.0f} s; command: "
             f"python -m benchmarks.tools {command}"]
    report = markdown(results, args, notes)
    (args.out / "results.md").write_text(report)
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    figure = plot_comparison(results)
    figure.savefig(args.out / "tools.png", dpi=110)
    plt.close(figure)
    print()
    print(report)
    print(f"results in {args.out}")
    return exit_status(args.check, int((results["status"] != "ok").sum()), "cell(s) did not finish")


if __name__ == "__main__":
    sys.exit(main())
