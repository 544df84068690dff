"""``grade``: autograde a folder of submissions into a grades table and feedback.

The submissions folder holds one entry per student, a folder or a ``.zip`` named
after the student. Notebooks are found by file name anywhere inside, so a learner may
hand in ``01_grid_and_random_search.ipynb`` on its own or the whole ``ch2_hpo/`` folder.

How one student is graded (learner code is untrusted):

1. each notebook is read as data and rebuilt around the released notebook
   (:mod:`autograder.assemble`): only the learner's answers and added cells are kept;
2. the learner's code is read for tampering (:mod:`autograder.tamper`);
3. nbgrader autogrades it in the student's own temporary course directory, with the
   kernel in the sandbox of :mod:`autograder.sandbox` (limits, no network, the
   grader's files hidden, read-only file systems);
4. the scores are read from that course's gradebook by this (trusted) process, the
   parts refused in step 2 are set to 0, and the result is saved as JSON in
   ``OUT/results/<student>.json`` before the next student's result is;
5. a feedback page is written from a copy of the graded notebook with the hidden
   tests removed and tracebacks shortened to the error message.

Grading again reuses every saved result whose submission has not changed, so a run
that was stopped resumes where it was, and a finished one gives the same table.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

import nbformat

from . import tamper
from .assemble import UnreadableNotebook, assemble, read_submission
from .config import CELL_TIMEOUT, REPO_ROOT, SOLUTIONS, TESTS_IN_KERNEL
from .nbgrader_course import NbgraderCourse
from .release import chapters_with_notebooks
from .sandbox import ENV_SETTINGS, REFUSAL

GRADES_COLUMNS = ("student", "notebook", "score", "max_score", "status")
DETAILS_COLUMNS = ("student", "notebook", "part", "score", "max_score", "reason")
OUTPUT_MARKER = ".autograder-output"
STUDENT_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
GRADER_VERSION = "3"          # part of every saved result's key: a new grader regrades
MAX_NOTEBOOK_BYTES = 20 * 2**20
MAX_ZIP_BYTES = 200 * 2**20
TEMP_PREFIX, OWNER_FILE = "autograder-grade-", "grader.pid"
UID_BASE, UID_STRIDE = 3_000_000_000, 256    # kernels' uids: above any real user, below 2**32 - 1
HIDDEN_TESTS = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.M | re.S)


@dataclass(frozen=True)
class Row:
    student: str
    notebook: str        # "<chapter>/<name>.ipynb"
    score: float
    max_score: float
    status: str          # graded | missing | error


@dataclass
class Limits:
    """What one student's code may use."""
    memory_mb: int = 4096
    cell_seconds: int = CELL_TIMEOUT
    notebook_seconds: int = 900
    processes: int = 256        # processes and threads at once (as root: of its own uid)


@dataclass
class Submission:
    student: str
    notebooks: dict[str, bytes] = field(default_factory=dict)   # "ch/nb.ipynb" -> file
    warnings: list[str] = field(default_factory=list)

    def digest(self, solutions_digest: str) -> str:
        h = hashlib.sha256(f"{GRADER_VERSION}|{solutions_digest}|{self.student}".encode())
        for name in sorted(self.notebooks):
            h.update(name.encode() + b"\0" + hashlib.sha256(self.notebooks[name]).digest())
        return h.hexdigest()


# -- reading the submissions folder ---------------------------------------------------------

def _student_id(entry: Path) -> str:
    name = entry.stem if entry.suffix.lower() == ".zip" else entry.name
    if not STUDENT_ID.fullmatch(name):
        # nbgrader uses the id as a folder name and a database key: keep it plain
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", name).lstrip(".") or "student"
    return name


