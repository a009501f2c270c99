"""MongoDB connections' internal API (issue 11): thin handlers over service/mongo_forwarding.py. Admins only.

Connecting and changing a target check it over the network first (reachable, authenticated, allowed to write), so
those handlers open their own transactions after the check (`org_endpoint`); a refusal names `uri` (or the field)
and stores nothing. The URI is never answered: `uri` is its masked form (scheme and hosts). Another organisation's
connection answers exactly as an unknown id (`NOT_FOUND`, row-level security and an explicit org filter).
"""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from services.reports.repository import mongo_connections as store
from services.reports.service import mongo_forwarding as workflow
from shared.db import tenant_tx
from shared.errors import NotFound
from shared.service.endpoint import OrgCall, TenantCall, org_endpoint, tenant_endpoint

BASE = "/internal/reports/mongo-connections"


async def _answer(call: OrgCall, c: store.MongoConnection) -> Any:
    async with tenant_tx(call.pool, call.org_id) as conn:
        return await workflow.status_json(conn, c)


@org_endpoint(admin=True)
async def connect(call: OrgCall) -> Any:
    c = await workflow.connect(call.pool, call.org_id, call.actor, call.body)
    return await _answer(call, c)


@org_endpoint(admin=True)
async def update(call: OrgCall) -> Any:
    c = await workflow.update(call.pool, call.org_id, call.path_uuid("id"), call.body)
    return await _answer(call, c)


@org_endpoint(admin=True)
async def pause(call: OrgCall) -> Any:
    return await _answer(call, await workflow.set_status(call.pool, call.org_id, call.path_uuid("id"), "paused"))


@org_endpoint(admin=True)
async def resume(call: OrgCall) -> Any:
    return await _answer(call, await workflow.set_status(call.pool, call.org_id, call.path_uuid("id"), "active"))


@org_endpoint(admin=True)
async def delete(call: OrgCall) -> Any:
    await workflow.delete(call.pool, call.org_id, call.path_uuid("id"))
    return {"deleted": True}


@tenant_endpoint(admin=True)
async def listed(call: TenantCall) -> Any:
    return {
        "connections": [await workflow.status_json(call.conn, c) for c in await store.listed(call.conn, call.org_id)]
    }


@tenant_endpoint(admin=True)
async def get(call: TenantCall) -> Any:
    c = await store.get(call.conn, call.org_id, call.path_uuid("id"))
    if c is None:
        raise NotFound("MongoDB connection")
    return await workflow.status_json(call.conn, c)


routes = [
    Route(BASE, listed, methods=["GET"]),
    Route(BASE, connect, methods=["POST"]),
    Route(BASE + "/{id}", get, methods=["GET"]),
    Route(BASE + "/{id}", update, methods=["PUT"]),
    Route(BASE + "/{id}", delete, methods=["DELETE"]),
    Route(BASE + "/{id}/pause", pause, methods=["POST"]),
    Route(BASE + "/{id}/resume", resume, methods=["POST"]),
]
