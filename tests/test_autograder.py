"""The instructor's pipeline on the first lab: fixture submissions of every kind.

Submissions are built from the committed release, so they always match the lab:
the learner notebook with some exercise cells filled in.
"""

import csv
import hashlib
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.grade import grade

REPO = Path(__file__).resolve().parent.parent
LAB = Path("ch2_hpo") / "01_grid_and_random_search.ipynb"
NOTEBOOK = "ch2_hpo/01_grid_and_random_search.ipynb"
POINTS = {"grid_search_tests": 3, "random_search_tests": 3, "regret_curve_tests": 2}
MAX = sum(POINTS.values())


def reference_answers() -> dict[str, str]:
    """The solution cells of the source notebook, markers removed: a perfect learner."""
    nb = json.loads((REPO / "solutions" / LAB).read_text())
    answers = {}
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("solution"):
            source = "".join(cell["source"])
            answers[meta["grade_id"]] = re.sub(r"\s*### (BEGIN|END) SOLUTION", "", source)
    return answers


def learner_notebook(answers: dict[str, str]) -> str:
    nb = json.loads((REPO / "notebooks" / LAB).read_text())
    for cell in nb["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell["source"] = answers[grade_id]
    return json.dumps(nb)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def read_grades(path: Path) -> list[dict]:
    """The rows of this lab (the chapter's other labs are listed too, as not handed in)."""
    with open(path, newline="") as f:
        return [row for row in csv.DictReader(f) if row["notebook"] == NOTEBOOK]


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """A class of eight: perfect, untouched, half right, raising, zipped, empty, corrupt,
    and one that calls the course's reference instead of writing the exercise."""
    root = tmp_path_factory.mktemp("submissions")
    good = reference_answers()
    wrong_random = dict(good, random_search_solution=good["random_search_solution"].replace(
        "default_rng(seed)", "default_rng(seed + 1)"))
    raising_grid = dict(good, grid_search_solution=(
        "def grid_search(objective, space, points_per_dim):\n    return 1 / 0"))
    calls_reference = dict(good, grid_search_solution=(
        "from course.hpo import grid_configurations\n\n"
        "def grid_search(objective, space, points_per_dim):\n"
        "    return [(c, objective(c)) for c in grid_configurations(space, points_per_dim)]"))
    write(root / "alice" / LAB.name, learner_notebook(good))
    write(root / "bob" / LAB, learner_notebook({}))
    write(root / "carol" / LAB.name, learner_notebook(wrong_random))
    write(root / "dave" / "work" / LAB.name, learner_notebook(raising_grid))
    with zipfile.ZipFile(root / "erin.zip", "w") as zf:
        zf.writestr(f"erin/{LAB}", learner_notebook(good))
        zf.writestr("../evil.ipynb", "{}")          # must not escape the extraction folder
    (root / "frank").mkdir()
    write(root / "gina" / LAB.name, "{ this is not a notebook")
    write(root / "hank" / LAB.name, learner_notebook(calls_reference))
    before = tree_digest(root), tree_digest(REPO / "solutions"), tree_digest(REPO / "notebooks")
    out = tmp_path_factory.mktemp("out") / "grades"
    rows = grade(root, out)
    after = tree_digest(root), tree_digest(REPO / "solutions"), tree_digest(REPO / "notebooks")
    return {"root": root, "out": out, "rows": rows, "unchanged": before == after}


pytestmark = pytest.mark.slow


def score_of(batch, student):
    [row] = [r for r in read_grades(batch["out"] / "grades.csv") if r["student"] == student]
    return row


def test_every_student_appears_once_in_the_table(batch):
    table = read_grades(batch["out"] / "grades.csv")
    assert list(table[0]) == ["student", "notebook", "score", "max_score", "status"]
    assert [r["student"] for r in table] == ["alice", "bob", "carol", "dave", "erin", "frank", "gina", "hank"]
    assert {r["notebook"] for r in table} == {NOTEBOOK}
    assert {r["max_score"] for r in table} == {str(MAX)}


def test_the_reference_solution_gets_full_marks(batch):
    for student in ("alice", "erin"):        # a bare notebook, and a zip with the chapter folder
        row = score_of(batch, student)
        assert (row["score"], row["status"]) == (str(MAX), "graded"), row


def test_an_untouched_notebook_gets_zero_without_stopping_the_batch(batch):
    assert (score_of(batch, "bob")["score"], score_of(batch, "bob")["status"]) == ("0", "graded")


def test_a_half_correct_notebook_gets_partial_marks(batch):
    row = score_of(batch, "carol")   # random search wrong, the rest right
    assert float(row["score"]) == MAX - POINTS["random_search_tests"]


def test_a_raising_exercise_loses_only_its_own_cells(batch):
    row = score_of(batch, "dave")    # grid_search raises ZeroDivisionError
    assert float(row["score"]) == MAX - POINTS["grid_search_tests"]


def test_calling_the_reference_does_not_earn_the_points(batch):
    row = score_of(batch, "hank")    # grid_search delegates to course.hpo.grid_configurations
    assert float(row["score"]) == MAX - POINTS["grid_search_tests"]


def test_missing_and_unreadable_submissions_score_zero_with_a_reason(batch):
    assert (score_of(batch, "frank")["score"], score_of(batch, "frank")["status"]) == ("0", "missing")
    assert (score_of(batch, "gina")["score"], score_of(batch, "gina")["status"]) == ("0", "error")
    for student in ("frank", "gina"):
        text = (batch["out"] / "feedback" / student / "ch2_hpo" / "01_grid_and_random_search.html").read_text()
        assert "not handed in" in text or "unreadable notebook" in text


def test_feedback_is_written_per_student(batch):
    for student in ("alice", "bob", "carol", "dave", "erin"):
        page = batch["out"] / "feedback" / student / "ch2_hpo" / "01_grid_and_random_search.html"
        assert page.is_file() and "grid_search" in page.read_text()
    assert "NotImplementedError" in (batch["out"] / "feedback" / "bob" / "ch2_hpo" /
                                     "01_grid_and_random_search.html").read_text()


def test_grading_touches_neither_the_submissions_nor_the_repository(batch):
    assert batch["unchanged"]
    assert not (batch["root"].parent / "evil.ipynb").exists()


def test_grading_again_gives_the_same_table(tmp_path):
    root = tmp_path / "subs"
    write(root / "ann" / LAB.name, learner_notebook(reference_answers()))
    write(root / "ben" / LAB.name, learner_notebook({}))
    out = tmp_path / "grades"
    grade(root, out, log=lambda *_: None)
    first = (out / "grades.csv").read_bytes()
    grade(root, out, log=lambda *_: None)
    assert (out / "grades.csv").read_bytes() == first
    assert read_grades(out / "grades.csv")[0]["score"] == str(MAX)
    others = [r for r in csv.DictReader(open(out / "grades.csv")) if r["notebook"] != NOTEBOOK]
    assert all(r["status"] == "missing" and r["score"] == "0" for r in others)


def run_cli(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=cwd,
                          capture_output=True, text=True)


@pytest.mark.parametrize("case, message", [
    ("missing", "submissions must be a folder"),
    ("empty", "holds no student folder or .zip"),
    ("out-inside", "must not be inside the submissions folder"),
    ("foreign-out", "refusing to write into"),
])
def test_cli_rejects_bad_input_clearly_and_loses_nothing(tmp_path, case, message):
    subs = tmp_path / "subs"
    subs.mkdir()
    out = tmp_path / "out"
    if case != "empty":
        (subs / "amy").mkdir()
    if case == "missing":
        subs = tmp_path / "nope"
    if case == "out-inside":
        out = subs / "grades"
    if case == "foreign-out":
        out.mkdir()
        (out / "precious.txt").write_text("keep me")
    proc = run_cli("grade", str(subs), "--out", str(out))
    assert proc.returncode == 2
    assert message in proc.stderr
    if case == "foreign-out":
        assert (out / "precious.txt").read_text() == "keep me"


def test_cli_usage_errors():
    proc = run_cli()
    assert proc.returncode == 2 and "COMMAND" in proc.stderr
    proc = run_cli("release", "--solutions", "/nonexistent/solutions")
    assert proc.returncode == 2 and "no solutions folder" in proc.stderr
