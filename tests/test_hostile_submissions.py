"""The grader against hostile and broken submissions (a small fixture lab keeps it fast).

Each kind of attack or accident is one student of one batch; the tests read that
batch's grades, details, feedback, and the files the attackers aimed at.
"""

import csv
import hashlib
import html
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder.grade import OWNER_FILE, TEMP_PREFIX, UID_BASE, Limits, _process_identity, grade
from autograder.release import release

REPO = Path(__file__).resolve().parent.parent
CHAPTER, NAME = "ch9_fixture", "lab.ipynb"
NOTEBOOK = f"{CHAPTER}/{NAME}"
PARTS = {"add_tests": 2, "running_min_tests": 2}
MAX = sum(PARTS.values())
SECRET_SOLUTION = "return a + b  # the reference answer"
LIMITS = Limits(memory_mb=2048, cell_seconds=8, notebook_seconds=60)
DAEMON_SECONDS = 7_654_321            # a daemon's command line, looked for after grading
SHM_MARKER = f"autograder-shm-{os.getpid()}"
REAL_LAB = "solutions/ch1_basics/02_cash_lab.ipynb"

pytestmark = pytest.mark.slow


def _cell(kind, source, grade_id=None, points=None):
    cell = new_code_cell(source) if kind != "md" else new_markdown_cell(source)
    cell.id = grade_id or f"{kind}-{abs(hash(source)) % 10**8}"
    if kind == "solution":
        cell.metadata["nbgrader"] = {"grade": False, "grade_id": grade_id, "locked": False,
                                     "schema_version": 3, "solution": True, "task": False}
    elif kind == "test":
        cell.metadata["nbgrader"] = {"grade": True, "grade_id": grade_id, "locked": True, "points": points,
                                     "schema_version": 3, "solution": False, "task": False}
    return cell


def fixture_source() -> nbformat.NotebookNode:
    cells = [
        _cell("md", "# A fixture lab"),
        _cell("code", "import numpy as np\nfrom course.hpo import best_so_far", "setup"),
        _cell("solution", f"def add(a, b):\n    ### BEGIN SOLUTION\n    {SECRET_SOLUTION}\n    ### END SOLUTION",
              "add_solution"),
        _cell("test", "assert add(1, 2) == 3\n### BEGIN HIDDEN TESTS\nSECRET_HIDDEN_MARKER = 1\n"
                      "for a in range(5):\n    assert add(a, 2 * a) == 3 * a\n### END HIDDEN TESTS",
              "add_tests", 2),
        _cell("solution", "def running_min(values):\n    ### BEGIN SOLUTION\n"
                          "    return np.minimum.accumulate(np.asarray(values, dtype=float))\n    ### END SOLUTION",
              "running_min_solution"),
        _cell("test", "assert np.allclose(running_min([3, 1, 2]), [3, 1, 1])\n### BEGIN HIDDEN TESTS\n"
                      "from course.testing import references_used\n"
                      "assert not references_used(running_min, best_so_far), 'write it yourself'\n"
                      "rng = np.random.default_rng(0)\nv = rng.normal(size=20)\n"
                      "assert np.allclose(running_min(v), best_so_far(v))\n### END HIDDEN TESTS",
              "running_min_tests", 2),
    ]
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                            "language": "python"}})
    return nb


GOOD = {"add_solution": "def add(a, b):\n    return a + b",
        "running_min_solution": "def running_min(values):\n"
                                "    out, best = [], float('inf')\n"
                                "    for v in values:\n        best = min(best, v)\n        out.append(best)\n"
                                "    return np.array(out)"}


STUB_RUNNING_MIN = "def running_min(values):\n    raise NotImplementedError()"


def answer(release_nb, answers=GOOD, edit=None) -> str:
    nb = nbformat.from_dict(json.loads(json.dumps(release_nb)))
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    if edit:
        edit(nb)
    return nbformat.writes(nb)


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        h.update(str(path).encode())
        if path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("fixture-course")
    solutions, notebooks = root / "solutions", root / "notebooks"
    (solutions / CHAPTER).mkdir(parents=True)
    nbformat.write(fixture_source(), solutions / CHAPTER / NAME)
    release(solutions, notebooks, log=lambda *_: None)
    return solutions, nbformat.read(notebooks / CHAPTER / NAME, as_version=4)


