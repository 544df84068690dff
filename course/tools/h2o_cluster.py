"""A local H2O cluster that is always shut down, with no Java process left behind.

H2O (H2O.ai, "H2O AutoML: scalable automatic machine learning", LeDell and Poirier,
7th ICML Workshop on AutoML, 2020) runs its algorithms in a Java server; the Python
package is a client that talks to it over HTTP. ``h2o.init()`` starts that server as
a child process (``java -jar h2o.jar``). Three things can go wrong in a course setting,
and :func:`h2o_cluster` takes care of each:

1. **No Java.** ``h2o.init`` fails deep inside with a terse message.
   :func:`check_java` looks for Java first, the way H2O does (``H2O_JAVA_HOME``, the
   ``PATH``, ``JAVA_HOME``), runs ``java -version``, and raises
   :class:`ClusterStartError` saying how to install it.
2. **Connecting to someone else's server.** ``h2o.init`` first tries to *connect* to a
   server at the port and only starts one if none answers; on a shared machine it can
   join (and later shut down) another user's cluster. We pick a free loopback port
   pair (H2O uses ``port`` and ``port + 1``), check that a given one is free, and give
   the cluster a unique name.
3. **A Java process left behind.** When the server does not come up in time,
   ``h2o.init`` raises but does not stop the process it launched; and a notebook that
   fails half-way never reaches its ``shutdown()``. Here the cluster is shut down in a
   ``finally`` block, the Java process is waited for and killed if it is still there
   (found by the cluster's unique name on its command line, with its children), and the
   temporary folder holding ``ice_root`` and the logs is removed.

Examples
--------
The context manager yields the :mod:`h2o` module, connected to the new cluster::

    from course.tools.h2o_cluster import h2o_cluster, ClusterStartError

    with h2o_cluster(nthreads=2, max_mem_size="2G") as h2o:
        frame = h2o.H2OFrame(pandas_dataframe)
        ...
    # here the cluster is down and its Java process gone, even after an exception
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path
from types import ModuleType

import psutil

__all__ = ["ClusterStartError", "JavaInfo", "check_java", "h2o_cluster", "cluster_processes",
           "INSTALL_JAVA_HINT"]

#: How to get Java, quoted in every "Java is missing" message.
INSTALL_JAVA_HINT = (
    "H2O needs Java 8 to 17 (64-bit). Install it, e.g. on Debian/Ubuntu with "
    "`sudo apt-get install openjdk-17-jre-headless`, on macOS with `brew install openjdk@17`, "
    "with conda `conda install -c conda-forge openjdk=17`, or from https://adoptium.net; "
    "then make sure `java` is on the PATH, or set JAVA_HOME (or H2O_JAVA_HOME) to the Java "
    "installation folder (the one holding bin/java).")

_MEMORY = re.compile(r"^([1-9][0-9]*)([MGT])$")


class ClusterStartError(RuntimeError):
    """The local H2O cluster could not be started (no Java, port taken, server failed)."""


@dataclass(frozen=True)
class JavaInfo:
    """The Java executable H2O will use.

    Attributes
    ----------
    path : str
        The ``java`` executable.
    home : str
        The folder holding ``bin/java`` (what ``H2O_JAVA_HOME`` is set to).
    version : str
        The first line of ``java -version``.
    """

    path: str
    home: str
    version: str


# ---------------------------------------------------------------------------------------
# Java
# ---------------------------------------------------------------------------------------
def _java_candidates() -> list[tuple[str, str]]:
    """(where it came from, path of bin/java), in the order H2O's launcher looks.

    H2O's launcher tries ``H2O_JAVA_HOME``, then the ``PATH``, then ``JAVA_HOME``.
    """
    candidates = []
    if os.environ.get("H2O_JAVA_HOME"):
        home = os.environ["H2O_JAVA_HOME"]
        candidates.append((f"H2O_JAVA_HOME={home}", os.path.join(home, "bin", "java")))
    on_path = shutil.which("java")
    if on_path:
        candidates.append(("the PATH", on_path))
    if os.environ.get("JAVA_HOME"):
        home = os.environ["JAVA_HOME"]
        candidates.append((f"JAVA_HOME={home}", os.path.join(home, "bin", "java")))
    return candidates


def check_java(timeout: float = 30.0) -> JavaInfo:
    """Find Java the way H2O's launcher does and check that it runs.

    Parameters
    ----------
    timeout : float, default 30
        Seconds to wait for ``java -version``.

    Returns
    -------
    JavaInfo
        The executable, its home folder and its version line.

    Raises
    ------
    ClusterStartError
        Java is not found (``H2O_JAVA_HOME`` or ``JAVA_HOME`` point to a folder without
        ``bin/java`` and there is none on the ``PATH``), or it does not run; the message
        says how to install it.
    """
    if isinstance(timeout, bool) or not isinstance(timeout, Real) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    candidates = _java_candidates()
    problems = []
    for where, path in candidates:
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            problems.append(f"{where}: no executable {path}")
            continue
        try:
            done = subprocess.run([path, "-version"], capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as error:
            problems.append(f"{where}: `{path} -version` failed ({error})")
            continue
        text = (done.stderr or done.stdout).strip()
        if done.returncode != 0 or "version" not in text:
            problems.append(f"{where}: `{path} -version` exited with {done.returncode}: {text[:200]!r}")
            continue
        home = str(Path(path).parent.parent)
        return JavaInfo(path=path, home=home, version=text.splitlines()[0])
    searched = "; ".join(problems) if problems else \
        "no `java` on the PATH and neither JAVA_HOME nor H2O_JAVA_HOME is set"
    raise ClusterStartError(f"Java was not found or does not run ({searched}). {INSTALL_JAVA_HINT}")


# ---------------------------------------------------------------------------------------
# Ports and processes
# ---------------------------------------------------------------------------------------
def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port_pair(low: int = 20000, high: int = 60000, tries: int = 500) -> int:
    """A port ``p`` with ``p`` and ``p + 1`` free on the loopback interface (H2O uses both)."""
    draw = random.SystemRandom()        # not the global seed: two notebooks must not collide
    for _ in range(tries):
        port = draw.randrange(low, high - 1)
        if _port_is_free(port) and _port_is_free(port + 1):
            return port
    raise ClusterStartError(f"could not find two free consecutive ports on 127.0.0.1 in [{low}, {high})")


def cluster_processes(name: str) -> list[psutil.Process]:
    """The processes whose command line names the H2O cluster ``name``, and their children.

    Parameters
    ----------
    name : str
        The cluster name given to ``h2o.init(name=...)``; the launcher passes it to Java
        as ``-name <name>``.

    Returns
    -------
    list of psutil.Process
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty str, got {name!r}")
    found: dict[int, psutil.Process] = {}
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info.get("cmdline") or []
        if name in cmdline:
            found[process.pid] = process
            with contextlib.suppress(psutil.Error):
                for child in process.children(recursive=True):
                    found[child.pid] = child
    return [p for p in found.values() if p.pid != os.getpid()]


