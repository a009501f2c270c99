"""`POST /internal/recipients/resolve`: the reports scheduler asks who a schedule's members and teams are now."""

from __future__ import annotations

import uuid
from typing import Any

from services.orders.repository import members
from services.orders.service import teams
from shared.auth import service_tokens
from shared.db import tenant_tx
from tests.factories import Tenant


def _headers(settings: Any, t: Tenant, caller: str = "reports") -> dict[str, str]:
    token = service_tokens.mint(settings.service_token_secret, caller=caller, audience="orders", org_id=str(t.org_id))
    return {"authorization": f"Bearer {token}"}


async def _people(pool: Any, t: Tenant) -> dict[str, dict[str, Any]]:
    async with tenant_tx(pool, t.org_id) as conn:
        return {m["role"]: m for m in await members.list_all(conn, t.org_id)}


async def test_members_and_teams_resolve_to_their_current_members(orders_api, settings, pool, tenant, other_tenant):
    people = await _people(pool, tenant)
    foreign = (await _people(pool, other_tenant))["member"]
    async with tenant_tx(pool, tenant.org_id) as conn:
        team = await teams.create(conn, tenant.org_id, "Finance")
        await teams.add_member(conn, tenant.org_id, team["id"], people["admin"]["id"])
        await teams.add_member(conn, tenant.org_id, team["id"], people["member"]["id"])
        empty_team = await teams.create(conn, tenant.org_id, "Empty")
    async with tenant_tx(pool, other_tenant.org_id) as conn:
        foreign_team = await teams.create(conn, other_tenant.org_id, "Finance")
    unknown = uuid.uuid4()
    body = {
        "memberIds": [str(people["member"]["id"]), str(foreign["id"]), str(unknown), str(people["provider"]["id"])],
        "teamIds": [str(team["id"]), str(foreign_team["id"]), str(empty_team["id"])],
    }
    r = await orders_api.post("/internal/recipients/resolve", json=body, headers=_headers(settings, tenant))
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["members"] == [
        {
            "id": str(people["member"]["id"]),
            "email": people["member"]["email"],
            "role": "member",
            "status": "active",
            "emailMissing": False,
        }
    ]
    # Another organisation's ids and provider users are unknown, exactly like ids that never existed.
    assert answer["unknownMemberIds"] == [str(foreign["id"]), str(unknown), str(people["provider"]["id"])]
    assert answer["unknownTeamIds"] == [str(foreign_team["id"])]
    finance, empty = answer["teams"]
    assert finance["name"] == "Finance" and empty["members"] == []
    assert sorted(m["email"] for m in finance["members"]) == sorted(
        [people["admin"]["email"], people["member"]["email"]]
    )

    # At send time: a member removed since is gone from the team.
    async with tenant_tx(pool, tenant.org_id) as conn:
        await members.delete(conn, tenant.org_id, people["member"]["id"])
    r = await orders_api.post("/internal/recipients/resolve", json=body, headers=_headers(settings, tenant))
    later = r.json()
    assert [m["email"] for m in later["teams"][0]["members"]] == [people["admin"]["email"]]
    assert str(people["member"]["id"]) in later["unknownMemberIds"] and later["members"] == []


async def test_only_the_reports_service_resolves_recipients(orders_api, settings, tenant):
    r = await orders_api.post(
        "/internal/recipients/resolve", json={"memberIds": []}, headers=_headers(settings, tenant, "gateway")
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"
    too_many = {"memberIds": [str(uuid.uuid4()) for _ in range(201)]}
    r = await orders_api.post("/internal/recipients/resolve", json=too_many, headers=_headers(settings, tenant))
    assert r.status_code == 422 and r.json()["error"]["field"] == "memberIds"
