"""Admin actions are recorded with actor, time, request id and the change; append-only; admins read them."""

from __future__ import annotations

import asyncpg
import pytest

from shared.db import tenant_tx
from tests.factories import create_order, gql

LOG = """query($a: [String!], $after: String) { auditLog(actions: $a, first: 3, after: $after) {
  edges { node { action actor requestId target change } } pageInfo { hasNextPage endCursor } } }"""


async def _log(gateway, tenant, actions=None):
    rows, after = [], None
    while True:
        page = (await gql(gateway, LOG, {"a": actions, "after": after}, token=tenant.admin_token))["data"]["auditLog"]
        rows += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return rows
        after = page["pageInfo"]["endCursor"]


async def test_admin_actions_are_recorded_and_cannot_be_rewritten(gateway, pool, tenant, other_tenant) -> None:
    admin = {"x-request-id": "req-audit-1"}
    await gql(
        gateway,
        'mutation { updateSettings(input: {primaryColour: "#123456"}) { errors { field } } }',
        token=tenant.admin_token,
        headers=admin,
    )
    await gql(
        gateway,
        'mutation { inviteMember(email: "new@example.com", role: MEMBER) { errors { field } } }',
        token=tenant.admin_token,
    )
    await gql(
        gateway,
        'mutation { createIntegration(input: {name: "Kiosk", channel: PARTNER}) { errors { field } } }',
        token=tenant.admin_token,
    )
    order = await create_order(pool, tenant, status="SUCCESSFUL")
    await gql(
        gateway,
        "mutation($id: ID!) { updateCommissionStatus(orderId: $id, commStatus: SUCCESSFUL) { changed } }",
        {"id": str(order["id"])},
        token=tenant.provider_token,
    )
    log = await _log(gateway, tenant)
    assert [e["action"] for e in log] == [
        "commission.set_by_hand",
        "integration.created",
        "member.invited",
        "settings.updated",
    ]
    settings = log[-1]
    assert settings["actor"] == f"user:{tenant.admin_subject}" and settings["requestId"] == "req-audit-1"
    assert settings["change"] == {"primaryColour": "#123456"}
    assert log[2]["change"] == {"email": "new@example.com", "role": "member"}
    assert [e["action"] for e in await _log(gateway, tenant, ["member.invited"])] == ["member.invited"]
    assert await _log(gateway, other_tenant) == []
    body = await gql(gateway, LOG, {}, token=tenant.member_token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    async with tenant_tx(pool, tenant.org_id) as conn:
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("UPDATE audit_log SET actor = 'someone else' WHERE org_id = $1", tenant.org_id)


async def test_admins_export_the_audit_log_and_members_cannot(gateway, tenant) -> None:
    import csv
    import io

    from tests.services.gateway.test_orders_graphql import EXPORT, download

    await gql(
        gateway,
        'mutation { updateSettings(input: {primaryColour: "#ABCDEF"}) { errors { field } } }',
        token=tenant.admin_token,
    )
    await gql(
        gateway,
        'mutation { inviteMember(email: "csv@example.com", role: MEMBER) { errors { field } } }',
        token=tenant.admin_token,
    )
    body = await gql(gateway, EXPORT, {"k": "AUDIT_LOG", "fmt": "CSV"}, token=tenant.admin_token)
    rows = list(csv.DictReader(io.StringIO((await download(gateway, body["data"]["requestExport"]["url"])).decode())))
    assert [r["action"] for r in rows] == [e["action"] for e in await _log(gateway, tenant)]
    assert rows[-1]["action"] == "settings.updated" and "#ABCDEF" in rows[-1]["change"]
    refused = await gql(gateway, EXPORT, {"k": "AUDIT_LOG", "fmt": "CSV"}, token=tenant.member_token)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    wrong = await gql(gateway, EXPORT, {"k": "AUDIT_LOG", "fmt": "CSV", "of": {}}, token=tenant.admin_token)
    assert [e["field"] for e in wrong["data"]["requestExport"]["errors"]] == ["orderFilter"]
