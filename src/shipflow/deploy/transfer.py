"""The release image travels to a server without a registry: ``docker save`` here, compressed, streamed over
the SSH connection into ``gunzip | docker load`` there. Nothing is sent when the server already has the
image id (the id, not the tag, is compared). With a registry configured, push here and pull there instead.

Command builders are pure functions; :func:`ensure_image` does the I/O.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import subprocess
import tarfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from shipflow.deploy.commands import Release
from shipflow.hosts.base import HostError
from shipflow.hosts.dryrun import DryRunHost
from shipflow.images.facts import host_has_image

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from shipflow.hosts.base import CommandResult, Host
    from shipflow.report import Reporter

CHUNK = 256 * 1024
PROGRESS_EVERY = 2.0


class TransferFailed(HostError):
    """The image could not be read here or loaded there."""


@runtime_checkable
class StreamingHost(Protocol):
    """A host that can feed a command an arbitrarily long stream (the SSH host)."""

    @property
    def name(self) -> str: ...

    def run_stream(
        self,
        argv: Sequence[str],
        chunks: Iterable[bytes] | None,
        *,
        timeout: float | None = None,
    ) -> CommandResult: ...


# --- commands as data -----------------------------------------------------------------------------


def save_argv(reference: str) -> list[str]:
    """``docker save`` of a reference on this machine (its tags travel with it)."""
    return ["docker", "save", reference]


def load_argv() -> list[str]:
    """What the server runs, reading the gzip stream on stdin."""
    return ["sh", "-c", "gunzip | docker load"]


def tag_argv(image_id: str, reference: str) -> list[str]:
    return ["docker", "tag", image_id, reference]


def registry_reference(registry: str, reference: str) -> str:
    """``registry.example.com/team/app:sha`` for ``app:sha`` under ``registry`` (a host and optional path)."""
    return f"{registry.rstrip('/')}/{reference}"


def push_argvs(registry: str, reference: str) -> list[list[str]]:
    """What runs here to publish ``reference`` to ``registry``."""
    remote = registry_reference(registry, reference)
    return [["docker", "tag", reference, remote], ["docker", "push", remote]]


def pull_argvs(registry: str, reference: str) -> list[list[str]]:
    """What runs on the server to fetch ``reference`` from ``registry`` under its own name."""
    remote = registry_reference(registry, reference)
    return [["docker", "pull", remote], ["docker", "tag", remote, reference]]


def human_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


# --- the image on this side -----------------------------------------------------------------------


@dataclass(frozen=True)
class LocalImage:
    """A release image as this machine has it: its id, and a way to read it as a ``docker save`` tar."""

    release: Release
    image_id: str
    source: Callable[[], Iterator[bytes]]
    origin: str  # "docker engine" or the archive's path

    @property
    def short_id(self) -> str:
        return self.image_id.removeprefix("sha256:")[:12]


def docker_save_stream(reference: str) -> Iterator[bytes]:
    """The bytes of ``docker save REFERENCE`` from this machine's engine (``DOCKER_HOST`` applies)."""
    with subprocess.Popen(
        save_argv(reference), stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    ) as saving:
        stdout, stderr = saving.stdout, saving.stderr
        if stdout is None or stderr is None:  # pragma: no cover - both are pipes
            raise TransferFailed("local: docker save gave no output pipe")
        while chunk := stdout.read(CHUNK):
            yield chunk
        error = stderr.read().decode("utf-8", "replace").strip()
        if saving.wait() != 0:
            raise TransferFailed(f"local: `docker save {reference}` failed: {error}")