class Listener:
    """A loopback server that counts the connections it receives."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port, self.connections, self.stop = self.sock.getsockname()[1], 0, False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
                self.connections += 1
                conn.close()
            except OSError:
                pass

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


def hostile_class(folder: Path, rel, solutions: Path, out: Path, port: int, canary: Path) -> None:
    """The students of the batch, by what they do."""
    good_nb = answer(rel)

    def add_body(body):
        return {**GOOD, "add_solution": "def add(a, b):\n" + body}

    students = {
        "good": good_nb,
        "untouched": answer(rel, {}),
        "raises": answer(rel, add_body("    raise RuntimeError('nope')")),
        "infinite_loop": answer(rel, add_body("    while True:\n        pass")),
        "memory_bomb": answer(rel, add_body("    hog = []\n    while True:\n        hog.append(bytearray(2**26))")),
        "kernel_crash": answer(rel, {**GOOD, "add_solution": "import os\nos._exit(3)"}),
        "edits_tests": answer(rel, GOOD | {"add_solution": "def add(a, b):\n    return 0"},
                              edit=lambda nb: [setattr(c, "source", "pass") for c in nb.cells
                                               if c.metadata.get("nbgrader", {}).get("grade")]),
        "deletes_tests": answer(rel, GOOD | {"add_solution": "def add(a, b):\n    return 0"},
                                edit=lambda nb: setattr(nb, "cells", [c for c in nb.cells if not c.metadata.get(
                                    "nbgrader", {}).get("grade")])),
        "changes_metadata": answer(rel, GOOD | {"add_solution": "def add(a, b):\n    return 0"},
                                   edit=lambda nb: [c.metadata["nbgrader"].update(grade=False, points=99)
                                                    for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]),
        "duplicates_answer": answer(rel, edit=lambda nb: nb.cells.insert(3, nbformat.from_dict(
            {**json.loads(json.dumps(nb.cells[2])), "id": "dup", "source": "def add(a, b):\n    return -1"}))),
        "deletes_answer": answer(rel, edit=lambda nb: setattr(nb, "cells", [
            c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "add_solution"])),
        "patches_reference": answer(rel, {**GOOD, "running_min_solution":
                                          "import course.hpo\ncourse.hpo.best_so_far = lambda v: v\n"
                                          "def running_min(values):\n    return np.asarray(values)"}),
        "patches_helper": answer(rel, {**GOOD, "running_min_solution":
                                       "import course.testing\ncourse.testing.references_used = lambda *a: []\n"
                                       "def running_min(values):\n    return best_so_far(values)"}),
        "calls_reference": answer(rel, {**GOOD, "running_min_solution":
                                        "def running_min(values):\n    return best_so_far(values)"}),
        "silences_errors": answer(rel, {**GOOD, "add_solution":
                                        "get_ipython().showtraceback = lambda *a, **k: None\n"
                                        "def add(a, b):\n    return 0"}),
        "rebinds_numpy": answer(rel, {**GOOD, "running_min_solution":
                                      "class AlwaysClose:\n    def __getattr__(self, name):\n"
                                      "        return lambda *a, **k: True\nnp = AlwaysClose()\n"
                                      "def running_min(values):\n    return None"}),
        "snoops": answer(rel, {**GOOD, "add_solution": (
            "import glob, os\n"
            f"for path in glob.glob({str(solutions)!r} + '/**/*', recursive=True) + glob.glob('/tmp/autograder-grade-*/**/*', recursive=True):\n"
            "    try:\n        print(path, open(path).read()[:2000])\n    except Exception as e:\n        print(path, e)\n"
            "def add(a, b):\n    return a + b")}),
        "vandal": answer(rel, {**GOOD, "add_solution": (
            "import os\n"
            f"targets = [{str(folder / 'good' / NAME)!r}, {str(out / 'grades.csv')!r}, "
            f"{str(canary)!r}, {str(solutions / CHAPTER / NAME)!r}]\n"
            "for t in targets:\n    try:\n        open(t, 'w').write('vandalised')\n        print('WROTE', t)\n"
            "    except Exception as e:\n        print('refused', t, type(e).__name__)\n"
            "def add(a, b):\n    return a + b")}),
        "networker": answer(rel, {**GOOD, "add_solution": (
            "import socket\ntry:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=3)\n    print('CONNECTED')\n"
            "except OSError as e:\n    print('no network:', e)\n"
            "def add(a, b):\n    return a + b")}),
        # -- forging the verdict in the kernel (issue 18): the judge runs the tests elsewhere --
        "input_transformer": answer(rel, {"add_solution": (
            "get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])\n"
            "def add(a, b):\n    raise NotImplementedError()"), "running_min_solution": STUB_RUNNING_MIN}),
        "ast_transformer": answer(rel, {"add_solution": (
            "import ast\nclass NoAsserts(ast.NodeTransformer):\n"
            "    def visit_Assert(self, node):\n        return ast.Pass()\n"
            "get_ipython().ast_transformers.append(NoAsserts())\n"
            "def add(a, b):\n    raise NotImplementedError()"), "running_min_solution": STUB_RUNNING_MIN}),
        "hook_printer": answer(rel, {**GOOD, "add_solution": (
            "get_ipython().events.register('pre_run_cell', lambda info: print('RUNNING', info.raw_cell))\n"
            "def add(a, b):\n    return a + b")}),
        "forged_agent": answer(rel, {"add_solution": (
            "from IPython.display import publish_display_data\n"
            "def forge(info):\n    agent = get_ipython().user_ns.get('__autograder_judge__')\n"
            "    if agent is not None:\n        agent.handle = lambda request: publish_display_data("
            "{'text/x-autograder-judge': '{\"ok\": true}'})\n"
            "get_ipython().events.register('pre_run_cell', forge)\n"
            "def add(a, b):\n    raise NotImplementedError()"), "running_min_solution": STUB_RUNNING_MIN}),
        "always_equal": answer(rel, {"add_solution": (
            "class Anything:\n    def __eq__(self, other):\n        return True\n"
            "    def __bool__(self):\n        return True\n"
            "def add(a, b):\n    return Anything()"), "running_min_solution": (
            "def running_min(values):\n    return Anything()")}),
        # -- against the machine and the neighbours (issue 18) --
        "kills_everything": answer(rel, {**GOOD, "add_solution": (
            "import os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)\n    print('KILLED ALL')\n"
            "except OSError as err:\n    print('NOBODY TO KILL', type(err).__name__)\n"
            "def add(a, b):\n    return a + b")}),
        "daemon": answer(rel, {**GOOD, "add_solution": (
            "import subprocess, os\n"
            f"subprocess.Popen(['sleep', '{DAEMON_SECONDS}'], start_new_session=True)\n"
            "if os.fork() == 0:\n    os.setsid()\n"
            f"    os.execvp('sleep', ['sleep', '{DAEMON_SECONDS + 1}'])\n"
            "def add(a, b):\n    return a + b")}),
        "fork_bomb": answer(rel, {**GOOD, "add_solution": (
            "import os, time\nchildren = 0\ntry:\n    while children < 100000:\n        if os.fork() == 0:\n"
            "            while True:\n                time.sleep(1)\n        children += 1\n"
            "except OSError as err:\n    print('FORK LIMIT after', children, type(err).__name__)\n"
            "def add(a, b):\n    return a + b")}),
        "machine_prober": answer(rel, {**GOOD, "add_solution": (
            "import os, glob, subprocess\n"
            "print('UID', os.getuid(), 'PIDS', sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))\n"
            "for path in ['/proc/sys/kernel/core_pattern', '/proc/1/mem', '/sys/fs/cgroup/pids/cgroup.procs',\n"
            f"             '/sys/kernel/mm/transparent_hugepage/enabled', '/dev/shm/{SHM_MARKER}']:\n"
            "    try:\n        open(path, 'w').write('0')\n        print('WROTE', path)\n"
            "    except OSError as err:\n        print('refused', path, type(err).__name__)\n"
            "def add(a, b):\n    return a + b")}),
        "history_reader": answer(rel, {**GOOD, "add_solution": (
            "import glob, subprocess\n"
            f"print('REPO SEES', sorted(glob.glob({str(REPO)!r} + '/*')))\n"
            f"r = subprocess.run(['git', '-C', {str(REPO)!r}, 'show', 'HEAD:{REAL_LAB}'], capture_output=True, text=True)\n"
            "print('GIT', r.returncode, r.stdout[:3000], r.stderr[:200])\n"
            "for path in glob.glob('/work/*/solutions/**/*.ipynb', recursive=True) + glob.glob('/root/**/solutions/*/*.ipynb', recursive=True):\n"
            "    print('READ', path, open(path).read()[:3000])\n"
            "def add(a, b):\n    return a + b")}),
        "disk_filler": answer(rel, {**GOOD, "add_solution": (
            "import os, tempfile\nfor where in ('.', tempfile.gettempdir(), os.path.expanduser('~'), '/dev/shm'):\n"
            "    try:\n        with open(os.path.join(where, 'fill'), 'wb') as f:\n"
            "            for _ in range(2048):\n                f.write(b'x' * 2**20)\n"
            "        print('FILLED', where)\n    except OSError as err:\n        print('full', where, err.strerror)\n"
            "def add(a, b):\n    return a + b")}),
        "output_bomb": answer(rel, {**GOOD, "add_solution": (
            "for _ in range(60):\n    print('y' * 2**20)\ndef add(a, b):\n    return a + b")}),
        "stuck_cell": answer(rel, {**GOOD, "add_solution": "while True:\n    pass\ndef add(a, b):\n    return a + b"}),
        "deep_cell": answer(rel, {**GOOD, "add_solution": (
            "%%capture\nx = " + "+".join(["1"] * 20000) + "\ndef add(a, b):\n    return a + b")}),
    }
    for student, text in students.items():
        (folder / student).mkdir(parents=True)
        (folder / student / NAME).write_text(text)
    (folder / "renamed").mkdir()
    (folder / "renamed" / "my_lab_final.ipynb").write_text(good_nb)
    (folder / "corrupt").mkdir()
    (folder / "corrupt" / NAME).write_text("{ not json")
    (folder / "not_a_notebook").mkdir()
    (folder / "not_a_notebook" / NAME).write_bytes(b"\x89PNG\r\n\x1a\n binary")
    (folder / "empty").mkdir()
    for student, new_ids in (("stripped_metadata", False), ("stripped_ids_too", True)):
        stripped = nbformat.reads(good_nb, as_version=4)     # an editor that drops cell metadata
        for i, cell in enumerate(stripped.cells):
            cell.metadata = {}
            cell.id = f"new-{i}" if new_ids else cell.id
        stripped.cells.insert(2, new_code_cell("print('scratch work')"))
        (folder / student).mkdir()
        (folder / student / NAME).write_text(nbformat.writes(stripped))
    (folder / "deep_json").mkdir()
    (folder / "deep_json" / NAME).write_text("[" * 200_000 + "]" * 200_000)
    with zipfile.ZipFile(folder / "zipper.zip", "w") as zf:
        zf.writestr(f"zipper/{CHAPTER}/{NAME}", good_nb)
        zf.writestr(f"../../escaped/{NAME}", good_nb)


@pytest.fixture(scope="module")
def batch(course, tmp_path_factory):
    solutions, rel = course
    root = tmp_path_factory.mktemp("hostile")
    folder, out = root / "submissions", root / "out"
    listener = Listener()
    # a file inside the repository that a submission tries to overwrite (not real code, in
    # case the fence ever fails)
    canary = REPO / "tests" / f".canary-{os.getpid()}"
    canary.write_text("untouched")
    try:
        hostile_class(folder, rel, solutions, out, listener.port, canary)
        before = {p: digest(p) for p in (folder, solutions, REPO / "course")}
        stale, live = _temp_folder("stale", "999999999 0"), _temp_folder("live", _process_identity(os.getpid()))
        started = time.perf_counter()
        rows = grade(folder, out, solutions=solutions, limits=LIMITS, log=lambda *_: None)
        seconds = time.perf_counter() - started
        leftovers = _leftover_processes()
        temp_folders = {"stale": stale.exists(), "live": live.exists()}
        shutil.rmtree(live)
        after = {p: digest(p) for p in before}
        canary_text = canary.read_text()
    finally:
        listener.close()
        canary.unlink()
    table = {r["student"]: r for r in csv.DictReader(open(out / "grades.csv"))}
    details = {}
    for r in csv.DictReader(open(out / "details.csv")):
        details.setdefault(r["student"], {})[r["part"]] = r
    return {"rows": rows, "table": table, "details": details, "out": out, "folder": folder,
            "unchanged": before == after and canary_text == "untouched", "connections": listener.connections, "seconds": seconds,
            "solutions": solutions, "leftovers": leftovers, "temp_folders": temp_folders,
            "shm_marker_outside": Path("/dev/shm", SHM_MARKER).exists()}


def _temp_folder(kind: str, owner: str) -> Path:
    """A grader's temporary folder: of a killed grader (stale) or of a running one (live)."""
    folder = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{kind}-"))
    (folder / OWNER_FILE).write_text(owner)
    (folder / "hidden-tests.ipynb").write_text("SECRET_HIDDEN_MARKER")
    return folder


