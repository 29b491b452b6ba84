"""A problem found in a settings or env file: where it is, what is wrong, and how to fix it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

PROCESS_ENVIRONMENT = "process environment"


@dataclass(frozen=True)
class Problem:
    """One finding. ``source`` is a file path (relative to the project) or ``process environment``.

    Messages never hold a secret's value; they are passed through the masking function all the same.
    """

    source: str
    message: str
    fix: str = ""
    line: int | None = None
    key: str | None = None
    warning: bool = False

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        key = f" {self.key}:" if self.key else ""
        kind = "warning: " if self.warning else ""
        fix = f" (fix: {self.fix})" if self.fix else ""
        return f"{where}:{key} {kind}{self.message}{fix}"


def errors(problems: Iterable[Problem]) -> list[Problem]:
    """The problems that fail a check (warnings excluded)."""
    return [problem for problem in problems if not problem.warning]