def _stop_processes(name: str, grace: float) -> list[int]:
    """Terminate, then kill, every process of the cluster ``name``; return the pids that stay."""
    processes = cluster_processes(name)
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, alive = psutil.wait_procs(processes, timeout=grace)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    _, alive = psutil.wait_procs(alive, timeout=5)
    return [p.pid for p in alive]


# ---------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------
def _check_memory(max_mem_size: object) -> str:
    if isinstance(max_mem_size, str) and _MEMORY.match(max_mem_size.upper()):
        value, unit = _MEMORY.match(max_mem_size.upper()).groups()
        megabytes = int(value) * {"M": 1, "G": 1024, "T": 1024 ** 2}[unit]
        if megabytes < 256:
            raise ValueError(f"max_mem_size must be at least 256M for H2O to work, got {max_mem_size!r}")
        return max_mem_size.upper()
    if isinstance(max_mem_size, Integral) and not isinstance(max_mem_size, bool) and max_mem_size >= 1:
        return f"{int(max_mem_size)}G"
    raise ValueError("max_mem_size must be a size such as '2G' or '512M' (a number followed by "
                     f"M, G or T) or a positive int of gigabytes, got {max_mem_size!r}")


def _check_arguments(nthreads: object, port: object, start_timeout: object, shutdown_timeout: object
                     ) -> None:
    if isinstance(nthreads, bool) or not isinstance(nthreads, Integral) or not 1 <= nthreads <= 4096:
        raise ValueError(f"nthreads must be an int from 1 to 4096, got {nthreads!r}")
    if port is not None and (isinstance(port, bool) or not isinstance(port, Integral)
                             or not 1024 <= port <= 65534):
        raise ValueError(f"port must be None (pick a free one) or an int from 1024 to 65534, got {port!r}")
    for name, value in (("start_timeout", start_timeout), ("shutdown_timeout", shutdown_timeout)):
        if isinstance(value, bool) or not isinstance(value, Real) or not 0 < value <= 3600:
            raise ValueError(f"{name} must be a number of seconds in (0, 3600], got {value!r}")


# ---------------------------------------------------------------------------------------
# The context manager
# ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def _java_home(home: str) -> Iterator[None]:
    """Make H2O's launcher use the Java we checked (it reads ``H2O_JAVA_HOME`` first)."""
    before = os.environ.get("H2O_JAVA_HOME")
    os.environ["H2O_JAVA_HOME"] = home
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("H2O_JAVA_HOME", None)
        else:
            os.environ["H2O_JAVA_HOME"] = before


@contextlib.contextmanager
def _start_timeout(seconds: float) -> Iterator[None]:
    """H2O waits a fixed 60 s for its server; make that wait ``seconds``."""
    from h2o.backend.server import H2OLocalServer
    before = H2OLocalServer._TIME_TO_START
    H2OLocalServer._TIME_TO_START = seconds
    try:
        yield
    finally:
        H2OLocalServer._TIME_TO_START = before


