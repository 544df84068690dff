"""JupyterLab serves nbgrader's formgrader and Validate button for this course.

The server runs in a temporary copy of the course files (the formgrader writes its
gradebook into the course directory) and is stopped at the end, leaving no process.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LAB = "ch2_hpo/01_grid_and_random_search.ipynb"
TOKEN = "course-test-token"

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    for name in ("solutions", "notebooks"):
        shutil.copytree(REPO / name, root / name)
    shutil.copy(REPO / "nbgrader_config.py", root)
    port = free_port()
    env = dict(os.environ, HOME=str(root / "home"), JUPYTER_RUNTIME_DIR=str(root / "runtime"),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
               PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
         f"--port={port}", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}"],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail("jupyter lab exited at start")
                time.sleep(0.5)
        else:
            pytest.fail("jupyter lab did not start within 60 s")
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def get_json(url):
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.loads(response.read())


def validate(base, path):
    body = urllib.parse.urlencode({"path": path}).encode()
    request = urllib.request.Request(f"{base}/assignments/validate?token={TOKEN}", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read())


def test_formgrader_sees_solutions_as_source_and_notebooks_as_release(server):
    assignments = {a["name"]: a for a in get_json(f"{server}/formgrader/api/assignments?token={TOKEN}")}
    assert {"ch1_basics", "ch2_hpo", "ch3_nas", "ch4_tools"} <= set(assignments)
    assert assignments["ch2_hpo"]["source_path"] == "solutions/ch2_hpo"
    assert assignments["ch2_hpo"]["release_path"] == "notebooks/ch2_hpo"


def test_validate_button_fails_an_unsolved_notebook_and_passes_the_solution(server):
    unsolved = validate(server, f"notebooks/{LAB}")
    assert unsolved["success"] is True, unsolved            # the request itself worked
    assert unsolved["value"].get("failed"), unsolved["value"]
    assert "NotImplementedError" in json.dumps(unsolved["value"]["failed"])
    solved = validate(server, f"solutions/{LAB}")
    assert solved["success"] is True, solved
    assert solved["value"] == {}, solved["value"]   # nothing failed or changed: "Success!"
