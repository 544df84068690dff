"""Every graded lab: the reference answers earn full marks and a blank notebook earns 0.

Labs are the notebooks of solutions/ with graded cells; new labs are picked up as they
are added. One batch grades a perfect and a blank learner over all of them.
"""

import json
import re
from pathlib import Path

import pytest

from autograder.grade import grade

REPO = Path(__file__).resolve().parent.parent
LABS = sorted(p.relative_to(REPO / "solutions") for p in (REPO / "solutions").rglob("*.ipynb")
              if '"grade": true' in p.read_text())

pytestmark = pytest.mark.slow


def reference_answers(lab: Path) -> dict[str, str]:
    nb = json.loads((REPO / "solutions" / lab).read_text())
    return {c["metadata"]["nbgrader"]["grade_id"]: re.sub(r"\s*### (BEGIN|END) SOLUTION", "", "".join(c["source"]))
            for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("solution")}


def filled_release(lab: Path, answers: dict[str, str]) -> str:
    nb = json.loads((REPO / "notebooks" / lab).read_text())
    for cell in nb["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell["source"] = answers[grade_id]
    return json.dumps(nb)


def test_there_are_labs():
    assert LABS, "no graded notebook found in solutions/"


def test_reference_answers_get_full_marks_and_blank_notebooks_zero(tmp_path):
    for lab in LABS:
        for student, answers in (("perfect", reference_answers(lab)), ("blank", {})):
            path = tmp_path / "class" / student / lab
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(filled_release(lab, answers))
    rows = grade(tmp_path / "class", tmp_path / "out", log=lambda *_: None)
    graded = {(r.student, r.notebook): r for r in rows}
    for lab in LABS:
        perfect, blank = graded[("perfect", str(lab))], graded[("blank", str(lab))]
        assert perfect.status == "graded" and perfect.score == perfect.max_score > 0, perfect
        assert blank.status == "graded" and blank.score == 0, blank
