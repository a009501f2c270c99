"""`me.memberships`: the organisations a signed-in user can choose between (the dashboard's organisation chooser).

Through the gateway's HTTP API, with the orders service's real sign-in lookup (`resolve_memberships`, row-level
security bypassed only inside that function): every organisation whose members table binds this account, and no
other; a pending or revoked invitation is not a membership.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from infra.dev_issuer import DevIssuer
from services.gateway.clients import OrdersClient
from services.orders.repository import members
from shared.db import tenant_tx
from tests.factories import Tenant, create_tenant, gql

MEMBERSHIPS = "{ me { organisationId memberships { organisationId organisationName role } } }"
CHOICES = """{ me { memberships { organisationId } invitations { organisationId organisationName role } } }"""
INVITE = """mutation($email: String!) { inviteMember(email: $email, role: MEMBER) {
  member { id } errors { code message } } }"""
REVOKE = "mutation($id: ID!) { revokeInvitation(memberId: $id) { revoked errors { code } } }"
REMOVE = "mutation($id: ID!) { removeMember(memberId: $id) { removed errors { code } } }"


def tag() -> str:
    return uuid.uuid4().hex[:10]


def fresh(issuer: DevIssuer, subject: str) -> str:
    """A token no earlier request used (its own `jti`): the gateway caches who a token is for a few seconds."""
    return issuer.mint(subject, claims={"jti": tag()})


async def org_name(gateway: httpx.AsyncClient, tenant: Tenant) -> str:
    body = await gql(gateway, "{ organisation { name } }", token=tenant.admin_token)
    return str(body["data"]["organisation"]["name"])


async def memberships(
    gateway: httpx.AsyncClient, token: str, org: uuid.UUID | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """The organisation answering and the user's memberships."""
    headers = {"x-organisation-id": str(org)} if org else None
    body = await gql(gateway, MEMBERSHIPS, token=token, headers=headers)
    assert "errors" not in body, body
    return body["data"]["me"]["organisationId"], body["data"]["me"]["memberships"]


async def invite(gateway: httpx.AsyncClient, tenant: Tenant, email: str) -> str:
    body = await gql(gateway, INVITE, {"email": email}, token=tenant.admin_token)
    assert body["data"]["inviteMember"]["errors"] == [], body
    return str(body["data"]["inviteMember"]["member"]["id"])


