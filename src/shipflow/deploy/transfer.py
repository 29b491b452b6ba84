"""The release image travels to a server without a registry: ``docker save`` here, compressed, streamed over
the SSH connection into ``gunzip | docker load`` there. Nothing is sent when the server already has the
image id (the id, not the tag, is compared), and the layers it already holds stay out of the archive
(:mod:`shipflow.deploy.layers`): a commit that changes the code sends the code's layers, not the base
image's. With a registry configured, push here and pull there instead.

The commands are built in :mod:`shipflow.deploy.commands`; this machine's side (``docker push``,
``docker load`` of an archive) runs on a :class:`~shipflow.hosts.base.Host` like the server's side, so a dry
run rehearses both.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import subprocess
import tarfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from shipflow.deploy import commands, layers
from shipflow.deploy.commands import Release
from shipflow.hosts.base import HostError
from shipflow.images.facts import host_has_image

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from shipflow.hosts.base import CommandResult, Host
    from shipflow.report import Reporter

CHUNK = 256 * 1024
PROGRESS_EVERY = 2.0


class TransferFailed(HostError):
    """The image could not be read here or loaded there."""


def human_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


# --- the image on this side -----------------------------------------------------------------------


@dataclass(frozen=True)
class LocalImage:
    """A release image as this machine has it: its id, a way to read it as a ``docker save`` tar, its
    layers' diff ids, bottom first (none known: the whole archive is always sent), and its labels."""

    release: Release
    image_id: str
    source: Callable[[], Iterator[bytes]]
    origin: str  # "docker engine" or the archive's path
    diff_ids: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def short_id(self) -> str:
        return self.image_id.removeprefix("sha256:")[:12]


def docker_save_stream(reference: str) -> Iterator[bytes]:
    """The bytes of ``docker save REFERENCE`` from this machine's engine (``DOCKER_HOST`` applies)."""
    with subprocess.Popen(
        commands.save_image(reference),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    ) as saving:
        stdout, stderr = saving.stdout, saving.stderr
        if stdout is None or stderr is None:  # pragma: no cover - both are pipes
            raise TransferFailed("local: docker save gave no output pipe")
        while chunk := stdout.read(CHUNK):
            yield chunk
        error = stderr.read().decode("utf-8", "replace").strip()
        if saving.wait() != 0:
            raise TransferFailed(f"local: `{shlex.join(commands.save_image(reference))}` failed: {error}")


def engine_image(here: Host, reference: str) -> LocalImage:
    """``reference`` (a tag or id) from this machine's docker engine (``here``)."""
    found = here.query(commands.image_facts(reference))
    if not found.ok:
        raise TransferFailed(
            f"local: image {reference} is not in this machine's docker engine: build it with `inv build`"
        )
    facts = json.loads(found.stdout)
    return LocalImage(
        release=Release.from_labels(reference, facts.get("labels") or {}),
        image_id=facts["id"],
        source=lambda: docker_save_stream(reference),
        origin="the local docker engine (docker save)",
        diff_ids=tuple(facts.get("layers") or ()),
        labels=facts.get("labels") or {},
    )


def archive_image(path: Path) -> LocalImage:
    """An image saved with ``docker save -o PATH`` (e.g. a CI build job's artifact): no engine needed here.

    The image id is the sha256 of its config, exactly as docker computes it.
    """
    try:
        with tarfile.open(path) as archive:
            manifest_member = archive.extractfile("manifest.json")
            if manifest_member is None:
                raise KeyError("manifest.json")
            manifest = json.loads(manifest_member.read())
            if len(manifest) != 1:
                raise TransferFailed(f"{path}: holds {len(manifest)} images; save exactly one")
            config_member = archive.extractfile(manifest[0]["Config"])
            if config_member is None:
                raise KeyError(manifest[0]["Config"])
            config_bytes = config_member.read()
    except (OSError, tarfile.TarError, KeyError, ValueError) as error:
        raise TransferFailed(f"{path}: not an image archive written by `docker save -o` ({error})") from None
    image_id = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    config = json.loads(config_bytes)
    labels = (config.get("config") or {}).get("Labels") or {}
    tags = manifest[0].get("RepoTags") or []
    return LocalImage(
        release=Release.from_labels(tags[0] if tags else image_id, labels),
        image_id=image_id,
        source=lambda: _file_chunks(path),
        origin=str(path),
        diff_ids=tuple((config.get("rootfs") or {}).get("diff_ids") or ()),
        labels=labels,
    )


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            yield chunk


