"""Distributed HPO: one study shared by worker processes, over a journal file and a real PostgreSQL.

The PostgreSQL server is a throwaway one: installed from Debian's packages if missing,
initialised into a temporary folder, listening on 127.0.0.1 only (a free port, its unix
socket in the temporary folder), run as the unprivileged ``postgres`` user when the tests
run as root (initdb and postgres refuse root), and stopped at the end of the session,
also when tests fail. The worker processes import their objective from this file
(``PYTHONPATH`` points here), which makes the objective signal when a trial runs, so
that a test can kill the worker in the middle of it.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from course.hpo import distributed
from course.hpo.distributed import (STORAGE_ENV, HeartbeatJournalStorage, StorageError, WorkerError,
                                    enqueue_best_trials, launch_workers, load_objective,
                                    open_storage, run_worker)

TESTS = Path(__file__).resolve().parent
OBJECTIVE = "test_distributed:sleepy_quadratic"
SIGNAL_ENV = "COURSE_TEST_SIGNAL_DIR"      # where the objective leaves its marker files
BARRIER_ENV = "COURSE_TEST_BARRIER"        # how many workers the first trials wait for
HOLD_ENV = "COURSE_TEST_HOLD"              # the trial with this number runs until killed
SLEEP = 0.3                                # seconds per trial
PG_USER, PG_PASSWORD, PG_DATABASE = "postgres", "course-secret", "hpo"

optuna.logging.set_verbosity(optuna.logging.WARNING)


# ======================================================================================
# The objective the worker processes import
# ======================================================================================

def quadratic(x: float, n: int) -> float:
    return (x - 1.0) ** 2 + 0.1 * (n - 7) ** 2


_passed_barrier = False


def _barrier(folder: Path, parties: int, timeout: float = 60.0) -> None:
    """Wait (once per process) until ``parties`` workers are in, so that all of them take part."""
    global _passed_barrier
    if _passed_barrier:
        return
    (folder / f"ready-{os.getpid()}").touch()
    deadline = time.monotonic() + timeout
    while len(list(folder.glob("ready-*"))) < parties and time.monotonic() < deadline:
        time.sleep(0.02)
    _passed_barrier = True


def sleepy_quadratic(trial: optuna.Trial) -> float:
    """A quadratic in a float and an int, 0.3 s per trial; leaves 'running-<number>-<pid>'.

    The trial numbered $COURSE_TEST_HOLD waits (60 s at most) after its marker, so that
    a test surely kills its worker in the middle of it.
    """
    x = trial.suggest_float("x", -5.0, 5.0)
    n = trial.suggest_int("n", 0, 20)
    folder = os.environ.get(SIGNAL_ENV)
    if folder:
        _barrier(Path(folder), int(os.environ.get(BARRIER_ENV, "1")))
        (Path(folder) / f"running-{trial.number}-{os.getpid()}").touch()
        if trial.number == int(os.environ.get(HOLD_ENV, "-1")):
            time.sleep(60)
    time.sleep(SLEEP)
    return quadratic(x, n)


def broken_objective(trial: optuna.Trial) -> float:
    trial.suggest_float("x", 0.0, 1.0)
    raise RuntimeError("the objective is broken on purpose")


# ======================================================================================
# A throwaway PostgreSQL server
# ======================================================================================

@dataclass(frozen=True)
class PostgresServer:
    url: str          # of the database PG_DATABASE, with the superuser's password
    port: int
    pid: int          # the postmaster
    data: Path        # its data directory (inside a temporary folder)

    def url_with(self, *, password: str = PG_PASSWORD, database: str = PG_DATABASE) -> str:
        return f"postgresql://{PG_USER}:{password}@127.0.0.1:{self.port}/{database}"


def _postgres_bin() -> Path:
    """The folder of initdb/pg_ctl; installs Debian's postgresql package if there is none."""
    for attempt in range(2):
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
                       key=lambda p: int(re.sub(r"\D", "", p.parent.parent.name) or 0))
        if found:
            return found[-1].parent
        if shutil.which("pg_ctl"):
            return Path(shutil.which("pg_ctl")).parent
        if attempt == 0:
            _install_postgres()
    pytest.fail("PostgreSQL's pg_ctl is still missing after installing the postgresql package")