async def test_a_member_of_two_organisations_sees_both_from_either(
    gateway: httpx.AsyncClient, pool: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    # The tenant's admin is also a plain member of the other organisation (the same account, a second row).
    async with tenant_tx(pool, other_tenant.org_id) as conn:
        await members.add(
            conn, other_tenant.org_id, f"twice-{tag()}@example.com", "member", subject=tenant.admin_subject
        )
    expected = sorted(
        [
            {
                "organisationId": str(tenant.org_id),
                "organisationName": await org_name(gateway, tenant),
                "role": "ADMIN",
            },
            {
                "organisationId": str(other_tenant.org_id),
                "organisationName": await org_name(gateway, other_tenant),
                "role": "MEMBER",
            },
        ],
        key=lambda m: m["organisationName"].casefold(),
    )
    for hint, answering in (
        (None, tenant.org_id),
        (tenant.org_id, tenant.org_id),
        (other_tenant.org_id, other_tenant.org_id),
    ):
        current, listed = await memberships(gateway, tenant.admin_token, hint)
        assert current == str(answering), hint
        assert listed == expected, hint  # the same list whichever organisation answers, by name


async def test_nobody_sees_an_organisation_they_do_not_belong_to(
    gateway: httpx.AsyncClient, pool: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    name = await org_name(gateway, tenant)
    for token in (tenant.admin_token, tenant.member_token, tenant.provider_token):
        _, listed = await memberships(gateway, token)
        assert [m["organisationId"] for m in listed] == [str(tenant.org_id)]
        assert listed[0]["organisationName"] == name
    _, theirs = await memberships(gateway, other_tenant.admin_token)
    assert [m["organisationId"] for m in theirs] == [str(other_tenant.org_id)]
    # The provider user's role is their role there.
    _, provider = await memberships(gateway, tenant.provider_token)
    assert provider[0]["role"] == "PROVIDER"


async def test_pending_and_revoked_invitations_are_not_memberships(
    gateway: httpx.AsyncClient, pool: Any, issuer: DevIssuer, tenant: Tenant, other_tenant: Tenant
) -> None:
    third = await create_tenant(pool, issuer, name="Third Partner")
    email, subject = f"chooser-{tag()}@example.com", f"auth0|chooser-{tag()}"
    await invite(gateway, tenant, email)
    token = issuer.mint(subject, email=email)  # verified: the first sign-in claims the oldest invitation
    current, listed = await memberships(gateway, token)
    assert current == str(tenant.org_id) and [m["organisationId"] for m in listed] == [str(tenant.org_id)]

    # Invited to a second organisation (pending, addressed to this verified email), to a third and withdrawn.
    pending = await invite(gateway, other_tenant, email)
    withdrawn = await invite(gateway, third, email)
    body = await gql(gateway, REVOKE, {"id": withdrawn}, token=third.admin_token)
    assert body["data"]["revokeInvitation"] == {"revoked": True, "errors": []}
    _, listed = await memberships(gateway, token)
    assert [m["organisationId"] for m in listed] == [str(tenant.org_id)]
    # Offered as an invitation instead (to this verified email; the revoked one is gone) ...
    body = await gql(gateway, CHOICES, token=token)
    assert body["data"]["me"]["invitations"] == [
        {
            "organisationId": str(other_tenant.org_id),
            "organisationName": await org_name(gateway, other_tenant),
            "role": "MEMBER",
        }
    ]
    # ... and not when the token has no email the issuer vouches for (unverified, or no email claim at all).
    for other in (
        issuer.mint(subject, email=email, email_verified=False, claims={"jti": tag()}),
        issuer.mint(subject, claims={"jti": tag()}),
    ):
        body = await gql(gateway, CHOICES, token=other, headers={"x-organisation-id": str(tenant.org_id)})
        assert body["data"]["me"]["invitations"] == [], body
    stranger = await gql(gateway, CHOICES, token=other_tenant.admin_token)
    assert stranger["data"]["me"]["invitations"] == []

    # Claimed (signing in to that organisation with the invited email): now a membership, listed from both.
    current, listed = await memberships(gateway, token, other_tenant.org_id)
    assert current == str(other_tenant.org_id)
    assert {m["organisationId"] for m in listed} == {str(tenant.org_id), str(other_tenant.org_id)}
    _, again = await memberships(gateway, fresh(issuer, subject), tenant.org_id)  # no email claim needed now
    assert again == listed
    body = await gql(gateway, CHOICES, token=token)
    assert body["data"]["me"]["invitations"] == []  # joined: a membership, no longer an invitation

    # Removed from it: gone from the list at once (the list itself is never cached).
    body = await gql(gateway, REMOVE, {"id": pending}, token=other_tenant.admin_token)
    assert body["data"]["removeMember"] == {"removed": True, "errors": []}
    _, listed = await memberships(gateway, token, tenant.org_id)
    assert [m["organisationId"] for m in listed] == [str(tenant.org_id)]


async def test_one_lookup_however_many_organisations(
    gateway: httpx.AsyncClient, pool: Any, issuer: DevIssuer, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memberships and invitations are one set-based lookup across organisations, never a call per organisation
    (nor one per field)."""
    subject = f"auth0|many-{tag()}"
    orgs = [tenant, *[await create_tenant(pool, issuer, name=f"Many {i}") for i in range(3)]]
    for t in orgs:
        async with tenant_tx(pool, t.org_id) as conn:
            await members.add(conn, t.org_id, f"many-{tag()}@example.com", "member", subject=subject)

    calls: list[str] = []
    original = OrdersClient.call

    async def counted(self: OrdersClient, method: str, path: str, **kw: Any) -> Any:
        calls.append(path)
        return await original(self, method, path, **kw)

    monkeypatch.setattr(OrdersClient, "call", counted)
    # Fresh tokens: each request authenticates (one sign-in lookup) whatever the gateway's viewer cache holds.
    await gql(
        gateway, "{ me { role } }", token=fresh(issuer, subject), headers={"x-organisation-id": str(tenant.org_id)}
    )
    without = list(calls)
    calls.clear()
    body = await gql(gateway, CHOICES, token=fresh(issuer, subject), headers={"x-organisation-id": str(tenant.org_id)})
    listed = body["data"]["me"]["memberships"]
    assert {m["organisationId"] for m in listed} == {str(t.org_id) for t in orgs}
    assert body["data"]["me"]["invitations"] == []
    assert len(calls) == len(without) + 1, (without, calls)
    assert calls.count("/internal/auth/memberships") == without.count("/internal/auth/memberships") + 1
