"""Flags that explain a bad value instead of raising invoke's ValueError traceback or running on nothing.

invoke takes a flag's type from its default and calls it on the value; the number types below raise
invoke's ``ParseError``, which shipflow's programs print as one line and exit 2 (see ``badflags``).
``--help`` shows their names (``SECONDS``). A text flag that names something (a message, a revision)
goes through :func:`nonblank` in its task, since invoke gives a required flag no type of its own.
"""

from __future__ import annotations

from invoke.exceptions import ParseError

from shipflow.errors import BadInput


class _Whole(int):
    unit = "a whole number"

    def __new__(cls, value: object = 0) -> _Whole:
        try:
            number = int(str(value))
        except ValueError:
            raise ParseError(f"a flag expects {cls.unit} (e.g. 30), got {value!r}; see --help TASK") from None
        if number < 0:
            raise ParseError(f"a flag expects {cls.unit}, not a negative number: {value!r}")

        return super().__new__(cls, number)


class Seconds(_Whole):
    """A flag's value in whole seconds."""

    unit = "whole seconds"


class Count(_Whole):
    """A flag's value that counts something."""

    unit = "a count"


class BlankFlag(BadInput):
    """A flag that names something was given no name (``-m ''``, ``-m '!!'``); nothing ran."""


def nonblank(flag: str, value: str, example: str) -> str:
    """``value`` when it holds more than spaces, else :class:`BlankFlag` saying what to give instead."""
    if not value.strip():
        raise BlankFlag(f"{flag} is empty; give {example}")
    return value


def worded(flag: str, value: str, example: str) -> str:
    """``value`` when it holds a letter or a digit (a message, a revision), else :class:`BlankFlag`."""
    if not any(character.isalnum() for character in nonblank(flag, value, example)):
        raise BlankFlag(f"{flag} has no letter or digit; give {example}")
    return value
