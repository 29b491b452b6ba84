"""Where the project is and what its ``[tool.shipflow]`` settings say.

Settings live in the project's ``pyproject.toml`` so that one file holds the package, its tools and
its workflow, the way nox and ruff read theirs.  Parse errors name the file and what was expected.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipflow.errors import BadInput

PYPROJECT = "pyproject.toml"
SECTIONS = ("env", "lint", "build", "git", "db", "gates")
"""The ``[tool.shipflow.<name>]`` tables shipflow reads; any other name is a misspelling."""
VALUE_LIMIT = 80
"""How much of a value a message shows: a message never echoes an unbounded value."""
UNKNOWN_KEYS_SHOWN = 3


class SettingsError(BadInput):
    """A settings file is missing, malformed, or holds a value of the wrong shape."""


def cut(text: str, limit: int = VALUE_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, ``...`` marking a cut."""
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def shown(value: Any, limit: int = VALUE_LIMIT) -> str:
    """``repr(value)`` for a message, built and cut so that a huge value costs and shows only ``limit``."""
    import reprlib

    bounded = reprlib.Repr()
    bounded.maxstring = bounded.maxother = bounded.maxlong = limit
    bounded.maxlevel = 3
    return cut(bounded.repr(value), limit)


@dataclass(frozen=True)
class NumberRange:
    """The numbers a setting accepts; every bound is optional, ``above`` is exclusive, NaN and infinity
    are never in range."""

    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            return False
        return (
            (self.minimum is None or value >= self.minimum)
            and (self.maximum is None or value <= self.maximum)
            and (self.above is None or value > self.above)
        )

    @property
    def text(self) -> str:
        """The range in words: ``from 1 to 65535``, ``greater than 0``, ``0 or more``."""
        if self.minimum is not None and self.maximum is not None:
            return f"from {self.minimum:g} to {self.maximum:g}"
        if self.above is not None:
            return f"greater than {self.above:g}"
        return f"{self.minimum:g} or more" if self.minimum is not None else "a finite number"


PORT = NumberRange(minimum=1, maximum=65535)
POSITIVE = NumberRange(above=0)
NOT_NEGATIVE = NumberRange(minimum=0)
AT_LEAST_ONE = NumberRange(minimum=1)


def check_range(value: Any, allowed: NumberRange, *, file: Path, key: str, got: str | None = None) -> None:
    """Refuse a number outside ``allowed``, naming the file and the dotted key; ``got`` says what was
    given when the value itself must not be shown."""
    if value not in allowed:
        raise SettingsError(f"{file}: {key} must be {allowed.text}, got {got or shown(value)}")


def _unknown_key(key: str, known: tuple[str, ...], prefix: str) -> str:
    import difflib

    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
    return f"{prefix}{cut(key, 40)}{hint}"


def check_keys(
    table: Mapping[Any, Any],
    known: Iterable[str],
    *,
    file: Path | str,
    prefix: str = "",
    error: type[SettingsError] | None = None,
) -> None:
    """Refuse keys of ``table`` outside ``known``: one line naming the file, each dotted key (up to a few)
    and the closest known key, and listing the known ones. ``prefix`` is the table's dotted path plus a dot;
    ``error`` the kind to raise (a :class:`SettingsError` by default)."""
    known = tuple(known)
    unknown = [str(key) for key in table if key not in known]
    if not unknown:
        return
    named = ", ".join(_unknown_key(key, known, prefix) for key in unknown[:UNKNOWN_KEYS_SHOWN])
    more = f" and {len(unknown) - UNKNOWN_KEYS_SHOWN} more" if len(unknown) > UNKNOWN_KEYS_SHOWN else ""
    where = f"known keys of {prefix.rstrip('.')}" if prefix else "known top-level keys"
    raise (error or SettingsError)(f"{file}: unknown key {named}{more}; {where}: {', '.join(known)}")


def find_project_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` holding a pyproject.toml, else ``start`` itself."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PYPROJECT).is_file():
            return folder
    return here


@dataclass(frozen=True)
class Project:
    """A project root and its raw ``[tool.shipflow]`` table."""

    root: Path
    settings: dict[str, Any]

    def section(self, name: str, keys: Iterable[str] | None = None) -> dict[str, Any]:
        """The ``[tool.shipflow.<name>]`` table, empty when absent; with ``keys``, other keys are refused."""
        value = self.settings.get(name, {})
        if not isinstance(value, dict):
            raise SettingsError(
                f"{self.root / PYPROJECT}: [tool.shipflow.{name}] must be a table, got {type(value).__name__}"
            )
        if keys is not None:
            check_keys(value, keys, file=self.root / PYPROJECT, prefix=f"tool.shipflow.{name}.")
        return value


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML settings file's tables; a malformed file is one error naming the file, line and column."""
    import tomllib

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"{path}: not valid TOML: {error}; fix the file and run again") from error
    except UnicodeDecodeError as error:
        raise SettingsError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from error


def load_project(start: Path | None = None) -> Project:
    """Read ``[tool.shipflow]`` from the project's pyproject.toml (an absent file or table is empty)."""
    root = find_project_root(start)
    path = root / PYPROJECT
    if not path.is_file():
        return Project(root=root, settings={})
    data = read_toml(path)
    tool = data.get("tool", {})

    settings = tool.get("shipflow", {}) if isinstance(tool, dict) else {}
    if not isinstance(settings, dict):
        raise SettingsError(f"{path}: [tool.shipflow] must be a table")
    check_keys(settings, SECTIONS, file=path, prefix="tool.shipflow.")
    return Project(root=root, settings=settings)
