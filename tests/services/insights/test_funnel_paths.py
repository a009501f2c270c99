"""funnel_paths (migration 006), the funnel's read model without a category filter, gives exactly the funnel of
its definition: per customer the first occurrence of each step in the range (funnel_firsts), counted in order,
medians of percentile_cont over the seconds between consecutive firsts. Kept exact by ingestion in any order
(earlier days after later ones), concurrent batches of one customer, merges, expiry, and equal to its rebuild."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.insights.domain.catalogue import STEP_NAMES
from services.insights.repository import analytics as queries
from services.insights.repository import events as store
from services.insights.repository import merges, rollups
from shared.db import connection, tenant_tx
from tests.services.insights import analytics_data as data

# The funnel as defined (the query before migration 006): funnel_firsts grouped per customer.
_FIRSTS = ", ".join(f"min(f.first_at) FILTER (WHERE f.step = {k}) AS s{k}" for k in range(1, 7))
_REACHED = " ".join(f"WHEN s{k} IS NULL{f' OR s{k} < s{k - 1}' if k > 1 else ''} THEN {k - 1}" for k in range(1, 7))
_REFERENCE = f"""
    SELECT {", ".join(f"count(*) FILTER (WHERE reached >= {k}) AS c{k}" for k in range(1, 7))},
           {
    ", ".join(
        f"percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s{k} - s{k - 1}))"
        f" FILTER (WHERE reached >= {k}) AS m{k}"
        for k in range(2, 7)
    )
},
           array_agg(customer_id ORDER BY customer_id) FILTER (WHERE reached >= $5) AS at_step
      FROM (SELECT w.*, CASE {_REACHED} ELSE 6 END AS reached FROM (
              SELECT f.customer_id, {_FIRSTS} FROM funnel_firsts f
               WHERE f.org_id = $1 AND (cardinality($2::uuid[]) = 0 OR f.integration_id = ANY($2::uuid[]))
                 AND f.day >= $3 AND f.day <= $4
               GROUP BY f.customer_id) w) x"""


async def _reference(conn: Any, org: uuid.UUID, integrations: list[uuid.UUID], first: date, last: date, step: int):
    return await conn.fetchrow(_REFERENCE, org, integrations, first, last, step)


async def _assert_exact(conn: Any, org: uuid.UUID, integrations: list[uuid.UUID], first: date, last: date) -> None:
    scope = queries.Scope(org, integration_ids=integrations)
    got = await queries.funnel(conn, scope, first, last)
    for step in range(1, 7):
        ref = await _reference(conn, org, integrations, first, last, step)
        assert got[step - 1].customers == ref[f"c{step}"], (step, first, last, integrations)
        if step > 1:
            assert got[step - 1].median_seconds == ref[f"m{step}"], (step, first, last)
        page = await queries.funnel_customers(conn, scope, first, last, step, 1000, None)
        assert sorted(r["id"] for r in page.rows) == list(ref["at_step"] or []), (step, first, last)
        assert page.total_count == ref[f"c{step}"]


async def _differences(conn: Any, org: uuid.UUID) -> int:
    found = await rollups.rebuild(
        conn, org, ("funnel_paths",), since_day=date(2000, 1, 1), hour_from=datetime.now(UTC), replace=False
    )
    return found[0].total


def _batches(seed: int, base: datetime, customers: list[uuid.UUID], integrations: list[uuid.UUID]):
    """Random funnel events over 8 days (some at 23:xx and 00:xx local), several a customer and day, in batches
    landing in a random order (earlier days after later ones)."""
    rnd = random.Random(seed)
    out: list[tuple[uuid.UUID, list[store.NewEvent]]] = []
    for _ in range(rnd.randint(2, 6)):
        events = []
        for _ in range(rnd.randint(1, 12)):
            at = base + timedelta(
                days=rnd.randint(0, 7),
                hours=rnd.choice([0, 1, 12, 22, 23]),
                minutes=rnd.randint(0, 59),
                microseconds=rnd.randint(0, 999_999),
            )
            t = rnd.choice(STEP_NAMES)
            events.append(
                store.NewEvent(
                    at,
                    f"k-{uuid.uuid4().hex}",
                    t,
                    "funnel",
                    rnd.choice(customers),
                    category_id=rnd.choice([None, uuid.uuid4()]) if t != "visit" else None,
                )
            )
        out.append((rnd.choice(integrations), events))
    return out


async def _store(insights_pool: Any, org: uuid.UUID, integration: uuid.UUID, events: list[store.NewEvent]) -> None:
    async with connection(insights_pool) as conn:
        await store.PartitionCache().ensure(conn, {e.occurred_at.astimezone(UTC).date() for e in events})
    async with tenant_tx(insights_pool, org) as conn:
        await store.store(conn, org, integration, "web", events)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10**6), span=st.tuples(st.integers(-1, 8), st.integers(0, 8)), filt=st.integers(0, 3))
async def test_property_funnel_paths_equal_the_definition(insights_pool, tenant, seed, span, filt) -> None:
    org = tenant.org_id
    await data.use_time_zone(insights_pool, org, "Asia/Kolkata")
    base = (datetime.now(UTC) - timedelta(days=9)).replace(hour=0, minute=0, second=0, microsecond=0)
    integrations = [tenant.integration_id, uuid.uuid4()]
    customers = [uuid.uuid4() for _ in range(4)]
    for integration, events in _batches(seed, base, customers, integrations):
        await _store(insights_pool, org, integration, events)
    first = base.date() + timedelta(days=span[0])
    last = first + timedelta(days=span[1])
    chosen = [[], [integrations[0]], [integrations[1]], integrations][filt]
    async with tenant_tx(insights_pool, org) as conn:
        assert await _differences(conn, org) == 0
        await _assert_exact(conn, org, chosen, first, last)


async def test_concurrent_batches_merge_and_expiry_keep_the_paths_exact(insights_pool, tenant, other_tenant) -> None:
    org = tenant.org_id
    base = (datetime.now(UTC) - timedelta(days=9)).replace(hour=0, minute=0, second=0, microsecond=0)
    a, b = uuid.uuid4(), uuid.uuid4()
    integration = tenant.integration_id
    # Many batches of one customer at once, each a day of their own, racing to write its prev_day.
    batches = [
        [
            store.NewEvent(base + timedelta(days=d, hours=h), f"c-{d}-{h}-{uuid.uuid4().hex}", t, "funnel", a)
            for h, t in ((1, "visit"), (2, "journey_started"), (3, "product_viewed"))
        ]
        for d in (6, 1, 4, 0, 7, 2, 5, 3)
    ]
    await asyncio.gather(*(_store(insights_pool, org, integration, events) for events in batches))
    await _store(
        insights_pool,
        org,
        integration,
        [
            store.NewEvent(base + timedelta(days=2, hours=5), "b-visit", "visit", "funnel", b),
            store.NewEvent(base + timedelta(days=8, hours=5), "b-order", "order_started", "funnel", b),
        ],
    )
    # Another organisation's same customer never reaches this one's funnel.
    await _store(
        insights_pool,
        other_tenant.org_id,
        other_tenant.integration_id,
        [
            store.NewEvent(base + timedelta(days=3), "x-visit", "visit", "funnel", a),
        ],
    )
    async with tenant_tx(insights_pool, org) as conn:
        assert await _differences(conn, org) == 0
        got = await queries.funnel(conn, queries.Scope(org), base.date(), base.date() + timedelta(days=8))
        assert [s.customers for s in got] == [2, 1, 1, 0, 0, 0]
        for first in range(0, 8):
            await _assert_exact(conn, org, [], base.date() + timedelta(days=first), base.date() + timedelta(days=8))
        # The anonymous customer b merges into a: b's history is back-dated under a.
        await merges.merge(conn, org, b, a, datetime.now(UTC))
        assert await _differences(conn, org) == 0
        assert (
            await conn.fetchval("SELECT count(*) FROM funnel_paths WHERE org_id = $1 AND customer_id = $2", org, b) == 0
        )
        for first in range(0, 8):
            await _assert_exact(
                conn, org, [integration], base.date() + timedelta(days=first), base.date() + timedelta(days=8)
            )
    async with tenant_tx(insights_pool, other_tenant.org_id) as conn:
        assert await _differences(conn, other_tenant.org_id) == 0
        got = await queries.funnel(
            conn, queries.Scope(other_tenant.org_id), base.date(), base.date() + timedelta(days=8)
        )
        assert [s.customers for s in got] == [1, 0, 0, 0, 0, 0]
    # Expiry of the first 3 days: a range starting before the cut still finds a's first kept day.
    async with connection(insights_pool) as conn, conn.transaction():
        await conn.fetchval(
            "SELECT expire_rollups($1, $2)", datetime.now(UTC) - timedelta(days=3000), base.date() + timedelta(days=3)
        )
    async with tenant_tx(insights_pool, org) as conn:
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM funnel_paths WHERE org_id = $1 AND day < $2", org, base.date() + timedelta(days=3)
            )
            == 0
        )
        assert await _differences(conn, org) == 0
        for first in range(0, 8):
            await _assert_exact(conn, org, [], base.date() + timedelta(days=first), base.date() + timedelta(days=8))
