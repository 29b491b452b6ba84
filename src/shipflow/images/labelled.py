"""A build's labels as one ``LABEL`` instruction at the end of the Dockerfile, rather than one step each.

docker's classic builder turns every ``--label`` into an instruction of its own: seven labels are seven
steps, each committing a container, on every build of a new commit. The same labels written as one
instruction cost one step. The build context (a ``git archive`` of the commit) gets a copy of the
Dockerfile with that line appended, under shipflow's own name, and a ``.dockerignore`` entry for it, so that
the engine drops the copy from the context once it has read it: what ``COPY`` sees is the commit's files.

Labels whose text a Dockerfile would read differently (quotes, ``$``, escape characters, line breaks) are
not written this way; the build then passes them as ``--label`` as before.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
import time
from collections.abc import Mapping
from typing import IO

LABELLED_DOCKERFILE = ".shipflow-build.Dockerfile"
"""The copy of the project's Dockerfile, with the labels, that a build reads instead."""
DOCKERIGNORE = ".dockerignore"
_UNSAFE = frozenset('"\\`$\n\r')


def label_instruction(labels: Mapping[str, str]) -> str | None:
    """``LABEL "k"="v" ...`` (sorted by key), or None when a key or value holds a character a Dockerfile
    would interpret."""
    if not labels or any(_UNSAFE & set(key + value) for key, value in labels.items()):
        return None
    return "LABEL " + " ".join(f'"{key}"="{value}"' for key, value in sorted(labels.items()))


def labelled_dockerfile(original: str, labels: Mapping[str, str]) -> str | None:
    """``original`` with the labels' instruction as its last line; None when they cannot be written so, or
    when the file ends inside a continued line (the instruction would join it)."""
    instruction = label_instruction(labels)
    if instruction is None:
        return None
    lines = [line for line in original.splitlines() if line.strip()]
    if lines and lines[-1].rstrip().endswith(("\\", "`")):
        return None
    return f"{original.rstrip()}\n{instruction}\n"


def dockerignore_with(original: bytes | None, name: str) -> bytes:
    """The context's ``.dockerignore`` naming ``name`` too; without one, a new one that also names itself,
    so that the engine drops both and the context is the commit's files only."""
    if original is None:
        return f"{DOCKERIGNORE}\n{name}\n".encode()
    separator = b"" if not original or original.endswith(b"\n") else b"\n"
    return original + separator + f"{name}\n".encode()


def add_labelled_dockerfile(context: IO[bytes], dockerfile: str, labels: Mapping[str, str]) -> str | None:
    """Append the labelled copy of ``dockerfile`` (and the ``.dockerignore`` naming it) to the uncompressed
    tar ``context``; the Dockerfile to build with, or None when the labels must go as ``--label``."""
    wanted = posixpath.normpath(dockerfile)
    context.seek(0)
    with tarfile.open(fileobj=context, mode="r:") as archive:
        members = {posixpath.normpath(member.name): member for member in archive.getmembers()}
        if LABELLED_DOCKERFILE in members or wanted not in members:
            return None
        original = _read(archive, members[wanted])
        ignore = members.get(DOCKERIGNORE)
        ignored = _read(archive, ignore) if ignore is not None else None
    if original is None:
        return None
    text = labelled_dockerfile(original.decode("utf-8", "replace"), labels)
    if text is None:
        return None
    context.seek(0)
    with tarfile.open(fileobj=context, mode="a:") as archive:
        _add(archive, LABELLED_DOCKERFILE, text.encode())
        _add(archive, DOCKERIGNORE, dockerignore_with(ignored, LABELLED_DOCKERFILE))
    context.seek(0)
    return LABELLED_DOCKERFILE


def _read(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes | None:
    stream = archive.extractfile(member) if member.isfile() else None
    return None if stream is None else stream.read()


def _add(archive: tarfile.TarFile, name: str, content: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(content), 0o644, int(time.time())
    archive.addfile(info, io.BytesIO(content))
