"""Plain-SQL migrations: `NNN_name.sql` files per service, applied once, in order, under a lock."""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import asyncpg

logger = logging.getLogger(__name__)

_LOCK_KEY = 7_421_001  # advisory lock shared by every migrating process of a database
KIT_SQL = Path(__file__).resolve().parent / "sql"
_INCLUDE = re.compile(r"^-- include: ([a-z_]+)[ \t]*$", re.MULTILINE)


def expand_includes(sql: str) -> str:
    """Replaces each `-- include: <name>` line with the kit's `shared/sql/<name>.sql`.

    This is how a service takes the kit's tables (tenancy helpers, the outbox, the copy of
    organisation settings) into its own migrations without copying them.
    """

    def include(match: re.Match[str]) -> str:
        path = KIT_SQL / f"{match.group(1)}.sql"
        if not path.is_file():
            raise FileNotFoundError(f"migration includes unknown kit SQL {match.group(1)!r} ({path})")
        return path.read_text()

    return _INCLUDE.sub(include, sql)


async def migrate(
    conn: asyncpg.Connection, directory: Path, *, substitutions: dict[str, str] | None = None
) -> list[str]:
    """Apply pending migrations from `directory`; returns the names applied.

    Each file runs in its own transaction together with its bookkeeping row, so a failed
    migration leaves nothing behind. `-- include: <name>` lines take in the kit's SQL, then
    `{{name}}` placeholders (role names) are substituted.
    """
    applied: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"]: r["checksum"] for r in await conn.fetch("SELECT name, checksum FROM schema_migrations")}
        # Read before the loop: a handful of small files, not worth a thread per file.
        sources = {path.name: expand_includes(path.read_text()) for path in sorted(directory.glob("*.sql"))}  # noqa: ASYNC240
        for name, sql in sources.items():
            for key, value in (substitutions or {}).items():
                sql = sql.replace("{{" + key + "}}", value)
            checksum = hashlib.sha256(sql.encode()).hexdigest()
            if name in done:
                if done[name] != checksum:
                    logger.warning("migration %s changed after it was applied", name)
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)", name, checksum)
            applied.append(name)
            logger.info("applied migration %s", name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied
