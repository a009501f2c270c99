"""A schedule's recipients as people through the gateway (services/gateway/graphql/report_schedules.py `members`,
`teams`, `ownerMember`): emails and team names as the orders service knows them now, a member who left shown as
such, one call per kind for a whole page of schedules (no N+1), and another organisation's members never shown."""

from __future__ import annotations

import json
import uuid
from typing import Any

from services.orders.repository import members, teams
from shared.db import tenant_tx
from tests.factories import gql
from tests.services.gateway.test_dataloaders import CountingOrders, gateway_over
from tests.services.reports.feed import apply_orders, outbox_events

SCHEDULE = """mutation($input: ReportScheduleInput!) { scheduleReport(input: $input) {
  schedule { id } errors { field code message } } }"""
LIST = """{ reportSchedules { id name ownerMember { id email isMember }
  members { id email role isMember } teams { id name exists members { email } } } }"""
PAGE = 4


def _input(name: str, member_ids: list[str], team_ids: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "format": "CSV",
        "report": {"report": "orders_with_commission"},
        "cadence": "DAILY",
        "time": "07:00",
        "timeZone": "Europe/London",
        "memberIds": member_ids,
        "teamIds": team_ids,
    }


async def _member(pool: Any, org_id: uuid.UUID, subject: str) -> dict[str, Any]:
    async with tenant_tx(pool, org_id) as conn:
        found = await members.by_subject(conn, org_id, subject)
    assert found is not None
    return found


async def test_recipients_read_as_people_in_one_call_per_kind_and_only_of_the_viewers_organisation(
    gateway: Any,
    gateway_settings: Any,
    orders_app: Any,
    asgi_server: Any,
    pool: Any,
    reports_pool: Any,
    tenant: Any,
    other_tenant: Any,
) -> None:
    for t in (tenant, other_tenant):
        await apply_orders(reports_pool, await outbox_events(pool, t.org_id))
    admin = await _member(pool, tenant.org_id, tenant.admin_subject)
    member = await _member(pool, tenant.org_id, tenant.member_subject)
    async with tenant_tx(pool, tenant.org_id) as conn:
        leaving = await members.add(conn, tenant.org_id, f"leaving-{uuid.uuid4().hex[:6]}@example.com", "member")
        team_id = await teams.insert(conn, tenant.org_id, f"Finance {uuid.uuid4().hex[:4]}")
        await teams.add_member(conn, tenant.org_id, team_id, member["id"])
    names = [f"s{i}-{uuid.uuid4().hex[:4]}" for i in range(PAGE)]
    for name in names:
        r = await gql(
            gateway,
            SCHEDULE,
            {"input": _input(name, [str(member["id"]), str(leaving["id"])], [str(team_id)])},
            token=tenant.admin_token,
        )
        assert r.get("errors") is None and r["data"]["scheduleReport"]["errors"] == [], r
    async with tenant_tx(pool, tenant.org_id) as conn:
        await members.delete(conn, tenant.org_id, leaving["id"])  # left since: shown as such, not as an email

    counting = CountingOrders(orders_app)
    async with gateway_over(gateway_settings, counting, asgi_server) as client:
        body = await gql(client, LIST, token=tenant.admin_token)
    assert body.get("errors") is None, body
    listed = [s for s in body["data"]["reportSchedules"] if s["name"] in names]
    assert len(listed) == PAGE
    for s in listed:
        assert s["ownerMember"] == {"id": str(admin["id"]), "email": admin["email"], "isMember": True}
        assert s["members"] == [
            {"id": str(member["id"]), "email": member["email"], "role": "member", "isMember": True},
            {"id": str(leaving["id"]), "email": None, "role": None, "isMember": False},
        ]
        [team] = s["teams"]
        assert team["id"] == str(team_id) and team["name"].startswith("Finance") and team["exists"]
        assert team["members"] == [{"email": member["email"]}]
    # The whole page: one list of members and one of teams, whatever the number of schedules.
    assert counting.calls["/internal/members"] == 1 and counting.calls["/internal/teams"] == 1, counting.calls

    # Another organisation: none of these schedules; and a schedule of its own naming this organisation's member
    # and team (ids it cannot have been given through the API) shows them as unknown, never their emails or names.
    other = await gql(gateway, LIST, token=other_tenant.admin_token)
    assert other.get("errors") is None, other
    assert not [s for s in other["data"]["reportSchedules"] if s["name"] in names]
    other_admin = await _member(pool, other_tenant.org_id, other_tenant.admin_subject)
    async with tenant_tx(reports_pool, other_tenant.org_id) as conn:
        await conn.execute(
            """INSERT INTO report_schedules (org_id, id, name, owner_subject, owner_member_id, input, format, cadence,
                                             local_time, time_zone, member_ids, team_ids, status, next_slot,
                                             created_at, updated_at)
               VALUES ($1, $2, 'foreign ids', $3, $4, $5::jsonb, 'csv', 'daily', '07:00', 'UTC', $6, $7, 'active',
                       now() + interval '1 day', now(), now())""",
            other_tenant.org_id,
            uuid.uuid4(),
            other_admin["subject"],
            other_admin["id"],
            json.dumps({"report": "orders_with_commission"}),
            [member["id"]],
            [team_id],
        )
    other = await gql(gateway, LIST, token=other_tenant.admin_token)
    [foreign] = [s for s in other["data"]["reportSchedules"] if s["name"] == "foreign ids"]
    assert foreign["members"] == [{"id": str(member["id"]), "email": None, "role": None, "isMember": False}]
    assert foreign["teams"] == [{"id": str(team_id), "name": None, "exists": False, "members": []}]
    assert member["email"] not in json.dumps(other)