# --- sending ------------------------------------------------------------------------------------


@dataclass
class Progress:
    """Counts what went through (and the layers left out) and prints a line with bytes and rate every few
    seconds."""

    label: str
    reporter: Reporter
    raw: int = 0
    sent: int = 0
    started: float = 0.0
    printed: float = 0.0
    omitted: layers.Omitted = field(default_factory=layers.Omitted)

    def line(self, final: bool = False) -> str:
        seconds = max(time.monotonic() - self.started, 1e-6)
        verb = "sent" if final else "sending"
        held = f"; {human_bytes(self.omitted.size)} already on the server" if self.omitted.size else ""
        return (
            f"  {self.label}: {verb} {human_bytes(self.sent)} (gzip of {human_bytes(self.raw)}{held}) "
            f"in {seconds:.1f}s, {human_bytes(self.sent / seconds)}/s"
        )

    def gzip(self, chunks: Iterable[bytes], level: int = 1) -> Iterator[bytes]:
        """``chunks`` gzip-compressed, counted, with a progress line now and then."""
        self.started = self.printed = time.monotonic()
        compressor = zlib.compressobj(level, zlib.DEFLATED, 31)  # 31: gzip framing
        for chunk in chunks:
            self.raw += len(chunk)
            packed = compressor.compress(chunk)
            if packed:
                self.sent += len(packed)
                yield packed
            if time.monotonic() - self.printed >= PROGRESS_EVERY:
                self.printed = time.monotonic()
                self.reporter.line(self.line())
        tail = compressor.flush()
        self.sent += len(tail)
        yield tail


@dataclass(frozen=True)
class TransferResult:
    """What :func:`ensure_image` did: ``sent`` is False when the host already had the image.

    ``sent_bytes`` are the gzipped bytes that went over the connection (every attempt's), ``raw_bytes`` the
    archive they compressed, ``skipped_bytes`` the layers left out of it because the host held them."""

    sent: bool
    raw_bytes: int = 0
    sent_bytes: int = 0
    seconds: float = 0.0
    method: str = "none"  # none | ssh | registry
    skipped_bytes: int = 0

    def audit(self) -> str:
        if not self.sent:
            return "already on the host"
        if self.method == "registry":
            return "pulled from the registry"
        held = f" ({self.skipped_bytes} bytes of layers already on the host)" if self.skipped_bytes else ""
        return f"sent {self.sent_bytes} bytes over ssh in {self.seconds:.1f}s{held}"


def _tag(host: Host, image: LocalImage) -> None:
    if not image.release.image.startswith("sha256:") and not host_has_image(host, image.release.image):
        host.run(commands.tag_image(image.image_id, image.release.image)).check(host.name)


def ensure_image(
    host: Host, image: LocalImage, reporter: Reporter, *, registry: str | None = None
) -> TransferResult:
    """Make ``image`` present on ``host`` under its id and its release tag, sending it only when absent.

    Over SSH, one query tells both whether the host has the image and which of its layers it holds, and the
    load itself reports the id and the tags it gave the image."""
    held = layers.parse_held(host.query(commands.held_layers()).stdout) if registry is None else None
    present = image.image_id in held.image_ids if held is not None else host_has_image(host, image.image_id)
    if present:
        reporter.line(f"  {image.release.image} ({image.short_id}) is already on {host.name}: nothing sent")
        _tag(host, image)
        return TransferResult(sent=False)
    if host.rehearses and registry is None:
        reporter.line(
            f"  would send {image.release.image} ({image.short_id}) from {image.origin}, gzipped and without "
            f"the layers {host.name} holds, into `gunzip | docker load` there"
        )
        return TransferResult(sent=False)
    if held is not None:
        result, tags = _stream(host, image, reporter, held)
    else:
        result, tags = _pull(host, image, registry or "")
    if host.rehearses:
        return TransferResult(sent=False)
    if image.release.image not in tags:
        _tag(host, image)
    return result


def _pull(host: Host, image: LocalImage, registry: str) -> tuple[TransferResult, set[str]]:
    for argv in commands.pull_image(registry, image.release.image):
        host.run(argv).check(host.name)
    result = TransferResult(sent=True, method="registry")
    if not host.rehearses and not host_has_image(host, image.image_id):
        raise TransferFailed(
            f"{host.name}: image {image.short_id} is still missing after the transfer ({result.audit()})"
        )
    return result, set()