def _zip_members(archive: Path, warn) -> list[tuple[PurePosixPath, bytes]]:
    """The ``.ipynb`` members of ``archive`` whose paths stay inside it."""
    members = []
    with zipfile.ZipFile(archive) as zf:
        total = 0
        for info in zf.infolist():
            path = PurePosixPath(info.filename)
            if info.is_dir() or path.suffix != ".ipynb":
                continue
            if path.is_absolute() or ".." in path.parts:
                warn(f"{archive.name}: skipped {info.filename!r}, a path that leaves the archive")
                continue
            total += info.file_size
            if info.file_size > MAX_NOTEBOOK_BYTES or total > MAX_ZIP_BYTES:
                warn(f"{archive.name}: skipped {info.filename!r}, too large")
                continue
            members.append((path, zf.read(info)))
    return members


def _read_entry(entry: Path, released: dict[str, list[str]]) -> Submission:
    submission = Submission(_student_id(entry))
    warn = submission.warnings.append
    files: list[tuple[PurePosixPath, bytes]] = []
    if entry.is_file():
        try:
            files = _zip_members(entry, warn)
        except (zipfile.BadZipFile, OSError) as err:
            warn(f"{entry.name}: not a readable zip ({err})")
    else:
        for path in sorted(entry.rglob("*.ipynb")):
            rel = PurePosixPath(path.relative_to(entry).as_posix())
            if not path.is_file() or path.is_symlink() or {".ipynb_checkpoints", "__MACOSX"} & set(rel.parts):
                continue
            if path.stat().st_size > MAX_NOTEBOOK_BYTES:
                warn(f"{rel}: skipped, larger than {MAX_NOTEBOOK_BYTES // 2**20} MB")
                continue
            files.append((rel, path.read_bytes()))
    for rel, data in files:
        chapters = released.get(rel.name, [])
        in_path = [ch for ch in chapters if ch in rel.parts[:-1]]
        if len(chapters) == 1 or len(in_path) == 1:
            key = f"{(in_path or chapters)[0]}/{rel.name}"
            if key in submission.notebooks:
                warn(f"more than one {rel.name}: grading the first")
            else:
                submission.notebooks[key] = data
        elif chapters:
            warn(f"{rel}: {rel.name} exists in several chapters; put it in its chapter folder")
        else:
            warn(f"{rel}: not a notebook of the course (renamed?): ignored")
    return submission


# -- grading one student ----------------------------------------------------------------------

def _kernel_spec(folder: Path) -> Path:
    spec = folder / "kernels" / "course-sandbox"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "autograder.sandbox", "{connection_file}"],
        "display_name": "course sandbox", "language": "python"}))
    return folder


def _reason(cell) -> str:
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if not errors:
        return ""
    ename, evalue = errors[-1].get("ename", "Error"), str(errors[-1].get("evalue", "")).strip()
    if ename == "CellTimeoutError":
        return "took longer than the time limit of a cell"
    if ename == "MemoryError":
        return "ran out of memory (the memory limit was reached)"
    return f"{ename}: {evalue}"[:300] if evalue else ename


def _limits_hit(graded) -> dict[int, str]:
    """Cells (by position) stopped by a limit, with the limit: the real cause of later errors."""
    hit = {}
    for i, cell in enumerate(graded.cells):
        reason = _reason(cell) if cell.cell_type == "code" else ""
        if reason.startswith(("took longer", "ran out of memory")):
            hit[i] = reason
    return hit


def _sanitise_for_feedback(nb) -> None:
    """No hidden tests and no traceback lines (they quote test code) in what students see."""
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade"):
            cell.source = HIDDEN_TESTS.sub("# (hidden tests)\n", cell.source)
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename')}: {output.get('evalue')}"]


def _feedback_page(student: str, result: dict, nb) -> str:
    from nbconvert import HTMLExporter

    rows = "".join(
        f"<tr><td>{html.escape(p['part'])}</td><td>{p['score']:g} / {p['max_score']:g}</td>"
        f"<td>{html.escape(p['reason'])}</td></tr>" for p in result["parts"])
    findings = "".join(f"<li>{html.escape(f)}</li>" for f in result["findings"])
    header = (f"<div style='font-family:sans-serif;margin:1em'><h1>{html.escape(result['notebook'])}</h1>"
              f"<p>Student: {html.escape(student)} &middot; score {result['score']:g} / {result['max_score']:g}"
              f" &middot; {html.escape(result['status'])}</p>"
              f"<table border='1' cellpadding='4'><tr><th>part</th><th>score</th><th>why not full</th></tr>{rows}</table>"
              + (f"<p>Notes from the grader:</p><ul>{findings}</ul>" if findings else "") + "</div>")
    if nb is None:
        return f"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>{header}</body></html>\n"
    body, _ = HTMLExporter(template_name="classic").from_notebook_node(nb)
    return body.replace("<body>", "<body>" + header, 1)


