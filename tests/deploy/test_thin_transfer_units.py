"""Thin transfers without docker: which layers a server holds, a ``docker save`` archive rewritten without
them, and the transfer onto a simulated engine that reuses held layers as ``docker load`` does.

The synthetic archives follow docker 20.10's layout (a folder per layer named by its legacy id, holding
``VERSION``, ``json`` and ``layer.tar``; the config; ``manifest.json``; ``repositories``; in name order).
Their folder names are computed here from Python dicts, independently of :mod:`shipflow.deploy.layers`;
the two real folders below (written by docker 20.10.24) pin that computation to docker's.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from shipflow.deploy import commands, layers, transfer
from shipflow.deploy.commands import Release
from shipflow.deploy.runrecord import RunRecord
from shipflow.hosts.base import CommandResult
from shipflow.images.facts import image_id_argv
from shipflow.report import Reporter

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

pytestmark = pytest.mark.unit

# --- two layer folders as docker 20.10.24 saved them (`docker import` of one file, then a COPY) -------

REAL_DIFF_IDS = (
    "sha256:657f3efef7ca98070783c99abe5a46df0b37ffdb3009334b64e39a6ab99193eb",
    "sha256:385c1c2ba6d269650dbc4b716ee5b57e0bcb3c76c70b0078a75d326aa8a7192e",
)
REAL_BOTTOM_FOLDER = "1a15933ebd2643bbd75563601d0018557dc334238fb8b63aace7fe8517578af3"
REAL_TOP_FOLDER = "e849ef4a93124a6de94f2cd6b1c663a3a2d9f209b29d1b4b508f54e8ce8b6661"
EMPTY_CONFIG = (
    '{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,'
    '"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":null,"Image":"","Volumes":null,'
    '"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":null}'
)
REAL_BOTTOM_JSON = (
    f'{{"id":"{REAL_BOTTOM_FOLDER}","created":"1970-01-01T00:00:00Z","container_config":{EMPTY_CONFIG},'
    '"os":"linux"}'
)
_PATH = '"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"'
_BASE = '"sha256:8b4713c211ac93c04c269416aedbfe64910efb109e040d3180466aff2962ccc2"'
REAL_TOP_JSON = (
    f'{{"id":"{REAL_TOP_FOLDER}","parent":"{REAL_BOTTOM_FOLDER}",'
    '"created":"2026-12-02T01:34:51.908070107Z","container_config":{"Hostname":"","Domainname":"","User":"",'
    '"AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,'
    f'"StdinOnce":false,"Env":[{_PATH}],"Cmd":["/bin/sh","-c","#(nop) COPY '
    'file:c50ecf0f8081044924e199cfe6cfd18d0c9dd4d16be07790bb24f7088112b98e in /again.txt "],'
    f'"Image":{_BASE},"Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,'
    '"Labels":{"shipflow.test":"thin"}},"docker_version":"20.10.24+dfsg1","config":{"Hostname":"",'
    '"Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,'
    f'"OpenStdin":false,"StdinOnce":false,"Env":[{_PATH}],"Cmd":null,"Image":{_BASE},"Volumes":null,'
    '"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{"shipflow.test":"thin"}},'
    '"architecture":"amd64","os":"linux"}'
)


def test_docker_20_10s_layer_folders_are_identified_by_their_json_and_chain() -> None:
    bottom, top = layers.chain_ids(REAL_DIFF_IDS)

    assert bottom == REAL_DIFF_IDS[0]
    assert top == "sha256:" + hashlib.sha256(f"{bottom} {REAL_DIFF_IDS[1]}".encode()).hexdigest()
    assert layers.folder_chain(REAL_BOTTOM_FOLDER, REAL_BOTTOM_JSON.encode(), [top, bottom]) == bottom
    assert layers.folder_chain(REAL_TOP_FOLDER, REAL_TOP_JSON.encode(), [bottom, top]) == top
    assert layers.folder_chain(REAL_TOP_FOLDER, REAL_TOP_JSON.encode(), [bottom]) is None  # not held
    assert (
        layers.folder_chain(REAL_TOP_FOLDER, REAL_TOP_JSON.replace("thin", "thick").encode(), [top]) is None
    )
    for broken in (b"", b"[]", b'{"id":', b"\xff\xfe", b'{"parent":7}'):
        assert layers.folder_chain(REAL_TOP_FOLDER, broken, [top]) is None


def test_the_servers_layers_are_the_chains_of_each_images_layers() -> None:
    a, b, c = (f"sha256:{letter * 64}" for letter in "abc")
    lines = [{"id": "sha256:i1", "layers": [a, b]}, {"id": "sha256:i2", "layers": [a, c]}, [a], None]
    output = "\n".join([*(json.dumps(line) for line in lines), "Error: No such image: x", ""])

    held = layers.parse_held(output)

    assert held.chains == {a, *layers.chain_ids([a, b])[1:], *layers.chain_ids([a, c])[1:]}
    assert held.image_ids == {"sha256:i1", "sha256:i2"}
    assert layers.chain_ids([b, a])[1] not in held.chains  # the same content on other layers is another layer
    assert layers.parse_held("") == layers.Held()


def test_held_layers_are_left_out_unless_a_missing_layer_has_the_same_content() -> None:
    base, code, empty = (f"sha256:{letter * 64}" for letter in "bce")
    image = layers.image_layers([base, empty, code, empty])
    held = layers.parse_held(json.dumps({"id": "sha256:i", "layers": [base, empty]})).chains

    assert layers.omittable(image, held) == {image[0]}  # the top `empty` folder links to the held one's file
    assert layers.omittable(image, frozenset()) == frozenset()
    assert layers.omittable(image, {layer.chain_id for layer in image}) == set(image)
    assert layers.omittable(layers.image_layers([code, base]), held) == frozenset()  # base on another chain


def test_the_layer_query_asks_for_every_image_in_one_command() -> None:
    argv = commands.held_layers()

    assert argv[:2] == ["sh", "-c"] and len(argv) == 3
    assert "docker image ls --all --quiet --no-trunc" in argv[2]
    assert '"layers":{{json .RootFS.Layers}}}\' $ids' in argv[2] and '[ -z "$ids" ] ||' in argv[2]
    assert '"layers":{{json .RootFS.Layers}}' in commands.image_facts("app:abc")[4]


# --- archives in docker save's layout ------------------------------------------------------------------


def _go_map(members: dict[str, Any]) -> str:
    """How Go writes a map of raw JSON values: keys sorted, each value compact and in its own order."""
    return (
        "{"
        + ",".join(
            f"{json.dumps(k)}:{json.dumps(v, separators=(',', ':'))}" for k, v in sorted(members.items())
        )
        + "}"
    )


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def layer_tar(*files: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, content in files:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


@dataclass
class Saved:
    """A ``docker save`` archive of one image and what it is made of."""

    data: bytes
    image_id: str
    diff_ids: list[str]
    folders: list[str]
    entries: dict[str, bytes] = field(default_factory=dict)  # name -> content of every regular file

    def chunks(self, size: int = 1000) -> Iterator[bytes]:
        for start in range(0, len(self.data), size):
            yield self.data[start : start + size]


def docker_save(contents: Sequence[bytes], tag: str = "app:v1", *, link_repeats: bool = True) -> Saved:
    """What ``docker save TAG`` writes for an image of layers with ``contents`` (docker 20.10's layout)."""
    diff_ids = ["sha256:" + hashlib.sha256(content).hexdigest() for content in contents]
    empty = json.loads(EMPTY_CONFIG)
    entries: dict[str, bytes] = {}
    links: dict[str, str] = {}
    folders: list[str] = []
    first_folder: dict[str, str] = {}
    for position, content in enumerate(contents):
        top = position == len(contents) - 1
        legacy: dict[str, Any] = {"created": "1970-01-01T00:00:00Z", "container_config": empty}
        if top:
            legacy = {"created": "2026-12-01T20:09:33.1Z", "container_config": empty, "config": {},
                      "architecture": "amd64", "os": "linux"}  # fmt: skip
        parent = {"parent": f"sha256:{folders[-1]}"} if folders else {}
        chain = layers.chain_ids(diff_ids[: position + 1])[-1]
        folder = hashlib.sha256(_go_map({**legacy, "layer_id": chain, **parent}).encode()).hexdigest()
        written = {"id": folder, **({"parent": folders[-1]} if folders else {}), **legacy, "os": "linux"}
        entries[f"{folder}/VERSION"] = b"1.0"
        entries[f"{folder}/json"] = _compact(written)
        repeated = first_folder.get(diff_ids[position])
        if repeated is not None and link_repeats:
            links[f"{folder}/layer.tar"] = f"../{repeated}/layer.tar"
        else:
            entries[f"{folder}/layer.tar"] = content
            first_folder.setdefault(diff_ids[position], folder)
        folders.append(folder)
    labels = {"org.opencontainers.image.revision": "c" * 40}
    config = _compact({"architecture": "amd64", "config": {"Labels": labels}, "os": "linux",
                       "rootfs": {"type": "layers", "diff_ids": diff_ids}})  # fmt: skip
    image_hex = hashlib.sha256(config).hexdigest()
    entries[f"{image_hex}.json"] = config
    manifest = [
        {"Config": f"{image_hex}.json", "RepoTags": [tag], "Layers": [f"{f}/layer.tar" for f in folders]}
    ]
    entries["manifest.json"] = _compact(manifest)
    name, version = tag.rsplit(":", 1)
    entries["repositories"] = _compact({name: {version: folders[-1]}})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for entry in sorted({*entries, *links, *(f"{folder}/" for folder in folders)}):
            info = tarfile.TarInfo(entry)
            if entry.endswith("/"):
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            elif entry in links:
                info.type, info.linkname = tarfile.SYMTYPE, links[entry]
                archive.addfile(info)
            else:
                info.size = len(entries[entry])
                archive.addfile(info, io.BytesIO(entries[entry]))
    return Saved(buffer.getvalue(), f"sha256:{image_hex}", diff_ids, folders, entries)


def files_of(archive: bytes) -> dict[str, bytes]:
    """Every regular file's content, and every link as ``-> target``, by name."""
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(archive)) as reader:
        for member in reader:
            if member.issym():
                found[member.name] = f"-> {member.linkname}".encode()
            elif member.isreg():
                extracted = reader.extractfile(member)
                assert extracted is not None
                found[member.name] = extracted.read()
    return found


