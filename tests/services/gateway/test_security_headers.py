"""Every route family answers with the security headers; HSTS when served over TLS."""

from __future__ import annotations

import pytest

from tests.factories import gql


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/healthz"),
        ("GET", "/"),
        ("POST", "/graphql"),
        ("POST", "/v1/orders"),
        ("GET", "/v1/integration/config"),
        ("POST", "/webhooks/providers/prv_nope/commission"),
        ("GET", "/exports/not-a-token"),
        ("GET", "/docs/openapi.json"),
    ],
)
async def test_api_answers_carry_the_headers(gateway, method: str, path: str) -> None:
    r = await gateway.request(method, path, content=b"{}", headers={"content-type": "application/json"})
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert "strict-transport-security" not in r.headers  # plain HTTP here


async def test_html_keeps_its_own_policy_and_tls_adds_hsts(gateway, tenant) -> None:
    docs = await gateway.get("/docs")
    assert (
        "script-src" in docs.headers["content-security-policy"]
        or "default-src" in docs.headers["content-security-policy"]
    )
    r = await gateway.post(
        "/graphql",
        json={"query": "{ me { role } }"},
        headers={"authorization": f"Bearer {tenant.admin_token}", "x-forwarded-proto": "https"},
    )
    assert r.status_code == 200 and r.headers["strict-transport-security"].startswith("max-age=")
    assert (await gql(gateway, "{ me { role } }", token=tenant.admin_token))["data"]["me"]["role"] == "ADMIN"


async def test_internal_apis_carry_them_too(orders_api) -> None:
    r = await orders_api.get("/healthz")
    assert (
        r.headers["x-content-type-options"] == "nosniff"
        and "default-src 'none'" in r.headers["content-security-policy"]
    )
