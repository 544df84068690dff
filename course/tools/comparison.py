"""A fair comparison of AutoML tools: same data, same split, same seeds, same wall-clock budget.

Comparing AutoML systems is easy to do badly. A tool that gets more time, a luckier
split, a single seed or a different metric "wins" for reasons that have nothing to do
with the tool. The AutoML benchmark (Gijsbers et al. 2019, 2024) fixes the protocol;
this module applies the same rules at the scale of a course:

1. every tool gets the **same train/test split** for a (dataset, seed), made here,
   before any tool sees the data, and is scored here on the test part (accuracy for
   classification, R^2 for regression), never by the tool itself;
2. every tool gets the **same wall-clock budget** ``budget_s`` for its search, passed
   to it in its own unit (seconds, minutes, trials and epochs under a deadline);
3. every (tool, dataset, seed) **cell runs in a fresh process**, so that one tool's
   imports, threads, Java server or dask workers cannot slow down or crash the next,
   its peak memory can be measured (the resident memory of the whole process tree,
   sampled), and a hang is ended by killing the whole tree;
4. **several seeds**: a table of mean ± std over seeds, never one number.

The tools, one *runner* each with the same signature
``runner(X_train, y_train, X_test, task, budget_s, seed) -> predictions``:

* ``mini_automl``: the course's :class:`course.automl.MiniAutoML` (CASH by TPE);
* ``optuna_sklearn``: an Optuna TPE study over a small scikit-learn model space,
  3-fold cross-validated (Akiba et al. 2019);
* ``tpot``: TPOT 1.1's genetic programming over pipelines (Olson et al. 2016);
* ``h2o``: H2O AutoML (LeDell and Poirier 2020) on a local cluster started and
  always stopped by :func:`course.tools.h2o_cluster.h2o_cluster`;
* ``autokeras``: AutoKeras's structured-data task (Jin et al. 2019, 2023) on
  Keras 3 with the PyTorch backend.

A runner's body is the code a user writes to use that tool, so its non-blank,
non-comment, non-docstring lines (:func:`lines_of_code`) are a rough measure of how
much code each tool asks for.

References
----------
P. Gijsbers, E. LeDell, J. Thomas, S. Poirier, B. Bischl and J. Vanschoren, "An open
source AutoML benchmark", AutoML Workshop at ICML 2019.

P. Gijsbers, M. L. P. Bueno, S. Coors, E. LeDell, S. Poirier, J. Thomas, B. Bischl and
J. Vanschoren, "AMLB: an AutoML benchmark", JMLR 25(101) (2024) 1-65: the same budget,
folds and hardware for every framework, many datasets and repetitions.

T. Akiba, S. Sano, T. Yanase, T. Ohta and M. Koyama, "Optuna: a next-generation
hyperparameter optimization framework", KDD 2019.

R. S. Olson, N. Bartley, R. J. Urbanowicz and J. H. Moore, "Evaluation of a tree-based
pipeline optimization tool for automating data science", GECCO 2016.

E. LeDell and S. Poirier, "H2O AutoML: scalable automatic machine learning", AutoML
Workshop at ICML 2020.

H. Jin, Q. Song and X. Hu, "Auto-Keras: an efficient neural architecture search
system", KDD 2019; H. Jin, F. Chollet, Q. Song and X. Hu, "AutoKeras: an AutoML
library for deep learning", JMLR 24(6) (2023) 1-6.

Examples
--------
The course's mini-AutoML on wine, one seed, a 2-second budget (``tests/test_tool_comparison.py``
and ``benchmarks/tools.py`` run such comparisons for real)::

    results = compare(["mini_automl"], ["wine"], seeds=1, budget_s=2)
    summarise(results)      # one row per (dataset, tool): score, seconds, memory, lines
"""

from __future__ import annotations

import ast
import inspect
import io
import math
import os
import shutil
import signal
import tempfile
import textwrap
import time
import tokenize
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "TOOLS", "TOOL_NAMES", "DATASETS", "RESULT_COLUMNS",
    "BudgetTooSmallError", "ToolFailedError", "ToolTimeoutError",
    "run_mini_automl", "run_optuna_sklearn", "run_tpot", "run_h2o", "run_autokeras",
    "load_split", "lines_of_code", "run_cell", "compare", "summarise", "plot_comparison",
]

#: name -> (scikit-learn loader, task): the bundled datasets of the comparison.
DATASETS: dict[str, tuple[str, str]] = {
    "breast_cancer": ("load_breast_cancer", "classification"),
    "wine": ("load_wine", "classification"),
    "digits": ("load_digits", "classification"),
    "diabetes": ("load_diabetes", "regression"),
}
TASKS = ("classification", "regression")
#: Columns of the DataFrame :func:`compare` returns, in order.
RESULT_COLUMNS = ["tool", "dataset", "task", "seed", "budget_s", "status", "test_score", "seconds",
                  "peak_memory_mb", "lines_of_code", "n_processes", "error"]


