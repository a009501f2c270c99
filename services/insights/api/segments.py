"""Segments: thin handlers over service/segments.py (which has the rules).

Everyone in the organisation reads; admins create, change, delete and recompute (`admin=True`). Closed to
provider users (the kit's default). Members are paged by keyset in customer-id order; the gateway resolves
them to customers with the orders service.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from starlette.routing import Route

from services.insights.domain.segments import MAX_STATIC_MEMBERS
from services.insights.repository.segments import Segment
from services.insights.service import segments as workflow
from services.insights.service.segments import MembershipDiff
from shared.service.endpoint import TenantCall, tenant_endpoint
from shared.service.pagination import PageInput
from shared.text import no_control_characters

Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(no_control_characters),
]


class NewSegment(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: Name
    definition: dict[str, Any] | None = None
    customer_ids: list[UUID] | None = Field(default=None, alias="customerIds", max_length=MAX_STATIC_MEMBERS)


class ChangeSegment(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: Name | None = None
    definition: dict[str, Any] | None = None
    customer_ids: list[UUID] | None = Field(default=None, alias="customerIds", max_length=MAX_STATIC_MEMBERS)


def segment_json(s: Segment) -> dict[str, Any]:
    return {
        "id": str(s.id),
        "name": s.name,
        "kind": s.kind.value,
        "definition": s.definition,
        "source": s.source,
        "memberCount": s.member_count,
        "version": s.version,
        "computedAt": s.computed_at.isoformat() if s.computed_at else None,
        "createdAt": s.created_at.isoformat(),
        "updatedAt": s.updated_at.isoformat(),
    }


def _diff_json(d: MembershipDiff | None) -> dict[str, Any] | None:
    return {"added": len(d.added), "removed": len(d.removed)} if d else None


@tenant_endpoint()
async def list_segments(call: TenantCall) -> Any:
    return [segment_json(s) for s in await workflow.list_segments(call.conn, call.org_id)]


@tenant_endpoint()
async def get_segment(call: TenantCall) -> Any:
    return segment_json(await workflow.get_segment(call.conn, call.org_id, call.path_uuid("id")))


@tenant_endpoint()
async def members(call: TenantCall) -> Any:
    page = call.parse(PageInput)
    segment, rows, more = await workflow.members_page(
        call.conn, call.org_id, call.path_uuid("id"), page.first, page.after
    )
    return {
        "segment": segment_json(segment),
        "rows": [{"customerId": str(c), "cursor": cursor} for c, cursor in rows],
        "hasNextPage": more,
    }


@tenant_endpoint(admin=True)
async def create_segment(call: TenantCall) -> Any:
    body = call.parse(NewSegment)
    segment, diff = await workflow.create(
        call.conn, call.org_id, name=body.name, definition=body.definition, customer_ids=body.customer_ids
    )
    return {**segment_json(segment), "change": _diff_json(diff)}


@tenant_endpoint(admin=True)
async def change_segment(call: TenantCall) -> Any:
    body = call.parse(ChangeSegment)
    segment, diff = await workflow.update(
        call.conn,
        call.org_id,
        call.path_uuid("id"),
        name=body.name,
        definition=body.definition,
        customer_ids=body.customer_ids,
    )
    return {**segment_json(segment), "change": _diff_json(diff)}


@tenant_endpoint(admin=True)
async def delete_segment(call: TenantCall) -> Any:
    await workflow.delete(call.conn, call.org_id, call.path_uuid("id"))
    return {"deleted": True}


@tenant_endpoint(admin=True)
async def recompute_segment(call: TenantCall) -> Any:
    diff = await workflow.recompute(call.conn, call.org_id, call.path_uuid("id"))
    segment = await workflow.get_segment(call.conn, call.org_id, diff.segment_id)
    return {**segment_json(segment), "change": _diff_json(diff)}


routes = [
    Route("/internal/segments", list_segments, methods=["GET"]),
    Route("/internal/segments", create_segment, methods=["POST"]),
    Route("/internal/segments/{id}", get_segment, methods=["GET"]),
    Route("/internal/segments/{id}", change_segment, methods=["PATCH"]),
    Route("/internal/segments/{id}", delete_segment, methods=["DELETE"]),
    Route("/internal/segments/{id}/members", members, methods=["POST"]),
    Route("/internal/segments/{id}/recompute", recompute_segment, methods=["POST"]),
]
