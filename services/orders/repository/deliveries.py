"""The provider webhook delivery log (webhook_receipts): one row per distinct delivery, with its outcome."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from shared.service.pagination import Params, keyset_page

COLUMNS = "r.id, r.provider_id, r.webhook_id, r.order_id, r.sequence, r.requested, r.outcome, r.received_at"

OUTCOME_PREFIXES = {
    "APPLIED": "applied",
    "UNCHANGED": "unchanged",
    "STALE": "stale",
    "UNKNOWN_ORDER": "unknown_order",
    "REFUSED": "rejected",
}


def _outcome_predicate(p: Params, outcomes: list[str]) -> str:
    # Outcomes are stored as text ("rejected: <reason>" for refusals); a filter matches their kind.
    return "(" + " OR ".join(f"r.outcome LIKE {p(OUTCOME_PREFIXES[o] + '%')}" for o in outcomes) + ")"


async def page(
    conn: asyncpg.Connection,
    org_id: UUID,
    provider_id: UUID,
    outcomes: list[str],
    first: int,
    after: str | None,
) -> tuple[list[dict[str, Any]], bool]:
    p = Params()
    where = f"r.org_id = {p(org_id)} AND r.provider_id = {p(provider_id)}"
    if outcomes:
        where += f" AND {_outcome_predicate(p, outcomes)}"
    return await keyset_page(
        conn,
        select=f"SELECT {COLUMNS} FROM webhook_receipts r",
        where=where,
        p=p,
        ts="r.received_at",
        id="r.id",
        ts_key="received_at",
        first=first,
        after=after,
    )


async def for_order(conn: asyncpg.Connection, org_id: UUID, order_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM webhook_receipts r WHERE r.org_id = $1 AND r.order_id = $2"
        " ORDER BY r.received_at, r.id",
        org_id,
        order_id,
    )
    return [dict(r) for r in rows]


async def record(
    conn: asyncpg.Connection,
    org_id: UUID,
    provider_id: UUID,
    webhook_id: str,
    order_id: UUID,
    outcome: str,
    *,
    sequence: int | None,
    requested: dict[str, Any],
) -> bool:
    """False when this (provider, webhook id) was recorded before: the delivery is a duplicate."""
    recorded = await conn.fetchval(
        "INSERT INTO webhook_receipts (org_id, provider_id, webhook_id, order_id, outcome, sequence, requested)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (provider_id, webhook_id) DO NOTHING RETURNING true",
        org_id,
        provider_id,
        webhook_id,
        order_id,
        outcome,
        sequence,
        requested,
    )
    return bool(recorded)
