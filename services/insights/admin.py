"""Operator commands of the insights service.

    python -m services.insights.admin backfill          # fill the insights store of an existing deployment
    python -m services.insights.admin rebuild-rollups [--org ORG] [--check]
    python -m services.insights.admin drop-expired      # run the retention now (the workers run it hourly)
    python -m services.insights.admin publish-business-events [--batch N]   # backfill the reports service
    python -m services.insights.admin encrypt-secrets   # Mixpanel credentials under the first encryption key

`backfill`: the orders service owns organisations and orders, and the insights service never opens its
database, so the backfill is the orders service republishing them: this command runs its
`publish-organisations` and `publish-orders` commands (run it where the orders service's settings are, as
`./platform up`'s checkout is), and the orders relay and the insights worker do the rest. Each order is
recorded once however often it is republished; raw funnel events older than the 90-day window are not kept.

`rebuild-rollups`: recomputes every read model from its source for the window the source still holds
(the day-bucketed ones from the raw events of the last 90 days, in the organisation's time zone; the
hourly rollup for the last 48 hours; the orders rollup from the orders copy), prints every difference it
found with up to 20 samples per table, then replaces the stored rows (`--check`: changes nothing).

`publish-business-events`: appends a `business_event.recorded` outbox row for every stored business event (the
raw window: older partitions are gone), with the payload ingestion publishes, `--batch` events per transaction;
the insights relay sends them. The rows are new (new envelope ids), so consumers dedupe on the payload's
`event_id` (the reports service does): running it twice is harmless.

`encrypt-secrets`: the Mixpanel connections' project tokens and service-account credentials re-encrypted under
the first key of `SECRETS_ENCRYPTION_KEYS` (shared/secret_rotation.py; run beside the orders and reports
services' own `encrypt-secrets` when a key rotates).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from services.insights.repository import republish, rollups
from services.insights.service import maintenance
from services.insights.service.orders_events import first_whole_local_day
from shared.config import get_settings
from shared.db import connection, create_pool, system_tx, tenant_tx
from shared.errors import DomainError, ErrorCode
from shared.local import require_database
from shared.secret_rotation import StoredSecrets, rotate_stored
from shared.secrets import SecretKeyError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m services.insights.admin",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("backfill", help="have the orders service republish its organisations and orders")
    r = sub.add_parser("rebuild-rollups", help="recompute the read models from raw events, print differences")
    r.add_argument("--org", type=uuid.UUID, help="one organisation (default: every one)")
    r.add_argument("--check", action="store_true", help="print the differences, change nothing")
    sub.add_parser("drop-expired", help="drop raw partitions past 90 days and expired rollups now")
    b = sub.add_parser("publish-business-events", help="republish every stored business event (reports backfill)")
    b.add_argument("--batch", type=int, default=1000, help="events per transaction (1 to 10000)")
    sub.add_parser("encrypt-secrets", help="re-encrypt the Mixpanel credentials under the first key")
    return p


# Where the insights service keeps credentials (migration 012).
STORED_SECRETS = (StoredSecrets("mixpanel_connections", ("org_id", "id"), ("token_enc", "username_enc", "secret_enc")),)


def backfill() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for command in ("publish-organisations", "publish-orders"):
        done = subprocess.run(
            [sys.executable, "-m", "services.orders.admin", command], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"services.orders.admin {command} failed: {done.stderr.strip()}")
        out[command] = json.loads(done.stdout)
    return out


async def organisations(owner_url: str) -> list[uuid.UUID]:
    """Every organisation the insights store knows (the owner role: the application role sees one at a time)."""
    owner = await create_pool(owner_url, max_size=1, wait=False)
    try:
        async with system_tx(owner) as conn:
            rows = await conn.fetch(
                """SELECT org_id FROM organisation_settings UNION SELECT DISTINCT org_id FROM orders
                   UNION SELECT DISTINCT org_id FROM event_rollups_daily ORDER BY 1"""
            )
    finally:
        await owner.close()
    return [r["org_id"] for r in rows]


async def rebuild_rollups(org: uuid.UUID | None, check: bool, now: datetime | None = None) -> dict[str, Any]:
    settings = get_settings()
    now = now or datetime.now(UTC)
    orgs = [org] if org else await organisations(settings.service_database_url("insights", "owner"))
    hour_from = (now - maintenance.HOURLY_KEPT).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    report: dict[str, Any] = {}
    pool = await create_pool(settings.service_database_url("insights"), max_size=1, wait=False)
    try:
        for org_id in orgs:
            async with tenant_tx(pool, org_id) as conn:
                zone = await conn.fetchval("SELECT time_zone FROM organisation_settings WHERE org_id = $1", org_id)
                since = first_whole_local_day(now, zone or "UTC")
                found = await rollups.rebuild(
                    conn,
                    org_id,
                    tuple(m.table for m in rollups.MODELS),
                    since_day=since,
                    hour_from=hour_from,
                    replace=not check,
                )
            report[str(org_id)] = {
                "since_day": since.isoformat(),
                "differences": sum(d.total for d in found),
                "tables": {d.table: d.as_json() for d in found if d.total},
            }
    finally:
        await pool.close()
    return {
        "organisations": len(orgs),
        "differences": sum(r["differences"] for r in report.values()),
        "replaced": not check,
        "by_organisation": {k: v for k, v in report.items() if v["differences"]},
    }


async def drop_expired(now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    pool = await create_pool(get_settings().service_database_url("insights"), max_size=1, wait=False)
    try:
        out = {}
        for task in maintenance.TASKS:
            async with connection(pool) as conn, conn.transaction():
                out[task.name] = await task.run(conn, now)
        return out
    finally:
        await pool.close()


async def publish_business_events(owner_url: str, batch: int) -> dict[str, int]:
    """Republishes every stored business event through the outbox, `batch` per transaction, as the owner
    (every organisation at once; the relay publishes each committed batch while the next is written)."""
    if not 1 <= batch <= 10_000:
        raise DomainError(ErrorCode.INVALID_INPUT, "must be from 1 to 10000", "batch")
    owner = await create_pool(owner_url, max_size=1, wait=False)
    published, batches = 0, 0
    after: republish.Key | None = (uuid.UUID(int=0), datetime(1970, 1, 1, tzinfo=UTC), uuid.UUID(int=0))
    try:
        while after is not None:
            async with system_tx(owner) as conn:
                count, after = await republish.republish_batch(conn, after, batch)
            published += count
            batches += 1 if count else 0
    finally:
        await owner.close()
    return {"published": published, "batches": batches}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    require_database()
    try:
        if args.cmd == "backfill":
            result = backfill()
        elif args.cmd == "rebuild-rollups":
            result = asyncio.run(rebuild_rollups(args.org, args.check))
        elif args.cmd == "publish-business-events":
            owner_url = get_settings().service_database_url("insights", "owner")
            result = asyncio.run(publish_business_events(owner_url, args.batch))
        elif args.cmd == "encrypt-secrets":
            owner_url = get_settings().service_database_url("insights", "owner")
            result = asyncio.run(rotate_stored(owner_url, STORED_SECRETS))
        else:
            result = asyncio.run(drop_expired())
    except SecretKeyError as exc:  # a configuration problem: named, without a traceback or the key
        print(f"error: SECRETS_ENCRYPTION_KEYS: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        print(f"error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