def _install_postgres() -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.fail("PostgreSQL is not installed, and installing it needs root and apt-get: "
                    "install the Debian/Ubuntu package 'postgresql' (these tests start their own "
                    "throwaway server)")
    # Do not let the package create and start its own cluster: the tests start theirs.
    conf = Path("/etc/postgresql-common/createcluster.conf")
    if not conf.exists():
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text("create_main_cluster = false\n")
    subprocess.run("apt-get update && apt-get install -y postgresql", shell=True, check=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(command: list, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run a PostgreSQL program, as the `postgres` user if we are root (they refuse root)."""
    prefix = ["runuser", "-u", PG_USER, "--"] if os.geteuid() == 0 else []
    return subprocess.run(prefix + [str(part) for part in command], cwd=cwd, check=check,
                          capture_output=True, text=True, timeout=120)


def _alive(pid: int, settle: float = 5.0) -> bool:
    """Whether process ``pid`` still runs, ``settle`` seconds at most after it was told to stop.

    A zombie (exited, not yet reaped by its parent) does not count as running.
    """
    deadline = time.monotonic() + settle
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        if state == "Z" or time.monotonic() > deadline:
            return state != "Z"
        time.sleep(0.05)


def _processes_mentioning(text: str) -> list[int]:
    """Pids of live processes whose command line contains ``text`` or whose folder is under it.

    PostgreSQL's backends run in the data directory, so the second test finds them too.
    """
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        try:
            folder = os.readlink(entry / "cwd")
        except OSError:   # gone, or another user's process (when not root)
            folder = ""
        if text in cmdline or folder.startswith(text):
            pids.append(int(entry.name))
    return pids


@contextmanager
def postgres_server():
    """Start a private PostgreSQL on 127.0.0.1 in a temporary folder; stop it and delete everything."""
    bin_dir = _postgres_bin()
    root = Path(tempfile.mkdtemp(prefix="course-postgres-"))
    data, sockets, log, password_file = root / "data", root / "sockets", root / "server.log", root / "pw"
    sockets.mkdir()
    password_file.write_text(PG_PASSWORD + "\n")
    if os.geteuid() == 0:
        user = pwd.getpwnam(PG_USER)
        for path in (root, sockets, password_file):
            os.chown(path, user.pw_uid, user.pw_gid)
    port = _free_port()
    try:
        _as_postgres([bin_dir / "initdb", "-D", data, "-U", PG_USER, "--pwfile", password_file,
                      "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                      "--no-sync", "--no-instructions"], cwd=root)
        options = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={sockets} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        started = _as_postgres([bin_dir / "pg_ctl", "-D", data, "-l", log, "-o", options,
                                "-w", "-t", "60", "start"], cwd=root, check=False)
        if started.returncode != 0:
            server_log = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {started.stderr}\n{server_log}")
        pid = int((data / "postmaster.pid").read_text().split()[0])
        server = PostgresServer(f"postgresql://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{port}/{PG_DATABASE}",
                                port, pid, data)
        import psycopg2

        connection = psycopg2.connect(server.url_with(database="postgres"))
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE {PG_DATABASE}")
        finally:
            connection.close()
        yield server
    finally:
        if (data / "postmaster.pid").exists():
            _as_postgres([bin_dir / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop"], cwd=root,
                         check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> PostgresServer:
    with postgres_server() as server:
        yield server
    # stopped: the postmaster and every backend of this data directory must be gone
    assert not _alive(server.pid), "the PostgreSQL server survived pg_ctl stop"
    assert not _processes_mentioning(str(server.data)), "a PostgreSQL process was left behind"


@pytest.fixture(params=["journal", "postgresql"])
def storage(request, tmp_path) -> dict:
    """Where a test's study lives: keyword arguments of open_storage / launch_workers."""
    if request.param == "journal":
        return {"storage": None, "journal_path": tmp_path / "journal.log"}
    return {"storage": request.getfixturevalue("postgres").url, "journal_path": None}


@pytest.fixture(autouse=True)
def _no_storage_from_the_environment(monkeypatch):
    monkeypatch.delenv(STORAGE_ENV, raising=False)


def _study(storage: dict, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(
        storage["storage"], journal_path=storage["journal_path"]))


def _worker_env(folder: Path, parties: int) -> dict:
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])),
            SIGNAL_ENV: str(folder), BARRIER_ENV: str(parties)}


