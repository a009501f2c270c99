"""Custom fields: definitions through GraphQL (published as events), values and the account currency set through
REST with the integration's key and by admins in GraphQL, checked against the definitions, and isolated."""

from __future__ import annotations

import uuid
from typing import Any

from shared import custom_fields as cf
from tests.factories import Tenant, create_order, gql
from tests.services.insights.feed import outbox_events

FIELD = "id entity key name type choices"
LIST = f"query($e: String) {{ customFields(entity: $e) {{ {FIELD} }} }}"
DEFINE = (
    "mutation($e: String!, $n: String!, $t: CustomFieldType!, $c: [String!]) {"
    f" defineCustomField(entity: $e, name: $n, type: $t, choices: $c) {{ customField {{ {FIELD} }}"
    " errors { field code message } } }"
)
UPDATE = (
    "mutation($id: ID!, $n: String, $c: [String!]) { updateCustomField(id: $id, name: $n, choices: $c) {"
    f" customField {{ {FIELD} }} errors {{ field code message }} }} }}"
)
DELETE = "mutation($id: ID!) { deleteCustomField(id: $id) { deleted errors { field code } } }"
SET_CUSTOMER = (
    "mutation($id: ID!, $v: JSON!) { setCustomerCustomFields(customerId: $id, customFields: $v) {"
    " customer { id customFields accountCurrency } errors { field code message } } }"
)
SET_ORDER = (
    "mutation($id: ID!, $v: JSON!) { setOrderCustomFields(orderId: $id, customFields: $v) {"
    " order { id customFields } errors { field code message } } }"
)
CUSTOMER = "query($id: ID!) { customer(id: $id) { id customFields accountCurrency } }"
ORDER = "query($id: ID!) { order(id: $id) { id customFields customer { customFields accountCurrency } } }"


async def define(gateway: Any, t: Tenant, entity: str, name: str, kind: str, choices: Any = None) -> dict[str, Any]:
    body = await gql(gateway, DEFINE, {"e": entity, "n": name, "t": kind, "c": choices}, token=t.admin_token)
    payload = body["data"]["defineCustomField"]
    assert payload["errors"] == [], payload
    field: dict[str, Any] = payload["customField"]
    return field


async def customer_fields(gateway: Any, t: Tenant) -> None:
    await define(gateway, t, "customer", "Loyalty tier", "CHOICE", ["bronze", "silver", "gold"])
    await define(gateway, t, "customer", "Renewal date", "DATE")
    await define(gateway, t, "customer", "Score", "NUMBER")
    await define(gateway, t, "customer", "VIP", "BOOLEAN")
    await define(gateway, t, "customer", "Notes", "TEXT")


async def test_definitions_are_managed_by_admins_and_published(gateway, pool, tenant):
    tier = await define(gateway, tenant, "customer", "Loyalty tier!", "CHOICE", ["bronze", "gold"])
    assert (tier["key"], tier["name"], tier["type"]) == ("loyalty_tier", "Loyalty tier!", "CHOICE")
    await define(gateway, tenant, "invoice", "Cost centre", "TEXT")
    await define(gateway, tenant, "order", "Branch", "TEXT")
    listed = (await gql(gateway, LIST, {"e": "customer"}, token=tenant.member_token))["data"]["customFields"]
    assert [f["key"] for f in listed] == ["loyalty_tier"]
    everything = (await gql(gateway, LIST, token=tenant.member_token))["data"]["customFields"]
    assert sorted(f["entity"] for f in everything) == ["customer", "invoice", "order"]

    changed = (
        await gql(
            gateway,
            UPDATE,
            {"id": tier["id"], "n": "Tier", "c": ["bronze", "gold", "platinum"]},
            token=tenant.admin_token,
        )
    )["data"]["updateCustomField"]
    assert changed["errors"] == [] and changed["customField"]["key"] == "loyalty_tier"  # the key stays
    assert changed["customField"]["choices"] == ["bronze", "gold", "platinum"]
    dropped = (await gql(gateway, UPDATE, {"id": tier["id"], "c": ["gold"]}, token=tenant.admin_token))["data"]
    assert [e["field"] for e in dropped["updateCustomField"]["errors"]] == ["choices"]

    for token in (tenant.member_token, tenant.provider_token):
        body = await gql(gateway, DEFINE, {"e": "customer", "n": "X", "t": "TEXT"}, token=token)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        body = await gql(gateway, DELETE, {"id": tier["id"]}, token=token)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    deleted = (await gql(gateway, DELETE, {"id": tier["id"]}, token=tenant.admin_token))["data"]["deleteCustomField"]
    assert deleted == {"deleted": True, "errors": []}
    events = await outbox_events(
        pool, tenant.org_id, {"custom_field.defined", "custom_field.changed", "custom_field.deleted"}
    )
    mine = [(e.type, e.payload.get("name")) for e in events if e.payload["id"] == tier["id"]]
    assert mine == [
        ("custom_field.defined", "Loyalty tier!"),
        ("custom_field.changed", "Tier"),
        ("custom_field.deleted", None),
    ]
    assert events[0].payload == {
        "id": tier["id"],
        "entity": "customer",
        "key": "loyalty_tier",
        "name": "Loyalty tier!",
        "type": "choice",
        "choices": ["bronze", "gold"],
    }


