"""Settings, the signed-in user, and team members."""

from __future__ import annotations

import asyncio
import datetime as dt
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from services.gateway.clients import ServiceError, Unavailable
from services.gateway.graphql.context import Context, parse_id, unavailable
from services.gateway.graphql.errors import ErrorCode, PublicError, UserError, user_errors


@strawberry.enum(
    description="ADMIN and MEMBER are the partner's team. PROVIDER: a provider's own staff, invited by the "
    "operator; they see their provider's orders and update their commission, nothing else. Admins cannot "
    "invite or make a PROVIDER (they can remove one)."
)
class Role(Enum):
    ADMIN = "admin"
    MEMBER = "member"
    PROVIDER = "provider"


@strawberry.enum
class MemberStatus(Enum):
    INVITED = "invited"
    ACTIVE = "active"


@strawberry.type
class Organisation:
    id: strawberry.ID
    name: str
    marketplace_url: str | None
    primary_colour: str
    base_currency: str
    time_zone: str

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> Organisation:
        return cls(
            id=strawberry.ID(str(r["id"])),
            name=r["name"],
            marketplace_url=r["marketplace_url"],
            primary_colour=r["primary_colour"],
            base_currency=r["base_currency"],
            time_zone=r["time_zone"],
        )


@strawberry.type(
    description="A member of the team. INVITED until they first sign in with a verified email that matches; "
    "admins can resend or revoke the invitation until then."
)
class Member:
    id: strawberry.ID
    email: str
    role: Role
    status: MemberStatus
    created_at: dt.datetime
    invited_at: dt.datetime | None = strawberry.field(
        description="When the latest invitation was emailed (UTC; a resend moves it). Null for members who "
        "were added without one."
    )
    provider_id: strawberry.ID | None = strawberry.field(description="The provider a PROVIDER user works for.")

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> Member:
        return cls(
            id=strawberry.ID(str(r["id"])),
            email=r["email"],
            role=Role(r["role"]),
            status=MemberStatus(r["status"]),
            created_at=dt.datetime.fromisoformat(r["created_at"]),
            invited_at=dt.datetime.fromisoformat(r["invited_at"]) if r.get("invited_at") else None,
            provider_id=strawberry.ID(str(r["provider_id"])) if r.get("provider_id") else None,
        )


@strawberry.type(
    description="An organisation the signed-in user belongs to: send its id as `X-Organisation-Id` to act in it."
)
class Membership:
    organisation_id: strawberry.ID
    organisation_name: str
    role: Role = strawberry.field(description="The user's role in that organisation.")


@strawberry.type(
    description="An organisation that invited the signed-in user's verified email, not joined yet: sending its id "
    "as `X-Organisation-Id` joins it (the invitation is claimed by this account, as at a first sign-in)."
)
class OrganisationInvitation:
    organisation_id: strawberry.ID
    organisation_name: str
    role: Role = strawberry.field(description="The role the invitation gives.")


def _by_name(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (str(r["org_name"]).casefold(), str(r["org_id"])))


@strawberry.type
class Me:
    subject: str
    email: str | None
    role: Role
    member_id: strawberry.ID
    organisation_id: strawberry.ID
    organisation_name: str
    provider_id: strawberry.ID | None = strawberry.field(
        description="For a PROVIDER user: their provider, whose orders are all they see."
    )
    _lookup: strawberry.Private[asyncio.Task[list[dict[str, Any]]] | None] = None

    async def _rows(self, info: Info[Context, None]) -> list[dict[str, Any]]:
        """The sign-in lookup (`resolve_memberships`: one set-based query across organisations) for this account
        and its verified email, once per request however many of the fields below ask."""
        if self._lookup is None:
            self._lookup = asyncio.ensure_future(info.context.orders.memberships(self.subject, self.email))
        try:
            return await self._lookup
        except Unavailable:
            raise unavailable() from None

    @strawberry.field(
        description="Every organisation this user is a member of (the current one included), by name: the "
        "organisations to choose from. Pending invitations are not memberships (see `invitations`)."
    )
    async def memberships(self, info: Info[Context, None]) -> list[Membership]:
        # Bound to this account (status active); an invitation to the email stays unbound until claimed.
        return [
            Membership(
                organisation_id=strawberry.ID(str(r["org_id"])),
                organisation_name=r["org_name"],
                role=Role(r["role"]),
            )
            for r in _by_name(await self._rows(info))
            if r["status"] == "active"
        ]

    @strawberry.field(
        description="Pending invitations to this user's email, verified by the identity provider, from "
        "organisations they are not a member of yet, by name. Revoked invitations are gone."
    )
    async def invitations(self, info: Info[Context, None]) -> list[OrganisationInvitation]:
        rows = await self._rows(info)
        joined = {r["org_id"] for r in rows if r["status"] == "active"}
        return [
            OrganisationInvitation(
                organisation_id=strawberry.ID(str(r["org_id"])),
                organisation_name=r["org_name"],
                role=Role(r["role"]),
            )
            for r in _by_name(rows)
            if r["status"] == "invited" and r["org_id"] not in joined
        ]


@strawberry.input
class SettingsInput:
    name: str | None = None
    marketplace_url: str | None = None
    primary_colour: str | None = None
    base_currency: str | None = None
    time_zone: str | None = None


@strawberry.type
class SettingsPayload:
    organisation: Organisation | None
    errors: list[UserError]


