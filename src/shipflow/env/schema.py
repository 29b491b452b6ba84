"""The env schema declared in ``[tool.shipflow.env]`` and the validation of an environment against it.

Validation returns every problem at once (file, line, key, what is wrong, how to fix it) and never a
secret's value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import SplitResult, urlsplit

from shipflow.env.files import EnvLoad, Setting
from shipflow.env.masking import DEFAULT_SECRET_PATTERNS, is_secret_key, mask, secret_values
from shipflow.env.names import ENVIRONMENTS, UnknownEnvironment, canonical_environment
from shipflow.problems import Problem
from shipflow.project import PYPROJECT, Project, SettingsError

TYPES = ("str", "bool", "int", "url", "list")
TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})

DEFAULT_PLACEHOLDERS: tuple[str, ...] = (
    "*change-me*",
    "*changeme*",
    "*change_me*",
    "*replace-me*",
    "*replace_me*",
    "*<*>*",
)
"""Values that say "fill me in" (patterns, case-insensitive): rejected in every environment."""

DEFAULT_COMMITTABLE_VALUES: tuple[str, ...] = ("*insecure*",)
"""Secret values that are safe in committed files because they say they are fakes."""

DEFAULT_SECRET_FILES: tuple[str, ...] = (
    ".env.staging",
    ".env.production",
    "*.pem",
    "*.key",
    "*.p12",
    "id_rsa",
    "id_ecdsa",
    "id_ed25519",
)
"""Names of files that must never be tracked by git."""

DEFAULT_SCAN: tuple[str, ...] = ("envs/*", "deploy/*", ".env*", "*.env")
"""Tracked files the committed-secret guard reads (patterns without ``/`` match the file name)."""

_ASSIGNMENT_LINE = re.compile(r"\s*(?:export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*=(?P<value>.*)")
SHOWN_VALUE_CHARS = 60
"""Values quoted in a message are cut to this length (after masking)."""

RANDOM_KEY_COMMAND = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'


@dataclass(frozen=True)
class KeySpec:
    """One declared key: its type, the environments that require it, and whether it is a secret."""

    name: str
    type: str = "str"
    required: frozenset[str] = frozenset()
    secret: bool | None = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProductionRules:
    """Rules for production-like environments; each can be switched off in settings."""

    environments: tuple[str, ...] = ("production",)
    debug_off: bool = True
    cors_https_only: bool = True
    secret_key_min_length: int = 32
    secret_key_not_development: bool = True
    log_level_not_debug: bool = True


@dataclass(frozen=True)
class EnvSchema:
    """Everything ``[tool.shipflow.env]`` says about env files."""

    keys: tuple[KeySpec, ...] = ()
    secret_patterns: tuple[str, ...] = DEFAULT_SECRET_PATTERNS
    placeholders: tuple[str, ...] = DEFAULT_PLACEHOLDERS
    committable_values: tuple[str, ...] = DEFAULT_COMMITTABLE_VALUES
    secret_files: tuple[str, ...] = DEFAULT_SECRET_FILES
    scan: tuple[str, ...] = DEFAULT_SCAN
    production: ProductionRules = field(default_factory=ProductionRules)

    def spec(self, key: str) -> KeySpec | None:
        """The declaration of ``key``, if any."""
        return next((spec for spec in self.keys if spec.name == key), None)

    def is_secret(self, key: str) -> bool:
        """Whether ``key``'s value is a secret: its declaration says so, else it matches a secret pattern."""
        spec = self.spec(key)
        if spec is not None and spec.secret is not None:
            return spec.secret
        return is_secret_key(key, self.secret_patterns)

    def secret_values(self, values: Mapping[str, str]) -> list[str]:
        """The values to mask for an env mapping: declared or pattern-matched secrets, URL passwords, and
        the secrets of ``KEY=value`` lines inside a multi-line value (an unclosed quote takes in the lines
        after it)."""
        found = secret_values(values, self.secret_patterns)
        found.extend(value for key, value in values.items() if value and self.is_secret(key))
        for value in values.values():
            if "\n" in value:
                found.extend(self.secret_values(dict(_assignments(value))))
        return list(dict.fromkeys(found))

    def load_secrets(self, load: EnvLoad) -> list[str]:
        """The values to mask for a loaded environment: those of its final values and of every value a
        later line or the process environment overrode (another key may hold it through ``${KEY}``)."""
        found = self.secret_values(load.values())
        for setting in load.overridden:
            found.extend(self.secret_values({setting.key: setting.value}))
        return list(dict.fromkeys(found))


