"""The per-request context: the viewer, the settings, one client per service and fresh DataLoaders.

A `Context` is built for every GraphQL request (`app.GraphQLView.get_context`), so its loaders
batch the calls of one request and never serve one request's rows to another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

from starlette.requests import Request
from strawberry.dataloader import DataLoader

from services.gateway.auth import Viewer
from services.gateway.clients import (
    InsightsClient,
    OrdersClient,
    ReportsClient,
    ServiceClient,
    ServiceError,
    Unavailable,
)
from services.gateway.graphql.errors import ErrorCode, PublicError
from shared.config import Settings

ServiceName = Literal["orders", "insights", "reports"]
Row = dict[str, Any]
Loader = DataLoader[str, Row | None]

MAX_BATCH = 500


def _batch_loader(client: ServiceClient, viewer: Viewer, kind: str) -> Loader:
    """Rows of one kind by id through `/internal/<kind>/batch`, in the order of the keys asked for."""

    async def load(keys: list[str]) -> list[Row | None]:
        try:
            rows: list[Row] = await client.call(
                "POST",
                f"/internal/{kind}/batch",
                org_id=viewer.org_id,
                subject=viewer.subject,
                role=viewer.role,
                provider_id=viewer.provider_id,
                json={"ids": list(dict.fromkeys(keys))},
            )
        except Unavailable:
            raise unavailable() from None
        by_id = {str(r["id"]): r for r in rows}
        return [by_id.get(k) for k in keys]

    return DataLoader(load_fn=load, max_batch_size=MAX_BATCH)


@dataclass
class Context:
    request: Request
    viewer: Viewer  # None only while rendering the development IDE page, where nothing executes
    settings: Settings
    orders: OrdersClient
    insights: InsightsClient
    reports: ReportsClient
    loaders: dict[tuple[ServiceName, str], Loader] = field(default_factory=dict)

    def client(self, service: ServiceName) -> ServiceClient:
        clients: dict[ServiceName, ServiceClient] = {
            "orders": self.orders,
            "insights": self.insights,
            "reports": self.reports,
        }
        return clients[service]

    def loader(self, service: ServiceName, kind: str) -> Loader:
        """One loader per (service, kind) per request: one internal call per field type, never a cache
        across requests."""
        key = (service, kind)
        loader = self.loaders.get(key)
        if loader is None:
            loader = self.loaders[key] = _batch_loader(self.client(service), self.viewer, kind)
        return loader

    async def call(self, service: ServiceName, method: str, path: str, **kw: Any) -> Any:
        """A call to `service` as the viewer (their organisation, subject, role and, for a provider user,
        provider travel in the token)."""
        v = self.viewer
        try:
            return await self.client(service).call(
                method, path, org_id=v.org_id, subject=v.subject, role=v.role, provider_id=v.provider_id, **kw
            )
        except Unavailable:
            raise unavailable() from None
        except ServiceError as exc:
            if exc.status == 403 and exc.code == ErrorCode.FORBIDDEN:
                # Not allowed at all (a role's limit, e.g. a provider user outside their orders): the field
                # is refused as a whole, wherever it is asked, rather than as an unexpected failure.
                raise PublicError(exc.message, ErrorCode.FORBIDDEN, exc.field) from None
            raise


def unavailable() -> PublicError:
    """A backing service is down: say so (clients retry), without internal detail."""
    return PublicError("a backing service is unavailable; try again", ErrorCode.UNAVAILABLE)


def parse_id(value: str, field: str) -> UUID:
    try:
        return UUID(str(value))
    except ValueError:
        raise PublicError(f"{field}: is not a valid id", ErrorCode.INVALID_ID, field) from None
