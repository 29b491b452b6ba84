"""The access log shipflow keeps of an app's real traffic, as data: nginx's lines for it, the commands that
read it back, and its lines parsed.

The include shipflow owns (the upstream file) also declares a log format of its own and an ``access_log``
that writes one line per request nginx routes to the app's upstream: when it ended, its status, how long
it took and the release that answered (the value of the release's own response header, e.g.
``X-Release``). The user's own logs are left as they are. Under the NAT switch nginx only knows the
switch's port, so the header is what tells the releases apart; a request without it (an app that does
not send it, or a 502 from nginx itself) is attributed by the time it ended.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    from shipflow.deploy.settings import DeploySettings, TargetSettings

BASELINE_BYTES = 2_000_000
"""How much of the log's end is read for the old release's figures before a deploy."""
MISSING = "-"  # what nginx logs for an empty variable


@dataclass(frozen=True)
class Entry:
    """One request: when it ended (epoch seconds, the host's clock), its status, its duration in ms and the
    release header's value (``None`` when absent)."""

    at: float
    status: int
    ms: float
    release: str | None


def _name(app: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", app)


def header_variable(header: str) -> str:
    """nginx's variable for the upstream's response header: ``X-Release`` -> ``$upstream_http_x_release``."""
    return "$upstream_http_" + header.lower().replace("-", "_")


def log_path(target: TargetSettings) -> str:
    return f"{target.state_dir}/traffic.log"


def log_conf(settings: DeploySettings, target: TargetSettings) -> str:
    """The lines the include adds at nginx's ``http`` level: the format, and a log of the requests routed to
    the app's upstream only (``$proxy_host`` is the upstream's name)."""
    name = _name(settings.app)
    header = header_variable(settings.bake.release_header)
    return (
        f"# One line per request routed to {settings.app}: shipflow reads it while a release bakes.\n"
        f"log_format shipflow_{name} '$msec\\t$status\\t$request_time\\t{header}';\n"
        f"map $proxy_host $shipflow_{name}_logged {{\n"
        f"    {settings.app}_backend 1;\n"
        "    default 0;\n"
        "}\n"
        f"access_log {log_path(target)} shipflow_{name} if=$shipflow_{name}_logged;\n"
    )


def size(path: str) -> list[str]:
    """The log's size in bytes (fails when it does not exist yet)."""
    return ["stat", "--format", "%s", path]


def read_from(path: str, offset: int) -> list[str]:
    """The log from byte ``offset`` (0-based) to its end."""
    return ["tail", "--bytes", f"+{offset + 1}", path]


def read_end(path: str, length: int = BASELINE_BYTES) -> list[str]:
    return ["tail", "--bytes", str(length), path]


def clock() -> list[str]:
    """The host's clock, epoch seconds (the log's times are the host's)."""
    return ["date", "+%s.%N"]


def parse_line(line: str) -> Entry | None:
    """An entry, or None for a line that is not one of ours (a partial line, another format)."""
    fields = line.rstrip("\n").split("\t")
    if len(fields) != 4:
        return None
    at, status, seconds, release = fields
    try:
        return Entry(float(at), int(status), float(seconds) * 1000, None if release == MISSING else release)
    except ValueError:
        return None


def complete_lines(text: str) -> tuple[list[str], int]:
    """The complete lines of ``text`` and how many characters they take (the log is ASCII: nginx escapes
    every other byte, so characters are bytes); a last line still being written is left for later."""
    end = text.rfind("\n") + 1
    return text[:end].splitlines(), end


def parse(lines: Iterable[str]) -> list[Entry]:
    return [entry for line in lines if (entry := parse_line(line)) is not None]


def same_release(header: str | None, sha: str | None) -> bool:
    """Whether a header value names the release ``sha`` (either may be a short sha)."""
    if not header or not sha:
        return False
    return sha.startswith(header) or header.startswith(sha)
