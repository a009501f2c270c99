"""Teams through GraphQL: admins manage them, names are unique, members of other organisations are unknown,
a member removed from the organisation leaves every team, and no query or mutation crosses organisations."""

from __future__ import annotations

import uuid
from typing import Any

from services.orders.repository import members
from shared.db import tenant_tx
from tests.factories import Tenant, gql

TEAM_FIELDS = "id name members { id email role status }"
TEAMS = f"{{ teams {{ {TEAM_FIELDS} }} }}"
TEAM = f"query($id: ID!) {{ team(id: $id) {{ {TEAM_FIELDS} }} }}"
MEMBERS = "{ members { id email role } }"
CREATE = (
    f"mutation($n: String!) {{ createTeam(name: $n) {{ team {{ {TEAM_FIELDS} }} errors {{ field code message }} }} }}"
)
RENAME = (
    f"mutation($id: ID!, $n: String!) {{ renameTeam(id: $id, name: $n) {{ team {{ {TEAM_FIELDS} }}"
    " errors { field code message } } }"
)
ADD = (
    f"mutation($t: ID!, $m: ID!) {{ addTeamMember(teamId: $t, memberId: $m) {{ team {{ {TEAM_FIELDS} }}"
    " errors { field code message } } }"
)
REMOVE = (
    f"mutation($t: ID!, $m: ID!) {{ removeTeamMember(teamId: $t, memberId: $m) {{ team {{ {TEAM_FIELDS} }}"
    " errors { field code message } } }"
)
DELETE = "mutation($id: ID!) { deleteTeam(id: $id) { deleted errors { field code message } } }"
REMOVE_MEMBER = "mutation($id: ID!) { removeMember(memberId: $id) { removed errors { code } } }"


async def _members(gateway: Any, t: Tenant) -> dict[str, dict[str, Any]]:
    rows = (await gql(gateway, MEMBERS, token=t.admin_token))["data"]["members"]
    return {r["role"].lower(): r for r in rows}


async def _create(gateway: Any, t: Tenant, name: str) -> dict[str, Any]:
    payload = (await gql(gateway, CREATE, {"n": name}, token=t.admin_token))["data"]["createTeam"]
    assert payload["errors"] == [], payload
    team: dict[str, Any] = payload["team"]
    return team


async def test_admin_manages_a_team_and_its_members(gateway, tenant):
    people = await _members(gateway, tenant)
    team = await _create(gateway, tenant, "  Finance  ")
    assert team["name"] == "Finance" and team["members"] == []
    for role in ("admin", "member", "member"):  # adding twice keeps one
        added = (await gql(gateway, ADD, {"t": team["id"], "m": people[role]["id"]}, token=tenant.admin_token))["data"]
        assert added["addTeamMember"]["errors"] == []
    shown = (await gql(gateway, TEAM, {"id": team["id"]}, token=tenant.member_token))["data"]["team"]
    assert sorted((m["email"], m["role"].lower()) for m in shown["members"]) == sorted(
        (people[r]["email"], r) for r in ("admin", "member")
    )
    renamed = (await gql(gateway, RENAME, {"id": team["id"], "n": "Finance EMEA"}, token=tenant.admin_token))["data"]
    assert renamed["renameTeam"]["team"]["name"] == "Finance EMEA"
    removed = (await gql(gateway, REMOVE, {"t": team["id"], "m": people["admin"]["id"]}, token=tenant.admin_token))[
        "data"
    ]["removeTeamMember"]
    assert [m["email"] for m in removed["team"]["members"]] == [people["member"]["email"]]
    assert [t["name"] for t in (await gql(gateway, TEAMS, token=tenant.admin_token))["data"]["teams"]] == [
        "Finance EMEA"
    ]
    deleted = (await gql(gateway, DELETE, {"id": team["id"]}, token=tenant.admin_token))["data"]["deleteTeam"]
    assert deleted == {"deleted": True, "errors": []}
    assert (await gql(gateway, TEAM, {"id": team["id"]}, token=tenant.admin_token))["data"]["team"] is None
    assert (await gql(gateway, TEAMS, token=tenant.admin_token))["data"]["teams"] == []


async def test_names_are_unique_per_organisation_ignoring_case(gateway, tenant, other_tenant):
    await _create(gateway, tenant, "Sales")
    taken = (await gql(gateway, CREATE, {"n": "SALES"}, token=tenant.admin_token))["data"]["createTeam"]
    assert taken["team"] is None
    assert [(e["field"], e["code"]) for e in taken["errors"]] == [("name", "DUPLICATE_NAME")]
    other = await _create(gateway, tenant, "Ops")
    clash = (await gql(gateway, RENAME, {"id": other["id"], "n": "sales"}, token=tenant.admin_token))["data"]
    assert [(e["field"], e["code"]) for e in clash["renameTeam"]["errors"]] == [("name", "DUPLICATE_NAME")]
    blank = (await gql(gateway, CREATE, {"n": "   "}, token=tenant.admin_token))["data"]["createTeam"]
    assert [e["field"] for e in blank["errors"]] == ["name"]
    # Another organisation may use the same name.
    assert (await _create(gateway, other_tenant, "Sales"))["name"] == "Sales"


