"""One spec problem, and how it becomes the line `SPEC:LINE: dotted.path: what is wrong; what is allowed`."""

from __future__ import annotations

from typing import NamedTuple

from raydistill.spec.overrides import Location, LocationMap


class Problem(NamedTuple):
    """A problem found in a parsed spec.

    Attributes:
        path: the dotted path the problem is about (shown in the line).
        message: `what is wrong; what is allowed`.
        near: other dotted paths whose line is a good place to point at when `path` itself was not written in
            the file (e.g. `search.enabled` left at its default, but `supernet.enabled: false` written).
        warning: True for a problem that may not be one where the run happens (data files checked on this
            machine for a run on a Ray cluster): shown as `warning: ...`, and the spec stays valid.
    """

    path: str
    message: str
    near: tuple[str, ...] = ()
    warning: bool = False


def locate(where: LocationMap, path: str, near: tuple[str, ...] = ()) -> Location:
    """The line (or `override N`) of `path`; else of the first written `near` path; else of the closest
    written ancestor of `path` (so a missing key points at its parent mapping); else line 1."""
    for candidate in (path, *near):
        if candidate in where:
            return where[candidate]
    parts = path.split(".")
    for end in range(len(parts) - 1, 0, -1):
        parent = ".".join(parts[:end])
        if parent in where:
            return where[parent]
    return 1


def format_problem(label: str, where: LocationMap, problem: Problem) -> str:
    """`SPEC:LINE: dotted.path: message` for one problem (`...: warning: message` for a warning)."""
    kind = "warning: " if problem.warning else ""
    return (
        f"{label}:{locate(where, problem.path, problem.near)}: {problem.path or '(spec)'}: "
        f"{kind}{problem.message}"
    )


def sort_key(line: str, label: str) -> tuple[int, int]:
    """Order problem lines by file line; override problems come after the file's."""
    loc = line[len(label) + 1 :].split(":", 1)[0]
    if loc.isdigit():
        return (0, int(loc))
    return (1, int(loc.rsplit(" ", 1)[-1])) if loc.startswith("override ") else (2, 0)
