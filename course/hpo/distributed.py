"""Distributed hyperparameter optimisation: one Optuna study, several worker processes.

Optuna (Akiba et al. 2019, section 4) distributes a study without a master process:
the **storage** is the only shared state. It holds the study, and for every trial
its number, parameters, state (``WAITING``, ``RUNNING``, ``COMPLETE``, ``FAIL``,
``PRUNED``) and value. Any number of worker processes, on one machine or several,
open the same storage and run the same loop; they never talk to each other. This
module provides the pieces of that set-up:

* :func:`open_storage`: an embedded **journal file** by default (nothing to install;
  every write is one appended line, so the file is also a complete log of the
  study), or **PostgreSQL** when a database URL is given, as an argument or in the
  environment variable ``COURSE_HPO_STORAGE``. A URL that does not work gives a
  one-line :class:`StorageError` (password masked), not a driver's stack trace.
* :func:`run_worker`: the worker's loop, which stops when the study holds exactly
  ``n_trials`` complete trials **in total, across all workers**;
* ``python -m course.hpo.distributed``: the same loop as a separate process, with the
  objective given as an importable ``module:function``;
* :func:`launch_workers`: start ``k`` such processes and wait for them
  (a :class:`WorkerPool`; stopped on error or interrupt, so none is left behind);
* :func:`enqueue_best_trials`: warm-start a new study from an earlier one;
* :func:`digits_svm_objective`: a real, CPU-bound objective (an SVM on scikit-learn's
  digits, 0.2-1 s per trial) that worker processes can import.

The worker's protocol
---------------------
Each worker repeats, until the budget is met::

    with the study's lock:                     # one worker at a time decides
        fail the stale trials                  # their worker's heartbeat stopped
        complete, running = count the trials in the storage
        if complete >= n_trials: stop
        if complete + running < n_trials:
            trial = study.ask()                # a queued trial first, else a new one
    if no trial: wait and repeat               # the running trials may fill the budget,
                                               # unless one of their workers dies
    with a heartbeat: value = objective(trial)
    study.tell(trial, value)

The sampler runs inside ``study.ask()`` and reads every trial of the storage, the
other workers' running ones included. Optuna's ``TPESampler`` treats those as bad
results by default (``constant_liar=True``, the *constant liar* of Ginsbourger et al.
2010), so that two workers do not propose the same point; each worker gets its own
sampler seed, otherwise the random start-up trials of all workers would coincide.

Why a lock, and why not ``optuna.study.MaxTrialsCallback``? The callback stops a
worker once the study holds ``n`` complete trials, but every other worker finishes
the trial it is running, and a worker may start a trial although enough are already
running: with ``k`` workers the study ends with up to ``k - 1`` trials too many.
Counting the running trials before asking fixes the second problem only if no other
worker asks between our count and our ask: *check, then act* is a race, and the
storage offers no atomic "create a trial only if fewer than ``n`` exist". So the three
lines that count and ask form a critical section, guarded by a lock that dies with its
holder: ``pg_advisory_xact_lock`` for PostgreSQL (released when the transaction or the
connection ends), ``fcntl.flock`` on the file ``<journal>.claim`` for a journal (released
when the process ends). It is held for milliseconds per trial; with hundreds of
workers and trials of a few milliseconds it would become a bottleneck (Optuna itself
takes no such lock and accepts the overshoot).

Killed workers: heartbeats
--------------------------
A worker that is killed (``SIGKILL``, a crash of its machine) cannot tell the storage
that its trial will never finish: the trial stays ``RUNNING`` for ever, and its slot
of the budget is lost. Optuna's answer is a **heartbeat**: while a trial runs, a
thread of its worker records the time every ``heartbeat_interval`` seconds; a
``RUNNING`` trial whose last heartbeat is older than ``grace_period`` is *stale*, and
the next worker that looks (``optuna.storages.fail_stale_trials``, called at the top
of the loop above) sets it to ``FAIL``. With ``max_retry > 0`` a copy of the failed
trial, with the same parameters, is queued as ``WAITING`` and the next ``ask`` of any
worker runs it again (``optuna.storages.RetryHeartbeatStaleTrialCallback``). Nothing
finished is lost: a complete trial is never touched again.

* ``optuna.storages.RDBStorage`` (PostgreSQL) supports heartbeats: it keeps them in a
  table of their own, timed by the database server's clock.
* ``optuna.storages.JournalStorage`` does **not** in Optuna 5.0 (it is not a
  ``BaseHeartbeat``, so ``fail_stale_trials`` does nothing with it). The journal file
  therefore opens as a :class:`HeartbeatJournalStorage`, a ``JournalStorage`` that
  adds the heartbeat interface: a heartbeat is a trial system attribute
  ``heartbeat`` holding the worker's clock (``time.time()``), written to the journal
  like any other change; a ``RUNNING`` trial is stale when its last heartbeat (or,
  before the first one, its start) is older than ``grace_period``. Workers on several
  machines sharing the file need synchronised clocks (NTP), and every process writing
  to the file must record heartbeats (a plain ``JournalStorage`` user's trials would
  be failed). ``study.optimize`` works with it too: Optuna starts the heartbeat thread
  and fails stale trials itself, exactly as with ``RDBStorage``.

A worker stopped by ``SIGTERM`` or ``SIGINT`` (Ctrl-C) sets its running trial to
``FAIL`` itself before it exits; only ``SIGKILL`` and crashes need the heartbeat.

References
----------
T. Akiba, S. Sano, T. Yanase, T. Ohta and M. Koyama, "Optuna: a next-generation
hyperparameter optimization framework", KDD 2019 (section 4: distributed optimisation
through a shared storage, with no change to the user's code).

D. Ginsbourger, R. Le Riche and L. Carraro, "Kriging is well-suited to parallelize
optimization", in *Computational Intelligence in Expensive Optimization Problems*,
Springer 2010 (the constant liar).

R. Liaw, E. Liang, R. Nishihara, P. Moritz, J. E. Gonzalez and I. Stoica, "Tune: a
research platform for distributed model selection and training", ICML AutoML
workshop 2018 (Ray Tune, the other way to distribute shown in the course).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import ExperimentalWarning, UpdateFinishedTrialError
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages._heartbeat import BaseHeartbeat  # the interface RDBStorage implements
from optuna.storages.journal import BaseJournalBackend, JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

__all__ = ["open_storage", "StorageError", "HeartbeatJournalStorage", "STORAGE_ENV",
           "SUPPORTED_SCHEMES", "storage_url", "mask_password", "run_worker", "load_objective",
           "launch_workers", "WorkerPool", "WorkerError", "enqueue_best_trials",
           "digits_svm_objective", "digits_svm_error", "DIGITS_SVM_RANGES"]

#: The environment variable that supplies a database URL when none is given.
STORAGE_ENV = "COURSE_HPO_STORAGE"
#: URL schemes :func:`open_storage` accepts (SQLAlchemy's names). Both use the driver
#: psycopg2: SQLAlchemy 2.1 would pick psycopg 3 for a bare ``postgresql://``.
SUPPORTED_SCHEMES = ("postgresql", "postgresql+psycopg2")
#: Default seconds between two heartbeats of a running trial.
HEARTBEAT_INTERVAL = 5
#: The trial system attribute that holds a journal trial's last heartbeat.
HEARTBEAT_KEY = "heartbeat"
#: Seconds between two looks at the storage while a worker waits for running trials.
POLL_INTERVAL = 0.2


class StorageError(RuntimeError):
    """The storage cannot be opened: the database is unreachable, refuses us, or is missing."""


class WorkerError(RuntimeError):
    """A worker process failed, or the workers did not finish in time."""


# ======================================================================================
# Storages
# ======================================================================================

def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _grace(heartbeat_interval: int, grace_period: int | None) -> int:
    return 2 * heartbeat_interval if grace_period is None else grace_period


class HeartbeatJournalStorage(JournalStorage, BaseHeartbeat):
    """A journal storage whose running trials record heartbeats, so that stale ones fail.

    Optuna 5.0's ``JournalStorage`` has no heartbeat; this subclass adds the interface
    ``RDBStorage`` implements (``record_heartbeat``, ``_get_stale_trial_ids``,
    ``get_heartbeat_interval``, ``get_heartbeat_stale_trial_callback``), so that
    ``optuna.storages.fail_stale_trials``, ``study.optimize`` and :func:`run_worker`
    treat both storages alike. A heartbeat is the trial system attribute
    ``"heartbeat"``, the writer's ``time.time()``; see the module docstring for what
    that implies (synchronised clocks, every writer recording heartbeats).

    Parameters
    ----------
    log_storage : optuna.storages.journal.BaseJournalBackend
        Where the journal lives, e.g. ``JournalFileBackend(path)``.
    heartbeat_interval : int
        Seconds between two heartbeats of a running trial.
    grace_period : int or None
        A running trial whose last heartbeat is older than this many seconds is stale;
        ``None`` means ``2 * heartbeat_interval`` (as in ``RDBStorage``).
    heartbeat_stale_trial_callback : callable or None
        Called as ``callback(study, trial)`` for each trial this process set to
        ``FAIL`` because it was stale, e.g. ``RetryHeartbeatStaleTrialCallback``.

    Raises
    ------
    ValueError
        If ``heartbeat_interval`` or ``grace_period`` is not a positive int.
    """

    def __init__(self, log_storage: BaseJournalBackend, *, heartbeat_interval: int,
                 grace_period: int | None = None,
                 heartbeat_stale_trial_callback: Callable[[optuna.Study, FrozenTrial], None]
                 | None = None) -> None:
        self.heartbeat_interval = _positive_int("heartbeat_interval", heartbeat_interval)
        self.grace_period = None if grace_period is None else _positive_int("grace_period",
                                                                            grace_period)
        self.heartbeat_stale_trial_callback = heartbeat_stale_trial_callback
        super().__init__(log_storage)

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            self.set_trial_system_attr(trial_id, HEARTBEAT_KEY, time.time())
        except UpdateFinishedTrialError:
            pass  # another worker found the trial stale and failed it: nothing to keep alive

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        grace = _grace(self.heartbeat_interval, self.grace_period)
        now = time.time()
        stale = []
        for trial in self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
            last = trial.system_attrs.get(HEARTBEAT_KEY)
            if last is None:  # killed before its first heartbeat: judge it by its start
                last = trial.datetime_start.timestamp() if trial.datetime_start else now
            if now - last > grace:
                stale.append(trial._trial_id)
        return stale

    def get_heartbeat_interval(self) -> int:
        return self.heartbeat_interval

    def get_heartbeat_stale_trial_callback(
            self) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        return self.heartbeat_stale_trial_callback


def storage_url(url: str | None = None) -> str | None:
    """The database URL to use: ``url`` if given, else ``$COURSE_HPO_STORAGE``, else ``None``.

    ``None`` means "use a journal file". An empty environment variable counts as unset.
    """
    if url is not None:
        if not isinstance(url, str):
            raise TypeError(f"url must be a str or None, got {type(url).__name__}")
        return url
    return os.environ.get(STORAGE_ENV) or None


def mask_password(url: str) -> str:
    """``url`` with its password replaced by ``***``, for messages and logs.

    >>> mask_password("postgresql://ada:secret@127.0.0.1:5432/hpo")
    'postgresql://ada:***@127.0.0.1:5432/hpo'
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", url)


