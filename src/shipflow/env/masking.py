"""THE masking function: every output path (task output, errors, dry-run plans, logs, audit records)
passes text through :func:`mask` before a person or a file sees it.

Masking is linear in the text's length: the embedded credentials are found by splitting on whitespace and
``@`` (each character looked at a bounded number of times), and the known secret values are found by one
compiled pattern shaped like a trie of the secrets.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from fnmatch import translate
from functools import lru_cache
from urllib.parse import unquote

MASK = "****"

DEFAULT_SECRET_PATTERNS: tuple[str, ...] = (
    "*_KEY",
    "*_TOKEN",
    "TOKEN",
    "*SECRET*",
    "*PASSWORD",
    "*PASSWD*",
    "*_PASS",
    "PASS",
    "*_PWD",
)
"""Keys whose values are secrets (shell-style patterns, case-insensitive)."""

_WHITESPACE = re.compile(r"\s+")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*\Z")
_QUOTES = "'\""
_TOKEN_USER_SCHEMES = frozenset({"http", "https"})
# ``password=value`` in a URL's query string or a libpq/ODBC DSN; ``=...`` is how messages say "a value".
_KEYWORD_PASSWORD = re.compile(
    r"(?i)(?:(?<=[?&;\s])|^)(?:password|passwd|pwd)=(?!\.\.\.(?:\s|$))(?P<value>'[^'\n]*'?|[^\s&;#'\"]+)"
)
_TRIE_DEPTH = 40  # nesting past this depth is written as a flat alternation (the regex compiler recurses)


@lru_cache(maxsize=32)
def _key_pattern(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{translate(pattern.upper())})" for pattern in patterns) or "(?!)")


def is_secret_key(key: str, patterns: Sequence[str] = DEFAULT_SECRET_PATTERNS) -> bool:
    """Whether ``key`` names a secret: it matches one of ``patterns`` (``*_KEY``, ``*_TOKEN``, ...)."""
    return _key_pattern(tuple(patterns)).match(key.upper()) is not None


def _credential_span(piece: str) -> tuple[int, int] | None:
    """Where the secret of ``[scheme://]user:password`` or ``https://token`` is in ``piece`` (the text
    before an ``@`` back to whitespace or the previous ``@``), or None."""
    separator = piece.rfind("://")
    scheme = ""
    if separator >= 0:
        head = piece[:separator]
        start = max(head.rfind(quote) for quote in (*_QUOTES, "(", "<", "=", " ")) + 1
        scheme = head[start:].lower() if _SCHEME.match(head[start:]) else ""
        begin = separator + 3
    else:
        begin = max(piece.rfind(stop) for stop in (*_QUOTES, "/")) + 1
    userinfo = piece[begin:]
    colon = userinfo.find(":")
    if colon < 0:
        token_only = scheme in _TOKEN_USER_SCHEMES and userinfo and "/" not in userinfo
        return (begin, len(piece)) if token_only else None
    user, password = userinfo[:colon], userinfo[colon + 1 :]
    if not password or (separator < 0 and "/" in password):
        return None
    port = password.split("/", 1)[0]
    if "/" in password and port.isdigit() and ("." in user or user.lower() == "localhost"):
        return None  # host:port/path@x, not user:password@host
    return begin + colon + 1, len(piece)


def _credential_spans(text: str) -> Iterator[tuple[int, int]]:
    """The spans of every URL password, URL token and ``password=`` value in ``text``, in order."""
    spans: list[tuple[int, int]] = []
    for token in re.finditer(r"\S+", text) if "@" in text else ():
        word, offset = token.group(), token.start()
        cursor = 0
        at = word.find("@")
        while at >= 0:
            following = word[at + 1 : at + 2]
            if following and following != "@":
                span = _credential_span(word[cursor:at])
                if span is not None:
                    spans.append((offset + cursor + span[0], offset + cursor + span[1]))
            cursor = at + 1
            at = word.find("@", cursor)
    if "=" in text:
        spans.extend(match.span("value") for match in _KEYWORD_PASSWORD.finditer(text))
    return iter(sorted(spans))


def _unquoted(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == "'" else value.strip("'")


def url_passwords(text: str) -> list[str]:
    """The passwords (and tokens) of every URL, query string or DSN in ``text``: ``scheme://user:pw@host``,
    ``user:pw@host``, ``https://token@host``, ``?password=pw``, ``password='pw'``."""
    found: dict[str, None] = {}
    for start, end in _credential_spans(text):
        password = _unquoted(text[start:end])
        for candidate in (password, unquote(password)):
            if candidate and candidate != MASK:
                found[candidate] = None
    return list(found)


def secret_values(values: Mapping[str, str], patterns: Sequence[str] = DEFAULT_SECRET_PATTERNS) -> list[str]:
    """The values to hide for an env mapping: secret keys' values and the password of any URL in any value."""
    found: dict[str, None] = {}
    for key, value in values.items():
        if value and is_secret_key(key, patterns):
            found[value] = None
        found.update(dict.fromkeys(url_passwords(value)))
    return list(found)


def _trie_pattern(secrets: Sequence[str], depth: int = 0) -> str:
    """A pattern matching the longest of ``secrets`` at a position, branching on one character at a time."""
    if depth >= _TRIE_DEPTH:
        return "|".join(re.escape(secret) for secret in sorted(secrets, key=len, reverse=True))
    by_first: dict[str, list[str]] = {}
    ends_here = False
    for secret in secrets:
        if secret:
            by_first.setdefault(secret[0], []).append(secret[1:])
        else:
            ends_here = True
    branches = []
    for first, rests in by_first.items():
        prefix = first
        while len(rests) > 1 and all(rest and rest[0] == rests[0][0] for rest in rests):
            prefix += rests[0][0]
            rests = [rest[1:] for rest in rests]
        if len(rests) == 1:
            branches.append(re.escape(prefix + rests[0]))
        else:
            branches.append(re.escape(prefix) + _trie_pattern(rests, depth + 1))
    if not branches:
        return ""
    body = "|".join(branches)
    return f"(?:{body})?" if ends_here else f"(?:{body})"


@lru_cache(maxsize=32)
def _secrets_pattern(secrets: frozenset[str]) -> re.Pattern[str] | None:
    return re.compile(_trie_pattern(sorted(secrets))) if secrets else None


def _without_credentials(text: str) -> str:
    parts: list[str] = []
    cursor = 0
    for start, end in _credential_spans(text):
        if start >= cursor:
            parts.extend((text[cursor:start], MASK))
            cursor = end
    return "".join([*parts, text[cursor:]])


def _masked(text: str, pattern: re.Pattern[str] | None) -> str:
    if pattern is not None:
        text = pattern.sub(MASK, text)
    return _without_credentials(text)


def masking(secrets: Iterable[str]) -> Callable[[str], str]:
    """:func:`mask` with ``secrets`` fixed, prepared once: for masking many lines against many secrets."""
    pattern = _secrets_pattern(frozenset(secret for secret in secrets if secret))
    return lambda text: _masked(text, pattern)


def mask(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every occurrence of each secret replaced by ``****`` and URL passwords removed.

    ``postgresql://app:pw@db/app`` becomes ``postgresql://app:****@db/app``: scheme, user and host stay.
    At each place the longest secret that starts there is masked.
    """
    return masking(secrets)(text)
