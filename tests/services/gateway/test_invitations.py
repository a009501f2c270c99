"""Invitations are emailed, resent and revoked by admins, and claimed only with a verified email that matches.

End to end through the gateway, the orders API, the outbox relay, a real Dramatiq worker running the kit's
mail actors, and a real SMTP server (the development mailbox, aiosmtpd) on a free port.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.dev_issuer import DevIssuer
from infra.embedded import free_port
from infra.mailbox import Mailbox, StoredMessage
from shared.auth import service_tokens
from shared.config import get_settings
from shared.mail import MAIL_REQUESTED, subscription
from tests.factories import Tenant, gql

MEMBERS = "{ members { id email role status invitedAt } }"
ME = "{ me { memberId role organisationId } }"
INVITE = """mutation($email: String!, $role: Role) { inviteMember(email: $email, role: $role) {
  member { id email role status invitedAt } errors { code field message } } }"""
RESEND = """mutation($id: ID!) { resendInvitation(memberId: $id) {
  member { id email status invitedAt } errors { code field message } } }"""
REVOKE = "mutation($id: ID!) { revokeInvitation(memberId: $id) { revoked errors { code field message } } }"
CHANGE = """mutation($id: ID!, $role: Role!) { changeMemberRole(memberId: $id, role: $role) {
  member { id role } errors { code field } } }"""


def address(label: str) -> str:
    return f"{label}+{uuid.uuid4().hex[:10]}@example.com"


async def until(predicate: Callable[[], bool], timeout: float = 20, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@pytest.fixture
def mailbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    """The SMTP server the mail actors of this process send to (SMTP_URL), for one test."""
    with Mailbox(tmp_path / "mail", free_port()) as box:
        monkeypatch.setenv("SMTP_URL", box.url)
        get_settings.cache_clear()
        yield box
    monkeypatch.delenv("SMTP_URL", raising=False)
    get_settings.cache_clear()


@pytest.fixture
def mail_worker(servers: None) -> Iterator[None]:
    """A real worker consuming the mail the orders relay hands over (queue mail.events)."""
    from shared.messaging import mail_actors
    from tests.workers import running_worker

    with running_worker({mail_actors.MAIL_EVENTS_QUEUE}, threads=2):
        yield


async def relay(pool: Any) -> None:
    """What the orders relay does: committed outbox events to the mail actors (its subscription to them)."""
    from shared.messaging.relay import relay_once

    while await relay_once(pool, "orders", subscriptions=(subscription("orders"),)):
        pass


def mail_to(box: Mailbox, email: str) -> list[StoredMessage]:
    return [m for m in box.messages() if m.to == email]


async def delivered(pool: Any, box: Mailbox, email: str, count: int) -> list[StoredMessage]:
    """Relays what committed, waits for `count` messages to `email`, and checks that no more come."""
    await relay(pool)
    await until(lambda: len(mail_to(box, email)) >= count, what=f"{count} message(s) to {email}")
    await asyncio.sleep(0.3)
    found = mail_to(box, email)
    assert len(found) == count, [m.subject for m in found]
    return sorted(found, key=lambda m: m.path.name)


async def members(gateway: httpx.AsyncClient, tenant: Tenant) -> dict[str, dict[str, Any]]:
    body = await gql(gateway, MEMBERS, token=tenant.admin_token)
    assert "errors" not in body, body
    return {m["email"]: m for m in body["data"]["members"]}


async def invite(gateway: httpx.AsyncClient, tenant: Tenant, email: str, role: str = "MEMBER") -> dict[str, Any]:
    body = await gql(gateway, INVITE, {"email": email, "role": role}, token=tenant.admin_token)
    payload = body["data"]["inviteMember"]
    assert payload["errors"] == [], payload
    return dict(payload["member"])


async def sign_in(gateway: httpx.AsyncClient, token: str) -> httpx.Response:
    return await gateway.post("/graphql", json={"query": ME}, headers={"authorization": f"Bearer {token}"})


async def test_an_invitation_is_emailed_resent_and_claimed_with_a_verified_email(
    gateway, pool, tenant, issuer: DevIssuer, mailbox, mail_worker
) -> None:
    email = address("newcomer")
    invited = await invite(gateway, tenant, email)
    assert invited["status"] == "INVITED" and invited["invitedAt"]

    [first] = await delivered(pool, mailbox, email, 1)
    org = (await gql(gateway, "{ organisation { name } }", token=tenant.admin_token))["data"]["organisation"]
    admin_email = f"admin-{tenant.org_id.hex[:8]}@example.com"
    message = first.read()
    assert first.subject == f"You are invited to join {org['name']}"
    assert message["To"] == email and message["Reply-To"] == admin_email
    text = first.text()
    assert org["name"] in text and admin_email in text and "as a member" in text and email in text
    assert f"http://gateway.test/?org={tenant.org_id}" in text  # GATEWAY_PUBLIC_URL of the tests, this organisation
    await delivered(pool, mailbox, email, 1)  # relayed again: nothing new

    # Pending in `members`, with when it was sent; a resend is a second email and moves invitedAt.
    listed = (await members(gateway, tenant))[email]
    assert listed["status"] == "INVITED" and listed["invitedAt"] == invited["invitedAt"]
    body = await gql(gateway, RESEND, {"id": invited["id"]}, token=tenant.admin_token)
    resent = body["data"]["resendInvitation"]
    assert resent["errors"] == [] and resent["member"]["status"] == "INVITED"
    assert dt.datetime.fromisoformat(resent["member"]["invitedAt"]) > dt.datetime.fromisoformat(invited["invitedAt"])
    first_again, second = await delivered(pool, mailbox, email, 2)
    assert first_again.path == first.path and second.read()["Message-ID"] != message["Message-ID"]
    assert "http://gateway.test/" in second.text()
    forbidden = await gql(gateway, RESEND, {"id": invited["id"]}, token=tenant.member_token)
    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    # The identity provider does not vouch for the address: no claim, whatever the address says.
    for verified in (None, False):
        token = issuer.mint(f"auth0|unverified-{uuid.uuid4().hex[:8]}", email=email, email_verified=verified)
        r = await sign_in(gateway, token)
        assert r.status_code == 403 and r.json()["error"]["code"] == "NO_MEMBERSHIP", verified
    assert (await members(gateway, tenant))[email]["status"] == "INVITED"

    # It does: the invitation is claimed by this account, and the member is active.
    subject = f"auth0|newcomer-{uuid.uuid4().hex[:8]}"
    r = await sign_in(gateway, issuer.mint(subject, email=email))
    assert r.status_code == 200, r.text
    assert r.json()["data"]["me"] == {"memberId": invited["id"], "role": "MEMBER", "organisationId": str(tenant.org_id)}
    joined = (await members(gateway, tenant))[email]
    assert joined["status"] == "ACTIVE" and joined["invitedAt"] == resent["member"]["invitedAt"]
    # Bound to the subject from now on: the same account signs in without any email claim.
    assert (await sign_in(gateway, issuer.mint(subject))).status_code == 200

    # Nothing left to resend or revoke once joined (members are removed with removeMember).
    body = await gql(gateway, RESEND, {"id": invited["id"]}, token=tenant.admin_token)
    assert body["data"]["resendInvitation"]["errors"][0]["code"] == "ALREADY_MEMBER"
    body = await gql(gateway, REVOKE, {"id": invited["id"]}, token=tenant.admin_token)
    revoked = body["data"]["revokeInvitation"]
    assert revoked["revoked"] is False and revoked["errors"][0]["code"] == "ALREADY_MEMBER"
    assert revoked["errors"][0]["field"] == "memberId"
    await delivered(pool, mailbox, email, 2)


async def test_a_revoked_invitation_cannot_be_claimed(
    gateway, pool, orders_api, settings, tenant, issuer: DevIssuer, mailbox, mail_worker
) -> None:
    email = address("revoked")
    invited = await invite(gateway, tenant, email, role="ADMIN")
    await delivered(pool, mailbox, email, 1)
    body = await gql(gateway, REVOKE, {"id": invited["id"]}, token=tenant.member_token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await gql(gateway, REVOKE, {"id": invited["id"]}, token=tenant.admin_token)
    assert body["data"]["revokeInvitation"] == {"revoked": True, "errors": []}
    assert email not in await members(gateway, tenant)

    r = await sign_in(gateway, issuer.mint(f"auth0|late-{uuid.uuid4().hex[:8]}", email=email))
    assert r.status_code == 403 and r.json()["error"]["code"] == "NO_MEMBERSHIP"
    # A sign-in that looked the invitation up just before the revocation cannot bind it afterwards.
    token = service_tokens.mint(
        settings.service_token_secret,
        caller="gateway",
        audience="orders",
        org_id=str(tenant.org_id),
        subject=f"auth0|racing-{uuid.uuid4().hex[:8]}",
    )
    r = await orders_api.post(
        "/internal/auth/activate", json={"memberId": invited["id"]}, headers={"authorization": f"Bearer {token}"}
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
    # Revoked twice, resent after revocation: it is gone.
    for mutation, name in ((REVOKE, "revokeInvitation"), (RESEND, "resendInvitation")):
        body = await gql(gateway, mutation, {"id": invited["id"]}, token=tenant.admin_token)
        assert body["data"][name]["errors"][0]["code"] == "NOT_FOUND"
    await delivered(pool, mailbox, email, 1)  # and no further email went out

    # Invited again later: a fresh invitation, claimable.
    again = await invite(gateway, tenant, email)
    assert again["id"] != invited["id"]
    await delivered(pool, mailbox, email, 2)
    r = await sign_in(gateway, issuer.mint(f"auth0|back-{uuid.uuid4().hex[:8]}", email=email))
    assert r.status_code == 200 and r.json()["data"]["me"]["memberId"] == again["id"]


async def test_a_refused_invitation_sends_nothing(gateway, pool, tenant) -> None:
    """A duplicate invitation rolls back: no member, no mail in the outbox."""
    from shared.db import tenant_tx

    email = address("twice")
    await invite(gateway, tenant, email)
    body = await gql(gateway, INVITE, {"email": email.upper(), "role": "MEMBER"}, token=tenant.admin_token)
    assert body["data"]["inviteMember"]["errors"][0]["code"] == "ALREADY_MEMBER"
    async with tenant_tx(pool, tenant.org_id) as conn:
        rows = await conn.fetch("SELECT payload FROM outbox WHERE type = $1", MAIL_REQUESTED)
    assert [r["payload"]["mail"]["to"] for r in rows if r["payload"]["mail"]["to"].lower() == email] == [email]


async def test_other_organisations_invitations_are_not_found(gateway, pool, tenant, other_tenant) -> None:
    email = address("theirs")
    theirs = await invite(gateway, other_tenant, email)
    their_member = next(m for m in (await members(gateway, other_tenant)).values() if m["email"].startswith("member-"))
    for member_id in (theirs["id"], their_member["id"]):
        for mutation, name in ((RESEND, "resendInvitation"), (REVOKE, "revokeInvitation")):
            body = await gql(gateway, mutation, {"id": member_id}, token=tenant.admin_token)
            assert body["data"][name]["errors"][0]["code"] == "NOT_FOUND", (name, member_id)
    body = await gql(gateway, RESEND, {"id": "not-an-id"}, token=tenant.admin_token)
    assert body["errors"][0]["extensions"]["code"] == "INVALID_ID"
    still = (await members(gateway, other_tenant))[email]
    assert still["status"] == "INVITED" and still["invitedAt"] == theirs["invitedAt"]


async def test_an_invited_admin_is_not_the_organisation_s_admin_yet(gateway, tenant) -> None:
    """The last active admin cannot step down in favour of an invitation that may never be taken up."""
    pending = await invite(gateway, tenant, address("future-admin"), role="ADMIN")
    me = (await gql(gateway, ME, token=tenant.admin_token))["data"]["me"]
    body = await gql(gateway, CHANGE, {"id": me["memberId"], "role": "MEMBER"}, token=tenant.admin_token)
    assert body["data"]["changeMemberRole"]["errors"][0]["code"] == "LAST_ADMIN"
    body = await gql(gateway, CHANGE, {"id": pending["id"], "role": "MEMBER"}, token=tenant.admin_token)
    assert body["data"]["changeMemberRole"] == {"member": {"id": pending["id"], "role": "MEMBER"}, "errors": []}
