from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, EmailStr, Field
from starlette.routing import Route

from services.orders.api.kit import Call, endpoint
from services.orders.domain.settings import SettingsUpdate
from services.orders.errors import DomainError
from services.orders.repository import members, organisations
from shared.db import system_tx


class MembershipQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: str = Field(min_length=1, max_length=300)
    email: str | None = Field(default=None, max_length=320)


@endpoint(org=False, tx=False)
async def memberships(call: Call) -> Any:
    """Which organisations the signed-in user belongs to (no organisation is known yet)."""
    q = call.parse(MembershipQuery)
    async with system_tx(call.request.app.state.pool) as conn:
        return await members.resolve(conn, q.subject, q.email)


class Activation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    member_id: UUID = Field(alias="memberId")


@endpoint()
async def activate(call: Call) -> Any:
    """Binds the invitation to the subject of the service token: the user the gateway authenticated."""
    body = call.parse(Activation)
    if not call.identity.subject:
        raise DomainError("NO_SUBJECT", "activation needs the signed-in user's subject", None)
    await members.activate(call.conn, call.org_id, body.member_id, call.identity.subject)
    return {"ok": True}


@endpoint()
async def get_organisation(call: Call) -> Any:
    return await organisations.get(call.conn, call.org_id)


@endpoint(admin=True)
async def update_organisation(call: Call) -> Any:
    return await organisations.update(call.conn, call.org_id, call.parse(SettingsUpdate))


@endpoint()
async def list_members(call: Call) -> Any:
    return await members.list_all(call.conn, call.org_id)


class Invite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: EmailStr
    role: str = Field(pattern="^(admin|member)$")


@endpoint(admin=True)
async def invite_member(call: Call) -> Any:
    body = call.parse(Invite)
    inviter = await call.conn.fetchval("SELECT id FROM members WHERE org_id = $1 AND subject = $2", call.org_id,
                                       call.identity.subject)
    return await members.add(call.conn, call.org_id, str(body.email), body.role, invited_by=inviter)


@endpoint(admin=True)
async def remove_member(call: Call) -> Any:
    member_id = call.path_uuid("member_id")
    acting = await call.conn.fetchval("SELECT id FROM members WHERE org_id = $1 AND subject = $2", call.org_id,
                                      call.identity.subject)
    await members.remove(call.conn, call.org_id, member_id, acting)
    return {"ok": True}


routes = [
    Route("/internal/auth/memberships", memberships, methods=["POST"]),
    Route("/internal/auth/activate", activate, methods=["POST"]),
    Route("/internal/organisation", get_organisation, methods=["GET"]),
    Route("/internal/organisation", update_organisation, methods=["PATCH"]),
    Route("/internal/members", list_members, methods=["GET"]),
    Route("/internal/members", invite_member, methods=["POST"]),
    Route("/internal/members/{member_id}", remove_member, methods=["DELETE"]),
]
