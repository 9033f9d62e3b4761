"""All user-facing errors of raydistill, in one place.

Every message says what was given, what is allowed and, where possible, how to fix it. The CLI turns any
`RaydistillError` into a clean message and exit code 2 (never a traceback).
"""

from __future__ import annotations


class RaydistillError(Exception):
    """Base class: a user mistake or an unusable input, reported without a traceback."""


class SpecError(RaydistillError):
    """A search spec is unreadable or invalid.

    Attributes:
        problems: one line per problem, each `SPEC:LINE: dotted.path: what is wrong; what is allowed`.
    """

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class DataError(RaydistillError):
    """A data file or hub dataset cannot be used (missing file/column, unknown label, empty file...).

    The message names the file and, where it applies, the line.
    """


class ModelError(RaydistillError):
    """A model cannot be loaded or an architecture is invalid for it."""


class ArchError(ModelError):
    """An `Arch` (sub-network description) is malformed or does not fit the model."""


class RunError(RaydistillError):
    """A run directory is missing or does not hold what a command needs."""


class Interrupted(RunError):
    """A long run stopped before it finished (Ctrl-C, SIGUSR1); its state is saved and rerunning resumes it."""
