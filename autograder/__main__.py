"""Command line: ``python -m autograder {release,grade} ...``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .config import NOTEBOOKS, SOLUTIONS
from .nbgrader_course import NbgraderError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder",
        description="Release the learner notebooks and grade submissions with nbgrader.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    rel = commands.add_parser("release", help="regenerate notebooks/ from solutions/")
    rel.add_argument("--solutions", type=Path, default=SOLUTIONS, help="nbgrader source folder")
    rel.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help="where the learner notebooks go")

    gr = commands.add_parser("grade", help="grade a folder of submissions")
    gr.add_argument("submissions", type=Path,
                    help="folder with one sub-folder or .zip per student (only read)")
    gr.add_argument("--out", type=Path, default=Path("grades"),
                    help="where grades.csv and feedback/ go (default: ./grades)")
    gr.add_argument("--solutions", type=Path, default=SOLUTIONS, help="nbgrader source folder")
    gr.add_argument("--jobs", type=int, default=None, help="students graded at once (default: CPU cores)")

    args = parser.parse_args(argv)
    try:
        if args.command == "release":
            from .release import release
            release(args.solutions, args.notebooks)
        else:
            from .grade import grade
            grade(args.submissions, args.out, solutions=args.solutions, jobs=args.jobs)
    except (ValueError, FileNotFoundError, NbgraderError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
