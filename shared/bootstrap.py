"""Create each service's database and roles, then apply its migrations.

Per service: `<svc>_owner` owns the tables and runs migrations; `<svc>_app` is what the
service connects as: it owns nothing and cannot bypass row-level security;
SECURITY DEFINER functions owned by `<svc>_owner` are the only doors to cross-tenant
lookups (API-key and webhook routing, the outbox relay).
"""

from __future__ import annotations

import logging
from pathlib import Path

import asyncpg

from shared.config import Settings, check_production_secrets
from shared.migrations import migrate

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent


def migrations_dir(service: str) -> Path:
    return ROOT / "services" / service / "migrations"


async def _ensure_role(admin: asyncpg.Connection, name: str, password: str, bypass_rls: bool) -> None:
    exists = await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", name)
    rls = "BYPASSRLS" if bypass_rls else "NOBYPASSRLS"
    attrs = f"LOGIN PASSWORD '{password}' {rls} NOSUPERUSER NOCREATEDB NOCREATEROLE"
    verb = "ALTER" if exists else "CREATE"
    await admin.execute(f'{verb} ROLE "{name}" WITH {attrs}')


async def bootstrap_service(settings: Settings, service: str, migrations: Path | None = None) -> list[str]:
    """Database, roles and migrations of `service` (from `services/<service>/migrations` unless given)."""
    for name, value in (
        ("DB_APP_PASSWORD", settings.db_app_password),
        ("DB_OWNER_PASSWORD", settings.db_owner_password),
    ):
        if "'" in value:
            raise RuntimeError(f"{name} must not contain a quote")
    if settings.db_app_password == settings.db_owner_password:
        raise RuntimeError("DB_OWNER_PASSWORD must differ from DB_APP_PASSWORD (owners bypass row-level security)")
    admin = await asyncpg.connect(settings.database_url)
    owner, app = settings.role_name(service, "owner"), settings.role_name(service, "app")
    dbname = settings.database_name(service)
    try:
        is_super = await admin.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if not is_super:
            raise RuntimeError("DATABASE_URL must name a superuser: bootstrap creates roles with BYPASSRLS")
        await admin.execute("SELECT pg_advisory_lock(7421002)")
        try:
            await _ensure_role(admin, owner, settings.db_owner_password, bypass_rls=True)
            await _ensure_role(admin, app, settings.db_app_password, bypass_rls=False)
            if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", dbname):
                await admin.execute(f'CREATE DATABASE "{dbname}" OWNER "{owner}"')
        finally:
            await admin.execute("SELECT pg_advisory_unlock(7421002)")
    finally:
        await admin.close()
    conn = await asyncpg.connect(settings.service_database_url(service, "owner"))
    try:
        await conn.execute(f'REVOKE ALL ON SCHEMA public FROM PUBLIC; GRANT USAGE ON SCHEMA public TO "{app}"')
        applied = await migrate(
            conn, migrations or migrations_dir(service), substitutions={"app_role": app, "owner_role": owner}
        )
        await conn.execute(
            f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{app}";'
            f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{app}";'
            f'REVOKE ALL ON schema_migrations FROM "{app}"'
        )
    finally:
        await conn.close()
    return applied


async def bootstrap(settings: Settings, services: tuple[str, ...]) -> None:
    check_production_secrets(settings, ("DB_APP_PASSWORD", "DB_OWNER_PASSWORD"))
    for service in services:
        if migrations_dir(service).exists():
            applied = await bootstrap_service(settings, service)
            logger.info("database %s ready (%d migrations applied)", service, len(applied))
