"""Thin image transfers: a ``docker save`` archive without the layers the server already holds.

``docker load`` looks each layer of the manifest up by its *chain id* (the layer on top of all the layers
below it) and reuses the one its engine holds without opening that layer's ``layer.tar``; so the
``layer.tar`` of every layer whose chain the server holds can stay here. Chain ids, not diff ids, decide:
the same files on top of other layers are another layer to docker.

Which layer a ``layer.tar`` is must be known before its bytes go by, but ``docker save`` (20.10) writes
the entries in name order, so ``manifest.json`` (which maps folders to layers) comes last, after every
layer. Hashing a ``layer.tar`` tells its diff id only once it has gone by, and holding layers back would
mean buffering the image. Instead, each layer folder is identified by its own ``json`` entry, which comes
just before its ``layer.tar``: docker names the folder with its legacy (v1) id, the sha256 of that json
with the layer's chain id in it (:func:`v1_layer_id`). Recomputing it for each chain id the server holds
proves which layer a folder carries, with nothing buffered. A folder that matches none (another writer,
another docker version) keeps its ``layer.tar``: a thicker archive, never a wrong one. In the OCI layout of
newer ``docker save`` (``blobs/sha256/<digest>``), an uncompressed layer's name is its diff id.

Pure functions over strings and byte chunks: no docker, no host.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Iterator, Sequence

    from _typeshed import WriteableBuffer

CHUNK = 256 * 1024
BLOCK = 512
END_OF_ARCHIVE = b"\0" * (2 * BLOCK)
LAYER_FILE = "layer.tar"
V1_JSON_FILE = "json"
V1_JSON_LIMIT = 1024 * 1024  # a layer folder's json is a few KB; anything larger is not read


@dataclass(frozen=True)
class Layer:
    """One layer of an image: its content's digest (diff id) and its place on the layers below (chain id)."""

    diff_id: str
    chain_id: str


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """Docker's chain id of each layer: the first one's diff id, then sha256 of "<chain below> <diff id>"."""
    chains: list[str] = []
    for diff_id in diff_ids:
        if not chains:
            chains.append(diff_id)
        else:
            chains.append("sha256:" + hashlib.sha256(f"{chains[-1]} {diff_id}".encode()).hexdigest())
    return chains


def image_layers(diff_ids: Sequence[str]) -> list[Layer]:
    """The layers of an image whose config lists ``diff_ids`` (``rootfs.diff_ids``, bottom first)."""
    return [Layer(diff_id, chain) for diff_id, chain in zip(diff_ids, chain_ids(diff_ids), strict=True)]


@dataclass(frozen=True)
class Held:
    """What a server's engine holds: its images' ids, and the chain id of every layer of theirs."""

    image_ids: frozenset[str] = frozenset()
    chains: frozenset[str] = frozenset()


def parse_held(stdout: str) -> Held:
    """The images and layers a server holds, from :func:`~shipflow.deploy.commands.held_layers`'s output
    (one ``{"id": ..., "layers": [diff ids]}`` object per image); a line that is not such an object is
    ignored."""
    ids: set[str] = set()
    chains: set[str] = set()
    for line in stdout.splitlines():
        try:
            image = json.loads(line)
        except ValueError:
            continue
        if not isinstance(image, dict) or not isinstance(image.get("id"), str):
            continue
        ids.add(image["id"])
        diff_ids = image.get("layers")
        if isinstance(diff_ids, list) and all(isinstance(diff_id, str) for diff_id in diff_ids):
            chains.update(chain_ids(diff_ids))
    return Held(frozenset(ids), frozenset(chains))


def omittable(layers: Sequence[Layer], held_chains: Collection[str]) -> frozenset[Layer]:
    """The layers whose ``layer.tar`` can stay here: the server holds their chain, and no layer it lacks has
    the same content (``docker save`` writes repeated content once and links the other folders to it)."""
    needed = {layer.diff_id for layer in layers if layer.chain_id not in held_chains}
    return frozenset(
        layer for layer in layers if layer.chain_id in held_chains and layer.diff_id not in needed
    )


# --- a layer folder's legacy id ---------------------------------------------------------------------


def _json_members(text: str) -> list[tuple[str, str]]:
    """The top-level (key, raw value text) pairs of a JSON object, values exactly as written."""
    decoder = json.JSONDecoder()
    members: list[tuple[str, str]] = []
    position = text.index("{") + 1
    while text[position] != "}":
        key, position = decoder.raw_decode(text, position)
        if not isinstance(key, str) or text[position] != ":":
            raise ValueError("not a JSON object of members")
        _, end = decoder.raw_decode(text, position + 1)
        members.append((key, text[position + 1 : end]))
        position = end + 1 if text[end] == "," else end
    return members


