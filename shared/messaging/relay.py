"""Outbox relay: publishes committed domain events to every subscriber's queue.

Claims unsent rows with FOR UPDATE SKIP LOCKED (several relays may run), enqueues one
Dramatiq message per subscriber, then marks the rows sent in the same transaction. A
crash between publish and commit republishes: delivery is at-least-once and consumers
deduplicate on the event id. LISTEN/NOTIFY wakes the relay as soon as an event commits;
a poll interval covers missed notifications.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

import asyncpg
from dramatiq import Message

from shared import logging as slog
from shared.config import get_settings
from shared.db import create_pool
from shared.health import serve_health
from shared.messaging.broker import get_broker
from shared.messaging.contracts import SUBSCRIPTIONS, Subscription, envelope, subscriptions_of

logger = logging.getLogger("relay")
BATCH_WINDOW_SECONDS = 0.05


async def relay_once(
    pool: asyncpg.Pool, service: str, batch: int = 500, subscriptions: tuple[Subscription, ...] = SUBSCRIPTIONS
) -> int:
    """Publishes up to `batch` unsent events of `service` to the subscriptions that want them."""
    broker = get_broker()
    subscribers = subscriptions_of(service, subscriptions)
    async with pool.acquire() as conn:
        async with conn.transaction():
            rows = await conn.fetch("SELECT * FROM outbox_claim($1)", batch)
            if not rows:
                return 0
            for row in rows:
                event = envelope(
                    id=row["id"],
                    type=row["type"],
                    org_id=row["org_id"],
                    occurred_at=row["occurred_at"],
                    version=row["version"],
                    payload=row["payload"],
                )
                for sub in subscribers:
                    if not sub.wants(row["type"]):
                        continue
                    broker.enqueue(
                        Message(queue_name=sub.queue, actor_name=sub.actor, args=(event,), kwargs={}, options={})
                    )
            await conn.execute("SELECT outbox_mark_sent($1)", [r["id"] for r in rows])
    return len(rows)


async def run(service: str, poll_seconds: float = 2.0) -> None:
    settings = get_settings()
    pool = await create_pool(settings.service_database_url(service), max_size=2)
    wake = asyncio.Event()
    stop = asyncio.Event()
    listener = await asyncpg.connect(settings.service_database_url(service))
    await listener.add_listener("outbox", lambda *_: wake.set())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async def ready() -> bool:
        await pool.fetchval("SELECT 1")
        return True

    health = await serve_health(ready)
    logger.info("outbox relay for %s started", service)
    while not stop.is_set():
        try:
            sent = await relay_once(pool, service)
        except Exception:
            logger.exception("relay iteration failed; retrying")
            sent = 0
            await asyncio.sleep(1)
        if sent:
            slog.log(logger, logging.INFO, "relayed events", count=sent)
            continue
        wake.clear()
        waiters = [asyncio.create_task(wake.wait()), asyncio.create_task(stop.wait())]
        await asyncio.wait(waiters, timeout=poll_seconds, return_when=asyncio.FIRST_COMPLETED)
        for w in waiters:
            w.cancel()
        if wake.is_set() and not stop.is_set():
            # Let a burst of commits accumulate: one claim of many rows beats many claims of one.
            await asyncio.sleep(BATCH_WINDOW_SECONDS)
    if health:
        health.close()
    await listener.close()
    await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Publish a service's outbox to its subscribers")
    parser.add_argument("service")
    args = parser.parse_args()
    slog.configure(f"{args.service}-relay", get_settings().log_level)
    asyncio.run(run(args.service))


if __name__ == "__main__":
    main()
