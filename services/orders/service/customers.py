"""Identifying customers: anonymous visitors, generic (email) customers, and merging the two."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from services.orders.domain.names import anonymous_name
from services.orders.repository import customers
from shared.errors import DomainError, ErrorCode
from shared.messaging import contracts
from shared.messaging.outbox import add_event


async def identify(
    conn: asyncpg.Connection,
    org_id: UUID,
    *,
    email: str | None,
    anonymous_id: str | None,
    integration_id: UUID | None,
    channel: str | None,
    seen_at: datetime,
) -> UUID:
    """Resolve (and create or merge) the customer behind an email and/or anonymous id; record the visit.

    An anonymous visitor who gives an email becomes that generic customer: converted in
    place if the email is new, merged into the existing customer otherwise, with every
    order and visit kept.
    """
    if not email and not anonymous_id:
        raise DomainError(ErrorCode.IDENTITY_REQUIRED, "give an email or an anonymous id", "customer")
    anon = await customers.by_anonymous_id_for_update(conn, org_id, anonymous_id) if anonymous_id else None
    if anon is not None and anon["merged_into"] is not None:
        anon = await customers.by_id_for_update(conn, org_id, anon["merged_into"])
    if not email:
        customer_id = (
            anon["id"]
            if anon is not None
            else await _create(conn, org_id, email=None, anonymous_id=anonymous_id, channel=channel, seen_at=seen_at)
        )
    else:
        generic = await customers.by_email_for_update(conn, org_id, email)
        if generic is None and anon is not None and anon["kind"] == "anonymous":
            customer_id = anon["id"]
            await customers.make_generic(conn, org_id, customer_id, email)
        elif generic is None:
            # An anonymous id that already stands for another email's customer (a second person on the same
            # device) stays theirs: the new email becomes a customer of its own.
            customer_id = await _create(
                conn,
                org_id,
                email=email,
                anonymous_id=anonymous_id if anon is None else None,
                channel=channel,
                seen_at=seen_at,
            )
        else:
            customer_id = generic["id"]
            if anon is not None and anon["id"] != customer_id and anon["kind"] == "anonymous":
                await customers.merge(conn, org_id, anon["id"], customer_id)
                await add_event(
                    conn,
                    org_id,
                    contracts.CUSTOMER_MERGED,
                    {"from_customer_id": str(anon["id"]), "into_customer_id": str(customer_id)},
                )
            elif anon is None and anonymous_id:
                await customers.insert_alias(
                    conn, org_id, anonymous_id, anonymous_name(anonymous_id), customer_id, seen_at
                )
    await customers.record_visit(conn, org_id, customer_id, integration_id, seen_at, channel)
    return UUID(str(customer_id))


async def _create(
    conn: asyncpg.Connection,
    org_id: UUID,
    *,
    email: str | None,
    anonymous_id: str | None,
    channel: str | None,
    seen_at: datetime,
) -> UUID:
    kind = "generic" if email else "anonymous"
    name = email if email else anonymous_name(anonymous_id or "")
    customer_id = await customers.insert(
        conn,
        org_id,
        kind=kind,
        email=email,
        anonymous_id=anonymous_id,
        display_name=name,
        channel=channel,
        seen_at=seen_at,
    )
    if customer_id is None:  # a concurrent request created it first: take the winner's row
        return await customers.resolved_id(conn, org_id, email, anonymous_id)
    await add_event(conn, org_id, contracts.CUSTOMER_CREATED, {"customer_id": str(customer_id), "kind": kind})
    return customer_id
