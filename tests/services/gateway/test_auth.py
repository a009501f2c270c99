"""Who may call the gateway, through HTTP: tokens, memberships, roles and invitations."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from infra.dev_issuer import DevIssuer
from shared.auth import service_tokens
from tests.factories import Tenant, create_order, gql

ME = "{ me { subject email role memberId organisationId organisationName } }"

SNAPSHOT = """{
  organisation { id name marketplaceUrl primaryColour baseCurrency timeZone }
  members { id email role status }
  integrations { id name channel apiKeyPrefix keyRotatedAt categories { id } }
}"""


async def post(
    client: httpx.AsyncClient, token: str | None = None, query: str = ME, headers: dict[str, str] | None = None
) -> httpx.Response:
    h = dict(headers or {})
    if token is not None:
        h["authorization"] = f"Bearer {token}"
    return await client.post("/graphql", json={"query": query}, headers=h)


async def snapshot(gateway: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    body = await gql(gateway, SNAPSHOT, token=tenant.admin_token)
    assert "errors" not in body, body
    return body["data"]


def tag() -> str:
    return uuid.uuid4().hex[:10]


# --- authentication -------------------------------------------------------------------------


async def test_no_token_is_401_json(gateway: httpx.AsyncClient) -> None:
    r = await post(gateway)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["error"]["code"] == "UNAUTHENTICATED"
    assert r.headers["www-authenticate"].startswith("Bearer")
    # Not a bearer scheme, or an empty one.
    for value in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token abc"):
        r = await gateway.post("/graphql", json={"query": ME}, headers={"authorization": value})
        assert r.status_code == 401, value
        assert r.json()["error"]["code"] == "UNAUTHENTICATED"


async def test_garbage_token_is_401(gateway: httpx.AsyncClient) -> None:
    for token in ("garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."):
        r = await post(gateway, token)
        assert r.status_code == 401, token
        assert r.json()["error"]["code"] == "UNAUTHENTICATED"
        assert r.headers["www-authenticate"].startswith("Bearer")


async def test_invalid_tokens_of_real_members_are_401(
    gateway: httpx.AsyncClient, tenant: Tenant, issuer: DevIssuer
) -> None:
    sub = tenant.admin_subject
    for token in (
        issuer.mint(sub, ttl=-3600),
        issuer.mint(sub, claims={"aud": "another-api"}),
        issuer.mint(sub, claims={"iss": issuer.issuer + "evil"}),
        issuer.mint(sub, headers={"kid": "unknown-kid"}),
    ):
        r = await post(gateway, token)
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "UNAUTHENTICATED"
    assert (await post(gateway, tenant.admin_token)).status_code == 200


async def test_valid_token_without_membership_is_403(gateway: httpx.AsyncClient, issuer: DevIssuer) -> None:
    r = await post(gateway, issuer.mint(f"auth0|stranger-{tag()}", email=f"stranger-{tag()}@example.com"))
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "NO_MEMBERSHIP"


async def test_verified_email_of_an_active_member_is_not_a_membership(
    gateway: httpx.AsyncClient, tenant: Tenant, issuer: DevIssuer
) -> None:
    """Email binds only an open invitation: another account with a member's email is a stranger."""
    members = (await snapshot(gateway, tenant))["members"]
    member_email = next(m["email"] for m in members if m["role"] == "MEMBER")
    r = await post(gateway, issuer.mint(f"auth0|lookalike-{tag()}", email=member_email))
    assert r.status_code == 403
    assert (await snapshot(gateway, tenant))["members"] == members


async def test_organisation_header(gateway: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant) -> None:
    ok = await post(gateway, tenant.member_token, headers={"x-organisation-id": str(tenant.org_id)})
    assert ok.status_code == 200
    assert ok.json()["data"]["me"]["organisationId"] == str(tenant.org_id)
    for hint in (str(other_tenant.org_id), str(uuid.uuid4()), "not-a-uuid"):
        r = await post(gateway, tenant.member_token, headers={"x-organisation-id": hint})
        assert r.status_code == 403, hint
        assert r.json()["error"]["code"] == "NO_MEMBERSHIP"


