"""The bake window on one host: after the switch the old slot keeps running while the new release is
watched (the app's access log, read as it grows, and probes every second, directly to the new slot and
through the front); a breach switches traffic back at once and removes the new release.

The judging is :mod:`shipflow.deploy.bake`'s; this module only reads the host and waits.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipflow.deploy import audit, bake, commands, traffic_log
from shipflow.deploy.context import DeployFailed

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from shipflow.deploy.commands import Release, Slot
    from shipflow.deploy.context import Deployment
    from shipflow.deploy.runrecord import RunRecord
    from shipflow.deploy.settings import TargetSettings

TICK_SECONDS = 0.25
PROBE_SECONDS = 1.0
LINE_SECONDS = 10.0
PROBE_TIMEOUT = 2.0  # a hanging release fails its probes quickly (3 in a row breach)
INTERRUPTED = threading.Event()
"""Set when the process is interrupted while hosts deploy in threads of their own (``--parallel``): the
signal reaches only the main thread, so each host's window checks this and switches back as Ctrl-C would."""


def record_path(target: TargetSettings) -> str:
    """Present while a release bakes: which one, where, since when, and the slot it would go back to."""
    return f"{target.state_dir}/bake.json"


def read_record(d: Deployment) -> dict[str, Any] | None:
    raw = d.host.read_file(record_path(d.target))
    if raw is None:
        return None
    try:
        found = json.loads(raw)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def forget_interrupted(d: Deployment, kind: str) -> None:
    """Under the lock, a bake record means the run that baked was killed. Under nat the recorded rule still
    names the old slot and has been put back by then; under reload the include names the new slot, which
    keeps serving. Either way the record goes, with a line saying so."""
    found = read_record(d)
    if found is None:
        return
    d.run(commands.remove_file(record_path(d.target)))
    sha = commands.short_sha(str(found.get("sha") or "") or None)
    where = (
        f"traffic is on {found.get('old_slot', '?')} again"
        if kind == "nat"
        else f"{found.get('slot', '?')} keeps serving (switch = reload records no bake)"
    )
    d.reporter.line(f"  a deploy was killed while {sha} baked: {where}")


class _Breached(Exception):
    """Ends the bake step as failed; the revert follows outside it."""


class Reverted(DeployFailed):
    """The new release breached during its bake window: traffic is back on the old release."""


@dataclass(frozen=True)
class Before:
    """Taken just before the switch: where the log ends, and the old release's figures."""

    offset: int = 0
    baseline: bake.Figures | None = None


def host_clock(d: Deployment) -> float:
    answered = d.host.query(traffic_log.clock())
    try:
        return float(answered.stdout.strip())
    except ValueError:
        return time.time()


def before_switch(d: Deployment, serving_sha: str | None) -> Before:
    """The log's end (the bake reads from there) and the figures of the last minutes' requests the serving
    release answered."""
    path = traffic_log.log_path(d.target)
    sized = d.host.query(traffic_log.size(path))
    if not sized.ok or not sized.stdout.strip().isdigit():
        return Before()
    offset = int(sized.stdout.strip())
    lines = d.host.query(traffic_log.read_end(path)).stdout.splitlines()
    if offset > traffic_log.BASELINE_BYTES:
        lines = lines[1:]  # the first line read is cut
    figures = bake.baseline(traffic_log.parse(lines), host_clock(d), serving_sha)
    return Before(offset, figures if figures.requests else None)


@dataclass
class _Watch:
    """What the window has seen so far."""

    offset: int
    new: list[bake.Sample] = field(default_factory=list)
    old: list[bake.Sample] = field(default_factory=list)
    health_failures: int = 0

    def read_log(self, d: Deployment, new_sha: str, switched_at: float | None) -> None:
        text = d.host.query(traffic_log.read_from(traffic_log.log_path(d.target), self.offset)).stdout
        lines, used = traffic_log.complete_lines(text)
        self.offset += used
        new, old = bake.attribute(traffic_log.parse(lines), new_sha, switched_at)
        self.new += new
        self.old += old

    def probe(self, d: Deployment, slot: Slot) -> None:
        """The health path and each path directly on the new slot (counted as its requests), and each path
        through the front (which the log counts)."""
        direct = f"http://127.0.0.1:{slot.port}"
        status, _ = commands.parse_timed_probe(
            d.host.query(commands.timed_probe(direct + d.settings.health.path, PROBE_TIMEOUT)).stdout
        )
        self.health_failures = 0 if status == 200 else self.health_failures + 1
        front = d.target.public_url.rstrip("/")
        for path in d.settings.bake.paths:
            answered = d.host.query(commands.timed_probe(direct + path, PROBE_TIMEOUT)).stdout
            self.new.append(bake.Sample(*commands.parse_timed_probe(answered)))
            d.host.query(commands.timed_probe(front + path, PROBE_TIMEOUT))


@dataclass(frozen=True)
class Baked:
    """How a window ended: the verdict, the new release's figures (and the old one's stragglers), the
    old release's figures from before the deploy, and how long it was watched."""

    verdict: bake.Verdict
    new: bake.Figures
    old: bake.Figures
    baseline: bake.Figures | None
    seconds: float
    offset: int = 0  # where the log ended when the window did

    def audit(self, window: float) -> dict[str, Any]:
        found: dict[str, Any] = {
            "window_s": window,
            "watched_s": round(self.seconds, 3),
            "new": self.new.as_dict(),
            "old": self.old.as_dict(),
        }
        if self.baseline is not None:
            found["baseline"] = self.baseline.as_dict()
        if self.verdict.breached:
            found["breach"] = self.verdict.reason
        return found


