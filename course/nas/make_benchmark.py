"""Generate the course's tabular NAS benchmark: train every cell of the space, 3 seeds each.

The committed table ``course/nas/data/benchmark.csv`` was made, from the repository root, by::

    nice -n 10 python -m course.nas.make_benchmark --out course/nas/data/benchmark.csv --workers 2

Every canonical architecture of :mod:`course.nas.cell_space` (one representative per class
of cells that compute the same function, 2,128 of the 4,096) is trained by
:func:`course.nas.network.train_network` with the default network and recipe, once per
seed 0, 1, 2. Each run records the validation and test accuracy and the CPU seconds of
training after every epoch budget of :data:`~course.nas.network.BUDGETS`, and the
parameter count. One CSV row per (architecture, seed):

    arch, seed, params, valid_accuracy_1, test_accuracy_1, train_seconds_1, ..._3, ..._9

``arch`` is the NAS-Bench-201 string (:func:`~course.nas.cell_space.to_string`) of the
canonical architecture. A JSON file next to the table (``benchmark.json``) records the
settings that made it (space, network, recipe, versions); :mod:`course.nas.benchmark`
reads both.

The run is

* resumable: rows are appended and flushed one by one; a re-run skips the (architecture,
  seed) pairs already in the file, and drops a truncated last line left by an
  interrupted run. It refuses to append to a table made with other settings.
* parallel: ``--workers`` processes (``multiprocessing``'s spawn context), one torch thread
  each.
* deterministic: the seed fixes initialisation and data order; the data split is fixed.
  Accuracies repeat exactly on the same machine; CPU seconds vary a little.

Cost of the committed table: 6,384 trainings of 0.46 CPU seconds on average (49 CPU
minutes in all, evaluation aside), i.e. about 25 minutes on two free cores. It was made
on a machine shared with other jobs (load 8 to 15 on 2 cores), where the niced run took
2 hours 11 minutes of wall time.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import network
from .cell_space import EDGES, N_NODES, OPERATIONS, from_string, to_string, unique_architectures

__all__ = ["columns", "settings", "provenance", "read_rows", "generate", "train_row", "main"]

SEEDS = (0, 1, 2)
DEFAULT_OUT = Path(__file__).resolve().parent / "data" / "benchmark.csv"


def columns(budgets: Sequence[int] = network.BUDGETS) -> list[str]:
    """The table's header: ``arch, seed, params`` then three columns per budget."""
    per_budget = [f"{name}_{b}" for b in budgets for name in ("valid_accuracy", "test_accuracy", "train_seconds")]
    return ["arch", "seed", "params", *per_budget]


def settings() -> dict[str, Any]:
    """What made the table: the space, the network, the recipe (recorded in ``benchmark.json``)."""
    return {
        "operations": list(OPERATIONS), "n_nodes": N_NODES, "edges": [list(e) for e in EDGES],
        "channels": network.CHANNELS, "n_cells": network.N_CELLS, "epochs": network.EPOCHS,
        "budgets": list(network.BUDGETS), "batch_size": network.BATCH_SIZE,
        "learning_rate": network.LEARNING_RATE, "momentum": network.MOMENTUM,
        "weight_decay": network.WEIGHT_DECAY, "data": "sklearn load_digits, digits_splits(seed=0): 1077/360/360",
        "seeds": list(SEEDS),
    }