class BudgetTooSmallError(RuntimeError):
    """The tool could not finish a single model within the budget it was given."""


class ToolTimeoutError(TimeoutError):
    """A cell ran past its hard time limit; its whole process tree was killed."""


class ToolFailedError(RuntimeError):
    """A tool raised (or its process died); the message holds the tool's own error."""


# ======================================================================================
# The runners: the code a user writes to use each tool
# ======================================================================================
# Every runner imports its tool inside the function: the import (and the start of a
# Java server or a dask cluster) is part of the time a user waits, and a missing tool
# only fails its own cells.

def run_mini_automl(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, task: str,
                    budget_s: float, seed: int) -> np.ndarray:
    """The course's :class:`~course.automl.MiniAutoML`: CASH by TPE for ``budget_s`` seconds."""
    from course.automl import MiniAutoML

    model = MiniAutoML(task=task, sampler="tpe", n_trials=None, time_budget=budget_s,
                       random_state=seed)
    model.fit(X_train, y_train)
    return model.predict(X_test)


def run_optuna_sklearn(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, task: str,
                       budget_s: float, seed: int) -> np.ndarray:
    """Optuna's TPE over a linear model, a random forest and k-NN, by 3-fold CV, then a refit."""
    import optuna
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    classify = task == "classification"

    def build(trial):
        family = trial.suggest_categorical("model", ["linear", "forest", "knn"])
        if family == "linear":
            c = trial.suggest_float("C", 1e-3, 1e3, log=True)
            model = LogisticRegression(C=c, max_iter=500) if classify else Ridge(alpha=1 / c)
        elif family == "forest":
            forest = RandomForestClassifier if classify else RandomForestRegressor
            model = forest(n_estimators=trial.suggest_int("n_estimators", 10, 200, log=True),
                           max_features=trial.suggest_float("max_features", 0.1, 1.0),
                           min_samples_leaf=trial.suggest_int("min_samples_leaf", 1, 10),
                           random_state=seed)
        else:
            knn = KNeighborsClassifier if classify else KNeighborsRegressor
            model = knn(n_neighbors=trial.suggest_int("n_neighbors", 1, 30),
                        weights=trial.suggest_categorical("weights", ["uniform", "distance"]))
        return make_pipeline(StandardScaler(), model)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(lambda trial: cross_val_score(build(trial), X_train, y_train, cv=3).mean(),
                   timeout=budget_s)
    best = build(optuna.trial.FixedTrial(study.best_params)).fit(X_train, y_train)
    return best.predict(X_test)


def run_tpot(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, task: str,
             budget_s: float, seed: int) -> np.ndarray:
    """TPOT 1.1 on its "linear-light" space, ``max_time_mins`` from the budget, one job.

    TPOT's clock runs while its dask worker (a fresh process, even with one job) starts
    and imports scikit-learn: below a few seconds no pipeline finishes.
    """
    from tpot import TPOTClassifier, TPOTRegressor

    Tpot = TPOTClassifier if task == "classification" else TPOTRegressor
    model = Tpot(search_space="linear-light", cv=3, max_time_mins=budget_s / 60,
                 max_eval_time_mins=budget_s / 60, n_jobs=1, random_state=seed, verbose=0)
    try:
        model.fit(X_train, y_train)
    except Exception as err:          # TPOT raises a bare Exception when no pipeline finished
        if "No individuals could be evaluated" in str(err):
            raise BudgetTooSmallError(f"TPOT evaluated no pipeline in {budget_s} s: {err}") from err
        raise
    return model.predict(X_test)


def run_h2o(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, task: str,
            budget_s: float, seed: int) -> np.ndarray:
    """H2O AutoML on a one-thread local cluster, ``max_runtime_secs`` from the budget."""
    from h2o.automl import H2OAutoML

    from course.tools.h2o_cluster import h2o_cluster

    if budget_s < 1:                  # H2O counts its budget in whole seconds
        raise BudgetTooSmallError(f"H2O AutoML needs max_runtime_secs >= 1, got {budget_s} s")
    columns = [f"x{j}" for j in range(X_train.shape[1])]
    with h2o_cluster(nthreads=1, max_mem_size="1G") as h2o:
        train = h2o.H2OFrame(pd.DataFrame(X_train, columns=columns).assign(y=y_train))
        if task == "classification":
            train["y"] = train["y"].asfactor()
        automl = H2OAutoML(max_runtime_secs=round(budget_s), nfolds=3, seed=seed,
                           verbosity=None)
        automl.train(y="y", training_frame=train)
        if automl.leader is None:
            raise BudgetTooSmallError(f"H2O AutoML trained no model in {budget_s} s")
        test = h2o.H2OFrame(pd.DataFrame(X_test, columns=columns))
        predicted = automl.leader.predict(test)["predict"].as_data_frame()["predict"]
    return predicted.to_numpy().astype(np.asarray(y_train).dtype)