def _leftover_processes() -> list[str]:
    """Processes of any kernel's uid, or with a daemon's command line, after grading."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            uid = int(next(line for line in (entry / "status").read_text().splitlines()
                           if line.startswith("Uid:")).split()[1])
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, StopIteration, ValueError):
            continue
        if uid >= UID_BASE or str(DAEMON_SECONDS) in command:
            found.append(f"{entry.name} uid {uid}: {command}")
    return found


def score(batch, student):
    return float(batch["table"][student]["score"])


def feedback(batch, student):
    return (batch["out"] / "feedback" / student / CHAPTER / "lab.html").read_text()


def findings(batch, student):
    record = json.loads((batch["out"] / "results" / f"{student}.json").read_text())
    return " | ".join(f for nb in record["notebooks"] for f in nb["findings"]) + " | " + \
        " | ".join(record["warnings"])


def test_every_student_is_in_the_table_with_a_reason_per_lost_part(batch):
    assert len(batch["table"]) == 41
    for student, parts in batch["details"].items():
        for part in parts.values():
            if float(part["score"]) < float(part["max_score"]):
                assert part["reason"], f"{student}/{part['part']} lost points without a reason"


def test_honest_answers_still_get_full_marks(batch):
    for student in ("good", "zipper", "snoops", "vandal", "networker", "daemon", "fork_bomb", "machine_prober",
                    "history_reader", "disk_filler", "output_bomb", "kills_everything", "stripped_metadata",
                    "stripped_ids_too", "hook_printer"):
        assert score(batch, student) == MAX, (student, batch["details"][student])


@pytest.mark.parametrize("student, reason", [
    ("raises", "RuntimeError"),
    ("infinite_loop", "time limit"),
    ("memory_bomb", "memory"),
])
def test_a_failing_part_scores_zero_and_the_rest_counts(batch, student, reason):
    parts = batch["details"][student]
    assert float(parts["add_tests"]["score"]) == 0 and reason in parts["add_tests"]["reason"]
    assert float(parts["running_min_tests"]["score"]) == PARTS["running_min_tests"]


def test_a_crashing_kernel_scores_zero_with_a_reason_and_the_batch_goes_on(batch):
    assert batch["table"]["kernel_crash"]["status"] == "error" and score(batch, "kernel_crash") == 0
    assert "kernel died" in batch["details"]["kernel_crash"]["add_tests"]["reason"]


@pytest.mark.parametrize("student, finding", [
    ("edits_tests", "was edited: restored"),
    ("deletes_tests", "was deleted: restored"),
    ("changes_metadata", "metadata of cell"),
])
def test_tests_are_restored_from_the_source_and_the_change_reported(batch, student, finding):
    assert finding in findings(batch, student)
    # add() is wrong and its restored tests catch it; running_min is right
    assert score(batch, student) == PARTS["running_min_tests"]


def test_duplicated_and_deleted_answer_cells_are_reported_not_crashed(batch):
    assert "appears 2 times" in findings(batch, "duplicates_answer")
    assert score(batch, "duplicates_answer") == MAX       # the first copy is graded
    assert "was deleted: graded as unanswered" in findings(batch, "deletes_answer")
    assert score(batch, "deletes_answer") == PARTS["running_min_tests"]
    assert batch["table"]["deletes_answer"]["status"] == "graded"


@pytest.mark.parametrize("student, part", [
    ("patches_reference", "running_min_tests"),
    ("patches_helper", "running_min_tests"),
    ("calls_reference", "running_min_tests"),
    ("silences_errors", "add_tests"),
    ("rebinds_numpy", "running_min_tests"),
])
def test_cheating_earns_nothing_for_the_exercise(batch, student, part):
    assert float(batch["details"][student][part]["score"]) == 0, batch["details"][student]
    assert batch["details"][student][part]["reason"]


def test_broken_entries_are_reported(batch):
    assert batch["table"]["renamed"]["status"] == "missing"
    assert "renamed?" in findings(batch, "renamed")
    for student in ("corrupt", "not_a_notebook"):
        assert batch["table"][student]["status"] == "error"
        assert "unreadable notebook" in batch["details"][student]["add_tests"]["reason"]
    assert batch["table"]["empty"]["status"] == "missing"
    assert "leaves the archive" in findings(batch, "zipper")
    assert not (batch["folder"].parent / "escaped").exists()


def test_nothing_hidden_can_be_read_and_nothing_outside_can_be_written(batch):
    snooped = feedback(batch, "snoops")
    assert SECRET_SOLUTION not in snooped and "SECRET_HIDDEN_MARKER" not in snooped
    assert "WROTE /" not in feedback(batch, "vandal") and feedback(batch, "vandal").count("refused /") == 4
    assert batch["unchanged"], "a submission changed files outside its own folder"


def test_no_network(batch):
    assert batch["connections"] == 0
    assert "no network:" in feedback(batch, "networker")


def test_feedback_never_shows_hidden_tests_or_solutions(batch):
    for page in (batch["out"] / "feedback").rglob("*.html"):
        text = page.read_text()
        assert "SECRET_HIDDEN_MARKER" not in text and "BEGIN HIDDEN TESTS" not in text, page
        assert SECRET_SOLUTION not in text, page


def test_thirty_submissions_a_third_hostile_and_a_killed_grader_resumes(course, tmp_path):
    solutions, rel = course
    folder, out = tmp_path / "class", tmp_path / "out"
    hostile = [GOOD | {"add_solution": "def add(a, b):\n    while True:\n        pass"},
               GOOD | {"add_solution": "import os\nos._exit(1)"},
               GOOD | {"running_min_solution": "import course.hpo\ncourse.hpo.best_so_far = abs\n"
                                               "def running_min(values):\n    return values"}]
    students = [f"s{i:02d}" for i in range(30)]
    is_hostile = {s: i % 3 == 0 for i, s in enumerate(students)}          # ten of thirty
    for i, student in enumerate(students):
        (folder / student).mkdir(parents=True)
        answers = hostile[(i // 3) % 3] if is_hostile[student] else GOOD
        (folder / student / NAME).write_text(answer(rel, answers))
    limits = "Limits(memory_mb=2048, cell_seconds=5, notebook_seconds=60)"
    command = [sys.executable, "-c",
               "from pathlib import Path; from autograder.grade import grade, Limits; "
               f"grade(Path({str(folder)!r}), Path({str(out)!r}), solutions=Path({str(solutions)!r}), "
               f"limits={limits})"]
    proc = subprocess.Popen(command, cwd=REPO, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and len(list((out / "results").glob("*.json"))) < 6:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)          # the grader dies in the middle of the class
    proc.wait()
    saved_before = {p.name: p.read_text() for p in (out / "results").glob("*.json")}
    assert 6 <= len(saved_before) < 30

    messages = []
    rows = grade(folder, out, solutions=solutions, limits=LIMITS, log=messages.append)
    assert any(f"reusing the saved results of {len(saved_before)}" in m for m in messages), messages[:3]
    assert [r.student for r in rows] == students                     # everyone, once
    for name, text in saved_before.items():                          # nothing graded twice
        assert (out / "results" / name).read_text() == text
    for row in rows:
        assert (row.score < MAX) == is_hostile[row.student], row
    assert _leftover_processes() == []       # the killed grader's kernels were killed too
    first = (out / "grades.csv").read_bytes()
    grade(folder, out, solutions=solutions, limits=LIMITS, log=lambda *_: None)
    assert (out / "grades.csv").read_bytes() == first


# -- issue 18: the sandbox holds as root, neighbours unharmed, no submission stops the class --

def printed(batch, student) -> str:
    """What the student's cells printed, as its feedback page shows it (code excluded)."""
    page = feedback(batch, student)
    return "\n".join(html.unescape(text) for text in re.findall(
        r'class="output_subarea output_stream[^"]*"[^>]*>\s*<pre>(.*?)</pre>', page, re.S))


