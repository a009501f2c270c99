"""Operator commands run beside `./platform up` find its embedded servers the way the platform does.

`./platform up` starts PostgreSQL and Redis under the data folder (`PLATFORM_DATA_DIR`, default
`.data/` at the repository root) on `EMBEDDED_PG_PORT` / `EMBEDDED_REDIS_PORT`, and passes their
URLs to its own processes only. A command started in another terminal (the operator command, the
dead-letter command) calls `use_local_platform()` first: when DATABASE_URL / REDIS_URL are unset
and that folder holds an embedded server, they point at it; otherwise nothing changes and the
command's own error says what to set. Production sets both variables, so this never applies there.
"""

from __future__ import annotations

import os
from pathlib import Path

from shared.config import get_settings

ROOT = Path(__file__).resolve().parent.parent
MISSING_DATABASE = (
    "DATABASE_URL is not set and no embedded PostgreSQL of `./platform up` was found under {data}: "
    "start the platform with ./platform up, or set DATABASE_URL=postgresql://USER:PASSWORD@HOST:PORT/postgres"
)


def data_dir() -> Path:
    return Path(os.environ.get("PLATFORM_DATA_DIR", ROOT / ".data")).resolve()


def use_local_platform() -> None:
    """Points DATABASE_URL / REDIS_URL at `./platform up`'s embedded servers when they are unset."""
    if get_settings().production:
        return
    data = data_dir()
    changed = False
    if not os.environ.get("DATABASE_URL") and (data / "postgres").is_dir():
        port = os.environ.get("EMBEDDED_PG_PORT", "54329")
        os.environ["DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        changed = True
    if not os.environ.get("REDIS_URL") and (data / "redis").is_dir():
        port = os.environ.get("EMBEDDED_REDIS_PORT", "63799")
        os.environ["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        changed = True
    if changed:
        get_settings.cache_clear()


def require_database() -> None:
    """Raises with what to set when no PostgreSQL is configured or found."""
    use_local_platform()
    if not os.environ.get("DATABASE_URL") and not os.environ.get("ORDERS_DATABASE_URL"):
        raise SystemExit(MISSING_DATABASE.format(data=data_dir()))
