"""Shared test setup: keep every tool's files in a temporary folder, never the home directory."""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Before any test imports keras/autokeras or ray.
os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
_scratch = Path(tempfile.mkdtemp(prefix="course-tests-"))
atexit.register(shutil.rmtree, _scratch, ignore_errors=True)
os.environ.setdefault("KERAS_HOME", str(_scratch / "keras"))
os.environ.setdefault("RAY_TMPDIR", str(_scratch / "ray"))
os.environ.setdefault("MPLCONFIGDIR", str(_scratch / "matplotlib"))
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO
