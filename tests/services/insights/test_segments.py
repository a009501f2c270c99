"""Segments in the insights service: dynamic definitions over what it knows of customers, set-based diffs
published through its outbox, the periodic recompute, the static import functions (the Mixpanel cohort
import's), and the event-fed copies of the orders and reports services, applied in any order."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.insights.service import segments
from shared.db import tenant_tx
from shared.errors import DomainError, NotFound
from shared.messaging import contracts
from shared.messaging.consumer import apply_event
from shared.messaging.contracts import Event
from shared.service import segment_copies
from tests.factories import Tenant
from tests.services.insights.analytics_data import event, ingest, second_key


async def outbox(insights_pool: Any, org_id: uuid.UUID, segment_id: uuid.UUID) -> list[Event]:
    async with tenant_tx(insights_pool, org_id) as conn:
        rows = await conn.fetch(
            "SELECT * FROM outbox WHERE org_id = $1 AND type = ANY($2::text[]) AND payload->>'segment_id' = $3"
            " ORDER BY occurred_at, id",
            org_id,
            sorted(contracts.SEGMENT_EVENTS),
            str(segment_id),
        )
    return [Event(r["id"], r["type"], r["org_id"], r["occurred_at"], r["version"], dict(r["payload"])) for r in rows]


async def members(insights_pool: Any, org_id: uuid.UUID, segment_id: uuid.UUID) -> set[uuid.UUID]:
    async with tenant_tx(insights_pool, org_id) as conn:
        seg = await segments.get_segment(conn, org_id, segment_id)
        rows = await conn.fetch(
            "SELECT customer_id FROM segment_members WHERE org_id = $1 AND segment_id = $2", org_id, segment_id
        )
    assert seg.member_count == len(rows)
    return {r["customer_id"] for r in rows}


async def customers_of(insights_pool: Any, org_id: uuid.UUID, anons: list[str]) -> dict[str, uuid.UUID]:
    async with tenant_tx(insights_pool, org_id) as conn:
        rows = await conn.fetch(
            "SELECT DISTINCT anonymous_id, customer_id FROM events WHERE org_id = $1 AND anonymous_id = ANY($2)",
            org_id,
            anons,
        )
    return {r["anonymous_id"]: r["customer_id"] for r in rows}


async def create_dynamic(insights_pool: Any, org_id: uuid.UUID, definition: dict[str, Any]) -> uuid.UUID:
    async with tenant_tx(insights_pool, org_id) as conn:
        seg, _ = await segments.create(conn, org_id, name=f"s-{uuid.uuid4().hex[:6]}", definition=definition)
    return seg.id


async def test_each_condition_and_their_and(gateway, insights_pool, tenant: Tenant) -> None:
    tag = uuid.uuid4().hex[:8]
    now = datetime.now(UTC).replace(microsecond=0)
    old, fresh, other = f"old-{tag}", f"fresh-{tag}", f"other-{tag}"
    # `old` visited 40 days ago and 5 times in the last week; `fresh` twice today; `other` once, on the
    # second integration, and viewed a product three times.
    await ingest(
        gateway,
        tenant.api_key,
        [event("visit", now - timedelta(days=40), old)]
        + [event("visit", now - timedelta(days=1, hours=i), old) for i in range(5)]
        + [event("visit", now - timedelta(hours=i + 1), fresh) for i in range(2)],
    )
    product = tenant.products["App card"]
    await ingest(
        gateway,
        await second_key(gateway, tenant),
        [event("visit", now - timedelta(hours=2), other)]
        + [event("product_viewed", now - timedelta(hours=i + 1), other, product=product) for i in range(3)],
    )
    ids = await customers_of(insights_pool, tenant.org_id, [old, fresh, other])
    org = tenant.org_id
    cards, broadband = str(tenant.categories["Credit Cards"]), str(tenant.categories["Broadband"])
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({"events": [{"type": "visit", "atLeast": 2, "lastDays": 7}]}, {old, fresh}),
        ({"events": [{"type": "visit", "atLeast": 6, "lastDays": 7}]}, set()),
        ({"events": [{"type": "visit", "atLeast": 6, "lastDays": 90}]}, {old}),
        ({"integrationIds": [str(tenant.second_integration_id)]}, {other}),
        ({"firstSeen": {"preset": "LAST_7_DAYS"}}, {fresh, other}),
        ({"lastSeen": {"preset": "LAST_7_DAYS"}}, {old, fresh, other}),
        ({"events": [{"type": "product_viewed", "atLeast": 3, "lastDays": 1, "categoryId": cards}]}, {other}),
        ({"events": [{"type": "product_viewed", "atLeast": 1, "lastDays": 1, "categoryId": broadband}]}, set()),
        (
            {
                "firstSeen": {"preset": "LAST_7_DAYS"},
                "events": [{"type": "visit", "atLeast": 2, "lastDays": 7, "integrationId": str(tenant.integration_id)}],
            },
            {fresh},
        ),
    ]
    for definition, expected in cases:
        sid = await create_dynamic(insights_pool, org, definition)
        assert await members(insights_pool, org, sid) == {ids[v] for v in expected}, definition


async def test_a_recompute_publishes_its_diff_once_and_the_copies_end_equal(
    gateway, pool, insights_pool, reports_pool, tenant: Tenant
) -> None:
    tag = uuid.uuid4().hex[:8]
    now = datetime.now(UTC).replace(microsecond=0)
    visitors = [f"v{i}-{tag}" for i in range(6)]
    await ingest(
        gateway,
        tenant.api_key,
        [event("visit", now - timedelta(hours=h + 1), v) for i, v in enumerate(visitors) for h in range(i + 1)],
    )
    ids = await customers_of(insights_pool, tenant.org_id, visitors)
    org = tenant.org_id
    sid = await create_dynamic(insights_pool, org, {"events": [{"type": "visit", "atLeast": 3, "lastDays": 7}]})
    assert await members(insights_pool, org, sid) == {ids[v] for v in visitors[2:]}
    async with tenant_tx(insights_pool, org) as conn:
        unchanged = await segments.recompute(conn, org, sid)
        assert (unchanged.added, unchanged.removed, unchanged.version) == ([], [], 1)  # nothing new: no event
        narrowed, _ = await segments.update(
            conn, org, sid, definition={"events": [{"type": "visit", "atLeast": 5, "lastDays": 7}]}
        )
    assert narrowed.member_count == 2 and narrowed.version == 2
    async with tenant_tx(insights_pool, org) as conn:
        seg, change = await segments.update(
            conn, org, sid, definition={"events": [{"type": "visit", "atLeast": 2, "lastDays": 7}]}
        )
    assert change is not None and set(change.added) == {ids[v] for v in visitors[1:4]} and change.removed == []
    assert seg.version == 3 and seg.member_count == 5
    events = await outbox(insights_pool, org, sid)
    assert [e.payload["version"] for e in events] == [1, 2, 3]

    # Both copies, every event applied in a shuffled order and twice: each ends with the insights members.
    for target, consumer in ((pool, "orders"), (reports_pool, "reports")):
        shuffled = events * 2
        random.Random(7).shuffle(shuffled)
        applied = [await apply_event(target, consumer, e, segment_copies.HANDLERS) for e in shuffled]
        assert sum(applied) == len(events)
        async with tenant_tx(target, org) as conn:
            assert set(await segment_copies.present_members(conn, org, sid)) == await members(insights_pool, org, sid)

    # Deleted: the copies forget it, and a late diff of it adds nobody back.
    async with tenant_tx(insights_pool, org) as conn:
        await segments.delete(conn, org, sid)
    deleted = [e for e in await outbox(insights_pool, org, sid) if e.type == contracts.SEGMENT_DELETED]
    late = Event(uuid.uuid4(), contracts.SEGMENT_MEMBERS_CHANGED, org, now, 1, {**events[0].payload, "version": 9})
    for target, consumer in ((pool, "orders"), (reports_pool, "reports")):
        await apply_event(target, consumer, deleted[0], segment_copies.HANDLERS)
        await apply_event(target, consumer, late, segment_copies.HANDLERS)
        async with tenant_tx(target, org) as conn:
            assert await segment_copies.present_members(conn, org, sid) == []
            with pytest.raises(NotFound):
                await segment_copies.require_known(conn, org, sid, "filter.segmentId")


async def test_the_periodic_recompute_follows_time(gateway, insights_pool, tenant: Tenant) -> None:
    tag = uuid.uuid4().hex[:8]
    now = datetime.now(UTC).replace(microsecond=0)
    v = f"p-{tag}"
    await ingest(gateway, tenant.api_key, [event("visit", now - timedelta(days=2, hours=h), v) for h in range(2)])
    org = tenant.org_id
    sid = await create_dynamic(insights_pool, org, {"events": [{"type": "visit", "atLeast": 2, "lastDays": 3}]})
    assert len(await members(insights_pool, org, sid)) == 1
    # Two days later the visits are out of the last 3 days; the segment is due an hour after its computation.
    later = now + timedelta(days=2)
    assert await segments.recompute_due(insights_pool, now=later, limit=10_000) >= 1
    assert await members(insights_pool, org, sid) == set()
    assert await segments.recompute_due(insights_pool, now=later, limit=10_000) == 0  # fresh now: skipped


async def test_static_import_functions(gateway, insights_pool, tenant: Tenant, other_tenant: Tenant) -> None:
    org = tenant.org_id
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    sid = await segments.create_static(insights_pool, org, "Cohort 1", source="mixpanel_cohort")
    first = await segments.replace_static_members(insights_pool, org, sid, [a, b, b], source="mixpanel_cohort")
    assert (set(first.added), first.removed, first.member_count) == ({a, b}, [], 2)
    again = await segments.replace_static_members(insights_pool, org, sid, [b, c], source="mixpanel_cohort")
    assert (again.added, again.removed, again.member_count, again.version) == ([c], [a], 2, 3)
    assert await members(insights_pool, org, sid) == {b, c}
    async with tenant_tx(insights_pool, org) as conn:
        assert (await segments.get_segment(conn, org, sid)).source == "mixpanel_cohort"
    # Another organisation's segment is unknown to it; a dynamic one cannot take a list.
    with pytest.raises(NotFound):
        await segments.replace_static_members(insights_pool, other_tenant.org_id, sid, [a], source="manual")
    dynamic = await create_dynamic(insights_pool, org, {"lastSeen": {"preset": "LAST_7_DAYS"}})
    with pytest.raises(DomainError) as refused:
        await segments.replace_static_members(insights_pool, org, dynamic, [a], source="manual")
    assert refused.value.field == "segmentId"


async def test_a_merge_moves_memberships_and_an_erasure_removes_them(insights_pool, pool, tenant: Tenant) -> None:
    from services.insights.service import orders_events

    org = tenant.org_id
    anon, other, survivor = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    sid = await segments.create_static(insights_pool, org, "Picked", source="manual")
    await segments.replace_static_members(insights_pool, org, sid, [anon, other], source="manual")
    both = await segments.create_static(insights_pool, org, "Both", source="manual")
    await segments.replace_static_members(insights_pool, org, both, [anon, survivor], source="manual")

    def event(type: str, payload: dict[str, Any]) -> Event:
        return Event(uuid.uuid4(), type, org, datetime.now(UTC), 1, payload)

    merged = event(contracts.CUSTOMER_MERGED, {"from_customer_id": str(anon), "into_customer_id": str(survivor)})
    assert await apply_event(insights_pool, "insights", merged, orders_events.HANDLERS)
    assert await members(insights_pool, org, sid) == {survivor, other}
    assert await members(insights_pool, org, both) == {survivor}
    erased = event(contracts.CUSTOMER_ERASED, {"customer_id": str(other), "erased_at": datetime.now(UTC).isoformat()})
    assert await apply_event(insights_pool, "insights", erased, orders_events.HANDLERS)
    assert await members(insights_pool, org, sid) == {survivor}

    # The copies follow the published diffs.
    events = await outbox(insights_pool, org, sid) + await outbox(insights_pool, org, both)
    for e in events:
        await apply_event(pool, "orders", e, segment_copies.HANDLERS)
    async with tenant_tx(pool, org) as conn:
        assert await segment_copies.present_members(conn, org, sid) == [survivor]
        assert await segment_copies.present_members(conn, org, both) == [survivor]
