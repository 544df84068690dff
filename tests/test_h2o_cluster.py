"""The local H2O cluster helper: it starts, it always stops, and it fails clearly.

Every test checks that no process it started is left: the set of live descendants of
this test process is the same before and after.
"""

import socket
import tempfile
import stat
from pathlib import Path

import psutil
import pytest

from course.tools.h2o_cluster import ClusterStartError, check_java, cluster_processes, h2o_cluster


def _descendants() -> set[int]:
    alive = set()
    for process in psutil.Process().children(recursive=True):
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                alive.add(process.pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def _fake_java_home(folder: Path, body: str) -> Path:
    """A folder with bin/java: a shell script that answers `-version` and then runs ``body``."""
    (folder / "bin").mkdir(parents=True)
    java = folder / "bin" / "java"
    java.write_text('#!/bin/sh\nif [ "$1" = "-version" ]; then\n'
                    '  echo \'openjdk version "17.0.99" 2030-01-01\' >&2; exit 0\nfi\n' + body)
    java.chmod(java.stat().st_mode | stat.S_IEXEC)
    return folder


@pytest.fixture
def only_java_home(monkeypatch, tmp_path):
    """Make `home` the only place Java can be found."""
    def use(home: Path) -> None:
        empty = tmp_path / "empty_path"
        empty.mkdir(exist_ok=True)
        monkeypatch.setenv("PATH", str(empty))
        monkeypatch.setenv("JAVA_HOME", str(home))
        monkeypatch.delenv("H2O_JAVA_HOME", raising=False)
    return use


def test_real_cluster_starts_and_leaves_no_process_even_after_an_error():
    before = _descendants()
    with pytest.raises(ZeroDivisionError):
        with h2o_cluster(nthreads=1, max_mem_size="1G") as h2o:
            name = h2o.cluster().cloud_name
            assert name.startswith("course_h2o_")
            frame = h2o.H2OFrame({"x": [1.0, 2.0, 3.0]})
            assert frame.shape == (3, 1) and frame["x"].sum() == 6.0
            java = [p for p in cluster_processes(name) if "-jar" in p.cmdline()]
            assert len(java) == 1, "exactly one H2O Java process while the cluster runs"
            command = java[0].cmdline()
            ice_root = Path(command[command.index("-ice_root") + 1])
            assert ice_root.is_dir() and ice_root.is_relative_to(tempfile.gettempdir())
            assert command[command.index("-nthreads") + 1] == "1" and "-Xmx1G" in command
            1 / 0                                      # an error inside the block
    assert cluster_processes(name) == []
    assert not ice_root.exists(), "the temporary folder with ice_root must be removed"
    assert _descendants() == before


def test_a_second_cluster_can_start_after_the_first():
    before = _descendants()
    with h2o_cluster(nthreads=1, max_mem_size="1G") as h2o:
        assert h2o.cluster().is_running()
        name = h2o.cluster().cloud_name
    assert cluster_processes(name) == [] and _descendants() == before


def test_missing_java_gives_a_clear_message_and_starts_nothing(only_java_home, tmp_path):
    empty = tmp_path / "no_java_here"
    empty.mkdir()
    only_java_home(empty)
    before = _descendants()
    with pytest.raises(ClusterStartError, match="Java was not found") as error:
        with h2o_cluster():
            pytest.fail("the block must not run without Java")
    message = str(error.value)
    assert "apt-get install openjdk-17-jre-headless" in message and "JAVA_HOME" in message
    assert str(empty) in message, "the message names the folder that was searched"
    with pytest.raises(ClusterStartError, match="Java was not found"):
        check_java()
    assert _descendants() == before


def test_a_java_that_exits_at_once_gives_a_clear_error(only_java_home, tmp_path):
    only_java_home(_fake_java_home(tmp_path / "java", 'echo "Error: broken JVM" >&2\nexit 1\n'))
    before = _descendants()
    with pytest.raises(ClusterStartError, match="did not start") as error:
        with h2o_cluster(start_timeout=20):
            pytest.fail("the block must not run when the server fails")
    assert "broken JVM" in str(error.value) and "17.0.99" in str(error.value)
    assert _descendants() == before


def test_a_server_that_never_comes_up_is_killed(only_java_home, tmp_path):
    pids = tmp_path / "pids"
    # The fake server and a child of its own, both would run for 5 minutes.
    body = f'sleep 300 &\necho $! > {pids}\necho $$ >> {pids}\nwait\n'
    only_java_home(_fake_java_home(tmp_path / "java", body))
    before = _descendants()
    with pytest.raises(ClusterStartError, match="did not start"):
        with h2o_cluster(start_timeout=3):
            pytest.fail("the block must not run when the server does not come up")
    started = [int(line) for line in pids.read_text().split()]
    assert len(started) == 2
    for pid in started:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert _descendants() == before


def test_an_impossible_heap_size_fails_cleanly():
    before = _descendants()
    with pytest.raises(ClusterStartError, match="did not start"):
        with h2o_cluster(max_mem_size="90000T", start_timeout=30):
            pytest.fail("the JVM cannot reserve 90000 TB")
    assert _descendants() == before


def test_a_port_in_use_is_refused_before_anything_starts():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        before = _descendants()
        with pytest.raises(ClusterStartError, match=f"port {port}.*already in use"):
            with h2o_cluster(port=port):
                pytest.fail("must not start on a taken port")
        assert _descendants() == before


@pytest.mark.parametrize("kwargs, message", [
    ({"nthreads": 0}, "nthreads"),
    ({"nthreads": True}, "nthreads"),
    ({"nthreads": 2.5}, "nthreads"),
    ({"max_mem_size": "2X"}, "max_mem_size"),
    ({"max_mem_size": "100M"}, "at least 256M"),
    ({"max_mem_size": -1}, "max_mem_size"),
    ({"port": 80}, "port"),
    ({"port": "54321"}, "port"),
    ({"start_timeout": 0}, "start_timeout"),
    ({"shutdown_timeout": float("nan")}, "shutdown_timeout"),
    ({"verbose": "yes"}, "verbose"),
])
def test_bad_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        with h2o_cluster(**kwargs):
            pytest.fail("must not start")


def test_cluster_processes_checks_its_argument():
    with pytest.raises(ValueError, match="name"):
        cluster_processes("")
