"""The HTTP side: ``GET /`` and ``GET /health`` on a threading server that drains on SIGTERM.

The server listens at once but reports 503 ``starting`` for ``boot_seconds`` (the time a real service
spends warming up), so a deploy's health gate has something to wait for. On SIGTERM or SIGINT it stops
accepting, lets in-flight requests finish and returns, so a blue-green switch loses no request.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from app.db import database_answers, make_engine
from app.settings import Settings, SettingsError

log = logging.getLogger("service")


class ServiceState:
    """What the handlers share: the settings, the database engine and whether boot has finished."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings.database_url)
        self.ready = threading.Event()
        self.hostname = socket.gethostname()

    def boot(self) -> None:
        """Warm up for ``boot_seconds``, then declare the service ready."""
        started = time.monotonic()
        time.sleep(self.settings.boot_seconds)
        self.ready.set()
        log.info("ready after %.1fs", time.monotonic() - started)

    def health(self) -> tuple[int, dict[str, str]]:
        """The status code and body of ``/health``."""
        if not self.ready.is_set():
            return 503, {"status": "starting"}
        if not database_answers(self.engine):
            return 503, {"status": "database unreachable"}
        return 200, {"status": "ok", "version": self.settings.version, "sha": self.settings.sha}

    def index(self) -> dict[str, str]:
        """The body of ``/``: which environment, release and container answered."""
        return {
            "environment": self.settings.environment,
            "version": self.settings.version,
            "sha": self.settings.sha,
            "hostname": self.hostname,
        }


class Handler(BaseHTTPRequestHandler):
    """JSON responses; every one carries the release in ``X-Release``."""

    server_version = "shipflow-example"
    timeout = 30  # an idle connection cannot hold up a drain for longer than this
    state: ServiceState  # set on the subclass :func:`make_server` creates

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/health":
            status, body = self.state.health()
            self._send(status, body)
        elif path == "/":
            self._send(200, self.state.index())
        else:
            self._send(404, {"error": f"no route {path}"})

    def _send(self, status: int, body: dict[str, str]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Release", self.state.settings.sha)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


def make_server(state: ServiceState) -> ThreadingHTTPServer:
    """A server bound to the settings' address; request threads are joined on close."""
    handler = type("BoundHandler", (Handler,), {"state": state})
    server = ThreadingHTTPServer((state.settings.host, state.settings.port), handler)
    server.daemon_threads = False  # server_close() then waits for in-flight requests
    return server


def serve(settings: Settings) -> int:
    """Run until SIGTERM or SIGINT, then drain and return 0; :class:`SettingsError` if it cannot start."""
    state = ServiceState(settings)
    try:
        server = make_server(state)
    except OSError as error:
        raise SettingsError(
            f"cannot listen on {settings.host}:{settings.port}: {error.strerror}; set PORT"
        ) from None

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("%s: no new connections; finishing requests in flight", signal.Signals(signum).name)
        # shutdown() waits for serve_forever() to return, so it cannot run in the thread that serves.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "listening on %s:%d (environment %s, version %s, sha %s); booting for %.1fs",
        settings.host,
        settings.port,
        settings.environment,
        settings.version,
        settings.sha,
        settings.boot_seconds,
    )
    threading.Thread(target=state.boot, name="boot", daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.05)
    finally:
        server.server_close()
        state.engine.dispose()
    log.info("stopped")
    return 0
