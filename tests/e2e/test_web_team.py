"""End to end in a real browser (shared fixtures of tests/e2e/conftest.py): the header's organisation chooser of a
user who belongs to two organisations and is invited to a third (joined from the chooser), and Settings' team
administration: a team created, given a member, renamed, the member taken out, the team deleted; one pending
invitation resent and another revoked. Each step is checked against the API (and the resend against the orders
outbox: a second invitation email requested), axe-core on every state shown, screenshots at 1280 px and 390 px in
tests/e2e/artifacts/web/ (team-*.png).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest

from infra.dev_issuer import DevIssuer
from services.orders.repository import members
from shared.db import tenant_tx
from shared.mail import MAIL_REQUESTED
from tests.e2e.test_platform import Platform
from tests.e2e.web_browser import admin_email, api, signed_in
from tests.factories import create_tenant

pytestmark = pytest.mark.e2e
playwright_api = pytest.importorskip("playwright.async_api")
expect = playwright_api.expect
expect.set_options(timeout=15_000)  # a loaded 2-core machine: assertions retry longer than the 5-s default

TEAMS = "{ teams { id name members { id email } } }"
MEMBERS = "{ members { id email status invitedAt } }"
INVITE = """mutation($email: String!) { inviteMember(email: $email, role: MEMBER) {
  member { id invitedAt } errors { message } } }"""


async def _order(client: httpx.AsyncClient, tenant: Any, ref: str) -> None:
    r = await client.post(
        "/v1/orders",
        headers={"authorization": f"Bearer {tenant.api_key}"},
        json={
            "externalRef": ref,
            "productId": str(tenant.products["Broadband"]),
            "customer": {"email": f"{ref}@example.com"},
        },
    )
    assert r.status_code == 201, r.text


async def _mail_requests(pool: Any, org_id: uuid.UUID, to: str) -> int:
    """Invitation emails asked for (the outbox events the relay hands to the mail actors), kept for hours."""
    async with tenant_tx(pool, org_id) as conn:
        count = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE type = $1 AND payload->'mail'->>'to' = $2", MAIL_REQUESTED, to
        )
    return int(count)


async def test_organisation_chooser_teams_and_invitations(
    web_platform: Platform, browser: Any, tenant: Any, other_tenant: Any, issuer: DevIssuer, pool: Any
) -> None:
    tag = uuid.uuid4().hex[:6]
    mine_ref, theirs_ref = f"team-mine-{tag}", f"team-theirs-{tag}"
    resend_to, revoke_to = f"resend-{tag}@example.com", f"revoke-{tag}@example.com"
    member_email = f"member-{tenant.admin_subject.split('|admin-')[1]}@example.com"
    # The tenant's admin is also a plain member of the other organisation (the same account, a second row), and
    # is invited by email to a third one (pending: offered in the chooser as an invitation to join).
    async with tenant_tx(pool, other_tenant.org_id) as conn:
        await members.add(conn, other_tenant.org_id, f"also-{tag}@example.com", "member", subject=tenant.admin_subject)
    third = await create_tenant(pool, issuer, name="Third Partner")
    async with httpx.AsyncClient(base_url=web_platform.url, timeout=15) as client:
        await _order(client, tenant, mine_ref)
        await _order(client, other_tenant, theirs_ref)
        invited = (await api(client, tenant.admin_token, INVITE, {"email": resend_to}))["inviteMember"]
        assert invited["errors"] == [], invited
        joining = (await api(client, third.admin_token, INVITE, {"email": admin_email(tenant)}))["inviteMember"]
        assert joining["errors"] == [], joining
        mine = (await api(client, tenant.admin_token, "{ organisation { name } }"))["organisation"]["name"]
        theirs = (await api(client, other_tenant.admin_token, "{ organisation { name } }"))["organisation"]["name"]
        third_name = (await api(client, third.admin_token, "{ organisation { name } }"))["organisation"]["name"]

        async def teams() -> list[dict[str, Any]]:
            return list((await api(client, tenant.admin_token, TEAMS))["teams"])

        async def team_members() -> dict[str, dict[str, Any]]:
            return {m["email"]: m for m in (await api(client, tenant.admin_token, MEMBERS))["members"]}

        async with signed_in(browser, web_platform, issuer, tenant, landing="/orders", shot="team-99-last") as b:
            page = b.page
            confirmations: list[str] = []

            def confirm(dialog: Any) -> Any:
                confirmations.append(dialog.message)
                return dialog.accept()

            page.on("dialog", confirm)
            org_name = page.locator(".org-name")
            orders = page.locator("table.orders")
            await expect(org_name).to_have_text(mine)
            await expect(orders).to_contain_text(mine_ref)

            # --- The chooser: both organisations, the current one marked; the other chosen, then back by keyboard
            toggle = page.get_by_role("button", name=re.compile(r"^Switch organisation"))
            await toggle.click()
            chooser = page.get_by_role("navigation", name="Your organisations")
            await expect(chooser.locator('[aria-current="true"]')).to_contain_text(mine)
            await expect(chooser.get_by_role("button")).to_have_count(2)  # the other one, and the invitation
            await expect(chooser.get_by_role("list", name="Invitations")).to_contain_text(f"Join {third_name}")
            await b.axe("team-chooser")
            await b.shot("team-01-chooser")
            await chooser.get_by_role("button", name=re.compile(re.escape(theirs))).click()
            await expect(org_name).to_have_text(theirs)  # a fresh page in the other organisation, same section
            assert page.url.endswith("/orders")
            await expect(orders).to_contain_text(theirs_ref)
            assert mine_ref not in await orders.inner_text()
            await b.shot("team-02-other-organisation")
            await toggle.focus()
            await page.keyboard.press("Enter")
            await expect(chooser.locator('[aria-current="true"]')).to_contain_text(theirs)
            await page.keyboard.press("Tab")  # the first choice: the other organisation (this one is not a button)
            focused = page.locator(":focus")
            await expect(focused).to_contain_text(mine)
            await page.keyboard.press("Enter")
            await expect(org_name).to_have_text(mine)
            await expect(orders).to_contain_text(mine_ref)
            assert theirs_ref not in await orders.inner_text()

            # The invitation joined from the chooser: a member of the third organisation, active, from now on
            await toggle.click()
            await chooser.get_by_role("button", name=re.compile(f"^Join {re.escape(third_name)}")).click()
            await expect(org_name).to_have_text(third_name)
            await expect(page.get_by_role("heading", name="Orders")).to_be_visible()
            joined = (await api(client, third.admin_token, MEMBERS))["members"]
            assert [m["status"] for m in joined if m["id"] == joining["member"]["id"]] == ["ACTIVE"]
            await toggle.click()
            await expect(chooser.get_by_role("list", name="Invitations")).to_have_count(0)
            await expect(chooser.locator('[aria-current="true"]')).to_contain_text(third_name)
            await chooser.get_by_role("button", name=re.compile(re.escape(mine))).click()
            await expect(org_name).to_have_text(mine)

            # --- Teams: created (a taken name refused on its field), a member added, renamed, member out, deleted
            await page.get_by_role("link", name="Settings").click()
            await page.get_by_role("heading", name="Teams").wait_for()
            status = page.locator(".team-status")
            name, renamed = f"Sales {tag}", f"Partners {tag}"
            create = page.get_by_role("form", name="Create a team")
            await create.get_by_label("Team name").fill(name)
            await create.get_by_role("button", name="Create team").click()
            await expect(status).to_have_text(f"Team {name} created.")
            card = page.locator(f'.team-card[data-team="{name}"]')
            await card.get_by_label("Add a member", exact=True).select_option(label=member_email)
            await card.get_by_role("button", name=f"Add to {name}").click()
            await expect(status).to_have_text(f"{member_email} added to {name}.")
            await expect(card.get_by_role("list", name=f"Members of {name}")).to_contain_text(member_email)
            [team] = [t for t in await teams() if t["name"] == name]
            assert [m["email"] for m in team["members"]] == [member_email]

            await create.get_by_label("Team name").fill(name.upper())  # names are unique ignoring case
            await create.get_by_role("button", name="Create team").click()
            name_field = create.get_by_label("Team name")
            await expect(name_field).to_have_attribute("aria-invalid", "true")
            await expect(create.locator("#team-create-name-error")).not_to_be_empty()
            assert [t["name"] for t in await teams()].count(name) == 1
            await b.axe("team-teams")
            await b.shot("team-03-teams")

            await card.get_by_role("button", name=f"Rename team {name}").click()
            await card.get_by_label("New name").fill(renamed)
            await card.get_by_role("button", name="Save name").click()
            await expect(status).to_have_text(f"Team {name} renamed to {renamed}.")
            card = page.locator(f'.team-card[data-team="{renamed}"]')
            await card.get_by_role("button", name=f"Remove {member_email} from {renamed}").click()
            await expect(status).to_have_text(f"{member_email} removed from {renamed}.")
            [team] = [t for t in await teams() if t["id"] == team["id"]]
            assert team["name"] == renamed and team["members"] == []
            await card.get_by_role("button", name=f"Delete team {renamed}").click()
            await expect(status).to_have_text(f"Team {renamed} deleted.")
            await expect(card).to_have_count(0)
            assert confirmations[-1].startswith(f"Delete the team {renamed}?")
            assert team["id"] not in {t["id"] for t in await teams()}

            # --- Invitations: one sent from the form; an address invited already refused on the Email field
            invite = page.locator("form.invite")
            await invite.get_by_label("Email").fill(revoke_to)
            await invite.get_by_role("button", name="Invite").click()
            await expect(page.locator(".member-status")).to_have_text(f"Invitation emailed to {revoke_to}.")
            await invite.get_by_label("Email").fill(resend_to.upper())  # addresses compare ignoring case
            await invite.get_by_role("button", name="Invite").click()
            await expect(invite.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
            await expect(invite.locator("#invite-email-error")).to_contain_text("already")
            assert [m["status"] for e, m in (await team_members()).items() if e.lower() == resend_to] == ["INVITED"]

            # --- When each was emailed; one resent (a second email, invitedAt moved), the other revoked
            resend_row = page.locator(f'tr[data-member="{resend_to}"]')
            await expect(resend_row).to_contain_text("emailed")
            assert await _mail_requests(pool, tenant.org_id, resend_to) == 1
            await resend_row.get_by_role("button", name=f"Resend the invitation to {resend_to}").click()
            await expect(page.locator(".member-status")).to_contain_text(f"Invitation emailed again to {resend_to}")
            assert confirmations[-1] == f"Email the invitation to {resend_to} again?"
            after = (await team_members())[resend_to]
            assert after["status"] == "INVITED"
            assert datetime.fromisoformat(after["invitedAt"]) > datetime.fromisoformat(invited["member"]["invitedAt"])
            assert await _mail_requests(pool, tenant.org_id, resend_to) == 2

            revoke_row = page.locator(f'tr[data-member="{revoke_to}"]')
            await revoke_row.get_by_role("button", name=f"Revoke the invitation to {revoke_to}").click()
            await expect(page.locator(".member-status")).to_have_text(f"Invitation to {revoke_to} revoked.")
            await expect(revoke_row).to_have_count(0)
            assert confirmations[-1].startswith(f"Revoke the invitation to {revoke_to}?")
            assert revoke_to not in await team_members()
            await b.axe("team-invitations")
            await b.shot("team-04-invitations")

            # --- Phone width: the page and the open chooser stay within 390 px
            await page.set_viewport_size({"width": 390, "height": 844})
            await b.no_horizontal_scroll("team-settings")
            await toggle.click()
            await expect(chooser).to_be_visible()
            await b.no_horizontal_scroll("team-chooser")
            await b.shot("team-05-phone")
