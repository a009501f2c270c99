"""Placing orders: idempotent on the integration's reference, with the customer identified."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from services.orders.domain.commission import OrderState, Status, comm_status_for
from services.orders.repository import catalogue, orders
from services.orders.service import customers
from shared.errors import DomainError, ErrorCode, NotFound
from shared.messaging import contracts
from shared.messaging.outbox import add_event


def event_payload(order: dict[str, Any]) -> dict[str, Any]:
    """The payload of every order event (the contract consumers read)."""
    return {
        "order_id": str(order["id"]),
        "integration_id": str(order["integration_id"]),
        "category_id": str(order["category_id"]),
        "product_id": str(order["product_id"]),
        "provider_id": str(order["provider_id"]) if order.get("provider_id") else None,
        "customer_id": str(order["customer_id"]),
        "status": order["status"],
        "comm_status": order["comm_status"],
        "amount": str(order["commission_amount"]),
        "currency": order["currency"],
        "created_at": order["created_at"].isoformat(),
        "kind": order["kind"],
        "failure_reason": order["failure_reason"],
        "custom_fields": order.get("custom_fields") or {},
    }


async def create(
    conn: asyncpg.Connection,
    org_id: UUID,
    integration_id: UUID,
    *,
    external_ref: str,
    product_id: UUID,
    email: str | None,
    anonymous_id: str | None,
    status: Status,
    amount: Decimal | None,
    currency: str | None,
    created_at: datetime | None = None,
    channel: str | None = None,
    kind: str = "order",
    failure_reason: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Create an order; idempotent on (integration, external reference): a retry returns the first order."""
    existing = await orders.by_external_ref(conn, org_id, integration_id, external_ref)
    if existing is not None:
        return existing, False
    product = await catalogue.product_in_integration(conn, org_id, product_id, integration_id)
    if product is None:
        raise NotFound("product", "productId")
    if not product["enabled"]:
        raise DomainError(ErrorCode.PRODUCT_DISABLED, "the product is switched off in this integration", "productId")
    currency = currency or product["currency"]
    if currency != product["currency"]:
        raise DomainError(
            ErrorCode.CURRENCY_MISMATCH, f"the product's commission is in {product['currency']}", "commission.currency"
        )
    amount = product["commission_rate"] if amount is None else amount
    when = created_at or datetime.now(UTC)
    customer_id = await customers.identify(
        conn,
        org_id,
        email=email,
        anonymous_id=anonymous_id,
        integration_id=integration_id,
        channel=channel,
        seen_at=when,
    )
    comm = comm_status_for(status)
    order = await orders.insert(
        conn,
        org_id,
        integration_id=integration_id,
        product_id=product_id,
        category_id=product["category_id"],
        provider_id=product["provider_id"],
        customer_id=customer_id,
        external_ref=external_ref,
        status=status,
        comm_status=comm,
        amount=amount,
        currency=currency,
        created_at=when,
        kind=kind,
        failure_reason=failure_reason if status is Status.FAILED else None,
    )
    if order is None:  # a concurrent retry won the race
        first = await orders.by_external_ref(conn, org_id, integration_id, external_ref)
        assert first is not None
        return first, False
    await orders.insert_ledger_entry(
        conn,
        org_id,
        order["id"],
        None,
        OrderState(status, comm, amount),
        currency,
        "integration",
        external_ref,
        f"integration:{integration_id}",
    )
    await add_event(conn, org_id, contracts.ORDER_CREATED, event_payload(order))
    return order, True