def watch(
    d: Deployment, slot: Slot, release: Release, before: Before, window: float, *, label: str, shared: bool
) -> Baked:
    """Watch ``release`` in ``slot`` for ``window`` seconds from the log's ``before.offset``, or until it
    breaches; a line every 10 s. ``shared``: the old release still takes traffic (a canary step), so only
    the release header attributes a request, never the time it ended."""
    settings = d.settings.bake
    within = bake.limits(settings, before.baseline)
    switched_at = None if shared else host_clock(d)
    watch = _Watch(before.offset)
    started = time.monotonic()
    next_probe = next_line = started
    verdict = bake.Verdict(False)
    while True:
        if INTERRUPTED.is_set():
            raise KeyboardInterrupt
        now = time.monotonic()
        if now >= next_probe:
            watch.probe(d, slot)
            next_probe = now + PROBE_SECONDS
        watch.read_log(d, release.sha, switched_at)
        new = bake.Figures.of(watch.new)
        verdict = bake.judge(new, within, settings.min_requests, watch.health_failures)
        elapsed = time.monotonic() - started
        if verdict.breached or elapsed >= window:
            break
        if now >= next_line + LINE_SECONDS:
            next_line = now
            d.reporter.line(line(label, elapsed, new, bake.Figures.of(watch.old), before, shared))
        time.sleep(TICK_SECONDS)
    old = bake.Figures.of(watch.old)
    return Baked(verdict, new, old, before.baseline, time.monotonic() - started, watch.offset)


def line(
    label: str,
    seconds: float,
    new: bake.Figures,
    old: bake.Figures,
    before: Before,
    shared: bool,
    verdict: bake.Verdict = bake.Verdict(False),  # noqa: B008 - a frozen value
) -> str:
    """A step's line; beside the new release, the old one's requests in the same time when it shares the
    traffic, else its figures from before the deploy."""
    if shared:
        return bake.line(label, seconds, new, old, verdict, old_label="old")
    return bake.line(label, seconds, new, before.baseline, verdict)


@contextmanager
def marked(d: Deployment, release: Release, slot: Slot, old_slot: str, **what: object) -> Iterator[None]:
    """The bake record on the host while ``release`` bakes in ``slot`` (or takes a canary's share), so
    ``deploy.status`` shows it and a run after a killed one knows; removed at the end, whatever happens."""
    marker = {"sha": release.sha, "slot": slot.name, "old_slot": old_slot, "since": audit.utc_now(), **what}
    d.host.write_file(record_path(d.target), json.dumps(marker).encode())
    try:
        yield
    finally:
        d.best_effort("remove the bake record", lambda: d.run(commands.remove_file(record_path(d.target))))


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM during the window interrupts it like Ctrl-C, so traffic goes back before the process ends
    (only the main thread can take signals; a parallel rollout's hosts are interrupted through it)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def bake_or_revert(
    d: Deployment,
    slot: Slot,
    release: Release,
    before: Before,
    window: float,
    record: RunRecord,
    *,
    switched_in_force: float,
    route_back: Callable[[], None],
    remove_new: Callable[[], None],
    old: tuple[str, str],
) -> None:
    """Watch ``release`` in ``slot`` for ``window`` seconds (``old``: the old slot's name, and how lines
    name it with its release). On a breach (or an interruption): traffic back (``route_back``), the new
    release removed (``remove_new``), :class:`Reverted` raised, whose one line says what breached; the
    figures go in ``record`` either way."""
    old_slot, old_name = old
    with marked(d, release, slot, old_slot, window_s=window):
        baked = _watched(d, slot, release, before, window, record, old_name, (route_back, remove_new))
        d.reporter.line(line("bake", baked.seconds, baked.new, baked.old, before, False, baked.verdict))
        if not baked.verdict.breached:
            return
        route_back()
        after = round(time.monotonic() - switched_in_force, 3)
        record.bake = {**(record.bake or {}), "reverted_after_s": after}
        remove_new()
        raise Reverted(
            f"bake: release {commands.short_sha(release.sha)} breached ({baked.verdict.reason}); traffic is "
            f"back on {old_name} after {after:.1f} s and the new release was removed"
        )


def _watched(
    d: Deployment,
    slot: Slot,
    release: Release,
    before: Before,
    window: float,
    record: RunRecord,
    old_name: str,
    undo: tuple[Callable[[], None], Callable[[], None]],
) -> Baked:
    """The window's figures; an interruption routes back and removes the new release first (``undo``)."""
    try:
        with (
            sigterm_interrupts(),
            d.reporter.step("bake", f"{window:g} s; {old_name} keeps running") as step,
        ):
            baked = watch(d, slot, release, before, window, label="bake", shared=False)
            record.bake = baked.audit(window)
            step.detail = f"{old_name} can stop"
            if baked.verdict.breached:
                step.detail = f"breach: {baked.verdict.reason}"
                raise _Breached
    except _Breached:
        pass
    except BaseException:
        route_back, remove_new = undo
        route_back()
        d.reporter.line(f"  interrupted: traffic is back on {old_name}")
        remove_new()
        raise
    return baked