def _start(h2o: ModuleType, java: JavaInfo, *, name: str, port: int, nthreads: int, max_mem_size: str,
           folder: Path, start_timeout: float, verbose: bool) -> None:
    ice_root, logs = folder / "ice_root", folder / "logs"
    ice_root.mkdir()
    logs.mkdir()
    with _java_home(java.home), _start_timeout(start_timeout):
        # as_port=True: use exactly this port (otherwise H2O treats it as a base port and
        # searches upwards); strict_version_check and ignore_config: never read a user's
        # ~/.h2oconfig that would point the client at another server.
        # Quiet unless verbose: h2o.init prints a version-age notice even with verbose=False.
        quiet = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
        with quiet:
            h2o.init(ip="127.0.0.1", port=port, name=name, nthreads=nthreads, max_mem_size=max_mem_size,
                     ice_root=str(ice_root), log_dir=str(logs), ignore_config=True, as_port=True,
                     bind_to_localhost=True, verbose=verbose, telemetry=False)
    connection = h2o.connection()
    if connection is None or connection.local_server is None or connection.cluster.cloud_name != name:
        raise ClusterStartError(f"h2o.init connected to a cluster other than the one it was asked to "
                                f"start ({name!r} on port {port})")


def _shutdown(h2o: ModuleType, name: str, grace: float) -> None:
    """Ask the cluster to shut down, then make sure its processes are gone."""
    with contextlib.suppress(Exception):
        connection = h2o.connection()
        if connection is not None and connection.cluster is not None \
                and connection.cluster.cloud_name == name:
            h2o.cluster().shutdown()
    with contextlib.suppress(Exception):
        server = h2o.connection().local_server if h2o.connection() else None
        if server is not None and server.name == name:
            server._process = None          # its atexit hook must not touch a reused pid
    left = _stop_processes(name, grace)
    if left:
        raise RuntimeError(f"H2O processes {left} of cluster {name!r} survived SIGKILL")


@contextlib.contextmanager
def h2o_cluster(*, nthreads: int = 2, max_mem_size: str | int = "2G", port: int | None = None,
                start_timeout: float = 90.0, shutdown_timeout: float = 10.0,
                verbose: bool = False) -> Iterator[ModuleType]:
    """Start a private local H2O cluster; always shut it down and leave no process.

    Parameters
    ----------
    nthreads : int, default 2
        Threads of the H2O server (its ``-nthreads``); keep it at the number of cores
        you may use.
    max_mem_size : str or int, default "2G"
        Java heap limit (``-Xmx``): a size such as ``"2G"`` or ``"512M"`` (at least
        256M), or an int of gigabytes.
    port : int, optional
        The port of the REST API (H2O also uses ``port + 1``). ``None`` (default) picks
        a free pair on 127.0.0.1; a given port must be free, so that we never join an
        existing cluster.
    start_timeout : float, default 90
        Seconds to wait for the server to come up.
    shutdown_timeout : float, default 10
        Seconds to wait for the Java process to exit after the shutdown request before
        it is terminated, then killed.
    verbose : bool, default False
        Print H2O's start-up messages and cluster status.

    Yields
    ------
    module
        :mod:`h2o`, connected to the new cluster.

    Raises
    ------
    ValueError
        A bad argument.
    ClusterStartError
        Java is missing or does not run, the port is taken, or the server exited or did
        not start within ``start_timeout``; every process it launched is stopped first.

    References
    ----------
    E. LeDell and S. Poirier, "H2O AutoML: Scalable Automatic Machine Learning",
    7th ICML Workshop on Automated Machine Learning, 2020.
    """
    _check_arguments(nthreads, port, start_timeout, shutdown_timeout)
    memory = _check_memory(max_mem_size)
    if not isinstance(verbose, bool):
        raise ValueError(f"verbose must be a bool, got {verbose!r}")
    java = check_java()
    if port is None:
        port = _free_port_pair()
    elif not (_port_is_free(port) and _port_is_free(port + 1)):
        raise ClusterStartError(f"port {port} or {port + 1} on 127.0.0.1 is already in use; H2O needs "
                                "both. Pass port=None to pick a free pair.")
    import h2o                                           # imported late: it is slow to import

    name = f"course_h2o_{uuid.uuid4().hex[:12]}"
    folder = Path(tempfile.mkdtemp(prefix="course-h2o-"))
    try:
        try:
            _start(h2o, java, name=name, port=port, nthreads=int(nthreads), max_mem_size=memory,
                   folder=folder, start_timeout=float(start_timeout), verbose=verbose)
        except ClusterStartError:
            raise
        except Exception as error:
            raise ClusterStartError(
                f"the H2O server did not start ({type(error).__name__}: {str(error).strip()[:800]}). "
                f"Java used: {java.path} ({java.version}); port {port}; max_mem_size {memory}. "
                "If Java is the problem: " + INSTALL_JAVA_HINT) from error
        yield h2o
    finally:
        try:
            _shutdown(h2o, name, float(shutdown_timeout))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
