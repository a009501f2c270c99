"""Plain `create_*` helpers that build data through the service's own repository code."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC
from decimal import Decimal
from typing import Any

import asyncpg

from infra.dev_issuer import DevIssuer
from services.orders.repository import catalogue, members
from services.orders.service import organisation as organisation_service
from shared.db import tenant_tx


@dataclass
class Tenant:
    org_id: uuid.UUID
    admin_subject: str
    member_subject: str
    admin_token: str
    member_token: str
    categories: dict[str, uuid.UUID]
    integration_id: uuid.UUID
    second_integration_id: uuid.UUID
    api_key: str
    provider: dict[str, Any]
    products: dict[str, uuid.UUID] = field(default_factory=dict)
    provider_subject: str = ""
    provider_token: str = ""
    """A provider user of `provider` (the seed's provider staff who update commission by hand)."""

    def headers(self, admin: bool = True) -> dict[str, str]:
        return {"authorization": f"Bearer {self.admin_token if admin else self.member_token}"}


async def create_tenant(
    pool: asyncpg.Pool, issuer: DevIssuer, name: str = "Test Partner", time_zone: str = "Europe/London"
) -> Tenant:
    org_id = uuid.uuid4()
    tag = org_id.hex[:8]
    admin_subject, member_subject = f"auth0|admin-{tag}", f"auth0|member-{tag}"
    async with tenant_tx(pool, org_id) as conn:
        await organisation_service.create(conn, org_id, f"{name} {tag}", time_zone=time_zone)
        await members.add(conn, org_id, f"admin-{tag}@example.com", "admin", subject=admin_subject)
        await members.add(conn, org_id, f"member-{tag}@example.com", "member", subject=member_subject)
        cats = {
            n: (await catalogue.create_category(conn, org_id, n))["id"]
            for n in ("Broadband", "Credit Cards", "Current Accounts")
        }
        provider = await catalogue.create_provider(conn, org_id, "Acme Bank")
        provider_subject = f"auth0|provider-{tag}"
        await members.add(
            conn,
            org_id,
            f"staff-{tag}@acme-bank.example",
            "provider",
            subject=provider_subject,
            provider_id=provider["id"],
        )
        integration, key = await catalogue.create_integration(
            conn, org_id, "Web Marketplace", "web", list(cats.values())
        )
        second, _ = await catalogue.create_integration(conn, org_id, "Mobile App", "mobile", [cats["Credit Cards"]])
        products = {}
        for cat_name, rate, currency in (
            ("Broadband", "12.50", "GBP"),
            ("Credit Cards", "45.00", "GBP"),
            ("Current Accounts", "80.00", "EUR"),
        ):
            p = await catalogue.create_product(
                conn,
                org_id,
                integration_id=integration["id"],
                category_id=cats[cat_name],
                provider_id=provider["id"],
                name=f"{cat_name} product",
                commission_rate=rate,
                currency=currency,
            )
            products[cat_name] = p["id"]
        p = await catalogue.create_product(
            conn,
            org_id,
            integration_id=second["id"],
            category_id=cats["Credit Cards"],
            provider_id=provider["id"],
            name="App card",
            commission_rate="30.00",
            currency="GBP",
        )
        products["App card"] = p["id"]
    return Tenant(
        org_id=org_id,
        admin_subject=admin_subject,
        member_subject=member_subject,
        admin_token=issuer.mint(admin_subject, email=f"admin-{tag}@example.com"),
        member_token=issuer.mint(member_subject, email=f"member-{tag}@example.com"),
        categories=cats,
        integration_id=integration["id"],
        second_integration_id=second["id"],
        api_key=key,
        provider=provider,
        products=products,
        provider_subject=provider_subject,
        provider_token=issuer.mint(provider_subject, email=f"staff-{tag}@acme-bank.example"),
    )


async def create_order(
    pool: asyncpg.Pool,
    t: Tenant,
    *,
    ref: str | None = None,
    product: str = "Broadband",
    status: str = "PENDING",
    email: str | None = None,
    anonymous_id: str | None = None,
    created_at: Any = None,
    amount: Decimal | None = None,
) -> dict[str, Any]:
    from services.orders.domain.commission import Status
    from services.orders.service import orders

    integration = t.second_integration_id if product == "App card" else t.integration_id
    async with tenant_tx(pool, t.org_id) as conn:
        order, _ = await orders.create(
            conn,
            t.org_id,
            integration,
            external_ref=ref or f"ref-{uuid.uuid4().hex[:12]}",
            product_id=t.products[product],
            email=email,
            anonymous_id=anonymous_id or (None if email else uuid.uuid4().hex),
            status=Status(status),
            amount=amount,
            currency=None,
            created_at=created_at,
        )
    return order


async def gql(
    client: Any,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    h = dict(headers or {})
    if token:
        h["authorization"] = f"Bearer {token}"
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=h)
    assert response.status_code == 200, response.text
    return response.json()


def signed_headers(
    secret: str, body: bytes, msg_id: str, *, at: Any = None, extra_signatures: list[str] | None = None
) -> dict[str, str]:
    """Standard Webhooks headers as a provider would send them."""
    from datetime import datetime

    from standardwebhooks.webhooks import Webhook

    when = at or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, when, body.decode())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": " ".join([*(extra_signatures or []), signature]),
        "content-type": "application/json",
    }


def commission_body(
    order_id: Any,
    sequence: int,
    status: str,
    commission_status: str | None = None,
    amount: str | None = None,
    currency: str | None = None,
) -> bytes:
    import json

    data: dict[str, Any] = {"order_id": str(order_id), "sequence": sequence, "status": status}
    if commission_status:
        data["commission_status"] = commission_status
    if amount is not None:
        data["amount"] = amount
    if currency:
        data["currency"] = currency
    return json.dumps({"type": "commission.updated", "data": data}).encode()