def _database_url(url: str) -> str:
    """``url`` with its driver made explicit (psycopg2), or a ValueError naming the supported schemes."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    supported = ", ".join(f"{scheme}://" for scheme in SUPPORTED_SCHEMES)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise ValueError(f"not a database URL: {mask_password(url)!r}; expected "
                         f"{SUPPORTED_SCHEMES[0]}://user:password@host:port/database "
                         "(or no URL, for a journal file)") from None
    if parsed.drivername not in SUPPORTED_SCHEMES:
        raise ValueError(f"unsupported storage scheme {parsed.drivername!r} in {mask_password(url)!r}; "
                         f"supported: {supported} (or no URL, for a journal file)")
    return parsed.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)


def _connection_failure(err: BaseException) -> str:
    """The driver's reason for a failed connection, in one line (e.g. 'connection refused')."""
    text = str(getattr(err, "orig", None) or err).strip()
    first = text.splitlines()[0] if text else type(err).__name__
    reason = first.split(" failed: ", 1)[-1]
    reason = re.sub(r"^(FATAL|ERROR):\s+", "", reason).strip()
    return reason[:1].lower() + reason[1:]


def _check_connection(url: str, shown: str, connect_timeout: int) -> None:
    """Connect once; turn every failure into a one-line StorageError (password masked)."""
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    try:
        engine = sqlalchemy.create_engine(url, poolclass=NullPool,
                                          connect_args={"connect_timeout": connect_timeout})
    except ImportError as err:  # the driver is missing
        raise StorageError(f"cannot use {shown}: the PostgreSQL driver is not "
                           f"installed ({err})") from None
    try:
        with engine.connect():
            pass
    except sqlalchemy.exc.DBAPIError as err:
        reason = _connection_failure(err)
        hint = ""
        if "refused" in reason or "timeout" in reason or "translate host" in reason:
            hint = "; is PostgreSQL running and listening on that host and port?"
        raise StorageError(f"cannot connect to {shown}: {reason}{hint}") from None
    finally:
        engine.dispose()


