"""Settings templates (the nginx upstream include): ``{{ name }}`` tokens filled from settings."""

from __future__ import annotations

import re

from shipflow.project import SettingsError

_TEMPLATE_TOKEN = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


def render_template(text: str, values: dict[str, str], *, source: str) -> str:
    """Replace ``{{ name }}`` tokens; an unknown token is an error naming the template and the token."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            known = ", ".join(sorted(values))
            raise SettingsError(f"{source}: unknown placeholder {{{{ {name} }}}} (known: {known})")
        return values[name]

    return _TEMPLATE_TOKEN.sub(value, text)
