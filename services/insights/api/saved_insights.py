"""Saved insights and dashboards: thin handlers over service/saved_insights.py (which says who may do what).

The caller is the service token's subject and role (the gateway mints it for the signed-in user); nothing
in a body says who acts. Closed to provider users (the kit's default). A dashboard is read with every tile's
answer in one call (`GET /internal/dashboards/{id}`), so the gateway makes one call per dashboard however
many tiles it has; `?types=a,b` answers only the tiles counting those event types (a live refresh).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.routing import Route

from services.insights.repository.saved_insights import Dashboard, SavedInsight, Tile
from services.insights.service import saved_insights as workflow
from services.insights.service.saved_insights import Caller
from shared.errors import DomainError, ErrorCode
from shared.service.endpoint import TenantCall, tenant_endpoint

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
MAX_BATCH = 100
MAX_TYPES = 64


class SaveInsight(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    description: Description = ""
    input: dict[str, Any]


class ChangeInsight(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    description: Description | None = None
    input: dict[str, Any] | None = None


class Ids(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[UUID] = Field(max_length=MAX_BATCH)


class DashboardName(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name


class AddTile(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    saved_insight_id: UUID = Field(alias="savedInsightId")
    position: int | None = Field(default=None, ge=0)
    width: int | None = Field(default=None, ge=1, le=4)


class MoveTile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    position: int | None = Field(default=None, ge=0)
    width: int | None = Field(default=None, ge=1, le=4)


def _caller(call: TenantCall) -> Caller:
    return Caller(call.identity.subject, call.identity.role)


def _ts(value: datetime) -> str:
    return value.isoformat()


def _insight_json(s: SavedInsight, caller: Caller) -> dict[str, Any]:
    return {
        "id": str(s.id),
        "name": s.name,
        "description": s.description,
        "input": s.input,
        "eventTypes": list(s.event_types),
        "byPlatform": s.author is None,
        "mine": s.author is not None and s.author == caller.subject,
        "canEdit": caller.may_change(s.author),
        "createdAt": _ts(s.created_at),
        "updatedAt": _ts(s.updated_at),
    }


def _dashboard_json(d: Dashboard, caller: Caller) -> dict[str, Any]:
    return {
        "id": str(d.id),
        "name": d.name,
        "isDefault": d.is_default,
        "byPlatform": d.author is None,
        "mine": d.author is not None and d.author == caller.subject,
        "canEdit": caller.may_change(d.author),
        "tileCount": d.tile_count,
        "createdAt": _ts(d.created_at),
        "updatedAt": _ts(d.updated_at),
    }


def _tile_json(tile: Tile, answered: dict[str, Any], caller: Caller) -> dict[str, Any]:
    return {
        "position": tile.position,
        "width": tile.width,
        "savedInsight": {**_insight_json(tile.insight, caller), **answered},
    }


# ------------------------------------------------------------------------------------------ saved insights


@tenant_endpoint()
async def list_insights(call: TenantCall) -> Any:
    caller = _caller(call)
    return [_insight_json(s, caller) for s in await workflow.list_insights(call.conn, call.org_id)]


@tenant_endpoint()
async def save_insight(call: TenantCall) -> Any:
    body, caller = call.parse(SaveInsight), _caller(call)
    saved = await workflow.save_insight(
        call.conn, call.org_id, caller, name=body.name, description=body.description, raw_input=body.input
    )
    return _insight_json(saved, caller)


@tenant_endpoint()
async def get_insight(call: TenantCall) -> Any:
    """The definition and its current answer."""
    caller = _caller(call)
    saved = await workflow.get_insight(call.conn, call.org_id, call.path_uuid("id"))
    return {**_insight_json(saved, caller), **await workflow.answer(call.conn, call.org_id, saved)}


@tenant_endpoint()
async def batch_insights(call: TenantCall) -> Any:
    """Saved insights by id with their answers (the gateway's DataLoader: one call for a whole list); ids not
    found (unknown, another organisation's) are absent."""
    caller, ids = _caller(call), call.parse(Ids).ids
    found = await workflow.store.get_insights(call.conn, call.org_id, list(dict.fromkeys(ids)))
    return [{**_insight_json(s, caller), **await workflow.answer(call.conn, call.org_id, s)} for s in found]


@tenant_endpoint()
async def change_insight(call: TenantCall) -> Any:
    body, caller = call.parse(ChangeInsight), _caller(call)
    saved = await workflow.update_insight(
        call.conn,
        call.org_id,
        caller,
        call.path_uuid("id"),
        name=body.name,
        description=body.description,
        raw_input=body.input,
    )
    return _insight_json(saved, caller)


@tenant_endpoint()
async def delete_insight(call: TenantCall) -> Any:
    await workflow.delete_insight(call.conn, call.org_id, _caller(call), call.path_uuid("id"))
    return {"deleted": True}


# ----------------------------------------------------------------------------------------------- dashboards


@tenant_endpoint()
async def list_dashboards(call: TenantCall) -> Any:
    caller = _caller(call)
    return [_dashboard_json(d, caller) for d in await workflow.list_dashboards(call.conn, call.org_id)]


def _types(call: TenantCall) -> list[str] | None:
    raw = call.request.query_params.get("types")
    if raw is None:
        return None
    types = [t for t in raw.split(",") if t]
    if len(types) > MAX_TYPES:
        raise DomainError(ErrorCode.INVALID_INPUT, f"at most {MAX_TYPES} types", "types")
    return types


@tenant_endpoint()
async def get_dashboard(call: TenantCall) -> Any:
    """The dashboard with its tiles in order, each with its saved insight and current answer (one call)."""
    caller, dashboard_id, types = _caller(call), call.path_uuid("id"), _types(call)
    await workflow.ensure_default_dashboard(call.conn, call.org_id)
    d = await workflow.get_dashboard(call.conn, call.org_id, dashboard_id)
    tiles = await workflow.dashboard_tiles(call.conn, call.org_id, dashboard_id, types=types)
    return {
        **_dashboard_json(d, caller),
        "tileCount": len(tiles),
        "tiles": [_tile_json(t, a, caller) for t, a in tiles if a is not None],
    }


@tenant_endpoint()
async def create_dashboard(call: TenantCall) -> Any:
    caller = _caller(call)
    d = await workflow.create_dashboard(call.conn, call.org_id, caller, call.parse(DashboardName).name)
    return {**_dashboard_json(d, caller), "tiles": []}


@tenant_endpoint()
async def rename_dashboard(call: TenantCall) -> Any:
    caller = _caller(call)
    d = await workflow.rename_dashboard(
        call.conn, call.org_id, caller, call.path_uuid("id"), call.parse(DashboardName).name
    )
    return _dashboard_json(d, caller)


@tenant_endpoint()
async def delete_dashboard(call: TenantCall) -> Any:
    await workflow.delete_dashboard(call.conn, call.org_id, _caller(call), call.path_uuid("id"))
    return {"deleted": True}


async def _layout(call: TenantCall, dashboard_id: UUID) -> Any:
    """The dashboard after a tile change, without answers (the gateway batches those asked for in one call)."""
    caller = _caller(call)
    d = await workflow.get_dashboard(call.conn, call.org_id, dashboard_id)
    tiles = await workflow.store.tiles(call.conn, call.org_id, dashboard_id)
    return {
        **_dashboard_json(d, caller),
        "tileCount": len(tiles),
        "tiles": [_tile_json(t, {}, caller) for t in tiles],
    }


@tenant_endpoint()
async def add_tile(call: TenantCall) -> Any:
    body, dashboard_id = call.parse(AddTile), call.path_uuid("id")
    await workflow.add_tile(
        call.conn,
        call.org_id,
        _caller(call),
        dashboard_id,
        body.saved_insight_id,
        position=body.position,
        width=body.width,
    )
    return await _layout(call, dashboard_id)


@tenant_endpoint()
async def move_tile(call: TenantCall) -> Any:
    body, dashboard_id = call.parse(MoveTile), call.path_uuid("id")
    await workflow.move_tile(
        call.conn,
        call.org_id,
        _caller(call),
        dashboard_id,
        call.path_uuid("insight_id"),
        position=body.position,
        width=body.width,
    )
    return await _layout(call, dashboard_id)


@tenant_endpoint()
async def remove_tile(call: TenantCall) -> Any:
    dashboard_id = call.path_uuid("id")
    await workflow.remove_tile(call.conn, call.org_id, _caller(call), dashboard_id, call.path_uuid("insight_id"))
    return await _layout(call, dashboard_id)


routes = [
    Route("/internal/saved-insights", list_insights, methods=["GET"]),
    Route("/internal/saved-insights", save_insight, methods=["POST"]),
    Route("/internal/saved-insights/batch", batch_insights, methods=["POST"]),
    Route("/internal/saved-insights/{id}", get_insight, methods=["GET"]),
    Route("/internal/saved-insights/{id}", change_insight, methods=["PATCH"]),
    Route("/internal/saved-insights/{id}", delete_insight, methods=["DELETE"]),
    Route("/internal/dashboards", list_dashboards, methods=["GET"]),
    Route("/internal/dashboards", create_dashboard, methods=["POST"]),
    Route("/internal/dashboards/{id}", get_dashboard, methods=["GET"]),
    Route("/internal/dashboards/{id}", rename_dashboard, methods=["PATCH"]),
    Route("/internal/dashboards/{id}", delete_dashboard, methods=["DELETE"]),
    Route("/internal/dashboards/{id}/tiles", add_tile, methods=["POST"]),
    Route("/internal/dashboards/{id}/tiles/{insight_id}", move_tile, methods=["PATCH"]),
    Route("/internal/dashboards/{id}/tiles/{insight_id}", remove_tile, methods=["DELETE"]),
]
