"""The smoke check after a switch (``GET <public_url>/health``): from the deployer's
machine, through the public URL, the way users reach the service.

It runs after nginx switched, so a failure does not roll back by itself: the deploy reports failure, the
audit record keeps the result, and ``inv deploy.rollback`` is one command away. (The health gate and the
check through the server's nginx have already passed at that point; what fails here is usually DNS, TLS or
a load balancer in front, which a rollback would not fix.)
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

ATTEMPTS = 5
PAUSE = 1.0


def smoke_url(public_url: str, health_path: str) -> str:
    return f"{public_url.rstrip('/')}{health_path}"


def get(url: str, timeout: float) -> tuple[int, str]:
    """(status, body) of ``GET url``; status 0 with the reason when nothing answered."""
    if not url.startswith(("http://", "https://")):
        return 0, f"{url} is not an http(s) URL: fix public_url"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310  # nosec B310 - http(s) only
            return int(response.status), response.read(2000).decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return int(error.code), error.read(2000).decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as error:
        return 0, str(getattr(error, "reason", error))


def describe(status: int, body: str) -> str:
    """``200 (version v2, sha 0123456789ab)`` or the status and the start of the body."""
    try:
        facts = json.loads(body)
    except ValueError:
        facts = None
    if isinstance(facts, dict) and ("version" in facts or "sha" in facts):
        return f"{status} (version {facts.get('version')}, sha {str(facts.get('sha'))[:12]})"
    return f"{status} {body.strip()[:120]}" if status else f"no answer: {body}"


@dataclass(frozen=True)
class SmokeResult:
    """How the public URL answered: ``passed`` and one line for the audit record."""

    passed: bool
    url: str
    answer: str

    @property
    def seen(self) -> str:
        return f"GET {self.url}: {self.answer}"


def smoke_check(url: str, timeout: float) -> SmokeResult:
    """GET the public health URL until 200 (a few tries)."""
    status, body = 0, ""
    for attempt in range(ATTEMPTS):
        status, body = get(url, timeout)
        if status == 200 or attempt + 1 == ATTEMPTS:
            break
        time.sleep(PAUSE)
    return SmokeResult(status == 200, url, describe(status, body))
