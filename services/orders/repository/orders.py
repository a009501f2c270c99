"""Orders, their commission state machine, the ledger and the summary."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from services.orders.domain.commission import CommStatus, OrderState, Status
from services.orders.domain.filters import OrderFilter
from shared.service import segment_copies
from shared.service.pagination import Params, day_range, keyset_page, like_escape, prefix_match

COLUMNS = (
    "o.id, o.integration_id, o.product_id, o.category_id, o.provider_id, o.customer_id, o.external_ref,"
    " o.status, o.comm_status, o.commission_amount, o.currency, o.created_at, o.updated_at, o.kind, o.failure_reason,"
    " o.custom_fields"
)


def where_clause(org_id: UUID, f: OrderFilter, tz: str, args: list[Any]) -> str:
    """The WHERE of the orders list; the summary fallback and the exports use the very same one."""
    p = Params(args)
    parts = [
        f"o.org_id = {p(org_id)}",
        *day_range(p, "o.created_at", *(f.range.days(tz) if f.range else (None, None)), tz),
    ]
    if f.category_ids:
        parts.append(f"o.category_id = ANY({p(f.category_ids)}::uuid[])")
    if f.integration_ids:
        parts.append(f"o.integration_id = ANY({p(f.integration_ids)}::uuid[])")
    if f.provider_ids:
        parts.append(f"o.provider_id = ANY({p(f.provider_ids)}::uuid[])")
    if f.statuses:
        parts.append(f"o.status = ANY({p([s.value for s in f.statuses])}::text[])")
    if f.comm_statuses:
        parts.append(f"o.comm_status = ANY({p([s.value for s in f.comm_statuses])}::text[])")
    if f.customer_id:
        parts.append(f"o.customer_id = {p(f.customer_id)}")
    if f.kinds:
        parts.append(f"o.kind = ANY({p([k.value for k in f.kinds])}::text[])")
    if f.segment_id:
        parts.append(segment_copies.member_condition(p, org_id, f.segment_id, "o.customer_id"))
    if f.search:
        # The order reference by prefix (indexed), or any order of a product or category whose name
        # contains the text (catalogue tables are small: their ids are found first).
        org, needle = p(org_id), p(f"%{like_escape(f.search.lower())}%")
        parts.append(
            f"({prefix_match(p, 'o.external_ref', f.search)}"
            f" OR o.product_id IN (SELECT id FROM products WHERE org_id = {org} AND lower(name) LIKE {needle})"
            f" OR o.category_id IN (SELECT id FROM categories WHERE org_id = {org} AND lower(name) LIKE {needle}))"
        )
    return " AND ".join(parts)


async def list_page(
    conn: asyncpg.Connection, org_id: UUID, f: OrderFilter, tz: str, first: int, after: str | None
) -> tuple[list[dict[str, Any]], bool]:
    p = Params()
    where = where_clause(org_id, f, tz, p.values)
    return await keyset_page(
        conn,
        select=f"SELECT {COLUMNS} FROM orders o",
        where=where,
        p=p,
        ts="o.created_at",
        id="o.id",
        ts_key="created_at",
        first=first,
        after=after,
    )


async def by_ids(
    conn: asyncpg.Connection, org_id: UUID, ids: list[UUID], provider_id: UUID | None = None
) -> list[dict[str, Any]]:
    """The orders of `ids` that exist (of `provider_id` only, when given: a provider user's view)."""
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM orders o WHERE o.org_id = $1 AND o.id = ANY($2)"
        " AND ($3::uuid IS NULL OR o.provider_id = $3)",
        org_id,
        ids,
        provider_id,
    )
    return [dict(r) for r in rows]


async def ledger(
    conn: asyncpg.Connection, org_id: UUID, order_id: UUID, provider_id: UUID | None = None
) -> list[dict[str, Any]]:
    """The order's commission history, oldest first; `on_behalf_of_name` names the provider a manual
    change was made for. With `provider_id`, nothing unless the order is that provider's."""
    rows = await conn.fetch(
        "SELECT l.from_status, l.to_status, l.from_comm, l.to_comm, l.amount, l.currency, l.source, l.reference,"
        "       l.actor, l.occurred_at, l.on_behalf_of, p.name AS on_behalf_of_name"
        "  FROM commission_ledger l"
        "  LEFT JOIN providers p ON p.org_id = l.org_id AND p.id = l.on_behalf_of"
        " WHERE l.org_id = $1 AND l.order_id = $2"
        "   AND ($3::uuid IS NULL OR EXISTS (SELECT 1 FROM orders o WHERE o.org_id = $1 AND o.id = $2"
        "                                     AND o.provider_id = $3))"
        " ORDER BY l.id",
        org_id,
        order_id,
        provider_id,
    )
    return [dict(r) for r in rows]


