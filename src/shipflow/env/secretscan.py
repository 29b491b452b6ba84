"""The committed-secret guard: secret files tracked by git, and credentials written into tracked files.

Which files count is set in ``[tool.shipflow.env]``: ``secret_files`` (never tracked) and ``scan`` (tracked
files read for ``scheme://user:password@host`` and for ``SECRET_KEY=<real value>`` lines).
"""

from __future__ import annotations

import re
import subprocess
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

from shipflow.env.masking import MASK, url_passwords
from shipflow.env.schema import EnvSchema, matches_any
from shipflow.problems import Problem

GIT = "git"
MAX_SCANNED_BYTES = 1_000_000
_ASSIGNMENT = re.compile(r"^\s*(?:-\s*)?(?:export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?P<value>.*)$")
_REFERENCE = re.compile(r"^\$\{?[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}?$")


def path_matches(path: str, patterns: tuple[str, ...]) -> bool:
    """Whether ``path`` matches a pattern: against the whole path when it holds ``/``, else the file name."""
    name = PurePosixPath(path).name
    return any(fnmatchcase(path if "/" in pattern else name, pattern) for pattern in patterns)


def _assigned_value(raw: str) -> str:
    value = raw.strip()
    if value[:1] in {"'", '"'}:
        end = value.find(value[0], 1)
        return value[1:end] if end > 0 else value[1:]
    return re.sub(r"\s+#.*", "", value).strip()


def is_safe_to_commit(value: str, schema: EnvSchema) -> bool:
    """Whether a secret's value may sit in a tracked file: empty, a ``${VAR}`` reference, a placeholder,
    already masked, or a declared fake (``committable_values``, e.g. ``*insecure*``).
    """
    return (
        not value
        or value == MASK
        or bool(_REFERENCE.match(value))
        or matches_any(value, schema.placeholders)
        or matches_any(value, schema.committable_values)
    )


def scan_text(path: str, text: str, schema: EnvSchema) -> list[Problem]:
    """Credential URLs and secret assignments with real-looking values in one tracked file's text."""
    problems: list[Problem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if any(not is_safe_to_commit(password, schema) for password in url_passwords(line)):
            problems.append(
                Problem(
                    path,
                    "a URL with a password (scheme://user:password@host) is committed",
                    "move the password out of git (a git-ignored env file or the process environment)"
                    " and rotate it",
                    line=number,
                )
            )
        assignment = _ASSIGNMENT.match(line)
        if assignment is None or not schema.is_secret(assignment["key"]):
            continue
        if not is_safe_to_commit(_assigned_value(assignment["value"]), schema):
            problems.append(
                Problem(
                    path,
                    "a secret's value is committed",
                    "replace it with a placeholder such as change-me (or ${VAR}) and rotate the secret",
                    line=number,
                    key=assignment["key"],
                )
            )
    return problems


def tracked_files(root: Path) -> list[str] | None:
    """The files git tracks under ``root`` (paths relative to it), or None when it is not a git work tree."""
    try:
        done = subprocess.run(
            [GIT, "ls-files", "-z", "--cached"],
            cwd=root,
            capture_output=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        return None
    if done.returncode != 0:
        return None
    return [name for name in done.stdout.decode("utf-8", "surrogateescape").split("\0") if name]


def committed_secret_problems(root: Path, schema: EnvSchema) -> list[Problem]:
    """Every tracked secret file and every committed credential under ``root``."""
    tracked = tracked_files(root)
    if tracked is None:
        return [
            Problem(
                str(root),
                "not a git work tree (or git is missing): committed-secret guard skipped",
                warning=True,
            )
        ]
    problems: list[Problem] = []
    for path in tracked:
        if path_matches(path, schema.secret_files):
            problems.append(
                Problem(
                    path,
                    "is tracked by git but holds secrets",
                    f"git rm --cached {path}, add it to .gitignore, and rotate its secrets",
                )
            )
            continue
        if not path_matches(path, schema.scan):
            continue
        file = root / path
        try:
            if not file.is_file() or file.stat().st_size > MAX_SCANNED_BYTES:
                continue
            text = file.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # binary or unreadable: not an env-style file
        problems.extend(scan_text(path, text, schema))
    return problems
