"""The instructor's side of the course: release learner notebooks, grade submissions.

    python -m autograder release                 # solutions/ -> notebooks/
    python -m autograder grade SUBMISSIONS       # -> grades/grades.csv + grades/feedback/

Both steps run nbgrader in a temporary course directory, so the repository's files
are only ever written by ``release`` (into ``notebooks/``) and submissions are only
ever read.
"""

from .release import release
from .grade import grade

__all__ = ["release", "grade"]
