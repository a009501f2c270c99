"""Saved insights and dashboards through the gateway (real insights service, PostgreSQL and Redis): CRUD, the
author/admin/member rules, provider users refused, another organisation's ids NOT_FOUND, invalid input
storing nothing, the default dashboard made once under concurrency, tile answers, and live pushes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.insights.service.saved_insights import DEFAULT_INSIGHTS
from services.orders.repository import members
from shared.db import tenant_tx
from tests.factories import gql
from tests.services.gateway.test_subscriptions import ingest, subscribed

INSIGHT_FIELDS = """id name description input eventTypes byPlatform mine canEdit
  answer { eventType interval breakdowns total { currency value } } error { code field message }"""
SAVE = f"""mutation($input: SaveInsightInput!) {{
  saveInsight(input: $input) {{ savedInsight {{ {INSIGHT_FIELDS} }} errors {{ field code message }} }}
}}"""
UPDATE = f"""mutation($id: ID!, $input: ChangeInsightInput!) {{
  updateSavedInsight(id: $id, input: $input) {{ savedInsight {{ {INSIGHT_FIELDS} }} errors {{ field code message }} }}
}}"""
DELETE = "mutation($id: ID!) { deleteSavedInsight(id: $id) { deleted errors { field code message } } }"
LIST = "{ savedInsights { id name byPlatform canEdit } }"
GET = f"query($id: ID!) {{ savedInsight(id: $id) {{ {INSIGHT_FIELDS} }} }}"
DASHBOARDS = "{ dashboards { id name isDefault byPlatform canEdit tileCount tiles { position } } }"
DASHBOARD_FIELDS = f"""id name isDefault canEdit tileCount
  tiles {{ position width savedInsight {{ {INSIGHT_FIELDS} }} }}"""
DASHBOARD = f"query($id: ID!) {{ dashboard(id: $id) {{ {DASHBOARD_FIELDS} }} }}"
CREATE_DASHBOARD = f"""mutation($name: String!) {{
  createDashboard(name: $name) {{ dashboard {{ {DASHBOARD_FIELDS} }} errors {{ field code message }} }}
}}"""
ADD_TILE = """mutation($d: ID!, $s: ID!, $position: Int, $width: Int) {
  addDashboardTile(dashboardId: $d, savedInsightId: $s, position: $position, width: $width) {
    dashboard { tileCount tiles { position width savedInsight { id answer { total { value } } } } }
    errors { field code message }
  }
}"""
MOVE_TILE = """mutation($d: ID!, $s: ID!, $position: Int, $width: Int) {
  moveDashboardTile(dashboardId: $d, savedInsightId: $s, position: $position, width: $width) {
    dashboard { tiles { position width savedInsight { id } } } errors { field code message }
  }
}"""
REMOVE_TILE = """mutation($d: ID!, $s: ID!) {
  removeDashboardTile(dashboardId: $d, savedInsightId: $s) {
    dashboard { tiles { position savedInsight { id } } } errors { field code message }
  }
}"""
RENAME = """mutation($id: ID!, $name: String!) {
  renameDashboard(id: $id, name: $name) { dashboard { name } errors { code } }
}"""
DELETE_DASHBOARD = "mutation($id: ID!) { deleteDashboard(id: $id) { deleted errors { field code message } } }"
LIVE = f"subscription($id: ID!) {{ dashboardUpdated(id: $id) {{ initial dashboard {{ {DASHBOARD_FIELDS} }} }} }}"


@pytest.fixture(scope="module")
async def ws_url(gateway_app: Any, asgi_server: Any) -> AsyncIterator[str]:
    async with asgi_server(gateway_app) as url:
        yield url.replace("http://", "ws://") + "/graphql"


def page_views(**extra: Any) -> dict[str, Any]:
    return {
        "eventType": "page_view",
        "measure": "COUNT",
        "range": {"preset": "LAST_7_DAYS"},
        "interval": "DAY",
        **extra,
    }


async def save(gateway: Any, token: str, name: str = "Page views", insight: Any = None) -> dict[str, Any]:
    body = await gql(gateway, SAVE, {"input": {"name": name, "insight": insight or page_views()}}, token=token)
    payload = body["data"]["saveInsight"]
    assert payload["errors"] == [], payload
    saved: dict[str, Any] = payload["savedInsight"]
    return saved


async def second_member(pool: Any, issuer: Any, tenant: Any) -> str:
    """Another member of the tenant: their token."""
    subject = f"auth0|member2-{uuid.uuid4().hex[:8]}"
    async with tenant_tx(pool, tenant.org_id) as conn:
        await members.add(conn, tenant.org_id, f"{subject[6:]}@example.com", "member", subject=subject)
    token: str = issuer.mint(subject, email=f"{subject[6:]}@example.com")
    return token


def same(stored: dict[str, Any], given: dict[str, Any]) -> bool:
    """The stored input holds what was given (InsightInput adds its defaults)."""
    return {k: stored.get(k) for k in given} == given


def total(answer: dict[str, Any]) -> int:
    return sum(int(t["value"]) for t in answer["total"])


async def test_saved_insight_lifecycle_and_who_may_change_it(gateway, pool, issuer, tenant) -> None:
    saved = await save(gateway, tenant.member_token, "Page views this week")
    assert saved["mine"] and saved["canEdit"] and not saved["byPlatform"]
    assert saved["eventTypes"] == ["page_view"] and same(saved["input"], page_views())
    # Read back with its current answer.
    got = (await gql(gateway, GET, {"id": saved["id"]}, token=tenant.admin_token))["data"]["savedInsight"]
    assert got["name"] == "Page views this week" and got["error"] is None and got["answer"]["eventType"] == "page_view"
    assert got["canEdit"] and not got["mine"]  # an admin may change what a member saved
    names = [s["name"] for s in (await gql(gateway, LIST, token=tenant.admin_token))["data"]["savedInsights"]]
    assert "Page views this week" in names

    # Another member reads it but may neither change nor delete it.
    other = await second_member(pool, issuer, tenant)
    seen = (await gql(gateway, GET, {"id": saved["id"]}, token=other))["data"]["savedInsight"]
    assert seen["canEdit"] is False
    refused = await gql(gateway, UPDATE, {"id": saved["id"], "input": {"name": "Mine now"}}, token=other)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    refused = await gql(gateway, DELETE, {"id": saved["id"]}, token=other)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    # The author changes it; a new input is validated and its event types follow.
    changed = await gql(
        gateway,
        UPDATE,
        {"id": saved["id"], "input": {"name": "Clicks", "insight": page_views(eventType="click")}},
        token=tenant.member_token,
    )
    s = changed["data"]["updateSavedInsight"]["savedInsight"]
    assert s["name"] == "Clicks" and s["eventTypes"] == ["click"] and s["description"] == ""
    # An admin changes it too, then deletes it.
    renamed = await gql(
        gateway, UPDATE, {"id": saved["id"], "input": {"name": "Clicks (admin)"}}, token=tenant.admin_token
    )
    assert renamed["data"]["updateSavedInsight"]["savedInsight"]["name"] == "Clicks (admin)"
    gone = await gql(gateway, DELETE, {"id": saved["id"]}, token=tenant.admin_token)
    assert gone["data"]["deleteSavedInsight"] == {"deleted": True, "errors": []}
    assert (await gql(gateway, GET, {"id": saved["id"]}, token=tenant.admin_token))["data"]["savedInsight"] is None


async def test_invalid_input_names_the_field_and_stores_nothing(gateway, insights_pool, tenant) -> None:
    bad = page_views(breakdowns=["channel", "entityId"])
    body = await gql(gateway, SAVE, {"input": {"name": "Bad", "insight": bad}}, token=tenant.member_token)
    payload = body["data"]["saveInsight"]
    assert payload["savedInsight"] is None
    assert payload["errors"][0]["field"] == "input.breakdowns[1]" and payload["errors"][0]["code"] == "INVALID_INPUT"
    body = await gql(gateway, SAVE, {"input": {"name": " ", "insight": page_views()}}, token=tenant.member_token)
    assert body["data"]["saveInsight"]["errors"][0]["field"] == "name"
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM saved_insights WHERE org_id = $1", tenant.org_id) == 0
    # An invalid change leaves the saved insight as it was.
    saved = await save(gateway, tenant.member_token)
    body = await gql(
        gateway,
        UPDATE,
        {"id": saved["id"], "input": {"name": "X", "insight": page_views(eventType="nope")}},
        token=tenant.member_token,
    )
    assert body["data"]["updateSavedInsight"]["errors"][0]["field"] == "input.eventType"
    got = (await gql(gateway, GET, {"id": saved["id"]}, token=tenant.member_token))["data"]["savedInsight"]
    assert got["name"] == "Page views" and same(got["input"], page_views())


async def test_provider_users_are_refused(gateway, tenant) -> None:
    for query, variables in (
        (LIST, {}),
        (DASHBOARDS, {}),
        (SAVE, {"input": {"name": "x", "insight": page_views()}}),
        (CREATE_DASHBOARD, {"name": "x"}),
    ):
        body = await gql(gateway, query, variables, token=tenant.provider_token)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", (query, body)


async def test_another_organisations_ids_are_not_found(gateway, tenant, other_tenant) -> None:
    saved = await save(gateway, tenant.admin_token, "A's insight")
    made = await gql(gateway, CREATE_DASHBOARD, {"name": "A's board"}, token=tenant.admin_token)
    board = made["data"]["createDashboard"]["dashboard"]
    await gql(gateway, ADD_TILE, {"d": board["id"], "s": saved["id"]}, token=tenant.admin_token)
    b = other_tenant.admin_token
    assert (await gql(gateway, GET, {"id": saved["id"]}, token=b))["data"]["savedInsight"] is None
    assert (await gql(gateway, DASHBOARD, {"id": board["id"]}, token=b))["data"]["dashboard"] is None
    for query, variables, field in (
        (UPDATE, {"id": saved["id"], "input": {"name": "taken"}}, "updateSavedInsight"),
        (DELETE, {"id": saved["id"]}, "deleteSavedInsight"),
        (RENAME, {"id": board["id"], "name": "taken"}, "renameDashboard"),
        (DELETE_DASHBOARD, {"id": board["id"]}, "deleteDashboard"),
    ):
        body = await gql(gateway, query, variables, token=b)
        assert body["data"][field]["errors"][0]["code"] == "NOT_FOUND", (field, body)
    # B's own board cannot take A's insight as a tile (and A's board none of B's).
    mine = (await gql(gateway, CREATE_DASHBOARD, {"name": "B's board"}, token=b))["data"]["createDashboard"][
        "dashboard"
    ]
    body = await gql(gateway, ADD_TILE, {"d": mine["id"], "s": saved["id"]}, token=b)
    assert body["data"]["addDashboardTile"]["errors"][0] == {
        "field": "savedInsightId",
        "code": "NOT_FOUND",
        "message": "saved insight not found",
    }
    # B's lists hold nothing of A's.
    assert saved["id"] not in [s["id"] for s in (await gql(gateway, LIST, token=b))["data"]["savedInsights"]]
    assert board["id"] not in [d["id"] for d in (await gql(gateway, DASHBOARDS, token=b))["data"]["dashboards"]]
    # A's insight and board are untouched.
    assert (await gql(gateway, GET, {"id": saved["id"]}, token=tenant.admin_token))["data"]["savedInsight"][
        "name"
    ] == "A's insight"


async def test_the_default_dashboard_is_made_once_under_concurrent_first_reads(gateway, insights_pool, tenant) -> None:
    bodies = await asyncio.gather(*(gql(gateway, DASHBOARDS, token=tenant.member_token) for _ in range(6)))
    for body in bodies:
        assert "errors" not in body, body
        [default] = [d for d in body["data"]["dashboards"] if d["isDefault"]]
        assert default["byPlatform"] and not default["canEdit"] and default["tileCount"] == 3
        assert default["tiles"] is None  # tiles and answers come with dashboard(id), one call per dashboard
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM dashboards WHERE org_id = $1", tenant.org_id) == 1
        assert await conn.fetchval("SELECT count(*) FROM saved_insights WHERE org_id = $1", tenant.org_id) == 3
    board = (await gql(gateway, DASHBOARD, {"id": default["id"]}, token=tenant.member_token))["data"]["dashboard"]
    assert [t["savedInsight"]["name"] for t in board["tiles"]] == [name for name, *_ in DEFAULT_INSIGHTS]
    assert [t["savedInsight"]["input"] for t in board["tiles"]] == [raw for _, _, raw, _ in DEFAULT_INSIGHTS]
    assert [t["position"] for t in board["tiles"]] == [0, 1, 2]
    assert [t["savedInsight"]["error"] for t in board["tiles"]] == [None, None, None]
    leads = board["tiles"][1]["savedInsight"]
    assert (
        leads["error"] is None and leads["answer"]["interval"] == "WEEK" and leads["answer"]["breakdowns"] == ["state"]
    )
    # Members may not change the platform's dashboard; admins may, but not delete it.
    body = await gql(gateway, RENAME, {"id": default["id"], "name": "Mine"}, token=tenant.member_token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await gql(gateway, RENAME, {"id": default["id"], "name": "Overview"}, token=tenant.admin_token)
    assert body["data"]["renameDashboard"] == {"dashboard": {"name": "Overview"}, "errors": []}
    body = await gql(gateway, DELETE_DASHBOARD, {"id": default["id"]}, token=tenant.admin_token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_dashboard_tiles_in_order_with_their_answers(gateway, pool, issuer, tenant) -> None:
    await ingest(gateway, tenant, 3, "page_view")
    views = await save(gateway, tenant.member_token, "Views")
    clicks = await save(gateway, tenant.member_token, "Clicks", page_views(eventType="click"))
    made = await gql(gateway, CREATE_DASHBOARD, {"name": "My board"}, token=tenant.member_token)
    board = made["data"]["createDashboard"]["dashboard"]
    assert board["canEdit"] and board["tiles"] == [] and not board["isDefault"]
    d = board["id"]
    body = await gql(gateway, ADD_TILE, {"d": d, "s": views["id"]}, token=tenant.member_token)
    added = body["data"]["addDashboardTile"]["dashboard"]
    assert total(added["tiles"][0]["savedInsight"]["answer"]) == 3  # answers of a mutation's tiles, batched
    await gql(gateway, ADD_TILE, {"d": d, "s": clicks["id"], "position": 0, "width": 4}, token=tenant.member_token)
    body = await gql(gateway, ADD_TILE, {"d": d, "s": clicks["id"]}, token=tenant.member_token)
    assert body["data"]["addDashboardTile"]["errors"][0]["code"] == "ALREADY_ADDED"
    body = await gql(gateway, ADD_TILE, {"d": d, "s": views["id"], "width": 5}, token=tenant.member_token)
    assert body["data"]["addDashboardTile"]["errors"][0]["field"] == "width"

    got = (await gql(gateway, DASHBOARD, {"id": d}, token=tenant.admin_token))["data"]["dashboard"]
    assert [(t["savedInsight"]["name"], t["position"], t["width"]) for t in got["tiles"]] == [
        ("Clicks", 0, 4),
        ("Views", 1, 2),
    ]
    assert [total(t["savedInsight"]["answer"]) for t in got["tiles"]] == [0, 3]

    body = await gql(
        gateway, MOVE_TILE, {"d": d, "s": views["id"], "position": 0, "width": 1}, token=tenant.member_token
    )
    moved = body["data"]["moveDashboardTile"]["dashboard"]["tiles"]
    assert [(t["savedInsight"]["id"], t["position"], t["width"]) for t in moved] == [
        (views["id"], 0, 1),
        (clicks["id"], 1, 4),
    ]
    body = await gql(gateway, MOVE_TILE, {"d": d, "s": views["id"], "position": 2}, token=tenant.member_token)
    assert body["data"]["moveDashboardTile"]["errors"][0]["field"] == "position"

    # Another member may not change this member's board; an admin may.
    other = await second_member(pool, issuer, tenant)
    body = await gql(gateway, REMOVE_TILE, {"d": d, "s": views["id"]}, token=other)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await gql(gateway, REMOVE_TILE, {"d": d, "s": views["id"]}, token=tenant.admin_token)
    assert [t["savedInsight"]["id"] for t in body["data"]["removeDashboardTile"]["dashboard"]["tiles"]] == [
        clicks["id"]
    ]
    # Deleting a saved insight takes its tile away; deleting the board keeps the insights.
    await gql(gateway, DELETE, {"id": clicks["id"]}, token=tenant.member_token)
    assert (await gql(gateway, DASHBOARD, {"id": d}, token=tenant.member_token))["data"]["dashboard"]["tiles"] == []
    body = await gql(gateway, DELETE_DASHBOARD, {"id": d}, token=tenant.member_token)
    assert body["data"]["deleteDashboard"] == {"deleted": True, "errors": []}
    assert (await gql(gateway, GET, {"id": views["id"]}, token=tenant.member_token))["data"]["savedInsight"]


async def test_live_pushes_refresh_the_tiles_of_the_types_that_received_events(
    ws_url,
    gateway,
    tenant,
    other_tenant,
) -> None:
    views = await save(gateway, tenant.member_token, "Views")
    clicks = await save(gateway, tenant.member_token, "Clicks", page_views(eventType="click"))
    board = (await gql(gateway, CREATE_DASHBOARD, {"name": "Live"}, token=tenant.member_token))["data"][
        "createDashboard"
    ]
    d = board["dashboard"]["id"]
    for s in (views, clicks):
        await gql(gateway, ADD_TILE, {"d": d, "s": s["id"]}, token=tenant.member_token)
    b_saved = await save(gateway, other_tenant.member_token, "B views")
    b_board = (await gql(gateway, CREATE_DASHBOARD, {"name": "B"}, token=other_tenant.member_token))["data"]
    b_id = b_board["createDashboard"]["dashboard"]["id"]
    await gql(gateway, ADD_TILE, {"d": b_id, "s": b_saved["id"]}, token=other_tenant.member_token)

    async with subscribed(ws_url, tenant.member_token, LIVE, {"id": d}) as (client, first):
        update = first["dashboardUpdated"]
        assert update["initial"] and [total(t["savedInsight"]["answer"]) for t in update["dashboard"]["tiles"]] == [
            0,
            0,
        ]
        async with subscribed(ws_url, other_tenant.member_token, LIVE, {"id": b_id}) as (other, b_first):
            assert b_first["dashboardUpdated"]["dashboard"]["tiles"][0]["savedInsight"]["name"] == "B views"
            await ingest(gateway, tenant, 2, "page_view")
            pushed = (await client.next())["dashboardUpdated"]
            assert not pushed["initial"] and pushed["dashboard"]["tileCount"] == 2
            [tile] = pushed["dashboard"]["tiles"]  # only the page_view tile: clicks received nothing
            assert tile["savedInsight"]["id"] == views["id"] and total(tile["savedInsight"]["answer"]) == 2
            await other.nothing()  # B's subscriber hears nothing of A's events
        # Another organisation's dashboard cannot be subscribed to.
        async with subscribed(ws_url, other_tenant.member_token, LIVE, {"id": b_id}) as (other, _):
            await other.subscribe("2", LIVE, {"id": d})
            message = await other.receive()
            assert message["id"] == "2" and message["payload"]["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_two_first_reads_in_flight_make_one_default_dashboard(insights_pool, tenant) -> None:
    """The race itself: both transactions find no default dashboard; the second waits on the unique index
    until the first commits, then makes nothing (no error, no second dashboard, no orphan insights)."""
    from services.insights.service.saved_insights import ensure_default_dashboard

    first_done = asyncio.Event()
    release = asyncio.Event()

    async def first() -> None:
        async with tenant_tx(insights_pool, tenant.org_id) as conn:
            await ensure_default_dashboard(conn, tenant.org_id)
            first_done.set()
            await release.wait()

    async def second() -> None:
        await first_done.wait()
        async with tenant_tx(insights_pool, tenant.org_id) as conn:
            await ensure_default_dashboard(conn, tenant.org_id)

    one = asyncio.create_task(first())
    two = asyncio.create_task(second())
    await first_done.wait()
    await asyncio.sleep(0.3)
    assert not two.done()  # blocked on the first's uncommitted default dashboard
    release.set()
    await asyncio.wait_for(asyncio.gather(one, two), 5)
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM dashboards WHERE org_id = $1", tenant.org_id) == 1
        assert await conn.fetchval("SELECT count(*) FROM saved_insights WHERE org_id = $1", tenant.org_id) == 3
        assert await conn.fetchval("SELECT count(*) FROM dashboard_tiles WHERE org_id = $1", tenant.org_id) == 3
