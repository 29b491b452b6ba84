"""``[tool.shipflow.db]``: where alembic's files are, which branch the history is compared with, the
checksum manifest, and the database ``inv db.check`` uses as scratch.
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipflow.project import PYPROJECT, Project, SettingsError, shown

DEFAULT_ALEMBIC_INI = "alembic.ini"
DEFAULT_BASE_BRANCH = "main"
DEFAULT_CHECK_DATABASE = "sqlite"
DB_KEYS = ("alembic_ini", "base_branch", "manifest", "check_database")


@dataclass(frozen=True)
class DbSettings:
    """Paths are absolute; ``check_database`` is ``sqlite``, an environment name or a database URL."""

    root: Path
    alembic_ini: Path
    script_location: Path
    base_branch: str
    manifest: Path
    check_database: str

    @property
    def versions_dir(self) -> Path:
        return self.script_location / "versions"

    def relative(self, path: Path) -> str:
        """``path`` as the user sees it: relative to the project root when it is inside it."""
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)


def _string(section: dict[str, Any], key: str, default: str, where: str) -> str:
    value = section.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise SettingsError(f"{where} {key} must be a non-empty string, got {shown(value)}")
    return value.strip()


def script_location(alembic_ini: Path) -> Path:
    """The folder ``script_location`` in ``alembic.ini`` names (``%(here)s`` is the file's folder)."""
    parser = configparser.ConfigParser(defaults={"here": str(alembic_ini.parent)})
    try:
        parser.read(alembic_ini, encoding="utf-8")
        location = parser.get("alembic", "script_location")
    except (configparser.Error, UnicodeDecodeError) as error:
        raise SettingsError(
            f"{alembic_ini}: no [alembic] script_location ({type(error).__name__}); "
            "set it to the folder holding env.py and versions/"
        ) from None
    path = Path(location)
    return path if path.is_absolute() else (alembic_ini.parent / path).resolve()


def db_settings(project: Project) -> DbSettings:
    """Read ``[tool.shipflow.db]``; raise :class:`SettingsError` naming the key or the missing file."""
    where = f"{project.root / PYPROJECT}: [tool.shipflow.db]"
    section = project.section("db", DB_KEYS)
    ini = project.root / _string(section, "alembic_ini", DEFAULT_ALEMBIC_INI, where)
    if not ini.is_file():
        raise SettingsError(
            f"{ini}: not found; create it (`alembic init migrations`) or point [tool.shipflow.db] "
            f"alembic_ini in {project.root / PYPROJECT} at your alembic.ini"
        )
    location = script_location(ini)
    if not (location / "env.py").is_file():
        raise SettingsError(f"{ini}: script_location {location} holds no env.py; fix script_location")
    manifest = section.get("manifest")
    manifest_path = (
        project.root / _string(section, "manifest", "", where) if manifest else location / "manifest.json"
    )
    return DbSettings(
        root=project.root,
        alembic_ini=ini,
        script_location=location,
        base_branch=_string(section, "base_branch", DEFAULT_BASE_BRANCH, where),
        manifest=manifest_path,
        check_database=_string(section, "check_database", DEFAULT_CHECK_DATABASE, where),
    )
