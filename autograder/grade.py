"""``grade``: autograde a folder of submissions into a grades table and feedback.

The submissions folder holds one entry per student, a folder or a ``.zip`` named
after the student. Inside it, notebooks are found by file name (anywhere in the
folder tree), so a learner may hand in ``01_grid_and_random_search.ipynb`` on its own
or the whole ``ch2_hpo/`` folder.
"""

from __future__ import annotations

import csv
import html
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .config import SOLUTIONS
from .nbgrader_course import NbgraderCourse
from .release import chapters_with_notebooks

GRADES_COLUMNS = ("student", "notebook", "score", "max_score", "status")
OUTPUT_MARKER = ".autograder-output"
STUDENT_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class Row:
    student: str
    notebook: str        # "<chapter>/<name>.ipynb"
    score: float
    max_score: float
    status: str          # graded | missing | error


def _student_id(entry: Path) -> str:
    name = entry.stem if entry.suffix.lower() == ".zip" else entry.name
    if not STUDENT_ID.fullmatch(name):
        # nbgrader uses the id as a folder name and a database key: keep it plain
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", name).lstrip(".") or "student"
    return name


def _safe_extract(archive: Path, dest: Path) -> None:
    """Extract the notebooks of ``archive`` into ``dest``, refusing paths that escape it."""
    with zipfile.ZipFile(archive) as zf:
        for member in zf.infolist():
            path = PurePosixPath(member.filename)
            if member.is_dir() or path.suffix != ".ipynb" or path.is_absolute() or ".." in path.parts:
                continue
            target = dest.joinpath(*path.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)


def _find_notebooks(folder: Path) -> list[Path]:
    skip = {".ipynb_checkpoints", "__MACOSX"}
    return sorted(p for p in folder.rglob("*.ipynb")
                  if p.is_file() and not skip.intersection(p.relative_to(folder).parts))


def _match(found: list[Path], folder: Path, released: dict[str, list[str]],
           warn) -> dict[tuple[str, str], Path]:
    """Map each (chapter, notebook name) the course knows to one file of a submission."""
    matched: dict[tuple[str, str], Path] = {}
    for path in found:
        chapters = released.get(path.name, [])
        parts = path.relative_to(folder).parts[:-1]
        in_path = [ch for ch in chapters if ch in parts]
        if len(chapters) == 1:
            chapter = chapters[0]
        elif len(in_path) == 1:
            chapter = in_path[0]
        else:
            if chapters:
                warn(f"{path}: {path.name} exists in several chapters; put it in its chapter folder")
            continue
        key = (chapter, path.name)
        if key in matched:
            warn(f"{folder.name}: more than one {path.name}; grading {matched[key]}")
            continue
        matched[key] = path
    return matched


def _prepare_output(out: Path, submissions: Path) -> None:
    out = out.resolve()
    if out == submissions or submissions in out.parents:
        raise ValueError(f"the output folder {out} must not be inside the submissions folder")
    if out.exists():
        if not out.is_dir():
            raise ValueError(f"the output path {out} exists and is not a folder")
        if any(out.iterdir()) and not (out / OUTPUT_MARKER).exists():
            raise ValueError(f"refusing to write into {out}: it is not empty and was not written "
                             "by the autograder; choose another --out")
        shutil.rmtree(out / "feedback", ignore_errors=True)
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    (out / OUTPUT_MARKER).write_text("written by `python -m autograder grade`\n")


def _missing_feedback(student: str, notebook: str, reason: str) -> str:
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(notebook)}</title>"
            f"</head><body><h1>{html.escape(notebook)}</h1><p>Student: {html.escape(student)}</p>"
            f"<p>No score: {html.escape(reason)}</p></body></html>\n")


