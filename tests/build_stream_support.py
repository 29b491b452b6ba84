"""Docker build streams recorded on this project's machine (tests/images/streams), and a clock for them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

STREAMS = Path(__file__).parent / "images" / "streams"
Message = Mapping[str, Any]


def recorded(name: str) -> list[Message]:
    """The decoded messages of ``images/streams/<name>.jsonl``: ``cached``, ``ran`` or ``failed``."""
    lines = (STREAMS / f"{name}.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


class Ticks:
    """A clock that moves one second each time it is read, so recorded streams give fixed step times."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now