def _assignments(text: str) -> list[tuple[str, str]]:
    """The ``KEY=value`` lines of ``text`` (values unquoted), one-line values only."""
    found = []
    for line in text.split("\n"):
        match = _ASSIGNMENT_LINE.match(line)
        if match is not None:
            value = match["value"].strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            found.append((match["key"], value))
    return found


def matches_any(value: str, patterns: tuple[str, ...]) -> bool:
    """Whether ``value`` matches one of ``patterns`` (shell-style, case-insensitive)."""
    lowered = value.lower()
    return any(fnmatchcase(lowered, pattern.lower()) for pattern in patterns)


def parse_bool(value: str) -> bool | None:
    """``true/1/yes/on`` or ``false/0/no/off`` (any case), else None."""
    word = value.strip().lower()
    return True if word in TRUE_WORDS else False if word in FALSE_WORDS else None


def parse_list(value: str) -> list[str]:
    """A comma-separated list, items stripped."""
    return [item.strip() for item in value.split(",")]


# --- reading the schema ------------------------------------------------------------------------------


def _where(project: Project, table: str) -> str:
    return f"{project.root / PYPROJECT}: [tool.shipflow.env{table}]"


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise SettingsError(f"{where} must be a list of strings, got {value!r}")
    return tuple(value)


def _environments(value: Any, where: str) -> frozenset[str]:
    if value is True:
        return frozenset(ENVIRONMENTS)
    if value is False:
        return frozenset()
    names = _strings(value, where)
    try:
        return frozenset(canonical_environment(name, source=where) for name in names)
    except UnknownEnvironment as error:
        raise SettingsError(str(error)) from None


def _key_spec(name: str, table: Any, project: Project) -> KeySpec:
    where = _where(project, f".keys.{name}")
    if not isinstance(table, dict):
        raise SettingsError(f'{where} must be a table, e.g. {{ type = "url", required = true }}')
    unknown = sorted(set(table) - {"type", "required", "secret", "choices"})
    if unknown:
        raise SettingsError(
            f"{where} has unknown field(s) {', '.join(unknown)}; known: type, required, secret, choices"
        )
    kind = table.get("type", "str")
    if kind not in TYPES:
        raise SettingsError(f"{where} type is {kind!r}; use one of {', '.join(TYPES)}")
    secret = table.get("secret")
    if secret is not None and not isinstance(secret, bool):
        raise SettingsError(f"{where} secret must be true or false")
    return KeySpec(
        name=name,
        type=kind,
        required=_environments(table.get("required", False), f"{where} required"),
        secret=secret,
        choices=_strings(table.get("choices", []), f"{where} choices"),
    )


