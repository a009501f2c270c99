"""Orders, their commission state machine, the ledger and the summary."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from services.orders.domain.commission import CommStatus, IllegalTransition, OrderState, Status, comm_status_for, transition
from services.orders.domain.filters import OrderFilter
from services.orders.errors import DomainError, NotFound
from services.orders.repository import customers
from services.orders.repository.sql import Params, day_range, keyset_page, prefix_match
from shared.messaging import contracts
from shared.messaging.outbox import add_event

COLUMNS = ("o.id, o.integration_id, o.product_id, o.category_id, o.provider_id, o.customer_id, o.external_ref,"
           " o.status, o.comm_status, o.commission_amount, o.currency, o.created_at, o.updated_at")


def where_clause(org_id: UUID, f: OrderFilter, tz: str, args: list[Any]) -> str:
    """The WHERE of the orders list; the summary fallback and the exports use the very same one."""
    p = Params(args)
    parts = [f"o.org_id = {p(org_id)}", *day_range(p, "o.created_at", *(f.range.days(tz) if f.range else (None, None)), tz)]
    if f.category_ids:
        parts.append(f"o.category_id = ANY({p(f.category_ids)}::uuid[])")
    if f.integration_ids:
        parts.append(f"o.integration_id = ANY({p(f.integration_ids)}::uuid[])")
    if f.statuses:
        parts.append(f"o.status = ANY({p([s.value for s in f.statuses])}::text[])")
    if f.comm_statuses:
        parts.append(f"o.comm_status = ANY({p([s.value for s in f.comm_statuses])}::text[])")
    if f.customer_id:
        parts.append(f"o.customer_id = {p(f.customer_id)}")
    if f.search:
        parts.append(prefix_match(p, "o.external_ref", f.search))
    return " AND ".join(parts)


async def list_page(conn: asyncpg.Connection, org_id: UUID, f: OrderFilter, tz: str, first: int,
                    after: str | None) -> tuple[list[dict[str, Any]], bool]:
    p = Params()
    where = where_clause(org_id, f, tz, p.values)
    return await keyset_page(conn, select=f"SELECT {COLUMNS} FROM orders o", where=where, p=p, ts="o.created_at",
                             id="o.id", ts_key="created_at", first=first, after=after)


async def by_ids(conn: asyncpg.Connection, org_id: UUID, ids: list[UUID]) -> list[dict[str, Any]]:
    rows = await conn.fetch(f"SELECT {COLUMNS} FROM orders o WHERE o.org_id = $1 AND o.id = ANY($2)", org_id, ids)
    return [dict(r) for r in rows]


async def ledger(conn: asyncpg.Connection, org_id: UUID, order_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT from_status, to_status, from_comm, to_comm, amount, currency, source, reference, actor, occurred_at"
        " FROM commission_ledger WHERE org_id = $1 AND order_id = $2 ORDER BY id", org_id, order_id)
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
            org_id, date_from, date_to, f.category_ids, f.integration_ids, [s.value for s in f.statuses],
            [s.value for s in f.comm_statuses])
    else:
        args: list[Any] = []
        where = where_clause(org_id, f, tz, args)
        rows = await conn.fetch(
            f"SELECT status, comm_status, currency, count(*) AS n, sum(commission_amount) AS commission"
            f" FROM orders o WHERE {where} GROUP BY 1, 2, 3", *args)
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
        "total_orders": counts["total"], "successful_orders": counts["SUCCESSFUL"],
        "pending_orders": counts["PENDING"], "failed_orders": counts["FAILED"],
        "commission_pending": [{"currency": c, "amount": a} for c, a in sorted(pending.items())],
        "commission_paid": [{"currency": c, "amount": a} for c, a in sorted(paid.items())],
    }


async def _ledger_entry(conn: asyncpg.Connection, org_id: UUID, order_id: UUID, before: OrderState | None,
                        after: OrderState, currency: str, source: str, reference: str | None, actor: str | None) -> None:
    await conn.execute(
        "INSERT INTO commission_ledger (org_id, order_id, from_status, to_status, from_comm, to_comm, amount, currency,"
        " source, reference, actor) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        org_id, order_id, before.status.value if before else None, after.status.value,
        before.comm_status.value if before else None, after.comm_status.value, after.amount, currency, source,
        reference, actor)


async def create(conn: asyncpg.Connection, org_id: UUID, integration_id: UUID, *, external_ref: str, product_id: UUID,
                 email: str | None, anonymous_id: str | None, status: Status, amount: Decimal | None,
                 currency: str | None, created_at: datetime | None = None, channel: str | None = None) -> tuple[dict[str, Any], bool]:
    """Create an order; idempotent on (integration, external reference): a retry returns the first order."""
    existing = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM orders o WHERE o.org_id = $1 AND o.integration_id = $2 AND o.external_ref = $3",
        org_id, integration_id, external_ref)
    if existing is not None:
        return dict(existing), False
    product = await conn.fetchrow(
        "SELECT id, category_id, provider_id, commission_rate, currency FROM products"
        " WHERE org_id = $1 AND id = $2 AND integration_id = $3", org_id, product_id, integration_id)
    if product is None:
        raise NotFound("product", "productId")
    currency = currency or product["currency"]
    if currency != product["currency"]:
        raise DomainError("CURRENCY_MISMATCH", f"the product's commission is in {product['currency']}", "commission.currency")
    amount = product["commission_rate"] if amount is None else amount
    when = created_at or datetime.now(timezone.utc)
    customer_id = await customers.identify(conn, org_id, email=email, anonymous_id=anonymous_id,
                                           integration_id=integration_id, channel=channel, seen_at=when)
    comm = comm_status_for(status)
    row = await conn.fetchrow(
        f"""INSERT INTO orders AS o (org_id, integration_id, product_id, category_id, provider_id, customer_id, external_ref,
                                status, comm_status, commission_amount, currency, created_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
            ON CONFLICT (integration_id, external_ref) DO NOTHING RETURNING {COLUMNS}""",
        org_id, integration_id, product_id, product["category_id"], product["provider_id"], customer_id, external_ref,
        status.value, comm.value, amount, currency, when)
    if row is None:  # a concurrent retry won the race
        existing = await conn.fetchrow(
            f"SELECT {COLUMNS} FROM orders o WHERE o.org_id = $1 AND o.integration_id = $2 AND o.external_ref = $3",
            org_id, integration_id, external_ref)
        return dict(existing), False
    order = dict(row)
    await _ledger_entry(conn, org_id, order["id"], None, OrderState(status, comm, amount), currency, "integration",
                        external_ref, f"integration:{integration_id}")
    await add_event(conn, org_id, contracts.ORDER_CREATED, _event_payload(order))
    return order, True


def _event_payload(order: dict[str, Any]) -> dict[str, Any]:
    return {
        "order_id": str(order["id"]), "integration_id": str(order["integration_id"]),
        "category_id": str(order["category_id"]), "product_id": str(order["product_id"]),
        "customer_id": str(order["customer_id"]), "status": order["status"], "comm_status": order["comm_status"],
        "amount": str(order["commission_amount"]), "currency": order["currency"],
        "created_at": order["created_at"].isoformat(),
    }


async def change_state(conn: asyncpg.Connection, org_id: UUID, order_id: UUID, *, status: Status | None,
                       comm_status: CommStatus | None, amount: Decimal | None, currency: str | None, source: str,
                       reference: str | None, actor: str | None, provider_seq: int | None = None,
                       provider_id: UUID | None = None, locked: asyncpg.Record | None = None) -> tuple[dict[str, Any], bool]:
    """Move an order to a new (status, commission) state; refuses illegal moves with nothing changed.

    `locked` is the order's row when the caller already holds it FOR UPDATE.
    """
    row = locked or await _lock(conn, org_id, order_id)
    if row is None or (provider_id is not None and row["provider_id"] != provider_id):
        raise NotFound("order", "orderId")
    if currency is not None and currency != row["currency"]:
        raise DomainError("CURRENCY_MISMATCH", f"the order's commission is in {row['currency']}", "currency")
    current = OrderState(Status(row["status"]), CommStatus(row["comm_status"]), row["commission_amount"])
    target_status = status or current.status
    target_comm = comm_status or (comm_status_for(target_status) if target_status != current.status else current.comm_status)
    target = OrderState(target_status, target_comm, current.amount if amount is None else amount)
    new = transition(current, target)
    if new is None:
        if provider_seq is not None and provider_seq > row["provider_seq"]:
            await conn.execute("UPDATE orders SET provider_seq = $2 WHERE id = $1", order_id, provider_seq)
        return {k: v for k, v in row.items() if k != "provider_seq"}, False
    updated = await conn.fetchrow(
        f"""UPDATE orders o SET status = $2, comm_status = $3, commission_amount = $4, updated_at = now(),
                   provider_seq = greatest(provider_seq, coalesce($5, 0))
             WHERE o.id = $1 RETURNING {COLUMNS}""",
        order_id, new.status.value, new.comm_status.value, new.amount, provider_seq)
    order = dict(updated)
    await _ledger_entry(conn, org_id, order_id, current, new, order["currency"], source, reference, actor)
    event_type = contracts.ORDER_STATUS_CHANGED if new.status != current.status else contracts.COMMISSION_CHANGED
    await add_event(conn, org_id, event_type, {**_event_payload(order), "previous_status": current.status.value,
                                               "previous_comm_status": current.comm_status.value})
    return order, True


async def _lock(conn: asyncpg.Connection, org_id: UUID, order_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {COLUMNS}, o.provider_seq FROM orders o WHERE o.org_id = $1 AND o.id = $2 FOR UPDATE", org_id, order_id)


class DuplicateWebhook(Exception):
    """The same webhook was applied concurrently; the transaction must roll back."""


async def apply_provider_webhook(conn: asyncpg.Connection, org_id: UUID, provider_id: UUID, webhook_id: str,
                                 data: dict[str, Any]) -> str:
    """Apply one provider webhook exactly once; returns the outcome recorded with its receipt.

    The order row is locked first, so deliveries of updates to one order apply one at a time;
    updates at or below the order's last applied provider sequence are stale and change
    nothing. The receipt's primary key (provider, webhook id), inserted in the same
    transaction, is the deduplication: a redelivery hours later finds it and is a no-op. Should
    a duplicate ever race past the lock having changed something (it cannot while the lock
    holds), it raises DuplicateWebhook so the caller rolls the change back.
    """
    order_id, seq = UUID(data["order_id"]), int(data["sequence"])
    row = await _lock(conn, org_id, order_id)
    wrote = False
    if row is None or row["provider_id"] != provider_id:
        outcome = "unknown_order"
    elif seq <= row["provider_seq"]:
        outcome = "stale"
    else:
        try:
            _, changed = await change_state(
                conn, org_id, order_id, status=Status(data["status"]),
                comm_status=CommStatus(data["commission_status"]) if data.get("commission_status") else None,
                amount=Decimal(data["amount"]) if data.get("amount") is not None else None,
                currency=data.get("currency"), source="provider", reference=webhook_id,
                actor=f"provider:{provider_id}", provider_seq=seq, provider_id=provider_id, locked=row)
            outcome, wrote = ("applied" if changed else "unchanged"), True
        except (IllegalTransition, DomainError) as exc:
            outcome = f"rejected: {exc}"
    recorded = await conn.fetchval(
        "INSERT INTO webhook_receipts (org_id, provider_id, webhook_id, order_id, outcome) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (provider_id, webhook_id) DO NOTHING RETURNING true",
        org_id, provider_id, webhook_id, order_id, outcome)
    if recorded:
        return outcome
    if wrote:
        raise DuplicateWebhook(webhook_id)
    return "duplicate"