async def test_definitions_are_refused_naming_the_field(gateway, tenant):
    await define(gateway, tenant, "customer", "Tier", "TEXT")
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"e": "spaceship", "n": "A", "t": "TEXT"}, "entity", "INVALID_INPUT"),
        ({"e": "customer", "n": "!!!", "t": "TEXT"}, "name", "INVALID_INPUT"),
        ({"e": "customer", "n": "tier", "t": "NUMBER"}, "name", "DUPLICATE_NAME"),
        ({"e": "customer", "n": "TIER ", "t": "TEXT"}, "name", "DUPLICATE_NAME"),
        ({"e": "customer", "n": "Pick", "t": "CHOICE"}, "choices", "INVALID_INPUT"),
        ({"e": "customer", "n": "Pick", "t": "TEXT", "c": ["a"]}, "choices", "INVALID_INPUT"),
        ({"e": "customer", "n": "Pick", "t": "CHOICE", "c": ["a", "a"]}, "choices", "INVALID_INPUT"),
    ]
    for variables, field, code in cases:
        payload = (await gql(gateway, DEFINE, variables, token=tenant.admin_token))["data"]["defineCustomField"]
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [(field, code)], variables
    # The same name on another entity is another field.
    assert (await define(gateway, tenant, "order", "Tier", "TEXT"))["key"] == "tier"


async def test_at_most_fifty_fields_per_entity(gateway, tenant):
    for n in range(cf.MAX_PER_ENTITY):
        await define(gateway, tenant, "payment", f"Field {n}", "TEXT")
    payload = (await gql(gateway, DEFINE, {"e": "payment", "n": "One more", "t": "TEXT"}, token=tenant.admin_token))[
        "data"
    ]["defineCustomField"]
    assert [e["field"] for e in payload["errors"]] == ["entity"]
    assert (await define(gateway, tenant, "refund", "One more", "TEXT"))["key"] == "one_more"


async def test_integration_sets_customer_values_and_currency_through_rest(gateway, pool, tenant):
    await customer_fields(gateway, tenant)
    key = {"authorization": f"Bearer {tenant.api_key}"}
    r = await gateway.post(
        "/v1/customers/identify",
        json={
            "email": "jo@example.com",
            "customFields": {"loyalty_tier": "gold", "score": 4.0},
            "accountCurrency": "EUR",
        },
        headers=key,
    )
    assert r.status_code == 200, r.text
    customer = r.json()["customer"]
    assert customer["custom_fields"] == {"loyalty_tier": "gold", "score": 4} and customer["account_currency"] == "EUR"
    cid = customer["id"]
    r = await gateway.put(
        f"/v1/customers/{cid}/custom-fields",
        json={"customFields": {"score": None, "renewal_date": "2026-09-30", "vip": True, "notes": "Prefers email"}},
        headers=key,
    )
    assert r.status_code == 200, r.text
    expected = {"loyalty_tier": "gold", "renewal_date": "2026-09-30", "vip": True, "notes": "Prefers email"}
    assert r.json()["customer"]["custom_fields"] == expected
    assert r.json()["customer"]["account_currency"] == "EUR"  # absent: unchanged
    r = await gateway.put(f"/v1/customers/{cid}/custom-fields", json={"accountCurrency": None}, headers=key)
    assert r.status_code == 200 and r.json()["customer"]["account_currency"] is None  # the base currency again
    shown = (await gql(gateway, CUSTOMER, {"id": cid}, token=tenant.member_token))["data"]["customer"]
    assert shown == {"id": cid, "customFields": expected, "accountCurrency": None}

    events = [e.payload for e in await outbox_events(pool, tenant.org_id, {"customer.updated"})]
    assert events[0] == {
        "customer_id": cid,
        "custom_fields": {"loyalty_tier": "gold", "score": 4},
        "account_currency": "EUR",
    }
    assert events[-1] == {"customer_id": cid, "custom_fields": expected, "account_currency": None}
    # Setting what is already there publishes nothing.
    r = await gateway.put(f"/v1/customers/{cid}/custom-fields", json={"customFields": {"vip": True}}, headers=key)
    assert r.status_code == 200
    assert len(await outbox_events(pool, tenant.org_id, {"customer.updated"})) == len(events)