async def test_me(gateway: httpx.AsyncClient, tenant: Tenant) -> None:
    admin = (await gql(gateway, ME, token=tenant.admin_token))["data"]["me"]
    member = (await gql(gateway, ME, token=tenant.member_token))["data"]["me"]
    assert admin["role"] == "ADMIN" and member["role"] == "MEMBER"
    assert admin["subject"] == tenant.admin_subject and member["subject"] == tenant.member_subject
    assert admin["organisationId"] == member["organisationId"] == str(tenant.org_id)
    assert admin["memberId"] != member["memberId"]


# --- roles ----------------------------------------------------------------------------------


def forbidden(body: dict[str, Any]) -> None:
    assert body.get("errors"), body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"], body
    assert body["data"] is None, body


async def test_member_cannot_call_admin_mutations(gateway: httpx.AsyncClient, pool: Any, tenant: Tenant) -> None:
    order = await create_order(pool, tenant, status="SUCCESSFUL")
    before = await snapshot(gateway, tenant)
    admin_member = next(m for m in before["members"] if m["role"] == "ADMIN")
    order_q = (
        "query($id: ID!) { order(id: $id) { commStatus commission { amount currency } } "
        "orderHistory(id: $id) { toCommStatus } }"
    )
    order_before = await gql(gateway, order_q, {"id": str(order["id"])}, token=tenant.admin_token)
    assert order_before["data"]["order"]["commStatus"] == "PENDING"

    attempts: list[tuple[str, dict[str, Any]]] = [
        (
            'mutation { updateSettings(input: {name: "Taken over", primaryColour: "#000000"}) '
            "{ organisation { name } errors { code } } }",
            {},
        ),
        (
            'mutation { inviteMember(email: "accomplice@example.com", role: ADMIN) { member { id } errors { code } } }',
            {},
        ),
        ('mutation { inviteMember(email: "accomplice2@example.com") { member { id } errors { code } } }', {}),
        ("mutation($id: ID!) { removeMember(memberId: $id) { removed errors { code } } }", {"id": admin_member["id"]}),
        (
            'mutation { createIntegration(input: {name: "Shadow", channel: API}) { integration { id } apiKey '
            "errors { code } } }",
            {},
        ),
        (
            "mutation($id: ID!) { rotateIntegrationKey(id: $id) { apiKey errors { code } } }",
            {"id": str(tenant.integration_id)},
        ),
        (
            'mutation($id: ID!) { updateIntegration(id: $id, input: {name: "Renamed", categoryIds: []}) '
            "{ integration { name } errors { code } } }",
            {"id": str(tenant.integration_id)},
        ),
        (
            "mutation($id: ID!) { updateCommissionStatus(orderId: $id, commStatus: SUCCESSFUL) "
            "{ changed errors { code } } }",
            {"id": str(order["id"])},
        ),
        (
            'mutation($id: ID!) { updateCommissionStatus(orderId: $id, commStatus: PENDING, amount: "999.99") '
            "{ changed errors { code } } }",
            {"id": str(order["id"])},
        ),
    ]
    for query, variables in attempts:
        forbidden(await gql(gateway, query, variables, token=tenant.member_token))

    # Several admin mutations in one document: each is refused, none runs.
    many = (
        'mutation($id: ID!) { a: updateSettings(input: {name: "Taken over"}) { errors { code } } '
        "b: rotateIntegrationKey(id: $id) { apiKey errors { code } } }"
    )
    body = await gql(gateway, many, {"id": str(tenant.integration_id)}, token=tenant.member_token)
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    assert await snapshot(gateway, tenant) == before
    assert await gql(gateway, order_q, {"id": str(order["id"])}, token=tenant.admin_token) == order_before


async def test_member_can_read(gateway: httpx.AsyncClient, tenant: Tenant) -> None:
    body = await gql(gateway, SNAPSHOT, token=tenant.member_token)
    assert "errors" not in body, body
    assert body["data"] == await snapshot(gateway, tenant)


async def test_admin_mutations_work_for_admins(gateway: httpx.AsyncClient, tenant: Tenant) -> None:
    """The same calls the member was refused succeed for an admin: the refusal is about the role."""
    body = await gql(
        gateway,
        'mutation { updateSettings(input: {name: "Renamed Partner"}) { organisation { name } errors { code } } }',
        token=tenant.admin_token,
    )
    assert body["data"]["updateSettings"] == {"organisation": {"name": "Renamed Partner"}, "errors": []}
    body = await gql(
        gateway,
        "mutation($id: ID!) { rotateIntegrationKey(id: $id) { apiKey errors { code } } }",
        {"id": str(tenant.integration_id)},
        token=tenant.admin_token,
    )
    assert body["data"]["rotateIntegrationKey"]["apiKey"] and body["data"]["rotateIntegrationKey"]["errors"] == []