def _production_rules(table: Any, project: Project) -> ProductionRules:
    where = _where(project, ".production_rules")
    if not isinstance(table, dict):
        raise SettingsError(f"{where} must be a table")
    defaults = ProductionRules()
    known = set(ProductionRules.__dataclass_fields__)
    unknown = sorted(set(table) - known)
    if unknown:
        raise SettingsError(
            f"{where} has unknown rule(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    for rule in ("debug_off", "cors_https_only", "secret_key_not_development", "log_level_not_debug"):
        if not isinstance(table.get(rule, True), bool):
            raise SettingsError(f"{where} {rule} must be true or false")
    length = table.get("secret_key_min_length", defaults.secret_key_min_length)
    if not isinstance(length, int) or isinstance(length, bool) or length < 0:
        raise SettingsError(f"{where} secret_key_min_length must be a whole number (0 switches it off)")
    environments = _environments(
        table.get("environments", list(defaults.environments)), f"{where} environments"
    )
    return ProductionRules(
        environments=tuple(name for name in ENVIRONMENTS if name in environments),
        debug_off=table.get("debug_off", True),
        cors_https_only=table.get("cors_https_only", True),
        secret_key_min_length=length,
        secret_key_not_development=table.get("secret_key_not_development", True),
        log_level_not_debug=table.get("log_level_not_debug", True),
    )


def env_schema(project: Project) -> EnvSchema:
    """Read ``[tool.shipflow.env]``; absent fields take the defaults documented in the README."""
    section = project.section("env")
    known = {
        "keys",
        "production_rules",
        "secret_patterns",
        "placeholders",
        "committable_values",
        "secret_files",
        "scan",
    }
    unknown = sorted(set(section) - known)
    if unknown:
        raise SettingsError(
            f"{_where(project, '')} has unknown field(s) {', '.join(unknown)};"
            f" known: {', '.join(sorted(known))}"
        )
    keys = section.get("keys", {})
    if not isinstance(keys, dict):
        raise SettingsError(f"{_where(project, '.keys')} must be a table of key declarations")

    def strings(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        return _strings(section[name], f"{_where(project, '')} {name}") if name in section else default

    return EnvSchema(
        keys=tuple(_key_spec(name, table, project) for name, table in keys.items()),
        secret_patterns=strings("secret_patterns", DEFAULT_SECRET_PATTERNS),
        placeholders=strings("placeholders", DEFAULT_PLACEHOLDERS),
        committable_values=strings("committable_values", DEFAULT_COMMITTABLE_VALUES),
        secret_files=strings("secret_files", DEFAULT_SECRET_FILES),
        scan=strings("scan", DEFAULT_SCAN),
        production=_production_rules(section.get("production_rules", {}), project),
    )


# --- validation --------------------------------------------------------------------------------------


def _at(setting: Setting, message: str, fix: str) -> Problem:
    return Problem(setting.source, message, fix, line=setting.line, key=setting.key)


def quoted(value: str, secrets: Sequence[str]) -> str:
    """``value`` as a message quotes it: every secret in it masked, then cut to a bounded length."""
    masked = mask(value, secrets)
    first_line = masked.split("\n", 1)[0]
    cut = first_line if len(first_line) <= SHOWN_VALUE_CHARS else first_line[:SHOWN_VALUE_CHARS]
    cut += "..." if cut != masked else ""
    return repr(cut)


def _shown(value: str, secret: bool, secrets: Sequence[str]) -> str:
    return "" if secret else f" ({quoted(value, secrets)})"


def type_problem(
    spec: KeySpec, setting: Setting, secret: bool, secrets: Sequence[str] = ()
) -> Problem | None:
    """What is wrong with ``setting``'s value for its declared type, or None; a value it quotes has
    ``secrets`` (every secret of the environment, whatever key holds it) masked."""
    value = setting.value.strip()
    if spec.type == "bool" and parse_bool(value) is None:
        return _at(
            setting,
            f"is not a boolean{_shown(value, secret, secrets)}",
            f"write {spec.name}=true or {spec.name}=false",
        )
    if spec.type == "int":
        try:
            int(value)
        except ValueError:
            return _at(
                setting,
                f"is not a whole number{_shown(value, secret, secrets)}",
                f"write {spec.name}=<digits>",
            )
    if spec.type == "url":
        try:
            parts: SplitResult | None = urlsplit(value)
        except ValueError:
            parts = None
        if parts is None or not parts.scheme or "://" not in value or not (parts.netloc or parts.path):
            # A malformed URL may still hold a password: never shown.
            return _at(
                setting,
                "is not a URL",
                f"write {spec.name}=scheme://host:port/path (user:password@ before the host if needed)",
            )
    if spec.type == "list" and any(not item for item in parse_list(value)):
        return _at(setting, "is a comma-separated list with an empty item", "remove the stray comma")
    if spec.choices and not matches_any(value, spec.choices):
        return _at(
            setting,
            f"is not one of {', '.join(spec.choices)}{_shown(value, secret, secrets)}",
            "use one of those values",
        )
    return None


def _production_problems(
    load: EnvLoad,
    rules: ProductionRules,
    development_values: Mapping[str, str] | None,
    secrets: Sequence[str],
) -> list[Problem]:
    settings, env = load.settings, load.environment
    problems: list[Problem] = []
    debug = settings.get("DEBUG")
    if rules.debug_off and debug is not None and parse_bool(debug.value) is True:
        problems.append(_at(debug, f"is on in {env}", "set DEBUG=false"))
    cors = settings.get("CORS_ORIGINS")
    if rules.cors_https_only and cors is not None:
        for origin in parse_list(cors.value):
            if origin == "*":
                problems.append(
                    _at(cors, "allows every origin (*)", "list the exact https:// origins, comma-separated")
                )
            elif origin and not origin.lower().startswith("https://"):
                problems.append(
                    _at(cors, f"origin {quoted(origin, secrets)} is not https", "use https:// origins only")
                )
    key = settings.get("SECRET_KEY")
    if key is not None and key.value:
        if len(key.value) < rules.secret_key_min_length:
            problems.append(
                _at(
                    key,
                    f"is {len(key.value)} characters; {env} needs at least {rules.secret_key_min_length}",
                    f"generate one with {RANDOM_KEY_COMMAND}",
                )
            )
        if (
            rules.secret_key_not_development
            and development_values is not None
            and development_values.get("SECRET_KEY") == key.value
        ):
            problems.append(
                _at(key, "is the development value", f"generate a new one with {RANDOM_KEY_COMMAND}")
            )
    level = settings.get("LOG_LEVEL")
    if rules.log_level_not_debug and level is not None and level.value.strip().upper() == "DEBUG":
        problems.append(_at(level, f"is DEBUG in {env}", "set LOG_LEVEL=INFO (or WARNING, ERROR)"))
    return problems


def _env_key_problem(load: EnvLoad, secrets: Sequence[str]) -> Problem | None:
    setting = load.settings.get("ENV")
    if setting is None or setting.line is None or not setting.value.strip():
        return None  # only a file's own ENV line is checked; the process environment may say anything
    try:
        named = canonical_environment(setting.value, source="ENV")
    except UnknownEnvironment:
        return _at(
            setting,
            f"names an unknown environment ({quoted(setting.value, secrets)})",
            f"set ENV={load.environment}",
        )
    if named != load.environment:
        return _at(
            setting, f"says {named!r} in the file of {load.environment!r}", f"set ENV={load.environment}"
        )
    return None


def validate(
    load: EnvLoad, schema: EnvSchema, development_values: Mapping[str, str] | None = None
) -> list[Problem]:
    """Every problem with a loaded environment: file problems, then required keys, types, placeholders
    and (for production-like environments) the production rules.

    ``development_values`` are the development environment's values, to catch a copied SECRET_KEY.
    """
    env = load.environment
    if load.unread:
        return list(load.problems)  # the keys of a file that could not be read are not missing: say only that
    secrets = schema.load_secrets(load)
    problems = list(load.problems)
    for spec in schema.keys:
        setting = load.settings.get(spec.name)
        if setting is None:
            if env in spec.required:
                problems.append(
                    Problem(
                        load.own_file,
                        f"required in {env} but not set",
                        f"add {spec.name}=... to {load.own_file} or set it in the process environment",
                        key=spec.name,
                    )
                )
            continue
        if not setting.value.strip():
            if env in spec.required:
                problems.append(_at(setting, f"is empty but required in {env}", f"give {spec.name} a value"))
            continue
        problem = type_problem(spec, setting, schema.is_secret(spec.name), secrets)
        if problem is not None:
            problems.append(problem)
    for setting in load.settings.values():
        if setting.value and matches_any(setting.value, schema.placeholders):
            problems.append(_at(setting, "still holds a placeholder", "replace it with the real value"))
    env_problem = _env_key_problem(load, secrets)
    if env_problem is not None:
        problems.append(env_problem)
    if env in schema.production.environments:
        problems.extend(_production_problems(load, schema.production, development_values, secrets))
    return sorted(problems, key=lambda problem: (problem.source, problem.line or 0))