def grade(submissions: Path, out: Path = Path("grades"), *, solutions: Path = SOLUTIONS,
          log=print) -> list[Row]:
    """Autograde every student in ``submissions``; write ``out/grades.csv`` and feedback.

    Parameters
    ----------
    submissions : Path
        A folder with one sub-folder or ``.zip`` per student. It is only read.
    out : Path
        Where ``grades.csv`` and ``feedback/<student>/<chapter>/<notebook>.html`` go.
        Created if absent; an existing folder is reused only if an earlier ``grade``
        wrote it.
    solutions : Path
        The nbgrader source notebooks (the course's ``solutions/``).

    Returns
    -------
    list of Row
        One row per student and notebook of every chapter anyone submitted to,
        sorted by student then notebook. A notebook that was not handed in scores 0
        with status ``missing``; one nbgrader could not grade scores 0 with status
        ``error``.
    """
    from nbgrader.api import Gradebook, MissingEntry

    submissions, out = Path(submissions).resolve(), Path(out)
    if not submissions.is_dir():
        raise ValueError(f"submissions must be a folder, got {submissions}")
    entries = sorted(p for p in submissions.iterdir()
                     if not p.name.startswith(".") and (p.is_dir() or p.suffix.lower() == ".zip"))
    if not entries:
        raise ValueError(f"{submissions} holds no student folder or .zip")
    _prepare_output(out, submissions)

    released: dict[str, list[str]] = {}
    for chapter in chapters_with_notebooks(solutions):
        for nb in sorted((solutions / chapter).glob("*.ipynb")):
            released.setdefault(nb.name, []).append(chapter)

    warnings: list[str] = []
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="autograder-grade-") as tmp:
        tmp = Path(tmp)
        course = NbgraderCourse(tmp / "course", solutions)
        students: dict[str, dict[tuple[str, str], Path]] = {}
        for entry in entries:
            student = _student_id(entry)
            if student in students:
                raise ValueError(f"two submissions map to the student id {student!r}; rename one")
            folder = entry
            if entry.is_file():
                folder = tmp / "unzipped" / student
                folder.mkdir(parents=True)
                try:
                    _safe_extract(entry, folder)
                except (zipfile.BadZipFile, OSError) as err:
                    warnings.append(f"{entry.name}: not a readable zip ({err})")
            matched = _match(_find_notebooks(folder), folder, released, warnings.append)
            students[student] = matched
            for (chapter, name), path in matched.items():
                dest = course.submitted / student / chapter / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, dest)

        submitted = sorted({ch for matched in students.values() for ch, _ in matched})
        # nobody handed in anything the course knows: still list everyone, against every chapter
        chapters = submitted or chapters_with_notebooks(solutions)
        logs: dict[str, str] = {}
        for chapter in chapters:
            course.run("generate_assignment", chapter, "--force")
            if chapter not in submitted:
                continue
            log(f"autograding {chapter} for "
                f"{sum(any(c == chapter for c, _ in m) for m in students.values())} student(s) ...")
            proc = course.run("autograde", chapter, "--force", "--create", check=False)
            logs[chapter] = proc.stdout + proc.stderr
            course.run("generate_feedback", chapter, "--force", check=False)

        with Gradebook(course.db_url) as gradebook:
            for student in sorted(students):
                for chapter in chapters:
                    for nb in sorted((solutions / chapter).glob("*.ipynb")):
                        notebook = f"{chapter}/{nb.name}"
                        max_score = gradebook.find_notebook(nb.stem, chapter).max_score
                        feedback_dst = out / "feedback" / student / chapter / f"{nb.stem}.html"
                        feedback_dst.parent.mkdir(parents=True, exist_ok=True)
                        if (chapter, nb.name) not in students[student]:
                            rows.append(Row(student, notebook, 0.0, max_score, "missing"))
                            feedback_dst.write_text(_missing_feedback(student, notebook, "not handed in"))
                            continue
                        try:
                            submission = gradebook.find_submission_notebook(nb.stem, chapter, student)
                            score, status = submission.score, "graded"
                        except MissingEntry:
                            score, status = 0.0, "error"
                        feedback_src = course.feedback / student / chapter / f"{nb.stem}.html"
                        if status == "graded" and feedback_src.is_file():
                            shutil.copyfile(feedback_src, feedback_dst)
                        else:
                            status = "error"
                            reason = _autograde_failure(logs.get(chapter, ""), student)
                            feedback_dst.write_text(_missing_feedback(student, notebook, reason))
                            warnings.append(f"{student}/{notebook}: could not be graded ({reason})")
                        rows.append(Row(student, notebook, round(float(score), 4), max_score, status))

    _write_grades(out / "grades.csv", rows)
    _summarise(rows, warnings, out, log)
    return rows


def _autograde_failure(nbgrader_log: str, student: str) -> str:
    lines = [line for line in nbgrader_log.splitlines() if student in line or "rror" in line]
    return (lines[-1].strip() if lines else "nbgrader could not read or run the notebook")[:300]


def _write_grades(path: Path, rows: list[Row]) -> None:
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(GRADES_COLUMNS)
        for row in rows:
            writer.writerow([row.student, row.notebook, f"{row.score:g}", f"{row.max_score:g}", row.status])
    tmp.replace(path)  # never leave a half-written table behind


def _summarise(rows: list[Row], warnings: list[str], out: Path, log) -> None:
    students = sorted({r.student for r in rows})
    log(f"\ngraded {len(students)} student(s); grades in {out / 'grades.csv'}, "
        f"feedback in {out / 'feedback'}")
    for notebook in sorted({r.notebook for r in rows}):
        these = [r for r in rows if r.notebook == notebook]
        mean = sum(r.score for r in these) / len(these)
        counts = {s: sum(r.status == s for r in these) for s in ("graded", "missing", "error")}
        log(f"  {notebook}: mean {mean:.2f} / {these[0].max_score:g}  "
            + "  ".join(f"{k} {v}" for k, v in counts.items()))
    for student in students:
        total = sum(r.score for r in rows if r.student == student)
        possible = sum(r.max_score for r in rows if r.student == student)
        log(f"  {student:<24} {total:g} / {possible:g}")
    for warning in warnings:
        log(f"warning: {warning}")
