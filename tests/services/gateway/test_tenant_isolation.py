"""Tenant isolation through the gateway: organisation A's credentials against organisation B's ids.

Every query, mutation and export is tried with B's ids under A's admin token. Each must
answer exactly as for an id that does not exist (the response with a random uuid4 is the
same, apart from the id), and B's data must be unchanged afterwards (read back with B's
token). Then the other ways in: the organisation header, export links, the integration
REST API and provider webhooks.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from services.orders.repository import catalogue
from services.orders.service import commission
from shared.db import tenant_tx
from tests.factories import Tenant, create_order, gql


@dataclass
class Pair:
    a: Tenant
    b: Tenant
    a_orders: list[dict[str, Any]]
    b_orders: list[dict[str, Any]]
    b_paid: dict[str, Any]
    b_customer_id: uuid.UUID
    b_email: str
    b_anonymous_id: str
    b_member_ids: list[str]


@pytest.fixture
async def pair(pool, owner_pool, tenant: Tenant, other_tenant: Tenant) -> Pair:
    a, b = tenant, other_tenant
    a_orders = [
        await create_order(pool, a, status="SUCCESSFUL", email=f"a-{a.org_id.hex[:8]}@example.com"),
        await create_order(pool, a, product="App card"),
    ]
    b_email, b_anon = f"b-{b.org_id.hex[:8]}@example.com", f"anon-{b.org_id.hex}"
    b_paid = await create_order(pool, b, status="SUCCESSFUL", email=b_email)
    b_orders = [b_paid, await create_order(pool, b, product="App card", anonymous_id=b_anon)]
    members = await owner_pool.fetch("SELECT id FROM members WHERE org_id = $1", b.org_id)
    return Pair(
        a=a,
        b=b,
        a_orders=a_orders,
        b_orders=b_orders,
        b_paid=b_paid,
        b_customer_id=b_paid["customer_id"],
        b_email=b_email,
        b_anonymous_id=b_anon,
        b_member_ids=[str(m["id"]) for m in members],
    )


def _same(resp_b: Any, b_id: Any, resp_r: Any, r_id: Any) -> None:
    """The answer for B's id equals the answer for a random id, once the ids are blanked."""
    left = json.dumps(resp_b, sort_keys=True).replace(str(b_id), "<id>")
    right = json.dumps(resp_r, sort_keys=True).replace(str(r_id), "<id>")
    assert left == right, f"org B's id answers differently from an unknown id:\n{left}\n{right}"


B_STATE = """{
  organisation { id name marketplaceUrl primaryColour baseCurrency timeZone }
  members { id email role status }
  integrations { id name channel apiKeyPrefix keyRotatedAt categories { id name } }
  categories { id name }
  products { id name integrationId commissionRate { amount currency } enabled position }
  catalogueProducts { id name }
  orders(first: 100) { edges { node { id externalRef status commStatus commission { amount currency } updatedAt
                                       customer { id } } } }
  ordersSummary { totalOrders successfulOrders pendingOrders failedOrders
                  commissionPending { amount currency } commissionPaid { amount currency } }
  customers(first: 100) { edges { node { id kind email displayName lastSeen } } }
}"""
HISTORY = (
    "query($id: ID!) { orderHistory(id: $id) { fromStatus toStatus fromCommStatus toCommStatus"
    " amount { amount currency } source actor occurredAt } }"
)


async def b_snapshot(gateway, owner_pool, p: Pair) -> dict[str, Any]:
    state = await gql(gateway, B_STATE, token=p.b.admin_token)
    assert "errors" not in state, state
    assert len(state["data"]["orders"]["edges"]) == len(p.b_orders)
    histories = {}
    for o in p.b_orders:
        h = await gql(gateway, HISTORY, {"id": str(o["id"])}, token=p.b.admin_token)
        assert h["data"]["orderHistory"], h
        histories[str(o["id"])] = h
    keys = [
        bytes(r["api_key_hash"])
        for r in await owner_pool.fetch(
            "SELECT api_key_hash FROM integrations WHERE org_id = $1 ORDER BY id", p.b.org_id
        )
    ]
    return {"state": state, "histories": histories, "key_hashes": keys}


