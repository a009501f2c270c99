"""Test harness: real PostgreSQL and Redis, started here unless DATABASE_URL/REDIS_URL are set.

The servers start when the first test that needs them runs (the `servers` fixture), not
before collection: importing any module reads no settings and opens no connection, so
`-m unit` runs without them. Tests isolate by tenancy: each creates its own organisations,
so no test sees another's rows and nothing needs truncating.

Layers (markers added at collection): `unit` (no server), `integration` (real PostgreSQL
and Redis, in-process apps), `e2e` (real processes over HTTP).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from infra.dev_issuer import DevIssuer
from infra.embedded import EmbeddedPostgres, EmbeddedRedis, free_port

_started: dict[str, Any] = {}


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    tmp = Path(tempfile.mkdtemp(prefix="platform-tests-"))
    _started["tmp"] = tmp
    issuer = DevIssuer("https://issuer.test/", "partner-platform-test")
    issuer.add_key()
    server = issuer.serve()
    _started["issuer"], _started["issuer_server"] = issuer, server
    os.environ.update(
        {
            "OIDC_ISSUER": issuer.issuer,
            "OIDC_AUDIENCE": issuer.audience,
            "OIDC_JWKS_URL": f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json",
            "JWKS_MIN_REFRESH_SECONDS": "1",
            "DRAMATIQ_HEARTBEAT_TIMEOUT_MS": "3000",
            "DRAMATIQ_MAINTENANCE_CHANCE": "100000",
            "SERVICE_TOKEN_SECRET": "test-service-secret-0123456789abcdef",
            "EXPORT_TOKEN_SECRET": "test-export-secret-0123456789abcdefgh",
            "GATEWAY_PUBLIC_URL": "http://gateway.test",
            "MAX_PAGE_SIZE": "100",
            "AUTH_CACHE_SECONDS": "1",
        }
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks each test with its layer: `./platform test -m unit` (or `integration`, `e2e`)."""
    for item in items:
        if item.get_closest_marker("e2e"):
            continue
        needs_servers = "servers" in getattr(item, "fixturenames", ())
        item.add_marker(pytest.mark.integration if needs_servers else pytest.mark.unit)


@pytest.fixture(scope="session")
def servers() -> None:
    """PostgreSQL and Redis (embedded unless DATABASE_URL/REDIS_URL are set), with every database bootstrapped."""
    tmp = _started["tmp"]
    if not os.environ.get("DATABASE_URL"):
        os.environ.setdefault("PG_FSYNC", "off")
        pg = EmbeddedPostgres(tmp / "pg", free_port()).start()
        _started["pg"] = pg
        os.environ["DATABASE_URL"] = pg.url
    else:
        os.environ.setdefault("DB_PREFIX", "test_")
    if not os.environ.get("REDIS_URL"):
        redis = EmbeddedRedis(tmp / "redis", free_port()).start(persistent=False)
        _started["redis"] = redis
        os.environ["REDIS_URL"] = redis.url
    from shared.bootstrap import bootstrap
    from shared.config import SERVICES, Settings, get_settings

    get_settings.cache_clear()  # anything read before the servers existed is read again
    asyncio.run(bootstrap(Settings(), SERVICES))


def pytest_unconfigure(config: pytest.Config) -> None:
    if "issuer_server" in _started:
        _started["issuer_server"].shutdown()
    if "redis" in _started:
        _started["redis"].stop()
    if "pg" in _started:
        _started["pg"].stop()
    if "tmp" in _started:
        shutil.rmtree(_started["tmp"], ignore_errors=True)


@pytest.fixture(scope="session")
def settings(servers: None) -> Any:
    from shared.config import Settings

    return Settings()


@pytest.fixture(scope="session")
def issuer() -> DevIssuer:
    return _started["issuer"]


@pytest.fixture(scope="session")
async def pool(settings: Any) -> AsyncIterator[Any]:
    from shared.db import create_pool

    p = await create_pool(settings.service_database_url("orders"), max_size=10)
    yield p
    await p.close()


@pytest.fixture(scope="session")
async def insights_pool(settings: Any) -> AsyncIterator[Any]:
    """The insights database as its application role (row-level security applies)."""
    from shared.db import create_pool

    p = await create_pool(settings.service_database_url("insights"), max_size=5)
    yield p
    await p.close()


@pytest.fixture(scope="session")
async def reports_pool(settings: Any) -> AsyncIterator[Any]:
    """The reports database as its application role (row-level security applies)."""
    from shared.db import create_pool

    p = await create_pool(settings.service_database_url("reports"), max_size=5)
    yield p
    await p.close()


