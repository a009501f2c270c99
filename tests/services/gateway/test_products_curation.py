"""Curating an integration's products from the provider catalogue (issue 7): admins add, order, switch
on or off and remove; members read; the embedded config and the order API follow."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg

from services.orders import admin
from services.orders.repository import catalogue
from shared.db import tenant_tx
from tests.factories import Tenant, create_order, gql

CATALOGUE = """{ catalogueProducts { id name commissionRate { amount currency } journeyType successDefinition
  provider { id name } category { id name } } }"""
PRODUCTS = """query($id: ID!) { products(integrationId: $id) { id name enabled position catalogueProductId
  commissionRate { amount currency } journeyType category { name } } }"""
ADD = """mutation($i: ID!, $c: ID!) { addProductToIntegration(integrationId: $i, catalogueProductId: $c) {
  product { id name enabled position catalogueProductId integrationId commissionRate { amount currency }
            journeyType successDefinition category { id } } errors { field code message } } }"""
REORDER = """mutation($i: ID!, $p: [ID!]!) { reorderIntegrationProducts(integrationId: $i, productIds: $p) {
  products { id position } errors { field code message } } }"""
TOGGLE = """mutation($p: ID!, $e: Boolean!) { setProductEnabled(productId: $p, enabled: $e) {
  product { id enabled } errors { field code message } } }"""
REMOVE = (
    """mutation($p: ID!) { removeProductFromIntegration(productId: $p) { removed errors { field code message } } }"""
)


async def _catalogue_product(pool: asyncpg.Pool, t: Tenant, name: str, category: str, rate: str, **kw: Any) -> str:
    async with tenant_tx(pool, t.org_id) as conn:
        row = await catalogue.create_catalogue_product(
            conn,
            t.org_id,
            provider_id=t.provider["id"],
            category_id=t.categories[category],
            name=name,
            commission_rate=rate,
            currency="GBP",
            **kw,
        )
    return str(row["id"])


def _errors(payload: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(e["code"], e["field"]) for e in payload["errors"]]


async def _order(gateway: Any, t: Tenant, product_id: str) -> Any:
    return await gateway.post(
        "/v1/orders",
        headers={"authorization": f"Bearer {t.api_key}"},
        json={
            "externalRef": f"cur-{uuid.uuid4().hex[:8]}",
            "productId": product_id,
            "customer": {"anonymousId": f"anon-{uuid.uuid4().hex}"},
        },
    )


async def test_admin_curates_an_integration_from_the_catalogue(gateway, pool, owner_pool, tenant) -> None:
    t = tenant
    fibre = await _catalogue_product(pool, t, "Fibre 900", "Broadband", "30.00", success_definition="line live")
    card = await _catalogue_product(pool, t, "Gold Card", "Credit Cards", "55.00", journey_type="affiliate")
    cat = await gql(gateway, CATALOGUE, token=t.member_token)
    assert "errors" not in cat, cat
    assert [(c["name"], c["provider"]["name"], c["category"]["name"]) for c in cat["data"]["catalogueProducts"]] == [
        ("Fibre 900", "Acme Bank", "Broadband"),
        ("Gold Card", "Acme Bank", "Credit Cards"),
    ]

    # The mobile app has one product (position 0) and only the Credit Cards category.
    iid = str(t.second_integration_id)
    r = await gql(gateway, ADD, {"i": iid, "c": fibre}, token=t.admin_token)
    added = r["data"]["addProductToIntegration"]
    assert added["errors"] == [], r
    p_fibre = added["product"]
    assert p_fibre["name"] == "Fibre 900" and p_fibre["enabled"] is True and p_fibre["position"] == 1
    assert p_fibre["catalogueProductId"] == fibre and p_fibre["integrationId"] == iid
    assert p_fibre["commissionRate"] == {"amount": "30.00", "currency": "GBP"}
    assert p_fibre["successDefinition"] == "line live"
    r = await gql(gateway, ADD, {"i": iid, "c": card}, token=t.admin_token)
    p_card = r["data"]["addProductToIntegration"]["product"]
    assert p_card["position"] == 2 and p_card["journeyType"] == "AFFILIATE"
    # The integration gained the Broadband category, as with the operator's add-product.
    integ = await gql(gateway, "{ integrations { id categories { name } } }", token=t.admin_token)
    mobile = next(i for i in integ["data"]["integrations"] if i["id"] == iid)
    assert {c["name"] for c in mobile["categories"]} == {"Broadband", "Credit Cards"}

    again = await gql(gateway, ADD, {"i": iid, "c": fibre}, token=t.admin_token)
    assert again["data"]["addProductToIntegration"]["product"] is None
    assert _errors(again["data"]["addProductToIntegration"]) == [("ALREADY_ADDED", "catalogueProductId")]

    # Reorder: the full list, in the new order.
    app_card = str(t.products["App card"])
    new_order = [p_card["id"], app_card, p_fibre["id"]]
    r = await gql(gateway, REORDER, {"i": iid, "p": new_order}, token=t.admin_token)
    payload = r["data"]["reorderIntegrationProducts"]
    assert payload["errors"] == [] and [(p["id"], p["position"]) for p in payload["products"]] == [
        (new_order[0], 0),
        (new_order[1], 1),
        (new_order[2], 2),
    ]
    for bad in (new_order[:2], [*new_order, new_order[0]], [*new_order[:2], str(t.products["Broadband"])]):
        r = await gql(gateway, REORDER, {"i": iid, "p": bad}, token=t.admin_token)
        assert _errors(r["data"]["reorderIntegrationProducts"]) == [("INVALID_INPUT", "productIds")], bad
    listed = await gql(gateway, PRODUCTS, {"id": iid}, token=t.member_token)
    assert [p["id"] for p in listed["data"]["products"]] == new_order

    # Switch the card off: the config no longer lists it and an order for it is refused.
    r = await gql(gateway, TOGGLE, {"p": p_card["id"], "e": False}, token=t.admin_token)
    assert r["data"]["setProductEnabled"] == {"product": {"id": p_card["id"], "enabled": False}, "errors": []}
    key = await gql(
        gateway, "mutation($id: ID!) { rotateIntegrationKey(id: $id) { apiKey } }", {"id": iid}, token=t.admin_token
    )
    mobile_key = key["data"]["rotateIntegrationKey"]["apiKey"]
    config = await gateway.get("/v1/integration/config", headers={"authorization": f"Bearer {mobile_key}"})
    assert config.status_code == 200, config.text
    assert [p["id"] for p in config.json()["products"]] == [app_card, p_fibre["id"]]
    mobile_tenant = Tenant(**{**t.__dict__, "api_key": mobile_key})
    refused = await _order(gateway, mobile_tenant, p_card["id"])
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["field"] == "productId" and refused.json()["error"]["code"] == "PRODUCT_DISABLED"
    listed = await gql(gateway, PRODUCTS, {"id": iid}, token=t.member_token)
    assert [p["enabled"] for p in listed["data"]["products"]] == [False, True, True]
    # Switched back on, it takes orders again.
    await gql(gateway, TOGGLE, {"p": p_card["id"], "e": True}, token=t.admin_token)
    ok = await _order(gateway, mobile_tenant, p_card["id"])
    assert ok.status_code == 201, ok.text

    # Remove: an unused product goes; one with orders stays.
    r = await gql(gateway, REMOVE, {"p": p_fibre["id"]}, token=t.admin_token)
    assert r["data"]["removeProductFromIntegration"] == {"removed": True, "errors": []}
    r = await gql(gateway, REMOVE, {"p": p_card["id"]}, token=t.admin_token)
    payload = r["data"]["removeProductFromIntegration"]
    assert payload["removed"] is False and _errors(payload) == [("PRODUCT_IN_USE", "productId")]
    assert "switch it off" in payload["errors"][0]["message"]
    listed = await gql(gateway, PRODUCTS, {"id": iid}, token=t.member_token)
    assert [p["id"] for p in listed["data"]["products"]] == [p_card["id"], app_card]
    # Removed from the integration, the catalogue entry can be added again.
    r = await gql(gateway, ADD, {"i": iid, "c": fibre}, token=t.admin_token)
    assert r["data"]["addProductToIntegration"]["errors"] == []

    actions = await owner_pool.fetch(
        "SELECT action, target FROM audit_log WHERE org_id = $1 AND action LIKE 'integration.product%' ORDER BY at",
        t.org_id,
    )
    assert {a["action"] for a in actions} == {
        "integration.product_added",
        "integration.product_reordered",
        "integration.product_toggled",
        "integration.product_removed",
    }
    assert {a["target"] for a in actions} == {iid}


async def test_members_read_but_cannot_curate(gateway, pool, tenant) -> None:
    t = tenant
    fibre = await _catalogue_product(pool, t, "Fibre 900", "Broadband", "30.00")
    iid, pid = str(t.integration_id), str(t.products["Broadband"])
    reads = await gql(gateway, CATALOGUE, token=t.member_token)
    assert [c["id"] for c in reads["data"]["catalogueProducts"]] == [fibre]
    for query, variables in (
        (ADD, {"i": iid, "c": fibre}),
        (REORDER, {"i": iid, "p": [pid]}),
        (TOGGLE, {"p": pid, "e": False}),
        (REMOVE, {"p": pid}),
    ):
        r = await gql(gateway, query, variables, token=t.member_token)
        assert r["data"] is None and r["errors"][0]["extensions"]["code"] == "FORBIDDEN", r
    listed = await gql(gateway, PRODUCTS, {"id": iid}, token=t.admin_token)
    assert len(listed["data"]["products"]) == 3 and all(p["enabled"] for p in listed["data"]["products"])
    bad = await gql(gateway, TOGGLE, {"p": "not-an-id", "e": False}, token=t.admin_token)
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_ID"


async def test_another_organisations_ids_are_not_found(gateway, pool, owner_pool, tenant, other_tenant) -> None:
    a, b = tenant, other_tenant
    b_entry = await _catalogue_product(pool, b, "Their Fibre", "Broadband", "30.00")
    a_entry = await _catalogue_product(pool, a, "Our Fibre", "Broadband", "30.00")
    await create_order(pool, b)  # B's Broadband product has an order
    before = [dict(r) for r in await owner_pool.fetch("SELECT * FROM products WHERE org_id = $1 ORDER BY id", b.org_id)]
    cat = await gql(gateway, CATALOGUE, token=a.admin_token)
    assert [c["id"] for c in cat["data"]["catalogueProducts"]] == [a_entry]

    def same(b_answer: Any, b_id: str, r_answer: Any, r_id: str) -> None:
        assert json.dumps(b_answer).replace(b_id, "<id>") == json.dumps(r_answer).replace(r_id, "<id>")

    async def probe(query: str, variables: Any, b_id: str, name: str, field: str) -> None:
        r_id = str(uuid.uuid4())
        rb = await gql(gateway, query, variables(b_id), token=a.admin_token)
        rr = await gql(gateway, query, variables(r_id), token=a.admin_token)
        same(rb, b_id, rr, r_id)
        assert _errors(rb["data"][name]) == [("NOT_FOUND", field)], rb

    await probe(
        ADD, lambda c: {"i": str(a.integration_id), "c": c}, b_entry, "addProductToIntegration", "catalogueProductId"
    )
    await probe(
        ADD, lambda i: {"i": i, "c": a_entry}, str(b.integration_id), "addProductToIntegration", "integrationId"
    )
    await probe(
        REORDER,
        lambda i: {"i": i, "p": [str(p) for p in b.products.values()]},
        str(b.integration_id),
        "reorderIntegrationProducts",
        "integrationId",
    )
    for pid in b.products.values():
        await probe(TOGGLE, lambda p: {"p": p, "e": False}, str(pid), "setProductEnabled", "productId")
        await probe(REMOVE, lambda p: {"p": p}, str(pid), "removeProductFromIntegration", "productId")
    # B's product smuggled into A's own order list: refused like any id that is not A's integration's.
    a_ids = [str(t) for k, t in a.products.items() if k != "App card"]
    r = await gql(
        gateway,
        REORDER,
        {"i": str(a.integration_id), "p": [*a_ids[:2], str(b.products["Broadband"])]},
        token=a.admin_token,
    )
    assert _errors(r["data"]["reorderIntegrationProducts"]) == [("INVALID_INPUT", "productIds")]
    after = [dict(r) for r in await owner_pool.fetch("SELECT * FROM products WHERE org_id = $1 ORDER BY id", b.org_id)]
    assert after == before


def _cli(capsys: Any, *argv: str) -> tuple[int, Any, str]:
    code = admin.main(list(argv))
    out, err = capsys.readouterr()
    return code, json.loads(out) if code == 0 else None, err


async def test_operator_creates_catalogue_products(capsys, gateway, tenant) -> None:
    t = tenant
    common = ["--org", str(t.org_id), "--provider", str(t.provider["id"]), "--category", str(t.categories["Broadband"])]
    code, out, err = await asyncio.to_thread(
        _cli,
        capsys,
        "add-catalogue-product",
        *common,
        "--name",
        "Fibre 2000",
        "--rate",
        "40.00",
        "--currency",
        "GBP",
        "--journey-type",
        "affiliate",
        "--success",
        "line live",
    )
    assert code == 0, err
    cat = await gql(gateway, CATALOGUE, token=t.admin_token)
    assert cat["data"]["catalogueProducts"] == [
        {
            "id": out["catalogue_product_id"],
            "name": "Fibre 2000",
            "commissionRate": {"amount": "40.00", "currency": "GBP"},
            "journeyType": "AFFILIATE",
            "successDefinition": "line live",
            "provider": {"id": str(t.provider["id"]), "name": "Acme Bank"},
            "category": {"id": str(t.categories["Broadband"]), "name": "Broadband"},
        }
    ]
    code, _, err = await asyncio.to_thread(
        _cli, capsys, "add-catalogue-product", *common, "--name", "X", "--rate", "1.234", "--currency", "GBP"
    )
    assert code == 2 and "rate" in err