async def test_refused_values_name_the_field_and_change_nothing(gateway, pool, tenant):
    await customer_fields(gateway, tenant)
    key = {"authorization": f"Bearer {tenant.api_key}"}
    r = await gateway.post("/v1/customers/identify", json={"email": "al@example.com"}, headers=key)
    cid = r.json()["customer"]["id"]
    before = await outbox_events(pool, tenant.org_id)
    cases = [
        ({"customFields": {"colour": "red"}}, "customFields.colour"),
        ({"customFields": {"loyalty_tier": "diamond"}}, "customFields.loyalty_tier"),
        ({"customFields": {"score": "12"}}, "customFields.score"),
        ({"customFields": {"score": True}}, "customFields.score"),
        ({"customFields": {"renewal_date": "2026-02-30"}}, "customFields.renewal_date"),
        ({"customFields": {"vip": "yes"}}, "customFields.vip"),
        ({"customFields": {"notes": "x" * 501}}, "customFields.notes"),
        ({"customFields": {"vip": True}, "accountCurrency": "XXX"}, "accountCurrency"),
    ]
    for body, field in cases:
        r = await gateway.put(f"/v1/customers/{cid}/custom-fields", json=body, headers=key)
        assert r.status_code == 400 and r.json()["error"]["field"] == field, (body, r.text)
        assert r.json()["error"]["code"] == "INVALID_INPUT"
    # On identify: the visit is refused with the value (no customer, no event).
    r = await gateway.post(
        "/v1/customers/identify", json={"email": "new@example.com", "customFields": {"vip": 1}}, headers=key
    )
    assert r.status_code == 400 and r.json()["error"]["field"] == "customFields.vip"
    assert await outbox_events(pool, tenant.org_id) == before
    shown = (await gql(gateway, CUSTOMER, {"id": cid}, token=tenant.admin_token))["data"]["customer"]
    assert shown["customFields"] == {} and shown["accountCurrency"] is None
    r = await gateway.put("/v1/customers/not-an-id/custom-fields", json={}, headers=key)
    assert r.status_code == 400 and r.json()["error"]["field"] == "customerId"
    r = await gateway.put(f"/v1/customers/{cid}/custom-fields", json={"customFields": {}})
    assert r.status_code == 401


