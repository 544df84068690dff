"""Command-line argument types every benchmark shares, with errors that name the bad value."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable


def positive_int(text: str) -> int:
    """An ``argparse`` type: a positive int, e.g. ``--seeds 20``."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {text!r}")
    return value


def names_among(kind: str, choices: Iterable[str]) -> Callable[[str], list[str]]:
    """An ``argparse`` type: a comma-separated subset of ``choices``, e.g. ``--methods a,b``."""
    choices = list(choices)

    def parse(text: str) -> list[str]:
        names = [n.strip() for n in text.split(",") if n.strip()]
        unknown = [n for n in names if n not in choices]
        if not names or unknown:
            raise argparse.ArgumentTypeError(
                f"unknown {kind} {unknown or text!r}; choose from {', '.join(choices)}")
        return names
    return parse


def fill_sizes(args: argparse.Namespace, quick: dict, full: dict, quick_out, full_out) -> argparse.Namespace:
    """Give every option left unset its value from the quick or the full size, and ``--out`` its folder."""
    size = quick if args.quick else full
    for name, value in size.items():
        if getattr(args, name, value) is None:
            setattr(args, name, value)
    if args.out is None:
        args.out = quick_out if args.quick else full_out
    return args


def exit_status(check: bool, n_failed: int, what: str) -> int:
    """1 when ``--check`` was asked and something failed (said on stderr), else 0."""
    if check and n_failed:
        print(f"CHECK FAILED: {n_failed} {what}", file=sys.stderr)
        return 1
    return 0
