"""Random env files and values through parsing, validation, masking and every message builder: no secret
value ever appears unmasked in what env.check, env.show or a deploy's env-file error would print."""

from __future__ import annotations

from pathlib import Path
from tempfile import TemporaryDirectory

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import production_target as target

from shipflow.deploy.session import dotenv_text, masker, release_env
from shipflow.env.check import EnvReport, report_lines, secrets_of, show_rows, table
from shipflow.env.files import EnvFileError, load_env
from shipflow.env.masking import mask
from shipflow.env.schema import EnvSchema, KeySpec, validate

pytestmark = pytest.mark.unit

SCHEMA = EnvSchema(
    keys=(
        KeySpec("PORT", type="int"),
        KeySpec("DEBUG", type="bool", required=frozenset({"production"})),
        KeySpec("ENV", required=frozenset({"production"})),
        KeySpec("LOG_LEVEL", choices=("INFO", "WARNING")),
        KeySpec("DATABASE_URL", type="url"),
        KeySpec("SENTRY_DSN", secret=True),
        KeySpec("HOSTS", type="list"),
    )
)
SECRET_KEYS = ("SECRET_KEY", "DB_PASS", "PGPASSWORD", "API_TOKEN", "SENTRY_DSN", "SECRET", "PASSWORD")
PLAIN_KEYS = ("PORT", "DEBUG", "ENV", "LOG_LEVEL", "DATABASE_URL", "HOSTS", "CORS_ORIGINS", "APP_NAME")
# Real secrets: long enough to mean something, without the mask's `*` or the file syntax's characters.
secret_text = st.text(
    alphabet="abcdefghijkmnpqrstuvwxyzACDEFGHJKLMNPQRTUVWXYZ0123456789-_.~+%!^", min_size=6, max_size=40
)


@st.composite
def secret_line(draw: st.DrawFn, secret: str) -> str:
    """A line that makes ``secret`` a secret: under a secret key, or as a password in a URL or DSN."""
    forms = [
        f"{draw(st.sampled_from(SECRET_KEYS))}={secret}",
        f"DATABASE_URL=postgresql://app:{secret}@db:5432/app",
        f"REDIS_URL=redis://:{secret}@cache:6379/0",
        f"CACHE_URL=https://{secret}@example.com/x",
        f"Q_URL=postgresql://app@db/app?password={secret}&sslmode=require",
        f"DSN=host=db user=app password={secret} dbname=app",
    ]
    return draw(st.sampled_from(forms))


@st.composite
def other_line(draw: st.DrawFn) -> str:
    """A line that may quote, interpolate or mangle a secret, or be malformed."""
    key = draw(st.sampled_from(PLAIN_KEYS))
    reference = draw(st.sampled_from(SECRET_KEYS))
    noise = draw(st.text(alphabet="ab:/@?=&${}'\" #x", max_size=12))
    forms = [
        f"{key}=${{{reference}}}",
        f"{key}={noise}${{{reference}}}{noise}",
        f"{key}=${{{reference}:-fallback}}",
        f"{key}={noise}",
        f"CORS_ORIGINS=http://x,${{{reference}}}",
        f"{key}=${{UNDEFINED_{key}}}",
        f'{key}="unterminated {noise}',
        f"={noise}",
        noise,
        f"{key}",
    ]
    return draw(st.sampled_from(forms))


@st.composite
def env_file(draw: st.DrawFn) -> tuple[str, list[str]]:
    """An env file's text and the secrets it holds."""
    secrets = draw(st.lists(secret_text, min_size=1, max_size=4, unique=True))
    lines = [draw(secret_line(secret)) for secret in secrets]
    lines.extend(draw(st.lists(other_line(), max_size=10)))
    return "\n".join(draw(st.permutations(lines))) + "\n", secrets


def outputs(root: Path, text: str) -> list[str]:
    """Everything env.check, env.show and a deploy's env-file error would print about ``text``."""
    (root / "envs" / ".env.production").write_text(text)
    load = load_env(root, "production")
    secrets = secrets_of([load], SCHEMA)
    printed = report_lines(EnvReport(load, tuple(validate(load, SCHEMA))), secrets)
    printed.append(mask(table(show_rows(load, SCHEMA, secrets), ("KEY", "VALUE", "SET BY")), secrets))
    hide = masker(load.values(), SCHEMA, extra=SCHEMA.load_secrets(load))
    printed.append(hide(dotenv_text(load.values()).decode()))  # the env file a dry run shows
    for environ, from_variable in (({}, None), ({"PROD_ENV_FILE": text}, "PROD_ENV_FILE")):
        try:
            release_env(root, target(from_variable), SCHEMA, environ)
        except EnvFileError as error:
            printed.append(str(error))
    return printed


def written_secrets(secrets: list[str]) -> list[str]:
    """Each secret as it may appear: as written, and percent-decoded as URL passwords are."""
    from urllib.parse import unquote

    return [form for secret in secrets for form in {secret, unquote(secret)} if len(form) >= 6]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(env_file())
def test_no_secret_appears_unmasked_in_any_output(case: tuple[str, list[str]]) -> None:
    text, secrets = case
    with TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "envs").mkdir()
        printed = "\n".join(outputs(root, text))
    for secret in written_secrets(secrets):
        assert secret not in printed, f"{secret!r} shown in:\n{printed}"


@settings(max_examples=100, deadline=None)
@given(st.lists(secret_text, min_size=1, max_size=6), st.text(max_size=200))
def test_mask_hides_every_secret_wherever_it_is_put(secrets: list[str], filler: str) -> None:
    text = filler.join(secrets) + filler + " ".join(reversed(secrets))
    masked = mask(text, secrets)
    assert not any(secret in masked for secret in secrets)
