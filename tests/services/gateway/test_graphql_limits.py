"""Abuse limits of the GraphQL endpoint and what production mode hides (and must not hide)."""

from __future__ import annotations

import dataclasses
import functools
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import httpx
import orjson
import pytest
from graphql.language import Lexer, Source, TokenKind
from starlette.types import Message, Receive, Scope, Send

from services.gateway.graphql.schema import MAX_ALIASES, MAX_DEPTH, MAX_TOKENS
from tests.factories import Tenant, gql

ORG_NAME = "{ organisation { name } }"


async def org_name(client: httpx.AsyncClient, tenant: Tenant) -> str:
    body = await gql(client, ORG_NAME, token=tenant.admin_token)
    assert "errors" not in body, body
    return body["data"]["organisation"]["name"]


def messages(body: dict[str, Any]) -> list[str]:
    return [e["message"] for e in body.get("errors") or []]


def count_tokens(document: str) -> int:
    """Tokens as graphql-core counts them for `max_tokens` (punctuators, names, values; not commas)."""
    lexer, n = Lexer(Source(document)), 0
    while lexer.advance().kind != TokenKind.EOF:
        n += 1
    return n


def nested(levels: int) -> str:
    """`levels` nested selections under a leaf field: never valid, only its depth matters."""
    return "".join(f"l{i} {{ " for i in range(levels)) + "leaf" + " }" * levels


