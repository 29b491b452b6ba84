"""Where the project is and what its ``[tool.shipflow]`` settings say.

Settings live in the project's ``pyproject.toml`` so that one file holds the package, its tools and
its workflow, the way nox and ruff read theirs.  Parse errors name the file and what was expected.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipflow.errors import BadInput

PYPROJECT = "pyproject.toml"


class SettingsError(BadInput):
    """A settings file is missing, malformed, or holds a value of the wrong shape."""


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

    def section(self, name: str) -> dict[str, Any]:
        """The ``[tool.shipflow.<name>]`` table, empty when absent."""
        value = self.settings.get(name, {})
        if not isinstance(value, dict):
            raise SettingsError(
                f"{self.root / PYPROJECT}: [tool.shipflow.{name}] must be a table, got {type(value).__name__}"
            )
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
    return Project(root=root, settings=settings)