def _take_out_test_cells(source: Path, chapters: list[str]) -> dict[str, dict[str, str]]:
    """Each test cell's whole code, by notebook and grade id; the source keeps the visible part.

    nbgrader then executes (and stores in its gradebook) the visible tests only; the whole
    cells are run by the judge (:mod:`autograder.judge`), outside the learner's kernel.
    """
    from nbgrader.preprocessors import ClearHiddenTests

    tests: dict[str, dict[str, str]] = {}
    for chapter in chapters:
        for path in sorted((source / chapter).glob("*.ipynb")):
            if f"{chapter}/{path.name}" in TESTS_IN_KERNEL:
                continue
            nb = nbformat.read(path, as_version=4)
            for cell in nb.cells:
                meta = cell.metadata.get("nbgrader", {})
                if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
                    tests.setdefault(f"{chapter}/{path.name}", {})[meta["grade_id"]] = cell.source
            ClearHiddenTests().preprocess(nb, {})          # exactly as nbgrader releases them
            nbformat.write(nb, path)
    return tests


def _exercise_names(release) -> set[str]:
    """The names the learner is asked to define (bound by the answer cells' stubs)."""
    names: set[str] = set()
    for c in release.cells:
        if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code":
            tree = tamper._parse(c.source)
            names |= tamper._bound_names(tree) if tree else set()
    return names


def _judge_plan(release) -> dict:
    """What the judge mirrors of a notebook: the instructor's code cells that do not use the
    learner's functions (imports, data), by cell id; and the exercises' names."""
    exercises = _exercise_names(release)
    mirror = [c.get("id") for c in release.cells
              if c.cell_type == "code" and not c.metadata.get("nbgrader", {}).get("solution")
              and not c.metadata.get("nbgrader", {}).get("grade")
              and not (tamper.names_loaded([c.source]) & exercises)]
    return {"mirror": mirror, "exercises": sorted(exercises)}


def _parts_of(release) -> list[tuple[str, float]]:
    return [(c.metadata["nbgrader"]["grade_id"], float(c.metadata["nbgrader"].get("points", 0)))
            for c in release.cells if c.metadata.get("nbgrader", {}).get("grade")]


def _keys_of(chapters: list[str], releases: dict) -> list[str]:
    return [k for ch in chapters for k in sorted(releases) if k.startswith(ch + "/")]


def _unscored(key: str, release, status: str, why: str, student: str) -> dict:
    """A notebook's result with every part at 0 for one reason (missing, unreadable, failed)."""
    result = {"notebook": key, "score": 0.0, "max_score": sum(p for _, p in _parts_of(release)),
              "status": status, "findings": [],
              "parts": [{"part": g, "score": 0.0, "max_score": p, "reason": why} for g, p in _parts_of(release)]}
    result["feedback"] = _feedback_page(student, result, None)
    return result