async def test_members_and_provider_users_cannot_manage_teams(gateway, tenant):
    team = await _create(gateway, tenant, "Board")
    for token in (tenant.member_token, tenant.provider_token):
        body = await gql(gateway, CREATE, {"n": "Mine"}, token=token)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        body = await gql(gateway, DELETE, {"id": team["id"]}, token=token)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await gql(gateway, TEAMS, token=tenant.provider_token)
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert [t["name"] for t in (await gql(gateway, TEAMS, token=tenant.admin_token))["data"]["teams"]] == ["Board"]


async def test_provider_users_and_unknown_or_foreign_members_cannot_join(gateway, tenant, other_tenant):
    team = await _create(gateway, tenant, "Risk")
    provider = (await _members(gateway, tenant))["provider"]
    foreign = (await _members(gateway, other_tenant))["member"]
    refused = (await gql(gateway, ADD, {"t": team["id"], "m": provider["id"]}, token=tenant.admin_token))["data"]
    assert [e["field"] for e in refused["addTeamMember"]["errors"]] == ["memberId"]
    answers = []
    for member_id in (foreign["id"], str(uuid.uuid4())):  # another organisation's member is unknown, alike
        body = (await gql(gateway, ADD, {"t": team["id"], "m": member_id}, token=tenant.admin_token))["data"]
        answers.append([(e["field"], e["code"], e["message"]) for e in body["addTeamMember"]["errors"]])
    assert answers[0] == answers[1] == [("memberId", "NOT_FOUND", "member not found")]
    assert (await gql(gateway, TEAM, {"id": team["id"]}, token=tenant.admin_token))["data"]["team"]["members"] == []


async def test_a_member_removed_from_the_organisation_leaves_every_team(gateway, pool, tenant):
    people = await _members(gateway, tenant)
    teams = [await _create(gateway, tenant, name) for name in ("North", "South")]
    for team in teams:
        await gql(gateway, ADD, {"t": team["id"], "m": people["member"]["id"]}, token=tenant.admin_token)
        await gql(gateway, ADD, {"t": team["id"], "m": people["admin"]["id"]}, token=tenant.admin_token)
    removed = (await gql(gateway, REMOVE_MEMBER, {"id": people["member"]["id"]}, token=tenant.admin_token))["data"]
    assert removed["removeMember"] == {"removed": True, "errors": []}
    for team in (await gql(gateway, TEAMS, token=tenant.admin_token))["data"]["teams"]:
        assert [m["id"] for m in team["members"]] == [people["admin"]["id"]]
    # A revoked invitation (its member row deleted) leaves no membership behind either.
    async with tenant_tx(pool, tenant.org_id) as conn:
        invited = await members.add(conn, tenant.org_id, f"new-{uuid.uuid4().hex[:6]}@example.com", "member")
    await gql(gateway, ADD, {"t": teams[0]["id"], "m": str(invited["id"])}, token=tenant.admin_token)
    revoke = "mutation($id: ID!) { revokeInvitation(memberId: $id) { revoked } }"
    await gql(gateway, revoke, {"id": str(invited["id"])}, token=tenant.admin_token)
    async with tenant_tx(pool, tenant.org_id) as conn:
        left = await conn.fetchval(
            "SELECT count(*) FROM team_members WHERE org_id = $1 AND member_id = ANY($2::uuid[])",
            tenant.org_id,
            [uuid.UUID(people["member"]["id"]), invited["id"]],
        )
    assert left == 0


async def test_no_team_query_or_mutation_reaches_another_organisation(gateway, tenant, other_tenant):
    theirs = await _create(gateway, other_tenant, "Theirs")
    their_member = (await _members(gateway, other_tenant))["member"]
    await gql(gateway, ADD, {"t": theirs["id"], "m": their_member["id"]}, token=other_tenant.admin_token)
    mine = await _create(gateway, tenant, "Mine")
    assert [t["name"] for t in (await gql(gateway, TEAMS, token=tenant.admin_token))["data"]["teams"]] == ["Mine"]
    assert (await gql(gateway, TEAM, {"id": theirs["id"]}, token=tenant.admin_token))["data"]["team"] is None
    tries = [
        (RENAME, {"id": theirs["id"], "n": "Hijacked"}, "renameTeam"),
        (ADD, {"t": theirs["id"], "m": (await _members(gateway, tenant))["member"]["id"]}, "addTeamMember"),
        (REMOVE, {"t": theirs["id"], "m": their_member["id"]}, "removeTeamMember"),
        (DELETE, {"id": theirs["id"]}, "deleteTeam"),
        (ADD, {"t": mine["id"], "m": their_member["id"]}, "addTeamMember"),
    ]
    for query, variables, name in tries:
        payload = (await gql(gateway, query, variables, token=tenant.admin_token))["data"][name]
        assert [e["code"] for e in payload["errors"]] == ["NOT_FOUND"], (name, payload)
    still = (await gql(gateway, TEAM, {"id": theirs["id"]}, token=other_tenant.admin_token))["data"]["team"]
    assert still["name"] == "Theirs" and [m["id"] for m in still["members"]] == [their_member["id"]]
