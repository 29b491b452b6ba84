"""alembic run in this process against one database URL: revisions, upgrade, downgrade, new revision, drift.

Every failure becomes a :class:`MigrationError` whose message has passed through the masking function,
so a URL's password never reaches the user. The caller gives the secrets to mask.
"""

from __future__ import annotations

import io
import sys
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipflow.env.masking import mask
from shipflow.errors import BadInput, Failed

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import Engine

    from shipflow.db.settings import DbSettings

CONNECT_TIMEOUT_SECONDS = 5
SPECIAL_TARGETS = ("head", "heads", "base")


class MigrationError(Failed):
    """alembic or the database refused; the message is masked and says what to do."""


class BadRevision(BadInput, MigrationError):
    """A revision the migrations do not know (a typo in ``--to``): bad input, not a failure."""


class BrokenHistory(MigrationError):
    """The migration files do not form a history: one revises a revision no file defines (a deleted
    migration), or alembic cannot read them."""


class DatabaseUnreachable(MigrationError):
    """No connection could be made; the message names the masked URL and the cause."""


@dataclass(frozen=True)
class Revision:
    """One migration: its id and the first line of its docstring."""

    id: str
    message: str


@dataclass(frozen=True)
class Target:
    """A database to migrate: its URL (absolute for SQLite files) and the secrets to hide in messages."""

    url: str
    secrets: tuple[str, ...] = ()

    def masked(self, text: str | None = None) -> str:
        return mask(self.url if text is None else text, self.secrets)


def absolute_sqlite_url(url: str, root: Path) -> str:
    """``sqlite:///./dev.db`` resolved against ``root`` (where the service runs); other URLs unchanged."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url.startswith("sqlite:////"):
        return url
    path, _, query = url[len(prefix) :].partition("?")
    if not path or path == ":memory:":
        return url
    return f"sqlite:///{(root / path).resolve()}" + (f"?{query}" if query else "")


def _first_line(error: BaseException) -> str:
    cause = getattr(error, "orig", None) or error
    lines = [line.strip() for line in str(cause).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(cause).__name__


def make_engine(url: str) -> Engine:
    """An engine that never pools and gives up connecting after a few seconds."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    connect_args: dict[str, Any] = {}
    if url.startswith("postgresql"):
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
    return create_engine(url, poolclass=NullPool, connect_args=connect_args)


def _driver_hint(target: Target, error: BaseException) -> DatabaseUnreachable:
    scheme = target.url.split(":", 1)[0]
    return DatabaseUnreachable(
        target.masked(
            f"cannot use database {target.url}: no driver for {scheme!r} ({_first_line(error)}); "
            "install it (e.g. pip install 'psycopg[binary]' for postgresql://)"
        )
    )


def check_connection(target: Target) -> None:
    """Connect once; raise :class:`DatabaseUnreachable` naming the masked URL and the cause."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

    try:
        engine = make_engine(target.url)
    except (ArgumentError, NoSuchModuleError, ImportError) as error:
        if isinstance(error, ArgumentError):
            raise DatabaseUnreachable(
                target.masked(f"{target.url} is not a database URL: {_first_line(error)}")
            ) from None
        raise _driver_hint(target, error) from None
    try:
        with engine.connect():
            pass
    except SQLAlchemyError as error:
        raise DatabaseUnreachable(
            target.masked(f"cannot connect to {target.url}: {_first_line(error)}")
        ) from None
    finally:
        engine.dispose()


MISSING_FILES = "shipflow.missing_files"
"""Where :func:`make_config` leaves the locked files gone from the versions folder, to name them."""


def _missing_files(settings: DbSettings) -> tuple[str, ...]:
    """The manifest's files that are gone from the versions folder, as the user sees their paths."""
    from shipflow.db.history import ManifestError, read_manifest

    try:
        locked = read_manifest(settings.manifest) if settings.manifest.is_file() else {}
    except ManifestError:  # the manifest check reports it; here it only helps name a file
        return ()
    gone = [settings.versions_dir / name for name in locked if not (settings.versions_dir / name).exists()]
    return tuple(settings.relative(path) for path in gone)


def make_config(settings: DbSettings, target: Target, *, quiet: bool = True) -> Config:
    """alembic's Config for the project's alembic.ini, pointed at ``target``.

    ``quiet`` keeps env.py from configuring logging and sends alembic's own prints to a buffer.
    """
    from alembic.config import Config

    config = Config(str(settings.alembic_ini), stdout=io.StringIO() if quiet else sys.stdout)
    config.set_main_option("sqlalchemy.url", target.url.replace("%", "%%"))
    config.attributes["configure_logger"] = not quiet
    config.attributes[MISSING_FILES] = _missing_files(settings)
    return config


def _broken_history(config: Config, script: ScriptDirectory, error: Exception) -> BrokenHistory:
    versions = Path(script.versions)
    missing = ", ".join(config.attributes.get(MISSING_FILES, ()))
    if isinstance(error, KeyError):
        return BrokenHistory(
            f"revision {str(error.args[0])[:80]!r} is missing: a migration revises it but no file in "
            f"{versions} defines it{f'; deleted: {missing}' if missing else ''}; merged migrations are "
            "never deleted: restore it from git"
        )
    return BrokenHistory(
        f"cannot read the migrations in {versions}: {type(error).__name__}: {_first_line(error)[:200]}"
    )


