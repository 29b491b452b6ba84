"""The head revision(s) of the migrations in a commit, read from the files' ``revision`` and
``down_revision`` lines (no alembic import, no checkout): what a build writes into the image's labels, so
a deploy knows whether a database is already at the release's head without starting a container."""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

_ASSIGNMENT = re.compile(r"^(revision|down_revision)\b[^=]*=\s*(.*)$")
_QUOTED = re.compile(r"""['"]([^'"]+)['"]""")


def heads_of(lines: Iterable[tuple[str, str]]) -> str | None:
    """The heads, sorted and comma-joined as ``alembic current`` lists them, from ``(file, line)`` pairs
    holding each migration's ``revision = ...`` and ``down_revision = ...`` lines; None when there is no
    migration or a file's revision cannot be read (then nobody may skip on it)."""
    revisions: dict[str, str] = {}
    parents: dict[str, set[str]] = defaultdict(set)
    for file, line in lines:
        found = _ASSIGNMENT.match(line.strip())
        if not found:
            continue
        key, value = found.groups()
        quoted = _QUOTED.findall(value)
        if key == "revision":
            if len(quoted) != 1:
                return None
            revisions[file] = quoted[0]
        else:
            parents[file].update(quoted)
    if not revisions or set(parents) - set(revisions):
        return None
    pointed_at = set().union(*parents.values()) if parents else set()
    heads = sorted(set(revisions.values()) - pointed_at)
    return ",".join(heads) or None


def migrations_head_at(root: Path, commit: str, versions_dir: str) -> str | None:
    """The heads of the migrations under ``versions_dir`` (relative to the repository ``root``) as
    committed in ``commit``; None when git cannot tell."""
    done = subprocess.run(
        [
            "git", "-C", str(root), "grep", "--no-color", "-I", "-E", r"^(revision|down_revision)\b",
            commit, "--", f"{versions_dir}/*.py",
        ],
        capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if done.returncode not in (0, 1):  # 1: nothing matched
        return None
    pairs = []
    for entry in done.stdout.splitlines():
        _commit, _, rest = entry.partition(":")
        file, _, line = rest.partition(":")
        pairs.append((file, line))
    return heads_of(pairs)
