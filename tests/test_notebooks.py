"""The notebooks: committed clean, the release up to date, and the release runnable.

The solution notebooks themselves are executed by nbval (``pytest --nbval-lax solutions``,
part of the default test run). A released lab is executed here as a learner first opens
it; a released tour holds exactly its source's code, so it is compared, not run twice.
"""

import filecmp
import json
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from autograder.release import release

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted((REPO / "solutions").rglob("*.ipynb"))
RELEASED = sorted((REPO / "notebooks").rglob("*.ipynb"))
CHAPTERS = ["ch1_basics", "ch2_hpo", "ch3_nas", "ch4_tools"]


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def test_chapters_exist_in_both_trees():
    for tree in ("solutions", "notebooks"):
        for chapter in CHAPTERS:
            assert (REPO / tree / chapter).is_dir(), f"{tree}/{chapter} is missing"
    assert SOLUTIONS, "no source notebooks found"
    assert [p.relative_to(REPO / "solutions") for p in SOLUTIONS] == \
           [p.relative_to(REPO / "notebooks") for p in RELEASED]


@pytest.mark.parametrize("path", SOLUTIONS + RELEASED, ids=_rel)
def test_committed_without_outputs(path):
    nb = json.loads(path.read_text())
    dirty = [i for i, cell in enumerate(nb["cells"])
             if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count"))]
    assert not dirty, f"{_rel(path)}: cells {dirty} have outputs; clear them before committing"


@pytest.mark.parametrize("path", RELEASED, ids=_rel)
def test_release_holds_no_solution_or_hidden_tests(path):
    text = path.read_text()
    assert not re.search(r"BEGIN SOLUTION|END SOLUTION|BEGIN HIDDEN TESTS", text), _rel(path)


@pytest.mark.slow
def test_notebooks_are_exactly_what_nbgrader_generates(tmp_path):
    fresh = tmp_path / "notebooks"
    release(REPO / "solutions", fresh, log=lambda *_: None)
    generated = sorted(p.relative_to(fresh) for p in fresh.rglob("*.ipynb"))
    committed = sorted(p.relative_to(REPO / "notebooks") for p in RELEASED)
    assert generated == committed, "notebooks/ and solutions/ hold different notebooks: run `make release`"
    stale = [str(p) for p in generated if not filecmp.cmp(fresh / p, REPO / "notebooks" / p, shallow=False)]
    assert not stale, f"notebooks/ is stale for {stale}: run `make release` and commit the result"


def _is_learner_cell(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("solution") or meta.get("grade"))


def _has_learner_cells(path: Path) -> bool:
    return any(_is_learner_cell(cell) for cell in nbformat.read(path, as_version=4).cells)


LABS_RELEASED = [p for p in RELEASED if _has_learner_cells(p)]
TOURS_RELEASED = [p for p in RELEASED if p not in LABS_RELEASED]


@pytest.mark.parametrize("path", TOURS_RELEASED, ids=_rel)
def test_released_tour_runs_the_code_nbval_executes(path):
    # A tour has nothing for the learner to fill in: its release must hold exactly the code
    # of its source, which nbval executes; running it a second time would prove nothing new.
    source = nbformat.read(REPO / "solutions" / path.relative_to(REPO / "notebooks"), as_version=4)
    released = nbformat.read(path, as_version=4)
    code = [[c.source for c in nb.cells if c.cell_type == "code"] for nb in (source, released)]
    assert code[0] == code[1], f"{_rel(path)}: the released tour's code differs from its source"


@pytest.mark.slow
@pytest.mark.parametrize("path", LABS_RELEASED, ids=_rel)
def test_learner_notebook_runs_to_the_end_failing_only_where_the_learner_works(path):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    failed = [(i, cell) for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
              and any(o.get("output_type") == "error" for o in cell.get("outputs", []))]
    wrong = [(i, cell.source.splitlines()[0] if cell.source else "", next(
        o for o in cell.outputs if o.output_type == "error").ename)
        for i, cell in failed if not _is_learner_cell(cell)]
    assert not wrong, f"cells that do not wait for the learner failed: {wrong}"
    # On untouched stubs every graded test cell must fail: a test that passes here cannot fail.
    graded = [cell for cell in nb.cells if cell.get("metadata", {}).get("nbgrader", {}).get("grade")
              and cell.cell_type == "code"]
    passing = [cell.metadata["nbgrader"]["grade_id"] for cell in graded
               if not any(o.get("ename") == "NotImplementedError" for o in cell.outputs)]
    assert graded, f"{_rel(path)} has solution cells but no graded test cell"
    assert not passing, f"test cells that pass on the unsolved notebook: {passing}"
