"""Teams: named groups of members, the recipients of scheduled reports (the orders service owns them)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry
from strawberry.types import Info

from services.gateway.clients import ServiceError
from services.gateway.graphql.context import Context, parse_id
from services.gateway.graphql.errors import ErrorCode, UserError, from_service, user_errors
from services.gateway.graphql.organisation import MemberStatus, Role, require_admin


@strawberry.type(description="A member of a team, with the email reports are sent to.")
class TeamMember:
    id: strawberry.ID
    email: str | None
    role: Role
    status: MemberStatus

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> TeamMember:
        return cls(
            id=strawberry.ID(str(r["id"])),
            email=r.get("email"),
            role=Role(r["role"]),
            status=MemberStatus(r["status"]),
        )


@strawberry.type(
    description="A named group of members (names unique per organisation, ignoring case). A member removed from "
    "the organisation leaves every team. Reports sent to a team go to its members at the time of sending."
)
class Team:
    id: strawberry.ID
    name: str
    created_at: dt.datetime
    updated_at: dt.datetime
    members: list[TeamMember]

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> Team:
        return cls(
            id=strawberry.ID(str(r["id"])),
            name=r["name"],
            created_at=dt.datetime.fromisoformat(r["created_at"]),
            updated_at=dt.datetime.fromisoformat(r["updated_at"]),
            members=[TeamMember.from_row(m) for m in r["members"]],
        )


@strawberry.type
class TeamPayload:
    team: Team | None
    errors: list[UserError]


@strawberry.type
class DeleteTeamPayload:
    deleted: bool
    errors: list[UserError]


@strawberry.type
class TeamsQuery:
    @strawberry.field(description="The organisation's teams with their members, by name.")
    async def teams(self, info: Info[Context, None]) -> list[Team]:
        return [Team.from_row(r) for r in await info.context.call("orders", "GET", "/internal/teams")]

    @strawberry.field(description="A team by id; null when there is none (another organisation's ids alike).")
    async def team(self, info: Info[Context, None], id: strawberry.ID) -> Team | None:
        team_id = parse_id(id, "id")
        try:
            row = await info.context.call("orders", "GET", f"/internal/teams/{team_id}")
        except ServiceError as exc:
            if exc.code == ErrorCode.NOT_FOUND:
                return None
            raise from_service(exc) from None
        return Team.from_row(row)


async def _team_change(info: Info[Context, None], method: str, path: str, body: Any = None) -> TeamPayload:
    require_admin(info)
    try:
        row = await info.context.call("orders", method, path, json=body)
    except ServiceError as exc:
        return TeamPayload(team=None, errors=user_errors(exc))
    return TeamPayload(team=Team.from_row(row), errors=[])


@strawberry.type
class TeamsMutation:
    @strawberry.mutation(description="Admins only. Refused with DUPLICATE_NAME (field `name`) when the name is taken.")
    async def create_team(self, info: Info[Context, None], name: str) -> TeamPayload:
        return await _team_change(info, "POST", "/internal/teams", {"name": name})

    @strawberry.mutation(description="Admins only. Refused with DUPLICATE_NAME (field `name`) when the name is taken.")
    async def rename_team(self, info: Info[Context, None], id: strawberry.ID, name: str) -> TeamPayload:
        team_id = parse_id(id, "teamId")
        return await _team_change(info, "PATCH", f"/internal/teams/{team_id}", {"name": name})

    @strawberry.mutation(
        description="Admins only. Adds a member of the organisation (idempotent); provider users cannot join."
    )
    async def add_team_member(
        self, info: Info[Context, None], team_id: strawberry.ID, member_id: strawberry.ID
    ) -> TeamPayload:
        tid, mid = parse_id(team_id, "teamId"), parse_id(member_id, "memberId")
        return await _team_change(info, "POST", f"/internal/teams/{tid}/members", {"memberId": str(mid)})

    @strawberry.mutation(description="Admins only.")
    async def remove_team_member(
        self, info: Info[Context, None], team_id: strawberry.ID, member_id: strawberry.ID
    ) -> TeamPayload:
        tid, mid = parse_id(team_id, "teamId"), parse_id(member_id, "memberId")
        return await _team_change(info, "DELETE", f"/internal/teams/{tid}/members/{mid}")

    @strawberry.mutation(description="Admins only. Schedules that name the team no longer send to it.")
    async def delete_team(self, info: Info[Context, None], id: strawberry.ID) -> DeleteTeamPayload:
        require_admin(info)
        team_id = parse_id(id, "teamId")
        try:
            await info.context.call("orders", "DELETE", f"/internal/teams/{team_id}")
        except ServiceError as exc:
            return DeleteTeamPayload(deleted=False, errors=user_errors(exc))
        return DeleteTeamPayload(deleted=True, errors=[])
