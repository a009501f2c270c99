"""The per-request context: the viewer, the service client and fresh DataLoaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from starlette.requests import Request
from strawberry.dataloader import DataLoader

from services.gateway.auth import Viewer
from services.gateway.orders_client import OrdersClient, Unavailable


def _batch_loader(orders: OrdersClient, viewer: Viewer, path: str) -> DataLoader[str, dict[str, Any] | None]:
    async def load(keys: list[str]) -> list[dict[str, Any] | None]:
        try:
            rows = await orders.call("POST", path, org_id=viewer.org_id, subject=viewer.subject, role=viewer.role,
                                     json={"ids": list(dict.fromkeys(keys))})
        except Unavailable:
            raise _unavailable() from None
        by_id = {str(r["id"]): r for r in rows}
        return [by_id.get(k) for k in keys]

    return DataLoader(load_fn=load, max_batch_size=500)


@dataclass
class Context:
    request: Request
    viewer: Viewer  # None only while rendering the development IDE page, where nothing executes
    orders: OrdersClient
    settings: Any
    loaders: dict[str, DataLoader[str, dict[str, Any] | None]] = field(default_factory=dict)

    def loader(self, kind: str) -> DataLoader[str, dict[str, Any] | None]:
        """One loader per kind per request: one internal call per field type, never a cache across requests."""
        if kind not in self.loaders:
            self.loaders[kind] = _batch_loader(self.orders, self.viewer, f"/internal/{kind}/batch")
        return self.loaders[kind]

    async def call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            return await self.orders.call(method, path, org_id=self.viewer.org_id, subject=self.viewer.subject,
                                          role=self.viewer.role, **kw)
        except Unavailable:
            raise _unavailable() from None


def _unavailable() -> Exception:
    """A backing service is down: say so (clients retry), without internal detail."""
    from services.gateway.graphql.errors import PublicError

    return PublicError("a backing service is unavailable; try again", "UNAVAILABLE")


def parse_id(value: str, field: str) -> UUID:
    from services.gateway.graphql.errors import PublicError

    try:
        return UUID(str(value))
    except ValueError:
        raise PublicError(f"{field}: is not a valid id", "INVALID_ID", field) from None
