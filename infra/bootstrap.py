"""One-shot: create every service's database and roles and apply migrations.

DATABASE_URL=postgresql://postgres@host/postgres python -m infra.bootstrap
"""

from __future__ import annotations

import asyncio
import sys

from shared import logging as slog
from shared.bootstrap import bootstrap
from shared.config import SERVICES, get_settings


def main() -> None:
    settings = get_settings()
    slog.configure("bootstrap", settings.log_level)
    try:
        asyncio.run(bootstrap(settings, SERVICES))
    except OSError as exc:
        sys.exit(f"bootstrap: cannot reach PostgreSQL at DATABASE_URL ({exc}); is it running?")


if __name__ == "__main__":
    main()