def engine_image(reference: str) -> LocalImage:
    """``reference`` (a tag or id) from this machine's docker engine."""
    template = '{"id":{{json .Id}},"labels":{{json .Config.Labels}}}'
    try:
        done = subprocess.run(
            ["docker", "image", "inspect", "--format", template, reference],
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError as error:
        raise TransferFailed("local: docker is not installed (run `bash scripts/setup.sh`)") from error
    if done.returncode != 0:
        raise TransferFailed(
            f"local: image {reference} is not in this machine's docker engine: build it with `inv build`"
        )
    facts = json.loads(done.stdout)
    return LocalImage(
        release=Release.from_labels(reference, facts.get("labels") or {}),
        image_id=facts["id"],
        source=lambda: docker_save_stream(reference),
        origin="the local docker engine (docker save)",
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
    labels = (json.loads(config_bytes).get("config") or {}).get("Labels") or {}
    tags = manifest[0].get("RepoTags") or []
    return LocalImage(
        release=Release.from_labels(tags[0] if tags else image_id, labels),
        image_id=image_id,
        source=lambda: _file_chunks(path),
        origin=str(path),
    )


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            yield chunk


# --- sending ------------------------------------------------------------------------------------


@dataclass
class Progress:
    """Counts what went through and prints a line with bytes and rate every few seconds."""

    label: str
    reporter: Reporter
    raw: int = 0
    sent: int = 0
    started: float = 0.0
    printed: float = 0.0

    def line(self, final: bool = False) -> str:
        seconds = max(time.monotonic() - self.started, 1e-6)
        verb = "sent" if final else "sending"
        return (
            f"  {self.label}: {verb} {human_bytes(self.sent)} (gzip of {human_bytes(self.raw)}) "
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
    """What :func:`ensure_image` did: ``sent`` is False when the host already had the image."""

    sent: bool
    raw_bytes: int = 0
    sent_bytes: int = 0
    seconds: float = 0.0
    method: str = "none"  # none | ssh | registry

    def audit(self) -> str:
        if not self.sent:
            return "already on the host"
        if self.method == "registry":
            return "pulled from the registry"
        return f"sent {self.sent_bytes} bytes over ssh in {self.seconds:.1f}s"


def _tag(host: Host, image: LocalImage) -> None:
    if not image.release.image.startswith("sha256:") and not host_has_image(host, image.release.image):
        host.run(tag_argv(image.image_id, image.release.image)).check(host.name)


def ensure_image(
    host: Host, image: LocalImage, reporter: Reporter, *, registry: str | None = None
) -> TransferResult:
    """Make ``image`` present on ``host`` under its id and its release tag, sending it only when absent."""
    if host_has_image(host, image.image_id):
        reporter.line(f"  {image.release.image} ({image.short_id}) is already on {host.name}: nothing sent")
        _tag(host, image)
        return TransferResult(sent=False)
    if isinstance(host, DryRunHost):
        if registry is not None:
            for argv in pull_argvs(registry, image.release.image):
                host.run(argv)  # printed, not run
        else:
            reporter.line(
                f"  would send {image.release.image} ({image.short_id}) from {image.origin}, gzipped, "
                f"into `{shlex.join(load_argv())}` on {host.name}"
            )
        return TransferResult(sent=False)
    if registry is not None:
        for argv in pull_argvs(registry, image.release.image):
            host.run(argv).check(host.name)
        result = TransferResult(sent=True, method="registry")
    elif isinstance(host, StreamingHost):
        result = _stream(host, image, reporter)
    else:
        raise TransferFailed(f"{host.name}: cannot stream an image to this kind of host")
    if not host_has_image(host, image.image_id):
        raise TransferFailed(
            f"{host.name}: image {image.short_id} is still missing after the transfer ({result.audit()})"
        )
    _tag(host, image)
    return result


def _stream(host: StreamingHost, image: LocalImage, reporter: Reporter) -> TransferResult:
    progress = Progress(f"{image.release.image} -> {host.name}", reporter)
    reporter.line(f"  {image.release.image} ({image.short_id}) is not on {host.name}: streaming it over ssh")
    source = image.source()
    try:
        loaded = host.run_stream(load_argv(), progress.gzip(source))
    finally:
        close = getattr(source, "close", None)
        if callable(close):
            close()  # stops `docker save` when the server ended the load early
    if not loaded.ok:
        detail = (loaded.stderr or loaded.stdout).strip().splitlines()[-3:]
        raise TransferFailed(f"{host.name}: `gunzip | docker load` failed: {' '.join(detail)}")
    reporter.line(progress.line(final=True))
    seconds = time.monotonic() - progress.started
    return TransferResult(True, progress.raw, progress.sent, seconds, "ssh")


def _is_progress(line: str) -> bool:
    """The lines of `docker push`/`docker load` worth showing: one per layer done, and the digest."""
    return line.endswith(("Pushed", "Layer already exists")) or "digest:" in line or line.startswith("Loaded")


def _run_here(argv: Sequence[str], reporter: Reporter) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` on this machine, passing its progress lines on as they come (a push takes a while)."""
    try:
        with subprocess.Popen(
            list(argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
        ) as process:
            if process.stdout is None:  # pragma: no cover - it is a pipe
                raise TransferFailed(f"local: {argv[0]} gave no output pipe")
            output: list[str] = []
            for raw in process.stdout:
                output.append(raw.rstrip())
                if _is_progress(output[-1]):
                    reporter.line(f"    {output[-1]}")
            tail = "\n".join(output[-5:])  # what a failure shows
            return subprocess.CompletedProcess(list(argv), process.wait(), "\n".join(output), tail)
    except FileNotFoundError as error:
        raise TransferFailed(
            f"local: {argv[0]} is not installed; pushing to a registry needs docker here "
            "(run `bash scripts/setup.sh`)"
        ) from error


def load_here_argv(archive: Path) -> list[str]:
    """``docker load`` of an image archive into this machine's engine (to push it to a registry)."""
    return ["docker", "load", "--input", str(archive)]


def publish(
    image: LocalImage,
    registry: str,
    reporter: Reporter,
    *,
    archive: Path | None = None,
    dry_run: bool = False,
) -> None:
    """Push ``image`` from this machine's engine to ``registry`` (once, after approval, before any host
    pulls it); an ``archive`` (``--image-archive``) is loaded into the engine first."""
    if image.release.image.startswith("sha256:"):
        raise TransferFailed(
            f"{image.origin}: image {image.short_id} has no name:tag to push to {registry}; "
            "give a tagged image (`docker save -o FILE name:tag`)"
        )
    argvs = ([load_here_argv(archive)] if archive is not None else []) + push_argvs(
        registry, image.release.image
    )
    for argv in argvs:
        if dry_run:
            reporter.line(f"  would run here: {shlex.join(argv)}")
            continue
        reporter.line(f"  {shlex.join(argv)}")
        done = _run_here(argv, reporter)
        if done.returncode != 0:
            raise TransferFailed(f"local: `{shlex.join(argv)}` failed: {done.stderr.strip()}")