def _retry_callback(max_retry: int):
    if max_retry == 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        return optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)


def open_storage(url: str | None = None, *, journal_path: str | os.PathLike | None = None,
                 heartbeat_interval: int = HEARTBEAT_INTERVAL, grace_period: int | None = None,
                 max_retry: int = 1, connect_timeout: int = 10) -> BaseStorage:
    """Open the storage that a study's workers share: PostgreSQL if a URL is given, else a journal file.

    Parameters
    ----------
    url : str or None
        A PostgreSQL URL, ``postgresql://user:password@host:port/database``. If ``None``,
        the environment variable ``COURSE_HPO_STORAGE`` is used; if that is unset too,
        the journal file ``journal_path``.
    journal_path : str or path-like or None
        The journal file (created if missing; its folder must exist). Needed only when
        there is no URL. Workers on several machines need it on a shared file system.
        Next to it, Optuna keeps a lock file ``<journal>.lock`` while it writes, and
        :func:`run_worker` a lock file ``<journal>.claim``.
    heartbeat_interval : int
        Seconds between two heartbeats of a running trial.
    grace_period : int or None
        Seconds without a heartbeat after which a running trial is stale and set to
        ``FAIL`` by the next worker that looks; ``None`` means ``2 * heartbeat_interval``.
        Keep it several times the interval: a worker that is merely slow to write its
        heartbeat would lose its trial.
    max_retry : int
        How many times the configuration of a stale trial is queued again
        (``RetryHeartbeatStaleTrialCallback``); 0 means never.
    connect_timeout : int
        Seconds to wait for the database server before giving up.

    Returns
    -------
    optuna.storages.BaseStorage
        An ``RDBStorage`` for a URL, a :class:`HeartbeatJournalStorage` on a
        ``JournalFileBackend`` otherwise; both with heartbeats.

    Raises
    ------
    ValueError
        For a URL whose scheme is not PostgreSQL's (the message lists the supported
        ones), for no URL and no ``journal_path``, a journal folder that does not exist,
        or a bad number.
    StorageError
        If the database cannot be reached or refuses the connection (wrong host or
        port, wrong password, missing database), with the driver's reason in one line
        and the password masked.

    Examples
    --------
    >>> import tempfile, optuna
    >>> folder = tempfile.TemporaryDirectory()
    >>> storage = open_storage(journal_path=f"{folder.name}/study.log")
    >>> study = optuna.create_study(study_name="demo", storage=storage)
    >>> type(storage).__name__
    'HeartbeatJournalStorage'
    >>> folder.cleanup()
    >>> open_storage("mysql://root@localhost/hpo")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unsupported storage scheme 'mysql' in 'mysql://root@localhost/hpo'; supported: ...
    """
    _positive_int("heartbeat_interval", heartbeat_interval)
    if grace_period is not None:
        _positive_int("grace_period", grace_period)
    if isinstance(max_retry, bool) or not isinstance(max_retry, int) or max_retry < 0:
        raise ValueError(f"max_retry must be an int >= 0, got {max_retry!r}")
    _positive_int("connect_timeout", connect_timeout)
    url = storage_url(url)
    if url is not None:
        return _open_database(url, heartbeat_interval, grace_period, max_retry, connect_timeout)
    if journal_path is None:
        raise ValueError(f"no storage: give a database URL (argument or ${STORAGE_ENV}) "
                         "or a journal_path")
    path = Path(journal_path).expanduser().resolve()
    if not path.parent.is_dir():
        raise ValueError(f"the folder of the journal file does not exist: {path.parent}")
    return HeartbeatJournalStorage(JournalFileBackend(str(path)), heartbeat_interval=heartbeat_interval,
                                   grace_period=grace_period,
                                   heartbeat_stale_trial_callback=_retry_callback(max_retry))


