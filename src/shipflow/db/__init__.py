"""Database migrations with alembic: each ``inv db.*`` task as a function, settings, the runner, CI's checks
(single head, round trip, drift, history, manifest), pending migrations and scratch databases."""
