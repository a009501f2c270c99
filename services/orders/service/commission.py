"""Moving an order's status and commission: by a provider's webhook, or by hand.

Providers describe an order as of their own event sequence: updates at or below the last
applied sequence are stale and change nothing, so applying the highest sequence seen gives
the provider's order whatever order deliveries arrive in. Every change writes a ledger row
and an outbox event in the caller's transaction.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from services.orders.domain.commission import (
    CommStatus,
    IllegalTransition,
    OrderState,
    Status,
    comm_status_for,
    transition,
)
from services.orders.repository import deliveries, orders
from services.orders.service.orders import event_payload
from shared.errors import DomainError, ErrorCode, NotFound
from shared.messaging import contracts
from shared.messaging.outbox import add_event


class DuplicateWebhook(Exception):
    """The same webhook was applied concurrently; the transaction must roll back."""


async def change_state(
    conn: asyncpg.Connection,
    org_id: UUID,
    order_id: UUID,
    *,
    status: Status | None,
    comm_status: CommStatus | None,
    amount: Decimal | None,
    currency: str | None,
    source: str,
    reference: str | None,
    actor: str | None,
    provider_seq: int | None = None,
    provider_id: UUID | None = None,
    locked: asyncpg.Record | None = None,
    failure_reason: str | None = None,
    on_behalf_of: UUID | None = None,
) -> tuple[dict[str, Any], bool]:
    """Move an order to a new (status, commission) state; refuses illegal moves with nothing changed.

    `locked` is the order's row when the caller already holds it FOR UPDATE.
    """
    row = locked or await orders.lock(conn, org_id, order_id)
    if row is None or (provider_id is not None and row["provider_id"] != provider_id):
        raise NotFound("order", "orderId")
    if currency is not None and currency != row["currency"]:
        raise DomainError(ErrorCode.CURRENCY_MISMATCH, f"the order's commission is in {row['currency']}", "currency")
    current = OrderState(Status(row["status"]), CommStatus(row["comm_status"]), row["commission_amount"])
    target_status = status or current.status
    target_comm = comm_status or (
        comm_status_for(target_status) if target_status != current.status else current.comm_status
    )
    new = transition(current, OrderState(target_status, target_comm, current.amount if amount is None else amount))
    if new is None:
        if provider_seq is not None and provider_seq > row["provider_seq"]:
            await orders.raise_provider_seq(conn, org_id, order_id, provider_seq)
        return {k: v for k, v in row.items() if k != "provider_seq"}, False
    order = await orders.update_state(conn, org_id, order_id, new, provider_seq, failure_reason)
    await orders.insert_ledger_entry(
        conn, org_id, order_id, current, new, order["currency"], source, reference, actor, on_behalf_of
    )
    event_type = contracts.ORDER_STATUS_CHANGED if new.status != current.status else contracts.COMMISSION_CHANGED
    await add_event(
        conn,
        org_id,
        event_type,
        {
            **event_payload(order),
            "previous_status": current.status.value,
            "previous_comm_status": current.comm_status.value,
        },
    )
    return order, True


async def set_by_hand(
    conn: asyncpg.Connection,
    org_id: UUID,
    order_id: UUID,
    comm_status: CommStatus,
    amount: Decimal | None,
    actor: str,
    *,
    provider_id: UUID,
    source: str = "manual",
) -> tuple[dict[str, Any], bool]:
    """Confirm (or correct the amount of) a successful order's commission by hand, for `provider_id`.

    The seed gives this to the service provider: a provider user from the dashboard (source `manual`), or
    the operator acting for the provider (source `operator`). Either way the ledger records the provider
    it was done for; an order of another provider is not found (its existence is not theirs to learn).
    """
    if comm_status is CommStatus.NA:
        raise IllegalTransition("commission cannot be set to N/A by hand; it follows the order status")
    row = await orders.lock(conn, org_id, order_id)
    if row is None or row["provider_id"] != provider_id:
        raise NotFound("order", "orderId")
    if row["status"] != Status.SUCCESSFUL:
        raise IllegalTransition("commission can only be updated on a SUCCESSFUL order")
    return await change_state(
        conn,
        org_id,
        order_id,
        status=None,
        comm_status=comm_status,
        amount=amount,
        currency=None,
        source=source,
        reference=None,
        actor=actor,
        locked=row,
        on_behalf_of=provider_id,
    )


async def apply_provider_webhook(
    conn: asyncpg.Connection, org_id: UUID, provider_id: UUID, webhook_id: str, data: dict[str, Any]
) -> str:
    """Apply one provider webhook exactly once; returns the outcome recorded with its receipt.

    The order row is locked first, so deliveries of updates to one order apply one at a time.
    The receipt's primary key (provider, webhook id), inserted in the same transaction, is the
    deduplication: a redelivery hours later finds it and is a no-op. Should a duplicate ever
    race past the lock having changed something (it cannot while the lock holds), it raises
    DuplicateWebhook so the caller rolls the change back.
    """
    order_id, seq = UUID(data["order_id"]), int(data["sequence"])
    row = await orders.lock(conn, org_id, order_id)
    wrote = False
    if row is None or row["provider_id"] != provider_id:
        outcome = "unknown_order"
    elif seq <= row["provider_seq"]:
        outcome = "stale"
    else:
        try:
            _, changed = await change_state(
                conn,
                org_id,
                order_id,
                status=Status(data["status"]),
                comm_status=CommStatus(data["commission_status"]) if data.get("commission_status") else None,
                amount=Decimal(data["amount"]) if data.get("amount") is not None else None,
                currency=data.get("currency"),
                source="provider",
                reference=webhook_id,
                actor=f"provider:{provider_id}",
                provider_seq=seq,
                provider_id=provider_id,
                locked=row,
                failure_reason=data.get("failure_reason"),
            )
            outcome, wrote = ("applied" if changed else "unchanged"), True
        except DomainError as exc:
            outcome = f"rejected: {exc}"
    fields = ("status", "commission_status", "amount", "currency", "failure_reason")
    requested = {k: data[k] for k in fields if data.get(k) is not None}
    if await deliveries.record(
        conn, org_id, provider_id, webhook_id, order_id, outcome, sequence=seq, requested=requested
    ):
        return outcome
    if wrote:
        raise DuplicateWebhook(webhook_id)
    return "duplicate"
