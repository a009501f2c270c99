"""Gateway variants for A/B measurements of proposed fixes, applied by monkeypatching at start-up.

Nothing here changes production code: each factory patches the imported modules of one gateway
process and then builds the normal app, so `bench/orders_page.py --gateway-app bench.variants:eager`
measures what a fix would buy before anyone writes it. The patches are deliberately narrow (the
orders page only) and are not production-ready code.

- `no_sniffio` (historical): httpcore 1.0.9's `current_async_library()` runs `import sniffio` on every
  call; sniffio was not installed, and a failed import is not cached, so each call searched sys.path
  again (about 4 ms of gateway CPU per orders page). Fixed in 5222da3; since the gateway's clients moved
  wholly to aiohttp (`services/gateway/clients.py`) no gateway code uses httpx, so this changes nothing.
- `eager` (historical): before commit 82679eb, `Order.customer/integration/category` were async
  DataLoader resolvers, so a 50-row page created 150 coroutines, futures and gather tasks; this variant
  made them plain attributes filled by the `orders` resolver (+50% throughput then). 82679eb did it
  properly (related rows come with the page); the variant now refuses to run on that code.
- `auth_cache` (historical, landed in 5222da3 as `ViewerCache`): every GraphQL request verified the JWT
  and called /internal/auth/memberships. Fix: cache the resolved viewer per (token, organisation hint)
  for a few seconds (bounded by the token's expiry); a removed member then keeps access for at most
  that long. This variant's cache now sits in front of the gateway's own.
- `fast_client`: the gateway's internal calls (`ServiceClient.call`) over a small pool of raw HTTP/1.1
  keep-alive connections instead of aiohttp: the floor of what a lighter client could buy. When the
  calls went through httpx they cost ~0.8-1.0 ms of CPU per call on this machine (raw: ~0.05 ms); the
  move to aiohttp took most of that (bench/README.md).
- `all_fixes`: `no_sniffio` + `auth_cache`; `all_fixes_fast_client`: those and `fast_client` (both landed
  in 5222da3 except `fast_client`).
- `plain_relations`: after 82679eb the prefetched `customer/integration/category` are still resolvers
  taking `info` (150 calls per page); here the `orders` resolver sets them as plain attributes, as the
  floor has them. `plain_relations_fast_client`: with `fast_client` too.
- `httpx_calls` (dropped): the gateway with its internal calls back on httpx, measured against aiohttp in
  bench/README.md. The gateway has no httpx client left to switch back to (httpx is a dev dependency
  only), so the figures in the README are the record of that comparison.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from strawberry.types.fields.resolver import StrawberryResolver


def _field_resolver(cls: type, name: str) -> StrawberryResolver[Any]:
    """The resolver of a field of a gateway strawberry type (which a variant wraps or removes)."""
    from strawberry.types.base import get_object_definition

    field = next(f for f in get_object_definition(cls, strict=True).fields if f.python_name == name)
    assert field.base_resolver is not None, f"{cls.__name__}.{name} has no resolver"
    return field.base_resolver


def _no_sniffio() -> None:
    sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]  # import fails at once, httpcore assumes asyncio


def _eager() -> None:
    from strawberry.types.base import get_object_definition

    from services.gateway.graphql import orders as o
    from services.gateway.graphql.catalogue import Category, Integration
    from services.gateway.graphql.customers import Customer

    definition = get_object_definition(o.Order, strict=True)
    if not next(f for f in definition.fields if f.python_name == "customer").is_async:
        raise SystemExit("bench.variants:eager: Order.customer is no longer an async resolver (fixed in 82679eb)")
    for f in definition.fields:
        if f.python_name in ("customer", "integration", "category"):
            resolved = f.type  # from the resolver's return annotation
            f._base_resolver = None
            f.type = resolved
            f.__dict__.pop("is_async", None)
    resolver = _field_resolver(o.OrdersQuery, "orders")
    original = cast("Callable[..., Awaitable[Any]]", resolver.wrapped_func)  # the gateway's async def

    async def orders(self: Any, info: Any, filter: Any = None, first: int = 50, after: str | None = None) -> Any:
        connection = await original(self, info, filter, first, after)
        nodes = [e.node for e in connection.edges]
        ctx = info.context
        customers, integrations, categories = await asyncio.gather(
            ctx.loader("orders", "customers").load_many([n.customer_id for n in nodes]),
            ctx.loader("orders", "integrations").load_many([n.integration_id for n in nodes]),
            ctx.loader("orders", "categories").load_many([n.category_id for n in nodes]),
        )
        for n, c, i, k in zip(nodes, customers, integrations, categories, strict=True):  # load_many: one per key
            n.customer = Customer.from_row(c) if c else None
            n.integration = Integration.from_row(i) if i else None
            n.category = Category.from_row(k) if k else None
        return connection

    resolver.wrapped_func = orders


def _auth_cache(ttl: float = 10.0) -> None:
    from services.gateway import app as gateway_app
    from services.gateway.auth import Viewer, ViewerCache
    from services.gateway.clients import OrdersClient
    from shared.auth.user_tokens import JwksVerifier

    original = gateway_app.authenticate
    viewers: dict[tuple[str | None, str | None], tuple[float, Viewer]] = {}

    async def authenticate(
        authorization: str | None,
        org_hint: str | None,
        verifier: JwksVerifier,
        orders: OrdersClient,
        cache: ViewerCache | None = None,
    ) -> Viewer:
        key = (authorization, org_hint)
        hit = viewers.get(key)
        now = time.monotonic()
        if hit and hit[0] > now:
            return hit[1]
        viewer = await original(authorization, org_hint, verifier, orders, cache)
        if len(viewers) > 10_000:
            viewers.clear()
        viewers[key] = (now + ttl, viewer)  # a production version would also cap at the token's exp
        return viewer

    gateway_app.authenticate = authenticate


def _fast_client() -> None:
    """ServiceClient.call over a small pool of raw HTTP/1.1 keep-alive connections (bench-quality code)."""
    from urllib.parse import urlsplit

    from services.gateway import clients
    from shared.http import dumps

    pools: dict[str, list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}

    async def request(
        self: Any, method: str, path: str, body: bytes | None, headers: dict[str, str], params: dict[str, str] | None
    ) -> tuple[int, bytes]:
        base = urlsplit(self.base_url)
        idle = pools.setdefault(self.base_url, [])
        if params:
            from urllib.parse import urlencode

            path = f"{path}?{urlencode(params)}"
        head = [
            f"{method} {path} HTTP/1.1",
            f"host: {base.hostname}:{base.port}",
            f"content-length: {len(body or b'')}",
        ] + [f"{k}: {v}" for k, v in headers.items()]
        raw = ("\r\n".join(head) + "\r\n\r\n").encode() + (body or b"")
        for _attempt in range(len(idle) + 2):  # idle connections may have been closed by the server meanwhile
            fresh = not idle
            conn = idle.pop() if idle else await asyncio.open_connection(base.hostname, base.port)
            reader, writer = conn
            try:
                writer.write(raw)
                response_head = await reader.readuntil(b"\r\n\r\n")
            except (OSError, asyncio.IncompleteReadError):
                writer.close()
                if fresh:
                    raise clients.Unavailable(f"{self.service} service unreachable") from None
                continue
            status = int(response_head[9:12])
            length, chunked = 0, False
            for line in response_head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                k = k.strip().lower()
                if k == b"content-length":
                    length = int(v)
                elif k == b"transfer-encoding":
                    chunked = True
            if chunked:
                parts = []
                while True:
                    size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    chunk = await reader.readexactly(size + 2)
                    if size == 0:
                        break
                    parts.append(chunk[:-2])
                content = b"".join(parts)
            else:
                content = await reader.readexactly(length)
            idle.append(conn)
            return status, content
        raise clients.Unavailable(f"{self.service} service unreachable")

    async def call(
        self: Any,
        method: str,
        path: str,
        *,
        org_id: Any = None,
        subject: str | None = None,
        role: str | None = None,
        provider_id: str | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> Any:
        status, answer = await request(
            self,
            method,
            path,
            content if content is not None else dumps(json) if json is not None else None,
            self._headers(org_id, subject, role, headers, provider_id),
            params,
        )
        return self._result(status, answer)

    clients.ServiceClient.call = call  # type: ignore[method-assign]  # the A/B patch replaces the method


def _plain_relations() -> None:
    """Prefetched relations as plain attributes, set by the `orders` resolver (no resolver call per row)."""
    from strawberry.types.base import get_object_definition

    from services.gateway.graphql import orders as o
    from services.gateway.graphql.catalogue import Category, Integration, Product
    from services.gateway.graphql.customers import Customer
    from shared.api_contracts import OrderRelation

    builders = {
        OrderRelation.CUSTOMER: Customer.from_row,
        OrderRelation.INTEGRATION: Integration.from_row,
        OrderRelation.CATEGORY: Category.from_row,
        OrderRelation.PRODUCT: Product.from_row,
    }
    for f in get_object_definition(o.Order, strict=True).fields:
        if f.python_name in builders:
            resolved = f.type
            f._base_resolver = None
            f.type = resolved
            f.__dict__.pop("is_async", None)
    resolver = _field_resolver(o.OrdersQuery, "orders")
    original = cast("Callable[..., Awaitable[Any]]", resolver.wrapped_func)  # the gateway's async def

    async def orders(self: Any, info: Any, filter: Any = None, first: int = 50, after: str | None = None) -> Any:
        connection = await original(self, info, filter, first, after)
        for e in connection.edges:
            n = e.node
            for relation, related in n.related.items():
                setattr(n, relation.value, builders[relation](related) if related else None)
        return connection

    resolver.wrapped_func = orders


def _build() -> Any:
    from services.gateway.app import app

    return app()


def no_sniffio() -> Any:
    _no_sniffio()
    return _build()


def eager() -> Any:
    _eager()
    return _build()


def auth_cache() -> Any:
    _auth_cache()
    return _build()


def all_fixes() -> Any:
    _no_sniffio()
    _auth_cache()
    return _build()


def fast_client() -> Any:
    _fast_client()
    return _build()


def all_fixes_fast_client() -> Any:
    _no_sniffio()
    _auth_cache()
    _fast_client()
    return _build()


def plain_relations() -> Any:
    _plain_relations()
    return _build()


def plain_relations_fast_client() -> Any:
    _plain_relations()
    _fast_client()
    return _build()