def _grade_student(sub: Submission, chapters: list[str], template: Path, workdir: Path,
                   releases: dict[str, nbformat.NotebookNode], uid: int, limits: Limits,
                   kernels: Path, judge_file: Path) -> list[dict]:
    """Grade every notebook of one student; return one result dict per course notebook."""
    from nbgrader.api import Gradebook, MissingEntry

    course = workdir / "course"
    shutil.copytree(template, course, symlinks=True)
    home = workdir / "home"
    (home / "ipc").mkdir(parents=True)
    with open(course / "nbgrader_config.py", "a") as f:
        f.write(f"\nc.ExecutePreprocessor.kernel_name = 'course-sandbox'\n"
                f"c.ExecutePreprocessor.timeout = {int(limits.cell_seconds)}\n"
                f"c.Execute.timeout = {int(limits.cell_seconds)}\n"
                f"c.KernelManager.transport = 'ipc'\nc.KernelManager.ip = {str(home / 'ipc' / 'kernel')!r}\n"
                # a neighbour's load can delay output: late output never drops an honest notebook
                "c.Execute.raise_on_iopub_timeout = False\nc.Execute.iopub_timeout = 30\n"
                "from autograder.judge import autograde_preprocessors\n"
                "c.Autograde.autograde_preprocessors = autograde_preprocessors()\n"
                f"c.JudgedExecute.judge_file = {str(judge_file)!r}\n")
    results, prepared = [], {}
    for key in _keys_of(chapters, releases):
        release = releases[key]
        chapter, name = key.split("/")
        if key not in sub.notebooks:
            results.append(_unscored(key, release, "missing", "not handed in", sub.student))
            continue
        try:
            assembled = assemble(read_submission(sub.notebooks[key]), release)
        except UnreadableNotebook as err:
            results.append(_unscored(key, release, "error", f"unreadable notebook: {err}", sub.student))
            continue
        result = {"notebook": key, "score": 0.0, "max_score": sum(p for _, p in _parts_of(release)),
                  "status": "graded", "findings": [], "parts": []}
        results.append(result)
        result["findings"] += assembled.findings
        dest = course / "submitted" / sub.student / chapter / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(assembled.notebook, dest)
        prepared[key] = assembled

    for chapter in sorted({k.split("/")[0] for k in prepared}):
        # the kernel sees the Python installation, the course package and its own folders only
        settings = {"memory_mb": limits.memory_mb, "cpu_seconds": limits.notebook_seconds,
                    "processes": limits.processes, "uid": uid, "home": str(home),
                    "needed": [str(REPO_ROOT / "course")], "started": str(workdir / "sandboxed-kernels")}
        env = {**os.environ, ENV_SETTINGS: json.dumps(settings), "JUPYTER_PATH": str(kernels)}
        try:
            log = _run_limited(course, ["autograde", chapter, "--student", sub.student, "--force", "--create"],
                               env, limits.notebook_seconds * 2 + 60)
        finally:
            _kill_user(uid)    # whatever the student's code left running, anywhere
        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
            for result in results:
                key = result["notebook"]
                if not key.startswith(chapter + "/") or key not in prepared:
                    continue
                stem = Path(key).stem
                graded_path = course / "autograded" / sub.student / chapter / Path(key).name
                try:
                    submission = gradebook.find_submission_notebook(stem, chapter, sub.student)
                    scores = {g.name: (float(g.score or 0), float(g.max_score)) for g in submission.grades}
                except MissingEntry:
                    scores = None
                graded = nbformat.read(graded_path, as_version=4) if graded_path.is_file() else None
                if not (workdir / "sandboxed-kernels").is_file():     # fail closed, never unfenced
                    scores, graded, log = None, None, log + "\n" + REFUSAL + "the kernel was not the sandbox's"
                _score(result, prepared[key], releases[key], scores, graded, log)
                if graded is not None:
                    _sanitise_for_feedback(graded)
                result["feedback"] = _feedback_page(sub.student, result, graded)
    for result in results:
        if "feedback" not in result:
            result["feedback"] = _feedback_page(sub.student, result, None)
    return results


def _student_uids(slots: int) -> list[int]:
    """One uid per parallel student slot, unused by any user and by any other grader running now.

    The kernel runs as its slot's uid (when the grader is root), so the process limit counts
    one student's processes only, and one student's leftovers can be found and killed.
    """
    return [_first_uid(os.getpid()) + i for i in range(slots)]


def _first_uid(grader_pid: int) -> int:
    return UID_BASE + (grader_pid % 2**22) * UID_STRIDE      # pids are unique, < 2**22


