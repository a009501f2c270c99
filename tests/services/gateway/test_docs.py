"""The API documentation stays in step with the gateway: its routes, its schema, and what its endpoints accept
and answer (services/gateway/docs.py)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from starlette.routing import Route, WebSocketRoute

from shared.config import Settings
from shared.errors import ErrorCode

# GraphQL is documented by its SDL; the root, /assets/ and /app-config.json serve the browser pages (web_app.py).
UNDOCUMENTED = ("/", "/graphql", "/assets/{path:path}", "/app-config.json")
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test")


@pytest.fixture(scope="module")
def docs_app() -> Any:
    """The gateway app as made at start-up; the documentation needs no lifespan, store or service."""
    from services.gateway.app import create_app

    return create_app(Settings())


@pytest.fixture
async def docs_client(docs_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(docs_app) as client:
        yield client


@pytest.fixture
async def doc(docs_client: httpx.AsyncClient) -> dict[str, Any]:
    r = await docs_client.get("/docs/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = r.json()
    return body


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, item in doc["paths"].items() for m, op in item.items() if m in METHODS]


def conforms(doc: dict[str, Any], schema: dict[str, Any], instance: Any) -> None:
    """`instance` validates against `schema` (which may `$ref` the document's components), formats included."""
    OAS31Validator({**schema, "components": doc["components"]}, format_checker=OAS31Validator.FORMAT_CHECKER).validate(
        instance
    )


def answer_schema(doc: dict[str, Any], method: str, path: str, status: int) -> dict[str, Any]:
    response = doc["paths"][path][method]["responses"][str(status)]
    schema: dict[str, Any] = response["content"]["application/json"]["schema"]
    return schema


def request_examples(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    media = doc["paths"][path][method]["requestBody"]["content"]["application/json"]
    if "examples" in media:
        return {name: e["value"] for name, e in media["examples"].items()}
    return {"example": media["example"]}


# --------------------------------------------------------------------------- the document and the routes


async def test_every_route_is_documented_with_its_methods_and_nothing_else_is(docs_app, doc):
    routes: dict[str, set[str]] = {}
    for route in docs_app.routes:
        if isinstance(route, WebSocketRoute) and route.path == "/graphql":
            assert "graphql-transport-ws" in doc["info"]["description"]  # subscriptions, told with GraphQL
            continue
        assert isinstance(route, Route), f"{route!r}: a mount or a websocket route needs documenting here"
        if route.path in UNDOCUMENTED or route.path == "/docs" or route.path.startswith("/docs/"):
            continue
        # Starlette answers HEAD wherever it answers GET; the document lists what a client calls.
        routes[route.path] = {m.lower() for m in route.methods or ()} - {"head"}
    documented = {path: {m for m in item if m in METHODS} for path, item in doc["paths"].items()}
    assert documented == routes


def test_the_document_is_valid_openapi_3_1(doc):
    assert doc["openapi"].startswith("3.1.")
    validate(doc, cls=OpenAPIV31SpecValidator)
    ids = [op["operationId"] for _, _, op in operations(doc)]
    assert len(ids) == len(set(ids))


def test_every_refusal_has_the_error_body_and_names_real_codes(doc):
    codes = {c.value for c in ErrorCode}
    for method, path, op in operations(doc):
        assert op["summary"] and op["description"], (method, path)
        for status, response in op["responses"].items():
            if int(status) < 400:
                continue
            where = (method, path, status)
            if path == "/readyz":
                continue  # a probe's own body, not a refusal
            assert answer_schema(doc, method, path, int(status)) == {"$ref": "#/components/schemas/ErrorBody"}, where
            assert response["x-error-codes"] and set(response["x-error-codes"]) <= codes, where
            if {"RATE_LIMITED", "OVERLOADED"} & set(response["x-error-codes"]):
                assert "Retry-After" in response["headers"], where
    # the error body's code is the enum itself, so a new code is documented the day it exists
    detail = doc["components"]["schemas"]["ErrorCode"]
    assert set(detail["enum"]) == codes


def test_every_error_code_is_explained():
    from services.gateway.docs import ERROR_CODES

    assert set(ERROR_CODES) == set(ErrorCode)


def test_the_examples_conform_to_the_documented_schemas(doc):
    for method, path, op in operations(doc):
        body = op.get("requestBody")
        if body:
            schema = body["content"]["application/json"]["schema"]
            for example in request_examples(doc, method, path).values():
                conforms(doc, schema, example)
        for status, response in op["responses"].items():
            for media in response.get("content", {}).values():
                if "example" in media:
                    conforms(doc, media["schema"], media["example"])
            for header in response.get("headers", {}).values():
                assert "$ref" in header or "schema" in header, (method, path, status)
        for parameter in op.get("parameters", []):
            if "example" in parameter:
                conforms(doc, parameter["schema"], parameter["example"])


def test_the_request_contract_is_the_orders_service_s(doc):
    """shared/api_contracts.py (what the gateway documents) accepts exactly what the orders service's models do."""
    from services.orders.api import ingest
    from shared import api_contracts

    def shape(model: Any) -> Any:
        schema = model.model_json_schema(by_alias=True)
        defs = schema.get("$defs", {})

        def walk(node: Any) -> Any:
            if isinstance(node, dict):
                if "$ref" in node:
                    merged = {**defs[node["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
                    return walk(merged)
                return {k: walk(v) for k, v in node.items() if k not in ("title", "description", "examples", "$defs")}
            if isinstance(node, list):
                return [walk(v) for v in node]
            return node

        return walk(schema)

    for contract, service in ((api_contracts.NewOrder, ingest.NewOrder), (api_contracts.Identify, ingest.Identify)):
        assert shape(contract) == shape(service), f"{contract.__name__} differs from {service.__module__}"
    schemas = doc["components"]["schemas"]
    assert answer_schema(doc, "post", "/v1/orders", 201) == {"$ref": "#/components/schemas/OrderAnswer"}
    assert set(schemas["NewOrder"]["properties"]) == set(shape(ingest.NewOrder)["properties"])
    for example in request_examples(doc, "post", "/v1/orders").values():
        ingest.NewOrder.model_validate(example)  # the service's own rules too, not only the shape
    for example in request_examples(doc, "post", "/v1/customers/identify").values():
        ingest.Identify.model_validate(example)


def test_the_webhook_body_is_the_gateway_s_own_model(doc):
    from services.gateway.webhooks import CommissionWebhook

    assert set(doc["components"]["schemas"]["CommissionData"]["properties"]) == set(
        CommissionWebhook.model_json_schema()["$defs"]["CommissionData"]["properties"]
    )
    for example in request_examples(doc, "post", "/webhooks/providers/{provider}/commission").values():
        CommissionWebhook.model_validate(example)


def test_the_worked_signature_is_what_standard_webhooks_computes():
    from standardwebhooks.webhooks import Webhook

    from services.gateway import docs

    body = json.dumps(docs.WEBHOOK_EXAMPLE, separators=(",", ":")).encode()
    at = datetime.fromtimestamp(docs.EXAMPLE_WEBHOOK_TIMESTAMP, UTC)
    expected = Webhook(docs.EXAMPLE_WEBHOOK_SECRET).sign(docs.EXAMPLE_WEBHOOK_ID, at, body.decode())
    signature = docs.sign_webhook(
        docs.EXAMPLE_WEBHOOK_SECRET, docs.EXAMPLE_WEBHOOK_ID, docs.EXAMPLE_WEBHOOK_TIMESTAMP, body
    )
    assert signature == expected
    operation = docs.build_openapi(Settings())["paths"]["/webhooks/providers/{provider}/commission"]["post"]
    assert expected in operation["description"]
    headers = {p["name"]: p for p in operation["parameters"] if p["in"] == "header"}
    assert headers["webhook-signature"]["example"] == expected
    assert headers["webhook-timestamp"]["example"] == str(docs.EXAMPLE_WEBHOOK_TIMESTAMP)


# --------------------------------------------------------------------------- what is served


async def test_the_sdl_is_the_gateway_schema(docs_client):
    from services.gateway.graphql.schema import build_schema

    r = await docs_client.get("/docs/schema.graphql")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert r.headers["cache-control"] == "public, max-age=300"
    assert r.text == build_schema(Settings().production).as_str()
    for name in ("Order", "Customer", "OrdersSummary"):
        assert re.search(rf"^type {name} ", r.text, re.MULTILINE), name


async def test_production_serves_the_documentation_too():
    from services.gateway.app import create_app
    from services.gateway.graphql.schema import build_schema

    production = dataclasses.replace(Settings(), environment="production")
    async with _client(create_app(production)) as client:
        sdl = await client.get("/docs/schema.graphql")
        assert sdl.status_code == 200 and sdl.text == build_schema(True).as_str()
        assert (await client.get("/docs")).status_code == 200
        assert (await client.get("/docs/openapi.json")).status_code == 200


async def test_the_page_shows_every_endpoint_and_loads_nothing(docs_client, doc):
    r = await docs_client.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "public, max-age=300"
    assert "script-src" not in r.headers["content-security-policy"]
    page = r.text
    for _, path, op in operations(doc):
        assert f"<code>{path}</code>" in page, path
        for status in op["responses"]:
            assert f"<strong>{status}</strong>" in page, (path, status)
    for header in ("webhook-id", "webhook-timestamp", "webhook-signature", "Retry-After", "If-None-Match", "ETag"):
        assert header in page, header
    for code in ErrorCode:
        assert code.value in page, code
    assert 'href="/docs/openapi.json"' in page.replace("'", '"')
    assert 'href="/docs/schema.graphql"' in page.replace("'", '"')
    assert "type OrdersSummary" in page
    # Nothing is loaded: no script at all, no stylesheet, image or frame, from anywhere.
    lowered = page.lower()
    for tag in ("<script", "<link", "<img", "<iframe", "<object", "<embed", "@import", "url("):
        assert tag not in lowered, tag
    for attribute, value in re.findall(r"""\b(src|href)\s*=\s*["']([^"']*)["']""", page, re.IGNORECASE):
        assert attribute.lower() == "href", value  # only links a reader follows
        assert value.startswith(("#", "/", "https://www.standardwebhooks.com/")), value


async def test_the_openapi_document_is_cacheable(docs_client):
    r = await docs_client.get("/docs/openapi.json")
    assert r.headers["cache-control"] == "public, max-age=300"


# --------------------------------------------------------------------------- the examples, on the real endpoints


async def test_the_documented_v1_examples_are_accepted(gateway, tenant, doc):
    key = {"authorization": f"Bearer {tenant.api_key}"}
    product = str(tenant.products["Credit Cards"])  # in GBP, like the examples' commission
    for name, example in request_examples(doc, "post", "/v1/orders").items():
        body = {**example, "productId": product}
        r = await gateway.post("/v1/orders", json=body, headers=key)
        assert r.status_code == 201, (name, r.text)
        conforms(doc, answer_schema(doc, "post", "/v1/orders", 201), r.json())
        again = await gateway.post("/v1/orders", json=body, headers=key)
        assert again.status_code == 200 and again.json()["order"]["id"] == r.json()["order"]["id"], name
        conforms(doc, answer_schema(doc, "post", "/v1/orders", 200), again.json())
    for name, example in request_examples(doc, "post", "/v1/customers/identify").items():
        r = await gateway.post("/v1/customers/identify", json=example, headers=key)
        assert r.status_code == 200, (name, r.text)
        conforms(doc, answer_schema(doc, "post", "/v1/customers/identify", 200), r.json())
    r = await gateway.get("/v1/integration/config", headers=key)
    assert r.status_code == 200
    conforms(doc, answer_schema(doc, "get", "/v1/integration/config", 200), r.json())
    documented = doc["paths"]["/v1/integration/config"]["get"]["responses"]
    assert {h.lower() for h in documented["200"]["headers"]} <= set(r.headers.keys())
    unchanged = await gateway.get("/v1/integration/config", headers={**key, "if-none-match": r.headers["etag"]})
    assert unchanged.status_code == 304 and "304" in documented
    for probe in ("/healthz", "/readyz"):
        r = await gateway.get(probe)
        conforms(doc, answer_schema(doc, "get", probe, r.status_code), r.json())


class RecordingBroker:
    """Takes the gateway's Dramatiq messages instead of Redis."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    def enqueue(self, message: Any, *, delay: int | None = None) -> Any:
        self.messages.append(message)
        return message


def sign_as_documented(secret: str, webhook_id: str, body: bytes) -> dict[str, str]:
    """The signature as the documentation tells providers to make it (not the library's code)."""
    timestamp = str(int(time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
        "content-type": "application/json",
    }


async def test_the_documented_webhook_is_accepted_signed_as_documented(gateway_settings, gateway, tenant, doc):
    from services.gateway.app import create_app

    order = await gateway.post(
        "/v1/orders",
        json={**request_examples(doc, "post", "/v1/orders")["minimal"], "productId": str(tenant.products["Broadband"])},
        headers={"authorization": f"Bearer {tenant.api_key}"},
    )
    assert order.status_code == 201
    path = "/webhooks/providers/{provider}/commission"
    (example,) = request_examples(doc, "post", path).values()
    example = {**example, "data": {**example["data"], "order_id": order.json()["order"]["id"], "currency": "GBP"}}
    body = json.dumps(example).encode()
    broker = RecordingBroker()
    app = create_app(gateway_settings, broker=broker)  # nothing reaches the shared queue
    async with app.router.lifespan_context(app), _client(app) as client:
        webhook_id = "msg_" + uuid.uuid4().hex
        url = path.replace("{provider}", tenant.provider["public_id"])
        r = await client.post(
            url, content=body, headers=sign_as_documented(tenant.provider["webhook_secret"], webhook_id, body)
        )
        assert r.status_code == 202, r.text
        conforms(doc, answer_schema(doc, "post", path, 202), r.json())
        assert r.json()["webhookId"] == webhook_id
    (message,) = broker.messages
    (item,) = message.args[0]
    assert item["webhook_id"] == webhook_id and item["data"]["order_id"] == example["data"]["order_id"]


async def test_refusals_are_the_documented_ones(gateway_settings, gateway, tenant, doc):
    key = {"authorization": f"Bearer {tenant.api_key}"}
    webhook = f"/webhooks/providers/{tenant.provider['public_id']}/commission"
    secret = tenant.provider["webhook_secret"]
    good = json.dumps(
        doc["paths"]["/webhooks/providers/{provider}/commission"]["post"]["requestBody"]["content"]["application/json"][
            "example"
        ]
    ).encode()
    invalid = b'{"type": "commission.updated", "data": {"order_id": "x", "sequence": 0, "status": "PAID"}}'
    order = {
        "externalRef": "r-1",
        "productId": str(tenant.products["Broadband"]),
        "customer": {"email": "a@example.com"},
    }
    hook = "/webhooks/providers/{provider}/commission"
    # (method, documented path, url, request, the status and code it must answer)
    cases: list[tuple[str, str, str, dict[str, Any], int, ErrorCode]] = [
        ("post", "/v1/orders", "/v1/orders", {}, 401, ErrorCode.UNAUTHENTICATED),
        (
            "post",
            "/v1/orders",
            "/v1/orders",
            {"headers": {"authorization": "Bearer pk_unknown"}, "json": {}},
            401,
            ErrorCode.UNAUTHENTICATED,
        ),
        ("post", "/v1/orders", "/v1/orders", {"headers": key, "content": b"{nope"}, 400, ErrorCode.MALFORMED_JSON),
        ("post", "/v1/orders", "/v1/orders", {"headers": key, "json": {}}, 422, ErrorCode.INVALID_INPUT),
        (
            "post",
            "/v1/orders",
            "/v1/orders",
            {"headers": key, "json": {**order, "productId": str(uuid.uuid4())}},
            404,
            ErrorCode.NOT_FOUND,
        ),
        (
            "post",
            "/v1/orders",
            "/v1/orders",
            {"headers": key, "json": {**order, "commission": {"amount": "1.00", "currency": "EUR"}}},
            400,
            ErrorCode.CURRENCY_MISMATCH,
        ),
        (
            "post",
            "/v1/orders",
            "/v1/orders",
            {"headers": key, "content": b" " * (300 * 1024)},
            413,
            ErrorCode.TOO_LARGE,
        ),
        (
            "post",
            "/v1/customers/identify",
            "/v1/customers/identify",
            {"headers": key, "json": {}},
            400,
            ErrorCode.IDENTITY_REQUIRED,
        ),
        ("post", "/v1/customers/identify", "/v1/customers/identify", {"json": {}}, 401, ErrorCode.UNAUTHENTICATED),
        (
            "get",
            "/v1/integration/config",
            "/v1/integration/config",
            {"headers": {"x-api-key": "pk_unknown"}},
            401,
            ErrorCode.UNAUTHENTICATED,
        ),
        ("post", hook, webhook, {"content": good}, 400, ErrorCode.MISSING_HEADERS),
        (
            "post",
            hook,
            webhook,
            {"content": good, "headers": {**sign_as_documented(secret, "msg_1", good), "webhook-signature": "v1,AAAA"}},
            401,
            ErrorCode.INVALID_SIGNATURE,
        ),
        (
            "post",
            hook,
            webhook,
            {"content": good, "headers": sign_as_documented(secret, "m" * 201, good)},
            400,
            ErrorCode.INVALID_HEADER,
        ),
        (
            "post",
            hook,
            "/webhooks/providers/prv_unknown/commission",
            {"content": good, "headers": sign_as_documented(secret, "msg_2", good)},
            404,
            ErrorCode.NOT_FOUND,
        ),
        (
            "post",
            hook,
            webhook,
            {"content": invalid, "headers": sign_as_documented(secret, "msg_3", invalid)},
            422,
            ErrorCode.INVALID_INPUT,
        ),
        (
            "post",
            hook,
            webhook,
            {"content": b"{nope", "headers": sign_as_documented(secret, "msg_4", b"{nope")},
            400,
            ErrorCode.MALFORMED_JSON,
        ),
        ("get", "/exports/{token}", "/exports/not-a-token", {}, 403, ErrorCode.INVALID_EXPORT_LINK),
    ]
    for method, template, url, kwargs, status, code in cases:
        r = await gateway.request(method.upper(), url, **kwargs)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), (method, url, r.text[:300])
        documented = doc["paths"][template][method]["responses"]
        assert code in documented[str(status)]["x-error-codes"], (method, template, status, code)
        conforms(doc, answer_schema(doc, method, template, status), r.json())

    # 429, with Retry-After, from a gateway whose integration limits are tiny
    strict = dataclasses.replace(gateway_settings, integration_rate=0.001, integration_burst=1)
    from services.gateway.app import create_app

    app = create_app(strict, broker=RecordingBroker())
    async with app.router.lifespan_context(app), _client(app) as client:
        await client.get("/v1/integration/config", headers=key)
        r = await client.get("/v1/integration/config", headers=key)
    documented = doc["paths"]["/v1/integration/config"]["get"]["responses"]["429"]
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert r.json()["error"]["code"] in documented["x-error-codes"] and "Retry-After" in documented["headers"]
    conforms(doc, answer_schema(doc, "get", "/v1/integration/config", 429), r.json())
