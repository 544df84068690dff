"""The grader against hostile and broken submissions (a small fixture lab keeps it fast).

Each kind of attack or accident is one student of one batch; the tests read that
batch's grades, details, feedback, and the files the attackers aimed at.
"""

import csv
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder.grade import Limits, grade
from autograder.release import release

REPO = Path(__file__).resolve().parent.parent
CHAPTER, NAME = "ch9_fixture", "lab.ipynb"
NOTEBOOK = f"{CHAPTER}/{NAME}"
PARTS = {"add_tests": 2, "running_min_tests": 2}
MAX = sum(PARTS.values())
SECRET_SOLUTION = "return a + b  # the reference answer"
LIMITS = Limits(memory_mb=2048, cell_seconds=8, notebook_seconds=60)

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
        started = time.perf_counter()
        rows = grade(folder, out, solutions=solutions, limits=LIMITS, log=lambda *_: None)
        seconds = time.perf_counter() - started
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
            "solutions": solutions}


def score(batch, student):
    return float(batch["table"][student]["score"])


def feedback(batch, student):
    return (batch["out"] / "feedback" / student / CHAPTER / "lab.html").read_text()


def findings(batch, student):
    record = json.loads((batch["out"] / "results" / f"{student}.json").read_text())
    return " | ".join(f for nb in record["notebooks"] for f in nb["findings"]) + " | " + \
        " | ".join(record["warnings"])


def test_every_student_is_in_the_table_with_a_reason_per_lost_part(batch):
    assert len(batch["table"]) == 24
    for student, parts in batch["details"].items():
        for part in parts.values():
            if float(part["score"]) < float(part["max_score"]):
                assert part["reason"], f"{student}/{part['part']} lost points without a reason"


def test_honest_answers_still_get_full_marks(batch):
    for student in ("good", "zipper", "snoops", "vandal", "networker"):
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
    assert any(f"reusing the saved results of {len(saved_before)}" in m for m in messages)
    assert [r.student for r in rows] == students                     # everyone, once
    for name, text in saved_before.items():                          # nothing graded twice
        assert (out / "results" / name).read_text() == text
    for row in rows:
        assert (row.score < MAX) == is_hostile[row.student], row
    first = (out / "grades.csv").read_bytes()
    grade(folder, out, solutions=solutions, limits=LIMITS, log=lambda *_: None)
    assert (out / "grades.csv").read_bytes() == first