async def summary(conn: asyncpg.Connection, org_id: UUID, f: OrderFilter, tz: str) -> dict[str, Any]:
    """Counts and commission per currency; from the daily rollup unless the filter needs rows."""
    if f.rollup_compatible:
        date_from, date_to = f.range.days(tz) if f.range else (None, None)
        rows = await conn.fetch(
            """SELECT status, comm_status, currency, sum(orders)::bigint AS n, sum(commission) AS commission
                 FROM order_rollups_daily
                WHERE org_id = $1 AND ($2::date IS NULL OR day >= $2) AND ($3::date IS NULL OR day <= $3)
                  AND (cardinality($4::uuid[]) = 0 OR category_id = ANY($4))
                  AND (cardinality($5::uuid[]) = 0 OR integration_id = ANY($5))
                  AND (cardinality($6::text[]) = 0 OR status = ANY($6))
                  AND (cardinality($7::text[]) = 0 OR comm_status = ANY($7))
                GROUP BY 1, 2, 3 HAVING sum(orders) > 0""",
            org_id,
            date_from,
            date_to,
            f.category_ids,
            f.integration_ids,
            [s.value for s in f.statuses],
            [s.value for s in f.comm_statuses],
        )
    else:
        args: list[Any] = []
        where = where_clause(org_id, f, tz, args)
        rows = await conn.fetch(
            f"SELECT status, comm_status, currency, count(*) AS n, sum(commission_amount) AS commission"
            f" FROM orders o WHERE {where} GROUP BY 1, 2, 3",
            *args,
        )
    counts = {"total": 0, "SUCCESSFUL": 0, "PENDING": 0, "FAILED": 0}
    pending: dict[str, Decimal] = {}
    paid: dict[str, Decimal] = {}
    for r in rows:
        counts["total"] += r["n"]
        counts[r["status"]] += r["n"]
        bucket = pending if r["comm_status"] == "PENDING" else paid if r["comm_status"] == "SUCCESSFUL" else None
        if bucket is not None:
            bucket[r["currency"]] = bucket.get(r["currency"], Decimal("0")) + r["commission"]
    return {
        "total_orders": counts["total"],
        "successful_orders": counts["SUCCESSFUL"],
        "pending_orders": counts["PENDING"],
        "failed_orders": counts["FAILED"],
        "commission_pending": [{"currency": c, "amount": a} for c, a in sorted(pending.items())],
        "commission_paid": [{"currency": c, "amount": a} for c, a in sorted(paid.items())],
    }


async def insert_ledger_entry(
    conn: asyncpg.Connection,
    org_id: UUID,
    order_id: UUID,
    before: OrderState | None,
    after: OrderState,
    currency: str,
    source: str,
    reference: str | None,
    actor: str | None,
    on_behalf_of: UUID | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO commission_ledger (org_id, order_id, from_status, to_status, from_comm, to_comm, amount, currency,"
        " source, reference, actor, on_behalf_of) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        org_id,
        order_id,
        before.status.value if before else None,
        after.status.value,
        before.comm_status.value if before else None,
        after.comm_status.value,
        after.amount,
        currency,
        source,
        reference,
        actor,
        on_behalf_of,
    )


async def by_external_ref(
    conn: asyncpg.Connection, org_id: UUID, integration_id: UUID, external_ref: str
) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM orders o WHERE o.org_id = $1 AND o.integration_id = $2 AND o.external_ref = $3",
        org_id,
        integration_id,
        external_ref,
    )
    return dict(row) if row is not None else None


async def insert(
    conn: asyncpg.Connection,
    org_id: UUID,
    *,
    integration_id: UUID,
    product_id: UUID,
    category_id: UUID,
    provider_id: UUID,
    customer_id: UUID,
    external_ref: str,
    status: Status,
    comm_status: CommStatus,
    amount: Decimal,
    currency: str,
    created_at: datetime,
    kind: str = "order",
    failure_reason: str | None = None,
) -> dict[str, Any] | None:
    """The new order; None when a concurrent retry inserted the same (integration, reference) first."""
    row = await conn.fetchrow(
        f"""INSERT INTO orders AS o (org_id, integration_id, product_id, category_id, provider_id, customer_id,
                                external_ref, status, comm_status, commission_amount, currency, created_at,
                                updated_at, kind, failure_reason)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14)
            ON CONFLICT (integration_id, external_ref) DO NOTHING RETURNING {COLUMNS}""",
        org_id,
        integration_id,
        product_id,
        category_id,
        provider_id,
        customer_id,
        external_ref,
        status.value,
        comm_status.value,
        amount,
        currency,
        created_at,
        kind,
        failure_reason,
    )
    return dict(row) if row is not None else None


