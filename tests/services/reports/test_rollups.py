"""The orders' hourly rollup (migration 008): kept by every write of the order copy (events applied in any order,
replays, status and commission changes moving an order between buckets), read by Commission per provider, Network
performance and the count of Orders with commission with the same answers as the raw orders; raw orders for a time
zone whose offset is not whole hours; one organisation's buckets only in its own answers."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.orders.domain.commission import CommStatus, Status
from services.reports.repository import reports as store
from services.reports.service import reports as workflow
from shared.db import tenant_tx
from tests.factories import create_order
from tests.services.reports.feed import apply_orders, copy_with_new_id, outbox_events, table
from tests.services.reports.report_data import feed, last_days, store_rates
from tests.services.reports.test_orders_events import ORDER_TYPES, _change

BUCKETS = """SELECT provider_id, integration_id, category_id, currency, status, comm_status, hour,
                    sum(orders) AS orders, sum(amount) AS amount
               FROM orders_hourly WHERE org_id = $1 AND orders <> 0
              GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, 7"""
FROM_ORDERS = """SELECT provider_id, integration_id, category_id, currency, status, comm_status,
                        date_trunc('hour', created_at, 'UTC') AS hour, count(*) AS orders, sum(amount) AS amount
                   FROM orders WHERE org_id = $1 GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, 7"""


async def _answers(reports_pool: Any, org_id: Any, raw: dict[str, Any], rollups: bool) -> tuple[list[Any], int, str]:
    """The whole answer, the preview's count and the statement's SQL, with or without the rollups."""
    async with tenant_tx(reports_pool, org_id) as conn:
        q = await workflow.parse(conn, org_id, raw)
        base, _ = await workflow.settings_of(conn, org_id)
        st = store.statement(q, org_id, base, rollups=rollups)
        rows = await conn.fetch(f"SELECT * FROM ({st.sql}) r ORDER BY {st.order_by}", *st.args)
        _, total = await store.preview(conn, st)
    return [tuple(r) for r in rows], total, st.sql + (st.count[0] if st.count else "")


async def test_buckets_follow_every_change_and_a_replay_or_late_event_changes_nothing(
    pool: Any, reports_pool: Any, tenant: Any
) -> None:
    paid = await create_order(pool, tenant)
    await _change(pool, tenant, paid["id"], Status.SUCCESSFUL, CommStatus.PENDING)
    await _change(pool, tenant, paid["id"], Status.SUCCESSFUL, CommStatus.SUCCESSFUL)
    failed = await create_order(pool, tenant, product="Credit Cards")
    await _change(pool, tenant, failed["id"], Status.FAILED, CommStatus.NA)
    pending = await create_order(pool, tenant, product="App card")
    events = await outbox_events(pool, tenant.org_id, ORDER_TYPES)
    # Newest first (each older one arrives late), then the backfill's republished copies, then a replay.
    assert await apply_orders(reports_pool, list(reversed(events))) == len(events)
    buckets = await table(reports_pool, tenant.org_id, BUCKETS, tenant.org_id)
    assert buckets == await table(reports_pool, tenant.org_id, FROM_ORDERS, tenant.org_id)
    assert sum(b["orders"] for b in buckets) == 3
    assert {b["status"] for b in buckets} == {"SUCCESSFUL", "FAILED", "PENDING"}
    assert await apply_orders(reports_pool, [copy_with_new_id(e) for e in events]) == len(events)
    assert await apply_orders(reports_pool, events) == 0
    assert await table(reports_pool, tenant.org_id, BUCKETS, tenant.org_id) == buckets
    # A change after all that moves the order out of its bucket into the new one.
    await _change(pool, tenant, pending["id"], Status.SUCCESSFUL, CommStatus.PENDING)
    assert await apply_orders(reports_pool, await outbox_events(pool, tenant.org_id, ORDER_TYPES)) == 1
    moved = await table(reports_pool, tenant.org_id, BUCKETS, tenant.org_id)
    assert moved == await table(reports_pool, tenant.org_id, FROM_ORDERS, tenant.org_id)
    assert "PENDING" not in {b["status"] for b in moved} and sum(b["orders"] for b in moved) == 3


async def test_the_orders_reports_answer_from_the_rollup_exactly_as_from_raw_orders_and_only_their_own(
    gateway: Any, pool: Any, insights_pool: Any, reports_pool: Any, tenant: Any, other_tenant: Any
) -> None:
    await store_rates(reports_pool)
    await feed(gateway, pool, insights_pool, reports_pool, tenant)
    # Another organisation's orders in the same hours, with the same products, providers and statuses.
    await feed(gateway, pool, insights_pool, reports_pool, other_tenant)
    await _change(pool, tenant, (await create_order(pool, tenant))["id"], Status.FAILED, CommStatus.NA)
    await apply_orders(reports_pool, await outbox_events(pool, tenant.org_id, ORDER_TYPES))
    rng = last_days()
    integration = {"integrationIds": [str(tenant.integration_id)]}
    inputs: list[dict[str, Any]] = [
        {"report": "commission_per_provider", "filters": {"range": rng}},
        {"report": "commission_per_provider", "filters": {"range": rng}, "grouping": ["month"]},
        {"report": "commission_per_provider", "filters": {"range": rng}, "grouping": ["month", "provider_id"]},
        {"report": "network_performance", "filters": {"range": rng}},
        {"report": "network_performance", "filters": {"range": rng, **integration}, "grouping": ["provider_id"]},
        {"report": "orders_with_commission", "filters": {"range": rng}},
        {"report": "orders_with_commission", "filters": {"range": rng, "statuses": ["FAILED"], **integration}},
        {"report": "orders_with_commission", "filters": {"range": rng, "statuses": []}},
    ]
    for raw in inputs:
        rows, total, sql = await _answers(reports_pool, tenant.org_id, raw, rollups=True)
        raw_rows, raw_total, raw_sql = await _answers(reports_pool, tenant.org_id, raw, rollups=False)
        assert "orders_hourly" in sql and "orders_hourly" not in raw_sql, raw
        assert (rows, total) == (raw_rows, raw_total), raw
        assert total == len(rows), raw
    assert (await _answers(reports_pool, tenant.org_id, inputs[5], rollups=True))[1] == 4  # A's 4 orders, none of B's
    # Row-level security: A's transaction sees none of B's buckets, even unfiltered.
    seen = await table(reports_pool, tenant.org_id, "SELECT DISTINCT org_id FROM orders_hourly")
    assert seen == [{"org_id": tenant.org_id}]


def test_the_rollup_is_read_only_where_every_order_of_an_hour_has_one_local_day() -> None:
    across_dst = (date(2026, 3, 1), date(2026, 11, 30))
    assert store._whole_hours("Europe/London", *across_dst)
    assert store._whole_hours("America/New_York", *across_dst)
    assert store._whole_hours("UTC", *across_dst)
    assert not store._whole_hours("Asia/Kolkata", *across_dst)  # +05:30
    assert not store._whole_hours("Asia/Kathmandu", *across_dst)  # +05:45
    assert not store._whole_hours("Australia/Lord_Howe", date(2026, 10, 1), date(2026, 10, 10))  # +10:30 / +11


async def test_a_half_hour_time_zone_reads_raw_orders(pool: Any, reports_pool: Any, tenant: Any) -> None:
    await create_order(pool, tenant)
    await apply_orders(reports_pool, await outbox_events(pool, tenant.org_id, ORDER_TYPES))
    from services.reports.domain import query as query_domain

    for tz, rollup in (("Asia/Kolkata", False), ("Europe/London", True)):
        q = query_domain.parse({"report": "network_performance", "filters": {"range": last_days()}}, tz)
        assert ("orders_hourly" in store.statement(q, tenant.org_id, "GBP").sql) is rollup, tz