@pytest.fixture(scope="session")
async def owner_pool(settings: Any) -> AsyncIterator[Any]:
    from shared.db import create_pool

    p = await create_pool(settings.service_database_url("orders", "owner"), max_size=2)
    yield p
    await p.close()


@pytest.fixture(scope="session")
async def orders_app(settings: Any) -> AsyncIterator[Any]:
    from services.orders.api.app import create_app

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


class _TestServer(uvicorn.Server):
    """uvicorn inside the test session's event loop; Ctrl-C still stops pytest, not just this server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serve_asgi(app: Any) -> AsyncIterator[str]:
    """Serves `app` over real HTTP on a free local port (its lifespan is the caller's business) and
    yields its base URL: the gateway reaches services with its production client, never an
    in-process transport."""
    # IPPROTO_TCP named, as uvicorn's own sockets do: asyncio sets TCP_NODELAY only on sockets whose proto says
    # TCP, and without it every answer written in two parts waited out the client's delayed ACK (~45 ms a call).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # bound here, so no other process can take the port meanwhile
    port = sock.getsockname()[1]
    server = _TestServer(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, lifespan="off", log_level="warning", log_config=None, access_log=False
        )
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()  # the server failed to start: raise why
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.005)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture(scope="session")
def asgi_server() -> Any:
    """`async with asgi_server(app) as url:` for tests that put their own app in front of a service."""
    return serve_asgi


@pytest.fixture(scope="session")
async def orders_url(orders_app: Any) -> AsyncIterator[str]:
    """The orders API served by uvicorn for the whole session, as the gateway reaches it in production."""
    async with serve_asgi(orders_app) as url:
        yield url


@pytest.fixture(scope="session")
async def insights_app(settings: Any, orders_url: str) -> AsyncIterator[Any]:
    """The insights API, reaching the served orders API (identities) as it does in production."""
    from services.insights.api.app import create_app

    app = create_app(dataclasses.replace(settings, orders_api_url=orders_url))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="session")
async def insights_url(insights_app: Any) -> AsyncIterator[str]:
    async with serve_asgi(insights_app) as url:
        yield url


@pytest.fixture(scope="session")
async def reports_app(settings: Any, orders_url: str) -> AsyncIterator[Any]:
    """The reports API (its lifespan run: pools made), pointed at the served orders API (schedules' recipients)."""
    from services.reports.api.app import create_app

    app = create_app(dataclasses.replace(settings, orders_api_url=orders_url))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="session")
async def reports_url(reports_app: Any) -> AsyncIterator[str]:
    async with serve_asgi(reports_app) as url:
        yield url


@pytest.fixture(scope="session")
def gateway_settings(settings: Any, orders_url: str, insights_url: str, reports_url: str) -> Any:
    """The session's settings, with the gateway pointed at the served orders, insights and reports APIs.

    The session's one gateway serves every test, many of them as the same few users in quick
    succession: its admission limits are raised far above what tests send, so that a test is never
    refused for what earlier tests did. Admission control is tested with gateways of its own
    (tests/services/gateway/test_admission.py), with the default and chosen limits.
    """
    generous = {
        "graphql_user_concurrency": 256,
        "graphql_org_concurrency": 512,
        "graphql_user_rate": 10_000.0,
        "graphql_user_burst": 20_000,
        "graphql_org_rate": 10_000.0,
        "graphql_org_burst": 20_000,
        "integration_concurrency": 256,
        "integration_rate": 10_000.0,
        "integration_burst": 20_000,
        "gateway_max_in_flight": 1024,
        "webhook_provider_concurrency": 1024,
        "webhook_provider_rate": 100_000.0,
        "webhook_provider_burst": 200_000,
        "source_concurrency": 1024,
        "source_rate": 100_000.0,
        "source_burst": 200_000,
    }
    return dataclasses.replace(
        settings, orders_api_url=orders_url, insights_api_url=insights_url, reports_api_url=reports_url, **generous
    )


@pytest.fixture(scope="session")
async def gateway_app(gateway_settings: Any) -> AsyncIterator[Any]:
    from services.gateway.app import create_app

    app = create_app(gateway_settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def gateway(gateway_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway_app), base_url="http://gateway.test") as c:
        yield c


@pytest.fixture
async def orders_api(orders_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=orders_app), base_url="http://orders.test") as c:
        yield c


@pytest.fixture
async def tenant(pool: Any, issuer: DevIssuer) -> Any:
    from tests.factories import create_tenant

    return await create_tenant(pool, issuer)


@pytest.fixture
async def other_tenant(pool: Any, issuer: DevIssuer) -> Any:
    from tests.factories import create_tenant

    return await create_tenant(pool, issuer, name="Other Partner")
