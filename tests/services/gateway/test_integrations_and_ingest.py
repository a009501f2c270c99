"""Integrations (API keys shown once, rotatable) and the REST order intake they use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.factories import gql

CREATE = """mutation($i: IntegrationInput!) { createIntegration(input: $i) { apiKey
  integration { id name channel apiKeyPrefix categories { name } } errors { field code } } }"""


async def post_order(gateway: Any, key: str, body: Any, raw: bytes | None = None) -> Any:
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    if raw is not None:
        return await gateway.post("/v1/orders", content=raw, headers=headers)
    return await gateway.post("/v1/orders", json=body, headers=headers)


async def count_orders(pool: Any, tenant: Any) -> int:
    from shared.db import tenant_tx

    async with tenant_tx(pool, tenant.org_id) as conn:
        return int(await conn.fetchval("SELECT count(*) FROM orders"))


async def test_create_and_rotate_integration_key(gateway, tenant):
    body = await gql(
        gateway,
        CREATE,
        {"i": {"name": "Partner Portal", "channel": "PARTNER", "categoryIds": [str(tenant.categories["Broadband"])]}},
        token=tenant.admin_token,
    )
    payload = body["data"]["createIntegration"]
    key, integration = payload["apiKey"], payload["integration"]
    assert key.startswith(integration["apiKeyPrefix"]) and integration["categories"] == [{"name": "Broadband"}]
    listed = (await gql(gateway, "{ integrations { name apiKeyPrefix } }", token=tenant.admin_token))["data"][
        "integrations"
    ]
    assert key not in str(listed)  # shown once only
    # the key authenticates (product of another integration → not found, but authenticated)
    r = await post_order(
        gateway,
        key,
        {"externalRef": "x", "productId": str(tenant.products["Broadband"]), "customer": {"email": "k@example.com"}},
    )
    assert r.status_code == 404 and r.json()["error"]["field"] == "productId"
    rotated = await gql(
        gateway,
        "mutation($id: ID!) { rotateIntegrationKey(id: $id) { apiKey errors { code } } }",
        {"id": integration["id"]},
        token=tenant.admin_token,
    )
    new_key = rotated["data"]["rotateIntegrationKey"]["apiKey"]
    assert new_key != key
    assert (await post_order(gateway, key, {})).status_code == 401
    assert (
        await post_order(
            gateway,
            new_key,
            {
                "externalRef": "y",
                "productId": str(tenant.products["Broadband"]),
                "customer": {"email": "k@example.com"},
            },
        )
    ).status_code == 404
    dup = await gql(gateway, CREATE, {"i": {"name": "partner portal", "channel": "WEB"}}, token=tenant.admin_token)
    assert dup["data"]["createIntegration"]["errors"] == [{"field": "name", "code": "DUPLICATE_NAME"}]


@pytest.mark.parametrize(
    "body,raw,status,field",
    [
        (None, b"{not json", 400, None),
        ([1, 2], None, 422, None),
        ({"externalRef": "", "productId": "P", "customer": {"email": "a@example.com"}}, None, 422, "externalRef"),
        (
            {"externalRef": "r1", "productId": "not-a-uuid", "customer": {"email": "a@example.com"}},
            None,
            422,
            "productId",
        ),
        ({"externalRef": "r1", "productId": "P", "customer": {}}, None, 422, "customer"),
        (
            {"externalRef": "r1", "productId": "P", "customer": {"email": "a@example.com"}, "status": "DONE"},
            None,
            422,
            "status",
        ),
        (
            {
                "externalRef": "r1",
                "productId": "P",
                "customer": {"email": "a@example.com"},
                "commission": {"amount": "1.234", "currency": "GBP"},
            },
            None,
            422,
            "commission.amount",
        ),
        (
            {
                "externalRef": "r1",
                "productId": "P",
                "customer": {"email": "a@example.com"},
                "commission": {"amount": "1.00", "currency": "EUR"},
            },
            None,
            400,
            "commission.currency",
        ),
        (
            {"externalRef": "r1", "productId": "P", "customer": {"email": "a@example.com"}, "unexpected": 1},
            None,
            422,
            "unexpected",
        ),
        (
            {
                "externalRef": "r1",
                "productId": "00000000-0000-4000-8000-000000000000",
                "customer": {"email": "a@example.com"},
            },
            None,
            404,
            "productId",
        ),
    ],
)
async def test_bad_orders_are_refused_and_create_nothing(gateway, pool, tenant, body, raw, status, field):
    if isinstance(body, dict) and body.get("productId") == "P":
        body["productId"] = str(tenant.products["Broadband"])
    before = await count_orders(pool, tenant)
    r = await post_order(gateway, tenant.api_key, body, raw)
    assert r.status_code == status, r.text
    if field:
        assert r.json()["error"]["field"] == field, r.json()
    assert await count_orders(pool, tenant) == before


async def test_future_timestamp_refused_and_backdated_order_accepted(gateway, pool, tenant):
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    body = {
        "externalRef": "f1",
        "productId": str(tenant.products["Broadband"]),
        "customer": {"email": "a@example.com"},
        "occurredAt": future,
    }
    r = await post_order(gateway, tenant.api_key, body)
    assert r.status_code == 422
    body["occurredAt"] = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    r = await post_order(gateway, tenant.api_key, body)
    assert r.status_code == 201 and r.json()["order"]["status"] == "PENDING"


async def test_order_intake_is_idempotent_on_external_ref(gateway, pool, tenant):
    import asyncio

    body = {
        "externalRef": "idem-1",
        "productId": str(tenant.products["Credit Cards"]),
        "customer": {"email": "i@example.com"},
        "status": "SUCCESSFUL",
    }
    before = await count_orders(pool, tenant)
    responses = await asyncio.gather(*[post_order(gateway, tenant.api_key, body) for _ in range(10)])
    assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
    assert len({r.json()["order"]["id"] for r in responses}) == 1
    assert await count_orders(pool, tenant) == before + 1
    order = responses[0].json()["order"]
    assert order["comm_status"] == "PENDING" and order["commission_amount"] == "45.00"


async def test_missing_or_unknown_api_key(gateway):
    r = await gateway.post("/v1/orders", json={})
    assert r.status_code == 401
    r = await post_order(gateway, "pk_unknown", {})
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHENTICATED"
