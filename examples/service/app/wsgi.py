"""The WSGI application: the routes, their JSON answers, and ``X-Release: <sha>`` on every answer.

- ``GET /``: 200 ``{environment, version, sha, hostname}``; with the test-only knobs, ``FAIL_RATIO`` of
  them answer 500 ``{"error": "injected failure"}`` and each waits ``EXTRA_LATENCY_MS`` first.
- ``GET /health``: 503 ``{"status": "starting"}`` for ``boot_seconds`` after the server started, 503
  ``{"status": "database unreachable"}`` while the database does not answer, else 200
  ``{"status": "ok", version, sha}``.
- ``POST /notes`` with ``{"title": "<1-200 characters>"}``: 201 ``{id, sha}`` once the row is committed;
  400 for a body that is not such JSON, 413 beyond 64 KiB, 503 when the database fails.
- ``GET /notes?after=ID&limit=N``: 200 ``{"ids": [...]}``, the ids above ``after`` (default 0) ascending,
  at most ``limit`` (default 1000, larger values count as 1000); 400 for a bad number.

``HEAD`` answers like ``GET`` without the body; another path is 404, another method 405, both JSON.
"""

from __future__ import annotations

import json
import logging
import random
import re
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qs
from wsgiref.types import StartResponse, WSGIEnvironment

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from app.db import database_answers, make_engine
from app.notes import MAX_LIMIT, TITLE_MAX_CHARS, add_note, note_ids
from app.settings import Settings

log = logging.getLogger("service")

MAX_BODY_BYTES = 64 * 1024
WHOLE_NUMBER = re.compile(r"[0-9]{1,18}")  # fits a 64-bit id


@dataclass(frozen=True)
class Answer:
    """A status, a JSON body and any extra headers."""

    status: int
    body: Mapping[str, object]
    headers: tuple[tuple[str, str], ...] = ()


class Refused(Exception):
    """The request cannot be served as sent: a 4xx answer whose message says why."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


Handler = Callable[[WSGIEnvironment], Answer]


class Service:
    """The WSGI callable; safe to call from several threads at once (it keeps no per-request state)."""

    def __init__(self, settings: Settings, engine: Engine, started: float) -> None:
        self.settings = settings
        self.engine = engine
        self.started = started  # time.monotonic() when the server started listening
        self.hostname = socket.gethostname()
        self.routes: dict[str, dict[str, Handler]] = {
            "/": {"GET": self.index},
            "/health": {"GET": self.health},
            "/notes": {"GET": self.list_notes, "POST": self.create_note},
        }

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        answer = self.answer(environ)
        payload = json.dumps(answer.body).encode()
        start_response(
            f"{answer.status} {HTTPStatus(answer.status).phrase}",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(payload))),
                ("X-Release", self.settings.sha),
                *answer.headers,
            ],
        )
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [payload]

    def answer(self, environ: WSGIEnvironment) -> Answer:
        """Route the request; errors become JSON answers, never a traceback."""
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO") or "/"
        handlers = self.routes.get(path)
        if handlers is None:
            return Answer(404, {"error": f"no route {path}"})
        handler = handlers.get("GET" if method == "HEAD" else method)
        if handler is None:
            allowed = ", ".join(sorted({*handlers, "HEAD"} if "GET" in handlers else handlers))
            return Answer(405, {"error": f"{method} is not allowed on {path}"}, (("Allow", allowed),))
        try:
            return handler(environ)
        except Refused as refused:
            return Answer(refused.status, {"error": str(refused)})
        except SQLAlchemyError as error:
            log.warning("%s %s: database error: %s", method, path, _first_line(error))
            return Answer(503, {"error": "database unavailable"})
        except Exception:
            log.exception("%s %s failed", method, path)
            return Answer(500, {"error": "internal error"})

    def index(self, environ: WSGIEnvironment) -> Answer:
        """Which environment, release and container answered."""
        settings = self.settings
        if settings.extra_latency_ms:
            time.sleep(settings.extra_latency_ms / 1000)
        if settings.fail_ratio and random.random() < settings.fail_ratio:  # noqa: S311 - not for security
            return Answer(500, {"error": "injected failure", "sha": settings.sha})
        return Answer(
            200,
            {
                "environment": settings.environment,
                "version": settings.version,
                "sha": settings.sha,
                "hostname": self.hostname,
            },
        )

    def health(self, environ: WSGIEnvironment) -> Answer:
        """Starting, database unreachable, or ok with the release."""
        if time.monotonic() - self.started < self.settings.boot_seconds:
            return Answer(503, {"status": "starting"})
        if not database_answers(self.engine):
            return Answer(503, {"status": "database unreachable"})
        return Answer(200, {"status": "ok", "version": self.settings.version, "sha": self.settings.sha})

    def create_note(self, environ: WSGIEnvironment) -> Answer:
        """Store the note the body describes; its id once committed."""
        note_id = add_note(self.engine, note_title(read_body(environ)))
        return Answer(201, {"id": note_id, "sha": self.settings.sha})

    def list_notes(self, environ: WSGIEnvironment) -> Answer:
        """The ids after ``after``, ascending, at most ``limit``."""
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        after = whole_number(query, "after", default=0, minimum=0)
        limit = min(whole_number(query, "limit", default=MAX_LIMIT, minimum=1), MAX_LIMIT)
        return Answer(200, {"ids": note_ids(self.engine, after, limit)})


def read_body(environ: WSGIEnvironment) -> bytes:
    """The request body, refused (413) beyond :data:`MAX_BODY_BYTES`."""
    declared = environ.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise Refused(f"the body is larger than {MAX_BODY_BYTES} bytes", status=413)
    wanted = int(declared) if declared.isdigit() else MAX_BODY_BYTES + 1  # chunked: read up to the cap
    body: bytes = environ["wsgi.input"].read(wanted)
    if len(body) > MAX_BODY_BYTES:
        raise Refused(f"the body is larger than {MAX_BODY_BYTES} bytes", status=413)
    return body


def note_title(body: bytes) -> str:
    """The title of a ``{"title": "..."}`` body; :class:`Refused` for anything else."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise Refused('the body must be JSON like {"title": "..."}') from None
    title = document.get("title") if isinstance(document, dict) else None
    # PostgreSQL refuses NUL in text: refusing it here keeps that a 400, not a database error.
    if not isinstance(title, str) or not 0 < len(title) <= TITLE_MAX_CHARS or "\x00" in title:
        raise Refused(f"title must be a string of 1 to {TITLE_MAX_CHARS} characters")
    return title


def whole_number(query: Mapping[str, list[str]], name: str, *, default: int, minimum: int) -> int:
    """The query parameter ``name`` as a whole number >= ``minimum``, ``default`` when absent."""
    values = query.get(name)
    if not values:
        return default
    raw = values[0]
    if not WHOLE_NUMBER.fullmatch(raw) or int(raw) < minimum:
        raise Refused(f"{name} must be a whole number >= {minimum}, got {raw[:40]!r}")
    return int(raw)


def _first_line(error: SQLAlchemyError) -> str:
    """The driver's message without the SQL and parameters SQLAlchemy appends (they may hold data)."""
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else ''}"


def make_app(settings: Settings, started: float) -> Service:
    """The application for one worker process, with that process's own database engine."""
    return Service(settings, make_engine(settings.database_url), started)