def _open_database(url: str, heartbeat_interval: int, grace_period: int | None,
                   max_retry: int, connect_timeout: int) -> RDBStorage:
    import sqlalchemy

    shown = mask_password(url)   # the URL as given, for messages
    url = _database_url(url)
    _check_connection(url, shown, connect_timeout)
    try:
        with warnings.catch_warnings():  # heartbeat_interval is marked experimental
            warnings.simplefilter("ignore", ExperimentalWarning)
            return RDBStorage(url, engine_kwargs={"pool_pre_ping": True,
                                                  "connect_args": {"connect_timeout": connect_timeout}},
                              heartbeat_interval=heartbeat_interval,
                              grace_period=_grace(heartbeat_interval, grace_period),
                              heartbeat_stale_trial_callback=_retry_callback(max_retry))
    except sqlalchemy.exc.DBAPIError as err:  # e.g. no right to create Optuna's tables
        raise StorageError(f"cannot use {shown}: {_connection_failure(err)}") from None


# ======================================================================================
# The worker
# ======================================================================================

def load_objective(spec: str) -> Callable[[optuna.Trial], float]:
    """The function named by ``"module:function"``, e.g. ``"course.hpo.distributed:digits_svm_objective"``.

    Worker processes cannot receive a function object from their parent, only its
    importable name; the module must be importable in the worker (installed, or on
    its ``PYTHONPATH``).

    Raises
    ------
    ValueError
        If ``spec`` is malformed, the module cannot be imported, or it has no such
        callable.
    """
    module_name, function_name = _objective_spec(spec)
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"cannot import the objective's module {module_name!r}: {err}") from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ValueError(f"module {module_name!r} has no function {function_name!r}")
    return function


def _objective_spec(spec: str) -> tuple[str, str]:
    if not isinstance(spec, str) or not re.fullmatch(r"[\w.]+:\w+", spec):
        raise ValueError(f"objective must be 'module:function', got {spec!r}")
    module_name, function_name = spec.split(":")
    return module_name, function_name


@contextlib.contextmanager
def _heartbeat(storage: BaseStorage, trial_id: int) -> Iterator[None]:
    """Record a heartbeat for ``trial_id`` every interval until the block ends (the first one is due)."""
    if not isinstance(storage, BaseHeartbeat) or storage.get_heartbeat_interval() is None:
        yield
        return
    interval = storage.get_heartbeat_interval()
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            storage.record_heartbeat(trial_id)

    thread = threading.Thread(target=beat, name=f"heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


#: First key of the PostgreSQL advisory locks of this module (the second is the study id).
_LOCK_NAMESPACE = 0x5EED
_thread_lock = threading.Lock()


@contextlib.contextmanager
def _study_lock(study: optuna.Study) -> Iterator[None]:
    """Hold the study's claim lock: no other worker counts and asks meanwhile.

    The lock dies with its holder, so a killed worker never blocks the others.
    """
    storage = study._storage
    rdb = getattr(storage, "_backend", None)   # an RDBStorage comes wrapped in Optuna's cache
    if isinstance(rdb, RDBStorage) and rdb.engine.dialect.name == "postgresql":
        import sqlalchemy

        with rdb.engine.begin() as connection:   # the lock ends with this transaction
            connection.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(:space, :study)"),
                               {"space": _LOCK_NAMESPACE, "study": study._study_id})
            yield
    elif isinstance(storage, JournalStorage) and isinstance(storage._backend, JournalFileBackend):
        import fcntl

        with open(storage._backend._file_path + ".claim", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)        # released when the file or process closes
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    elif isinstance(storage, optuna.storages.InMemoryStorage):
        with _thread_lock:                             # workers can only be threads here
            yield
    else:
        raise ValueError(f"run_worker needs a PostgreSQL, journal-file or in-memory storage "
                         f"(see open_storage), got {type(storage).__name__}")


