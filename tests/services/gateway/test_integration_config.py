"""Embedded integrations fetch the partner's settings and their products with their key, cacheably."""

from __future__ import annotations

from tests.factories import gql


async def test_config_follows_settings_and_answers_304_while_unchanged(gateway, tenant, other_tenant) -> None:
    headers = {"authorization": f"Bearer {tenant.api_key}"}
    r = await gateway.get("/v1/integration/config", headers=headers)
    assert r.status_code == 200, r.text
    config = r.json()
    assert config["partner"]["primaryColour"].startswith("#")
    assert config["integration"]["id"] == str(tenant.integration_id)
    names = {p["name"] for p in config["products"]}
    assert names == {"Broadband product", "Credit Cards product", "Current Accounts product"}  # not the app's
    etag = r.headers["etag"]
    assert "private" in r.headers["cache-control"]
    again = await gateway.get("/v1/integration/config", headers={**headers, "if-none-match": etag})
    assert again.status_code == 304 and again.content == b""

    body = await gql(
        gateway,
        'mutation { updateSettings(input: {primaryColour: "#112233"}) { errors { field } } }',
        token=tenant.admin_token,
    )
    assert body["data"]["updateSettings"]["errors"] == []
    changed = await gateway.get("/v1/integration/config", headers={**headers, "if-none-match": etag})
    assert changed.status_code == 200 and changed.json()["partner"]["primaryColour"] == "#112233"
    assert changed.headers["etag"] != etag

    theirs = await gateway.get("/v1/integration/config", headers={"authorization": f"Bearer {other_tenant.api_key}"})
    assert theirs.json()["partner"]["name"] != config["partner"]["name"]
    for bad in ({}, {"authorization": "Bearer not-a-key"}):
        r = await gateway.get("/v1/integration/config", headers=bad)
        assert r.status_code == 401 and r.json()["error"]["field"] == "apiKey"