@asynccontextmanager
async def running(settings: Any, orders_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway with `settings` whose orders service answers at `orders_url`."""
    from services.gateway.app import create_app

    app = create_app(dataclasses.replace(settings, orders_api_url=orders_url))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test") as c:
            yield c


@asynccontextmanager
async def running_over(settings: Any, orders: Any, asgi_server: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway whose orders service is `orders` (an ASGI app), served on a local port for the test."""
    async with asgi_server(orders) as url, running(settings, url) as client:
        yield client


@pytest.fixture
def production_settings(settings: Any) -> Any:
    prod = dataclasses.replace(settings, environment="production")
    assert prod.production
    return prod


@pytest.fixture
async def production(production_settings: Any, orders_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with running(production_settings, orders_url) as client:
        yield client


# --- depth ----------------------------------------------------------------------------------


async def test_depth_limit_rejects_before_any_resolver(gateway: httpx.AsyncClient, tenant: Tenant) -> None:
    """On this schema no valid selection is deeper than 8 (the limit is a backstop), so the over-deep
    documents are also invalid otherwise; the depth error appears exactly past 8 and nothing runs."""
    before = await org_name(gateway, tenant)
    # updateSettings (depth 0) > organisation (1) > name (2) > l0 (3) ... : the field at depth 9 is too deep.
    too_deep = f'mutation {{ updateSettings(input: {{name: "Deep"}}) {{ organisation {{ name {{ {nested(6)} }} }} }} }}'
    body = await gql(gateway, too_deep, token=tenant.admin_token)
    assert body["data"] is None
    assert f"'anonymous' exceeds maximum operation depth of {MAX_DEPTH}" in messages(body)
    assert await org_name(gateway, tenant) == before

    # One level less: refused for its invalid selection, but not for depth.
    at_limit = f'mutation {{ updateSettings(input: {{name: "Deep"}}) {{ organisation {{ name {{ {nested(5)} }} }} }} }}'
    body = await gql(gateway, at_limit, token=tenant.admin_token)
    assert body["data"] is None and body["errors"]
    assert not any("depth" in m for m in messages(body)), body
    assert await org_name(gateway, tenant) == before


async def test_depth_counts_through_fragments(gateway: httpx.AsyncClient, tenant: Tenant) -> None:
    query = "query Deep { ...A } fragment A on Query { me { ...B } } fragment B on Me { role { " + nested(8) + " } }"
    body = await gql(gateway, query, token=tenant.admin_token)
    assert body["data"] is None
    assert f"'Deep' exceeds maximum operation depth of {MAX_DEPTH}" in messages(body)


async def test_deepest_valid_query_runs(gateway: httpx.AsyncClient, tenant: Tenant) -> None:
    query = (
        "{ orders(first: 1) { edges { node { product { commissionRate { amount } category { name } } "
        "integration { categories { name } } } } } }"
    )
    body = await gql(gateway, query, token=tenant.admin_token)
    assert "errors" not in body, body


# --- aliases --------------------------------------------------------------------------------


async def test_alias_limit(gateway: httpx.AsyncClient, tenant: Tenant) -> None:
    ok = "{ " + " ".join(f"a{i}: me {{ role }}" for i in range(MAX_ALIASES)) + " }"
    body = await gql(gateway, ok, token=tenant.admin_token)
    assert "errors" not in body, body
    assert len(body["data"]) == MAX_ALIASES

    over = "{ " + " ".join(f"a{i}: me {{ role }}" for i in range(MAX_ALIASES + 1)) + " }"
    body = await gql(gateway, over, token=tenant.admin_token)
    assert body["data"] is None
    assert messages(body) == [f"{MAX_ALIASES + 1} aliases found. Allowed: {MAX_ALIASES}"]


async def test_alias_limit_counts_nested_aliases_and_runs_no_mutation(
    gateway: httpx.AsyncClient, tenant: Tenant
) -> None:
    before = await org_name(gateway, tenant)
    fields = " ".join(f"n{i}: name" for i in range(MAX_ALIASES))
    # 20 aliases inside the payload plus the mutation's own alias: 21 in all.
    query = f'mutation {{ renamed: updateSettings(input: {{name: "Aliased"}}) {{ organisation {{ {fields} }} }} }}'
    body = await gql(gateway, query, token=tenant.admin_token)
    assert body["data"] is None
    assert any("aliases found" in m for m in messages(body)), body
    assert await org_name(gateway, tenant) == before
    # Many aliased copies of the mutation itself.
    many = (
        "mutation { "
        + " ".join(
            f'm{i}: updateSettings(input: {{name: "Batch {i}"}}) {{ errors {{ code }} }}'
            for i in range(MAX_ALIASES + 5)
        )
        + " }"
    )
    body = await gql(gateway, many, token=tenant.admin_token)
    assert body["data"] is None and any("aliases found" in m for m in messages(body))
    assert await org_name(gateway, tenant) == before


# --- tokens ---------------------------------------------------------------------------------


def statuses_document(k: int) -> str:
    return "{ orders(first: 1, filter: {statuses: [" + "PENDING " * k + "]}) { edges { cursor } } }"


async def test_token_limit_boundary(gateway: httpx.AsyncClient, tenant: Tenant) -> None:
    k = MAX_TOKENS - count_tokens(statuses_document(0))
    at_limit, over = statuses_document(k), statuses_document(k + 1)
    assert count_tokens(at_limit) == MAX_TOKENS and count_tokens(over) == MAX_TOKENS + 1
    body = await gql(gateway, at_limit, token=tenant.admin_token)
    # Past the parser: the resolver ran and the orders service judged the (long) filter itself.
    assert not any("tokens" in m for m in messages(body)), messages(body)
    assert all(e.get("path") == ["orders"] for e in body.get("errors") or []), body
    body = await gql(gateway, over, token=tenant.admin_token)
    assert body["data"] is None
    assert messages(body) == [f"Syntax Error: Document contains more than {MAX_TOKENS} tokens. Parsing aborted."]


async def test_token_limit_runs_no_mutation(gateway: httpx.AsyncClient, tenant: Tenant) -> None:
    before = await org_name(gateway, tenant)
    padding = " ".join(["errors { code }"] * 600)  # 4 tokens each
    query = f'mutation {{ updateSettings(input: {{name: "Padded"}}) {{ {padding} }} }}'
    assert count_tokens(query) > MAX_TOKENS
    body = await gql(gateway, query, token=tenant.admin_token)
    assert body["data"] is None and "more than 2000 tokens" in messages(body)[0]
    assert await org_name(gateway, tenant) == before
    # Control: the same mutation, unpadded, does change the organisation.
    body = await gql(
        gateway, 'mutation { updateSettings(input: {name: "Padded"}) { errors { code } } }', token=tenant.admin_token
    )
    assert body["data"]["updateSettings"]["errors"] == []
    assert await org_name(gateway, tenant) == "Padded"


async def test_limits_hold_when_validation_is_cached(gateway: httpx.AsyncClient, tenant: Tenant) -> None:
    """Parsing and validation are cached across requests: a refused document stays refused, and a
    cached valid document is still served."""
    from strawberry.extensions.validation_cache import _get_validate_cache

    over = "{ " + " ".join(f"a{i}: me {{ role }}" for i in range(MAX_ALIASES + 1)) + " }"
    for _ in range(3):
        assert (await gql(gateway, over, token=tenant.admin_token))["data"] is None
    query = "{ me { role } __typename }"
    await gql(gateway, query, token=tenant.admin_token)
    # strawberry annotates its shared validator as a plain callable; it is an lru_cache wrapper
    validate = cast("functools._lru_cache_wrapper[Any]", _get_validate_cache(512))
    hits = validate.cache_info().hits
    for _ in range(3):
        assert (await gql(gateway, query, token=tenant.admin_token))["data"]["me"]["role"] == "ADMIN"
    assert validate.cache_info().hits >= hits + 3


# --- production mode ------------------------------------------------------------------------


async def test_production_rejects_introspection(
    production: httpx.AsyncClient, gateway: httpx.AsyncClient, tenant: Tenant
) -> None:
    for query in (
        "{ __schema { types { name } } }",
        '{ __type(name: "Query") { fields { name } } }',
        "query { me { role } __schema { queryType { name } } }",
    ):
        body = await gql(production, query, token=tenant.admin_token)
        assert body["data"] is None, body
        assert any("introspection has been disabled" in m for m in messages(body)), body
    # __typename is not introspection of the schema and stays available.
    body = await gql(production, "{ __typename me { role } }", token=tenant.admin_token)
    assert body["data"] == {"__typename": "Query", "me": {"role": "ADMIN"}}
    # Development keeps introspection, for GraphiQL.
    body = await gql(gateway, "{ __schema { queryType { name } } }", token=tenant.admin_token)
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_production_serves_no_graphiql(production: httpx.AsyncClient, tenant: Tenant) -> None:
    for headers in ({"accept": "text/html"}, {"accept": "text/html", **tenant.headers()}):
        r = await production.get("/graphql", headers=headers)
        assert r.status_code in (400, 401, 404, 405), (r.status_code, r.text[:200])
        assert "text/html" not in r.headers.get("content-type", "")
        assert "graphiql" not in r.text.lower()
    # Queries via GET are off in production too, even authenticated.
    r = await production.get("/graphql", params={"query": "{ me { role } }"}, headers=tenant.headers())
    assert r.status_code != 200 and "ADMIN" not in r.text


async def test_development_serves_graphiql(gateway: httpx.AsyncClient, tenant: Tenant) -> None:
    r = await gateway.get("/graphql", headers={"accept": "text/html"})
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    # ... and still no queries via GET.
    r = await gateway.get("/graphql", params={"query": "{ me { role } }"}, headers=tenant.headers())
    assert r.status_code != 200 and "ADMIN" not in r.text


async def test_production_limits_apply(production: httpx.AsyncClient, tenant: Tenant) -> None:
    over = "{ " + " ".join(f"a{i}: me {{ role }}" for i in range(MAX_ALIASES + 1)) + " }"
    assert messages(await gql(production, over, token=tenant.admin_token)) == [
        f"{MAX_ALIASES + 1} aliases found. Allowed: {MAX_ALIASES}"
    ]
    deep = "{ me { role { " + nested(8) + " } } }"
    assert any("depth" in m for m in messages(await gql(production, deep, token=tenant.admin_token)))
    body = await gql(production, statuses_document(MAX_TOKENS), token=tenant.admin_token)
    assert "more than 2000 tokens" in messages(body)[0]


class BrokenOrders:
    """The orders service as far as sign-in goes (/internal/auth/*), broken for everything else."""

    SECRET = "orders-db-7.internal.example:5432 password=hunter2"

    def __init__(self, orders_app: Any, mode: str) -> None:
        self.inner, self.mode = orders_app, mode

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"].startswith("/internal/auth/"):
            await self.inner(scope, receive, send)
            return
        body = orjson.dumps({"unexpected": self.SECRET})
        start: Message = {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
        if self.mode == "unreachable":
            # The connection drops mid-answer: promise more bytes than ever come, then fail, and the
            # server closes the socket (the gateway's client sees a transport error).
            start["headers"].append((b"content-length", str(len(body) + 100).encode()))
            await send(start)
            await send({"type": "http.response.body", "body": body[:5], "more_body": True})
            raise ConnectionResetError(f"connection reset: {self.SECRET}")
        # "garbage": a 200 whose body the gateway cannot make sense of (a KeyError in a resolver).
        start["headers"].append((b"content-length", str(len(body)).encode()))
        await send(start)
        await send({"type": "http.response.body", "body": body})


async def test_production_masks_unexpected_errors(
    production_settings: Any, orders_app: Any, tenant: Tenant, asgi_server: Any
) -> None:
    async with running_over(production_settings, BrokenOrders(orders_app, "garbage"), asgi_server) as client:
        body = await gql(client, "{ me { role } organisation { name } }", token=tenant.admin_token)
    assert body["data"] is None
    [error] = body["errors"]
    assert error["message"] == "Internal error"
    assert error["path"] == ["organisation"]
    assert not error.get("extensions")
    text = str(body)
    for leak in ("KeyError", "hunter2", "orders-db-7", "unexpected", "Traceback"):
        assert leak not in text, (leak, body)


@pytest.mark.parametrize("production", [True, False])
async def test_unreachable_service_is_a_retryable_error_without_detail(
    production_settings: Any, settings: Any, orders_app: Any, tenant: Tenant, production: bool, asgi_server: Any
) -> None:
    async with running_over(
        production_settings if production else settings, BrokenOrders(orders_app, "unreachable"), asgi_server
    ) as client:
        body = await gql(client, "{ me { role } organisation { name } }", token=tenant.admin_token)
    [error] = body["errors"]
    assert error["extensions"] == {"code": "UNAVAILABLE", "field": None}
    assert error["path"] == ["organisation"]
    for leak in ("ConnectError", "hunter2", "orders-db-7", "Traceback"):
        assert leak not in str(body), (leak, body)


async def test_development_does_not_mask(settings: Any, orders_app: Any, tenant: Tenant, asgi_server: Any) -> None:
    assert not settings.production
    async with running_over(settings, BrokenOrders(orders_app, "garbage"), asgi_server) as client:
        body = await gql(client, "{ organisation { name } }", token=tenant.admin_token)
    [error] = body["errors"]
    assert error["message"] != "Internal error"
    assert "id" in error["message"]  # the KeyError's text


async def test_production_keeps_expected_errors(production: httpx.AsyncClient, tenant: Tenant) -> None:
    async def error_of(query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = await gql(production, query, variables, token=tenant.admin_token)
        assert body.get("errors"), body
        return body["errors"][0]

    for first in (1000, 0, -1):
        e = await error_of(f"{{ orders(first: {first}) {{ edges {{ cursor }} }} }}")
        assert e["extensions"]["code"] == "INVALID_PAGE_SIZE" and e["extensions"]["field"] == "first", e
        assert "between 1 and" in e["message"]
    e = await error_of('{ orders(first: 5, after: "garbage") { edges { cursor } } }')
    assert e["extensions"] == {"code": "INVALID_CURSOR", "field": "after"}, e
    e = await error_of('{ customers(first: 5, after: "garbage") { edges { cursor } } }')
    assert e["extensions"]["code"] == "INVALID_CURSOR", e

    e = await error_of("{ orders(first: 5, filter: {statuses: [BOGUS]}) { edges { cursor } } }")
    assert "BOGUS" in e["message"] and "OrderStatus" in e["message"] and "path" not in e, e
    e = await error_of('{ orders(first: 5, filter: {range: {from: "not-a-date"}}) { edges { cursor } } }')
    assert "Date" in e["message"], e

    body = await gql(production, '{ customer(id: "not-a-uuid") { id } }', token=tenant.admin_token)
    assert body["data"] == {"customer": None}
    assert body["errors"][0]["extensions"] == {"code": "INVALID_ID", "field": "id"}
    e = await error_of('{ order(id: "nope") { id } }')
    assert e["extensions"] == {"code": "INVALID_ID", "field": "id"}
    e = await error_of('{ orders(first: 5, filter: {categoryIds: ["nope"]}) { edges { cursor } } }')
    assert e["extensions"] == {"code": "INVALID_ID", "field": "filter.categoryIds"}
    e = await error_of("{ nosuchfield }")
    assert "nosuchfield" in e["message"]
    # A member calling an admin mutation is told why.
    body = await gql(
        production, 'mutation { updateSettings(input: {name: "x"}) { errors { code } } }', token=tenant.member_token
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert body["errors"][0]["message"] != "Internal error"


async def test_production_keeps_variable_errors(production: httpx.AsyncClient, tenant: Tenant) -> None:
    """Dashboards send inputs as variables: a value that does not coerce is the client's mistake and
    must be explained, not reported as an internal error."""
    orders = "query($f: OrderFilterInput, $n: Int!) { orders(first: $n, filter: $f) { edges { cursor } } }"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"f": {"statuses": ["BOGUS"]}, "n": 5}, "BOGUS"),
        ({"f": {"range": {"from": "not-a-date"}}, "n": 5}, "not-a-date"),
        ({"n": "abc"}, "abc"),
        ({}, "$n"),
        ({"f": {"unknownField": 1}, "n": 5}, "unknownField"),
    ]
    for variables, mentioned in cases:
        body = await gql(production, orders, variables, token=tenant.admin_token)
        assert body["data"] is None, body
        [error] = body["errors"]
        assert error["message"] != "Internal error", (variables, body)
        assert mentioned in error["message"], (variables, body)
    body = await gql(
        production, "query($id: ID!) { customer(id: $id) { id } }", {"id": str(uuid.uuid4())}, token=tenant.admin_token
    )
    assert body == {"data": {"customer": None}}