def test_the_kernel_is_an_unprivileged_user_alone_in_its_pid_namespace(batch):
    out = printed(batch, "machine_prober")
    uid = int(out.split("UID ", 1)[1].split()[0])
    assert uid >= UID_BASE, "the kernel ran as a real user (root?)"
    assert "PIDS [1, 2]" in out, "the kernel sees processes outside its own namespace"
    # its own /dev/shm is writable; nothing else is, and the machine's /dev/shm is untouched
    assert out.count("refused /") == 4 and out.count("WROTE") == 1 and f"WROTE /dev/shm/{SHM_MARKER}" in out, out
    assert not batch["shm_marker_outside"], "the kernel wrote to the machine's /dev/shm"


def test_killing_every_process_it_can_reaches_nobody(batch):
    assert "NOBODY TO KILL ProcessLookupError" in printed(batch, "kills_everything")
    assert score(batch, "kills_everything") == MAX


def test_the_repository_its_history_and_other_checkouts_are_out_of_sight(batch):
    out = printed(batch, "history_reader")
    assert f"REPO SEES {[str(REPO / 'course')]}" in out, out       # the course package only
    assert "GIT 128" in out and "not a git repository" in out and "READ " not in out, out
    hidden_line = "def _reference_search(X, y, space, n_trials, seed, cv):"   # a hidden test of REAL_LAB
    assert hidden_line in (REPO / REAL_LAB).read_text()
    for page in (batch["out"] / "feedback").rglob("*.html"):
        assert "_reference_search" not in page.read_text(), page