def layers_to_leave_out(image: LocalImage, held: layers.Held) -> frozenset[layers.Layer]:
    """The image's layers the host already holds; none when the image's layers are unknown."""
    if not image.diff_ids:
        return frozenset()
    return layers.omittable(layers.image_layers(image.diff_ids), held.chains)


def _stream(
    host: Host, image: LocalImage, reporter: Reporter, held: layers.Held
) -> tuple[TransferResult, set[str]]:
    """Send the image without the layers ``held``; what was sent and the tags the load gave it. The load
    fails unless the image's id is on the host afterwards."""
    reporter.line(f"  {image.release.image} ({image.short_id}) is not on {host.name}: streaming it over ssh")
    omit = layers_to_leave_out(image, held)
    started = time.monotonic()
    progress, loaded = _send(host, image, reporter, omit)
    attempts = [progress]
    if not loaded.ok and omit:
        reporter.line(
            f"  {host.name}: docker load refused the archive without the {len(omit)} layer(s) it holds "
            f"({_load_error(loaded)}): sending the whole image"
        )
        progress, loaded = _send(host, image, reporter, frozenset())
        attempts.append(progress)
    if not loaded.ok:
        raise TransferFailed(f"{host.name}: `gunzip | docker load` failed: {_load_error(loaded)}")
    found = loaded.stdout.strip().splitlines()[-1:] or [""]
    if found[0] != image.image_id:
        raise TransferFailed(
            f"{host.name}: image {image.short_id} is still missing after the transfer (the load left "
            f"{found[0] or 'no image'})"
        )
    reporter.line(progress.line(final=True))
    result = TransferResult(
        sent=True,
        raw_bytes=sum(attempt.raw for attempt in attempts),
        sent_bytes=sum(attempt.sent for attempt in attempts),
        seconds=time.monotonic() - started,
        method="ssh",
        skipped_bytes=progress.omitted.size,
    )
    return result, commands.loaded_tags(loaded.stdout)


def _send(
    host: Host, image: LocalImage, reporter: Reporter, omit: frozenset[layers.Layer]
) -> tuple[Progress, CommandResult]:
    """One ``docker save`` stream without the layers in ``omit`` into ``gunzip | docker load`` on ``host``."""
    progress = Progress(f"{image.release.image} -> {host.name}", reporter)
    source = image.source()
    try:
        archive = layers.thin_archive(source, omit, progress.omitted)
        loaded = host.run_stream(commands.load_gzipped_image(image.image_id), progress.gzip(archive))
    except tarfile.TarError as error:
        raise TransferFailed(
            f"local: {image.origin} is not a readable `docker save` archive: {error}"
        ) from None
    finally:
        close = getattr(source, "close", None)
        if callable(close):
            close()  # stops `docker save` when the server ended the load early
    return progress, loaded


def _load_error(loaded: CommandResult) -> str:
    return " ".join((loaded.stderr or loaded.stdout).strip().splitlines()[-3:])


def _is_progress(line: str) -> bool:
    """The lines of `docker push`/`docker load` worth showing: one per layer done, and the digest."""
    return line.endswith(("Pushed", "Layer already exists")) or "digest:" in line or line.startswith("Loaded")


def publish(
    image: LocalImage, registry: str, here: Host, reporter: Reporter, *, archive: Path | None = None
) -> None:
    """Push ``image`` from this machine's engine (``here``) to ``registry`` (once, after approval, before any
    host pulls it); an ``archive`` (``--image-archive``) is loaded into the engine first."""
    if image.release.image.startswith("sha256:"):
        raise TransferFailed(
            f"{image.origin}: image {image.short_id} has no name:tag to push to {registry}; "
            "give a tagged image (`docker save -o FILE name:tag`)"
        )
    loads = [commands.load_image_archive(str(archive))] if archive is not None else []

    def progress(line: str) -> None:
        if _is_progress(line.rstrip()):
            reporter.line(f"    {line.rstrip()}")

    for argv in [*loads, *commands.push_image(registry, image.release.image)]:
        if not here.rehearses:
            reporter.line(f"  {shlex.join(argv)}")
        done = here.run_stream(argv, None, on_line=progress)
        if not done.ok:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
            raise TransferFailed(f"local: `{shlex.join(argv)}` failed: {tail}")