BASE = layer_tar(("usr/lib/base.so", b"\x7fELF" + bytes(range(256)) * 40))
DEPS = layer_tar(("srv/deps.txt", b"fastapi\n" * 30))
EMPTY = layer_tar()
CODE_V1 = layer_tar(("srv/app.py", b"print('v1')\n"))
CODE_V2 = layer_tar(("srv/app.py", b"print('v2')\n"))


def thin(saved: Saved, held_images: Iterable[Sequence[str]]) -> tuple[bytes, layers.Omitted]:
    held = layers.parse_held(
        "\n".join(json.dumps({"id": f"sha256:{n}", "layers": list(d)}) for n, d in enumerate(held_images))
    )
    omit = layers.omittable(layers.image_layers(saved.diff_ids), held.chains)
    omitted = layers.Omitted()
    return b"".join(layers.thin_archive(saved.chunks(), omit, omitted)), omitted


def test_the_archive_without_the_held_layers_keeps_everything_else_byte_for_byte() -> None:
    v1 = docker_save([BASE, DEPS, CODE_V1])
    v2 = docker_save([BASE, DEPS, CODE_V2], "app:v2")

    archive, omitted = thin(v2, [v1.diff_ids])

    files = files_of(archive)
    dropped = {f"{folder}/layer.tar" for folder in v2.folders[:2]}
    assert set(files) == set(v2.entries) - dropped
    assert all(files[name] == content for name, content in v2.entries.items() if name not in dropped)
    assert (omitted.layers, omitted.size) == (2, len(BASE) + len(DEPS))
    assert len(archive) < len(v2.data) - len(BASE)