def _fail_stale_trials(study: optuna.Study) -> None:
    with warnings.catch_warnings():  # fail_stale_trials is marked experimental
        warnings.simplefilter("ignore", ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def _counts(study: optuna.Study) -> tuple[int, int]:
    """(complete trials, running trials) in the storage now."""
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING))
    complete = sum(t.state == TrialState.COMPLETE for t in trials)
    return complete, len(trials) - complete


def run_worker(study: optuna.Study, objective: Callable[[optuna.Trial], float], n_trials: int, *,
               worker: str | None = None, poll_interval: float = POLL_INTERVAL,
               stop_if: Callable[[], bool] | None = None) -> int:
    """Optimise ``study`` until it holds ``n_trials`` complete trials in total, across all workers.

    The loop of the module docstring: under the study's lock, fail stale trials,
    count, and ask a trial if the budget allows; then evaluate it under a heartbeat
    and tell the result. Run it in several processes on the same study (see
    :func:`launch_workers`); every process stops once the study holds exactly
    ``n_trials`` complete trials.

    Parameters
    ----------
    study : optuna.Study
        The shared study, on a storage from :func:`open_storage` (PostgreSQL or a
        journal file, with heartbeats) or in memory (then the workers are threads).
    objective : callable
        ``objective(trial) -> float``, as for ``study.optimize``. ``optuna.TrialPruned``
        marks the trial ``PRUNED`` and a value that is not a finite number marks it
        ``FAIL`` (neither counts towards the budget); an exception marks it ``FAIL``
        and is raised again (a broken objective should stop its worker, not loop).
    n_trials : int
        The budget: complete trials in the whole study, including those of earlier
        runs and of other workers.
    worker : str or None
        This worker's name, stored in each of its trials' user attribute ``worker``.
    poll_interval : float
        Seconds between two looks at the storage while the running trials of other
        workers may fill the budget.
    stop_if : callable or None
        Checked before each trial; when it returns ``True`` the worker stops early
        (the command line uses it to stop when its parent process is gone).

    Returns
    -------
    int
        How many trials this worker completed.

    Raises
    ------
    ValueError
        If ``n_trials`` is not a positive int, ``poll_interval`` not a positive number,
        or the study's storage has no lock this module knows.
    """
    _positive_int("n_trials", n_trials)
    if isinstance(poll_interval, bool) or not isinstance(poll_interval, (int, float)) \
            or not poll_interval > 0:
        raise ValueError(f"poll_interval must be a positive number, got {poll_interval!r}")
    storage = study._storage   # the storage object the study was opened with
    completed = 0
    while stop_if is None or not stop_if():
        trial = None
        with _study_lock(study):
            _fail_stale_trials(study)
            complete, running = _counts(study)
            if complete >= n_trials:
                break
            if complete + running < n_trials:
                trial = _ask(study)
                if isinstance(storage, BaseHeartbeat) and storage.get_heartbeat_interval():
                    storage.record_heartbeat(trial._trial_id)   # alive before anyone can look
        if trial is None:
            time.sleep(poll_interval)   # enough trials run; wait in case one of them dies
            continue
        with _heartbeat(storage, trial._trial_id):
            if worker is not None:
                trial.set_user_attr("worker", worker)
            state = _evaluate(study, trial, objective)
        completed += state == TrialState.COMPLETE
    return completed


def _ask(study: optuna.Study) -> optuna.Trial:
    with warnings.catch_warnings():
        # Optuna warns that heartbeats need study.optimize: outside it nobody records
        # them. Here run_worker does.
        warnings.filterwarnings("ignore", "Heartbeat of storage is supposed to be used",
                                UserWarning)
        return study.ask()


def _evaluate(study: optuna.Study, trial: optuna.Trial,
              objective: Callable[[optuna.Trial], float]) -> TrialState | None:
    """Run the objective and tell the result; the trial's final state (None if lost)."""
    try:
        value = objective(trial)
    except optuna.TrialPruned:
        return _tell(study, trial, state=TrialState.PRUNED)
    except BaseException:   # an error, Ctrl-C or SIGTERM: record the failure, then stop
        _tell(study, trial, state=TrialState.FAIL)
        raise
    return _tell(study, trial, value)


