"""Orders and sign-ups, embedded and affiliate journeys, why FAILED orders failed: stored, shown, filtered, exported."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from typing import Any

from services.orders import admin
from services.orders.service import commission
from shared.db import tenant_tx
from tests.factories import gql
from tests.services.gateway.test_orders_graphql import EXPORT, SUMMARY, download

ORDERS = """query($f: OrderFilterInput) { orders(filter: $f, first: 50) { totalCount edges { node {
  externalRef kind status failureReason product { name journeyType successDefinition } } } } }"""


async def _post(gateway: Any, tenant: Any, body: dict[str, Any]) -> Any:
    return await gateway.post("/v1/orders", json=body, headers={"authorization": f"Bearer {tenant.api_key}"})


async def test_kinds_journeys_and_failure_reasons(gateway, pool, tenant, capsys) -> None:
    code = await asyncio.to_thread(
        admin.main,
        [
            "add-product",
            "--org",
            str(tenant.org_id),
            "--integration",
            str(tenant.integration_id),
            "--category",
            str(tenant.categories["Current Accounts"]),
            "--provider",
            str(tenant.provider["id"]),
            "--name",
            "Affiliate Saver",
            "--rate",
            "5.00",
            "--currency",
            "EUR",
            "--journey-type",
            "affiliate",
            "--success",
            "account opened",
        ],
    )
    assert code == 0
    product_id = json.loads(capsys.readouterr().out)["product_id"]
    customer = {"email": "kinds@example.com"}
    r = await _post(
        gateway,
        tenant,
        {
            "externalRef": "signup-1",
            "productId": product_id,
            "customer": customer,
            "kind": "sign_up",
            "status": "FAILED",
            "failureReason": "identity check failed",
        },
    )
    assert r.status_code == 201, r.text
    r = await _post(gateway, tenant, {"externalRef": "plain-1", "productId": product_id, "customer": customer})
    assert r.status_code == 201
    r = await _post(
        gateway,
        tenant,
        {"externalRef": "bad-1", "productId": product_id, "customer": customer, "failureReason": "not failed"},
    )
    assert r.status_code == 422 and "failureReason" in r.json()["error"]["message"]

    pending = await _post(gateway, tenant, {"externalRef": "pending-1", "productId": product_id, "customer": customer})
    order_id = pending.json()["order"]["id"]
    async with tenant_tx(pool, tenant.org_id) as conn:  # the provider reports a delivery problem
        outcome = await commission.apply_provider_webhook(
            conn,
            tenant.org_id,
            tenant.provider["id"],
            f"wh-{uuid.uuid4().hex}",
            {"order_id": order_id, "sequence": 1, "status": "FAILED", "failure_reason": "documents never arrived"},
        )
    assert outcome == "applied"

    body = await gql(gateway, ORDERS, {"f": {"kinds": ["SIGN_UP"]}}, token=tenant.member_token)
    nodes = [e["node"] for e in body["data"]["orders"]["edges"]]
    assert [(n["externalRef"], n["kind"], n["failureReason"]) for n in nodes] == [
        ("signup-1", "SIGN_UP", "identity check failed")
    ]
    assert nodes[0]["product"] == {
        "name": "Affiliate Saver",
        "journeyType": "AFFILIATE",
        "successDefinition": "account opened",
    }
    summary = await gql(gateway, SUMMARY, {"f": {"kinds": ["SIGN_UP"]}}, token=tenant.member_token)
    assert summary["data"]["ordersSummary"]["totalOrders"] == body["data"]["orders"]["totalCount"] == 1
    failed = await gql(gateway, ORDERS, {"f": {"statuses": ["FAILED"], "kinds": ["ORDER"]}}, token=tenant.admin_token)
    assert [e["node"]["failureReason"] for e in failed["data"]["orders"]["edges"]] == ["documents never arrived"]

    link = await gql(
        gateway, EXPORT, {"k": "ORDERS", "fmt": "CSV", "of": {"kinds": ["SIGN_UP"]}}, token=tenant.admin_token
    )
    rows = list(csv.DictReader(io.StringIO((await download(gateway, link["data"]["requestExport"]["url"])).decode())))
    assert [(r["kind"], r["journey_type"], r["failure_reason"]) for r in rows] == [
        ("sign_up", "affiliate", "identity check failed")
    ]