def test_nothing_held_passes_the_archive_untouched_and_everything_held_sends_only_metadata() -> None:
    v1 = docker_save([BASE, CODE_V1])
    retagged = docker_save([BASE, CODE_V1], "app:again")  # the same layers, another config

    untouched, none = thin(v1, [])
    metadata_only, everything = thin(retagged, [v1.diff_ids])

    assert untouched == v1.data and (none.layers, none.size) == (0, 0)
    assert not any(name.endswith("layer.tar") for name in files_of(metadata_only))
    assert (
        everything.layers == 2
        and files_of(metadata_only)["manifest.json"] == retagged.entries["manifest.json"]
    )


def test_a_link_to_a_left_out_file_stays_and_a_repeated_layer_the_server_lacks_is_sent() -> None:
    with_repeats = docker_save([BASE, EMPTY, CODE_V1, EMPTY])
    first_empty, top_empty = with_repeats.folders[1], with_repeats.folders[3]

    archive, omitted = thin(with_repeats, [[with_repeats.diff_ids[0], with_repeats.diff_ids[1]]])

    files = files_of(archive)
    assert f"{with_repeats.folders[0]}/layer.tar" not in files  # the base: held, and needed nowhere else
    assert files[f"{first_empty}/layer.tar"] == EMPTY  # held, but the top folder's link needs its file
    assert files[f"{top_empty}/layer.tar"] == f"-> ../{first_empty}/layer.tar".encode()
    assert omitted.layers == 1


