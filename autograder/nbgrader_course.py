"""A throwaway nbgrader course directory, and running nbgrader's commands in it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .config import REPO_ROOT

CONFIG_TEMPLATE = """\
from pathlib import Path
from autograder.config import configure
configure(get_config(), Path(__file__).resolve().parent, exchange=Path(__file__).resolve().parent / "exchange")
"""


class NbgraderError(RuntimeError):
    """An nbgrader command failed; the message carries the end of its log."""


class NbgraderCourse:
    """An nbgrader course directory under ``root``, with the course's settings.

    Layout (nbgrader's own): ``source/<chapter>/``, ``release/<chapter>/``,
    ``submitted/<student>/<chapter>/``, ``autograded/``, ``feedback/``, ``gradebook.db``.
    """

    def __init__(self, root: Path, solutions: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "exchange").mkdir(exist_ok=True)
        (self.root / "nbgrader_config.py").write_text(CONFIG_TEMPLATE)
        shutil.copytree(solutions, self.source, ignore=shutil.ignore_patterns(
            ".ipynb_checkpoints", "__pycache__"))

    source = property(lambda self: self.root / "source")
    release = property(lambda self: self.root / "release")
    submitted = property(lambda self: self.root / "submitted")
    feedback = property(lambda self: self.root / "feedback")
    db_url = property(lambda self: f"sqlite:///{self.root / 'gradebook.db'}")

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``nbgrader ARGS`` here; raise :class:`NbgraderError` on failure if ``check``."""
        env = dict(os.environ)
        # nbgrader imports this config file, which imports `autograder`
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        # nbgrader runs the `alembic` script of its own environment for the gradebook
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        env.setdefault("KERAS_BACKEND", "torch")
        proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=self.root, env=env,
                              capture_output=True, text=True)
        if check and proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
            raise NbgraderError(f"`nbgrader {' '.join(args)}` failed (exit {proc.returncode}):\n{tail}")
        return proc
