"""Scheduled upkeep of the insights store, run exactly once per slot however many workers run.

Every insights worker process runs `run_periodically`: every few minutes it offers each task its current
slot (an hour). Claiming is an INSERT ... ON CONFLICT DO NOTHING RETURNING on `maintenance_slots`, in the
same transaction as the task's work and its recorded outcome: the one claimer runs it, a concurrent claimer
waits for that transaction and finds the slot taken; should the claimer fail or die, its transaction rolls
back with the claim, and the next offer (from any worker) runs the slot again. Tasks are idempotent anyway.

- `event-partitions`: partitions for today and the next 7 days (UTC), and raw retention: partitions of days
  more than 90 days back are dropped whole (their rollups stay).
- `rollup-expiry`: hourly rollups older than 48 hours, day-bucketed read models older than 25 months,
  every organisation at once through the owner's `expire_rollups` (the application role cannot list
  organisations under row-level security; the orders rollup mirrors the orders copy and is kept).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from services.insights.repository import maintenance as slots
from services.insights.service.orders_events import RAW_RETENTION_DAYS, raw_window_start
from shared import logging as slog
from shared.db import connection
from shared.presets import MAX_RANGE_DAYS

logger = logging.getLogger("insights.maintenance")

PARTITIONS_AHEAD_DAYS = 7
HOURLY_KEPT = timedelta(hours=48)
EVERY_SECONDS = 300.0


def hour_slot(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H")


async def event_partitions(conn: asyncpg.Connection, now: datetime) -> dict[str, Any]:
    today = now.astimezone(UTC).date()
    made = await slots.ensure_partitions(conn, today, today + timedelta(days=PARTITIONS_AHEAD_DAYS))
    dropped = await slots.drop_partitions(conn, raw_window_start(now).date())
    return {"made": made, "dropped": dropped, "kept_days": RAW_RETENTION_DAYS}


async def rollup_expiry(conn: asyncpg.Connection, now: datetime) -> dict[str, Any]:
    hourly_before = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) - HOURLY_KEPT
    daily_before = now.astimezone(UTC).date() - timedelta(days=MAX_RANGE_DAYS)
    deleted = await slots.expire_rollups(conn, hourly_before, daily_before)
    return {"deleted": deleted, "hourly_before": hourly_before.isoformat(), "daily_before": daily_before.isoformat()}


@dataclass(frozen=True)
class Task:
    name: str
    run: Callable[[asyncpg.Connection, datetime], Awaitable[dict[str, Any]]]


TASKS: tuple[Task, ...] = (Task("event-partitions", event_partitions), Task("rollup-expiry", rollup_expiry))


async def run_slot(pool: asyncpg.Pool, task: Task, now: datetime | None = None) -> dict[str, Any] | None:
    """Runs `task` for the slot of `now` when this caller claims it; its outcome, or None when taken."""
    now = now or datetime.now(UTC)
    slot = hour_slot(now)
    async with connection(pool) as conn, conn.transaction():
        if not await slots.claim(conn, task.name, slot):
            return None
        outcome = await task.run(conn, now)
        await slots.record(conn, task.name, slot, outcome)
    slog.log(logger, logging.INFO, "maintenance", task=task.name, slot=slot, **outcome)
    return outcome


async def run_due(pool: asyncpg.Pool, now: datetime | None = None) -> dict[str, dict[str, Any] | None]:
    """Offers every task its current slot; a failing task is logged and offered again next time."""
    return await run_due_tasks(pool, TASKS, now)


async def run_due_tasks(
    pool: asyncpg.Pool, tasks: tuple[Task, ...], now: datetime | None = None
) -> dict[str, dict[str, Any] | None]:
    done: dict[str, dict[str, Any] | None] = {}
    for task in tasks:
        try:
            done[task.name] = await run_slot(pool, task, now)
        except Exception as exc:  # any failure: the claim rolled back with it, the next offer retries
            slog.log(logger, logging.WARNING, "maintenance failed", task=task.name, error=type(exc).__name__)
            done[task.name] = None
    return done


async def run_periodically(pool_of: Callable[[], asyncpg.Pool], every: float = EVERY_SECONDS) -> None:
    """Each worker process's loop (until cancelled): the first offer soon after boot, then every `every`
    seconds with jitter, so the replicas' offers spread out."""
    await asyncio.sleep(random.uniform(1.0, 10.0))
    while True:
        await run_due(pool_of())
        await asyncio.sleep(every * random.uniform(0.8, 1.2))
