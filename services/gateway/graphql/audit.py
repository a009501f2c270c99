"""The audit log of admin actions, for admins."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from services.gateway.clients import ServiceError
from services.gateway.graphql.common import PageInfo, check_page
from services.gateway.graphql.context import Context
from services.gateway.graphql.errors import from_service
from services.gateway.graphql.organisation import require_admin


@strawberry.type(description="One admin action: who did it, when, under which request id, and what changed.")
class AuditEntry:
    id: strawberry.ID
    at: dt.datetime
    actor: str
    request_id: str | None
    action: str = strawberry.field(description="member.invited, member.role_changed, settings.updated, ...")
    target: str | None
    change: JSON

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> AuditEntry:
        return cls(
            id=strawberry.ID(str(r["id"])),
            at=dt.datetime.fromisoformat(r["at"]),
            actor=r["actor"],
            request_id=r["request_id"],
            action=r["action"],
            target=r["target"],
            change=r["change"],
        )


@strawberry.type
class AuditEntryEdge:
    cursor: str
    node: AuditEntry


@strawberry.type
class AuditConnection:
    edges: list[AuditEntryEdge]
    page_info: PageInfo


@strawberry.type
class AuditQuery:
    @strawberry.field(description="Admins only. Admin actions, newest first; filter by action names.")
    async def audit_log(
        self, info: Info[Context, None], actions: list[str] | None = None, first: int = 50, after: str | None = None
    ) -> AuditConnection:
        require_admin(info)
        check_page(first, info.context.settings.max_page_size)
        body = {"actions": actions or [], "first": first, "after": after}
        try:
            page = await info.context.call("orders", "POST", "/internal/audit/list", json=body)
        except ServiceError as exc:
            raise from_service(exc) from None
        edges = [AuditEntryEdge(cursor=r["cursor"], node=AuditEntry.from_row(r)) for r in page["rows"]]
        return AuditConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=page["has_next_page"], end_cursor=edges[-1].cursor if edges else None),
        )