def script_directory(config: Config) -> ScriptDirectory:
    """The migrations, their history checked first: a revision that revises a missing one (a deleted
    file) is a :class:`BrokenHistory` naming it, never alembic's ``KeyError``."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # alembic warns before it fails; the error below says it once
        try:
            script.get_heads()
        except Exception as error:  # the migrations are the project's code: anything can happen
            raise _broken_history(config, script, error) from None
    return script


@contextmanager
def translated(target: Target, doing: str) -> Iterator[None]:
    """alembic's and SQLAlchemy's exceptions become one masked :class:`MigrationError` line."""
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except MigrationError:
        raise
    except CommandError as error:
        raise MigrationError(target.masked(f"{doing}: {error}")) from None
    except SQLAlchemyError as error:
        raise MigrationError(
            target.masked(f"{doing}: {type(error).__name__}: {_first_line(error)}")
        ) from None
    except Exception as error:  # env.py and the migrations are the project's code: anything can happen
        raise MigrationError(
            target.masked(f"{doing}: {type(error).__name__}: {_first_line(error)}")
        ) from None


def sqlite_file_missing(url: str) -> bool:
    """Whether ``url`` names a SQLite file that does not exist yet (connecting would create it empty)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return False
    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or str(parsed.query.get("uri", "")).lower() in ("true", "1")
    return parsed.get_backend_name() == "sqlite" and not in_memory and not Path(database).exists()


def database_revisions(target: Target) -> tuple[str, ...]:
    """The revisions the database is at (empty before the first migration, and for a SQLite file not
    created yet, which reading never creates)."""
    from alembic.runtime.migration import MigrationContext

    if sqlite_file_missing(target.url):
        return ()
    check_connection(target)
    engine = make_engine(target.url)
    try:
        with translated(target, "reading the database's revision"), engine.connect() as connection:
            return tuple(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()


def script_heads(config: Config) -> tuple[str, ...]:
    """The head revisions of the migration files (more than one means the history has branched)."""
    return tuple(script_directory(config).get_heads())


def describe(config: Config, revisions: Iterable[str]) -> list[Revision]:
    script = script_directory(config)
    found = []
    for revision in revisions:
        entry = script.get_revision(revision)
        message = (entry.doc or "").strip().splitlines()[0] if entry is not None and entry.doc else ""
        found.append(Revision(revision, message))
    return found


def pending(config: Config, current: Sequence[str]) -> list[Revision]:
    """The migrations between the database's revision and the heads, oldest first."""
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError

    script = script_directory(config)
    lower = current[0] if len(current) == 1 else "base"
    try:
        found = list(script.iterate_revisions("heads", lower))
    except (RevisionError, CommandError) as error:
        raise MigrationError(
            f"the database is at {', '.join(current)}, which the migrations in {script.dir} do not know "
            f"({error}); was it migrated from a newer commit?"
        ) from None
    return describe(config, [entry.revision for entry in reversed(found)])


def check_target(config: Config, to: str) -> None:
    """Raise :class:`BadRevision` when ``to`` names no revision of the migrations (and
    :class:`BrokenHistory` when the migrations do not form a history)."""
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError

    script = script_directory(config)  # a broken history fails before the database is touched
    if to in SPECIAL_TARGETS or to[:1] in "+-" or "@" in to:
        return
    try:
        found = script.get_revision(to)
    except (RevisionError, CommandError) as error:
        raise BadRevision(f"unknown revision {to!r} ({error}); `inv db.status` lists them") from None
    if found is None:
        raise BadRevision(f"unknown revision {to!r}; `inv db.status` lists them")


def upgrade(config: Config, target: Target, to: str = "head") -> None:
    from alembic import command

    with translated(target, f"alembic upgrade {to} failed"):
        script_directory(config)
        command.upgrade(config, to)


def downgrade(config: Config, target: Target, to: str = "-1") -> None:
    from alembic import command

    with translated(target, f"alembic downgrade {to} failed"):
        script_directory(config)
        command.downgrade(config, to)


def new_revision(config: Config, target: Target, message: str, *, autogenerate: bool = True) -> list[Path]:
    """Write a new revision (from the models' differences with ``target`` when ``autogenerate``)."""
    from alembic import command

    with translated(target, "alembic revision failed"):
        script_directory(config)
        written = command.revision(config, message=message, autogenerate=autogenerate)
    scripts = written if isinstance(written, list) else [written]
    return [Path(script.path) for script in scripts if script is not None]


def describe_diff(diff: Any) -> str:
    """``('add_column', None, 'notes', Column('body'))`` -> ``add_column notes.body``."""
    if isinstance(diff, list):
        return "; ".join(describe_diff(item) for item in diff)
    if not isinstance(diff, tuple) or not diff:
        return repr(diff)
    names = [getattr(part, "name", None) or (part if isinstance(part, str) else None) for part in diff[1:]]
    return f"{diff[0]} {'.'.join(name for name in names if isinstance(name, str))}".strip()


def drift(config: Config, target: Target) -> list[str]:
    """What the models have that the migrations lack (or the reverse), on a database at head."""
    from alembic import command
    from alembic.util.exc import AutogenerateDiffsDetected

    with translated(target, "comparing the models with the migrations failed"):
        script_directory(config)
        try:
            command.check(config)
        except AutogenerateDiffsDetected as detected:
            diffs = getattr(detected, "diffs", None)
            return [describe_diff(diff) for diff in diffs] if diffs else [str(detected)]
    return []
