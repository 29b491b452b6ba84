"""How a task ends when something goes wrong: the domain errors' kinds and the one map to exit codes.

Every error shipflow raises on purpose derives from one of the kinds below, so a task never picks an exit
code itself: it runs its engine inside :func:`exit_codes`, which turns the error into one line (masked)
and the kind's exit code, never a traceback.

- 1 :class:`Failed`: the operation failed; nothing half-done is left serving.
- 2 :class:`BadInput` and :class:`Refused`: bad input, or a guard said no; nothing changed.
- 3 :class:`Locked`: another deploy holds the lock.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

FAILED, BAD_INPUT, LOCKED = 1, 2, 3


class ShipflowError(Exception):
    """An error a person can act on. The message says what happened and what to do."""

    exit_code: ClassVar[int] = FAILED
    label: ClassVar[str] = "failed"
    """Words after the task's name: ``deploy failed: ...``; empty: ``deploy: ...``."""
    scope: ClassVar[str | None] = None
    """Said instead of the task's name, e.g. ``ssh`` for ``ssh failed: ...``."""


class Failed(ShipflowError):
    """The operation failed (exit 1)."""


class BadInput(ShipflowError):
    """A setting, a flag or a file is wrong (exit 2); nothing changed."""

    exit_code = BAD_INPUT
    label = ""


class Refused(ShipflowError):
    """A guard refused the operation (exit 2); nothing changed."""

    exit_code = BAD_INPUT
    label = "refused"


class Locked(ShipflowError):
    """Another run holds the lock (exit 3); nothing changed."""

    exit_code = LOCKED
    label = "refused"


def message_of(task: str, error: ShipflowError) -> str:
    """The one line a task prints for ``error``: ``deploy failed: ...``, ``build: ...``."""
    head = f"{error.scope or task} {error.label}".rstrip()
    return f"{head}: {error}"


@contextmanager
def exit_codes(task: str, mask: Callable[[str], str] | None = None) -> Iterator[None]:
    """Run a task's body; a :class:`ShipflowError` becomes invoke's ``Exit`` with its line and code.

    ``mask`` hides the secrets the task knows of; without one, the line still goes through shipflow's one
    mask (URL passwords and the other credential forms it recognises), so no error line is ever unmasked.
    """
    from invoke.exceptions import Exit

    try:
        yield
    except ShipflowError as error:
        line = message_of(task, error)
        if mask is None:
            from shipflow.env.masking import mask as shipflow_mask

            raise Exit(shipflow_mask(line), code=error.exit_code) from None
        raise Exit(mask(line), code=error.exit_code) from None
