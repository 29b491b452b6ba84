"""Database migrations with alembic: settings, running alembic, the round trip, drift and history checks.

alembic and SQLAlchemy are imported inside the functions that use them (``inv --list`` stays fast).
"""
