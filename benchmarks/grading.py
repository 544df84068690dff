"""What grading costs: wall time per submission against plain execution of the same notebook.

Plain execution runs the solved lab with nbclient in an ordinary kernel. Grading runs
``autograder.grade`` on a class of identical solved submissions (sandboxed kernels,
nbgrader, feedback pages), with one job and with one job per core; its time per
submission is the batch's wall time divided by the class size.

Usage (from the repository root)::

    python -m benchmarks.grading                # 8 submissions, lab 1
    python -m benchmarks.grading --quick        # 2 submissions
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

from autograder.config import NOTEBOOKS, SOLUTIONS  # noqa: E402
from autograder.grade import grade  # noqa: E402

LAB = Path("ch2_hpo") / "01_grid_and_random_search.ipynb"


def solved_notebook() -> str:
    """The learner release with the reference answers filled in (what a perfect learner hands in)."""
    source = json.loads((SOLUTIONS / LAB).read_text())
    answers = {c["metadata"]["nbgrader"]["grade_id"]: re.sub(r"\s*### (BEGIN|END) SOLUTION", "", "".join(c["source"]))
               for c in source["cells"] if c["metadata"].get("nbgrader", {}).get("solution")}
    release = json.loads((NOTEBOOKS / LAB).read_text())
    for cell in release["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell["source"] = answers[grade_id]
    return json.dumps(release)


def plain_seconds(text: str, folder: Path) -> float:
    nb = nbformat.reads(text, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.grading", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 submissions, 1 plain run")
    parser.add_argument("--students", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/grading"))
    args = parser.parse_args(argv)
    n = 2 if args.quick else args.students
    text = solved_notebook()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        tmp = Path(tmp)
        plain = [plain_seconds(text, tmp) for _ in range(1 if args.quick else 3)]
        for i in range(n):
            (tmp / "class" / f"student{i:02d}").mkdir(parents=True)
            (tmp / "class" / f"student{i:02d}" / LAB.name).write_text(text)
        per_submission = {}
        for jobs in sorted({1, cores}):
            start = time.perf_counter()
            rows = grade(tmp / "class", tmp / f"out-{jobs}", jobs=jobs, log=lambda *_: None)
            per_submission[jobs] = (time.perf_counter() - start) / n
            graded = [r for r in rows if r.notebook == str(LAB)]
            assert len(graded) == n and all(r.score == r.max_score for r in graded), "a solved submission lost points"
    base = statistics.median(plain)
    lines = [f"# Grading cost, {LAB} ({n} solved submissions, {cores} cores)", "",
             "| run | wall s per submission | × plain execution |", "|---|---:|---:|",
             f"| plain execution (nbclient, median of {len(plain)}) | {base:.1f} | 1.00 |"]
    lines += [f"| grade, {jobs} job(s) | {sec:.1f} | {sec / base:.2f} |" for jobs, sec in per_submission.items()]
    table = "\n".join(lines)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text(table + "\n")
    fig, ax = plt.subplots(figsize=(6, 3))
    labels = ["plain"] + [f"grade, {j} job(s)" for j in per_submission]
    ax.barh(labels, [base, *per_submission.values()], color=["grey"] + ["tab:blue"] * len(per_submission))
    ax.axvline(1.5 * base, color="tab:red", linestyle=":", label="1.5 × plain")
    ax.set(xlabel="wall seconds per submission", title="Cost of sandboxed grading")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out / "grading.png", dpi=120)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
