"""A build's labels as the last instruction of a copy of the Dockerfile in the build context: one step, and
the context the engine keeps is the commit's files (the copy and shipflow's .dockerignore entry dropped)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from shipflow.images.labelled import (
    LABELLED_DOCKERFILE,
    add_labelled_dockerfile,
    dockerignore_with,
    label_instruction,
    labelled_dockerfile,
)

pytestmark = pytest.mark.unit

LABELS = {"shipflow.release": "abc123", "org.opencontainers.image.version": "0.0.0+abc123"}


def context_of(files: dict[str, bytes], path: Path) -> io.BufferedRandom:
    """An uncompressed tar of ``files``, like ``git archive`` writes, in a real file."""
    with tarfile.open(path, "w") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return path.open("r+b")


def files_as_extracted(context: io.BufferedRandom) -> dict[str, bytes]:
    """What an engine unpacking the tar sees: a later member of a name replaces an earlier one."""
    context.seek(0)
    with tarfile.open(fileobj=context, mode="r:") as archive:
        found: dict[str, bytes] = {}
        for member in archive.getmembers():
            stream = archive.extractfile(member)
            assert stream is not None
            found[member.name] = stream.read()
        return found


def test_every_label_goes_into_one_instruction_sorted_by_key() -> None:
    assert label_instruction(LABELS) == (
        'LABEL "org.opencontainers.image.version"="0.0.0+abc123" "shipflow.release"="abc123"'
    )


@pytest.mark.parametrize("value", ['say "hi"', "$HOME", "a\\b", "tick`", "two\nlines"])
def test_a_label_a_dockerfile_would_read_differently_is_left_to_the_build_flags(value: str) -> None:
    assert label_instruction({"shipflow.source": value}) is None
    assert labelled_dockerfile("FROM scratch\n", {"shipflow.source": value}) is None


def test_the_instruction_follows_the_dockerfile_unless_it_ends_inside_a_continued_line() -> None:
    copy = labelled_dockerfile("FROM scratch\nCOPY . /src\n\n", LABELS)
    assert copy is not None
    assert copy.splitlines()[:2] == ["FROM scratch", "COPY . /src"]
    assert copy.splitlines()[2].startswith("LABEL ") and copy.endswith("\n")
    assert labelled_dockerfile("FROM scratch\nRUN true && \\\n\n", LABELS) is None


def test_a_projects_dockerignore_keeps_its_lines_and_gains_the_copys_name() -> None:
    assert dockerignore_with(b"*.pyc", LABELLED_DOCKERFILE) == f"*.pyc\n{LABELLED_DOCKERFILE}\n".encode()
    assert dockerignore_with(None, LABELLED_DOCKERFILE) == f".dockerignore\n{LABELLED_DOCKERFILE}\n".encode()


def test_the_context_gets_the_labelled_copy_and_the_commits_files_stay_as_they_were(tmp_path: Path) -> None:
    files = {"Dockerfile": b"FROM scratch\nCOPY . /src\n", "app.py": b"print(1)\n"}
    with context_of(files, tmp_path / "context.tar") as context:
        name = add_labelled_dockerfile(context, "./Dockerfile", LABELS)

        assert name == LABELLED_DOCKERFILE
        extracted = files_as_extracted(context)
    assert extracted["Dockerfile"] == files["Dockerfile"] and extracted["app.py"] == files["app.py"]
    assert extracted[LABELLED_DOCKERFILE].decode().endswith(f"{label_instruction(LABELS)}\n")
    assert extracted[".dockerignore"] == f".dockerignore\n{LABELLED_DOCKERFILE}\n".encode()


def test_a_context_without_the_dockerfile_or_with_a_file_of_the_copys_name_is_left_alone(
    tmp_path: Path,
) -> None:
    for files in ({"app.py": b""}, {"Dockerfile": b"FROM scratch\n", LABELLED_DOCKERFILE: b"mine"}):
        with context_of(files, tmp_path / "context.tar") as context:
            assert add_labelled_dockerfile(context, "Dockerfile", LABELS) is None
            assert files_as_extracted(context) == files