def run_autokeras(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, task: str,
                  budget_s: float, seed: int) -> np.ndarray:
    """AutoKeras's structured-data task; it has no time budget, so a callback stops at the deadline.

    AutoKeras counts trials and epochs, not seconds: it gets up to one trial per 10 s of
    budget (at least one), 30 epochs each, and an early-stopping callback that also stops
    training at the deadline. AutoKeras removes early-stopping callbacks before its final
    refit of the best model on the training and validation data, so that refit (at most
    30 epochs on small data) comes on top of the budget.
    """
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import autokeras as ak
    import keras

    deadline = time.monotonic() + budget_s

    class StopAtDeadline(keras.callbacks.EarlyStopping):
        def on_train_batch_end(self, batch, logs=None):
            if time.monotonic() > deadline:
                self.model.stop_training = True

    keras.utils.set_random_seed(seed)
    AutoKeras = ak.StructuredDataClassifier if task == "classification" else ak.StructuredDataRegressor
    with tempfile.TemporaryDirectory(prefix="autokeras-") as folder:
        model = AutoKeras(max_trials=max(1, int(budget_s // 10)), directory=folder, overwrite=True,
                          seed=seed)
        model.fit(X_train, y_train, epochs=30, verbose=0,
                  callbacks=[StopAtDeadline(patience=5, min_delta=1e-4)])
        predicted = model.predict(X_test, verbose=0)
    return np.asarray(predicted).reshape(len(X_test)).astype(np.asarray(y_train).dtype)


#: name -> runner; every runner has the signature of :func:`run_mini_automl`.
TOOLS: dict[str, Callable[..., np.ndarray]] = {
    "mini_automl": run_mini_automl,
    "optuna_sklearn": run_optuna_sklearn,
    "tpot": run_tpot,
    "h2o": run_h2o,
    "autokeras": run_autokeras,
}
#: name -> a label for tables and plots.
TOOL_NAMES = {"mini_automl": "course MiniAutoML", "optuna_sklearn": "Optuna + scikit-learn",
              "tpot": "TPOT", "h2o": "H2O AutoML", "autokeras": "AutoKeras"}


# ======================================================================================
# Measuring: lines of user code
# ======================================================================================

def lines_of_code(func: Callable) -> int:
    """Non-blank, non-comment, non-docstring lines of a function's body.

    The ``def`` line(s) and decorators are not counted: they are the same for every
    runner. Docstrings of the function and of anything defined inside it are not
    counted; a statement spread over several lines counts every line it spans.

    Parameters
    ----------
    func : callable
        A Python function whose source :func:`inspect.getsource` can read.

    Returns
    -------
    int

    Raises
    ------
    TypeError
        If ``func`` is not a function with readable source.

    Examples
    --------
    >>> def f(x):
    ...     '''Doc.'''
    ...     # a comment
    ...     y = x + 1
    ...
    ...     return y
    >>> lines_of_code(f)
    2
    """
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (TypeError, OSError) as err:
        raise TypeError(f"lines_of_code needs a function with readable source, got {func!r}: "
                        f"{err}") from None
    tree = ast.parse(source)
    node = tree.body[0]
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        raise TypeError(f"lines_of_code needs a function, got {type(node).__name__} source")
    excluded = set(range(1, node.body[0].lineno))     # decorators and the signature
    for inner in ast.walk(node):
        body = getattr(inner, "body", None)
        if (isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            excluded |= set(range(body[0].lineno, body[0].end_lineno + 1))
    code_lines: set[int] = set()
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENDMARKER}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skip:
            code_lines |= set(range(token.start[0], token.end[0] + 1))
    return len(code_lines - excluded)


# ======================================================================================
# The data: one split per (dataset, seed), the same for every tool
# ======================================================================================

def _check_dataset(name: str, X: Any, y: Any, task: str) -> tuple[np.ndarray, np.ndarray]:
    if task not in TASKS:
        raise ValueError(f"dataset {name!r}: task must be 'classification' or 'regression', "
                         f"got {task!r}")
    X = np.asarray(X, dtype=float)
    y = np.asarray(y)
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
        raise ValueError(f"dataset {name!r}: X must be 2-D and y 1-D of the same length, got "
                         f"shapes {X.shape} and {y.shape}")
    missing = int(pd.isna(y).sum())
    if missing:
        raise ValueError(f"dataset {name!r} has {missing} missing targets (NaN in y): drop those "
                         "rows or impute the target before comparing tools")
    return X, y


def load_split(dataset: str | tuple[str, Any, Any, str], seed: int, *, test_size: float = 0.25,
               max_rows: int | None = None):
    """The train/test split of ``dataset`` for ``seed``: the same for every tool.

    Parameters
    ----------
    dataset : str or (name, X, y, task)
        A key of :data:`DATASETS`, or your own data with its name and task.
    seed : int
        Seeds the subsample and the split.
    test_size : float
        Fraction of the rows held out for the test score (stratified for
        classification).
    max_rows : int, optional
        Subsample the dataset to at most this many rows first (stratified), to keep
        a course-sized run short.

    Returns
    -------
    task : str
    X_train, X_test, y_train, y_test : numpy.ndarray

    Raises
    ------
    ValueError
        An unknown dataset name, a bad task or shape, or missing targets (the message
        says how many).
    """
    import sklearn.datasets
    from sklearn.model_selection import train_test_split

    if isinstance(dataset, str):
        if dataset not in DATASETS:
            raise ValueError(f"unknown dataset {dataset!r}; choose from {', '.join(DATASETS)} or "
                             "pass (name, X, y, task)")
        loader, task = DATASETS[dataset]
        X, y = getattr(sklearn.datasets, loader)(return_X_y=True)
        name = dataset
    else:
        name, X, y, task = dataset
    X, y = _check_dataset(name, X, y, task)
    stratify = y if task == "classification" else None
    if max_rows is not None and len(y) > max_rows:
        X, _, y, _ = train_test_split(X, y, train_size=max_rows, random_state=seed, stratify=stratify)
        stratify = y if task == "classification" else None
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, random_state=seed,
                                                        stratify=stratify)
    return task, X_train, X_test, y_train, y_test


def _test_score(task: str, y_test: np.ndarray, predicted: np.ndarray) -> float:
    from sklearn.metrics import accuracy_score, r2_score

    predicted = np.asarray(predicted).reshape(-1)
    if len(predicted) != len(y_test):
        raise ValueError(f"the tool returned {len(predicted)} predictions for {len(y_test)} test rows")
    if task == "classification":
        return float(accuracy_score(y_test, predicted))
    return float(r2_score(y_test, predicted.astype(float)))


# ======================================================================================
# One cell in a fresh process: timing, peak memory, and a kill of the whole tree
# ======================================================================================

#: Environment of every cell: Keras on PyTorch, one OpenMP thread, files in the cell's folder.
CELL_ENVIRONMENT = {"KERAS_BACKEND": "torch", "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}


def _cell_main(folder: str) -> None:
    """The child process (``python -c``): run one runner, write predictions or the error.

    It reads ``cell.pkl`` from ``folder`` (the runner is pickled by reference, so its
    module must be importable; ``sys_path.json`` holds the caller's ``sys.path``), writes
    ``result.pkl`` there, atomically, and ends the process without running exit handlers.
    """
    import json
    import pickle
    import sys

    sys.path[:0] = [p for p in json.loads(open(os.path.join(folder, "sys_path.json")).read())
                    if p not in sys.path]
    start = time.perf_counter()
    try:
        with open(os.path.join(folder, "cell.pkl"), "rb") as file:
            cell = pickle.load(file)
        start = time.perf_counter()   # the runner's time: not the interpreter's or the data's
        predicted = np.asarray(cell["runner"](*cell["args"]))
        message = {"ok": True, "predicted": predicted}
    except BaseException as err:      # the parent reports every error, with its type
        message = {"ok": False, "kind": type(err).__name__, "message": str(err),
                   "budget_too_small": isinstance(err, BudgetTooSmallError),
                   "traceback": traceback.format_exc()[-3000:]}
    message["seconds"] = time.perf_counter() - start
    message["maxrss_mb"] = _own_peak_mb()
    with open(os.path.join(folder, "result.tmp"), "wb") as file:
        pickle.dump(message, file)
    os.replace(os.path.join(folder, "result.tmp"), os.path.join(folder, "result.pkl"))
    # Leave at once: a tool's teardown at interpreter exit is not part of the cell (closing
    # TPOT's dask cluster took 6 s), and the parent kills whatever the tool left running.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _own_peak_mb() -> float:
    """This process's peak resident memory since it started its program (``VmHWM``).

    Not ``getrusage``'s ``ru_maxrss``: on Linux that survives ``exec``, so a child
    would report the size of the parent it was forked from. 0 where ``/proc`` is
    missing (the sampled peak is used alone).
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _descendants(root) -> list:
    import psutil
    try:
        return [root] + root.children(recursive=True)
    except psutil.Error:
        return []


def _rss_mb(processes: Iterable) -> float:
    import psutil
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            pass
    return total / 2 ** 20


def _kill_all(root_pid: int, seen: dict) -> int:
    """Kill every process ever seen in the tree and the child's process group; count the killed."""
    import psutil

    def in_child_group(process) -> bool:
        try:
            return process.is_running() and os.getpgid(process.pid) == root_pid
        except (psutil.Error, OSError):
            return False

    # the child's own session and group (never ours), which also holds helpers started in the
    # last instant before the kill; only while one of its members we saw is still there
    if any(in_child_group(p) for p in seen.values()):
        try:
            os.killpg(root_pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    alive = []
    for process in seen.values():
        try:
            if process.is_running():      # also checks the start time: never a reused pid
                process.kill()
                alive.append(process)
        except psutil.Error:
            pass
    # the child itself is reaped by Popen.wait, which keeps its exit code
    psutil.wait_procs([p for p in alive if p.pid != root_pid], timeout=10)
    return len(alive)


def _tail(path: str, chars: int = 600) -> str:
    try:
        with open(path, errors="replace") as file:
            return " ".join(file.read()[-chars:].split())
    except OSError:
        return ""


def run_cell(runner: Callable, X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray,
             task: str, budget_s: float, seed: int, *, timeout_s: float,
             sample_every_s: float = 0.05) -> dict[str, Any]:
    """Run one runner in a fresh Python process; measure it; leave no process behind.

    The child is a new interpreter (``python -c``) in its own session, working in a
    temporary folder (also its ``TMPDIR``), with :data:`CELL_ENVIRONMENT`; its output
    goes to a log in that folder. Every process of its tree is remembered while it runs,
    so that helpers which leave the tree (a server in its own session, an orphan) are
    still killed at the end. Only a process that detaches itself and is gone from the
    tree between two samples (a double fork within 50 ms) could escape.

    Parameters
    ----------
    runner : callable
        ``runner(X_train, y_train, X_test, task, budget_s, seed) -> predictions``,
        importable by a fresh interpreter (a module-level function of a module).
    X_train, y_train, X_test : numpy.ndarray
    task : {"classification", "regression"}
    budget_s : float
        Passed to the runner.
    seed : int
        Passed to the runner.
    timeout_s : float
        Hard limit on the whole cell (process start included): past it the process
        tree is killed and the status is ``"timeout"``.
    sample_every_s : float
        How often the tree's resident memory is sampled.

    Returns
    -------
    dict
        ``status`` (``"ok"``, ``"budget_too_small"``, ``"failed"``, ``"crashed"`` or
        ``"timeout"``), ``predicted`` (or None), ``seconds`` (the runner's wall time,
        measured in the child: tool imports, server start, search, refit and
        prediction; for a timeout or a crash, the time until then), ``peak_memory_mb``
        (largest sampled sum of the resident memory of the child and all its
        descendants, and at least the child's own peak), ``n_processes`` (most
        processes seen in the tree at once), ``error`` (type and message, or ``""``),
        ``traceback``, ``output`` (the end of what the tool printed: its stdout and
        stderr go to a log, not to the caller's terminal) and ``killed`` (processes
        still alive at the end, killed).
    """
    import json
    import pickle
    import subprocess
    import sys

    import psutil

    folder = tempfile.mkdtemp(prefix="tool-cell-")
    seen: dict[tuple[int, float], Any] = {}
    peak, widest, status, message, process = 0.0, 0, None, None, None
    start = time.perf_counter()
    try:
        with open(os.path.join(folder, "sys_path.json"), "w") as file:
            json.dump([p for p in sys.path if p], file)
        with open(os.path.join(folder, "cell.pkl"), "wb") as file:
            pickle.dump({"runner": runner,
                         "args": (X_train, y_train, X_test, task, budget_s, seed)}, file)
        environment = {**os.environ, **CELL_ENVIRONMENT, "TMPDIR": folder,
                       "KERAS_HOME": os.path.join(folder, "keras"),
                       "MPLCONFIGDIR": os.path.join(folder, "matplotlib")}
        command = [sys.executable, "-c",
                   f"from course.tools.comparison import _cell_main; _cell_main({folder!r})"]
        with open(os.path.join(folder, "output.log"), "wb") as log:
            process = subprocess.Popen(command, cwd=folder, env=environment, stdout=log,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True)
        root = psutil.Process(process.pid)
        while status is None:
            tree = _descendants(root)
            for p in tree:
                try:
                    seen.setdefault((p.pid, p.create_time()), p)
                except psutil.Error:
                    pass
            peak, widest = max(peak, _rss_mb(tree)), max(widest, len(tree))
            if process.poll() is not None:
                status = "done"
            elif time.perf_counter() - start > timeout_s:
                status = "timeout"
            else:
                time.sleep(sample_every_s)
        result_path = os.path.join(folder, "result.pkl")
        if status == "done":
            if os.path.exists(result_path):
                with open(result_path, "rb") as file:
                    message = pickle.load(file)
            else:
                status = "crashed"
    finally:
        killed = _kill_all(process.pid, seen) if process is not None else 0
        if process is not None:
            process.wait()
        output = _tail(os.path.join(folder, "output.log"))
        shutil.rmtree(folder, ignore_errors=True)
    result = {"status": status, "predicted": None, "seconds": time.perf_counter() - start,
              "peak_memory_mb": peak, "n_processes": widest, "error": "", "traceback": "",
              "output": output, "killed": killed}
    if status == "timeout":
        result["error"] = (f"ToolTimeoutError: no answer within {timeout_s:.0f} s (budget {budget_s} s);"
                           f" killed its process tree")
    elif status == "crashed":
        result["error"] = (f"the process died with exit code {process.returncode} and no result; "
                           f"its last output: {output}")
    else:
        result["seconds"] = message["seconds"]
        result["peak_memory_mb"] = max(peak, message["maxrss_mb"])
        if message["ok"]:
            result.update(status="ok", predicted=message["predicted"])
        else:
            result.update(status="budget_too_small" if message["budget_too_small"] else "failed",
                          error=f"{message['kind']}: {message['message']}",
                          traceback=message["traceback"])
    return result


# ======================================================================================
# The comparison
# ======================================================================================

def _check_tools(tools: Sequence[str | Callable]) -> dict[str, Callable]:
    if isinstance(tools, (str, bytes)) or not isinstance(tools, Sequence) or not tools:
        raise ValueError(f"tools must be a non-empty list of tool names or runners, got {tools!r}")
    checked = {}
    for tool in tools:
        if callable(tool):
            if getattr(tool, "__module__", None) in (None, "__main__"):
                raise ValueError(f"runner {getattr(tool, '__name__', tool)!r} is defined in a notebook, "
                                 "a script or an interactive session, which a fresh process cannot "
                                 "import: put it in a .py module and import it from there")
            checked[getattr(tool, "__name__", repr(tool))] = tool
        elif tool in TOOLS:
            checked[tool] = TOOLS[tool]
        else:
            raise ValueError(f"unknown tool {tool!r}; choose from {', '.join(TOOLS)} or pass a "
                             "runner function")
    return checked


def _check_datasets(datasets) -> list:
    if isinstance(datasets, str) or not isinstance(datasets, (Sequence, Mapping)) or not datasets:
        raise ValueError(f"datasets must be a non-empty list of dataset names or a mapping "
                         f"name -> (X, y, task), got {datasets!r}")
    if isinstance(datasets, Mapping):
        items = [(name, *value) for name, value in datasets.items()]
        for name, X, y, task in items:
            _check_dataset(name, X, y, task)
        return items
    for name in datasets:
        if name not in DATASETS:
            raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    return list(datasets)


def _check_seeds(seeds: int | Sequence[int]) -> list[int]:
    def is_int(value):
        return isinstance(value, Integral) and not isinstance(value, bool)
    if is_int(seeds):
        if seeds < 1:
            raise ValueError(f"seeds must be a positive int or a list of ints, got {seeds!r}")
        return list(range(int(seeds)))
    if isinstance(seeds, Sequence) and seeds and all(is_int(s) for s in seeds):
        return [int(s) for s in seeds]
    raise ValueError(f"seeds must be a positive int or a non-empty list of ints, got {seeds!r}")


def _check_seconds(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


def compare(tools: Sequence[str | Callable], datasets: Sequence[str] | Mapping[str, tuple],
            seeds: int | Sequence[int] = 3, budget_s: float = 10.0, *, max_rows: int | None = None,
            grace_s: float = 60.0, on_error: str = "raise",
            log: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Run every (tool, dataset, seed) cell in a fresh process and measure it.

    Every tool sees the same train/test split of a (dataset, seed) (:func:`load_split`,
    75/25, stratified for classification) and the same ``budget_s``; the test score
    is computed here from the tool's predictions. Cells run one after another, so no
    tool competes with another for the cores.

    Parameters
    ----------
    tools : list of str or callable
        Names among :data:`TOOLS`, or runner functions with the same signature
        (module-level, so a fresh process can import them; named by ``__name__``).
    datasets : list of str or dict
        Names among :data:`DATASETS`, or ``{name: (X, y, task)}`` for your own data.
    seeds : int or list of int
        ``3`` means seeds 0, 1, 2. A seed fixes the split and the tool's randomness.
    budget_s : float
        The search budget, in seconds of wall-clock time, of every tool.
    max_rows : int, optional
        Subsample every dataset to at most this many rows (the same rows for every
        tool), to keep a course-sized run short.
    grace_s : float
        A cell is killed (with its whole process tree) after ``2 * budget_s + grace_s``
        seconds: starting a Java server, a dask cluster or importing a deep-learning
        library takes seconds that no tool counts in its budget.
    on_error : {"raise", "record"}
        ``"raise"``: the first failed cell raises (after its processes are killed).
        ``"record"``: it becomes a row with its status and the tool's exact error, and
        the comparison goes on.
    log : callable, optional
        Called with one progress line per cell (e.g. ``print``).

    Returns
    -------
    pandas.DataFrame
        One row per cell, columns :data:`RESULT_COLUMNS`: ``tool``, ``dataset``,
        ``task``, ``seed``, ``budget_s``, ``status``, ``test_score`` (accuracy or R^2;
        NaN unless ``"ok"``), ``seconds`` (the runner's wall time: imports, server
        start, search, refit, prediction), ``peak_memory_mb`` (the process tree's
        resident memory, Java and dask workers included), ``lines_of_code``
        (:func:`lines_of_code` of the runner), ``n_processes`` and ``error``.

    Raises
    ------
    ValueError
        An unknown tool or dataset, a budget that is not a positive number, bad
        seeds, a dataset with missing targets (``dataset X has N missing targets``),
        an unknown ``on_error``. Checked before any process starts.
    BudgetTooSmallError
        With ``on_error="raise"``, when a tool finished no model within ``budget_s``.
    ToolTimeoutError
        With ``on_error="raise"``, when a cell ran past its hard limit.
    ToolFailedError
        With ``on_error="raise"``, when a tool raised or its process died; the message
        holds the tool's error.
    """
    runners = _check_tools(tools)
    datasets = _check_datasets(datasets)
    seed_list = _check_seeds(seeds)
    budget_s = _check_seconds("budget_s", budget_s)
    grace_s = _check_seconds("grace_s", grace_s)
    if on_error not in ("raise", "record"):
        raise ValueError(f"on_error must be 'raise' or 'record', got {on_error!r}")
    if max_rows is not None and (not isinstance(max_rows, Integral) or max_rows < 10):
        raise ValueError(f"max_rows must be an int >= 10 or None, got {max_rows!r}")
    loc = {name: lines_of_code(runner) for name, runner in runners.items()}
    rows = []
    for dataset in datasets:
        name = dataset if isinstance(dataset, str) else dataset[0]
        for seed in seed_list:
            task, X_train, X_test, y_train, y_test = load_split(dataset, seed, max_rows=max_rows)
            for tool, runner in runners.items():
                cell = run_cell(runner, X_train, y_train, X_test, task, budget_s, seed,
                                timeout_s=2 * budget_s + grace_s)
                score = math.nan
                if cell["status"] == "ok":
                    try:
                        score = _test_score(task, y_test, cell["predicted"])
                    except ValueError as err:
                        cell.update(status="failed", error=f"ValueError: {err}")
                row = {"tool": tool, "dataset": name, "task": task, "seed": seed,
                       "budget_s": budget_s, "status": cell["status"], "test_score": score,
                       "seconds": cell["seconds"], "peak_memory_mb": cell["peak_memory_mb"],
                       "lines_of_code": loc[tool], "n_processes": cell["n_processes"],
                       "error": cell["error"]}
                rows.append(row)
                if log is not None:
                    log(f"{tool:>15} {name:>13} seed {seed}: {cell['status']:<16} score {score:.4f} "
                        f"{cell['seconds']:6.1f} s {cell['peak_memory_mb']:7.0f} MB"
                        + (f"  {cell['error'][:200]}" if cell["error"] else ""))
                if on_error == "raise" and cell["status"] != "ok":
                    _raise(row, cell)
    return pd.DataFrame.from_records(rows, columns=RESULT_COLUMNS)


def _raise(row: dict[str, Any], cell: dict[str, Any]) -> None:
    where = f"{row['tool']} on {row['dataset']} (seed {row['seed']})"
    if cell["status"] == "budget_too_small":
        raise BudgetTooSmallError(f"{where} could not finish a single model within a budget of "
                                  f"{row['budget_s']:g} s: {cell['error']}. Give it a larger budget_s.")
    if cell["status"] == "timeout":
        raise ToolTimeoutError(f"{where} with budget_s={row['budget_s']:g}: {cell['error']}")
    raise ToolFailedError(f"{where} failed with budget_s={row['budget_s']:g}: {cell['error']}\n"
                          f"{cell['traceback']}")


# ======================================================================================
# The table and the figure
# ======================================================================================

def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, tool): mean ± std over seeds of score, time and memory.

    Parameters
    ----------
    results : pandas.DataFrame
        The output of :func:`compare`.

    Returns
    -------
    pandas.DataFrame
        Columns ``dataset``, ``tool``, ``runs`` (finished / all seeds), ``test score``,
        ``seconds``, ``peak memory (MB)`` (each ``"mean ± std"`` over the finished
        seeds), ``lines of code`` and ``failures`` (the first error, if any cell did
        not finish).
    """
    missing = set(RESULT_COLUMNS) - set(getattr(results, "columns", []))
    if not isinstance(results, pd.DataFrame) or missing:
        raise ValueError(f"results must be the DataFrame compare() returns; missing columns "
                         f"{sorted(missing)}")

    def mean_std(values: pd.Series, digits: int) -> str:
        values = values.dropna()
        if not len(values):
            return "n/a"
        std = values.std(ddof=1) if len(values) > 1 else 0.0
        return f"{values.mean():.{digits}f} ± {std:.{digits}f}"

    rows = []
    for (dataset, tool), frame in results.groupby(["dataset", "tool"], sort=False):
        ok = frame[frame["status"] == "ok"]
        failed = frame[frame["status"] != "ok"]
        rows.append({"dataset": dataset, "tool": tool, "runs": f"{len(ok)}/{len(frame)}",
                     "test score": mean_std(ok["test_score"], 3),
                     "seconds": mean_std(ok["seconds"], 1),
                     "peak memory (MB)": mean_std(ok["peak_memory_mb"], 0),
                     "lines of code": int(frame["lines_of_code"].iloc[0]),
                     "failures": "" if failed.empty else
                     f"{failed['status'].iloc[0]}: {failed['error'].iloc[0][:160]}"})
    return pd.DataFrame(rows)


def plot_comparison(results: pd.DataFrame, *, title: str | None = None):
    """One figure: test score against wall time per dataset, and peak memory per tool.

    Each dataset gets a panel with one dot per (tool, seed) that finished and the
    tool's mean as a diamond; the last panel shows the peak memory of every cell on a
    log scale (crosses: cells that did not finish, whose memory was measured too).
    The tools that did not finish are listed under the figure title.

    Parameters
    ----------
    results : pandas.DataFrame
        The output of :func:`compare`.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    summarise(results)                       # the same check of the input
    datasets = list(dict.fromkeys(results["dataset"]))
    tools = list(dict.fromkeys(results["tool"]))
    colours = {tool: plt.get_cmap("tab10")(k % 10) for k, tool in enumerate(tools)}
    fig, axes = plt.subplots(1, len(datasets) + 1, figsize=(3.8 * (len(datasets) + 1), 3.8),
                             squeeze=False)
    ok = results[results["status"] == "ok"]
    for ax, dataset in zip(axes[0], datasets):
        frame = ok[ok["dataset"] == dataset]
        for tool in tools:
            cells = frame[frame["tool"] == tool]
            if cells.empty:
                continue
            ax.plot(cells["seconds"], cells["test_score"], "o", color=colours[tool], alpha=0.4, ms=4)
            ax.plot(cells["seconds"].mean(), cells["test_score"].mean(), "D", color=colours[tool],
                    ms=8, mec="black", label=TOOL_NAMES.get(tool, tool))
        task = results.loc[results["dataset"] == dataset, "task"].iloc[0]
        ax.set(title=f"{dataset} ({task})", xlabel="wall time of the run (s)",
               ylabel="test accuracy" if task == "classification" else "test R²")
        ax.grid(True, alpha=0.3)
    ax = axes[0][-1]
    for k, tool in enumerate(tools):
        for finished, marker in ((True, "o"), (False, "x")):
            cells = results[(results["tool"] == tool) & ((results["status"] == "ok") == finished)]
            if len(cells):
                ax.plot(np.full(len(cells), k), cells["peak_memory_mb"], marker, color=colours[tool],
                        alpha=0.6)
    ax.set_xticks(range(len(tools)), [TOOL_NAMES.get(t, t) for t in tools], rotation=30, ha="right",
                  fontsize=8)
    ax.set_yscale("log")
    ax.set(title="peak memory of the process tree\n(x: cells that did not finish)", ylabel="MB")
    ax.grid(True, alpha=0.3)
    failed = results[results["status"] != "ok"]
    heading = title or f"Same split, same {results['budget_s'].iloc[0]:g} s budget, " \
                       f"{results['seed'].nunique()} seed(s)"
    if len(failed):
        heading += "\nnot finished: " + ", ".join(
            sorted({f"{t} ({s})" for t, s in zip(failed["tool"], failed["status"])}))
    fig.suptitle(heading, fontsize=10)
    handles = [plt.Line2D([], [], marker="D", ls="", color=colours[t], mec="black",
                          label=TOOL_NAMES.get(t, t)) for t in tools]
    fig.legend(handles=handles, loc="lower center", ncol=len(tools), fontsize=8,
               title="diamond: mean over seeds; dots: one seed each", title_fontsize=8)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    return fig
