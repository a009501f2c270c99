"""Typed clients of the services' internal APIs, as the gateway calls them (`shared.service.client`)."""

from __future__ import annotations

from typing import Any

from shared.service.client import (
    JSONRow,
    ServiceClient,
    ServiceError,
    Stream,
    Unavailable,
)

__all__ = [
    "InsightsClient",
    "JSONRow",
    "OrdersClient",
    "ReportsClient",
    "ServiceClient",
    "ServiceError",
    "Stream",
    "Unavailable",
]


class GatewayClient(ServiceClient):
    caller = "gateway"


class OrdersClient(GatewayClient):
    """The orders service: organisations, members, catalogue, orders, customers, exports."""

    service = "orders"

    async def memberships(self, subject: str, email: str | None) -> list[JSONRow]:
        """Every organisation the user belongs to (or is invited to by this verified email)."""
        rows: list[JSONRow] = await self.call(
            "POST", "/internal/auth/memberships", json={"subject": subject, "email": email}
        )
        return rows

    async def activate_member(self, org_id: str, subject: str, member_id: str) -> None:
        """Binds an invitation to the user signing in with its email for the first time."""
        await self.call("POST", "/internal/auth/activate", org_id=org_id, subject=subject, json={"memberId": member_id})

    async def provider_webhook_secret(self, public_id: str) -> JSONRow:
        """A provider's routing (organisation, id) and webhook secret; ServiceError 404 if unknown."""
        row: JSONRow = await self.call("GET", f"/internal/providers/{public_id}/webhook-secret")
        return row

    async def ingest(self, path: str, body: dict[str, Any], integration_key: str, method: str = "POST") -> Any:
        """Forwards an integration's REST call; the service authenticates its API key."""
        return await self.call(
            method, f"/internal/ingest/{path}", json=body, headers={"x-integration-key": integration_key}
        )

    async def integration_config(self, integration_key: str) -> Any:
        """What an embedded integration shows: partner name, colour, marketplace, its products."""
        return await self.call("GET", "/internal/ingest/config", headers={"x-integration-key": integration_key})


class InsightsClient(GatewayClient):
    """The insights service: events, analytics, timelines."""

    service = "insights"

    async def ingest_events(self, body: bytes, integration_key: str) -> Any:
        """Relays an integration's event batch as it came (the service validates every event and has the
        orders service check the key): the gateway parses nothing of it."""
        return await self.call(
            "POST", "/internal/events/ingest", content=body, headers={"x-integration-key": integration_key}
        )


class ReportsClient(GatewayClient):
    """The reports service (next slice): created with the others, not called yet."""

    service = "reports"
