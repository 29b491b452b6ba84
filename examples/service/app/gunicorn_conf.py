"""How gunicorn serves the service: the settings :mod:`app.server` hands to gunicorn's arbiter.

gthread workers: each worker process answers requests in a small thread pool and parks idle
keep-alive connections in its event loop, so nginx's upstream keep-alive costs no thread.
"""

from __future__ import annotations

from pathlib import Path

from app.settings import Settings

# One worker per core of the 2-core machines this runs on (each is one GIL, so more processes only add
# context switches and memory, and blue and green both run during a switch); 4 threads per worker cover
# the time a request waits on the database (a SQLite lock held by the other slot, a PostgreSQL round trip).
WORKERS = 2
THREADS = 4
BACKLOG = 2048  # connections the kernel queues while every thread is busy (capped by net.core.somaxconn)
# Longer than nginx's upstream keepalive_timeout (60 s), so nginx, not the service, closes an idle
# connection: a request nginx sends on a connection the service is closing at that moment would fail.
KEEPALIVE_SECONDS = 75
# SIGTERM: stop accepting, let requests in flight finish for up to this long, exit 0; below docker
# stop's and a deploy's stop_timeout (5 s and more), so the container never needs SIGKILL.
GRACEFUL_TIMEOUT_SECONDS = 4
WORKER_TIMEOUT_SECONDS = 30  # a worker that stops answering its arbiter this long is replaced
SHARED_MEMORY = Path("/dev/shm")  # noqa: S108 - the workers' heartbeat files: tmpfs, unlike the overlay /tmp


def options(settings: Settings) -> dict[str, object]:
    """gunicorn's settings for ``settings`` (gunicorn's names; see ``gunicorn --help``)."""
    return {
        "bind": [f"{settings.host}:{settings.port}"],
        "worker_class": "gthread",
        "workers": WORKERS,
        "threads": THREADS,
        "backlog": BACKLOG,
        "keepalive": KEEPALIVE_SECONDS,
        "graceful_timeout": GRACEFUL_TIMEOUT_SECONDS,
        "timeout": WORKER_TIMEOUT_SECONDS,
        "worker_tmp_dir": str(SHARED_MEMORY) if SHARED_MEMORY.is_dir() else None,
        "loglevel": settings.log_level.lower(),
        "errorlog": "-",
        "accesslog": "-" if settings.log_level == "DEBUG" else None,
        "proc_name": "shipflow-example",
    }