async def test_orders_service_enforces_admin_on_its_own(
    orders_api: httpx.AsyncClient, settings: Any, tenant: Tenant
) -> None:
    """Defence in depth: a gateway bug letting a member through would still be refused by the service."""

    def headers(role: str, subject: str) -> dict[str, str]:
        token = service_tokens.mint(
            settings.service_token_secret,
            caller="gateway",
            audience="orders",
            org_id=str(tenant.org_id),
            subject=subject,
            role=role,
        )
        return {"authorization": f"Bearer {token}"}

    member = headers("member", tenant.member_subject)
    for method, path, body in (
        ("PATCH", "/internal/organisation", {"name": "Taken over"}),
        ("POST", "/internal/members", {"email": "x@example.com", "role": "admin"}),
        ("POST", "/internal/integrations", {"name": "Shadow", "channel": "api"}),
        ("POST", f"/internal/integrations/{tenant.integration_id}/rotate-key", None),
    ):
        r = await orders_api.request(method, path, json=body, headers=member)
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["error"]["code"] == "FORBIDDEN"
    r = await orders_api.get("/internal/organisation", headers=headers("admin", tenant.admin_subject))
    assert r.status_code == 200 and r.json()["name"] != "Taken over"


async def test_removed_member_loses_access(gateway: httpx.AsyncClient, tenant: Tenant) -> None:
    member_id = (await gql(gateway, ME, token=tenant.member_token))["data"]["me"]["memberId"]
    body = await gql(
        gateway,
        "mutation($id: ID!) { removeMember(memberId: $id) { removed errors { code } } }",
        {"id": member_id},
        token=tenant.admin_token,
    )
    assert body["data"]["removeMember"] == {"removed": True, "errors": []}
    # The gateway may reuse the verified viewer for AUTH_CACHE_SECONDS (1 s in tests), no longer.
    await asyncio.sleep(1.1)
    r = await post(gateway, tenant.member_token)
    assert r.status_code == 403


# --- invitations ----------------------------------------------------------------------------


INVITE = (
    "mutation($email: String!, $role: Role) { inviteMember(email: $email, role: $role) "
    "{ member { id email role status } errors { code field } } }"
)


async def invite(gateway: httpx.AsyncClient, tenant: Tenant, email: str, role: str = "MEMBER") -> dict[str, Any]:
    body = await gql(gateway, INVITE, {"email": email, "role": role}, token=tenant.admin_token)
    assert "errors" not in body, body
    payload = body["data"]["inviteMember"]
    assert payload["errors"] == [], payload
    return payload["member"]


async def test_invitation_flow(gateway: httpx.AsyncClient, tenant: Tenant, issuer: DevIssuer) -> None:
    # A per-run address: an unclaimed invitation left in a shared database by an earlier run must not interfere.
    email = f"new+{tag()}@example.com"
    invited = await invite(gateway, tenant, email)
    assert invited["status"] == "INVITED" and invited["role"] == "MEMBER"

    # An account whose issuer does not vouch for the address cannot take the invitation.
    for unverified in ({"email_verified": False}, {"email_verified": "true"}, {"email_verified": None}):
        r = await post(gateway, issuer.mint(f"auth0|unverified-{tag()}", email=email, claims=unverified))
        assert r.status_code == 403, unverified
        assert r.json()["error"]["code"] == "NO_MEMBERSHIP"
    r = await post(gateway, issuer.mint(f"auth0|no-claim-{tag()}", claims={"email": email}))  # no email_verified
    assert r.status_code == 403
    members = {m["email"]: m for m in (await snapshot(gateway, tenant))["members"]}
    assert members[email]["status"] == "INVITED"

    newcomer = f"auth0|newcomer-{tag()}"
    token = issuer.mint(newcomer, email=email)
    me = (await gql(gateway, ME, token=token))["data"]["me"]
    assert me == {
        "subject": newcomer,
        "email": email,
        "role": "MEMBER",
        "memberId": invited["id"],
        "organisationId": str(tenant.org_id),
        "organisationName": me["organisationName"],
    }
    org = (await gql(gateway, "{ organisation { id name } }", token=token))["data"]["organisation"]
    assert org["id"] == str(tenant.org_id) and me["organisationName"] == org["name"]
    members = {m["email"]: m for m in (await snapshot(gateway, tenant))["members"]}
    assert members[email]["status"] == "ACTIVE"

    # Signing in again is stable, and the invitation is now bound to that account only.
    assert (await gql(gateway, ME, token=issuer.mint(newcomer, email=email)))["data"]["me"]["memberId"] == invited["id"]
    r = await post(gateway, issuer.mint(f"auth0|second-{tag()}", email=email))
    assert r.status_code == 403
    # Bound to the subject, not the email: the same account signs in after changing its address.
    me = (await gql(gateway, ME, token=issuer.mint(newcomer, email=f"changed-{tag()}@example.com")))["data"]["me"]
    assert me["memberId"] == invited["id"]
    # The member role holds for the newcomer.
    forbidden(await gql(gateway, 'mutation { updateSettings(input: {name: "x"}) { errors { code } } }', token=token))


