"""The customer series' read models of migration 003: active_customers and customer_firsts under each
(integration, category) key and its ALL projections, kept by the ingestion statement, equal to what the
rebuild derives from customer_days, moved forward by expiry, and never visible to another organisation."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.insights.repository import events as store
from services.insights.repository import rollups
from services.insights.service import maintenance
from shared.db import connection, tenant_tx

ALL = store.ALL


async def _firsts(
    insights_pool: Any, org_id: uuid.UUID, customer: uuid.UUID
) -> dict[tuple[uuid.UUID, uuid.UUID], date]:
    async with tenant_tx(insights_pool, org_id) as conn:
        rows = await conn.fetch(
            "SELECT integration_id, category_id, first_day FROM customer_firsts WHERE org_id = $1 AND customer_id = $2",
            org_id,
            customer,
        )
    return {(r[0], r[1]): r[2] for r in rows}


async def test_first_days_per_key_follow_ingestion_and_expiry_and_equal_the_rebuild(
    insights_pool: Any, tenant: Any, other_tenant: Any
) -> None:
    now = datetime.now(UTC)
    today = now.date()
    a, b, c = today - timedelta(days=800), today - timedelta(days=700), today - timedelta(days=10)
    cat_x, cat_y, product = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    customer = uuid.uuid4()
    integ = tenant.integration_id

    def ev(day: date, cat: uuid.UUID, key: str) -> store.NewEvent:
        at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        return store.NewEvent(at, key, "product_viewed", "funnel", customer, product_id=product, category_id=cat)

    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        for d in (a, b, c):
            await conn.execute("SELECT ensure_event_partitions($1, $1)", d)
        # Stored out of order: a later batch with an earlier day moves the first day back.
        await store.store(conn, tenant.org_id, integ, None, [ev(c, cat_x, "c1"), ev(b, cat_y, "b1")])
        await store.store(conn, tenant.org_id, integ, None, [ev(a, cat_x, "a1"), ev(a, cat_x, "a1")])
    assert await _firsts(insights_pool, tenant.org_id, customer) == {
        (integ, cat_x): a,
        (integ, cat_y): b,
        (integ, ALL): a,
        (ALL, cat_x): a,
        (ALL, cat_y): b,
        (ALL, ALL): a,
    }
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        active = await conn.fetch(
            "SELECT integration_id, category_id, day FROM active_customers WHERE org_id = $1 AND customer_id = $2"
            " ORDER BY 3, 1, 2",
            tenant.org_id,
            customer,
        )
    assert len(active) == 12 and {r[2] for r in active} == {a, b, c}
    assert {(r[0], r[1]) for r in active if r[2] == b} == {(integ, cat_y), (integ, ALL), (ALL, cat_y), (ALL, ALL)}

    async with connection(insights_pool) as conn, conn.transaction():
        await maintenance.rollup_expiry(conn, now)
    # Day a is past the 25 months: each key's first day is its earliest day still kept.
    assert await _firsts(insights_pool, tenant.org_id, customer) == {
        (integ, cat_x): c,
        (integ, cat_y): b,
        (integ, ALL): b,
        (ALL, cat_x): c,
        (ALL, cat_y): b,
        (ALL, ALL): b,
    }
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        found = await rollups.rebuild(
            conn,
            tenant.org_id,
            ("customer_days", "active_customers", "active_counts", "customer_firsts"),
            since_day=today - timedelta(days=80),
            hour_from=now - timedelta(hours=48),
            replace=False,
        )
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM active_customers WHERE org_id = $1 AND customer_id = $2 AND day = $3",
                tenant.org_id,
                customer,
                a,
            )
            == 0
        )
    assert {d.table: d.total for d in found} == {
        "customer_days": 0,
        "active_customers": 0,
        "active_counts": 0,
        "customer_firsts": 0,
    }
    async with tenant_tx(insights_pool, other_tenant.org_id) as conn:
        for table in ("active_customers", "customer_firsts"):
            assert await conn.fetchval(f"SELECT count(*) FROM {table} WHERE customer_id = $1", customer) == 0