def _completed_by(output: str) -> int:
    match = re.search(r"completed (\d+) trials", output)
    assert match, f"the worker did not report its trials:\n{output}"
    return int(match.group(1))


# ======================================================================================
# The server itself
# ======================================================================================

def test_postgres_server_listens_on_loopback_only_and_leaves_nothing_behind():
    with postgres_server() as server:
        import psycopg2

        connection = psycopg2.connect(server.url)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SHOW listen_addresses")
                assert cursor.fetchone()[0] == "127.0.0.1"
        finally:
            connection.close()
        assert _alive(server.pid, settle=0)
    assert not _alive(server.pid), "pg_ctl stop left the postmaster running"
    assert not _processes_mentioning(str(server.data)), "a PostgreSQL process was left behind"
    assert not server.data.exists(), "the throwaway data directory was not deleted"


# ======================================================================================
# Shared studies with worker processes
# ======================================================================================

def test_three_workers_share_one_study_and_meet_the_budget_exactly(storage, tmp_path):
    name, budget = f"shared-{uuid.uuid4().hex[:8]}", 9
    with launch_workers(name, OBJECTIVE, budget, 3, **storage, seed=0,
                        env=_worker_env(tmp_path, parties=3)) as pool:
        codes = pool.wait(timeout=120)
        outputs = {worker: pool.output(worker) for worker in pool.processes}
        pids = [process.pid for process in pool.processes.values()]
    assert codes == {"w0": 0, "w1": 0, "w2": 0}, outputs
    assert not any(_alive(pid) for pid in pids) and not _processes_mentioning(name)

    complete = _study(storage, name).get_trials()
    assert [t.state for t in complete] == [TrialState.COMPLETE] * budget, _summary(complete)
    assert sum(_completed_by(output) for output in outputs.values()) == budget
    # every worker took part, each trial's parameters came from a sampler, and the value is theirs
    assert {t.user_attrs["worker"] for t in complete} == {"w0", "w1", "w2"}
    assert len({(t.params["x"], t.params["n"]) for t in complete}) == budget, "two trials got the same point"
    for t in complete:
        assert -5.0 <= t.params["x"] <= 5.0 and 0 <= t.params["n"] <= 20
        assert t.value == pytest.approx(quadratic(t.params["x"], t.params["n"]))
    # the workers ran at the same time: some trials of different workers overlap
    assert any(a.user_attrs["worker"] != b.user_attrs["worker"]
               and a.datetime_start < b.datetime_complete and b.datetime_start < a.datetime_complete
               for a in complete for b in complete)


