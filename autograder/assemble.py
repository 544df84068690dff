"""Rebuild a submission around the instructor's notebook before it is graded.

The graded notebook is the released notebook with the learner's answers put into its
answer cells. Everything else (test cells, demo cells, text, nbgrader metadata) comes
from the release, so a grade cannot depend on edited, deleted or duplicated test
cells or on changed metadata. Cells the learner added (scratch work, helpers) are kept
where they were, as ordinary cells. Every repair is reported as a finding.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field

import nbformat
from nbformat import NotebookNode

from . import tamper


class UnreadableNotebook(ValueError):
    """The submitted file is not a notebook (bad JSON, wrong schema, not a notebook at all)."""


@dataclass
class Assembled:
    notebook: NotebookNode
    findings: list[str] = field(default_factory=list)
    # indices (in the assembled notebook) of cells whose code the learner wrote
    learner_cells: list[int] = field(default_factory=list)


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def read_submission(raw: bytes) -> NotebookNode:
    """Parse a submitted file, or raise :class:`UnreadableNotebook` saying why."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise UnreadableNotebook("not a notebook: JSON nested too deeply") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UnreadableNotebook(f"not valid JSON ({err.__class__.__name__}: {err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise UnreadableNotebook("valid JSON but not a notebook (no list of cells)")
    try:
        nb = nbformat.reads(json.dumps(data), as_version=4)
    except (Exception, RecursionError) as err:  # nbformat raises several kinds for malformed notebooks
        raise UnreadableNotebook(f"not a valid notebook ({err.__class__.__name__})") from None
    for cell in nb.cells:
        if not isinstance(cell.get("source", ""), str):
            raise UnreadableNotebook("a cell's source is not text")
    return nb


def _bound(source: str) -> set[str]:
    try:
        tree = tamper._parse(source)
    except (RecursionError, MemoryError):
        return set()
    return tamper._bound_names(tree) if tree is not None else set()


def _restore_lost_metadata(submission: NotebookNode, release: NotebookNode) -> list[str]:
    """Give answer cells whose nbgrader metadata was stripped (by an editor, a copy and
    paste) their grade id back, before any answer is replaced by its stub.

    A cell is matched to the release by its cell id; failing that, by position: between the
    nearest cells that match the release (by grade id, cell id or identical text), the
    answer is the cell of the same kind that defines what the stub defines (else the first).
    Returns the findings.
    """
    findings: list[str] = []
    cells = submission.cells
    rel_position = {c.get("id"): i for i, c in enumerate(release.cells)}
    grade_position = {_nbgrader(c).get("grade_id"): i for i, c in enumerate(release.cells) if _nbgrader(c).get("grade_id")}
    present = {_nbgrader(c).get("grade_id") for c in cells} - {None}
    texts = {}
    for i, c in enumerate(release.cells):
        if not _nbgrader(c).get("solution") and c.get("source", "").strip():
            texts.setdefault(c.source, i)

    def restore(cell, grade_id: str, how: str) -> None:
        cell.setdefault("metadata", {})["nbgrader"] = copy.deepcopy(_nbgrader(release.cells[grade_position[grade_id]]))
        present.add(grade_id)
        findings.append(f"answer cell {grade_id!r} had lost its grading metadata: found by its {how}")

    missing = {gid for gid, i in grade_position.items() if _nbgrader(release.cells[i]).get("solution")} - present
    if not missing and all(_nbgrader(c) for c in cells if c.get("id") in grade_position):
        return findings
    for cell in cells:                    # 1. by cell id, or (instructor cells) by identical text
        if _nbgrader(cell).get("grade_id"):
            continue
        where = rel_position.get(cell.get("id"), texts.get(cell.get("source")))
        if where is None:
            continue
        cell["id"] = release.cells[where].get("id")
        gid = _nbgrader(release.cells[where]).get("grade_id")
        if gid in missing and gid not in present:
            restore(cell, gid, "cell id")
        elif gid and not _nbgrader(release.cells[where]).get("solution"):
            cell.setdefault("metadata", {})["nbgrader"] = copy.deepcopy(_nbgrader(release.cells[where]))
    anchors = {}                                              # submission index -> release index
    for k, cell in enumerate(cells):
        gid = _nbgrader(cell).get("grade_id")
        where = grade_position.get(gid) if gid else rel_position.get(cell.get("id"), texts.get(cell.get("source")))
        if where is not None:
            anchors[k] = where
    for gid in sorted(missing - present, key=grade_position.get):   # 2. by position and content
        p = grade_position[gid]
        stub = release.cells[p]
        before = max((k for k, r in anchors.items() if r < p), default=-1)
        after = min((k for k, r in anchors.items() if r > p and k > before), default=len(cells))
        candidates = [k for k in range(before + 1, after)
                      if k not in anchors and cells[k].get("cell_type") == stub.cell_type]
        if not candidates:
            continue
        wanted = _bound(stub.source)
        chosen = next((k for k in candidates if wanted and wanted <= _bound(cells[k].get("source", ""))), candidates[0])
        restore(cells[chosen], gid, "place in the notebook")
        anchors[chosen] = p
    return findings


def assemble(submission: NotebookNode, release: NotebookNode) -> Assembled:
    """The release with the learner's answers and extra cells; findings say what was repaired."""
    submission = copy.deepcopy(submission)
    findings: list[str] = _restore_lost_metadata(submission, release)
    answers: dict[str, list] = {}
    for cell in submission.cells:
        grade_id = _nbgrader(cell).get("grade_id")
        if grade_id:
            answers.setdefault(grade_id, []).append(cell)
    release_ids = {cell.get("id") for cell in release.cells}
    release_grade = {_nbgrader(c).get("grade_id"): c for c in release.cells if _nbgrader(c).get("grade_id")}

    # learner cells that the release does not have, attached to the release cell before them
    extras_after: dict[int, list] = {}
    anchor = -1
    position = {c.get("id"): i for i, c in enumerate(release.cells)}
    grade_position = {gid: position[c.get("id")] for gid, c in release_grade.items()}
    for cell in submission.cells:
        grade_id = _nbgrader(cell).get("grade_id")
        if grade_id in grade_position:
            anchor = grade_position[grade_id]
        elif not grade_id and cell.get("id") in release_ids:
            anchor = position[cell.get("id")]
        else:
            extra = copy.deepcopy(cell)
            if grade_id:
                findings.append(f"cell {grade_id!r} is not part of the assignment: graded as an ordinary cell")
            extra.metadata.pop("nbgrader", None)
            extra.outputs = [] if extra.cell_type == "code" else extra.get("outputs")
            if extra.cell_type != "code":
                extra.pop("outputs", None)
            extras_after.setdefault(anchor, []).append(extra)

    cells: list = []
    learner_cells: list[int] = []

    def add_extras(after: int) -> None:
        for extra in extras_after.get(after, []):
            if extra.cell_type == "code":
                learner_cells.append(len(cells))
            cells.append(extra)

    add_extras(-1)
    for i, cell in enumerate(release.cells):
        meta = _nbgrader(cell)
        grade_id = meta.get("grade_id")
        new = copy.deepcopy(cell)
        if meta.get("solution"):
            given = answers.get(grade_id, [])
            if not given:
                findings.append(f"answer cell {grade_id!r} was deleted: graded as unanswered")
            else:
                if len(given) > 1:
                    findings.append(f"answer cell {grade_id!r} appears {len(given)} times: the first is graded")
                if _differs(_nbgrader(given[0]), meta):
                    findings.append(f"the metadata of answer cell {grade_id!r} was changed: restored")
                new.source = given[0].get("source", "")
            if new.cell_type == "code":
                learner_cells.append(len(cells))
        elif grade_id:
            given = answers.get(grade_id, [])
            if not given:
                findings.append(f"cell {grade_id!r} was deleted: restored from the assignment")
            elif any(g.get("source", "") != cell.source for g in given):
                findings.append(f"cell {grade_id!r} was edited: restored from the assignment")
            elif len(given) > 1:
                findings.append(f"cell {grade_id!r} appears {len(given)} times: restored once")
            elif _differs(_nbgrader(given[0]), meta):
                findings.append(f"the metadata of cell {grade_id!r} was changed: restored")
        cells.append(new)
        add_extras(i)
    notebook = copy.deepcopy(release)
    notebook.cells = cells
    return Assembled(notebook, findings, learner_cells)


def _differs(given: dict, expected: dict) -> bool:
    keys = ("grade", "solution", "locked", "points", "grade_id", "task")
    return any(given.get(k) != expected.get(k) for k in keys)