def _kill_user(uid: int, last: int | None = None) -> None:
    """SIGKILL every process of ``uid`` (to ``last``) until none is left (a fork bomb may race)."""
    last = uid if last is None else last
    if os.geteuid() != 0:
        return          # without root the kernel runs as the grader's own user, in its PID namespace
    for _ in range(100):
        found = False
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/status") as f:
                    real = next(line for line in f if line.startswith("Uid:")).split()[1]
                if uid <= int(real) <= last:
                    found = True
                    os.kill(int(entry.name), signal.SIGKILL)
            except (OSError, StopIteration, ValueError):
                pass        # gone meanwhile
        if not found:
            return
        time.sleep(0.05)


def _process_identity(pid: int) -> str:
    """``pid`` and its start time: a pid reused by another process does not match."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f"{pid} {f.read().rsplit(')', 1)[1].split()[19]}"
    except (OSError, IndexError):
        return ""


def _remove_stale_folders(log) -> None:
    """Delete the temporary folders of graders that were killed (they hold the hidden tests)."""
    for folder in Path(tempfile.gettempdir()).glob(TEMP_PREFIX + "*"):
        try:
            if folder.is_symlink() or not folder.is_dir() or folder.stat().st_uid != os.geteuid():
                continue
            owner = folder / OWNER_FILE
            if owner.is_file():
                identity = owner.read_text()
                if identity and _process_identity(int(identity.split()[0])) == identity:
                    continue                   # a grader still running
                if identity:                   # its students' kernels outlived it
                    first = _first_uid(int(identity.split()[0]))
                    _kill_user(first, first + UID_STRIDE - 1)
            elif time.time() - folder.stat().st_mtime < 60:
                continue                       # just created: its owner file is being written
        except (OSError, ValueError):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        log(f"removed {folder}, left by a grader that was stopped")


def _run_limited(course: Path, args: list[str], env: dict, seconds: float) -> str:
    """Run an nbgrader command in its own process group; stop all of it after ``seconds``."""
    env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=seconds)
        return out
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return out + f"\nNOTEBOOK TIMEOUT after {seconds:.0f} s"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)   # a kernel left behind by a crash
        except ProcessLookupError:
            pass


def _score(result: dict, assembled, release, scores, graded, log: str) -> None:
    """Fill ``result`` from nbgrader's scores, refusing the parts after tampering cells."""
    parts = _parts_of(release)
    if scores is None or graded is None:
        result["status"] = "error"
        refused = re.search(re.escape(REFUSAL) + "(.*)", log)
        if refused:
            why = f"the grading sandbox could not be set up: {refused.group(1)}"
        elif "NOTEBOOK TIMEOUT" in log:
            why = "the notebook took longer than its time limit"
        elif "Kernel died" in log or "DeadKernel" in log or "kernel died" in log.lower():
            why = "the kernel died (the notebook crashed Python, e.g. os._exit or a segfault)"
        else:
            why = "nbgrader could not run the notebook"
        result["parts"] = [{"part": g, "score": 0.0, "max_score": p, "reason": why} for g, p in parts]
        return
    # static checks: a tampering cell voids every test that runs after it
    cells = assembled.notebook.cells
    instructor = [c.source for i, c in enumerate(cells) if c.cell_type == "code" and i not in assembled.learner_cells]
    test_sources = [c.source for c in cells if c.metadata.get("nbgrader", {}).get("grade")]
    imports = {}
    for source in instructor:
        tree = tamper._parse(source)
        if tree is not None:
            imports.update(tamper._imports(tree))
    exercise_names = _exercise_names(release)
    protected = tamper.names_loaded(test_sources)
    voided: dict[int, str] = {}
    for index in assembled.learner_cells:
        reasons = tamper.scan(cells[index].source, instructor_imports=imports, protected=protected,
                              allowed=exercise_names)
        if reasons:
            voided[index] = "; ".join(reasons)
            result["findings"].append(f"a cell of yours {voided[index]}: the tests after it score 0")
    graded_cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in graded.cells}
    positions = {c.metadata.get("nbgrader", {}).get("grade_id"): i for i, c in enumerate(cells)}
    causes = _limits_hit(graded)
    for grade_id, points in parts:
        score, _ = scores.get(grade_id, (0.0, points))
        reason = _reason(graded_cells.get(grade_id, {})) if score < points else ""
        earlier = [why for i, why in causes.items() if i < positions.get(grade_id, len(cells))]
        if reason and earlier and earlier[-1] not in reason:
            reason = f"an earlier cell {earlier[-1]}; then {reason}"     # the real cause first
        tampered = [why for i, why in voided.items() if i < positions.get(grade_id, len(cells))]
        if tampered:
            score, reason = 0.0, f"refused: an earlier cell {tampered[0]}"
        result["parts"].append({"part": grade_id, "score": score, "max_score": points, "reason": reason})
    result["score"] = round(sum(p["score"] for p in result["parts"]), 4)


