"""Settings page and team access."""

from __future__ import annotations

import pytest

from tests.factories import gql

ORG = "{ organisation { name marketplaceUrl primaryColour baseCurrency timeZone } }"
UPDATE = """mutation($i: SettingsInput!) { updateSettings(input: $i) {
  organisation { name marketplaceUrl primaryColour baseCurrency timeZone } errors { field code message } } }"""


async def test_admin_updates_settings(gateway, tenant):
    body = await gql(
        gateway,
        UPDATE,
        {
            "i": {
                "marketplaceUrl": "https://shop.example.com/market",
                "primaryColour": "#aa00ff",
                "baseCurrency": "EUR",
                "timeZone": "Europe/Paris",
                "name": "Renamed",
            }
        },
        token=tenant.admin_token,
    )
    payload = body["data"]["updateSettings"]
    assert payload["errors"] == []
    assert payload["organisation"] == {
        "name": "Renamed",
        "marketplaceUrl": "https://shop.example.com/market",
        "primaryColour": "#AA00FF",
        "baseCurrency": "EUR",
        "timeZone": "Europe/Paris",
    }


@pytest.mark.parametrize(
    "change,field",
    [
        ({"marketplaceUrl": "javascript:alert(1)"}, "marketplaceUrl"),
        ({"marketplaceUrl": "not a url"}, "marketplaceUrl"),
        ({"primaryColour": "blue"}, "primaryColour"),
        ({"primaryColour": "#12345"}, "primaryColour"),
        ({"baseCurrency": "XXX"}, "baseCurrency"),
        ({"timeZone": "Mars/Olympus"}, "timeZone"),
        ({"name": ""}, "name"),
    ],
)
async def test_invalid_settings_are_refused_and_change_nothing(gateway, tenant, change, field):
    before = (await gql(gateway, ORG, token=tenant.admin_token))["data"]["organisation"]
    payload = (
        await gql(
            gateway,
            UPDATE,
            {"i": {**change, "primaryColour": change.get("primaryColour", "#000000")}},
            token=tenant.admin_token,
        )
    )["data"]["updateSettings"]
    assert payload["organisation"] is None
    assert payload["errors"][0]["field"] == field and payload["errors"][0]["code"] == "INVALID_INPUT"
    assert (await gql(gateway, ORG, token=tenant.admin_token))["data"]["organisation"] == before


async def test_team_invite_and_remove(gateway, tenant):
    invite = """mutation($e: String!, $r: Role!) { inviteMember(email: $e, role: $r) { member { id email role status }
      errors { field code } } }"""
    body = await gql(gateway, invite, {"e": "teammate@example.com", "r": "MEMBER"}, token=tenant.admin_token)
    member = body["data"]["inviteMember"]["member"]
    assert member["status"] == "INVITED" and member["role"] == "MEMBER"
    dup = await gql(gateway, invite, {"e": "TEAMMATE@example.com", "r": "ADMIN"}, token=tenant.admin_token)
    assert dup["data"]["inviteMember"]["errors"][0]["code"] == "ALREADY_MEMBER"
    bad = await gql(gateway, invite, {"e": "nope", "r": "MEMBER"}, token=tenant.admin_token)
    assert bad["data"]["inviteMember"]["errors"][0]["field"] == "email"
    members = (await gql(gateway, "{ members { id email } }", token=tenant.member_token))["data"]["members"]
    assert "teammate@example.com" in {m["email"] for m in members}
    removed = await gql(
        gateway,
        "mutation($id: ID!) { removeMember(memberId: $id) { removed errors { code } } }",
        {"id": member["id"]},
        token=tenant.admin_token,
    )
    assert removed["data"]["removeMember"]["removed"] is True
    me = (await gql(gateway, "{ me { role memberId } }", token=tenant.admin_token))["data"]["me"]
    self_remove = await gql(
        gateway,
        "mutation($id: ID!) { removeMember(memberId: $id) { removed errors { code } } }",
        {"id": me["memberId"]},
        token=tenant.admin_token,
    )
    assert self_remove["data"]["removeMember"]["errors"][0]["code"] == "CANNOT_REMOVE_SELF"
