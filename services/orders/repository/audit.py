"""The audit log of admin actions: appended in the action's own transaction, read newest first."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from shared.service.pagination import Params, keyset_page

COLUMNS = "a.id, a.at, a.actor, a.request_id, a.action, a.target, a.change"


async def append(
    conn: asyncpg.Connection,
    org_id: UUID,
    *,
    actor: str,
    request_id: str | None,
    action: str,
    target: str | None,
    change: dict[str, Any],
) -> None:
    await conn.execute(
        "INSERT INTO audit_log (org_id, actor, request_id, action, target, change) VALUES ($1, $2, $3, $4, $5, $6)",
        org_id,
        actor,
        request_id,
        action,
        target,
        change,
    )


async def page(
    conn: asyncpg.Connection, org_id: UUID, actions: list[str], first: int, after: str | None
) -> tuple[list[dict[str, Any]], bool]:
    p = Params()
    where = f"a.org_id = {p(org_id)}"
    if actions:
        where += f" AND a.action = ANY({p(actions)}::text[])"
    return await keyset_page(
        conn,
        select=f"SELECT {COLUMNS} FROM audit_log a",
        where=where,
        p=p,
        ts="a.at",
        id="a.id",
        ts_key="at",
        first=first,
        after=after,
    )
