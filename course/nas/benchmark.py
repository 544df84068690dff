"""Query the course's tabular NAS benchmark: a search "trains" an architecture by a table look-up.

The table (``course/nas/data/benchmark.csv``, made by :mod:`course.nas.make_benchmark`)
holds, for every canonical cell of :mod:`course.nas.cell_space` and each of 3 training
seeds, the validation and test accuracy after 1, 3 and 9 epochs of one 9-epoch cosine
schedule, the CPU seconds that training took up to each budget, and the parameter count.
Any architecture of the space can be queried: it is mapped to its canonical
representative (:func:`~course.nas.cell_space.canonical`), which computes the same
function. A query takes microseconds, so a whole search on the benchmark takes
milliseconds while reporting the *simulated* training time the search would have spent.

Examples
--------
>>> bench = load_benchmark()
>>> record = bench.query("|conv_3x3~0|+|skip_connect~0|conv_3x3~1|+|skip_connect~0|conv_3x3~1|skip_connect~2|", 9)
>>> sorted(record)
['arch', 'epochs', 'params', 'seed', 'test_accuracy', 'train_seconds', 'valid_accuracy']

References
----------
X. Dong and Y. Yang, "NAS-Bench-201: Extending the scope of reproducible neural
architecture search", ICLR 2020 (the table's design and its query interface).
C. Ying, A. Klein, E. Real, E. Christiansen, K. Murphy and F. Hutter, "NAS-Bench-101:
Towards reproducible neural architecture search", ICML 2019 (simulated time, several seeds).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from functools import lru_cache
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .cell_space import Architecture, canonical, check_architecture, from_string, to_architecture, to_string

__all__ = ["NASBenchmark", "load_benchmark", "query", "DEFAULT_TABLE"]

DEFAULT_TABLE = Path(__file__).resolve().parent / "data" / "benchmark.csv"
_METRICS = ("valid_accuracy", "test_accuracy", "train_seconds")


def _as_architecture(arch: Any) -> Architecture:
    """Accept a tuple of operations, a NAS-Bench-201 string or a :func:`cell_space` configuration."""
    if isinstance(arch, str):
        return from_string(arch)
    if isinstance(arch, Mapping):
        return to_architecture(arch)
    return check_architecture(arch)


@lru_cache(maxsize=8192)
def _canonical_string(arch: Architecture) -> str:
    return to_string(canonical(arch))


class NASBenchmark:
    """The benchmark table, indexed for fast queries.

    Parameters
    ----------
    path : path, optional
        The CSV table; the committed one by default. Its settings file (same name,
        ``.json``) is read when present.
    allow_partial : bool
        Accept a table where some canonical architectures or seeds are missing (a
        generation still running). Queries of missing architectures then raise.

    Attributes
    ----------
    budgets : tuple of int
        The epoch budgets recorded (1, 3, 9).
    seeds : tuple of int
        The training seeds recorded.
    table : pandas.DataFrame
        The raw table, one row per (canonical architecture, seed).
    settings : dict
        How the table was made (from ``benchmark.json``; empty if absent).

    Raises
    ------
    FileNotFoundError
        If the table does not exist.
    ValueError
        If it is malformed, or incomplete while ``allow_partial`` is false.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, allow_partial: bool = False) -> None:
        self.path = Path(DEFAULT_TABLE if path is None else path)
        if not self.path.exists():
            raise FileNotFoundError(f"no benchmark table at {self.path}; generate it with "
                                    f"python -m course.nas.make_benchmark --out {self.path}")
        meta = self.path.with_suffix(".json")
        self.settings: dict[str, Any] = json.loads(meta.read_text()).get("settings", {}) if meta.exists() else {}
        self.table = pd.read_csv(self.path)
        self.budgets = self._read_budgets()
        self.seeds = tuple(sorted(int(s) for s in self.table["seed"].unique()))
        self._index, self._params, self._values = self._build_index(allow_partial)

    def _read_budgets(self) -> tuple[int, ...]:
        missing = {"arch", "seed", "params"} - set(self.table.columns)
        if missing:
            raise ValueError(f"{self.path}: missing columns {sorted(missing)}")
        budgets = sorted({int(c.rsplit("_", 1)[1]) for c in self.table.columns if c.startswith("valid_accuracy_")})
        for b in budgets:
            for metric in _METRICS:
                if f"{metric}_{b}" not in self.table.columns:
                    raise ValueError(f"{self.path}: missing column {metric}_{b}")
        if not budgets:
            raise ValueError(f"{self.path}: no valid_accuracy_<epochs> columns")
        return tuple(budgets)

    def _build_index(self, allow_partial: bool):
        archs = sorted(self.table["arch"].unique())
        index = {arch: k for k, arch in enumerate(archs)}
        values = np.full((len(archs), len(self.seeds), len(self.budgets), len(_METRICS)), np.nan)
        params = np.zeros(len(archs), dtype=int)
        rows = self.table["arch"].map(index).to_numpy()
        seeds = self.table["seed"].map({s: k for k, s in enumerate(self.seeds)}).to_numpy()
        for b, budget in enumerate(self.budgets):
            for m, metric in enumerate(_METRICS):
                values[rows, seeds, b, m] = self.table[f"{metric}_{budget}"].to_numpy(dtype=float)
        params[rows] = self.table["params"].to_numpy()
        if self.table.duplicated(["arch", "seed"]).any():
            raise ValueError(f"{self.path}: duplicate (arch, seed) rows")
        for arch in archs:
            if _canonical_string(from_string(arch)) != arch:
                raise ValueError(f"{self.path}: {arch} is not a canonical architecture")
        if not allow_partial:
            from .cell_space import unique_architectures

            n_expected = len(unique_architectures())
            if len(archs) != n_expected or np.isnan(values).any():
                raise ValueError(f"{self.path} is incomplete: {len(self.table)} rows for {len(archs)} of "
                                 f"{n_expected} architectures x {len(self.seeds)} seeds (pass allow_partial=True "
                                 f"to query it anyway)")
        return index, params, values

    # -- queries --------------------------------------------------------------------------
    def _check_epochs(self, epochs: Any) -> int:
        if epochs is None:
            return self.budgets[-1]
        if isinstance(epochs, bool) or not isinstance(epochs, (Integral, float)) or epochs not in self.budgets:
            raise ValueError(f"no record at epochs={epochs!r}; the benchmark recorded budgets {list(self.budgets)}")
        return int(epochs)

    def _check_seed(self, seed: Any) -> int | None:
        if seed is None:
            return None
        if isinstance(seed, bool) or not isinstance(seed, Integral) or seed not in self.seeds:
            raise ValueError(f"unknown seed {seed!r}; the benchmark trained seeds {list(self.seeds)} "
                             f"(or pass seed=None for the mean over seeds)")
        return int(seed)

    def _row(self, arch: Any) -> tuple[str, int]:
        key = _canonical_string(_as_architecture(arch))
        if key not in self._index:
            raise KeyError(f"architecture {key} is not in the table {self.path} (an incomplete generation?)")
        return key, self._index[key]

    def query(self, arch: Any, epochs: int | None = None, seed: int | None = None) -> dict[str, Any]:
        """What training ``arch`` for ``epochs`` epochs gave, for one seed or on average.

        Parameters
        ----------
        arch : tuple of str, str or dict
            An architecture (one operation per edge), its NAS-Bench-201 string, or a
            configuration of :func:`~course.nas.cell_space.cell_space`.
        epochs : int, optional
            One of :attr:`budgets`; the largest by default.
        seed : int, optional
            One of :attr:`seeds`: that training run's numbers. ``None``: the mean over
            the seeds (accuracies and seconds).

        Returns
        -------
        dict
            ``arch`` (the canonical string that was looked up), ``epochs``, ``seed``,
            ``valid_accuracy``, ``test_accuracy`` (fractions), ``train_seconds`` (the
            simulated training time: CPU seconds of training up to ``epochs``) and
            ``params``.

        Raises
        ------
        ValueError
            For an invalid architecture, a budget that was not recorded or an unknown seed.
        TypeError
            If ``arch`` is neither a sequence of operations, a string nor a dict.
        KeyError
            If the table (a partial one) lacks the architecture.
        """
        epochs, seed = self._check_epochs(epochs), self._check_seed(seed)
        key, row = self._row(arch)
        b = self.budgets.index(epochs)
        cells = self._values[row, :, b, :] if seed is None else self._values[row, self.seeds.index(seed), b, :]
        if np.isnan(cells).any():
            raise KeyError(f"architecture {key} lacks a seed in the table {self.path} (an incomplete generation?)")
        numbers = cells.mean(axis=0) if seed is None else cells
        return {"arch": key, "epochs": epochs, "seed": seed, "valid_accuracy": float(numbers[0]),
                "test_accuracy": float(numbers[1]), "train_seconds": float(numbers[2]),
                "params": int(self._params[row])}

    def architectures(self) -> list[Architecture]:
        """The canonical architectures in the table (sorted by their strings)."""
        return [from_string(arch) for arch in self._index]

    def mean_accuracies(self, metric: str = "test_accuracy", epochs: int | None = None) -> pd.Series:
        """Mean over seeds of ``metric`` for every canonical architecture (indexed by its string).

        Raises
        ------
        ValueError
            For an unknown metric or budget.
        """
        if metric not in _METRICS:
            raise ValueError(f"metric must be one of {list(_METRICS)}, got {metric!r}")
        b = self.budgets.index(self._check_epochs(epochs))
        return pd.Series(self._values[:, :, b, _METRICS.index(metric)].mean(axis=1), index=list(self._index),
                         name=metric)

    def best_architecture(self, metric: str = "valid_accuracy", epochs: int | None = None) -> dict[str, Any]:
        """The query (mean over seeds) of the architecture with the highest mean ``metric``.

        Ties go to the first string in sorted order, so the answer is deterministic.
        """
        means = self.mean_accuracies(metric, epochs)
        return self.query(str(means.idxmax()), epochs)

    def median_architecture(self, metric: str = "valid_accuracy", epochs: int | None = None) -> dict[str, Any]:
        """The query of the architecture whose mean ``metric`` is the (lower) median of all."""
        means = self.mean_accuracies(metric, epochs).dropna().sort_values(kind="stable")
        return self.query(str(means.index[(len(means) - 1) // 2]), epochs)

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        return (f"NASBenchmark({str(self.path)!r}: {len(self)} canonical architectures, seeds {list(self.seeds)}, "
                f"budgets {list(self.budgets)})")


@lru_cache(maxsize=4)
def _load(path: str, allow_partial: bool) -> NASBenchmark:
    return NASBenchmark(path, allow_partial=allow_partial)


def load_benchmark(path: str | os.PathLike | None = None, *, allow_partial: bool = False) -> NASBenchmark:
    """The benchmark at ``path`` (the committed table by default), loaded once per process."""
    return _load(str(Path(DEFAULT_TABLE if path is None else path).resolve()), allow_partial)


def query(arch: Any, epochs: int | None = None, seed: int | None = None) -> dict[str, Any]:
    """:meth:`NASBenchmark.query` on the committed table."""
    return load_benchmark().query(arch, epochs, seed)