async def test_order_values_through_rest_and_graphql_reach_the_order_events(gateway, pool, tenant):
    await define(gateway, tenant, "order", "Branch", "TEXT")
    await define(gateway, tenant, "order", "Referred", "BOOLEAN")
    key = {"authorization": f"Bearer {tenant.api_key}"}
    order = await create_order(pool, tenant, email="kim@example.com")
    assert order["custom_fields"] == {}
    r = await gateway.put(
        f"/v1/orders/{order['id']}/custom-fields", json={"customFields": {"branch": "Leeds"}}, headers=key
    )
    assert r.status_code == 200 and r.json()["order"]["custom_fields"] == {"branch": "Leeds"}
    payload = (
        await gql(gateway, SET_ORDER, {"id": str(order["id"]), "v": {"referred": True}}, token=tenant.admin_token)
    )["data"]["setOrderCustomFields"]
    assert payload["errors"] == [] and payload["order"]["customFields"] == {"branch": "Leeds", "referred": True}
    refused = (
        await gql(gateway, SET_ORDER, {"id": str(order["id"]), "v": {"referred": "no"}}, token=tenant.admin_token)
    )["data"]["setOrderCustomFields"]
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("customFields.referred", "INVALID_INPUT")]
    member = await gql(gateway, SET_ORDER, {"id": str(order["id"]), "v": {}}, token=tenant.member_token)
    assert member["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    updated = [e.payload for e in await outbox_events(pool, tenant.org_id, {"order.updated"})]
    assert [p["custom_fields"] for p in updated] == [{"branch": "Leeds"}, {"branch": "Leeds", "referred": True}]
    assert updated[-1]["order_id"] == str(order["id"]) and updated[-1]["status"] == "PENDING"
    # The existing order events carry the values too (their other fields unchanged).
    r = await gateway.post(
        "/v1/orders",
        json={
            "externalRef": "cf-1",
            "productId": str(tenant.products["Broadband"]),
            "customer": {"email": "kim@example.com"},
        },
        headers=key,
    )
    created = [e.payload for e in await outbox_events(pool, tenant.org_id, {"order.created"})]
    assert created[-1]["custom_fields"] == {} and created[-1]["order_id"] == r.json()["order"]["id"]

    # Another integration's order is not this key's to change (NOT_FOUND, as an unknown order).
    app_order = await create_order(pool, tenant, product="App card", email="kim@example.com")
    r = await gateway.put(
        f"/v1/orders/{app_order['id']}/custom-fields", json={"customFields": {"branch": "York"}}, headers=key
    )
    assert r.status_code == 404 and r.json()["error"]["field"] == "orderId"
    shown = (await gql(gateway, ORDER, {"id": str(order["id"])}, token=tenant.admin_token))["data"]["order"]
    assert shown["customFields"] == {"branch": "Leeds", "referred": True}

    # Deleting a definition removes its values.
    fields = (await gql(gateway, LIST, {"e": "order"}, token=tenant.admin_token))["data"]["customFields"]
    branch = next(f for f in fields if f["key"] == "branch")
    await gql(gateway, DELETE, {"id": branch["id"]}, token=tenant.admin_token)
    shown = (await gql(gateway, ORDER, {"id": str(order["id"])}, token=tenant.admin_token))["data"]["order"]
    assert shown["customFields"] == {"referred": True}


async def test_admins_set_customer_values_in_graphql(gateway, pool, tenant):
    await customer_fields(gateway, tenant)
    order = await create_order(pool, tenant, email="lee@example.com")
    cid = str(order["customer_id"])
    payload = (
        await gql(gateway, SET_CUSTOMER, {"id": cid, "v": {"vip": True, "score": 7.5}}, token=tenant.admin_token)
    )["data"]["setCustomerCustomFields"]
    assert payload == {
        "customer": {"id": cid, "customFields": {"score": 7.5, "vip": True}, "accountCurrency": None},
        "errors": [],
    }
    refused = (await gql(gateway, SET_CUSTOMER, {"id": cid, "v": {"nope": 1}}, token=tenant.admin_token))["data"]
    assert [e["field"] for e in refused["setCustomerCustomFields"]["errors"]] == ["customFields.nope"]
    shown = (await gql(gateway, ORDER, {"id": str(order["id"])}, token=tenant.admin_token))["data"]["order"]
    assert shown["customer"]["customFields"] == {"score": 7.5, "vip": True}


async def test_no_custom_field_path_reaches_another_organisation(gateway, pool, tenant, other_tenant):
    theirs = await define(gateway, other_tenant, "customer", "Secret", "TEXT")
    await define(gateway, other_tenant, "order", "Secret", "TEXT")
    their_order = await create_order(pool, other_tenant, email="them@example.com")
    their_customer = str(their_order["customer_id"])
    await gql(gateway, SET_CUSTOMER, {"id": their_customer, "v": {"secret": "s3"}}, token=other_tenant.admin_token)
    mine = await define(gateway, tenant, "customer", "Secret", "TEXT")  # the same name is free here
    assert mine["id"] != theirs["id"]

    listed = (await gql(gateway, LIST, token=tenant.admin_token))["data"]["customFields"]
    assert [f["id"] for f in listed] == [mine["id"]]
    for query, variables, name in [
        (UPDATE, {"id": theirs["id"], "n": "Mine now"}, "updateCustomField"),
        (DELETE, {"id": theirs["id"]}, "deleteCustomField"),
        (SET_CUSTOMER, {"id": their_customer, "v": {"secret": "x"}}, "setCustomerCustomFields"),
        (SET_ORDER, {"id": str(their_order["id"]), "v": {}}, "setOrderCustomFields"),
    ]:
        payload = (await gql(gateway, query, variables, token=tenant.admin_token))["data"][name]
        assert [e["code"] for e in payload["errors"]] == ["NOT_FOUND"], (name, payload)
    key = {"authorization": f"Bearer {tenant.api_key}"}
    for url in (f"/v1/customers/{their_customer}/custom-fields", f"/v1/orders/{their_order['id']}/custom-fields"):
        r = await gateway.put(url, json={"customFields": {}}, headers=key)
        assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND", url
    r = await gateway.put(f"/v1/customers/{uuid.uuid4()}/custom-fields", json={"customFields": {}}, headers=key)
    assert r.status_code == 404 and r.json()["error"]["message"] == "customer not found"
    # Their values are untouched and never shown here.
    assert (await gql(gateway, CUSTOMER, {"id": their_customer}, token=tenant.admin_token))["data"]["customer"] is None
    shown = (await gql(gateway, CUSTOMER, {"id": their_customer}, token=other_tenant.admin_token))["data"]["customer"]
    assert shown["customFields"] == {"secret": "s3"}
    still = (await gql(gateway, LIST, token=other_tenant.admin_token))["data"]["customFields"]
    assert sorted(f["name"] for f in still) == ["Secret", "Secret"]
