"""The orders service's domain events recorded by the insights service: the orders copy, its daily rollup
and the funnel's order steps, each exactly once however often and in whatever order events arrive, and
from the backfill (`publish-orders`) too."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from services.orders.admin import publish_orders
from services.orders.domain.commission import CommStatus, Status
from services.orders.service import commission
from shared.db import tenant_tx
from shared.messaging import contracts
from tests.factories import create_order
from tests.services.insights.feed import apply, outbox_events

ORDER_TYPES = {contracts.ORDER_CREATED, contracts.ORDER_STATUS_CHANGED, contracts.COMMISSION_CHANGED}


async def _orders_with_history(pool: Any, tenant: Any) -> dict[str, dict[str, Any]]:
    """A pending order, one created successful, one confirmed then paid, one failed."""
    pending = await create_order(pool, tenant, email="pending@example.com")
    created_ok = await create_order(pool, tenant, product="Credit Cards", status="SUCCESSFUL")
    confirmed = await create_order(pool, tenant, product="Current Accounts")
    failed = await create_order(pool, tenant)
    # One transaction per change, as the provider's webhooks are applied (events of one transaction share a time).
    for status, comm in ((Status.SUCCESSFUL, CommStatus.PENDING), (Status.SUCCESSFUL, CommStatus.SUCCESSFUL)):
        async with tenant_tx(pool, tenant.org_id) as conn:
            await commission.change_state(
                conn,
                tenant.org_id,
                confirmed["id"],
                status=status,
                comm_status=comm,
                amount=None,
                currency=None,
                source="provider",
                reference=None,
                actor=None,
            )
    async with tenant_tx(pool, tenant.org_id) as conn:
        await commission.change_state(
            conn,
            tenant.org_id,
            failed["id"],
            status=Status.FAILED,
            comm_status=None,
            amount=None,
            currency=None,
            source="provider",
            reference=None,
            actor=None,
            failure_reason="declined",
        )
    return {"pending": pending, "created_ok": created_ok, "confirmed": confirmed, "failed": failed}


async def _source_orders(pool: Any, tenant: Any) -> dict[Any, tuple[Any, ...]]:
    async with tenant_tx(pool, tenant.org_id) as conn:
        rows = await conn.fetch(
            "SELECT id, status, comm_status, commission_amount, currency, customer_id, created_at FROM orders"
            " WHERE org_id = $1",
            tenant.org_id,
        )
    return {r["id"]: tuple(r.values())[1:] for r in rows}


async def _insights_state(insights_pool: Any, tenant: Any) -> dict[str, Any]:
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        # No organisation filter here on purpose: row-level security alone must keep other tenants out.
        orders = await conn.fetch(
            "SELECT id, status, comm_status, amount, currency, customer_id, created_at FROM orders"
        )
        rollup = await conn.fetch(
            "SELECT status, comm_status, currency, sum(orders) AS orders, sum(commission) AS commission"
            " FROM order_rollups_daily WHERE org_id = $1 GROUP BY 1, 2, 3 HAVING sum(orders) <> 0",
            tenant.org_id,
        )
        events = await conn.fetch(
            "SELECT type, entity_id, source_key, occurred_at, customer_id, amount FROM events"
            " WHERE org_id = $1 ORDER BY source_key",
            tenant.org_id,
        )
        daily = await conn.fetch(
            "SELECT type, currency, sum(events) AS n, sum(amount) AS amount FROM event_rollups_daily"
            " WHERE org_id = $1 GROUP BY 1, 2 ORDER BY 1, 2",
            tenant.org_id,
        )
        firsts = await conn.fetch(
            "SELECT step, count(*) AS n FROM funnel_firsts WHERE org_id = $1 GROUP BY step ORDER BY step",
            tenant.org_id,
        )
    return {
        "orders": {r["id"]: tuple(r.values())[1:] for r in orders},
        "rollup": {(r["status"], r["comm_status"], r["currency"]): (r["orders"], r["commission"]) for r in rollup},
        "events": [tuple(r.values()) for r in events],
        "daily": [tuple(r.values()) for r in daily],
        "firsts": [tuple(r.values()) for r in firsts],
    }


async def test_order_events_recorded_once_whatever_the_order_and_replays(
    pool: Any, insights_pool: Any, settings: Any, tenant: Any, other_tenant: Any
) -> None:
    made = await _orders_with_history(pool, tenant)
    await create_order(pool, other_tenant)
    events = await outbox_events(pool, tenant.org_id)
    assert {e.type for e in events} >= ORDER_TYPES | {contracts.ORGANISATION_CREATED}

    # Out of order (newest first, then shuffled), each event twice, two deliveries at once.
    shuffled = events[::-1]
    first = await apply(insights_pool, settings, shuffled)
    random.Random(7).shuffle(shuffled)
    again = await asyncio.gather(apply(insights_pool, settings, shuffled), apply(insights_pool, settings, events))
    await apply(insights_pool, settings, await outbox_events(pool, other_tenant.org_id))
    handled = [e for e in events if e.type != contracts.CUSTOMER_CREATED]
    assert first == len(handled) and again == [0, 0]

    state = await _insights_state(insights_pool, tenant)
    source = await _source_orders(pool, tenant)
    assert state["orders"] == source  # the newest state of each order, nothing of the other tenant
    assert state["rollup"] == {
        ("PENDING", "N/A", "GBP"): (1, Decimal("12.50")),  # the expected commission
        ("SUCCESSFUL", "PENDING", "GBP"): (1, Decimal("45.00")),
        ("SUCCESSFUL", "SUCCESSFUL", "EUR"): (1, Decimal("80.00")),
        ("FAILED", "N/A", "GBP"): (1, Decimal("12.50")),
    }
    placed = [e for e in state["events"] if e[0] == "order_placed"]
    successful = [e for e in state["events"] if e[0] == "order_successful"]
    assert sorted(e[1] for e in placed) == sorted(str(o["id"]) for o in made.values())
    assert sorted(e[1] for e in successful) == sorted(str(made[k]["id"]) for k in ("created_ok", "confirmed"))
    for e in placed:  # placed when the order was created, for its customer
        assert e[2] == f"order:{e[1]}:placed" and e[3] == made_by_id(made)[e[1]]["created_at"]
        assert e[4] == made_by_id(made)[e[1]]["customer_id"]
    status_change = next(
        e
        for e in events
        if e.type == contracts.ORDER_STATUS_CHANGED and e.payload["order_id"] == str(made["confirmed"]["id"])
    )
    confirmed_at = {e[1]: e[3] for e in successful}
    assert confirmed_at[str(made["confirmed"]["id"])] == status_change.occurred_at
    assert confirmed_at[str(made["created_ok"]["id"])] == made["created_ok"]["created_at"]
    assert state["daily"] == [
        ("order_placed", "EUR", 1, Decimal("80.00")),
        ("order_placed", "GBP", 3, Decimal("70.00")),
        ("order_successful", "EUR", 1, Decimal("80.00")),
        ("order_successful", "GBP", 1, Decimal("45.00")),
    ]
    # Each order's customer has its own first placed / successful step.
    assert state["firsts"] == [(5, 4), (6, 2)]


def made_by_id(made: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(o["id"]): o for o in made.values()}


async def test_backfill_republishes_every_order_and_the_live_events_add_nothing(
    pool: Any, insights_pool: Any, settings: Any, tenant: Any
) -> None:
    made = await _orders_with_history(pool, tenant)
    live = await outbox_events(pool, tenant.org_id)
    since = datetime.now(UTC)
    result = await publish_orders(settings.service_database_url("orders", "owner"), batch=3)
    assert result["published"] >= 4 and result["batches"] >= 2
    backfill = [
        e
        for e in await outbox_events(pool, tenant.org_id, {contracts.ORDER_CREATED})
        if e.occurred_at >= since - timedelta(seconds=1) and e.id not in {x.id for x in live}
    ]
    assert len(backfill) == 4
    by_order = {e.payload["order_id"]: e.payload for e in backfill}
    assert by_order[str(made["confirmed"]["id"])]["status"] == "SUCCESSFUL"
    assert by_order[str(made["pending"]["id"])]["successful_at"] is None

    organisation = [e for e in live if e.type in contracts.ORGANISATION_EVENTS]
    assert await apply(insights_pool, settings, organisation + backfill) == 5
    state = await _insights_state(insights_pool, tenant)
    assert state["orders"] == await _source_orders(pool, tenant)

    # The live events arriving after (a deployment that had both) change no count.
    await apply(insights_pool, settings, live)
    after = await _insights_state(insights_pool, tenant)
    assert after["events"] == state["events"] and after["daily"] == state["daily"]
    assert after["rollup"] == state["rollup"] and after["orders"] == state["orders"]
    assert [e[0] for e in after["events"]].count("order_successful") == 2


async def test_an_order_older_than_the_raw_window_is_copied_without_a_raw_event(
    pool: Any, insights_pool: Any, settings: Any, tenant: Any
) -> None:
    old = await create_order(pool, tenant, created_at=datetime.now(UTC) - timedelta(days=120))
    assert await apply(insights_pool, settings, await outbox_events(pool, tenant.org_id)) >= 2
    state = await _insights_state(insights_pool, tenant)
    assert old["id"] in state["orders"]
    assert sum(n for n, _ in state["rollup"].values()) == 1
    assert state["events"] == []


async def _days(insights_pool: Any, tenant: Any) -> dict[str, set[Any]]:
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        return {
            table: {r["day"] for r in await conn.fetch(f"SELECT day FROM {table} WHERE org_id = $1", tenant.org_id)}
            for table in ("event_rollups_daily", "customer_days", "funnel_firsts", "order_rollups_daily")
        }


async def test_a_new_time_zone_rebuilds_the_day_buckets(
    pool: Any, insights_pool: Any, settings: Any, tenant: Any
) -> None:
    from zoneinfo import ZoneInfo

    from services.orders.domain.settings import SettingsUpdate
    from services.orders.service import organisation

    # 20:30 UTC ten days ago: that evening in London, the next morning in Tokyo.
    at = datetime.combine(datetime.now(UTC).date() - timedelta(days=10), datetime.min.time(), UTC) + timedelta(
        hours=20, minutes=30
    )
    await create_order(pool, tenant, created_at=at)
    await apply(insights_pool, settings, await outbox_events(pool, tenant.org_id))
    london, tokyo = at.astimezone(ZoneInfo("Europe/London")).date(), at.astimezone(ZoneInfo("Asia/Tokyo")).date()
    assert london != tokyo
    assert await _days(insights_pool, tenant) == {
        t: {london} for t in ("event_rollups_daily", "customer_days", "funnel_firsts", "order_rollups_daily")
    }

    async with tenant_tx(pool, tenant.org_id) as conn:
        change = SettingsUpdate.model_validate({"timeZone": "Asia/Tokyo"})
        await organisation.update_settings(conn, tenant.org_id, change)
    changed = await outbox_events(pool, tenant.org_id, {contracts.ORGANISATION_SETTINGS_CHANGED})
    assert await apply(insights_pool, settings, changed) == 1
    days = await _days(insights_pool, tenant)
    assert days["event_rollups_daily"] == days["customer_days"] == days["funnel_firsts"] == {tokyo}
    assert days["order_rollups_daily"] == {tokyo}  # rebuilt whole: no emptied bucket left on the old day
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        orders_by_day = await conn.fetch(
            "SELECT day, sum(orders) AS n FROM order_rollups_daily WHERE org_id = $1"
            " GROUP BY day HAVING sum(orders) > 0",
            tenant.org_id,
        )
        placed = await conn.fetchval(
            "SELECT sum(events) FROM event_rollups_daily WHERE org_id = $1 AND type = 'order_placed'", tenant.org_id
        )
    assert [(r["day"], r["n"]) for r in orders_by_day] == [(tokyo, 1)] and placed == 1