def test_no_process_is_left_daemons_and_fork_bombs_included(batch):
    assert "FORK LIMIT after" in feedback(batch, "fork_bomb")
    assert batch["leftovers"] == []


def test_disks_and_shared_memory_are_private_and_small(batch):
    out = printed(batch, "disk_filler")
    assert "FILLED" not in out and out.count("No space left on device") == 4, out


def test_an_output_bomb_is_cut_with_a_note_and_its_author_keeps_the_marks(batch):
    page = batch["out"] / "feedback" / "output_bomb" / CHAPTER / "lab.html"
    assert page.stat().st_size < 8 * 2**20
    assert "output cut by the grader" in page.read_text()


def test_a_lost_part_names_the_limit_that_caused_it(batch):
    reason = batch["details"]["stuck_cell"]["add_tests"]["reason"]
    assert "time limit" in reason and "NameError" in reason, reason


def test_text_too_deep_to_read_fails_into_its_own_row(batch):
    assert "too long or too deeply nested" in batch["details"]["deep_cell"]["add_tests"]["reason"]
    assert batch["table"]["deep_json"]["status"] == "error"
    assert "nested too deeply" in batch["details"]["deep_json"]["add_tests"]["reason"]


def test_a_killed_graders_folder_is_removed_and_a_running_ones_kept(batch):
    assert batch["temp_folders"] == {"stale": False, "live": True}
    assert not [p for p in Path(tempfile.gettempdir()).glob(TEMP_PREFIX + "*")
                if (p / OWNER_FILE).is_file() and "999999999" in (p / OWNER_FILE).read_text()]


@pytest.mark.parametrize("student, how", [("stripped_metadata", "cell id"),
                                          ("stripped_ids_too", "place in the notebook")])
def test_answers_whose_metadata_an_editor_dropped_are_found_not_replaced(batch, student, how):
    assert f"answer cell 'add_solution' had lost its grading metadata: found by its {how}" in findings(batch, student)
    assert "deleted" not in findings(batch, student)


@pytest.mark.parametrize("student", ["input_transformer", "ast_transformer", "forged_agent", "always_equal"])
def test_changing_how_the_kernel_runs_tests_forges_nothing(batch, student):
    """The tests' verdict comes from the judge, outside the kernel: no-op cells, assertion-free
    cells, a forged agent or an object equal to everything earn nothing, and no tamper check
    is needed to see it."""
    assert score(batch, student) == 0, batch["details"][student]
    assert "refused" not in batch["details"][student]["add_tests"]["reason"]


def test_the_kernel_never_receives_the_hidden_tests(batch):
    out = printed(batch, "hook_printer")
    assert "RUNNING" in out and "assert add(1, 2) == 3" in out           # it printed every cell
    assert "SECRET_HIDDEN_MARKER" not in out and "best_so_far(v)" not in out