# --- queries -----------------------------------------------------------------------------

CUSTOMER = """query($id: ID!) { customer(id: $id) { id kind email displayName channel ordersCount successfulOrdersCount
  integrationsVisited { integrationId integrationName visits } timeline { nodes { kind orderId detail } }
  devices { deviceId } } }"""
ORDER = """query($id: ID!) { order(id: $id) { id externalRef status commStatus commission { amount currency }
  customer { id displayName } integration { id name } category { id name } product { id name } } }"""
PRODUCTS = "query($id: ID!) { products(integrationId: $id) { id name integrationId } }"
ORDERS = """query($f: OrderFilterInput) { orders(filter: $f, first: 100) {
  edges { cursor node { id externalRef } } pageInfo { hasNextPage endCursor } } }"""
SUMMARY = """query($f: OrderFilterInput) { ordersSummary(filter: $f) { totalOrders successfulOrders pendingOrders
  failedOrders commissionPending { amount currency } commissionPaid { amount currency } } }"""
CUSTOMERS = """query($f: CustomerFilterInput) { customers(filter: $f, first: 100) {
  edges { cursor node { id displayName } } pageInfo { hasNextPage endCursor } } }"""
ZERO_SUMMARY = {
    "totalOrders": 0,
    "successfulOrders": 0,
    "pendingOrders": 0,
    "failedOrders": 0,
    "commissionPending": [],
    "commissionPaid": [],
}


async def _probe(gateway, p: Pair, query: str, variables: Any, b_id: Any, token: str | None = None) -> dict[str, Any]:
    """Ask with B's id and with a random one under A's admin token (or `token`); both answers must match."""
    r_id = str(uuid.uuid4())
    token = token or p.a.admin_token
    resp_b = await gql(gateway, query, variables(str(b_id)), token=token)
    resp_r = await gql(gateway, query, variables(r_id), token=token)
    _same(resp_b, b_id, resp_r, r_id)
    return resp_b


