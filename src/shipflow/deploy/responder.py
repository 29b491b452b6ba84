"""The maintenance page, as data: the record that says maintenance is on, the page, and the small nginx of
shipflow's own that serves it on ``127.0.0.1:<maintenance_port>`` (its config and its commands).

The responder answers every path with 503, the page and ``Retry-After``, except the health path, which it
passes to the live slot: the health checks of load balancers, of shipflow's own deploys and of a person
keep telling whether the release behind the page is well. nginx is on every host shipflow deploys to (it
is the front), so the responder needs nothing new there.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from shipflow.deploy.commands import private_nginx_head
from shipflow.project import NumberRange

if TYPE_CHECKING:
    from shipflow.deploy.settings import DeploySettings, TargetSettings

DEFAULT_MESSAGE = "We are doing some maintenance and will be back shortly."
MAX_MESSAGE = 300
RETRY_AFTER = NumberRange(minimum=1, maximum=86_400)
DEFAULT_RETRY_AFTER = 300


@dataclass(frozen=True)
class MaintenanceRecord:
    """Maintenance is on for a target on a host: what the page says, since when, by whom, and the port of
    the slot the health path (and, when maintenance ends, all traffic) goes to."""

    message: str
    retry_after: int
    since: str
    by: str
    slot_port: int

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def parse_record(raw: bytes) -> MaintenanceRecord | None:
    """The record in a file's bytes; None when they are not one (a half-written or hand-edited file)."""
    try:
        fields = json.loads(raw.decode("utf-8", "replace"))
        record = MaintenanceRecord(
            message=str(fields["message"]),
            retry_after=int(fields["retry_after"]),
            since=str(fields["since"]),
            by=str(fields["by"]),
            slot_port=int(fields["slot_port"]),
        )
    except (ValueError, KeyError, TypeError):
        return None
    return record


def record_path(target: TargetSettings) -> str:
    return f"{target.state_dir}/maintenance.json"


def folder(target: TargetSettings) -> str:
    """Everything of the responder on the host: its config, pid file, error log and spool."""
    return f"{target.state_dir}/maintenance"


def checked_page(message: str | None, retry_after: int | None) -> tuple[str, int]:
    """The message and Retry-After seconds of ``deploy.maintenance on``, or ValueError saying what is
    wrong with which flag."""
    text = " ".join((message or DEFAULT_MESSAGE).split())
    if not text:
        raise ValueError("--message is empty; give a sentence for the page, or leave the flag out")
    if len(text) > MAX_MESSAGE:
        raise ValueError(f"--message is {len(text)} characters long; keep it to {MAX_MESSAGE}")
    seconds = DEFAULT_RETRY_AFTER if retry_after is None else retry_after
    if seconds not in RETRY_AFTER:
        raise ValueError(f"--retry-after must be {RETRY_AFTER.text} seconds, got {seconds}")
    return text, seconds


def page_html(app: str, message: str) -> str:
    """The page, every character of the message escaped for HTML (and so for the nginx string it is in)."""
    # Attributes in single quotes: the page sits inside a double-quoted nginx string.
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_escaped(app)}: down for maintenance</title></head>"
        "<body style='font-family: sans-serif; max-width: 40em; margin: 4em auto'>"
        f"<h1>Down for maintenance</h1><p>{_escaped(message)}</p></body></html>\n"
    )


def _escaped(text: str) -> str:
    """HTML-escaped, and without the characters an nginx quoted string gives a meaning to."""
    return html.escape(text, quote=True).replace("\\", "&#92;").replace("$", "&#36;")


def config(settings: DeploySettings, target: TargetSettings, record: MaintenanceRecord) -> str:
    """The responder's nginx.conf: 503 with the page for every path, the health path to the live slot."""
    home = folder(target)
    page = page_html(settings.app, record.message)
    head = private_nginx_head(home, workers=1)
    return f"""\
# Written by shipflow: the maintenance page of {settings.app} ({target.name}), on since {record.since}.
{head}    server {{
        listen 127.0.0.1:{target.maintenance_port};
        keepalive_timeout 75s;
        location = {settings.health.path} {{
            proxy_pass http://127.0.0.1:{record.slot_port};
        }}
        location / {{
            default_type text/html;
            add_header Retry-After {record.retry_after} always;
            add_header Cache-Control "no-store" always;
            return 503 "{page}";
        }}
    }}
}}
"""


def binary(target: TargetSettings) -> str:
    """The nginx program the target's own nginx commands name (``nginx_test``), else ``nginx``."""
    return next((word for word in target.nginx_test if word.rsplit("/", 1)[-1] == "nginx"), "nginx")


def _nginx(target: TargetSettings) -> list[str]:
    home = folder(target)
    return [binary(target), "-p", home, "-e", f"{home}/error.log", "-c", f"{home}/nginx.conf"]


def test_config(target: TargetSettings) -> list[str]:
    return [*_nginx(target), "-t", "-q"]


def start(target: TargetSettings) -> list[str]:
    return _nginx(target)


def reload(target: TargetSettings) -> list[str]:
    return [*_nginx(target), "-s", "reload"]


def stop(target: TargetSettings) -> list[str]:
    """Graceful: requests in flight finish first."""
    return [*_nginx(target), "-s", "quit"]


def pid_file(target: TargetSettings) -> str:
    return f"{folder(target)}/nginx.pid"


def spool_folders(target: TargetSettings) -> tuple[str, str]:
    return folder(target), f"{folder(target)}/spool"
