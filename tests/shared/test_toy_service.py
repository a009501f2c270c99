"""A service defined only in tests works end to end through the kit: migrations, API, relay, worker.

The toy service (tests/shared/toy) includes the kit's SQL, serves one endpoint, and consumes
the orders service's events through a declared subscription. Nothing of it is copied from
the orders service, which is the point: a new service needs no copying.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.auth import service_tokens
from shared.bootstrap import bootstrap_service
from shared.db import create_pool, tenant_tx
from shared.messaging.broker import get_broker
from shared.messaging.relay import relay_once
from tests.factories import create_order
from tests.workers import running_worker

TOY_MIGRATIONS = Path(__file__).parent / "toy" / "migrations"


@pytest.fixture(scope="module")
async def toy_pool(settings: Any) -> AsyncIterator[Any]:
    await bootstrap_service(settings, "toy", migrations=TOY_MIGRATIONS)
    pool = await create_pool(settings.service_database_url("toy"), max_size=4)
    yield pool
    await pool.close()


@pytest.fixture(scope="module")
async def toy_api(settings: Any, toy_pool: Any) -> AsyncIterator[httpx.AsyncClient]:
    from shared.service.app import create_service_app
    from tests.shared.toy import service as toy

    app = create_service_app("toy", toy.routes, settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://toy.test") as client:
            yield client


def _headers(settings: Any, org_id: Any, audience: str = "toy") -> dict[str, str]:
    token = service_tokens.mint(
        settings.service_token_secret,
        caller="gateway",
        audience=audience,
        org_id=str(org_id),
        subject="auth0|someone",
        role="member",
    )
    return {"authorization": f"Bearer {token}"}


async def _consume(toy_pool: Any, expect: Any, timeout: float = 20) -> None:
    """Runs a real Dramatiq worker on the toy queue (its pool made at worker boot) until `expect()` holds."""
    from shared.service.worker import setup_worker
    from tests.shared.toy import service as toy

    setup_worker("toy", configure_logging=False)
    with running_worker({toy.SUBSCRIPTION.queue}, threads=2):
        deadline = asyncio.get_running_loop().time() + timeout
        while not await expect():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("the toy worker did not apply the events in time")
            await asyncio.sleep(0.1)


async def _fresh_tenant(pool: Any, issuer: Any) -> Any:
    """A new tenant whose events are the only unsent ones: earlier tests' events are marked sent first."""
    from tests.factories import create_tenant

    while await relay_once(pool, "orders", subscriptions=()):
        pass
    return await create_tenant(pool, issuer)


async def test_toy_service_consumes_orders_events_once_and_serves_its_own_rows(
    settings, pool, issuer, toy_pool, toy_api, other_tenant
):
    from tests.shared.toy import service as toy

    tenant = await _fresh_tenant(pool, issuer)
    await create_order(pool, tenant, email="toy@example.com")
    await create_order(pool, tenant)
    subs = (toy.SUBSCRIPTION,)
    published = 0
    while n := await relay_once(pool, "orders", subscriptions=subs):
        published += n
    assert published >= 2

    async def applied() -> bool:
        async with tenant_tx(toy_pool, tenant.org_id) as conn:
            count = await conn.fetchval("SELECT orders FROM order_counts WHERE org_id = $1", tenant.org_id)
            tz = await conn.fetchval("SELECT time_zone FROM organisation_settings WHERE org_id = $1", tenant.org_id)
        return count == 2 and tz == "Europe/London"

    await _consume(toy_pool, applied)

    # The same events again (a replay, or a redelivery after a crash) change nothing.
    broker = get_broker()
    async with tenant_tx(pool, tenant.org_id) as conn:
        rows = await conn.fetch("SELECT * FROM outbox WHERE org_id = $1", tenant.org_id)
    from shared.messaging.contracts import envelope

    for row in rows:
        toy.on_orders_event.send(
            envelope(
                id=row["id"],
                type=row["type"],
                org_id=row["org_id"],
                occurred_at=row["occurred_at"],
                version=row["version"],
                payload=row["payload"],
            )
        )

    async def drained() -> bool:
        return int(broker.client.hlen(f"{broker.namespace}:{toy.SUBSCRIPTION.queue}.msgs")) == 0

    await _consume(toy_pool, drained)
    async with tenant_tx(toy_pool, tenant.org_id) as conn:
        assert await conn.fetchval("SELECT orders FROM order_counts WHERE org_id = $1", tenant.org_id) == 2

    # The endpoint: the toy audience only, the organisation from the token, rows under RLS.
    r = await toy_api.post("/internal/notes", json={"body": "hello"}, headers=_headers(settings, tenant.org_id))
    assert r.status_code == 200, r.text
    assert r.json()["time_zone"] == "Europe/London"  # from the local, event-fed copy
    r = await toy_api.post("/internal/notes", json={"body": "x"}, headers=_headers(settings, tenant.org_id, "orders"))
    assert r.status_code == 401
    r = await toy_api.post("/internal/notes", json={"body": ""}, headers=_headers(settings, tenant.org_id))
    assert r.status_code == 422 and r.json()["error"]["field"] == "body"
    mine = (await toy_api.get("/internal/notes", headers=_headers(settings, tenant.org_id))).json()
    theirs = (await toy_api.get("/internal/notes", headers=_headers(settings, other_tenant.org_id))).json()
    assert [n["body"] for n in mine] == ["hello"] and theirs == []
    async with tenant_tx(toy_pool, uuid.uuid4()) as conn:  # RLS: no organisation's rows without the organisation
        assert await conn.fetchval("SELECT count(*) FROM notes") == 0

    # Its own outbox: the note's event is published by the same relay code.
    sent = 0
    while n := await relay_once(toy_pool, "toy", subscriptions=()):
        sent += n
    assert sent >= 1


async def test_organisation_settings_copy_follows_changes_and_ignores_older_events(
    settings, pool, issuer, toy_pool, gateway
):
    from tests.factories import gql
    from tests.shared.toy import service as toy

    tenant = await _fresh_tenant(pool, issuer)
    body = await gql(
        gateway,
        'mutation { updateSettings(input: {timeZone: "Asia/Kolkata"}) { errors { field } } }',
        token=tenant.admin_token,
    )
    assert body["data"]["updateSettings"]["errors"] == []
    while await relay_once(pool, "orders", subscriptions=(toy.SUBSCRIPTION,)):
        pass

    async def copied() -> bool:
        async with tenant_tx(toy_pool, tenant.org_id) as conn:
            tz = await conn.fetchval("SELECT time_zone FROM organisation_settings WHERE org_id = $1", tenant.org_id)
        return bool(tz == "Asia/Kolkata")

    await _consume(toy_pool, copied)
    # An older event arriving late (its organisation.created) does not undo the newer settings.
    async with tenant_tx(pool, tenant.org_id) as conn:
        created = await conn.fetchrow(
            "SELECT * FROM outbox WHERE org_id = $1 AND type = 'organisation.created'", tenant.org_id
        )
    from shared.messaging.contracts import Event
    from shared.service import org_settings

    async with tenant_tx(toy_pool, tenant.org_id) as conn:
        await org_settings.apply(
            conn,
            Event(
                id=created["id"],
                type=created["type"],
                org_id=created["org_id"],
                occurred_at=created["occurred_at"],
                version=1,
                payload=created["payload"],
            ),
        )
        assert (await org_settings.get(conn, tenant.org_id)).time_zone == "Asia/Kolkata"
