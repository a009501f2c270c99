"""One GraphQL request makes at most one internal call per service per field type, whatever the page size."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from starlette.types import Receive, Scope, Send

from tests.factories import create_order, gql

QUERY = """{ orders(first: 60) { edges { node { id customer { displayName } integration { name categories { name } }
  category { name } product { name category { name } } } } } }"""


class CountingOrders:
    """The orders API with a count of the calls it receives, by path (served over HTTP by `gateway_over`)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls = inner, Counter[str]()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.calls[scope["path"]] += 1
        await self.inner(scope, receive, send)


@asynccontextmanager
async def gateway_over(settings: Any, orders: Any, asgi_server: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway whose orders service is `orders` (an ASGI app) served on a local port."""
    from services.gateway.app import create_app

    async with asgi_server(orders) as url:
        app = create_app(dataclasses.replace(settings, orders_api_url=url))
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
                yield client


async def test_orders_page_makes_one_call_per_field_type(settings, orders_app, pool, tenant, asgi_server):
    for i in range(60):
        await create_order(pool, tenant, product=("Broadband", "Credit Cards", "Current Accounts", "App card")[i % 4])
    counting = CountingOrders(orders_app)
    async with gateway_over(settings, counting, asgi_server) as client:
        body = await gql(client, QUERY, token=tenant.admin_token)
    assert "errors" not in body, body
    assert len(body["data"]["orders"]["edges"]) == 60
    # The page brings its customers, integrations, categories and products along (expand);
    # relations nested deeper (an integration's categories, a product's category) are one batch.
    assert counting.calls == Counter(
        {
            "/internal/auth/memberships": 1,
            "/internal/orders/list": 1,
            "/internal/categories/batch": 1,
        }
    )
    first = body["data"]["orders"]["edges"][0]["node"]
    assert first["customer"]["displayName"] and first["integration"]["name"] in ("Web Marketplace", "Mobile App")


async def test_single_orders_resolve_relations_through_loaders(settings, orders_app, pool, tenant, asgi_server):
    orders = [await create_order(pool, tenant) for _ in range(3)]
    query = (
        "{ "
        + " ".join(
            f'o{i}: order(id: "{o["id"]}") {{ customer {{ id }} integration {{ name }} }}' for i, o in enumerate(orders)
        )
        + " }"
    )
    counting = CountingOrders(orders_app)
    async with gateway_over(settings, counting, asgi_server) as client:
        body = await gql(client, query, token=tenant.admin_token)
    assert "errors" not in body, body
    assert {body["data"][f"o{i}"]["customer"]["id"] for i in range(3)} == {str(o["customer_id"]) for o in orders}
    assert counting.calls == Counter(
        {
            "/internal/auth/memberships": 1,
            "/internal/orders/batch": 1,
            "/internal/customers/batch": 1,
            "/internal/integrations/batch": 1,
        }
    )


async def test_a_dashboard_session_resolves_its_viewer_once_per_cache_period(settings, orders_app, tenant, asgi_server):
    counting = CountingOrders(orders_app)
    async with gateway_over(settings, counting, asgi_server) as client:
        for _ in range(3):
            assert (await gql(client, "{ me { role } }", token=tenant.admin_token))["data"]["me"]["role"] == "ADMIN"
        assert counting.calls["/internal/auth/memberships"] == 1
        other = await gql(client, "{ me { role } }", token=tenant.member_token)
        assert other["data"]["me"]["role"] == "MEMBER"  # keyed by token: never another user's viewer
        assert counting.calls["/internal/auth/memberships"] == 2