def _wait_for_marker(folder: Path, number: int, timeout: float = 90.0) -> int:
    """The pid of the worker that runs trial ``number``, once the trial has started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for marker in folder.glob(f"running-{number}-*"):
            return int(marker.name.split("-")[2])
        time.sleep(0.01)
    raise AssertionError(f"trial {number} did not start within {timeout} s")


def _summary(trials) -> str:
    return "\n".join(f"{t.number} {t.state.name} {t.user_attrs} {t.system_attrs.get('failed_trial')} "
                     f"{t.datetime_start and t.datetime_start.time()} "
                     f"{t.datetime_complete and t.datetime_complete.time()}" for t in trials)


def test_a_killed_worker_loses_nothing(storage, tmp_path):
    name, budget = f"kill-{uuid.uuid4().hex[:8]}", 9
    killed = 3   # this trial holds its worker until the kill (HOLD_ENV)
    with launch_workers(name, OBJECTIVE, budget, 3, **storage, seed=1, heartbeat_interval=1,
                        grace_period=2, max_retry=1,
                        env={**_worker_env(tmp_path, parties=3), HOLD_ENV: str(killed)}) as pool:
        pid = _wait_for_marker(tmp_path, killed)
        victim = next(worker for worker, process in pool.processes.items() if process.pid == pid)
        os.kill(pid, signal.SIGKILL)   # in the middle of trial `killed`: no clean-up possible
        finished_before = {t.number: (t.value, t.params) for t in _study(storage, name).get_trials()
                           if t.state == TrialState.COMPLETE}
        codes = pool.wait(timeout=120, check=False)
        outputs = {worker: pool.output(worker) for worker in pool.processes}
    assert codes[victim] == -signal.SIGKILL
    assert all(code == 0 for worker, code in codes.items() if worker != victim), outputs
    assert not _processes_mentioning(name)

    trials = _study(storage, name).get_trials()
    by_number = {t.number: t for t in trials}
    assert finished_before, "the kill should come after some trials finished"
    for number, (value, params) in finished_before.items():   # nothing finished is lost
        assert by_number[number].state == TrialState.COMPLETE
        assert (by_number[number].value, by_number[number].params) == (value, params)
    # the killed trial never completes: its heartbeat stopped, another worker failed it ...
    assert by_number[killed].state == TrialState.FAIL
    assert by_number[killed].user_attrs["worker"] == victim
    # ... and queued its configuration again, which a surviving worker ran
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == by_number[killed].params
    assert retries[0].user_attrs["worker"] != victim
    # the survivors completed the budget, exactly
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == budget, _summary(trials)
    assert len(trials) == budget + 1, _summary(trials)   # and nothing else: no other failure
    by_victim = sum(t.user_attrs.get("worker") == victim for t in complete)
    assert by_victim + sum(_completed_by(outputs[w]) for w in outputs if w != victim) == budget


def test_a_failing_objective_stops_all_workers_with_its_error(tmp_path):
    name = f"broken-{uuid.uuid4().hex[:8]}"
    with pytest.raises(WorkerError, match="broken on purpose"):
        with launch_workers(name, "test_distributed:broken_objective", 5, 2,
                            journal_path=tmp_path / "j.log", env=_worker_env(tmp_path, 1)) as pool:
            pids = [process.pid for process in pool.processes.values()]
            pool.wait(timeout=120)
    assert not any(_alive(pid) for pid in pids) and not _processes_mentioning(name)
    failed = _study({"storage": None, "journal_path": tmp_path / "j.log"}, name).get_trials()
    assert failed and all(t.state == TrialState.FAIL for t in failed)


# ======================================================================================
# The worker loop, in this process
# ======================================================================================

def _journal_study(tmp_path, name="s", **options) -> optuna.Study:
    storage = open_storage(journal_path=tmp_path / "journal.log", **options)
    return optuna.create_study(study_name=name, storage=storage,
                               sampler=optuna.samplers.RandomSampler(seed=0))


def _quick(trial):
    return quadratic(trial.suggest_float("x", -5.0, 5.0), trial.suggest_int("n", 0, 20))


def test_journal_heartbeats_fail_a_stale_trial_and_retry_its_configuration(tmp_path):
    study = _journal_study(tmp_path, heartbeat_interval=1, grace_period=5, max_retry=1)
    storage = study._storage
    assert isinstance(storage, HeartbeatJournalStorage)
    study.optimize(_quick, n_trials=2)   # Optuna's own loop records heartbeats too
    assert all("heartbeat" in t.system_attrs for t in study.trials)

    alive, dead = distributed._ask(study), distributed._ask(study)
    alive.suggest_float("x", -5.0, 5.0)
    dead.suggest_float("x", -5.0, 5.0)
    storage.record_heartbeat(alive._trial_id)
    storage.set_trial_system_attr(dead._trial_id, "heartbeat", time.time() - 6)  # 6 s ago
    distributed._fail_stale_trials(study)
    states = {t.number: t.state for t in study.trials}
    assert states[alive.number] == TrialState.RUNNING
    assert states[dead.number] == TrialState.FAIL
    retry = study.trials[-1]
    assert retry.state == TrialState.WAITING and retry.system_attrs["failed_trial"] == dead.number
    assert retry.params == dead.params


def test_worker_waits_for_running_trials_and_takes_over_a_dead_one(tmp_path):
    study = _journal_study(tmp_path, heartbeat_interval=1, grace_period=1, max_retry=1)
    study.optimize(_quick, n_trials=1)
    orphan = distributed._ask(study)          # a worker that died before its first heartbeat
    orphan.suggest_float("x", -5.0, 5.0)
    start = time.monotonic()
    assert run_worker(study, _quick, 4, worker="me", poll_interval=0.05) == 3
    assert time.monotonic() - start > 0.9, "it should have waited for the orphan's grace period"
    states = [t.state for t in study.trials]
    assert states.count(TrialState.COMPLETE) == 4
    assert study.trials[orphan.number].state == TrialState.FAIL
    assert any(t.system_attrs.get("failed_trial") == orphan.number and t.state == TrialState.COMPLETE
               for t in study.trials)


def test_many_workers_racing_for_the_last_trials_never_overshoot(tmp_path):
    """Eight threads, each with its own storage object (as separate processes would have),
    trials of 20 ms: the count-then-ask step races constantly, and the lock must hold."""
    path, budget = tmp_path / "journal.log", 24
    optuna.create_study(study_name="race", storage=open_storage(journal_path=path))
    completed = []

    def worker(seed):
        study = optuna.load_study(study_name="race", storage=open_storage(journal_path=path),
                                  sampler=optuna.samplers.RandomSampler(seed=seed))
        completed.append(run_worker(study, _slow_quick, budget, poll_interval=0.01))

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    trials = optuna.load_study(study_name="race", storage=open_storage(journal_path=path)).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * budget, _summary(trials)
    assert sorted(completed, reverse=True)[0] >= 1 and sum(completed) == budget


def _slow_quick(trial):
    time.sleep(0.02)
    return _quick(trial)


def test_a_stopped_worker_fails_its_running_trial_itself(tmp_path):
    """SIGTERM becomes SystemExit in the worker (see main); the trial must not stay RUNNING."""
    study = _journal_study(tmp_path)

    def stopped(trial):
        trial.suggest_float("x", 0.0, 1.0)
        raise SystemExit(143)

    with pytest.raises(SystemExit):
        run_worker(study, stopped, 3)
    assert [t.state for t in study.trials] == [TrialState.FAIL]


def test_run_worker_and_load_objective_reject_bad_arguments(tmp_path):
    study = _journal_study(tmp_path)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="n_trials must be a positive int"):
            run_worker(study, _quick, bad)
    for bad in ("no_colon", "a b:c", "course.hpo:", 3):
        with pytest.raises(ValueError, match="objective must be 'module:function'"):
            load_objective(bad)
    with pytest.raises(ValueError, match="cannot import the objective's module 'no_such_module'"):
        load_objective("no_such_module:f")
    with pytest.raises(ValueError, match="has no function 'nope'"):
        load_objective("course.hpo.distributed:nope")
    assert load_objective("course.hpo.distributed:digits_svm_objective") is \
        distributed.digits_svm_objective


def test_enqueue_best_trials_warm_starts_a_new_study(tmp_path):
    old = _journal_study(tmp_path, "old")
    old.optimize(_quick, n_trials=8)
    new = optuna.create_study(study_name="new", storage=old._storage)
    queued = enqueue_best_trials(old, new, 3)
    best = sorted((t for t in old.trials), key=lambda t: t.value)[:3]
    assert queued == [t.params for t in best]
    new.optimize(_quick, n_trials=3)
    assert [t.params for t in new.trials] == queued
    assert [t.value for t in new.trials] == [t.value for t in best]
    assert new.trials[0].user_attrs["warm_start"] == f"old#{best[0].number}"
    with pytest.raises(ValueError, match="k must be a positive int"):
        enqueue_best_trials(old, new, 0)
    with pytest.raises(ValueError, match="directions differ"):
        enqueue_best_trials(old, optuna.create_study(direction="maximize"), 1)


# ======================================================================================
# Opening storages, and what a wrong URL says
# ======================================================================================

def test_the_url_comes_from_the_argument_then_the_environment_then_the_journal(
        postgres, tmp_path, monkeypatch):
    journal = tmp_path / "journal.log"
    assert isinstance(open_storage(journal_path=journal), HeartbeatJournalStorage)
    assert journal.exists()
    monkeypatch.setenv(STORAGE_ENV, postgres.url)
    assert isinstance(open_storage(journal_path=journal), optuna.storages.RDBStorage)
    monkeypatch.setenv(STORAGE_ENV, "")
    assert isinstance(open_storage(journal_path=journal), HeartbeatJournalStorage)
    monkeypatch.delenv(STORAGE_ENV)
    with pytest.raises(ValueError, match="no storage: give a database URL"):
        open_storage()
    with pytest.raises(ValueError, match="folder of the journal file does not exist"):
        open_storage(journal_path=tmp_path / "missing" / "journal.log")
    for bad in ({"heartbeat_interval": 0}, {"grace_period": -1}, {"max_retry": -1}):
        with pytest.raises(ValueError):
            open_storage(journal_path=journal, **bad)


@pytest.mark.parametrize("url", ["mysql://ada:pw-123@127.0.0.1/hpo", "sqlite:///tmp/hpo.db",
                                 "redis://127.0.0.1:6379", "postgresql+asyncpg://ada:pw-123@h/db"])
def test_an_unsupported_scheme_is_rejected_with_the_supported_ones(url):
    with pytest.raises(ValueError, match=r"unsupported storage scheme .*supported: postgresql://") as info:
        open_storage(url)
    assert "pw-123" not in str(info.value)


def test_a_malformed_url_is_rejected():
    with pytest.raises(ValueError, match="not a database URL"):
        open_storage("just some words")


def _assert_one_clear_line(error: StorageError, expected: str) -> None:
    message = str(error)
    assert "\n" not in message, message
    assert re.search(expected, message), message
    assert PG_PASSWORD not in message and "pw-123" not in message, "the password must be masked"
    assert error.__cause__ is None and error.__suppress_context__, "no chained driver traceback"


def test_nothing_listening_on_the_port_is_a_clear_error():
    port = _free_port()
    with pytest.raises(StorageError) as info:
        open_storage(f"postgresql://ada:pw-123@127.0.0.1:{port}/hpo")
    _assert_one_clear_line(info.value, rf"^cannot connect to postgresql://ada:\*\*\*@127\.0\.0\.1:{port}"
                                       r"/hpo: connection refused; is PostgreSQL running")


def test_an_unknown_host_is_a_clear_error():
    with pytest.raises(StorageError) as info:
        open_storage("postgresql://ada:pw-123@no-such-host.invalid:5432/hpo", connect_timeout=5)
    _assert_one_clear_line(info.value,
                           r"cannot connect to .*no-such-host\.invalid.*: could not translate host name")


def test_a_wrong_password_or_a_missing_database_is_a_clear_error(postgres):
    with pytest.raises(StorageError) as info:
        open_storage(postgres.url_with(password="pw-123"))
    _assert_one_clear_line(info.value, r'password authentication failed for user "postgres"')
    with pytest.raises(StorageError) as info:
        open_storage(postgres.url_with(database="no_such_database"))
    _assert_one_clear_line(info.value, r'database "no_such_database" does not exist')


def test_launch_workers_reports_a_bad_url_before_starting_any_worker(tmp_path):
    port, name = _free_port(), f"never-{uuid.uuid4().hex[:8]}"
    with pytest.raises(StorageError, match="connection refused"):
        launch_workers(name, OBJECTIVE, 3, 2, storage=f"postgresql://ada:pw-123@127.0.0.1:{port}/hpo")
    assert not _processes_mentioning(name)


def test_a_worker_that_cannot_import_its_objective_exits_with_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        distributed.main(["--study", "s", "--trials", "3", "--objective", "no_such_module:f",
                          "--journal", str(tmp_path / "j.log")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot import the objective's module 'no_such_module'" in err


def test_the_command_line_reports_a_bad_url_in_one_line_without_a_traceback():
    port = _free_port()
    result = subprocess.run(
        [sys.executable, "-m", "course.hpo.distributed", "--study", "s", "--trials", "3",
         "--objective", "course.hpo.distributed:digits_svm_objective",
         "--storage", f"postgresql://ada:pw-123@127.0.0.1:{port}/hpo"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "pw-123" not in result.stderr
    assert re.fullmatch(r".*error: cannot connect to postgresql://ada:\*\*\*@127\.0\.0\.1:\d+/hpo: "
                        r"connection refused.*\n", result.stderr), result.stderr
