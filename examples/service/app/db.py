"""The database: one SQLAlchemy engine per process and the reachability check ``/health`` uses."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from app.settings import SettingsError

CONNECT_TIMEOUT_SECONDS = 3
# How long a SQLite writer waits for another one (in this container or the other slot's) to commit.
SQLITE_BUSY_TIMEOUT_MS = 5000


def make_engine(url: str) -> Engine:
    """An engine for ``url`` (no connection is made until first use).

    Raises :class:`SettingsError` for a URL SQLAlchemy cannot use; the message never holds the URL,
    which may carry a password.
    """
    try:
        return _engine(url)
    except (ArgumentError, ImportError) as error:
        scheme = url.split(":", 1)[0]
        raise SettingsError(
            f"DATABASE_URL (scheme {scheme!r}) is not a database URL SQLAlchemy can use: "
            f"{type(error).__name__}; use e.g. postgresql://user:password@host:5432/name or sqlite:////data/app.db"
        ) from None


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # SQLite connections belong to the thread that opened them; opening one is cheap, so don't pool.
        engine = create_engine(url, poolclass=NullPool)
        event.listen(engine, "connect", _sqlite_concurrency)
        return engine
    connect_args: dict[str, Any] = {}
    if url.startswith("postgresql"):
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def _sqlite_concurrency(dbapi_connection: Any, connection_record: Any) -> None:
    """Let several processes write one SQLite file: wait for a lock instead of failing, and use WAL.

    WAL lets readers run beside the one writer; it is stored in the file, but setting it on each
    connection also converts a database created before. The busy timeout comes first, so that
    conversion waits for a busy database too.
    """
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
    finally:
        cursor.close()


def database_answers(engine: Engine) -> bool:
    """Whether ``SELECT 1`` succeeds now."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    return True