def v1_layer_id(v1_json: str, chain_id: str, *, top: bool) -> str:
    """The hex name ``docker save`` gives the folder of the layer with ``chain_id``, from the folder's json.

    Docker hashes the json before it adds the id, the parent's id and (below the top layer) ``os``, with
    ``layer_id`` (the chain id) and ``parent`` ("sha256:" + the parent folder's name) added, its keys
    sorted and every value as written: how Go writes a ``map[string]*json.RawMessage``.
    """
    members = dict(_json_members(v1_json))
    members.pop("id", None)
    parent = members.pop("parent", None)
    if not top:
        members.pop("os", None)
    members["layer_id"] = json.dumps(chain_id)
    if parent is not None:
        members["parent"] = json.dumps("sha256:" + json.loads(parent))
    text = "{" + ",".join(f"{json.dumps(key)}:{members[key]}" for key in sorted(members)) + "}"
    return hashlib.sha256(text.encode()).hexdigest()


def folder_chain(folder: str, v1_json: bytes, chains: Collection[str]) -> str | None:
    """The one of ``chains`` whose layer the folder named ``folder`` holds, or None when none is."""
    try:
        text = v1_json.decode("utf-8")
        for chain in chains:
            if folder in (v1_layer_id(text, chain, top=False), v1_layer_id(text, chain, top=True)):
                return chain
    except (ValueError, IndexError, TypeError):
        return None
    return None


# --- the archive, rewritten as it streams ------------------------------------------------------------


@dataclass
class Omitted:
    """What a thin archive left out so far: how many ``layer.tar`` files, and their bytes."""

    layers: int = 0
    size: int = 0


class _ChunkReader(io.RawIOBase):
    """Byte chunks as a readable file, for :mod:`tarfile`'s stream mode."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        target = memoryview(buffer).cast("B")
        size = min(len(target), len(self._pending))
        target[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def drain(self) -> None:
        """Read the source to its end, so that whatever produces it finishes (and reports its errors)."""
        for _ in self._chunks:
            pass


class _Selection:
    """Decides, entry by entry, which ``layer.tar`` stays out; remembers each folder's json until then."""

    def __init__(self, omit: Collection[Layer]) -> None:
        self.chains = {layer.chain_id for layer in omit}
        self.blobs = {layer.diff_id.removeprefix("sha256:") for layer in omit}
        self.folder_json: dict[str, bytes] = {}

    def wants_json(self, member: tarfile.TarInfo) -> bool:
        parts = member.name.split("/")
        return len(parts) == 2 and parts[1] == V1_JSON_FILE and member.size <= V1_JSON_LIMIT

    def leaves_out(self, member: tarfile.TarInfo) -> bool:
        if not member.isreg():
            return False  # a link to another folder's layer.tar, or a folder: nothing to save
        parts = member.name.split("/")
        if len(parts) == 3 and parts[:2] == ["blobs", "sha256"]:
            return parts[2] in self.blobs
        if len(parts) != 2 or parts[1] != LAYER_FILE or parts[0] not in self.folder_json:
            return False
        return folder_chain(parts[0], self.folder_json[parts[0]], self.chains) is not None


def _header(member: tarfile.TarInfo) -> bytes:
    return member.tobuf(tarfile.PAX_FORMAT, tarfile.ENCODING, "surrogateescape")


def _padding(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


def thin_archive(chunks: Iterable[bytes], omit: Collection[Layer], omitted: Omitted) -> Iterator[bytes]:
    """The ``docker save`` tar in ``chunks`` without the ``layer.tar`` of the layers in ``omit`` (counted in
    ``omitted``); every other entry passes with its content unchanged. Without anything to omit, the
    chunks pass untouched."""
    if not omit:
        yield from chunks
        return
    selection = _Selection(omit)
    source = _ChunkReader(chunks)
    with tarfile.open(fileobj=io.BufferedReader(source, CHUNK), mode="r|", bufsize=CHUNK) as archive:
        for member in archive:
            if selection.leaves_out(member):
                omitted.layers += 1
                omitted.size += member.size
                continue
            yield _header(member)
            if not member.isreg():
                continue
            content = archive.extractfile(member)
            if content is None:  # pragma: no cover - a regular file always has content
                raise tarfile.ReadError(f"{member.name}: no content")
            if selection.wants_json(member):
                data = content.read()
                selection.folder_json[member.name.split("/")[0]] = data
                yield data
            else:
                while chunk := content.read(CHUNK):
                    yield chunk
            yield _padding(member.size)
    yield END_OF_ARCHIVE
    source.drain()
