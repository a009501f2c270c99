"""Shared by the Mixpanel tests: the fake peer (its own process on a free port), settings pointing both regions
at it, a connected project, events stored in the insights store, and forwarding run until it stops."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from infra.embedded import free_port
from services.insights.repository import mixpanel as store
from services.insights.service import mixpanel as workflow
from services.insights.service import mixpanel_peer
from shared.db import tenant_tx
from tests.fakes.mixpanel import FakeMixpanel


@pytest.fixture(scope="session")
def fake_mixpanel() -> Iterator[FakeMixpanel]:
    fake = FakeMixpanel(free_port()).start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="session")
def mixpanel_settings(settings: Any, orders_url: str, fake_mixpanel: FakeMixpanel) -> Any:
    return dataclasses.replace(
        settings,
        orders_api_url=orders_url,
        mixpanel_ingest_url_us=fake_mixpanel.url("us"),
        mixpanel_ingest_url_eu=fake_mixpanel.url("eu"),
        mixpanel_query_url_us=fake_mixpanel.url("us"),
        mixpanel_query_url_eu=fake_mixpanel.url("eu"),
    )


@pytest.fixture
async def orders_contacts(mixpanel_settings: Any) -> AsyncIterator[workflow.OrdersContacts]:
    client = workflow.OrdersContacts.from_settings(mixpanel_settings)
    yield client
    await mixpanel_peer.close_sessions()
    if client._session is not None:
        await client._session.close()


@dataclasses.dataclass
class Project:
    project_id: str
    token: str
    username: str
    secret: str
    region: str = "US"

    def input(self, **kw: Any) -> workflow.ConnectInput:
        values: dict[str, Any] = {
            "project_id": self.project_id,
            "project_token": self.token,
            "username": self.username,
            "secret": self.secret,
            "region": self.region,
            "forward_contacts": False,
            "event_types": ["page_view"],
        }
        values.update(kw)
        return workflow.ConnectInput(**values)


async def new_project(fake: FakeMixpanel, region: str = "US") -> Project:
    n = uuid.uuid4().int % 10**9
    p = Project(str(n), f"tok{uuid.uuid4().hex}", f"sa-{n}.mp-service-account", uuid.uuid4().hex, region)
    await fake.add_project(p.project_id, p.token, p.username, p.secret, region.lower())
    return p


async def store_events(
    insights_pool: asyncpg.Pool,
    org_id: uuid.UUID,
    integration_id: uuid.UUID,
    specs: list[dict[str, Any]],
) -> list[uuid.UUID]:
    """Events written to the insights store as ingestion leaves them (type, time, customer, amount, properties)."""
    ids = []
    now = datetime.now(UTC)
    async with tenant_tx(insights_pool, org_id) as conn:
        for day in sorted({spec.get("at", now).date() for spec in specs} | {now.date()}):
            await conn.execute("SELECT ensure_event_partitions($1, $1)", day)  # only the days used: quick
        for spec in specs:
            amount = spec.get("amount")
            row = await conn.fetchrow(
                """INSERT INTO events (org_id, occurred_at, integration_id, source_key, type, class, customer_id,
                                       amount, currency, entity_id, state, properties)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id""",
                org_id,
                spec.get("at", now - timedelta(minutes=5)),
                integration_id,
                uuid.uuid4().hex,
                spec["type"],
                spec.get("class", "behaviour"),
                spec.get("customer"),
                Decimal(amount) if amount is not None else None,
                spec.get("currency") if amount is not None else None,
                spec.get("entity"),
                spec.get("state"),
                spec.get("properties") or {},  # the pool encodes JSONB
            )
            assert row is not None
            ids.append(row["id"])
    return ids


async def drain(
    insights_pool: asyncpg.Pool,
    settings: Any,
    orders: workflow.OrdersContacts,
    org_id: uuid.UUID,
    connection_id: uuid.UUID,
    *,
    timeout: float = 30.0,
) -> workflow.Round:
    """Forwards until caught up, sleeping through back-offs as the ticker would (a test's timeout at most)."""
    total = workflow.Round()
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        r = await workflow.forward(insights_pool, settings, orders, org_id, connection_id, budget_seconds=5)
        total.batches += r.batches
        total.events += r.events
        total.failed += r.failed
        total.profiles += r.profiles
        if r.stopped in ("caught_up", "paused", "gone"):
            total.stopped = r.stopped
            return total
        assert asyncio.get_running_loop().time() < deadline, f"forwarding did not catch up: {r}"
        if r.stopped == "waiting":
            async with tenant_tx(insights_pool, org_id) as conn:
                c = await store.get(conn, org_id, connection_id)
            assert c is not None and c.next_attempt_at is not None
            wait = max(0.0, (c.next_attempt_at - datetime.now(UTC)).total_seconds()) + 0.05
            assert asyncio.get_running_loop().time() + wait < deadline, f"waiting {wait:.0f} s: {c.last_error}"
            await asyncio.sleep(wait)
