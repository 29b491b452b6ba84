"""The database ``inv db.check`` migrates up, down and up again (and ``inv db.new`` compares the models
with): a new SQLite file by default, else an environment's DATABASE_URL or a URL. A real database is never
migrated: a SQLite file is copied into a temporary folder and the copy is used; on PostgreSQL the work runs
in a schema of its own, dropped after, so tables already in that database are never touched; any other
database is refused.
"""

from __future__ import annotations

import sqlite3
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from shipflow.db.runner import (
    MigrationError,
    Target,
    absolute_sqlite_url,
    check_connection,
    make_engine,
    translated,
)
from shipflow.env.masking import secret_values
from shipflow.env.names import ALIASES, ENVIRONMENTS, canonical_environment
from shipflow.project import SettingsError

SQLITE = "sqlite"


def database_url(values: Mapping[str, str], source: str) -> str:
    """DATABASE_URL from an environment's values; a clear error naming where it should be."""
    url = values.get("DATABASE_URL", "").strip()
    if not url:
        raise SettingsError(f"DATABASE_URL is not set for {source}: add DATABASE_URL=... to its env file")
    return url


def environment_target(environment: str, root: Path, environ: Mapping[str, str] | None = None) -> Target:
    """The database of an environment: DATABASE_URL from its env files (the process environment wins)."""
    from shipflow.env.files import env_values

    values = env_values(root, environment, environ)
    url = database_url(values, f"environment {environment}")
    return Target(absolute_sqlite_url(url, root), tuple(secret_values(values)))


def resolve_target(spec: str, root: Path, environ: Mapping[str, str] | None = None) -> Target | None:
    """The database ``spec`` names (an environment or a URL); None for a new SQLite file."""
    cleaned = spec.strip()
    if cleaned.lower() == SQLITE:
        return None
    if "://" in cleaned:
        return Target(absolute_sqlite_url(cleaned, root), tuple(secret_values({"DATABASE_URL": cleaned})))
    if cleaned.lower() in ENVIRONMENTS or cleaned.lower() in ALIASES:
        return environment_target(canonical_environment(cleaned), root, environ)
    raise SettingsError(
        f"unknown database {spec!r}: give 'sqlite' (a new file), an environment ({', '.join(ENVIRONMENTS)}) "
        "whose DATABASE_URL to use, or a database URL"
    )


@contextmanager
def _postgres_schema(target: Target) -> Iterator[Target]:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    schema = f"shipflow_check_{uuid.uuid4().hex[:12]}"
    engine = make_engine(target.url)
    try:
        with translated(target, "creating a scratch schema"), engine.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        url = make_url(target.url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield Target(url.render_as_string(hide_password=False), target.secrets)
    finally:
        with translated(target, "dropping the scratch schema"), engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        engine.dispose()


def _backend(url: str) -> str:
    """``sqlite`` for ``sqlite+pysqlite:///x.db``, ``postgresql`` for ``postgresql+psycopg://...``."""
    return url.split(":", 1)[0].split("+", 1)[0].lower()


def _sqlite_path(target: Target) -> Path | None:
    """The file a SQLite URL names; None for an in-memory database (scratch already)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(target.url)
    except ArgumentError:
        raise SettingsError(
            target.masked(f"{target.url} is not a database URL: write sqlite:///path/to/file.db")
        ) from None
    if str(url.query.get("uri", "")).lower() in ("true", "1"):
        raise SettingsError(
            target.masked(
                f"{target.url}: SQLite URI file names (?uri=true) cannot be copied for a scratch "
                "database: give a plain sqlite:///path/to/file.db"
            )
        )
    database = url.database or ""
    return None if database in ("", ":memory:") else Path(database)


def require_scratch(target: Target | None, needs: str = "the round trip") -> None:
    """Refuse (``SettingsError``) a database that cannot be worked on without changing it."""
    if target is None:
        return
    backend = _backend(target.url)
    if backend == SQLITE:
        _sqlite_path(target)
        return
    if backend != "postgresql":
        raise SettingsError(
            target.masked(f"{target.url}: {needs} needs a scratch database: use sqlite or a PostgreSQL URL")
        )


def _copy_sqlite(source: Path, destination: Path, target: Target) -> None:
    """A consistent copy of ``source`` (WAL included), read through a read-only connection."""
    try:
        reader = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
        try:
            writer = sqlite3.connect(destination)
            try:
                reader.backup(writer)
            finally:
                writer.close()
        finally:
            reader.close()
    except sqlite3.Error as error:
        raise MigrationError(
            target.masked(f"cannot copy the SQLite database {source} to a scratch file: {error}")
        ) from None


@contextmanager
def _sqlite_copy(target: Target) -> Iterator[tuple[Target, str]]:
    from sqlalchemy.engine import make_url

    source = _sqlite_path(target)
    if source is None:
        yield target, f"{target.masked()} (in memory)"
        return
    with tempfile.TemporaryDirectory(prefix="shipflow-db-check-") as folder:
        copy = Path(folder) / "scratch.db"
        if source.is_file():
            _copy_sqlite(source, copy, target)
            where = f"a copy of {source}"
        else:
            where = f"a new SQLite file ({source} does not exist yet)"
        url = make_url(target.url).set(database=str(copy))
        yield Target(url.render_as_string(hide_password=False), target.secrets), target.masked(where)


@contextmanager
def scratch_database(target: Target | None) -> Iterator[tuple[Target, str]]:
    """A database to check on and how to name it; never the real one.

    Raises ``SettingsError`` for a database that has no scratch form (see :func:`require_scratch`) and
    ``DatabaseUnreachable`` before yielding.
    """
    if target is None:
        with tempfile.TemporaryDirectory(prefix="shipflow-db-check-") as folder:
            yield Target(f"sqlite:///{Path(folder) / 'scratch.db'}"), "a new SQLite file"
        return
    require_scratch(target)
    if _backend(target.url) == SQLITE:
        with _sqlite_copy(target) as scratch:
            yield scratch
        return
    check_connection(target)
    with _postgres_schema(target) as scoped:
        yield scoped, f"{target.masked()} (a scratch schema)"