def _tell(study: optuna.Study, trial: optuna.Trial, value: float | None = None,
          state: TrialState | None = None) -> TrialState | None:
    try:
        return study.tell(trial, value, state=state).state   # a value that is not a number: FAIL
    except UpdateFinishedTrialError:
        # Another worker found this trial stale (our heartbeats were late by more than
        # the grace period) and failed it; its result cannot be recorded any more.
        warnings.warn(f"trial {trial.number} was failed as stale by another worker while it "
                      "ran; its result is dropped (increase grace_period)", RuntimeWarning)
        return None


# ======================================================================================
# Worker processes
# ======================================================================================

class WorkerPool:
    """Worker processes started together, waited for together, and never left behind.

    Use it as a context manager: leaving the block (normally, on an error or on
    Ctrl-C) stops every worker that still runs (``SIGTERM``, then ``SIGKILL`` after
    ``stop_timeout`` seconds, to the worker's whole process group) and deletes the
    folder of their output. Built by :func:`launch_workers`.

    Attributes
    ----------
    processes : dict of str to subprocess.Popen
        The running workers by name (``"w0"``, ``"w1"``, ...).
    started : float
        ``time.perf_counter()`` when the first worker was started.
    """

    def __init__(self, commands: Mapping[str, Sequence[str]], env: Mapping[str, str],
                 stop_timeout: float = 5.0) -> None:
        self._commands = {name: list(command) for name, command in commands.items()}
        self._env = dict(env)
        self._stop_timeout = stop_timeout
        self._logs = Path(tempfile.mkdtemp(prefix="course-hpo-workers-"))
        self.processes: dict[str, subprocess.Popen] = {}
        self.started = math.nan

    def start(self) -> WorkerPool:
        self.started = time.perf_counter()
        try:
            for name, command in self._commands.items():
                with open(self._logs / f"{name}.log", "wb") as log:
                    # a new session: the worker and anything it starts can be killed as a group
                    self.processes[name] = subprocess.Popen(
                        command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                        env=self._env, start_new_session=True)
        except BaseException:
            self.close()
            raise
        return self

    def output(self, name: str) -> str:
        """What worker ``name`` printed (stdout and stderr) so far."""
        return (self._logs / f"{name}.log").read_text(errors="replace")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` (default ``SIGKILL``: no clean-up possible) to worker ``name``, if it runs."""
        if name not in self.processes:
            raise ValueError(f"no worker named {name!r}; workers: {sorted(self.processes)}")
        if self.processes[name].poll() is None:
            _signal_group(self.processes[name], sig)

    def wait(self, timeout: float | None = None, *, check: bool = True) -> dict[str, int]:
        """Wait until every worker has exited; their exit codes by name.

        Parameters
        ----------
        timeout : float or None
            Seconds to wait at most (counted from now); then every worker is stopped
            and a :class:`WorkerError` raised.
        check : bool
            If ``True``, the first worker that exits with a non-zero code stops the
            others and raises a :class:`WorkerError` with the end of its output. With
            ``False`` the exit codes are only returned (a killed worker's is
            ``-signal``).
        """
        deadline = math.inf if timeout is None else time.monotonic() + timeout
        while True:
            codes = {name: process.poll() for name, process in self.processes.items()}
            failed = [name for name, code in codes.items() if code not in (None, 0)]
            if check and failed:
                self.stop()
                tail = "\n".join(self.output(failed[0]).strip().splitlines()[-15:])
                raise WorkerError(f"worker {failed[0]} exited with code {codes[failed[0]]}:\n{tail}")
            if all(code is not None for code in codes.values()):
                return codes
            if time.monotonic() > deadline:
                self.stop()
                raise WorkerError(f"the workers did not finish within {timeout} s; stopped them")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop every worker that still runs: SIGTERM, then SIGKILL if it does not exit.

        The signals go to each worker's process group, so that processes an objective
        started go too; a worker that already exited is not signalled (its process id
        may belong to another process by now).
        """
        running = [p for p in self.processes.values() if p.poll() is None]
        for process in running:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + self._stop_timeout
        for process in running:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()

    def close(self) -> None:
        """Stop the workers and delete their output."""
        try:
            self.stop()
        finally:
            import shutil

            shutil.rmtree(self._logs, ignore_errors=True)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)   # the worker leads its own process group
    except (ProcessLookupError, PermissionError):
        pass


def launch_workers(study_name: str, objective: str, n_trials: int, n_workers: int, *,
                   storage: str | None = None, journal_path: str | os.PathLike | None = None,
                   direction: str = "minimize", seed: int | None = 0,
                   heartbeat_interval: int = HEARTBEAT_INTERVAL, grace_period: int | None = None,
                   max_retry: int = 1, env: Mapping[str, str] | None = None,
                   threads_per_worker: int = 1) -> WorkerPool:
    """Start ``n_workers`` processes that optimise one study until it holds ``n_trials`` complete trials.

    The study is created (or loaded) here first, so that a bad storage fails at once,
    in this process, with a :class:`StorageError` or ``ValueError``. Each worker is
    ``python -m course.hpo.distributed ...`` with this interpreter (``sys.executable``),
    so it works from a script, a test or a Jupyter kernel alike.

    Parameters
    ----------
    study_name : str
        The study; created if it does not exist, joined if it does (then its complete
        trials count towards ``n_trials``).
    objective : str
        ``"module:function"`` of an objective ``f(trial) -> float`` importable in the
        workers (a function defined in a notebook is not: put it in a module).
    n_trials : int
        Complete trials the study must hold when the workers stop.
    n_workers : int
        How many worker processes.
    storage, journal_path
        As in :func:`open_storage`: a PostgreSQL URL (else ``$COURSE_HPO_STORAGE``),
        else the journal file. The URL reaches the workers through their environment,
        so its password does not show in the process list.
    direction : {"minimize", "maximize"}
        Direction of a new study (an existing study must have the same).
    seed : int or None
        Worker ``i`` seeds its ``TPESampler`` with ``seed + i``; ``None``: unseeded.
        Different seeds matter: with one seed every worker would propose the same
        start-up configurations.
    heartbeat_interval, grace_period, max_retry
        As in :func:`open_storage`, for every worker.
    env : mapping or None
        Extra environment variables for the workers (e.g. ``PYTHONPATH``).
    threads_per_worker : int
        Threads each worker's BLAS/OpenMP may use (``OMP_NUM_THREADS`` and friends),
        so that ``n_workers`` processes do not fight over the cores.

    Returns
    -------
    WorkerPool
        Already started; use it in a ``with`` block and call ``wait()``. A worker that
        cannot import the objective exits at once, and ``wait()`` raises a
        :class:`WorkerError` with its one-line reason.

    Raises
    ------
    ValueError
        For a bad argument (named in the message), an unsupported URL scheme, or an
        existing study with the other direction.
    StorageError
        If the database cannot be reached or refuses the connection.

    Examples
    --------
    Two workers share a 20-trial study in a journal file (the exit code of each worker
    comes back; ``tests/test_distributed.py`` runs this for real)::

        with launch_workers("svm", "course.hpo.distributed:digits_svm_objective", 20, 2,
                            journal_path=Path(tmp) / "studies.log") as pool:
            pool.wait(timeout=300)          # {'w0': 0, 'w1': 0}
    """
    if not isinstance(study_name, str) or not study_name:
        raise ValueError(f"study_name must be a non-empty str, got {study_name!r}")
    _objective_spec(objective)   # the workers import it (with their PYTHONPATH)
    _positive_int("n_trials", n_trials)
    _positive_int("n_workers", n_workers)
    _positive_int("threads_per_worker", threads_per_worker)
    if direction not in ("minimize", "maximize"):
        raise ValueError(f"direction must be 'minimize' or 'maximize', got {direction!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"seed must be an int or None, got {seed!r}")
    opened = open_storage(storage, journal_path=journal_path, heartbeat_interval=heartbeat_interval,
                          grace_period=grace_period, max_retry=max_retry)
    _create_or_load(study_name, opened, direction)
    if isinstance(opened, RDBStorage):
        opened.engine.dispose()   # this process only created the study; close its connections

    worker_env = {**os.environ, **(env or {})}
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        worker_env[variable] = str(threads_per_worker)
    url = storage_url(storage)
    common = [sys.executable, "-m", "course.hpo.distributed", "--study", study_name,
              "--objective", objective, "--trials", str(n_trials), "--direction", direction,
              "--heartbeat-interval", str(heartbeat_interval), "--max-retry", str(max_retry),
              "--parent-pid", str(os.getpid())]
    if grace_period is not None:
        common += ["--grace-period", str(grace_period)]
    if url is not None:
        worker_env[STORAGE_ENV] = url
    else:
        worker_env.pop(STORAGE_ENV, None)
        common += ["--journal", str(Path(journal_path).expanduser().resolve())]
    commands = {}
    for i in range(n_workers):
        name = f"w{i}"
        commands[name] = common + ["--worker", name] + \
            ([] if seed is None else ["--seed", str(seed + i)])
    return WorkerPool(commands, worker_env).start()


def _create_or_load(study_name: str, storage: BaseStorage, direction: str,
                    sampler: optuna.samplers.BaseSampler | None = None) -> optuna.Study:
    study = optuna.create_study(study_name=study_name, storage=storage, direction=direction,
                                sampler=sampler, load_if_exists=True)
    if study.direction.name.lower() != direction:
        raise ValueError(f"study {study_name!r} exists with direction "
                         f"{study.direction.name.lower()}, not {direction}")
    return study


# ======================================================================================
# Warm start
# ======================================================================================

def enqueue_best_trials(source: optuna.Study, target: optuna.Study, k: int) -> list[dict[str, Any]]:
    """Queue the ``k`` best configurations of an earlier study as the first trials of ``target``.

    The simplest warm start (Optuna's ``enqueue_trial``): the next ``k`` calls to
    ``target.ask()``, by any worker, evaluate these configurations before the sampler
    proposes anything, and the sampler then learns from their results. Each queued
    trial carries the user attribute ``warm_start`` ("study name#trial number").
    To move a whole study to another storage instead (e.g. from a journal file to
    PostgreSQL), use ``optuna.copy_study``.

    Parameters
    ----------
    source, target : optuna.Study
        The earlier study and the new one (single-objective, same direction).
    k : int
        How many of ``source``'s best complete trials to queue (fewer if it has fewer).

    Returns
    -------
    list of dict
        The queued parameters, best first.

    Raises
    ------
    ValueError
        If ``k`` is not a positive int or the two studies' directions differ.
    """
    _positive_int("k", k)
    if source.direction != target.direction:
        raise ValueError(f"the studies' directions differ: {source.direction.name} "
                         f"and {target.direction.name}")
    complete = source.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    sign = 1.0 if source.direction == optuna.study.StudyDirection.MINIMIZE else -1.0
    best = sorted(complete, key=lambda t: (sign * t.value, t.number))[:k]
    for trial in best:
        target.enqueue_trial(trial.params, user_attrs={"warm_start": f"{source.study_name}#{trial.number}"},
                             skip_if_exists=True)
    return [dict(t.params) for t in best]


# ======================================================================================
# A real objective for the workers
# ======================================================================================

#: Search ranges (both on a log scale) of :func:`digits_svm_objective`.
DIGITS_SVM_RANGES: dict[str, tuple[float, float]] = {"C": (1e-2, 1e3), "gamma": (1e-4, 3e-2)}


@functools.lru_cache(maxsize=1)
def _digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def digits_svm_error(config: Mapping[str, float]) -> float:
    """3-fold cross-validated error of an RBF SVM on all 1797 bundled digits.

    CPU-bound and single-threaded, 0.2-1 s per call on one core: costly enough that
    running trials in parallel pays, cheap enough for a tour. Deterministic (fixed
    folds), so it can be called from Optuna workers, Ray Tune trials or a plain loop.

    Parameters
    ----------
    config : mapping
        ``{"C": float, "gamma": float}``, within :data:`DIGITS_SVM_RANGES`.

    Returns
    -------
    float
        1 - mean accuracy over the folds.
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.svm import SVC

    for name, (low, high) in DIGITS_SVM_RANGES.items():
        value = config.get(name) if isinstance(config, Mapping) else None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise ValueError(f"config[{name!r}] must be a number in [{low}, {high}], got {value!r}")
    X, y = _digits()
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    model = SVC(C=float(config["C"]), gamma=float(config["gamma"]))
    return float(1.0 - cross_val_score(model, X, y, cv=folds).mean())


def digits_svm_objective(trial: optuna.Trial) -> float:
    """Optuna objective: suggest ``C`` and ``gamma`` (log scale) and return :func:`digits_svm_error`."""
    config = {name: trial.suggest_float(name, low, high, log=True)
              for name, (low, high) in DIGITS_SVM_RANGES.items()}
    return digits_svm_error(config)


# ======================================================================================
# Command line: one worker process
# ======================================================================================

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m course.hpo.distributed",
        description="Join an Optuna study and optimise it until it holds N complete trials "
                    "in total, across all workers.")
    parser.add_argument("--study", required=True, help="study name (created if missing)")
    parser.add_argument("--objective", required=True, help="objective as module:function")
    parser.add_argument("--trials", required=True, type=int, help="complete trials in the whole study")
    parser.add_argument("--storage", help=f"PostgreSQL URL (default: ${STORAGE_ENV})")
    parser.add_argument("--journal", help="journal file, used when there is no URL")
    parser.add_argument("--direction", default="minimize", choices=["minimize", "maximize"])
    parser.add_argument("--seed", type=int, default=None, help="seed of this worker's TPE sampler")
    parser.add_argument("--worker", default=None, help="this worker's name (trial user attribute)")
    parser.add_argument("--heartbeat-interval", type=int, default=HEARTBEAT_INTERVAL)
    parser.add_argument("--grace-period", type=int, default=None)
    parser.add_argument("--max-retry", type=int, default=1)
    parser.add_argument("--parent-pid", type=int, default=None,
                        help="stop (between trials) when no longer a child of this process")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one worker; exit code 0 when the budget is met, 2 for a bad setup (one-line message)."""
    parser = _parser()
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        objective = load_objective(args.objective)
        _positive_int("--trials", args.trials)
        storage = open_storage(args.storage, journal_path=args.journal,
                               heartbeat_interval=args.heartbeat_interval,
                               grace_period=args.grace_period, max_retry=args.max_retry)
        sampler = optuna.samplers.TPESampler(seed=args.seed)
        study = _create_or_load(args.study, storage, args.direction, sampler)
    except (ValueError, StorageError) as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")

    def terminate(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)   # unwinds through run_worker, which fails the trial

    signal.signal(signal.SIGTERM, terminate)
    parent = args.parent_pid
    stop_if = None if parent is None else (lambda: os.getppid() != parent)
    completed = run_worker(study, objective, args.trials, worker=args.worker, stop_if=stop_if)
    print(f"{args.worker or 'worker'}: completed {completed} trials of study {args.study!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
