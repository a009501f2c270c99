"""Report schedules' internal API: thin handlers over service/schedules.py.

Any member reads the organisation's schedules; the owner and the admins change them (the service checks). The
gateway passes the viewer's member id (`memberId`): the owner recorded, whose membership each slot checks.
Recipients are checked with the orders service when a schedule is made or changed: a refusal names the field
(`memberIds[1]`), and another organisation's ids are refused exactly as unknown ones.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.routing import Route

from services.reports.repository import schedules as store
from services.reports.service import schedules as workflow
from shared.errors import DomainError, ErrorCode, NotFound
from shared.service.endpoint import Call, TenantCall, tenant_endpoint


def _orders(call: Call) -> workflow.OrdersDirectory:
    """This process's client of the orders service, made on first use (one per app)."""
    state = call.request.app.state
    client: workflow.OrdersDirectory | None = getattr(state, "orders_directory", None)
    if client is None:
        client = state.orders_directory = workflow.OrdersDirectory.from_settings(call.service.settings)
    return client


def _body(call: TenantCall) -> dict[str, Any]:
    if not isinstance(call.body, dict):
        raise DomainError(ErrorCode.INVALID_INPUT, "the body is a JSON object")
    return call.body


def _actor(call: TenantCall) -> workflow.Actor:
    if not call.identity.subject:
        raise DomainError(ErrorCode.NO_SUBJECT, "schedules are changed by a signed-in user", status=403)
    raw = call.body.get("memberId") if isinstance(call.body, dict) else None
    member_id = None
    if raw is not None:
        try:
            member_id = UUID(str(raw))
        except ValueError:
            raise DomainError(ErrorCode.INVALID_ID, "is not a valid id", "memberId") from None
    return workflow.Actor(call.identity.subject, call.identity.role, member_id)


@tenant_endpoint()
async def create_schedule(call: TenantCall) -> Any:
    s = await workflow.create(call.conn, _orders(call), call.org_id, _actor(call), _body(call))
    return workflow.schedule_json(s, [])


@tenant_endpoint()
async def update_schedule(call: TenantCall) -> Any:
    id = call.path_uuid("id")
    s = await workflow.update(call.conn, _orders(call), call.org_id, _actor(call), id, _body(call))
    return workflow.schedule_json(s, await store.slots(call.conn, call.org_id, id))


@tenant_endpoint()
async def pause_schedule(call: TenantCall) -> Any:
    id = call.path_uuid("id")
    s = await workflow.pause(call.conn, call.org_id, _actor(call), id)
    return workflow.schedule_json(s, await store.slots(call.conn, call.org_id, id))


@tenant_endpoint()
async def resume_schedule(call: TenantCall) -> Any:
    id = call.path_uuid("id")
    s = await workflow.resume(call.conn, _orders(call), call.org_id, _actor(call), id)
    return workflow.schedule_json(s, await store.slots(call.conn, call.org_id, id))


@tenant_endpoint()
async def delete_schedule(call: TenantCall) -> Any:
    await workflow.delete(call.conn, call.org_id, _actor(call), call.path_uuid("id"))
    return {"deleted": True}


@tenant_endpoint()
async def list_schedules(call: TenantCall) -> Any:
    return {"schedules": [workflow.schedule_json(s) for s in await store.listed(call.conn, call.org_id)]}


@tenant_endpoint()
async def get_schedule(call: TenantCall) -> Any:
    id = call.path_uuid("id")
    s = await store.get(call.conn, call.org_id, id)
    if s is None:
        raise NotFound("report schedule")
    return workflow.schedule_json(s, await store.slots(call.conn, call.org_id, id))


routes = [
    Route("/internal/reports/schedules", list_schedules, methods=["GET"]),
    Route("/internal/reports/schedules", create_schedule, methods=["POST"]),
    Route("/internal/reports/schedules/{id}", get_schedule, methods=["GET"]),
    Route("/internal/reports/schedules/{id}", update_schedule, methods=["PUT"]),
    Route("/internal/reports/schedules/{id}", delete_schedule, methods=["DELETE"]),
    Route("/internal/reports/schedules/{id}/pause", pause_schedule, methods=["POST"]),
    Route("/internal/reports/schedules/{id}/resume", resume_schedule, methods=["POST"]),
]