# -- the batch --------------------------------------------------------------------------------

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
    (out / "results").mkdir(parents=True, exist_ok=True)
    (out / OUTPUT_MARKER).write_text("written by `python -m autograder grade`\n")


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)   # never a half-written file, even if the grader is killed


def _tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and ".ipynb_checkpoints" not in path.parts:
            h.update(str(path.relative_to(folder)).encode() + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def grade(submissions: Path, out: Path = Path("grades"), *, solutions: Path = SOLUTIONS,
          jobs: int | None = None, limits: Limits | None = None, log=print) -> list[Row]:
    """Autograde every student in ``submissions``; write grades, details and feedback into ``out``.

    Parameters
    ----------
    submissions : Path
        A folder with one sub-folder or ``.zip`` per student. It is only read.
    out : Path
        Created if absent; an existing folder is reused only if an earlier ``grade``
        wrote it. Gets ``grades.csv`` (student, notebook, score, max_score, status),
        ``details.csv`` (one row per graded part with the reason it lost points),
        ``feedback/<student>/<chapter>/<notebook>.html`` and ``results/<student>.json``.
    solutions : Path
        The nbgrader source notebooks (the course's ``solutions/``).
    jobs : int, optional
        Students graded at once (default: the number of CPU cores).
    limits : Limits, optional
        Memory and time limits of one student's code.

    Returns
    -------
    list of Row
        One row per student and notebook of every chapter anyone submitted to, sorted.
        ``missing``: not handed in; ``error``: could not be read or run (score 0).
    """
    submissions, out, solutions = Path(submissions).resolve(), Path(out), Path(solutions).resolve()
    limits = limits or Limits()
    if not submissions.is_dir():
        raise ValueError(f"submissions must be a folder, got {submissions}")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or not 1 <= jobs <= UID_STRIDE):
        raise ValueError(f"jobs must be an int from 1 to {UID_STRIDE}, got {jobs!r}")
    entries = sorted(p for p in submissions.iterdir()
                     if not p.name.startswith(".") and (p.is_dir() or p.suffix.lower() == ".zip"))
    if not entries:
        raise ValueError(f"{submissions} holds no student folder or .zip")
    _prepare_output(out, submissions)

    released: dict[str, list[str]] = {}
    for chapter in chapters_with_notebooks(solutions):
        for nb in sorted((solutions / chapter).glob("*.ipynb")):
            released.setdefault(nb.name, []).append(chapter)
    subs = [_read_entry(entry, released) for entry in entries]
    ids = [s.student for s in subs]
    if len(set(ids)) != len(ids):
        clash = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"several submissions map to the student id(s) {clash}; rename them")
    chapters = sorted({k.split("/")[0] for s in subs for k in s.notebooks}) or chapters_with_notebooks(solutions)
    solutions_digest = _tree_digest(solutions)

    results: dict[str, dict] = {}
    todo = []
    for sub in subs:
        saved = out.resolve() / "results" / f"{sub.student}.json"
        digest = sub.digest(solutions_digest + "|" + ",".join(chapters))
        if saved.is_file():
            try:
                previous = json.loads(saved.read_text())
                if previous.get("digest") == digest:
                    results[sub.student] = previous
                    continue
            except (json.JSONDecodeError, OSError):
                pass  # a damaged result is simply graded again
        todo.append((sub, digest))
    if len(results):
        log(f"reusing the saved results of {len(results)} student(s)")

    _remove_stale_folders(log)
    with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX) as tmp:    # mode 0700: private to the grader
        tmp = Path(tmp)
        (tmp / OWNER_FILE).write_text(_process_identity(os.getpid()))
        template = tmp / "template"
        course = NbgraderCourse(template, solutions)
        tests = _take_out_test_cells(template / "source", chapters)    # the kernel never gets them
        for chapter in chapters:
            course.run("generate_assignment", chapter, "--force")
        releases = {f"{ch}/{p.name}": nbformat.read(p, as_version=4)
                    for ch in chapters for p in sorted((template / "release" / ch).glob("*.ipynb"))}
        judge_file = tmp / "judge.json"
        judge_file.write_text(json.dumps({key: {"tests": tests.get(key, {}), **_judge_plan(releases[key])}
                                          for key in releases}))
        kernels = _kernel_spec(tmp / "jupyter")
        students_root = tmp / "students"
        workdirs = {sub.student: students_root / sub.student for sub, _ in todo}
        for path in workdirs.values():
            path.mkdir(parents=True)
        slots = jobs or min(os.cpu_count() or 1, UID_STRIDE)
        uids: queue.SimpleQueue[int] = queue.SimpleQueue()
        for uid in _student_uids(slots):
            uids.put(uid)

        def work(item):
            sub, digest = item
            log(f"grading {sub.student} ...")
            uid = uids.get()
            try:
                notebooks = _grade_student(sub, chapters, template, workdirs[sub.student], releases,
                                           uid, limits, kernels, judge_file)
            except Exception as err:     # noqa: BLE001 - one submission never stops the class
                why = f"the grader could not grade this submission ({type(err).__name__}: {str(err)[:200]})"
                notebooks = [_unscored(key, releases[key], "error", why, sub.student)
                             for key in _keys_of(chapters, releases)]
            finally:
                uids.put(uid)
                shutil.rmtree(workdirs[sub.student], ignore_errors=True)
            record = {"digest": digest, "student": sub.student, "warnings": sub.warnings,
                      "notebooks": notebooks}
            _write_atomically(out.resolve() / "results" / f"{sub.student}.json", json.dumps(record, indent=1))
            return sub.student, record

        with ThreadPoolExecutor(max_workers=slots) as pool:
            for student, record in pool.map(work, todo):
                results[student] = record

    return _write_outputs(out.resolve(), results, log)


