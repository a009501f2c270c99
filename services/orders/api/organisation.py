"""Sign-in lookups, organisation settings and the team."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, EmailStr, Field
from starlette.routing import Route

from services.orders.domain.settings import SettingsUpdate
from services.orders.repository import audit, members, organisations
from services.orders.service import organisation
from services.orders.service.audit import AuditAction, record
from shared.db import system_tx
from shared.errors import DomainError, ErrorCode, NotFound
from shared.service.endpoint import Call, TenantCall, system_endpoint, tenant_endpoint
from shared.service.pagination import PageInput


class MembershipQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: str = Field(min_length=1, max_length=300)
    email: str | None = Field(default=None, max_length=320)


@system_endpoint(callers=frozenset({"gateway"}))
async def memberships(call: Call) -> Any:
    """Which organisations the signed-in user belongs to (no organisation is known yet)."""
    q = call.parse(MembershipQuery)
    async with system_tx(call.pool) as conn:
        return await members.resolve(conn, q.subject, q.email)


class Activation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    member_id: UUID = Field(alias="memberId")


@tenant_endpoint()
async def activate(call: TenantCall) -> Any:
    """Binds the invitation to the subject of the service token: the user the gateway authenticated.

    404 when the invitation is no longer pending (revoked, or claimed by another account, after the sign-in
    looked it up): the gateway then refuses the sign-in instead of admitting a member who does not exist.
    """
    body = call.parse(Activation)
    if not call.identity.subject:
        raise DomainError(ErrorCode.NO_SUBJECT, "activation needs the signed-in user's subject", None)
    if not await members.activate(call.conn, call.org_id, body.member_id, call.identity.subject):
        raise NotFound("invitation", "memberId")
    return {"ok": True}


@tenant_endpoint(providers=True)  # the partner's name, currency and time zone frame a provider user's view
async def get_organisation(call: TenantCall) -> Any:
    return await organisations.get(call.conn, call.org_id)


@tenant_endpoint()
async def time_zones(call: TenantCall) -> Any:
    return await organisation.supported_time_zones(call.conn)


@tenant_endpoint(admin=True)
async def update_organisation(call: TenantCall) -> Any:
    change = call.parse(SettingsUpdate)
    org = await organisation.update_settings(call.conn, call.org_id, change)
    await record(call, AuditAction.SETTINGS_UPDATED, call.org_id, change.model_dump(exclude_unset=True, by_alias=True))
    return org


@tenant_endpoint()
async def list_members(call: TenantCall) -> Any:
    return await members.list_all(call.conn, call.org_id)


class Invite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: EmailStr
    role: str = Field(pattern="^(admin|member)$")


def _sign_in_url(call: TenantCall) -> str:
    """Where an invitation email sends people: the dashboard at the platform's public address (GATEWAY_PUBLIC_URL),
    naming the organisation (`?org=`), so that someone who already belongs to another one lands in this one and joins
    it on signing in."""
    return call.service.settings.gateway_public_url.rstrip("/") + f"/?org={call.org_id}"


@tenant_endpoint(admin=True)
async def invite_member(call: TenantCall) -> Any:
    """A pending member; the invitation email goes out once this transaction commits (through the outbox)."""
    body = call.parse(Invite)
    member = await organisation.invite(
        call.conn, call.org_id, str(body.email), body.role, call.identity.subject, sign_in_url=_sign_in_url(call)
    )
    await record(call, AuditAction.MEMBER_INVITED, member["id"], {"email": member["email"], "role": body.role})
    return member


@tenant_endpoint(admin=True)
async def resend_invitation(call: TenantCall) -> Any:
    """The invitation emailed again (its next version: a new email); refused once the member has joined."""
    member = await organisation.resend_invitation(
        call.conn, call.org_id, call.path_uuid("member_id"), call.identity.subject, sign_in_url=_sign_in_url(call)
    )
    change = {
        "email": member["email"],
        "role": member["role"],
        "resent": True,
        "invitation": member["invitation_version"],
    }
    await record(call, AuditAction.MEMBER_INVITED, member["id"], change)
    return member


@tenant_endpoint(admin=True)
async def revoke_invitation(call: TenantCall) -> Any:
    """Withdraws a pending invitation (nobody can claim it any more); refused once the member has joined."""
    member = await organisation.revoke_invitation(call.conn, call.org_id, call.path_uuid("member_id"))
    change = {"email": member["email"], "role": member["role"], "invitation_revoked": True}
    await record(call, AuditAction.MEMBER_REMOVED, member["id"], change)
    return {"ok": True}


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str = Field(pattern="^(admin|member)$")


@tenant_endpoint(admin=True)
async def change_role(call: TenantCall) -> Any:
    body = call.parse(RoleChange)
    member = await organisation.change_role(call.conn, call.org_id, call.path_uuid("member_id"), body.role)
    await record(call, AuditAction.MEMBER_ROLE_CHANGED, member["id"], {"email": member["email"], "role": body.role})
    return member


@tenant_endpoint(admin=True)
async def remove_member(call: TenantCall) -> Any:
    member_id = call.path_uuid("member_id")
    await organisation.remove_member(call.conn, call.org_id, member_id, call.identity.subject)
    await record(call, AuditAction.MEMBER_REMOVED, member_id, {})
    return {"ok": True}


class AuditPage(PageInput):
    actions: list[AuditAction] = Field(default_factory=list, max_length=len(AuditAction))


@tenant_endpoint(admin=True)
async def audit_log(call: TenantCall) -> Any:
    q = call.parse(AuditPage)
    rows, more = await audit.page(call.conn, call.org_id, [a.value for a in q.actions], q.first, q.after)
    return {"rows": rows, "has_next_page": more}


routes = [
    Route("/internal/auth/memberships", memberships, methods=["POST"]),
    Route("/internal/auth/activate", activate, methods=["POST"]),
    Route("/internal/organisation", get_organisation, methods=["GET"]),
    Route("/internal/time-zones", time_zones, methods=["GET"]),
    Route("/internal/organisation", update_organisation, methods=["PATCH"]),
    Route("/internal/members", list_members, methods=["GET"]),
    Route("/internal/audit/list", audit_log, methods=["POST"]),
    Route("/internal/members", invite_member, methods=["POST"]),
    Route("/internal/members/{member_id}", change_role, methods=["PATCH"]),
    Route("/internal/members/{member_id}", remove_member, methods=["DELETE"]),
    Route("/internal/members/{member_id}/invitation", resend_invitation, methods=["POST"]),
    Route("/internal/members/{member_id}/invitation", revoke_invitation, methods=["DELETE"]),
]