async def lock(conn: asyncpg.Connection, org_id: UUID, order_id: UUID) -> asyncpg.Record | None:
    """The order's row, locked until the transaction ends, with the provider sequence applied last."""
    return await conn.fetchrow(
        f"SELECT {COLUMNS}, o.provider_seq FROM orders o WHERE o.org_id = $1 AND o.id = $2 FOR UPDATE", org_id, order_id
    )


async def update_state(
    conn: asyncpg.Connection,
    org_id: UUID,
    order_id: UUID,
    new: OrderState,
    provider_seq: int | None,
    failure_reason: str | None = None,
) -> dict[str, Any]:
    """Sets the new state; a FAILED order keeps the reason given (or the one it had), others none."""
    row = await conn.fetchrow(
        f"""UPDATE orders o SET status = $3, comm_status = $4, commission_amount = $5, updated_at = now(),
                   provider_seq = greatest(provider_seq, coalesce($6::bigint, 0)),
                   failure_reason = CASE WHEN $3 = 'FAILED' THEN coalesce($7, o.failure_reason) END
             WHERE o.org_id = $1 AND o.id = $2 RETURNING {COLUMNS}""",
        org_id,
        order_id,
        new.status.value,
        new.comm_status.value,
        new.amount,
        provider_seq,
        failure_reason,
    )
    return dict(row)


async def raise_provider_seq(conn: asyncpg.Connection, org_id: UUID, order_id: UUID, provider_seq: int) -> None:
    await conn.execute(
        "UPDATE orders SET provider_seq = greatest(provider_seq, $3) WHERE org_id = $1 AND id = $2",
        org_id,
        order_id,
        provider_seq,
    )


# The backfill of other services' copies: every order as an `order.created` event with its current state
# (the payload of `service.orders.event_payload`), plus `successful_at`: when it became SUCCESSFUL (its
# creation when it was created so, else the ledger's time of the change, which is its status event's time).
_REPUBLISH = """
WITH batch AS (
    SELECT o.* FROM orders o WHERE (o.org_id, o.id) > ($1::uuid, $2::uuid) ORDER BY o.org_id, o.id LIMIT $3
), ins AS (
    INSERT INTO outbox (org_id, type, payload)
    SELECT b.org_id, $4, jsonb_build_object(
               'order_id', b.id, 'integration_id', b.integration_id, 'category_id', b.category_id,
               'product_id', b.product_id, 'customer_id', b.customer_id, 'status', b.status,
               'comm_status', b.comm_status, 'amount', b.commission_amount::text, 'currency', b.currency,
               'created_at', to_char(b.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
               'kind', b.kind, 'failure_reason', b.failure_reason, 'custom_fields', b.custom_fields,
               'successful_at', CASE WHEN b.status = 'SUCCESSFUL' THEN to_char(
                   (SELECT CASE WHEN l.from_status IS NULL THEN b.created_at ELSE l.occurred_at END
                      FROM commission_ledger l
                     WHERE l.org_id = b.org_id AND l.order_id = b.id AND l.to_status = 'SUCCESSFUL'
                       AND l.from_status IS DISTINCT FROM 'SUCCESSFUL'
                     ORDER BY l.id LIMIT 1) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"') END)
      FROM batch b ORDER BY b.org_id, b.id
    RETURNING 1
)
SELECT (SELECT count(*) FROM ins) AS published,
       (SELECT org_id FROM batch ORDER BY org_id DESC, id DESC LIMIT 1) AS last_org,
       (SELECT id FROM batch ORDER BY org_id DESC, id DESC LIMIT 1) AS last_id
"""


async def republish_batch(
    conn: asyncpg.Connection, after: tuple[UUID, UUID], limit: int, event_type: str
) -> tuple[int, tuple[UUID, UUID] | None]:
    """Appends an `event_type` event for up to `limit` orders after the key `after` (organisation, order),
    across organisations: the owner role only (an operator's command). Returns how many and the last key."""
    row = await conn.fetchrow(_REPUBLISH, after[0], after[1], limit, event_type)
    assert row is not None
    last = (row["last_org"], row["last_id"]) if row["last_org"] is not None else None
    return int(row["published"]), last
