"""Admins change members' roles; the organisation never loses its last admin, even under a race."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.factories import gql

MEMBERS = "{ members { id email role } }"
CHANGE = """mutation($id: ID!, $role: Role!) { changeMemberRole(memberId: $id, role: $role) {
  member { id role } errors { field code message } } }"""


async def _members(gateway: Any, tenant: Any) -> dict[str, dict[str, Any]]:
    rows = (await gql(gateway, MEMBERS, token=tenant.admin_token))["data"]["members"]
    return {m["email"].split("-")[0]: m for m in rows}


async def test_role_changes_keep_an_admin(gateway, tenant, other_tenant) -> None:
    people = await _members(gateway, tenant)
    admin, member = people["admin"], people["member"]
    body = await gql(gateway, CHANGE, {"id": admin["id"], "role": "MEMBER"}, token=tenant.admin_token)
    assert body["data"]["changeMemberRole"]["errors"][0]["code"] == "LAST_ADMIN"
    body = await gql(gateway, CHANGE, {"id": member["id"], "role": "ADMIN"}, token=tenant.member_token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"  # members cannot promote themselves
    body = await gql(gateway, CHANGE, {"id": member["id"], "role": "ADMIN"}, token=tenant.admin_token)
    assert body["data"]["changeMemberRole"] == {"member": {"id": member["id"], "role": "ADMIN"}, "errors": []}
    theirs = (await _members(gateway, other_tenant))["member"]
    body = await gql(gateway, CHANGE, {"id": theirs["id"], "role": "ADMIN"}, token=tenant.admin_token)
    assert body["data"]["changeMemberRole"]["errors"][0]["code"] == "NOT_FOUND"  # another organisation's member
    assert (await _members(gateway, other_tenant))["member"]["role"] == "MEMBER"

    # Two admins demote each other at once: one wins, the organisation keeps an admin.
    for _ in range(50):  # the gateway caches a viewer for AUTH_CACHE_SECONDS (1 s in tests): wait for the new role
        me = await gql(gateway, "{ me { role } }", token=tenant.member_token)
        if me["data"]["me"]["role"] == "ADMIN":
            break
        await asyncio.sleep(0.1)
    results = await asyncio.gather(
        gql(gateway, CHANGE, {"id": admin["id"], "role": "MEMBER"}, token=tenant.member_token),
        gql(gateway, CHANGE, {"id": member["id"], "role": "MEMBER"}, token=tenant.admin_token),
    )
    # One wins. The other is refused: by the last-admin rule, or (when the winner demoted it first and its
    # cached viewer has expired) because it is no longer an admin.
    succeeded = [r for r in results if r.get("data") and r["data"]["changeMemberRole"]["errors"] == []]
    assert len(succeeded) == 1, results
    roles = [m["role"] for m in (await _members(gateway, tenant)).values()]
    assert roles.count("ADMIN") == 1