def test_a_folder_whose_json_names_no_held_layer_keeps_its_file() -> None:
    saved = docker_save([BASE, CODE_V1])
    foreign = saved.data.replace(b'"created":"1970-01-01T00:00:00Z"', b'"created":"1970-01-01T00:00:01Z"')
    tampered = Saved(foreign, saved.image_id, saved.diff_ids, saved.folders)

    archive, omitted = thin(tampered, [saved.diff_ids[:1]])

    assert f"{saved.folders[0]}/layer.tar" in files_of(archive) and omitted.layers == 0


def test_in_the_oci_layout_a_blob_named_by_a_held_diff_id_is_left_out() -> None:
    blobs = {f"blobs/sha256/{hashlib.sha256(content).hexdigest()}": content for content in (BASE, CODE_V1)}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, content in sorted({**blobs, "index.json": b"{}", "manifest.json": b"[]"}.items()):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    base_layer = layers.image_layers([f"sha256:{hashlib.sha256(BASE).hexdigest()}"])[0]
    omitted = layers.Omitted()

    rewritten = b"".join(layers.thin_archive([buffer.getvalue()], {base_layer}, omitted))

    names = set(files_of(rewritten))
    assert names == {"index.json", "manifest.json", f"blobs/sha256/{hashlib.sha256(CODE_V1).hexdigest()}"}
    assert omitted.size == len(BASE)


def test_a_source_that_is_not_a_tar_is_a_read_error_not_a_silent_pass() -> None:
    base_layer = layers.image_layers(["sha256:" + "a" * 64])[0]
    with pytest.raises(tarfile.ReadError):
        b"".join(layers.thin_archive([b"not a tar at all" * 100], {base_layer}, layers.Omitted()))


# --- the transfer onto a simulated engine --------------------------------------------------------------


