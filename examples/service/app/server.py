"""The HTTP server: gunicorn's arbiter in this process, serving :mod:`app.wsgi` from worker processes.

The server listens at once but ``/health`` reports 503 ``starting`` for ``boot_seconds`` (the time a real
service spends warming up), so a deploy's health gate has something to wait for. On SIGTERM gunicorn
stops accepting, lets requests in flight finish and exits 0, so a blue-green switch loses no request.
"""

from __future__ import annotations

import logging
import socket
import sys
import time
from typing import NoReturn

from gunicorn.app.base import BaseApplication

from app.db import make_engine
from app.gunicorn_conf import options
from app.settings import Settings, SettingsError
from app.wsgi import Service, make_app

log = logging.getLogger("service")


class ServiceServer(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type hints
    """gunicorn configured from :mod:`app.gunicorn_conf`; each worker builds its own app and engine."""

    def __init__(self, settings: Settings, started: float) -> None:
        self.settings = settings
        self.started = started
        super().__init__(prog="service")

    def load_config(self) -> None:
        for key, value in options(self.settings).items():
            self.cfg.set(key, value)

    def load(self) -> Service:
        # Called in each worker after the fork: a database engine never crosses processes.
        return make_app(self.settings, self.started)


def check_listen(settings: Settings) -> None:
    """:class:`SettingsError` when the server could not listen on the settings' address."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((settings.host, settings.port))
        except OSError as error:
            raise SettingsError(
                f"cannot listen on {settings.host}:{settings.port}: {error.strerror}; set PORT"
            ) from None


def serve(settings: Settings) -> NoReturn:
    """Serve until SIGTERM, then drain and exit 0; :class:`SettingsError` if it cannot start.

    The checks run here, in one process, so a bad setting is one line and exit 2 rather than workers
    failing to boot over and over.
    """
    make_engine(settings.database_url).dispose()
    check_listen(settings)
    log.info(
        "listening on %s:%d (environment %s, version %s, sha %s); booting for %.1fs",
        settings.host,
        settings.port,
        settings.environment,
        settings.version,
        settings.sha,
        settings.boot_seconds,
    )
    ServiceServer(settings, started=time.monotonic()).run()
    sys.exit(0)  # gunicorn's arbiter and workers end with sys.exit themselves; this is never reached
