"""THE masking function: every output path (task output, errors, dry-run plans, logs, audit records)
passes text through :func:`mask` before a person or a file sees it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from fnmatch import fnmatchcase
from urllib.parse import unquote

MASK = "****"

DEFAULT_SECRET_PATTERNS: tuple[str, ...] = ("*_KEY", "*_TOKEN", "*_SECRET", "*_PASSWORD")
"""Keys whose values are secrets (shell-style patterns, case-insensitive)."""

# ``user:password@`` with an optional ``scheme://`` in front; the user part may be empty (``redis://:pw@host``).
# The password stops at whitespace, ``/`` and ``@`` so that ``host:8080/path@x`` is not taken for one.
_CREDENTIALS = re.compile(
    r"(?P<user>(?:[A-Za-z][A-Za-z0-9+.\-]*:/+)?[^\s:/@'\"]*):(?P<password>[^\s/@]+)@(?=[^\s@])"
)


def is_secret_key(key: str, patterns: Sequence[str] = DEFAULT_SECRET_PATTERNS) -> bool:
    """Whether ``key`` names a secret: it matches one of ``patterns`` (``*_KEY``, ``*_TOKEN``, ...)."""
    upper = key.upper()
    return any(fnmatchcase(upper, pattern.upper()) for pattern in patterns)


def url_passwords(text: str) -> list[str]:
    """The password parts of every ``scheme://user:password@host`` (or ``user:password@host``) in ``text``."""
    found: list[str] = []
    for match in _CREDENTIALS.finditer(text):
        password = match.group("password")
        for candidate in (password, unquote(password)):
            if candidate != MASK and candidate not in found:
                found.append(candidate)
    return found


def secret_values(values: Mapping[str, str], patterns: Sequence[str] = DEFAULT_SECRET_PATTERNS) -> list[str]:
    """The values to hide for an env mapping: secret keys' values and the password of any URL in any value."""
    found: list[str] = []
    for key, value in values.items():
        candidates = [value] if is_secret_key(key, patterns) else []
        candidates.extend(url_passwords(value))
        for candidate in candidates:
            if candidate and candidate not in found:
                found.append(candidate)
    return found


def mask(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every occurrence of each secret replaced by ``****`` and URL passwords removed.

    ``postgresql://app:pw@db/app`` becomes ``postgresql://app:****@db/app``: scheme, user and host stay.
    """
    for secret in sorted({secret for secret in secrets if secret}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return _CREDENTIALS.sub(lambda match: f"{match.group('user')}:{MASK}@", text)