def provenance() -> dict[str, Any]:
    """Where the table was made: library versions, the CPU model and its vector instructions.

    torch's kernels, hence the last bits of every training, depend on the CPU: on its vector
    instructions, and beyond them on the vendor and model (MKL and oneDNN choose code paths by
    both), so only the same model with the same libraries repeats the table bit for bit.
    """
    import sklearn
    import torch

    return {"torch": torch.__version__, "scikit-learn": sklearn.__version__, "python": platform.python_version(),
            "machine": platform.machine(), "cpu": _cpu_model(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def _cpu_model() -> str:
    """The CPU's vendor, model name, family and model number (``/proc/cpuinfo`` on Linux, else
    what ``platform`` knows). The numbers matter: a virtual machine may name two generations of
    a processor alike ("AMD EPYC")."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if not key.strip():
                break  # the first processor's block is enough
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    if "model name" not in fields:
        return platform.processor() or "unknown"
    return (f"{fields.get('vendor_id', '?')} {fields['model name']} (family {fields.get('cpu family', '?')}, "
            f"model {fields.get('model', '?')})")


def read_rows(path: str | os.PathLike) -> list[dict[str, str]]:
    """The complete rows of a (possibly partial) table; a truncated last line is ignored.

    Raises
    ------
    ValueError
        If the header is not :func:`columns` or a complete line has the wrong number of fields.
    """
    text = Path(path).read_text()
    if not text:
        return []
    lines = text.split("\n")
    complete = lines[:-1]  # whatever follows the last newline is an interrupted write
    if not complete:
        return []
    reader = csv.reader(complete)
    header = next(reader)
    if header != columns():
        raise ValueError(f"{path}: its header {header} is not this generator's {columns()}; "
                         f"it was made with other settings")
    rows = []
    for number, fields in enumerate(reader, start=2):
        if len(fields) != len(header):
            raise ValueError(f"{path}, line {number}: expected {len(header)} fields, got {len(fields)}")
        rows.append(dict(zip(header, fields)))
    return rows


def _prepare(path: Path) -> set[tuple[str, int]]:
    """Create the table (and its settings file), or drop a truncated last line; return finished pairs."""
    meta_path = path.with_suffix(".json")
    expected = settings()
    if meta_path.exists():
        recorded = json.loads(meta_path.read_text())
        if recorded.get("settings") != expected:
            raise ValueError(f"{meta_path} records other settings than this generator's: "
                             f"{recorded.get('settings')} != {expected}; use another --out")
    elif path.exists() and path.stat().st_size > 0:
        raise ValueError(f"{path} exists without its settings file {meta_path}; use another --out")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not meta_path.exists():
        meta_path.write_text(json.dumps({"settings": expected, "provenance": provenance()}, indent=2) + "\n")
    if not path.exists() or path.stat().st_size == 0:
        with open(path, "w", newline="") as handle:
            csv.writer(handle, lineterminator="\n").writerow(columns())
        return set()
    text = path.read_text()
    if not text.endswith("\n"):  # an interrupted run left half a line: cut it off
        with open(path, "r+") as handle:
            handle.truncate(len(text[: text.rfind("\n") + 1].encode()))
    return {(row["arch"], int(row["seed"])) for row in read_rows(path)}


def train_row(task: tuple[str, int]) -> dict[str, Any]:
    """Train one (architecture string, seed) and return its table row (runs in a worker)."""
    arch_string, seed = task
    result = network.train_network(from_string(arch_string), network.EPOCHS, seed, network.BUDGETS)
    row: dict[str, Any] = {"arch": arch_string, "seed": seed, "params": result.params}
    for b, valid, test, seconds in zip(result.budgets, result.valid_accuracy, result.test_accuracy,
                                       result.train_seconds):
        row[f"valid_accuracy_{b}"] = f"{valid:.6f}"
        row[f"test_accuracy_{b}"] = f"{test:.6f}"
        row[f"train_seconds_{b}"] = f"{seconds:.4f}"
    return row


def _limit_threads() -> None:
    import torch

    torch.set_num_threads(1)


def generate(out: str | os.PathLike, workers: int = 2, seeds: Sequence[int] = SEEDS,
             limit: int | None = None, log=print) -> int:
    """Train every missing (canonical architecture, seed) pair and append its row to ``out``.

    Parameters
    ----------
    out : path
        The CSV table (created with its header and settings file if missing).
    workers : int
        Worker processes (spawn context); 1 trains in this process.
    seeds : sequence of int
        Training seeds, a subset of ``SEEDS`` (the table's settings list all of them).
    limit : int, optional
        Train only the first ``limit`` canonical architectures (for tests and trials).
        They are trained in a fixed random order, so that an interrupted run leaves
        a uniform sample of the space.
    log : callable
        Receives progress lines.

    Returns
    -------
    int
        Rows written by this call.

    Raises
    ------
    ValueError
        For non-positive ``workers`` or ``limit``, unknown seeds, or a table made with
        other settings.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive int or None, got {limit!r}")
    if not seeds or any(seed not in SEEDS for seed in seeds):
        raise ValueError(f"seeds must be a non-empty subset of {list(SEEDS)}, got {list(seeds)!r}")
    path = Path(out)
    done = _prepare(path)
    archs = unique_architectures()[:limit]
    # a fixed shuffle: an interrupted generation leaves a uniform sample of the space
    archs = [archs[k] for k in np.random.default_rng(0).permutation(len(archs))]
    tasks = [(to_string(arch), seed) for arch in archs for seed in seeds if (to_string(arch), seed) not in done]
    log(f"{path}: {len(done)} rows present, {len(tasks)} to train on {workers} worker(s)")
    header = columns()
    began, written = time.perf_counter(), 0
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, lineterminator="\n")

        def write(row: dict[str, Any]) -> None:
            nonlocal written
            writer.writerow(row)
            handle.flush()
            written += 1
            if written % 50 == 0 or written == len(tasks):
                rate = (time.perf_counter() - began) / written
                log(f"{written}/{len(tasks)} rows, {rate:.2f} s/row, about {rate * (len(tasks) - written) / 60:.0f} min left")

        if workers == 1:
            for task in tasks:
                write(train_row(task))
            return written
        import multiprocessing

        pool = multiprocessing.get_context("spawn").Pool(workers, initializer=_limit_threads)
        try:
            for row in pool.imap_unordered(train_row, tasks):
                write(row)
            pool.close()
        except BaseException:
            pool.terminate()
            raise
        finally:
            pool.join()
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="the CSV table to create or complete")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS), help="training seeds (default 0 1 2)")
    parser.add_argument("--limit", type=int, default=None, help="only the first LIMIT architectures")
    args = parser.parse_args(argv)
    # `kill` raises SystemExit here, so the pool's workers are terminated too
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        generate(args.out, args.workers, args.seeds, args.limit)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