async def test_invitation_matches_email_case_insensitively(
    gateway: httpx.AsyncClient, tenant: Tenant, issuer: DevIssuer
) -> None:
    t = tag()
    invited = await invite(gateway, tenant, f"Mixed.Case+{t}@Example.COM", role="ADMIN")
    me = await gql(gateway, ME, token=issuer.mint(f"auth0|mixed-{t}", email=f"mixed.case+{t}@example.com"))
    assert me["data"]["me"]["memberId"] == invited["id"] and me["data"]["me"]["role"] == "ADMIN"


async def test_duplicate_invitation_is_refused(gateway: httpx.AsyncClient, tenant: Tenant) -> None:
    email = f"dup-{tag()}@example.com"
    await invite(gateway, tenant, email)
    body = await gql(gateway, INVITE, {"email": email, "role": "MEMBER"}, token=tenant.admin_token)
    assert body["data"]["inviteMember"]["member"] is None
    assert body["data"]["inviteMember"]["errors"][0]["code"] == "ALREADY_MEMBER"


async def test_invitations_from_two_organisations(
    gateway: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, issuer: DevIssuer
) -> None:
    email = f"both-{tag()}@example.com"
    first = await invite(gateway, tenant, email)
    second = await invite(gateway, other_tenant, email)
    sub = f"auth0|both-{tag()}"
    token = issuer.mint(sub, email=email)
    # Without a hint, the oldest invitation; with one, the organisation named.
    assert (await gql(gateway, ME, token=token))["data"]["me"]["memberId"] == first["id"]
    me = (await gql(gateway, ME, token=token, headers={"x-organisation-id": str(other_tenant.org_id)}))["data"]["me"]
    assert me["memberId"] == second["id"] and me["organisationId"] == str(other_tenant.org_id)
    # Each organisation sees only its own member row, now active and bound to the same account.
    for t, m in ((tenant, first), (other_tenant, second)):
        rows = {r["id"]: r for r in (await snapshot(gateway, t))["members"]}
        assert rows[m["id"]]["status"] == "ACTIVE"


@pytest.mark.parametrize("claims", [{"sub": "auth0|" + "x" * 400}, {"email": "a" * 330 + "@example.com"}])
async def test_oversized_identity_claims_do_not_crash_the_gateway(
    gateway: httpx.AsyncClient, issuer: DevIssuer, claims: dict[str, Any]
) -> None:
    """A signed token with an over-long subject or email is refused (401/403), never a server error."""
    r = await post(gateway, issuer.mint(f"auth0|big-{tag()}", email=f"big-{tag()}@example.com", claims=claims))
    assert r.status_code in (401, 403), r.text


async def test_oversized_graphql_body_is_refused_before_authentication(gateway) -> None:
    r = await gateway.post(
        "/graphql",
        content=b'{"query": "' + b" " * (70 * 1024) + b'{ me { role } }"}',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "TOO_LARGE"


async def test_bearer_scheme_is_case_insensitive(gateway, tenant) -> None:
    r = await gateway.post(
        "/graphql", json={"query": "{ me { role } }"}, headers={"authorization": f"bearer {tenant.admin_token}"}
    )
    assert r.status_code == 200 and r.json()["data"]["me"]["role"] == "ADMIN"
