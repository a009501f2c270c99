"""The reports scheduler (`python -m services.reports.scheduler`): fires due report schedules. Several may run.

Every `POLL_SECONDS` it asks the database which organisations have schedules due (the owner's
`report_schedules_due_orgs`, migration 009: ids only, across organisations) and fires each organisation's due
schedules in batches of BATCH, each batch one tenant transaction (service/schedules.py `fire_batch`): the rows
are claimed in one statement with SKIP LOCKED (a second replica claims the next batch side by side), each slot is
a unique key, and `next_slot` moves past now before anything is sent, so however many replicas race, a slot runs
once, and after downtime the missed slots of a schedule are one run. Recipients are resolved with the orders
service at that moment, one call per batch. A failure (the orders service or Redis down) rolls that batch back:
it is still due on the next tick.

Health on HEALTH_PORT (`/healthz`, `/readyz`: the database answers), like the relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import UTC, datetime

import asyncpg

from services.reports.repository import schedules as store
from services.reports.service import mongo_forwarding
from services.reports.service import schedules as workflow
from shared import logging as slog
from shared.config import Settings, check_production_secrets, database_secrets, get_settings
from shared.db import connection, create_pool, ping
from shared.health import DependencyUnavailable, serve_health
from shared.service.client import Unavailable

logger = logging.getLogger("reports.scheduler")
SERVICE = "reports"
POLL_SECONDS = 5.0
BATCH = workflow.MAX_BATCH
ORGS_PER_TICK = 1000
FAILURE_BACKOFF_MAX_SECONDS = 30.0
CLOSE_TIMEOUT_SECONDS = 5.0


async def tick(
    pool: asyncpg.Pool, directory: workflow.OrdersDirectory, now: datetime | None = None
) -> list[workflow.Fired]:
    """Fires every schedule due at `now` (default: the clock), a batch of one organisation's at a time, until none
    is left to claim; what each fired slot did. A batch that fails is logged and left due for the next tick; the
    other organisations go on."""
    now = now or datetime.now(UTC)
    async with connection(pool) as conn:
        orgs = await store.due_orgs(conn, now, ORGS_PER_TICK)
    fired: list[workflow.Fired] = []
    for org_id in orgs:
        while True:
            try:
                done = await workflow.fire_batch(pool, directory, org_id, now, BATCH)
            except (Unavailable, DependencyUnavailable) as exc:
                said = str(exc)
                slog.log(logger, logging.WARNING, "schedules not fired; retried next tick", org=str(org_id), error=said)
                break
            except Exception:
                logger.exception("schedules of %s failed to fire; retried next tick", org_id)
                break
            if not done:
                break
            fired.extend(done)
            await workflow.send_mails(*done)
            for f in done:
                slog.log(
                    logger,
                    logging.INFO,
                    "schedule fired",
                    org=str(org_id),
                    schedule=str(f.schedule_id),
                    slot=f.slot.isoformat(),
                    outcome=f.outcome,
                    run=str(f.run_id) if f.run_id else None,
                    recipients=len(f.recipients),
                    dropped=f.dropped,
                )
    return fired


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def run(
    *, settings: Settings | None = None, stop: asyncio.Event | None = None, poll_seconds: float = POLL_SECONDS
) -> None:
    """Fires due schedules until `stop` is set (SIGINT/SIGTERM set it when none is given)."""
    settings = settings or get_settings()
    check_production_secrets(settings, database_secrets(SERVICE))
    pool = await create_pool(settings.service_database_url(SERVICE), max_size=4, settings=settings)
    directory = workflow.OrdersDirectory.from_settings(settings)
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

    async def ready() -> bool:
        await ping(pool, timeout=settings.readiness_timeout_ms / 1000)
        return True

    health = await serve_health(ready)
    logger.info("reports scheduler started")
    failures = 0
    try:
        next_sweep = 0.0
        while not stop.is_set():
            try:
                await tick(pool, directory)
                failures = 0
                if asyncio.get_running_loop().time() >= next_sweep:  # MongoDB passes (service/mongo_forwarding.py)
                    next_sweep = asyncio.get_running_loop().time() + mongo_forwarding.SWEEP_SECONDS
                    await mongo_forwarding.sweep(pool)
            except DependencyUnavailable:
                failures += 1  # reported where raised (shared/db.py)
            except Exception:
                failures += 1
                logger.exception("scheduler tick failed; retrying")
            delay = poll_seconds if not failures else min(poll_seconds * 2**failures, FAILURE_BACKOFF_MAX_SECONDS)
            await _wait(stop, delay)
    finally:
        if health:
            health.close()
        await directory.aclose()
        try:
            await asyncio.wait_for(pool.close(), CLOSE_TIMEOUT_SECONDS)
        except TimeoutError:
            pool.terminate()


def main() -> None:
    slog.configure("reports-scheduler", get_settings().log_level)
    asyncio.run(run())


if __name__ == "__main__":
    main()