async def test_queries_with_org_b_ids_answer_as_for_unknown_ids(gateway, owner_pool, pair):
    p = pair
    before = await b_snapshot(gateway, owner_pool, p)

    r = await _probe(gateway, p, CUSTOMER, lambda i: {"id": i}, p.b_customer_id)
    assert r == {"data": {"customer": None}}
    for o in p.b_orders:
        r = await _probe(gateway, p, ORDER, lambda i: {"id": i}, o["id"])
        assert r == {"data": {"order": None}}
        r = await _probe(gateway, p, HISTORY, lambda i: {"id": i}, o["id"])
        assert r == {"data": {"orderHistory": []}}
    for iid in (p.b.integration_id, p.b.second_integration_id):
        r = await _probe(gateway, p, PRODUCTS, lambda i: {"id": i}, iid)
        assert r == {"data": {"products": []}}

    empty_orders = {"data": {"orders": {"edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}}}
    r = await _probe(gateway, p, ORDERS, lambda i: {"f": {"customerId": i}}, p.b_customer_id)
    assert r == empty_orders
    for iid in (p.b.integration_id, p.b.second_integration_id):
        r = await _probe(gateway, p, ORDERS, lambda i: {"f": {"integrationIds": [i]}}, iid)
        assert r == empty_orders
        r = await _probe(gateway, p, SUMMARY, lambda i: {"f": {"integrationIds": [i]}}, iid)
        assert r == {"data": {"ordersSummary": ZERO_SUMMARY}}
        r = await _probe(gateway, p, CUSTOMERS, lambda i: {"f": {"integrationIds": [i]}}, iid)
        assert r == {"data": {"customers": {"edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}}}
    for cid in p.b.categories.values():
        r = await _probe(gateway, p, ORDERS, lambda i: {"f": {"categoryIds": [i]}}, cid)
        assert r == empty_orders
        r = await _probe(gateway, p, SUMMARY, lambda i: {"f": {"categoryIds": [i]}}, cid)
        assert r == {"data": {"ordersSummary": ZERO_SUMMARY}}
    r = await _probe(gateway, p, SUMMARY, lambda i: {"f": {"customerId": i}}, p.b_customer_id)  # the row path
    assert r == {"data": {"ordersSummary": ZERO_SUMMARY}}

    # Controls: A's own ids do answer, so the empties above are not a broken query.
    own = await gql(gateway, ORDERS, {"f": {"integrationIds": [str(p.a.integration_id)]}}, token=p.a.admin_token)
    assert len(own["data"]["orders"]["edges"]) == 1
    own = await gql(gateway, SUMMARY, {}, token=p.a.admin_token)
    assert own["data"]["ordersSummary"]["totalOrders"] == len(p.a_orders)
    own = await gql(gateway, ORDER, {"id": str(p.a_orders[0]["id"])}, token=p.a.admin_token)
    assert own["data"]["order"]["id"] == str(p.a_orders[0]["id"])

    assert await b_snapshot(gateway, owner_pool, p) == before


async def test_lists_of_org_a_hold_nothing_of_org_b(gateway, pair):
    p = pair
    state = await gql(gateway, B_STATE, token=p.a.admin_token)
    assert "errors" not in state, state
    text = json.dumps(state)
    b_ids = [
        p.b.org_id,
        p.b.integration_id,
        p.b.second_integration_id,
        p.b_customer_id,
        p.b.provider["id"],
        *p.b.categories.values(),
        *p.b.products.values(),
        *(o["id"] for o in p.b_orders),
        *p.b_member_ids,
    ]
    for b_id in b_ids:
        assert str(b_id) not in text
    assert p.b_email not in text
    assert state["data"]["organisation"]["id"] == str(p.a.org_id)
    assert {e["node"]["id"] for e in state["data"]["orders"]["edges"]} == {str(o["id"]) for o in p.a_orders}


# --- mutations ---------------------------------------------------------------------------

UPDATE_INTEGRATION = """mutation($id: ID!, $input: IntegrationChangeInput!) {
  updateIntegration(id: $id, input: $input) {
    integration { id name channel } apiKey errors { field code message } } }"""
CREATE_INTEGRATION = """mutation($input: IntegrationInput!) { createIntegration(input: $input) {
  integration { id } apiKey errors { field code message } } }"""
ROTATE = """mutation($id: ID!) { rotateIntegrationKey(id: $id) { integration { id apiKeyPrefix } apiKey
  errors { field code message } } }"""
REMOVE_MEMBER = "mutation($id: ID!) { removeMember(memberId: $id) { removed errors { field code message } } }"
UPDATE_COMMISSION = """mutation($id: ID!, $amount: Decimal) {
  updateCommissionStatus(orderId: $id, commStatus: SUCCESSFUL, amount: $amount) {
    order { id commStatus } changed errors { field code message } } }"""
ADD_PRODUCT = """mutation($i: ID!, $c: ID!) { addProductToIntegration(integrationId: $i, catalogueProductId: $c) {
  product { id } errors { field code message } } }"""
REORDER_PRODUCTS = """mutation($i: ID!, $p: [ID!]!) { reorderIntegrationProducts(integrationId: $i, productIds: $p) {
  products { id } errors { field code message } } }"""
TOGGLE_PRODUCT = """mutation($p: ID!) { setProductEnabled(productId: $p, enabled: false) {
  product { id } errors { field code message } } }"""
REMOVE_PRODUCT = """mutation($p: ID!) { removeProductFromIntegration(productId: $p) {
  removed errors { field code message } } }"""


def _not_found(payload: dict[str, Any], field: str) -> None:
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("NOT_FOUND", field)], payload


async def test_mutations_with_org_b_ids_answer_as_for_unknown_ids_and_change_nothing(gateway, pool, owner_pool, pair):
    p = pair
    entries = {}
    for t in (p.a, p.b):
        async with tenant_tx(pool, t.org_id) as conn:
            entries[t.org_id] = (
                await catalogue.create_catalogue_product(
                    conn,
                    t.org_id,
                    provider_id=t.provider["id"],
                    category_id=t.categories["Broadband"],
                    name="Catalogue fibre",
                    commission_rate="10.00",
                    currency="GBP",
                )
            )["id"]
    before = await b_snapshot(gateway, owner_pool, p)

    for iid in (p.b.integration_id, p.b.second_integration_id):
        r = await _probe(
            gateway,
            p,
            UPDATE_INTEGRATION,
            lambda i: {"id": i, "input": {"name": "Hijacked", "channel": "PARTNER"}},
            iid,
        )
        _not_found(r["data"]["updateIntegration"], "id")
        assert r["data"]["updateIntegration"]["integration"] is None
        r = await _probe(
            gateway,
            p,
            UPDATE_INTEGRATION,
            lambda i: {"id": i, "input": {"categoryIds": [str(c) for c in p.a.categories.values()]}},
            iid,
        )
        _not_found(r["data"]["updateIntegration"], "id")
        r = await _probe(gateway, p, ROTATE, lambda i: {"id": i}, iid)
        _not_found(r["data"]["rotateIntegrationKey"], "id")
        assert r["data"]["rotateIntegrationKey"]["apiKey"] is None
        r = await _probe(gateway, p, ADD_PRODUCT, lambda i: {"i": i, "c": str(entries[p.a.org_id])}, iid)
        _not_found(r["data"]["addProductToIntegration"], "integrationId")
        r = await _probe(
            gateway, p, REORDER_PRODUCTS, lambda i: {"i": i, "p": list(map(str, p.b.products.values()))}, iid
        )
        _not_found(r["data"]["reorderIntegrationProducts"], "integrationId")
    for pid in p.b.products.values():
        r = await _probe(gateway, p, TOGGLE_PRODUCT, lambda i: {"p": i}, pid)
        _not_found(r["data"]["setProductEnabled"], "productId")
        r = await _probe(gateway, p, REMOVE_PRODUCT, lambda i: {"p": i}, pid)
        _not_found(r["data"]["removeProductFromIntegration"], "productId")
    r = await _probe(gateway, p, ADD_PRODUCT, lambda i: {"i": str(p.a.integration_id), "c": i}, entries[p.b.org_id])
    _not_found(r["data"]["addProductToIntegration"], "catalogueProductId")
    for mid in p.b_member_ids:
        r = await _probe(gateway, p, REMOVE_MEMBER, lambda i: {"id": i}, mid)
        assert r["data"]["removeMember"]["removed"] is False
        _not_found(r["data"]["removeMember"], "memberId")
    for amount in (None, "999.99"):
        r = await _probe(  # as A's provider user: commission is theirs to update, in A only
            gateway,
            p,
            UPDATE_COMMISSION,
            lambda i, amount=amount: {"id": i, "amount": amount},
            p.b_paid["id"],
            token=p.a.provider_token,
        )
        payload = r["data"]["updateCommissionStatus"]
        assert payload["order"] is None and payload["changed"] is False
        _not_found(payload, "orderId")

    # B's ids smuggled into A's own resources.
    for cid in p.b.categories.values():
        r = await _probe(
            gateway,
            p,
            UPDATE_INTEGRATION,
            lambda i: {
                "id": str(p.a.integration_id),
                "input": {"categoryIds": [*map(str, p.a.categories.values()), i]},
            },
            cid,
        )
        _not_found(r["data"]["updateIntegration"], "categoryIds")
        r = await _probe(
            gateway,
            p,
            CREATE_INTEGRATION,
            lambda i: {"input": {"name": f"Cross {uuid.uuid4().hex[:6]}", "channel": "WEB", "categoryIds": [i]}},
            cid,
        )
        # (the random name differs between the two calls, but the payload holds no name)
        _not_found(r["data"]["createIntegration"], "categoryIds")

    assert await b_snapshot(gateway, owner_pool, p) == before


# --- exports -----------------------------------------------------------------------------

REQUEST_EXPORT = """mutation($kind: ExportKind!, $format: ExportFormat!, $of: OrderFilterInput,
                                  $cf: CustomerFilterInput) {
  requestExport(kind: $kind, format: $format, orderFilter: $of, customerFilter: $cf) {
    url expiresAt errors { field code message } } }"""


async def _export(gateway, token: str, kind: str, of: Any = None, cf: Any = None) -> tuple[int, str]:
    r = await gql(gateway, REQUEST_EXPORT, {"kind": kind, "format": "CSV", "of": of, "cf": cf}, token=token)
    payload = r["data"]["requestExport"]
    assert payload["errors"] == [] and payload["url"].startswith("http://gateway.test/exports/"), r
    download = await gateway.get(payload["url"].removeprefix("http://gateway.test"))
    return download.status_code, download.text


async def test_exports_with_org_b_filters_hold_only_the_header(gateway, owner_pool, pair):
    p = pair
    before = await b_snapshot(gateway, owner_pool, p)
    rand = str(uuid.uuid4())

    status, own = await _export(gateway, p.a.admin_token, "ORDERS")
    assert status == 200
    header = own.splitlines()[0]
    assert header.startswith("order_id,") and len(own.splitlines()) == 1 + len(p.a_orders)
    status, own_customers = await _export(gateway, p.a.admin_token, "CUSTOMERS")
    assert status == 200 and len(own_customers.splitlines()) > 1
    customer_header = own_customers.splitlines()[0]

    order_filters: list[dict[str, Any]] = [
        *({"integrationIds": [str(i)]} for i in (p.b.integration_id, p.b.second_integration_id)),
        *({"categoryIds": [str(c)]} for c in p.b.categories.values()),
        {"customerId": str(p.b_customer_id)},
    ]
    for f in order_filters:
        b_id = next(iter(v if isinstance(v, str) else v[0] for v in f.values()))
        status, body = await _export(gateway, p.a.admin_token, "ORDERS", of=f)
        assert status == 200 and body.splitlines() == [header], (f, body)
        status_r, body_r = await _export(
            gateway, p.a.admin_token, "ORDERS", of=json.loads(json.dumps(f).replace(b_id, rand))
        )
        assert (status_r, body_r) == (status, body)
    for iid in (p.b.integration_id, p.b.second_integration_id):
        status, body = await _export(gateway, p.a.admin_token, "CUSTOMERS", cf={"integrationIds": [str(iid)]})
        assert status == 200 and body.splitlines() == [customer_header], body
        assert await _export(gateway, p.a.admin_token, "CUSTOMERS", cf={"integrationIds": [rand]}) == (status, body)
    status, body = await _export(gateway, p.a.admin_token, "CUSTOMERS", cf={"search": p.b_email})
    assert status == 200 and body.splitlines() == [customer_header], body

    assert await b_snapshot(gateway, owner_pool, p) == before


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=").decode()


def _unb64(part: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


async def test_an_export_link_cannot_be_altered_to_another_organisation(gateway, pair):
    p = pair
    r = await gql(gateway, REQUEST_EXPORT, {"kind": "ORDERS", "format": "CSV"}, token=p.a.admin_token)
    url = r["data"]["requestExport"]["url"]
    token = url.rsplit("/", 1)[1]
    head, body, sig = token.split(".")
    claims = _unb64(body)
    assert claims["org"] == str(p.a.org_id)

    untouched = await gateway.get(f"/exports/{token}")
    assert untouched.status_code == 200 and len(untouched.text.splitlines()) == 1 + len(p.a_orders)

    forged = {**claims, "org": str(p.b.org_id)}
    alg_none = _b64({"alg": "none", "typ": "JWT"})
    for bad in (
        f"{head}.{_b64(forged)}.{sig}",  # payload changed, signature kept
        f"{alg_none}.{_b64(forged)}.",  # unsigned
        f"{head}.{_b64(forged)}.{sig[:-2]}AA",
    ):
        resp = await gateway.get(f"/exports/{bad}")
        assert resp.status_code == 403, resp.text
        assert resp.json()["error"]["code"] == "INVALID_EXPORT_LINK"
        assert str(p.b_paid["id"]) not in resp.text


# --- the organisation header ---------------------------------------------------------------


async def test_organisation_header_naming_org_b_is_refused(gateway, pair):
    p = pair
    query = {"query": "{ me { organisationId } organisation { id name } }"}

    async def ask(org: str) -> Any:
        return await gateway.post(
            "/graphql", json=query, headers={"authorization": f"Bearer {p.a.admin_token}", "x-organisation-id": org}
        )

    own = await ask(str(p.a.org_id))
    assert own.status_code == 200 and own.json()["data"]["me"]["organisationId"] == str(p.a.org_id)
    to_b = await ask(str(p.b.org_id))
    assert to_b.status_code == 403, to_b.text
    assert to_b.json()["error"]["code"] == "NO_MEMBERSHIP"
    rand = str(uuid.uuid4())
    to_r = await ask(rand)
    assert to_r.status_code == 403
    _same(to_b.json(), p.b.org_id, to_r.json(), rand)


# --- the integration REST API ----------------------------------------------------------------


async def _counts(owner_pool, p: Pair) -> list[tuple[int, int]]:
    return [
        (
            await owner_pool.fetchval("SELECT count(*) FROM orders WHERE org_id = $1", org),
            await owner_pool.fetchval("SELECT count(*) FROM customers WHERE org_id = $1", org),
        )
        for org in (p.a.org_id, p.b.org_id)
    ]


async def test_rest_order_with_a_product_of_org_b_is_not_found(gateway, owner_pool, pair):
    p = pair
    before = await _counts(owner_pool, p)

    async def post(product_id: str) -> Any:
        return await gateway.post(
            "/v1/orders",
            headers={"authorization": f"Bearer {p.a.api_key}"},
            json={
                "externalRef": f"cross-{uuid.uuid4().hex[:8]}",
                "productId": product_id,
                "customer": {"anonymousId": f"cross-{uuid.uuid4().hex}"},
                "status": "SUCCESSFUL",
            },
        )

    for product_id in p.b.products.values():
        resp = await post(str(product_id))
        assert resp.status_code == 404, resp.text
        err = resp.json()["error"]
        assert err["code"] == "NOT_FOUND" and err["field"] == "productId"
        rand = str(uuid.uuid4())
        resp_r = await post(rand)
        assert resp_r.status_code == 404
        _same(resp.json(), product_id, resp_r.json(), rand)
    assert await _counts(owner_pool, p) == before


async def test_rest_identify_with_org_b_identities_never_reaches_org_b(gateway, owner_pool, pair):
    p = pair
    b_before = await owner_pool.fetch("SELECT * FROM customers WHERE org_id = $1 ORDER BY id", p.b.org_id)
    for ident in ({"email": p.b_email}, {"anonymousId": p.b_anonymous_id}):
        resp = await gateway.post(
            "/v1/customers/identify", headers={"authorization": f"Bearer {p.a.api_key}"}, json=ident
        )
        assert resp.status_code == 200, resp.text
        customer = resp.json()["customer"]
        assert customer["orders"] == 0 and customer["visits"][0]["integration_id"] == str(p.a.integration_id)
        assert (
            await owner_pool.fetchval("SELECT org_id FROM customers WHERE id = $1", uuid.UUID(customer["id"]))
            == p.a.org_id
        )
    b_after = await owner_pool.fetch("SELECT * FROM customers WHERE org_id = $1 ORDER BY id", p.b.org_id)
    assert [dict(r) for r in b_after] == [dict(r) for r in b_before]


# --- provider webhooks ---------------------------------------------------------------------


class _RecordingBroker:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    def enqueue(self, message: Any, *, delay: Any = None) -> Any:
        self.messages.append(message)
        return message


def _signed(secret: str, body: bytes) -> dict[str, str]:
    msg_id, now = f"msg_{uuid.uuid4().hex}", datetime.now(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, body.decode()),
        "content-type": "application/json",
    }


def _commission(order_id: Any, sequence: int = 1, status: str = "FAILED") -> bytes:
    return json.dumps(
        {"type": "commission.updated", "data": {"order_id": str(order_id), "sequence": sequence, "status": status}}
    ).encode()


@pytest.fixture
def recording_broker(gateway_app) -> Any:
    """Swap the gateway's broker for a recorder (by hand: pytest's monkeypatch deletes, rather than restores,
    attributes of a Starlette State on undo)."""
    real, broker = gateway_app.state.broker, _RecordingBroker()
    gateway_app.state.broker = gateway_app.state.webhook_batcher.broker = broker
    try:
        yield broker
    finally:
        gateway_app.state.broker = gateway_app.state.webhook_batcher.broker = real


async def test_org_b_webhook_secret_does_not_open_org_a_provider_path(
    gateway, recording_broker, pool, owner_pool, pair
):
    p = pair
    broker = recording_broker
    a_path = f"/webhooks/providers/{p.a.provider['public_id']}/commission"
    b_secret = p.b.provider["webhook_secret"]
    a_order = p.a_orders[1]

    for body in (_commission(a_order["id"]), _commission(p.b_paid["id"])):
        resp = await gateway.post(a_path, content=body, headers=_signed(b_secret, body))
        assert resp.status_code == 401, resp.text
        err = resp.json()["error"]
        assert err["code"] == "INVALID_SIGNATURE" and "No matching signature" in err["message"]
    assert broker.messages == []

    # Control: the same request signed with A's own secret is accepted and routed to A.
    body = _commission(a_order["id"])
    resp = await gateway.post(a_path, content=body, headers=_signed(p.a.provider["webhook_secret"], body))
    assert resp.status_code == 202, resp.text
    assert [(i["org_id"], i["provider_id"]) for m in broker.messages for i in m.args[0]] == [
        (str(p.a.org_id), str(p.a.provider["id"]))
    ]

    # B's provider on its own path naming A's order: routed to org B, where the order does not exist.
    broker.messages.clear()
    resp = await gateway.post(
        f"/webhooks/providers/{p.b.provider['public_id']}/commission", content=body, headers=_signed(b_secret, body)
    )
    assert resp.status_code == 202, resp.text
    ((item,),) = [m.args[0] for m in broker.messages]
    org_id, provider_id, webhook_id, data = item["org_id"], item["provider_id"], item["webhook_id"], item["data"]
    assert (org_id, provider_id) == (str(p.b.org_id), str(p.b.provider["id"]))
    before = await owner_pool.fetchrow("SELECT * FROM orders WHERE id = $1", a_order["id"])
    async with tenant_tx(pool, org_id) as conn:  # what the worker's actor does with the message
        outcome = await commission.apply_provider_webhook(
            conn, uuid.UUID(org_id), uuid.UUID(provider_id), webhook_id, data
        )
    assert outcome == "unknown_order"
    assert dict(await owner_pool.fetchrow("SELECT * FROM orders WHERE id = $1", a_order["id"])) == dict(before)
