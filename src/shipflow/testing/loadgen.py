"""A small, bounded HTTP load generator for zero-downtime checks against 127.0.0.1.

Each worker opens a new connection per request (so a switch is seen by every request), counts
failures (no answer, or a status other than 200) and which release answered (the ``sha`` field
of a JSON body, when there is one). It stops by itself after ``max_seconds`` or ``max_requests``.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Self
from urllib.parse import urlsplit

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class LoadResult:
    requests: int = 0
    failed: int = 0
    served_by: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


class LoadGenerator:
    """``with LoadGenerator(url) as load: ...`` sends requests until the block ends (or a bound is hit)."""

    def __init__(
        self, url: str, *, workers: int = 4, max_seconds: float = 300.0, max_requests: int = 1_000_000
    ) -> None:
        parts = urlsplit(url)
        if parts.hostname not in LOOPBACK:
            raise ValueError(f"load is only ever sent to this machine (127.0.0.1), not {parts.hostname}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.path = parts.path or "/"
        self.workers = workers
        self.max_seconds = max_seconds
        self.max_requests = max_requests
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _one(self) -> tuple[bool, str]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            connection.request("GET", self.path, headers={"Connection": "close"})
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as error:
            return False, f"{type(error).__name__}: {error}"
        finally:
            connection.close()
        if response.status != 200:
            return False, f"HTTP {response.status}: {body[:100]!r}"
        try:
            return True, str(json.loads(body).get("sha", "?"))
        except (ValueError, AttributeError):
            return True, "?"

    def _work(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            ok, detail = self._one()
            with self._lock:
                self.result.requests += 1
                if ok:
                    self.result.served_by[detail] += 1
                else:
                    self.result.failed += 1
                    if len(self.result.failures) < 20:
                        self.result.failures.append(detail)
                if self.result.requests >= self.max_requests:
                    self._stop.set()

    def start(self) -> Self:
        self._threads = [threading.Thread(target=self._work, daemon=True) for _ in range(self.workers)]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> LoadResult:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)
        return self.result

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
