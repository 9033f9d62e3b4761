"""`raydistill validate SPEC...`: check spec files and print every problem."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from raydistill.spec.loader import inspect_spec


def validate_paths(paths: Sequence[str], overrides: Sequence[str] = ()) -> int:
    """Check each spec; print `OK PATH` (stdout) for a valid one, every problem line (stderr) for others;
    warning lines (stderr) for either.

    Args:
        paths: spec files, as the user gave them.
        overrides: `key.sub=value` strings applied to every spec.

    Returns:
        0 if every spec is valid, 2 otherwise (also when no path is given).
    """
    if not paths:
        print(
            "no spec given; pass one or more spec files, e.g. raydistill validate searches/*.yaml",
            file=sys.stderr,
        )
        return 2
    status = 0
    for path in paths:
        spec, problems, warnings = inspect_spec(path, overrides)
        for line in problems + warnings:
            print(line, file=sys.stderr)
        if spec is None:
            status = 2
        else:
            print(f"OK {path}")
    return status
