"""Issue 10's collection downloads: documents per second and memory while a large collection streams.

    PYTHONPATH=. uv run --frozen --no-sync python -m bench.collection_downloads [--rows 200000] \
        [--data-dir /tmp/coll-bench]

Starts its own embedded PostgreSQL in `--data-dir` (or uses DATABASE_URL), bootstraps the reports database and
loads `--rows` orders (one ledger row each) and `--rows` business events (the five financial types) for one
organisation by INSERT … SELECT (server-side: the client's memory stays its own). Then, in this process, each
beside a floor measured in the same run:

- the orders and financial_journals collections as NDJSON and CSV through the service's streamed batches
  (service/collections.py `batches`, the export's own writers), documents/s and bytes;
- floor: COPY (the same rows, in the same order, as the SELECT the stream reads, without the mapping) TO STDOUT;
- the "changed since" cursor from the beginning (a forwarder's first pass), documents/s;
- peak RSS of the process after each (ru_maxrss: it only grows, so a stream that held its rows would show).

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ORG = uuid.UUID("00000000-0000-4000-8000-00000000c011")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _load(settings: Any, rows: int) -> None:
    import asyncpg

    conn = await asyncpg.connect(settings.service_database_url("reports", role="owner"))
    try:
        if await conn.fetchval("SELECT count(*) FROM orders WHERE org_id = $1", ORG) == rows:
            print(f"reusing {rows:,} orders and business events")
            return
        await conn.execute("DELETE FROM orders WHERE org_id = $1", ORG)
        await conn.execute("DELETE FROM commission_ledger WHERE org_id = $1", ORG)
        await conn.execute("DELETE FROM business_events WHERE org_id = $1", ORG)
        await conn.execute(
            """INSERT INTO organisation_settings (org_id, name, time_zone, base_currency, as_of)
               VALUES ($1, 'Bench', 'Europe/London', 'GBP', now()) ON CONFLICT (org_id) DO NOTHING""",
            ORG,
        )
        t0 = time.perf_counter()
        await conn.execute(
            """INSERT INTO orders (org_id, id, integration_id, category_id, product_id, customer_id, provider_id, kind,
                                   status, comm_status, amount, currency, created_at, successful_at, updated_at, as_of)
               SELECT $1, gen_random_uuid(), '00000000-0000-4000-8000-0000000000a1',
                      '00000000-0000-4000-8000-0000000000b1',
                      '00000000-0000-4000-8000-0000000000c1', gen_random_uuid(), NULL, 'order', 'SUCCESSFUL', 'PENDING',
                      (g % 500) + 0.25, 'GBP', now() - (g || ' seconds')::interval, NULL, now(), now()
                 FROM generate_series(1, $2) g""",
            ORG,
            rows,
        )
        await conn.execute(
            """INSERT INTO commission_ledger (org_id, event_id, order_id, from_status, to_status, from_comm, to_comm,
                                              amount, currency, occurred_at)
               SELECT org_id, gen_random_uuid(), id, 'PENDING', 'SUCCESSFUL', 'N/A', 'PENDING', amount, currency,
                      created_at + interval '1 minute'
                 FROM orders WHERE org_id = $1""",
            ORG,
        )
        await conn.execute(
            """INSERT INTO business_events (org_id, event_id, occurred_at, recorded_at, integration_id, source_key,
                                            type, entity_id, state, customer_id, amount, currency, fields, counted)
               SELECT $1, gen_random_uuid(), now() - (g || ' seconds')::interval, now(),
                      '00000000-0000-4000-8000-0000000000a1', 'k' || g,
                      (ARRAY['invoice', 'credit_note', 'payment', 'refund', 'top_up'])[1 + g % 5], 'e' || (g / 2),
                      'posted', gen_random_uuid(), (g % 900) + 0.5, 'EUR', jsonb_build_object('number', 'N' || g), true
                 FROM generate_series(1, $2) g""",
            ORG,
            rows,
        )
        await conn.execute("ANALYZE orders; ANALYZE commission_ledger; ANALYZE business_events")
        print(f"loaded {rows:,} orders (+ledger) and {rows:,} business events in {time.perf_counter() - t0:.1f} s")
    finally:
        await conn.close()


async def _floor(pool: Any, table: str, order: str, types: bool) -> tuple[float, int]:
    from shared.db import tenant_tx

    where = "org_id = $1" + (" AND type = ANY($2)" if types else "")
    args: list[Any] = [ORG] + ([["invoice", "credit_note", "payment", "refund", "top_up"]] if types else [])
    size = 0

    async def sink(chunk: bytes) -> None:
        nonlocal size
        size += len(chunk)

    t0 = time.perf_counter()
    async with tenant_tx(pool, ORG) as conn:
        n = int(await conn.fetchval(f"SELECT count(*) FROM {table} WHERE {where}", *args))
        await conn.copy_from_query(f"SELECT * FROM {table} WHERE {where} ORDER BY {order}", *args, output=sink)
    return n / (time.perf_counter() - t0), size


async def _stream(pool: Any, name: str, fmt: str, batch: int) -> tuple[int, int, float]:
    from services.reports.api.collections import _csv, _ndjson
    from services.reports.service import collections as workflow

    since, until = datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(days=1)
    batches = workflow.batches(pool, name, ORG, since, until, batch=batch)
    collection = workflow.domain.collection(name)
    out = _ndjson(batches) if fmt == "ndjson" else _csv(collection, batches)
    size = lines = 0
    t0 = time.perf_counter()
    async for chunk in out:
        size += len(chunk)
        lines += chunk.count(b"\n")
    elapsed = time.perf_counter() - t0
    docs = lines if fmt == "ndjson" else lines - 1
    return docs, size, elapsed


async def _changes(pool: Any, name: str, batch: int) -> tuple[int, float]:
    """The "changed since" cursor from the beginning (a forwarder's first pass)."""
    from services.reports.service import collections as workflow

    n = 0
    t0 = time.perf_counter()
    async for docs, _ in workflow.changes(pool, name, ORG, None, batch=batch):
        n += len(docs)
    return n, time.perf_counter() - t0


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--data-dir", default="/tmp/collections-bench")
    ap.add_argument("--batch", type=int, default=1000, help="documents per keyset batch")
    ap.add_argument("--keep", action="store_true", help="leave the PostgreSQL running")
    args = ap.parse_args()

    pg = None
    if not os.environ.get("DATABASE_URL"):
        from infra.embedded import EmbeddedPostgres, free_port

        os.environ.setdefault("PG_FSYNC", "off")
        pg = EmbeddedPostgres(Path(args.data_dir), free_port()).start()
        os.environ["DATABASE_URL"] = pg.url
    try:
        from shared.bootstrap import bootstrap_service
        from shared.config import Settings
        from shared.db import create_pool

        settings = Settings()
        await bootstrap_service(settings, "reports")
        await _load(settings, args.rows)
        pool = await create_pool(settings.service_database_url("reports"), max_size=4, settings=settings)
        try:
            import services.reports.api.collections  # noqa: F401  (what the stream imports, before the baseline)

            print(f"rss at start (modules imported) {_rss_mb():.0f} MB; batches of {args.batch} documents")
            for name, table, order, types in (
                ("orders", "orders", "created_at, id", False),
                ("financial_journals", "business_events", "occurred_at, event_id", True),
            ):
                floor, floor_bytes = await _floor(pool, table, order, types)
                print(f"{name}: floor COPY {floor:,.0f} rows/s ({floor_bytes / 1e6:.0f} MB)")
                for fmt in ("ndjson", "csv"):
                    docs, size, elapsed = await _stream(pool, name, fmt, args.batch)
                    print(
                        f"{name} {fmt}: {docs:,} documents in {elapsed:.1f} s = {docs / elapsed:,.0f} docs/s "
                        f"({100 * docs / elapsed / floor:.0f}% of COPY), {size / 1e6:.0f} MB, "
                        f"peak rss {_rss_mb():.0f} MB"
                    )
                docs, elapsed = await _changes(pool, name, args.batch)
                print(
                    f"{name} changes from the start: {docs:,} documents in {elapsed:.1f} s = "
                    f"{docs / elapsed:,.0f} docs/s, peak rss {_rss_mb():.0f} MB"
                )
        finally:
            await pool.close()
    finally:
        if pg is not None and not args.keep:
            pg.stop()


if __name__ == "__main__":
    asyncio.run(main())