@strawberry.type
class MemberPayload:
    member: Member | None
    errors: list[UserError]


@strawberry.type
class RemoveMemberPayload:
    removed: bool
    errors: list[UserError]


@strawberry.type
class RevokeInvitationPayload:
    revoked: bool
    errors: list[UserError]


def require_admin(info: Info[Context, None]) -> None:
    if info.context.viewer.role != "admin":
        raise PublicError("this action needs the admin role", ErrorCode.FORBIDDEN)


@strawberry.type
class OrganisationQuery:
    @strawberry.field
    def me(self, info: Info[Context, None]) -> Me:
        v = info.context.viewer
        return Me(
            subject=v.subject,
            email=v.email,
            role=Role(v.role),
            member_id=strawberry.ID(v.member_id),
            organisation_id=strawberry.ID(v.org_id),
            organisation_name=v.org_name,
            provider_id=strawberry.ID(v.provider_id) if v.provider_id else None,
        )

    @strawberry.field
    async def organisation(self, info: Info[Context, None]) -> Organisation:
        return Organisation.from_row(await info.context.call("orders", "GET", "/internal/organisation"))

    @strawberry.field(
        description="The IANA time zones an organisation can be set to (known to every part of the platform)."
    )
    async def time_zones(self, info: Info[Context, None]) -> list[str]:
        return list(await info.context.call("orders", "GET", "/internal/time-zones"))

    @strawberry.field
    async def members(self, info: Info[Context, None]) -> list[Member]:
        return [Member.from_row(r) for r in await info.context.call("orders", "GET", "/internal/members")]


@strawberry.type
class OrganisationMutation:
    @strawberry.mutation(
        description="Admins only. Partner name, marketplace URL, primary colour, base currency, time zone."
    )
    async def update_settings(self, info: Info[Context, None], input: SettingsInput) -> SettingsPayload:
        require_admin(info)
        body = {
            k: v
            for k, v in {
                "name": input.name,
                "marketplaceUrl": input.marketplace_url,
                "primaryColour": input.primary_colour,
                "baseCurrency": input.base_currency,
                "timeZone": input.time_zone,
            }.items()
            if v is not None
        }
        try:
            row = await info.context.call("orders", "PATCH", "/internal/organisation", json=body)
        except ServiceError as exc:
            return SettingsPayload(organisation=None, errors=user_errors(exc))
        return SettingsPayload(organisation=Organisation.from_row(row), errors=[])

    @strawberry.mutation(
        description="Admins only. Invites a team member: they are emailed a sign-in link and join when they first "
        "sign in with this email address, verified by the identity provider."
    )
    async def invite_member(self, info: Info[Context, None], email: str, role: Role = Role.MEMBER) -> MemberPayload:
        require_admin(info)
        try:
            row = await info.context.call(
                "orders", "POST", "/internal/members", json={"email": email, "role": role.value}
            )
        except ServiceError as exc:
            return MemberPayload(member=None, errors=user_errors(exc))
        return MemberPayload(member=Member.from_row(row), errors=[])

    @strawberry.mutation(
        description="Admins only. Changes a member's role; the organisation always keeps at least one admin."
    )
    async def change_member_role(
        self, info: Info[Context, None], member_id: strawberry.ID, role: Role
    ) -> MemberPayload:
        require_admin(info)
        mid = parse_id(member_id, "memberId")
        try:
            row = await info.context.call("orders", "PATCH", f"/internal/members/{mid}", json={"role": role.value})
        except ServiceError as exc:
            return MemberPayload(member=None, errors=user_errors(exc))
        return MemberPayload(member=Member.from_row(row), errors=[])

    @strawberry.mutation(description="Admins only.")
    async def remove_member(self, info: Info[Context, None], member_id: strawberry.ID) -> RemoveMemberPayload:
        require_admin(info)
        mid = parse_id(member_id, "memberId")
        try:
            await info.context.call("orders", "DELETE", f"/internal/members/{mid}")
        except ServiceError as exc:
            return RemoveMemberPayload(removed=False, errors=user_errors(exc))
        return RemoveMemberPayload(removed=True, errors=[])

    @strawberry.mutation(
        description="Admins only. Emails a pending invitation again (a new email each time); refused with "
        "ALREADY_MEMBER once the member has joined."
    )
    async def resend_invitation(self, info: Info[Context, None], member_id: strawberry.ID) -> MemberPayload:
        require_admin(info)
        mid = parse_id(member_id, "memberId")
        try:
            row = await info.context.call("orders", "POST", f"/internal/members/{mid}/invitation")
        except ServiceError as exc:
            return MemberPayload(member=None, errors=user_errors(exc))
        return MemberPayload(member=Member.from_row(row), errors=[])

    @strawberry.mutation(
        description="Admins only. Withdraws a pending invitation: nobody can join with it any more. Refused with "
        "ALREADY_MEMBER once the member has joined (use removeMember)."
    )
    async def revoke_invitation(self, info: Info[Context, None], member_id: strawberry.ID) -> RevokeInvitationPayload:
        require_admin(info)
        mid = parse_id(member_id, "memberId")
        try:
            await info.context.call("orders", "DELETE", f"/internal/members/{mid}/invitation")
        except ServiceError as exc:
            return RevokeInvitationPayload(revoked=False, errors=user_errors(exc))
        return RevokeInvitationPayload(revoked=True, errors=[])
