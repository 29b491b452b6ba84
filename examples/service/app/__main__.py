"""``python -m app``: load the settings and serve with gunicorn until SIGTERM."""

from __future__ import annotations

import logging
import sys

from app.server import serve
from app.settings import SettingsError, load_settings


def main() -> int:
    """Serve; a settings error (also a DATABASE_URL SQLAlchemy refuses) is one line on stderr, exit 2."""
    try:
        settings = load_settings()
        logging.basicConfig(
            level=settings.log_level, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout
        )
        serve(settings)
    except SettingsError as error:
        print(f"service: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
