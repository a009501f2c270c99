"""One GraphQL request makes at most one internal call per service per field type, whatever the page size."""

from __future__ import annotations

from collections import Counter

import httpx

from tests.factories import create_order, gql

QUERY = """{ orders(first: 60) { edges { node { id customer { displayName } integration { name categories { name } }
  category { name } product { name category { name } } } } } }"""


class CountingTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner, self.calls = inner, Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls[request.url.path] += 1
        return await self.inner.handle_async_request(request)


async def test_orders_page_makes_one_call_per_field_type(settings, orders_app, pool, tenant):
    from services.gateway.app import create_app

    for i in range(60):
        await create_order(pool, tenant, product=("Broadband", "Credit Cards", "Current Accounts", "App card")[i % 4])
    counting = CountingTransport(httpx.ASGITransport(app=orders_app))
    app = create_app(settings, orders_transport=counting)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            body = await gql(client, QUERY, token=tenant.admin_token)
    assert "errors" not in body, body
    assert len(body["data"]["orders"]["edges"]) == 60
    # The page brings its customers, integrations, categories and products along (expand);
    # relations nested deeper (an integration's categories, a product's category) are one batch.
    assert counting.calls == Counter({
        "/internal/auth/memberships": 1, "/internal/orders/list": 1, "/internal/categories/batch": 1,
    })
    first = body["data"]["orders"]["edges"][0]["node"]
    assert first["customer"]["displayName"] and first["integration"]["name"] in ("Web Marketplace", "Mobile App")


async def test_single_orders_resolve_relations_through_loaders(settings, orders_app, pool, tenant):
    from services.gateway.app import create_app

    orders = [await create_order(pool, tenant) for _ in range(3)]
    query = "{ " + " ".join(f'o{i}: order(id: "{o["id"]}") {{ customer {{ id }} integration {{ name }} }}'
                            for i, o in enumerate(orders)) + " }"
    counting = CountingTransport(httpx.ASGITransport(app=orders_app))
    app = create_app(settings, orders_transport=counting)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            body = await gql(client, query, token=tenant.admin_token)
    assert "errors" not in body, body
    assert {body["data"][f"o{i}"]["customer"]["id"] for i in range(3)} == {str(o["customer_id"]) for o in orders}
    assert counting.calls == Counter({"/internal/auth/memberships": 1, "/internal/orders/batch": 1,
                                      "/internal/customers/batch": 1, "/internal/integrations/batch": 1})


async def test_a_dashboard_session_resolves_its_viewer_once_per_cache_period(settings, orders_app, tenant):
    from services.gateway.app import create_app

    counting = CountingTransport(httpx.ASGITransport(app=orders_app))
    app = create_app(settings, orders_transport=counting)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            for _ in range(3):
                assert (await gql(client, "{ me { role } }", token=tenant.admin_token))["data"]["me"]["role"] == "ADMIN"
            assert counting.calls["/internal/auth/memberships"] == 1
            other = await gql(client, "{ me { role } }", token=tenant.member_token)
            assert other["data"]["me"]["role"] == "MEMBER"  # keyed by token: never another user's viewer
            assert counting.calls["/internal/auth/memberships"] == 2
