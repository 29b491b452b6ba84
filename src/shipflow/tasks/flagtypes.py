"""Number flags that explain a bad value instead of raising invoke's ValueError traceback.

invoke takes a flag's type from its default and calls it on the value; these ``int`` subclasses raise
invoke's ``ParseError``, which invoke prints as one line. ``--help`` shows their names (``SECONDS``).
"""

from __future__ import annotations

from invoke.exceptions import ParseError


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
