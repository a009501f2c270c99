"""Teams (admins manage them; the team reads them) and the reports service's recipient lookup."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import Route

from services.orders.repository import teams as team_rows
from services.orders.service import teams
from shared.errors import DomainError, ErrorCode, Forbidden, NotFound
from shared.service.endpoint import TenantCall, tenant_endpoint
from shared.text import PlainText

# Recipients of one report: a bound on what a schedule can name.
MAX_RECIPIENTS = 200


class TeamName(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: PlainText = Field(min_length=1, max_length=100)


class TeamMember(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    member_id: UUID = Field(alias="memberId")


class Recipients(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    member_ids: list[UUID] = Field(default_factory=list, alias="memberIds", max_length=MAX_RECIPIENTS)
    team_ids: list[UUID] = Field(default_factory=list, alias="teamIds", max_length=MAX_RECIPIENTS)


def _name(call: TenantCall) -> str:
    name = call.parse(TeamName).name.strip()
    if not name:
        raise DomainError(ErrorCode.INVALID_INPUT, "name: must not be blank", "name")
    return name


@tenant_endpoint()
async def list_teams(call: TenantCall) -> Any:
    return await team_rows.list_all(call.conn, call.org_id)


@tenant_endpoint()
async def get_team(call: TenantCall) -> Any:
    team = await team_rows.get(call.conn, call.org_id, call.path_uuid("team_id"))
    if team is None:
        raise NotFound("team", "id")
    return team


@tenant_endpoint(admin=True)
async def create_team(call: TenantCall) -> Any:
    return await teams.create(call.conn, call.org_id, _name(call))


@tenant_endpoint(admin=True)
async def rename_team(call: TenantCall) -> Any:
    return await teams.rename(call.conn, call.org_id, call.path_uuid("team_id"), _name(call))


@tenant_endpoint(admin=True)
async def delete_team(call: TenantCall) -> Any:
    await teams.delete(call.conn, call.org_id, call.path_uuid("team_id"))
    return {"ok": True}


@tenant_endpoint(admin=True)
async def add_team_member(call: TenantCall) -> Any:
    body = call.parse(TeamMember)
    return await teams.add_member(call.conn, call.org_id, call.path_uuid("team_id"), body.member_id)


@tenant_endpoint(admin=True)
async def remove_team_member(call: TenantCall) -> Any:
    return await teams.remove_member(call.conn, call.org_id, call.path_uuid("team_id"), call.path_uuid("member_id"))


@tenant_endpoint()
async def resolve_recipients(call: TenantCall) -> Any:
    """The members (id, email, role) of each member and team id, as they are now: the reports scheduler asks at
    send time. Unknown and other organisations' ids come back as unknown alike."""
    if call.identity.caller != "reports":
        raise Forbidden("only reports may call this")
    body = call.parse(Recipients)
    return await teams.resolve_recipients(call.conn, call.org_id, body.member_ids, body.team_ids)


routes = [
    Route("/internal/teams", list_teams, methods=["GET"]),
    Route("/internal/teams", create_team, methods=["POST"]),
    Route("/internal/teams/{team_id}", get_team, methods=["GET"]),
    Route("/internal/teams/{team_id}", rename_team, methods=["PATCH"]),
    Route("/internal/teams/{team_id}", delete_team, methods=["DELETE"]),
    Route("/internal/teams/{team_id}/members", add_team_member, methods=["POST"]),
    Route("/internal/teams/{team_id}/members/{member_id}", remove_team_member, methods=["DELETE"]),
    Route("/internal/recipients/resolve", resolve_recipients, methods=["POST"]),
]
