"""Export links are checked against current membership, never cached or sent on, and never logged."""

from __future__ import annotations

import asyncio
import logging

from tests.factories import gql
from tests.services.gateway.test_orders_graphql import EXPORT

MEMBERS = "{ members { id email role } }"


async def _link(gateway, token: str) -> str:
    body = await gql(gateway, EXPORT, {"k": "CUSTOMERS", "fmt": "CSV", "cf": {}}, token=token)
    return str(body["data"]["requestExport"]["url"]).removeprefix("http://gateway.test")


async def test_a_removed_members_link_downloads_nothing(gateway, tenant) -> None:
    link = await _link(gateway, tenant.member_token)
    first = await gateway.get(link)
    assert first.status_code == 200
    assert first.headers["cache-control"] == "no-store" and first.headers["referrer-policy"] == "no-referrer"
    members = (await gql(gateway, MEMBERS, token=tenant.admin_token))["data"]["members"]
    member = next(m for m in members if m["role"] == "MEMBER")
    removed = await gql(
        gateway,
        "mutation($id: ID!) { removeMember(memberId: $id) { removed } }",
        {"id": member["id"]},
        token=tenant.admin_token,
    )
    assert removed["data"]["removeMember"]["removed"] is True
    again = await gateway.get(link)
    assert again.status_code == 403 and again.json()["error"]["code"] == "INVALID_EXPORT_LINK"
    assert again.headers["cache-control"] == "no-store"


async def test_a_demoted_admins_admin_link_stops_working(gateway, tenant) -> None:
    members = (await gql(gateway, MEMBERS, token=tenant.admin_token))["data"]["members"]
    admin = next(m for m in members if m["role"] == "ADMIN")
    member = next(m for m in members if m["role"] == "MEMBER")
    link = await _link(gateway, tenant.admin_token)
    promote = "mutation($id: ID!, $r: Role!) { changeMemberRole(memberId: $id, role: $r) { errors { code } } }"
    assert (await gql(gateway, promote, {"id": member["id"], "r": "ADMIN"}, token=tenant.admin_token))["data"]
    demoted = await gql(gateway, promote, {"id": admin["id"], "r": "MEMBER"}, token=tenant.admin_token)
    assert demoted["data"]["changeMemberRole"]["errors"] == []
    assert (await gateway.get(link)).status_code == 403


async def test_the_links_token_never_reaches_a_log_line(gateway, tenant, caplog) -> None:
    link = await _link(gateway, tenant.admin_token)
    token = link.rsplit("/", 1)[1]
    with caplog.at_level(logging.DEBUG):
        await gateway.options(link)
        await gateway.get(link + "x")  # a damaged link: refused, logged
        await asyncio.sleep(0)
    ours = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]  # not the test's own client
    text = "\n".join(f"{r.getMessage()} {getattr(r, 'fields', '')}" for r in ours)
    assert "/exports/<redacted>" in text and token not in text and token[:40] not in text
