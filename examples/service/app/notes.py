"""The notes the service stores: add one, list ids after a given one (SQLAlchemy Core).

Database errors are :class:`sqlalchemy.exc.SQLAlchemyError`; the caller turns them into a 503.
"""

from __future__ import annotations

from sqlalchemy import Table, insert, select
from sqlalchemy.engine import Engine

from app.models import Note

NOTES: Table = Note.__table__
TITLE_MAX_CHARS = 200
MAX_LIMIT = 1000


def add_note(engine: Engine, title: str) -> int:
    """Insert a note titled ``title`` and return its id once the transaction has committed."""
    with engine.begin() as connection:
        result = connection.execute(insert(NOTES).values(title=title))
        key = result.inserted_primary_key
    if key is None:  # SQLAlchemy's type allows it; a one-row INSERT always has its key
        raise RuntimeError("the database returned no id for the new note")
    return int(key[0])


def note_ids(engine: Engine, after: int, limit: int) -> list[int]:
    """The ids greater than ``after``, ascending, at most ``limit`` of them."""
    query = select(NOTES.c.id).where(NOTES.c.id > after).order_by(NOTES.c.id).limit(limit)
    with engine.connect() as connection:
        return [int(row[0]) for row in connection.execute(query)]
