"""The service's tables. ``alembic revision --autogenerate`` (``inv db.new``) compares them with the
migrations in ``migrations/versions``; ``inv db.check`` fails when the two disagree.

``declarative_base()`` rather than SQLAlchemy 2.0's ``DeclarativeBase``: the image runs Debian bookworm's
SQLAlchemy 1.4.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, DateTime, Index, Integer, String, Text, func
from sqlalchemy.orm import declarative_base

Base: Any = declarative_base()


class Note(Base):  # type: ignore[misc]
    """A short note: what the example service stores."""

    __tablename__ = "notes"

    id = Column(Integer, primary_key=True)
    title = Column(String(200), nullable=False)
    created_at = Column(DateTime, nullable=False, server_default=func.now())
    body = Column(Text, nullable=True)

    __table_args__ = (Index("ix_notes_created_at", "created_at"),)
