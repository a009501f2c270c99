"""Customers: generic and anonymous, identification and merge, profile, timeline, list."""

from __future__ import annotations

from typing import Any

from services.orders.domain.commission import Status
from services.orders.domain.names import anonymous_name
from services.orders.service.commission import change_state
from shared.db import tenant_tx
from tests.factories import create_order, gql

PROFILE = """query($id: ID!) { customer(id: $id) { id kind email displayName ordersCount successfulOrdersCount
  integrationsVisited { integrationName visits } timeline { nodes { kind class orderId detail } } } }"""
LIST = """query($f: CustomerFilterInput, $after: String) { customers(filter: $f, first: 2, after: $after) {
  edges { cursor node { id kind displayName email } } pageInfo { hasNextPage endCursor } } }"""


async def identify(gateway: Any, tenant: Any, **body: Any) -> Any:
    return await gateway.post(
        "/v1/customers/identify", json=body, headers={"authorization": f"Bearer {tenant.api_key}"}
    )


async def test_anonymous_customer_has_a_stable_word_name_and_merges_into_generic(gateway, pool, tenant):
    order = await create_order(pool, tenant, anonymous_id="visitor-42")
    async with tenant_tx(pool, tenant.org_id) as conn:  # confirmed by the provider: a change on the ledger
        await change_state(
            conn,
            tenant.org_id,
            order["id"],
            status=Status.SUCCESSFUL,
            comm_status=None,
            amount=None,
            currency=None,
            source="provider",
            reference=None,
            actor=None,
        )
    profile = (await gql(gateway, PROFILE, {"id": str(order["customer_id"])}, token=tenant.admin_token))["data"][
        "customer"
    ]
    assert profile["kind"] == "ANONYMOUS" and profile["email"] is None
    assert profile["displayName"] == anonymous_name("visitor-42") == anonymous_name("visitor-42")
    assert len(profile["displayName"].split("-")) == 4
    # An existing generic customer with history of its own
    other = await create_order(pool, tenant, email="jo@example.com")
    r = await identify(gateway, tenant, anonymousId="visitor-42", email="Jo@Example.com")
    assert r.status_code == 200, r.text
    merged = r.json()["customer"]
    assert merged["id"] == str(other["customer_id"]) and merged["kind"] == "generic"
    assert merged["orders"] == 2 and merged["successful_orders"] == 1  # the anonymous order moved, not lost
    # The anonymous id now resolves to the generic customer; its old id shows the merged profile.
    again = (await identify(gateway, tenant, anonymousId="visitor-42")).json()["customer"]
    assert again["id"] == merged["id"]
    old = (await gql(gateway, PROFILE, {"id": str(order["customer_id"])}, token=tenant.admin_token))["data"]["customer"]
    assert old["id"] == merged["id"] and old["ordersCount"] == 2
    # The anonymous order's changes follow it into the generic customer's timeline (ORDER entries come from the
    # orders service's ledger; events, re-pointed by the insights service's merge, are tested with it).
    changes = [(e["kind"], e["orderId"]) for e in old["timeline"]["nodes"] if e["class"] == "ORDER"]
    assert changes == [("ORDER_SUCCESSFUL", str(order["id"]))]


async def test_anonymous_customer_giving_a_new_email_is_converted_in_place(gateway, pool, tenant):
    order = await create_order(pool, tenant, anonymous_id="visitor-7")
    r = await identify(gateway, tenant, anonymousId="visitor-7", email="new@example.com")
    customer = r.json()["customer"]
    assert customer["id"] == str(order["customer_id"]) and customer["email"] == "new@example.com"
    assert customer["display_name"] == "new@example.com"


async def test_emails_are_unique_per_organisation_case_insensitively(gateway, pool, tenant, other_tenant):
    a = await create_order(pool, tenant, email="Same@Example.com")
    b = await create_order(pool, tenant, email="same@example.com")
    c = await create_order(pool, other_tenant, email="same@example.com")
    assert a["customer_id"] == b["customer_id"] != c["customer_id"]


async def test_list_search_filter_and_keyset_pagination(gateway, pool, tenant):
    for i in range(5):
        await create_order(pool, tenant, email=f"page{i}@example.com")
    await create_order(pool, tenant, anonymous_id="anon-page")
    seen, after = [], None
    while True:
        page = (await gql(gateway, LIST, {"f": {"search": "page"}, "after": after}, token=tenant.admin_token))["data"][
            "customers"
        ]
        seen += [e["node"]["email"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert sorted(seen) == [f"page{i}@example.com" for i in range(5)]
    anon = (await gql(gateway, LIST, {"f": {"kind": "ANONYMOUS"}}, token=tenant.admin_token))["data"]["customers"]
    assert {e["node"]["kind"] for e in anon["edges"]} == {"ANONYMOUS"}
    visited = (
        await gql(
            gateway, LIST, {"f": {"integrationIds": [str(tenant.second_integration_id)]}}, token=tenant.admin_token
        )
    )["data"]["customers"]
    assert visited["edges"] == []


async def test_unknown_customer_is_null_and_bad_id_is_an_error(gateway, tenant):
    body = await gql(gateway, PROFILE, {"id": "00000000-0000-4000-8000-000000000000"}, token=tenant.admin_token)
    assert body["data"]["customer"] is None
    body = await gql(gateway, PROFILE, {"id": "nope"}, token=tenant.admin_token)
    assert body["errors"][0]["extensions"] == {"code": "INVALID_ID", "field": "id"}


async def test_identify_validates_input(gateway, tenant):
    r = await identify(gateway, tenant, email="not-an-email")
    assert r.status_code == 422 and r.json()["error"]["field"] == "email"
    r = await identify(gateway, tenant)
    assert r.status_code == 400 and r.json()["error"]["field"] == "anonymousId"


async def test_customers_created_through_rest_take_the_integrations_channel(gateway, tenant):
    r = await identify(gateway, tenant, anonymousId="chan-1")
    assert r.status_code == 200 and r.json()["customer"]["channel"] == "web"  # the integration's channel
    r = await identify(gateway, tenant, anonymousId="chan-2", channel="email-campaign")
    assert r.json()["customer"]["channel"] == "email-campaign"  # a channel sent explicitly wins
