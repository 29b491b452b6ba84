"""One deploy per host and app at a time: an atomically created lock file naming its holder."""

from __future__ import annotations

import getpass
import json
import os
import socket
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from shipflow.deploy import commands
from shipflow.errors import Locked

if TYPE_CHECKING:
    from shipflow.hosts.base import Host


@dataclass(frozen=True)
class Actor:
    """Who runs this command: shown to anyone refused by the lock and kept in the audit log."""

    user: str
    machine: str
    pid: int
    command: str
    started_at: str

    @staticmethod
    def current(command: str) -> Actor:
        return Actor(
            user=getpass.getuser(),
            machine=socket.gethostname(),
            pid=os.getpid(),
            command=command,
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    def describe(self) -> str:
        return f"{self.user}@{self.machine} pid {self.pid} since {self.started_at} running `{self.command}`"


class LockHeld(Locked):
    """Another deploy holds the lock; ``stale`` when its holder is provably gone."""

    def __init__(self, path: str, holder: Actor | None, *, stale: bool) -> None:
        self.path = path
        self.holder = holder
        self.stale = stale
        who = holder.describe() if holder else "an unknown holder (empty lock file)"
        if stale:
            advice = "its process is gone: clear it with `inv deploy.unlock --env ENV`"
        else:
            advice = "wait for it to finish, or pass --wait SECONDS"
        super().__init__(f"deploy locked by {who} ({'stale' if stale else 'active'} lock {path}); {advice}")


def read_holder(host: Host, path: str) -> Actor | None:
    return holder_of(host.read_file(path))


def is_stale(holder: Actor | None) -> bool:
    """A holder on this machine whose process is gone; elsewhere we cannot tell, so it is not stale."""
    if holder is None or holder.machine != socket.gethostname():
        return False
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def try_acquire(host: Host, path: str, actor: Actor) -> bool:
    """Create the lock file (and its folder) with the holder in it, only if it does not exist yet."""
    done = host.run(commands.create_lock(path), stdin=_holder_text(actor).encode())
    if done.exit_code == commands.LOCK_FOLDER_FAILED:
        done.check(host.name)
    return done.ok


def acquire(
    host: Host, path: str, actor: Actor, *, wait: float = 0.0, take_over_stale: bool = True
) -> Actor | None:
    """Take the lock, waiting up to ``wait`` seconds; returns the stale holder it replaced, if any.

    A stale holder (a dead process on this machine, e.g. a deploy killed with SIGKILL) is replaced,
    so running the same deploy again converges; any other holder raises :class:`LockHeld`.
    """
    deadline = time.monotonic() + wait
    while True:
        if try_acquire(host, path, actor):
            return None
        raw = host.read_file(path)
        holder = holder_of(raw)
        if take_over_stale and raw is not None and is_stale(holder) and _take_over(host, path, raw, actor):
            return holder
        if time.monotonic() >= deadline:
            raise LockHeld(path, holder, stale=is_stale(holder))
        time.sleep(0.5)


def _take_over(host: Host, path: str, stale_text: bytes, actor: Actor) -> bool:
    argv = commands.take_over_lock(path, stale_text.decode("utf-8", "replace"))
    return host.run(argv, stdin=_holder_text(actor).encode()).ok


def _holder_text(actor: Actor) -> str:
    return json.dumps(asdict(actor))


def holder_of(raw: bytes | None) -> Actor | None:
    if not raw:
        return None
    try:
        return Actor(**json.loads(raw))
    except (ValueError, TypeError):
        return None


def append_and_release(host: Host, log: str, line: bytes, path: str, actor: Actor) -> None:
    """Append ``line`` to the log at ``log``, then remove the lock while ``actor`` holds it, in one round
    trip; the lock goes even when the append fails (which raises afterwards)."""
    argv = commands.append_and_release_own_lock(log, path, _holder_text(actor))
    host.run(argv, stdin=line).check(host.name)


def release(host: Host, path: str, actor: Actor | None = None) -> None:
    """Remove the lock: only while ``actor`` holds it when given, whoever holds it otherwise (unlock)."""
    argv = (
        commands.remove_file(path) if actor is None else commands.release_own_lock(path, _holder_text(actor))
    )
    host.run(argv).check(host.name)
