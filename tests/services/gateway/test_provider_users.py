"""Provider users: a provider's own staff update the commission of that provider's orders, and only those.

The seed: "Comm status is updated by the service provider, which occurs either through API or
manually". The operator invites a provider's staff; they sign in like anyone else; partner admins
and members read; the operator command can act for a provider, and the ledger says so.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from services.orders import admin
from services.orders.repository import catalogue
from shared.db import tenant_tx
from tests.factories import Tenant, create_order, gql

PAY = """mutation($id: ID!) { updateCommissionStatus(orderId: $id, commStatus: SUCCESSFUL) {
  changed order { id commStatus } errors { field code message } } }"""
ORDERS = """query($f: OrderFilterInput) { orders(filter: $f, first: 100) { totalCount
  edges { node { id externalRef customer { id } integration { id } product { name } category { name } } } } }"""
SUMMARY = "query($f: OrderFilterInput) { ordersSummary(filter: $f) { totalOrders } }"
HISTORY = """query($id: ID!) { orderHistory(id: $id) { toCommStatus source actor onBehalfOfProviderId
  onBehalfOfProviderName } }"""


def run_cli(capsys: Any, *argv: str) -> tuple[int, Any, str]:
    code = admin.main(list(argv))
    out, err = capsys.readouterr()
    return code, json.loads(out) if code == 0 else None, err


async def _rival(pool: Any, tenant: Tenant) -> dict[str, Any]:
    """A second provider of the same organisation, with a product in the same integration."""
    async with tenant_tx(pool, tenant.org_id) as conn:
        rival = await catalogue.create_provider(conn, tenant.org_id, "Rival Telecom")
        product = await catalogue.create_product(
            conn,
            tenant.org_id,
            integration_id=tenant.integration_id,
            category_id=tenant.categories["Broadband"],
            provider_id=rival["id"],
            name="Rival fibre",
            commission_rate="20.00",
            currency="GBP",
        )
    tenant.products["Rival fibre"] = product["id"]
    return rival


@pytest.fixture
async def two_providers(pool: Any, tenant: Tenant) -> dict[str, Any]:
    rival = await _rival(pool, tenant)
    ours = [await create_order(pool, tenant, status="SUCCESSFUL", email=f"o{i}@example.com") for i in range(3)]
    theirs = [await create_order(pool, tenant, product="Rival fibre", status="SUCCESSFUL") for _ in range(2)]
    return {"rival": rival, "ours": ours, "theirs": theirs}


async def test_a_provider_user_sees_and_updates_their_provider_s_orders_only(gateway, tenant, two_providers) -> None:
    ours, theirs = two_providers["ours"], two_providers["theirs"]
    me = (await gql(gateway, "{ me { role providerId } }", token=tenant.provider_token))["data"]["me"]
    assert me == {"role": "PROVIDER", "providerId": str(tenant.provider["id"])}

    body = await gql(gateway, ORDERS, {"f": {}}, token=tenant.provider_token)
    print(body)
    page = body["data"]["orders"]
    assert {e["node"]["id"] for e in page["edges"]} == {str(o["id"]) for o in ours}
    assert page["totalCount"] == len(ours)
    # The partner's customers and integrations are not the provider's business; product and category are.
    assert all(e["node"]["customer"] is None and e["node"]["integration"] is None for e in page["edges"])
    assert {e["node"]["product"]["name"] for e in page["edges"]} == {"Broadband product"}
    summary = await gql(gateway, SUMMARY, {"f": {"statuses": ["SUCCESSFUL"]}}, token=tenant.provider_token)
    assert summary["data"]["ordersSummary"]["totalOrders"] == len(ours)
    # The partner sees both providers' orders.
    everything = (await gql(gateway, SUMMARY, {"f": {}}, token=tenant.member_token))["data"]["ordersSummary"]
    assert everything["totalOrders"] == len(ours) + len(theirs)

    # Another provider's order is as absent as an unknown one, by id, in its history, and to update.
    for other in theirs:
        one = await gql(
            gateway, "query($id: ID!) { order(id: $id) { id } }", {"id": str(other["id"])}, token=tenant.provider_token
        )
        assert one == {"data": {"order": None}}
        history = await gql(gateway, HISTORY, {"id": str(other["id"])}, token=tenant.provider_token)
        assert history == {"data": {"orderHistory": []}}
        refused = (await gql(gateway, PAY, {"id": str(other["id"])}, token=tenant.provider_token))["data"]
        assert refused["updateCommissionStatus"]["changed"] is False
        assert [(e["code"], e["field"]) for e in refused["updateCommissionStatus"]["errors"]] == [
            ("NOT_FOUND", "orderId")
        ]
    # Asking for the other provider by filter is refused naming the field, not answered with "no orders".
    body = await gql(
        gateway, ORDERS, {"f": {"providerIds": [str(two_providers["rival"]["id"])]}}, token=tenant.provider_token
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert body["errors"][0]["extensions"]["field"] == "filter.providerIds"

    paid = (await gql(gateway, PAY, {"id": str(ours[0]["id"])}, token=tenant.provider_token))["data"]
    assert paid["updateCommissionStatus"]["changed"] is True
    assert paid["updateCommissionStatus"]["order"]["commStatus"] == "SUCCESSFUL"
    # Partner admins read the change, made for the provider.
    history = (await gql(gateway, HISTORY, {"id": str(ours[0]["id"])}, token=tenant.admin_token))["data"]
    assert history["orderHistory"][-1] == {
        "toCommStatus": "SUCCESSFUL",
        "source": "manual",
        "actor": f"user:{tenant.provider_subject}",
        "onBehalfOfProviderId": str(tenant.provider["id"]),
        "onBehalfOfProviderName": "Acme Bank",
    }
    # The rival's orders are untouched.
    rival_page = await gql(
        gateway, ORDERS, {"f": {"providerIds": [str(two_providers["rival"]["id"])]}}, token=tenant.admin_token
    )
    assert {e["node"]["id"] for e in rival_page["data"]["orders"]["edges"]} == {str(o["id"]) for o in theirs}
    rival_paid = await gql(
        gateway,
        SUMMARY.replace("totalOrders", "commissionPaid { amount }"),
        {"f": {"providerIds": [str(two_providers["rival"]["id"])]}},
        token=tenant.admin_token,
    )
    assert rival_paid["data"]["ordersSummary"]["commissionPaid"] == []


async def test_partner_admins_and_members_read_commission_but_do_not_set_it(gateway, pool, tenant) -> None:
    order = await create_order(pool, tenant, status="SUCCESSFUL")
    for token in (tenant.admin_token, tenant.member_token):
        body = await gql(gateway, PAY, {"id": str(order["id"])}, token=token)
        assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    state = await gql(
        gateway, "query($id: ID!) { order(id: $id) { commStatus } }", {"id": str(order["id"])}, token=tenant.admin_token
    )
    assert state["data"]["order"]["commStatus"] == "PENDING"


@pytest.mark.parametrize(
    "query",
    [
        "{ customers(first: 5) { edges { node { id } } } }",
        "{ integrations { id } }",
        "{ members { id } }",
        "{ auditLog(first: 5) { edges { node { id } } } }",
        "{ providers { id } }",
        "{ catalogueProducts { id } }",
        "mutation { requestExport(kind: ORDERS, format: CSV) { url errors { code } } }",
        'mutation { updateSettings(input: {name: "Mine now"}) { errors { code } } }',
        'mutation { inviteMember(email: "friend@example.com") { errors { code } } }',
    ],
)
async def test_a_provider_user_reaches_nothing_else(gateway, tenant, query: str) -> None:
    body = await gql(gateway, query, token=tenant.provider_token)
    codes = {e["extensions"]["code"] for e in body.get("errors") or []}
    payload_codes = {
        e["code"] for v in (body.get("data") or {}).values() if isinstance(v, dict) for e in v.get("errors") or []
    }
    assert codes | payload_codes == {"FORBIDDEN"}, body
    assert not any(isinstance(v, dict) and v.get("url") for v in (body.get("data") or {}).values())


async def test_the_operator_invites_provider_staff_and_admins_can_remove_them(
    capsys, gateway, issuer, pool, tenant
) -> None:
    email = f"ops-{uuid.uuid4().hex[:8]}@acme-bank.example"
    code, invited, err = await asyncio.to_thread(
        run_cli,
        capsys,
        "invite-provider-user",
        "--org",
        str(tenant.org_id),
        "--provider",
        tenant.provider["public_id"],
        "--email",
        email,
    )
    assert code == 0, err
    assert invited["status"] == "invited" and invited["provider_id"] == str(tenant.provider["id"])
    members = (await gql(gateway, "{ members { id email role status providerId } }", token=tenant.admin_token))["data"][
        "members"
    ]
    row = next(m for m in members if m["email"] == email)
    assert row == {
        "id": invited["member_id"],
        "email": email,
        "role": "PROVIDER",
        "status": "INVITED",
        "providerId": str(tenant.provider["id"]),
    }
    # The invitation email is requested (sent by the mail worker once the transaction commits).
    async with tenant_tx(pool, tenant.org_id) as conn:
        mails = await conn.fetch(
            "SELECT payload FROM outbox WHERE org_id = $1 AND type = 'mail.requested'", tenant.org_id
        )
    assert any(email in str(m["payload"]) for m in mails)

    subject = f"auth0|ops-{uuid.uuid4().hex[:8]}"
    token = issuer.mint(subject, email=email)
    me = (await gql(gateway, "{ me { role providerId } }", token=token))["data"]["me"]
    assert me == {"role": "PROVIDER", "providerId": str(tenant.provider["id"])}

    # Admins cannot turn a provider user into partner staff, nor invite one themselves.
    change = await gql(
        gateway,
        "mutation($id: ID!) { changeMemberRole(memberId: $id, role: ADMIN) { member { id } errors { field code } } }",
        {"id": invited["member_id"]},
        token=tenant.admin_token,
    )
    assert change["data"]["changeMemberRole"]["member"] is None
    assert [e["field"] for e in change["data"]["changeMemberRole"]["errors"]] == ["memberId"]
    invite = await gql(
        gateway,
        'mutation { inviteMember(email: "x@acme-bank.example", role: PROVIDER) { member { id } errors { field } } }',
        token=tenant.admin_token,
    )
    assert invite["data"]["inviteMember"]["member"] is None
    assert [e["field"] for e in invite["data"]["inviteMember"]["errors"]] == ["role"]

    removed = await gql(
        gateway,
        "mutation($id: ID!) { removeMember(memberId: $id) { removed } }",
        {"id": invited["member_id"]},
        token=tenant.admin_token,
    )
    assert removed["data"]["removeMember"]["removed"] is True
    # A new token (the viewer cache keeps a token's membership for AUTH_CACHE_SECONDS): no membership left.
    r = await gateway.post(
        "/graphql",
        json={"query": "{ me { role } }"},
        headers={"authorization": f"Bearer {issuer.mint(subject, ttl=600)}"},
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "NO_MEMBERSHIP", r.text


async def test_unknown_provider_or_bad_email_is_refused_by_the_operator_command(capsys, tenant) -> None:
    for provider, email, field in (
        ("prv_doesnotexist", "a@example.com", "provider"),
        (tenant.provider["public_id"], "not-an-email", "email"),
    ):
        code, _, err = await asyncio.to_thread(
            run_cli,
            capsys,
            "invite-provider-user",
            "--org",
            str(tenant.org_id),
            "--provider",
            provider,
            "--email",
            email,
        )
        assert code != 0 and field in err, err


async def test_the_operator_acts_for_a_provider_and_the_ledger_says_so(
    capsys, gateway, pool, tenant, two_providers
) -> None:
    order = two_providers["ours"][1]
    base = ("set-commission", "--org", str(tenant.org_id), "--order", str(order["id"]))
    # Acting for a provider that is not the order's: not found, nothing changes.
    code, _, err = await asyncio.to_thread(
        run_cli, capsys, *base, "--provider", two_providers["rival"]["public_id"], "--status", "SUCCESSFUL"
    )
    assert code != 0 and "not found" in err
    code, out, err = await asyncio.to_thread(
        run_cli,
        capsys,
        *base,
        "--provider",
        tenant.provider["public_id"],
        "--status",
        "SUCCESSFUL",
        "--amount",
        "13.50",
    )
    assert code == 0, err
    assert out["changed"] is True and out["comm_status"] == "SUCCESSFUL"
    history = (await gql(gateway, HISTORY, {"id": str(order["id"])}, token=tenant.member_token))["data"]
    assert history["orderHistory"][-1] == {
        "toCommStatus": "SUCCESSFUL",
        "source": "operator",
        "actor": "operator",
        "onBehalfOfProviderId": str(tenant.provider["id"]),
        "onBehalfOfProviderName": "Acme Bank",
    }
    amount = await gql(
        gateway,
        "query($id: ID!) { order(id: $id) { commission { amount } } }",
        {"id": str(order["id"])},
        token=tenant.member_token,
    )
    assert amount["data"]["order"]["commission"]["amount"] == "13.50"
    log = await gql(
        gateway, "{ auditLog(first: 5) { edges { node { action actor change } } } }", token=tenant.admin_token
    )
    entry = log["data"]["auditLog"]["edges"][0]["node"]
    assert entry["action"] == "commission.set_by_hand" and entry["actor"] == "operator"
    code, _, err = await asyncio.to_thread(
        run_cli, capsys, *base, "--provider", tenant.provider["public_id"], "--status", "PENDING", "--amount", "-1"
    )
    assert code != 0 and "amount" in err