@dataclass
class SimulatedEngine:
    """A server's engine as ``docker load`` (20.10) treats layers: one whose chain it holds is reused and its
    file never opened; ``opens_every_layer`` makes an engine that needs every file anyway."""

    images: dict[str, list[str]] = field(default_factory=dict)  # image id -> diff ids
    tags: set[str] = field(default_factory=set)
    opens_every_layer: bool = False
    received: list[set[str]] = field(default_factory=list)  # the layer files in each load's archive

    name = "root@server:22"
    rehearses = False

    def chains(self) -> set[str]:
        return {chain for diff_ids in self.images.values() for chain in layers.chain_ids(diff_ids)}

    def query(self, argv: Sequence[str], *, timeout: float | None = None) -> CommandResult:
        if list(argv) == commands.held_layers():
            found = [{"id": image_id, "layers": d} for image_id, d in self.images.items()]
            return CommandResult(tuple(argv), 0, "".join(json.dumps(image) + "\n" for image in found), "")
        reference = argv[-1]
        if list(argv) == image_id_argv(reference) and (reference in self.images or reference in self.tags):
            return CommandResult(tuple(argv), 0, f"{reference}\n", "")
        return CommandResult(tuple(argv), 1, "", f"Error: No such image: {reference}")

    def run(
        self, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float | None = None
    ) -> CommandResult:
        assert list(argv) == commands.tag_image(argv[2], argv[3]), argv
        self.tags.add(argv[3])
        return CommandResult(tuple(argv), 0, "", "")

    def run_stream(
        self,
        argv: Sequence[str],
        chunks: Iterable[bytes] | None,
        *,
        timeout: float | None = None,
        on_line: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> CommandResult:
        assert list(argv) == commands.load_gzipped_image(argv[-1]) and chunks is not None
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(b"".join(chunks)))) as archive:
            self.received.append({name for name in archive.getnames() if name.endswith("/layer.tar")})
            return self._load(archive, argv)

    def run_attached(self, argv: Sequence[str]) -> int:
        raise AssertionError(f"a transfer attaches nothing to the terminal: {argv}")

    def _load(self, archive: tarfile.TarFile, argv: Sequence[str]) -> CommandResult:
        (manifest,) = json.loads(self._read(archive, "manifest.json"))
        config = self._read(archive, manifest["Config"])
        diff_ids = json.loads(config)["rootfs"]["diff_ids"]
        held = self.chains()
        for path, chain in zip(manifest["Layers"], layers.chain_ids(diff_ids), strict=True):
            if chain in held and not self.opens_every_layer:
                continue
            try:
                content = self._read(archive, path)
            except KeyError:
                return CommandResult(tuple(argv), 1, "", f"open /var/lib/docker/tmp/{path}: no such file")
            assert "sha256:" + hashlib.sha256(content).hexdigest() in diff_ids
        image_id = "sha256:" + hashlib.sha256(config).hexdigest()
        self.images[image_id] = diff_ids
        self.tags.add(manifest["RepoTags"][0])
        if argv[-1] != image_id:  # the load's `docker image inspect` of the id it was told to expect
            return CommandResult(tuple(argv), 1, "", f"Error: No such image: {argv[-1]}")
        return CommandResult(tuple(argv), 0, f"Loaded image: {manifest['RepoTags'][0]}\n{image_id}\n", "")

    def write_file(self, path: str, content: bytes, *, mode: int = 0o644) -> None:
        raise AssertionError(f"wrote {path}")

    def read_file(self, path: str) -> bytes | None:
        raise AssertionError(f"read {path}")

    def close(self) -> None:
        pass

    @staticmethod
    def _read(archive: tarfile.TarFile, name: str) -> bytes:
        extracted = archive.extractfile(name)
        assert extracted is not None
        return extracted.read()


def local_image(saved: Saved, tag: str = "app:v2") -> transfer.LocalImage:
    return transfer.LocalImage(
        Release(image=tag, sha="c" * 40, version="v2"),
        saved.image_id,
        saved.chunks,
        "the test",
        tuple(saved.diff_ids),
    )


def bring(engine: SimulatedEngine, image: transfer.LocalImage) -> tuple[transfer.TransferResult, list[str]]:
    out = io.StringIO()
    result = transfer.ensure_image(engine, image, Reporter(stream=out))
    return result, out.getvalue().splitlines()


