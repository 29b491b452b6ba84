"""A bad command line exits 2, like every other refusal of input, under `shipflow` and under `inv`.

invoke's ``Program.run`` prints a ``ParseError`` (a flag without its value, a number flag given a word, an
unknown flag or task, a task's required flag left out) and exits 1, the code shipflow keeps for "the
operation failed". :class:`RefusesBadFlags` ends its parse steps with invoke's ``Exit`` instead: the same
one line (masked, cut to a bounded length) and exit 2. Nothing has run yet when the parse steps fail.

The ``shipflow`` command is such a program (``cli.py``). ``inv`` runs invoke's own program object,
``invoke.main.program``, which imports the project's tasks.py before it parses the tasks' flags; importing
:mod:`shipflow.tasks` therefore calls :func:`refuse_bad_flags_in_inv`, which gives that one object this
class (no other program changes). Only invoke's own flags given before tasks.py is loaded
(``inv --search-root`` without its value) are parsed too early for it and still exit 1 under ``inv``.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

from invoke.exceptions import Exit, ParseError
from invoke.program import Program

from shipflow.errors import BAD_INPUT

if TYPE_CHECKING:
    from collections.abc import Iterator

LONGEST_LINE = 300


def bad_flag_line(error: ParseError, program: str) -> str:
    """The one line shown for ``error``: invoke's message, where to read the task's flags, masked and cut."""
    from shipflow.env.masking import mask

    line = str(error)
    task = error.context.name if error.context is not None else None
    if task and "--help" not in line:
        line = f"{line}; `{program} --help {task}` lists its flags"
    line = mask(line)
    return line if len(line) <= LONGEST_LINE else f"{line[: LONGEST_LINE - 20]}... (cut, {len(line)} chars)"


class RefusesBadFlags(Program):
    """An invoke program whose parse errors exit 2 (bad input, nothing ran) instead of invoke's 1."""

    @contextmanager
    def _refusing_bad_input(self) -> Iterator[None]:
        try:
            yield
        except ParseError as error:
            raise Exit(bad_flag_line(error, self.binary_names[-1]), code=BAD_INPUT) from None
        except Exit as stop:
            # invoke's own refusals while parsing (`--list NO-SUCH-COLLECTION`) are an Exit with code 1.
            if stop.code == 1:
                raise Exit(stop.message, code=BAD_INPUT) from None
            raise

    def parse_core(self, argv: list[str] | None) -> None:
        with self._refusing_bad_input():
            super().parse_core(argv)

    def parse_collection(self) -> None:
        with self._refusing_bad_input():
            super().parse_collection()

    def parse_tasks(self) -> None:
        with self._refusing_bad_input():
            super().parse_tasks()

    def parse_cleanup(self) -> None:
        with self._refusing_bad_input():
            super().parse_cleanup()

    def execute(self) -> None:
        # invoke keeps the words after `--` only joined by spaces (``core.remainder``): quoting is lost.
        # Tasks read them word for word from the config (see :func:`remainder_words`).
        self.config[REMAINDER_KEY] = words_after_dashes(self.argv)  # type: ignore[assignment]
        super().execute()


REMAINDER_KEY = "shipflow_remainder"


def words_after_dashes(argv: list[str]) -> list[str]:
    """The words after the first ``--`` of a command line, as given (none without one)."""
    return argv[argv.index("--") + 1 :] if "--" in argv else []


def remainder_words(config: object) -> list[str]:
    """The words after ``--``, word for word, from a task's ``c.config`` (set when the program runs)."""
    import sys

    try:
        words = config[REMAINDER_KEY]  # type: ignore[index]
    except (KeyError, TypeError):
        return words_after_dashes(sys.argv)
    return [str(word) for word in words]


def refuse_bad_flags_in_inv() -> None:
    """Give invoke's own program object (the one ``inv`` runs) :class:`RefusesBadFlags`'s parse steps."""
    from invoke import main

    running = main.program
    if not isinstance(running, RefusesBadFlags):
        running.__class__ = type("InvokeRefusingBadFlags", (RefusesBadFlags, type(running)), {})