def _write_outputs(out: Path, results: dict[str, dict], log) -> list[Row]:
    rows, details, warnings = [], [], []
    shutil.rmtree(out / "feedback", ignore_errors=True)
    for student in sorted(results):
        record = results[student]
        warnings += [f"{student}: {w}" for w in record.get("warnings", [])]
        for nb in sorted(record["notebooks"], key=lambda r: r["notebook"]):
            rows.append(Row(student, nb["notebook"], round(float(nb["score"]), 4), nb["max_score"], nb["status"]))
            for part in nb["parts"]:
                details.append((student, nb["notebook"], part["part"], f"{part['score']:g}",
                                f"{part['max_score']:g}", part["reason"]))
            warnings += [f"{student}/{nb['notebook']}: {f}" for f in nb["findings"]]
            page = out / "feedback" / student / (nb["notebook"][:-len(".ipynb")] + ".html")
            page.parent.mkdir(parents=True, exist_ok=True)
            page.write_text(nb["feedback"])
    _write_csv(out / "grades.csv", GRADES_COLUMNS,
               [(r.student, r.notebook, f"{r.score:g}", f"{r.max_score:g}", r.status) for r in rows])
    _write_csv(out / "details.csv", DETAILS_COLUMNS, details)
    _summarise(rows, warnings, out, log)
    return rows


def _write_csv(path: Path, header, rows) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    tmp.replace(path)


def _summarise(rows: list[Row], warnings: list[str], out: Path, log) -> None:
    students = sorted({r.student for r in rows})
    log(f"\ngraded {len(students)} student(s); grades in {out / 'grades.csv'}, reasons in "
        f"{out / 'details.csv'}, feedback in {out / 'feedback'}")
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
        log(f"note: {warning}")