def test_a_server_holding_the_previous_release_gets_only_the_new_layers_and_loads_the_image() -> None:
    v1, v2 = docker_save([BASE, DEPS, CODE_V1]), docker_save([BASE, DEPS, CODE_V2], "app:v2")
    engine = SimulatedEngine(images={v1.image_id: v1.diff_ids})

    result, lines = bring(engine, local_image(v2))

    assert engine.received == [{f"{v2.folders[2]}/layer.tar"}]
    assert v2.image_id in engine.images and "app:v2" in engine.tags
    assert result.sent and result.skipped_bytes == len(BASE) + len(DEPS)
    assert "already on the server) in" in lines[-1] and "refused" not in "\n".join(lines)
    assert result.audit().endswith(f"({len(BASE) + len(DEPS)} bytes of layers already on the host)")


def test_an_empty_server_gets_the_whole_archive() -> None:
    v1 = docker_save([BASE, DEPS, CODE_V1])
    engine = SimulatedEngine()

    result, lines = bring(engine, local_image(v1))

    assert engine.received == [{f"{folder}/layer.tar" for folder in v1.folders}]
    assert v1.image_id in engine.images and result.skipped_bytes == 0
    assert "already on the server" not in lines[-1] and "bytes of layers" not in result.audit()


def test_an_engine_refusing_the_thin_archive_gets_the_whole_one_once_and_says_so() -> None:
    v1, v2 = docker_save([BASE, DEPS, CODE_V1]), docker_save([BASE, DEPS, CODE_V2], "app:v2")
    engine = SimulatedEngine(images={v1.image_id: v1.diff_ids}, opens_every_layer=True)

    result, lines = bring(engine, local_image(v2))

    assert len(engine.received) == 2 and len(engine.received[1]) == 3
    refusals = [line for line in lines if "docker load refused" in line]
    assert len(refusals) == 1 and "without the 2 layer(s) it holds" in refusals[0]
    assert "no such file" in refusals[0] and refusals[0].endswith("sending the whole image")
    assert v2.image_id in engine.images and result.skipped_bytes == 0
    assert result.sent_bytes > len(gzip.compress(v2.data, 1))  # both attempts went over the connection


def test_an_image_whose_layers_are_unknown_is_sent_whole() -> None:
    v2 = docker_save([BASE, CODE_V2], "app:v2")
    engine = SimulatedEngine(images={"sha256:" + "9" * 64: v2.diff_ids[:1]})
    unknown = transfer.LocalImage(Release("app:v2", "c" * 40, "v2"), v2.image_id, v2.chunks, "the test")

    bring(engine, unknown)

    assert engine.received == [{f"{folder}/layer.tar" for folder in v2.folders}]


def test_an_archive_file_knows_its_layers(tmp_path: Path) -> None:
    v1 = docker_save([BASE, CODE_V1])
    path = tmp_path / "v1.tar"
    path.write_bytes(v1.data)

    image = transfer.archive_image(path)

    assert image.diff_ids == tuple(v1.diff_ids) and image.image_id == v1.image_id


def test_the_progress_line_and_the_record_keep_the_skipped_bytes() -> None:
    progress = transfer.Progress("app:v2 -> server", Reporter(stream=io.StringIO()))
    progress.omitted.size = 171_000_000
    b"".join(progress.gzip([b"x" * 1000]))

    assert "(gzip of 1.0 KB; 171.0 MB already on the server) in " in progress.line(final=True)
    record = RunRecord()
    record.image_brought("sha256:abc", transfer.TransferResult(True, 1000, 80, 0.1, "ssh", 171_000_000))
    extra = record.audit_extra({})
    assert (extra["transfer_bytes"], extra["transfer_skipped_bytes"]) == (80, 171_000_000)
    whole = RunRecord()
    whole.image_brought("sha256:abc", transfer.TransferResult(True, 1000, 80, 0.1, "ssh"))
    assert "transfer_skipped_bytes" not in whole.audit_extra({})
