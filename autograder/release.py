"""``release``: regenerate the learner notebooks (``notebooks/``) from ``solutions/``."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from .config import NOTEBOOKS, SOLUTIONS
from .nbgrader_course import NbgraderCourse

KEEP = {".gitkeep"}


def chapters_with_notebooks(solutions: Path) -> list[str]:
    """Chapter folders of ``solutions`` that hold at least one notebook."""
    return sorted(p.name for p in solutions.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and any(p.glob("*.ipynb")))


def release(solutions: Path = SOLUTIONS, notebooks: Path = NOTEBOOKS, *, log=print) -> list[Path]:
    """Generate every chapter with nbgrader and make ``notebooks`` exactly its output.

    Solutions and hidden tests are stripped and outputs cleared. ``notebooks`` is only
    touched once every chapter has generated without error; files there that no
    longer have a source are removed (``.gitkeep`` stays).

    Returns the paths written.
    """
    solutions, notebooks = Path(solutions), Path(notebooks)
    if not solutions.is_dir():
        raise FileNotFoundError(f"no solutions folder at {solutions}")
    chapters = chapters_with_notebooks(solutions)
    with tempfile.TemporaryDirectory(prefix="autograder-release-") as tmp:
        course = NbgraderCourse(Path(tmp), solutions)
        for chapter in chapters:
            log(f"generating {chapter} ...")
            course.run("generate_assignment", chapter, "--force", "--no-db")
        written = []
        for chapter_dir in sorted(p for p in solutions.iterdir() if p.is_dir() and not p.name.startswith(".")):
            generated = course.release / chapter_dir.name
            target = notebooks / chapter_dir.name
            target.mkdir(parents=True, exist_ok=True)
            new_files = ({p.relative_to(generated) for p in generated.rglob("*") if p.is_file()}
                         if generated.is_dir() else set())
            for old in sorted(target.rglob("*"), reverse=True):
                rel = old.relative_to(target)
                if old.is_file() and rel not in new_files and old.name not in KEEP:
                    old.unlink()
                elif old.is_dir() and not any(old.iterdir()):
                    old.rmdir()
            for rel in sorted(new_files):
                (target / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(generated / rel, target / rel)
                written.append(target / rel)
    log(f"released {len(written)} file(s) into {notebooks}")
    return written
