"""The database ``inv db.check`` migrates up, down and up again: a new SQLite file by default, else an
environment's DATABASE_URL or a URL. On PostgreSQL the checks run in a schema of their own, dropped after,
so tables already in that database are never touched.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from shipflow.environments import ALIASES, ENVIRONMENTS, canonical_environment
from shipflow.masking import secret_values
from shipflow.migrations.runner import Target, absolute_sqlite_url, check_connection, make_engine, translated
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
    from shipflow.envfiles import env_values

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


@contextmanager
def scratch_database(target: Target | None) -> Iterator[tuple[Target, str]]:
    """A database to check on and how to name it; raises ``DatabaseUnreachable`` before yielding."""
    if target is None:
        with tempfile.TemporaryDirectory(prefix="shipflow-db-check-") as folder:
            yield Target(f"sqlite:///{Path(folder) / 'scratch.db'}"), "a new SQLite file"
        return
    check_connection(target)
    if target.url.startswith("postgresql"):
        with _postgres_schema(target) as scoped:
            yield scoped, f"{target.masked()} (a scratch schema)"
        return
    yield target, target.masked()
