"""Reading an environment's settings from ``envs/``, remembering which file and line set each key.

Precedence, lowest first: ``envs/.env`` (shared defaults, optional) < ``envs/.env.<environment>`` < the
process environment. ``${VAR}`` in a value takes VAR from the process environment when set there, else from
a line above it (in the same file or in ``envs/.env``); ``${VAR:-default}`` falls back to ``default``.
This is exactly python-dotenv's ``load_dotenv(stream=<envs/.env + envs/.env.<env>>, override=False)``,
so a service can replicate it in one call. A variable defined nowhere is an error here, not an empty string.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shipflow.problems import PROCESS_ENVIRONMENT, Problem, errors
from shipflow.project import SettingsError

ENV_DIR = "envs"
SHARED_FILE = ".env"
MAX_ENV_FILE_BYTES = 1_000_000
"""Env files are small; a larger one is refused unread (python-dotenv's parser slows down on huge input)."""
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class EnvFileError(SettingsError):
    """An env file is missing, unreadable, malformed, or refers to an undefined variable."""


@dataclass(frozen=True)
class Setting:
    """A key's final value and where it came from: a file and line, or the process environment."""

    key: str
    value: str
    source: str
    line: int | None = None


@dataclass(frozen=True)
class Entry:
    """One ``KEY=value`` line as written (before interpolation)."""

    key: str
    value: str
    line: int


@dataclass(frozen=True)
class EnvLoad:
    """An environment's merged settings (in file order) plus every problem met while reading them."""

    environment: str
    settings: dict[str, Setting] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()
    files: tuple[str, ...] = ()
    unread: tuple[str, ...] = ()
    own_source: str | None = None
    """Where the environment's own settings came from when not ``envs/.env.<environment>``."""
    overridden: tuple[Setting, ...] = ()
    """Earlier values of keys set again later: a line between may have taken one through ``${KEY}``."""

    @property
    def own_file(self) -> str:
        """The environment's own file (or ``$VARIABLE`` when its text came from one): where keys go."""
        return self.own_source or env_file(self.environment)

    def values(self) -> dict[str, str]:
        """Key to final value."""
        return {key: setting.value for key, setting in self.settings.items()}

    @property
    def ok(self) -> bool:
        """Whether the environment loaded without errors (warnings allowed)."""
        return not errors(self.problems)


def env_file(environment: str) -> str:
    """The path, relative to the project root, of an environment's own file."""
    return f"{ENV_DIR}/{SHARED_FILE}.{environment}"


def shared_file() -> str:
    """The path, relative to the project root, of the shared defaults file."""
    return f"{ENV_DIR}/{SHARED_FILE}"


def _missing(root: Path, name: str) -> Problem:
    example = f"{name}.example"
    if (root / example).is_file():
        fix = (
            f"cp {example} {name} and replace every placeholder with the real value"
            " (the file holds secrets: keep it out of git)"
        )
    else:
        fix = f"create {name} with one KEY=value per line (see README, 'Environments')"
    return Problem(name, "file not found", fix)


def _too_large(name: str) -> Problem:
    limit = f"{MAX_ENV_FILE_BYTES // 1_000_000} MB"
    return Problem(
        name, f"is larger than {limit}, the limit for an env file", "keep only KEY=value settings in it"
    )


def _read_text(root: Path, name: str) -> tuple[str | None, list[Problem]]:
    try:
        with (root / name).open("rb") as file:
            data = file.read(MAX_ENV_FILE_BYTES + 1)
    except FileNotFoundError:
        return None, [_missing(root, name)]
    except OSError as error:
        reason = error.strerror or type(error).__name__
        return None, [Problem(name, f"cannot be read: {reason}", "make it a readable text file")]
    if len(data) > MAX_ENV_FILE_BYTES:
        return None, [_too_large(name)]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        return None, [
            Problem(name, f"not UTF-8 text (byte {error.start})", "save the file as UTF-8", line=line)
        ]


def _first_line(original_line: int, original: str) -> int:
    """The line a binding's text starts on, past the blank lines python-dotenv folds into it."""
    leading = original[: len(original) - len(original.lstrip())]
    return original_line + leading.count("\n") + leading.count("\r") - leading.count("\r\n")


def parse_env_text(text: str, name: str) -> tuple[list[Entry], list[Problem]]:
    """The ``KEY=value`` entries of an env file's text, and its malformed lines and duplicate keys."""
    from dotenv.parser import parse_stream

    entries: list[Entry] = []
    problems: list[Problem] = []
    first_seen: dict[str, int] = {}
    fix = "write KEY=value (quote a value that holds spaces or #) or make it a # comment"
    for binding in parse_stream(io.StringIO(text)):
        line = _first_line(binding.original.line, binding.original.string)
        if binding.error:
            problems.append(Problem(name, "not a KEY=value line", fix, line=line))
            continue
        if binding.key is None:
            continue  # blank line or comment
        if not _KEY.match(binding.key):
            problems.append(Problem(name, "not a valid variable name", fix, line=line))
            continue
        if binding.value is None:
            problems.append(Problem(name, "has no '=' and no value", fix, line=line, key=binding.key))
            continue
        if binding.key in first_seen:
            problems.append(
                Problem(
                    name,
                    f"set on line {first_seen[binding.key]} and again on line {line}; the later value wins",
                    "keep one of the two lines",
                    line=line,
                    key=binding.key,
                    warning=True,
                )
            )
        else:
            first_seen[binding.key] = line
        entries.append(Entry(binding.key, binding.value, line))
    return entries, problems


def _env_text(text: str, name: str) -> tuple[str | None, list[Problem]]:
    """An env file's text given as a string (CI: a variable's value), refused past the size limit."""
    return (None, [_too_large(name)]) if len(text) > MAX_ENV_FILE_BYTES else (text, [])


def _variables(value: str) -> Iterator[tuple[str, str | None] | str]:
    """python-dotenv's ``parse_variables`` (``${NAME}``, ``${NAME:-default}``, literal text between), in
    one pass: each stop character is looked for once, whatever the value holds."""
    cursor = position = 0
    stop = close = -1  # the next ':' or '}' and the next '}' last found, reused while ahead
    while (start := value.find("${", position)) >= 0:
        if close < start + 2:
            close = value.find("}", start + 2)
        if close < 0:
            break  # no '}' left: no variable can start here or later
        if stop < start + 2:
            colon = value.find(":", start + 2, close)
            stop = close if colon < 0 else colon
        end = close + 1 if value[stop] == "}" or value.startswith(":-", stop) else -1
        if end < 0:
            position = start + 1
            continue
        if start > cursor:
            yield value[cursor:start]
        yield (value[start + 2 : stop], value[stop + 2 : close] if stop < close else None)
        cursor = position = end
        stop = close = -1
    if cursor < len(value):
        yield value[cursor:]


def interpolate(
    entry: Entry, name: str, defined: Mapping[str, str], environ: Mapping[str, str] | None
) -> tuple[str, list[Problem]]:
    """``entry``'s value with each ``${VAR}`` replaced: the process environment first, then ``defined``."""
    parts: list[str] = []
    problems: list[Problem] = []
    for atom in _variables(entry.value):
        if isinstance(atom, str):
            parts.append(atom)
            continue
        variable, default = atom
        if environ is not None and variable in environ:
            parts.append(environ[variable])
        elif variable in defined:
            parts.append(defined[variable])
        elif default is not None:
            parts.append(default)
        else:
            where = "above this line" + (" nor in the process environment" if environ is not None else "")
            problems.append(
                Problem(
                    name,
                    f"${{{variable}}} is not defined {where}",
                    f"define {variable} above this line or in {shared_file()},"
                    f" or write ${{{variable}:-default}}",
                    line=entry.line,
                    key=entry.key,
                )
            )
    return "".join(parts), problems


def load_env(
    root: Path,
    environment: str,
    *,
    environ: Mapping[str, str] | None = None,
    declared_keys: Iterable[str] = (),
    own_text: tuple[str, str] | None = None,
) -> EnvLoad:
    """Merge ``envs/.env`` < ``envs/.env.<environment>`` < ``environ`` (when given), collecting every problem.

    The process environment overrides keys the files set or ``declared_keys`` names (the schema's keys);
    other process variables are not part of the environment's settings. ``own_text`` (a name such as
    ``$PROD_ENV_FILE`` and its text) stands for the environment's own file, merged the same way.
    """
    settings: dict[str, Setting] = {}
    defined: dict[str, str] = {}
    overridden: list[Setting] = []
    problems: list[Problem] = []
    files: list[str] = []
    unread: list[str] = []
    own_name = own_text[0] if own_text else env_file(environment)
    names = [own_name]
    if (root / shared_file()).exists():
        names.insert(0, shared_file())
    for name in names:
        if own_text and name == own_name:
            text, found = _env_text(own_text[1], name)
        else:
            text, found = _read_text(root, name)
        problems.extend(found)
        if text is None:
            unread.append(name)
            continue
        files.append(name)
        entries, found = parse_env_text(text, name)
        problems.extend(found)
        for entry in entries:
            value, unresolved = interpolate(entry, name, defined, environ)
            problems.extend(unresolved)
            earlier = settings.pop(entry.key, None)  # a later definition moves the key to its new place
            if earlier is not None:
                overridden.append(earlier)
            settings[entry.key] = Setting(entry.key, value, name, entry.line)
            defined[entry.key] = value
    if environ is not None:
        for key in [*settings, *(key for key in declared_keys if key not in settings)]:
            if key in environ:
                if key in settings:
                    overridden.append(settings[key])
                settings[key] = Setting(key, environ[key], PROCESS_ENVIRONMENT)
    own_source = own_text[0] if own_text else None
    return EnvLoad(
        environment, settings, tuple(problems), tuple(files), tuple(unread), own_source, tuple(overridden)
    )


def _values_or_raise(load: EnvLoad) -> dict[str, str]:
    found = errors(load.problems)
    if found:
        raise EnvFileError("\n".join(str(problem) for problem in found))
    return load.values()


def env_file_values(root: Path, environment: str) -> dict[str, str]:
    """The merged, interpolated values of ``envs/.env`` < ``envs/.env.<environment>``, without the process
    environment.

    Raises :class:`EnvFileError` naming every file, line and key at fault.
    """
    return _values_or_raise(load_env(root, environment))


def env_values(
    root: Path, environment: str, environ: Mapping[str, str] | None = None, declared_keys: Iterable[str] = ()
) -> dict[str, str]:
    """Like :func:`env_file_values` plus the process environment (``os.environ`` unless given) on top."""
    if environ is None:
        import os

        environ = dict(os.environ)
    return _values_or_raise(load_env(root, environment, environ=environ, declared_keys=declared_keys))
