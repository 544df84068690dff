"""The course's nbgrader settings, shared by the repository's own course directory
(``nbgrader_config.py`` at the top, used by the formgrader and the Validate button in
JupyterLab) and by the temporary course directories of ``python -m autograder``."""

from __future__ import annotations

from pathlib import Path

COURSE_ID = "automl-course"
CHAPTERS = ("ch1_basics", "ch2_hpo", "ch3_nas", "ch4_tools")
REPO_ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO_ROOT / "solutions"
NOTEBOOKS = REPO_ROOT / "notebooks"

# What the learner sees in place of a solution.
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
# Seconds one cell may run during autograding or validation before it is stopped.
CELL_TIMEOUT = 120
# Labs whose hidden tests still run in the learner's kernel, not in the judge
# (autograder/judge.py), until they are rewritten for it; by notebook, with what they need.
TESTS_IN_KERNEL = {
    "ch1_basics/02_cash_lab.ipynb": "compares the learner's pipeline objects with isinstance",
    "ch2_hpo/02_bayesian_optimisation.ipynb": "spies on the learner's own function inside the kernel",
    "ch2_hpo/08_population_based_training.ipynb": "passes spy random generators the learner mutates",
    "ch3_nas/02_regularised_evolution.ipynb": "expects the learner to mutate its arguments in place",
    "ch3_nas/04_darts_lab.ipynb": "differentiates through the learner's functions",
    "ch4_tools/06_end_to_end.ipynb": "reads files the learner's functions write",
}


def configure(c, root: Path, *, source: str = "source", release: str = "release",
              exchange: Path | None = None) -> None:
    """Apply the course's settings to the traitlets config ``c`` of a course directory."""
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = COURSE_ID
    c.CourseDirectory.source_directory = source
    c.CourseDirectory.release_directory = release
    c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", ".DS_Store"]
    c.ClearSolutions.code_stub = {"python": CODE_STUB}
    c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
    c.ExecutePreprocessor.timeout = CELL_TIMEOUT
    c.ExecutePreprocessor.interrupt_on_timeout = True
    # A learner's notebook is run with the kernel of the environment grading it.
    c.ExecutePreprocessor.kernel_name = "python3"
    c.Execute.timeout = CELL_TIMEOUT
    if exchange is not None:
        c.Exchange.root = str(exchange)
