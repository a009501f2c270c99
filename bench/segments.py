"""Segments: the `customers` list filtered by a segment (issue 11's figure: 200,000 customers, a 50,000-member
segment, p95 under 50 ms per page), read from the orders service's event-fed copy of segment membership.

    PYTHONPATH=. uv run python bench/segments.py [--customers 200000] [--members 50000] [--pages 200]

Data: one organisation loaded by the demo loader (customers only, no orders), in its own embedded PostgreSQL
under --data-dir (default /tmp/bench_segments; not bench/out, so it runs beside the other benchmarks), or the
servers of DATABASE_URL (databases prefixed bench_segments_). The segment's members (a random sample) reach the
copy through the consumer's own path: `segment.members_changed` events of MEMBER_BATCH ids, each applied once by
`shared.messaging.consumer.apply_event`. Then, on the orders internal API (the app in process, a real service
token, the endpoint's tenant transaction and the repository's keyset SQL):

- page 1 asked again and again, and a walk through --pages consecutive pages (cursor after cursor), with the
  segment filter, and the same without it for comparison;
- `totalCount` (POST /internal/customers/count) with the segment filter;
- the plan of page 1 (EXPLAIN ANALYZE).

Prints p50/p95/max per case; never asserts (bench/README.md, "Segments").
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import httpx  # noqa: E402

from infra.embedded import EmbeddedPostgres, free_port  # noqa: E402
from shared.messaging.contracts import SEGMENT_MEMBERS_CHANGED, Event  # noqa: E402

TARGET_P95_MS = 50.0


def say(msg: str) -> None:
    print(msg, flush=True)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def summary(name: str, seconds: list[float], target: float | None = None) -> str:
    ms = [s * 1000 for s in seconds]
    p95 = pct(ms, 0.95)
    verdict = ""
    if target is not None:
        verdict = f" [{'ok' if p95 < target else 'MISSED'}: target p95 < {target:.0f} ms]"
    return f"{name}: n={len(ms)} p50 {pct(ms, 0.5):.1f} ms, p95 {p95:.1f} ms, max {max(ms):.1f} ms{verdict}"


async def timed(n: int, call: Callable[[], Awaitable[Any]]) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        await call()
        out.append(time.perf_counter() - t0)
    return out


async def load(settings: Any, n_customers: int, n_members: int) -> tuple[uuid.UUID, uuid.UUID]:
    """The organisation (loaded once per data directory) and a segment of `n_members` of its customers in the
    orders copy (made afresh each run)."""
    import demo.orders as demo
    from shared.db import create_pool
    from shared.messaging.consumer import apply_event
    from shared.service import segment_copies

    owner = settings.service_database_url("orders", "owner")
    org_id = demo.DEMO_ORG_ID
    if not await demo.demo_loaded(owner, org_id):
        say(f"loading {n_customers:,} customers (first run of this data directory only)")
        began = time.monotonic()
        await demo.load_demo(owner, org_id=org_id, customers=n_customers, orders=0, ledger=False)
        say(f"  loaded in {time.monotonic() - began:.0f}s")
    conn = await asyncpg.connect(owner)
    try:
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM customers WHERE org_id = $1", org_id)]
        # The segments of earlier runs go: each run measures one segment of --members over the customers.
        await conn.execute("DELETE FROM segment_members WHERE org_id = $1", org_id)
        await conn.execute("DELETE FROM segment_copies WHERE org_id = $1", org_id)
    finally:
        await conn.close()
    if len(ids) != n_customers:
        raise SystemExit(f"the data directory holds {len(ids):,} customers, not {n_customers:,}: use another one")
    members = random.Random(11).sample(ids, n_members)
    segment_id = uuid.uuid4()
    pool = await create_pool(settings.service_database_url("orders"), max_size=2)
    began = time.monotonic()
    try:
        batch = segment_copies.MEMBER_BATCH
        for start in range(0, len(members), batch):
            payload = {
                "segment_id": str(segment_id),
                "version": 1,
                "added": [str(c) for c in members[start : start + batch]],
                "removed": [],
            }
            event = Event(uuid.uuid4(), SEGMENT_MEMBERS_CHANGED, org_id, datetime.now(UTC), 1, payload)
            assert await apply_event(pool, "orders", event, segment_copies.HANDLERS)
    finally:
        await pool.close()
    say(
        f"segment of {n_members:,} members applied to the orders copy in {time.monotonic() - began:.1f}s"
        f" ({-(-n_members // segment_copies.MEMBER_BATCH)} events)"
    )
    conn = await asyncpg.connect(owner)
    try:
        for table in ("customers", "segment_members", "segment_copies"):
            await conn.execute(f"VACUUM ANALYZE {table}")
    finally:
        await conn.close()
    return org_id, segment_id


async def measure(settings: Any, org_id: uuid.UUID, segment_id: uuid.UUID, args: argparse.Namespace) -> list[str]:
    from services.orders.api.app import create_app
    from services.orders.domain.filters import CustomerFilter
    from services.orders.repository import customers
    from shared.auth import service_tokens
    from shared.service.pagination import Params

    app = create_app(settings)
    token = service_tokens.mint(
        settings.service_token_secret, caller="gateway", audience="orders", org_id=str(org_id), role="admin"
    )
    headers = {"authorization": f"Bearer {token}"}
    lines: list[str] = []
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://orders.bench") as c:

            async def page(flt: dict[str, Any], after: str | None = None) -> dict[str, Any]:
                body = {"filter": flt, "first": args.first, "after": after}
                r = await c.post("/internal/customers/list", json=body, headers=headers)
                r.raise_for_status()
                result: dict[str, Any] = r.json()
                return result

            async def walk(flt: dict[str, Any]) -> tuple[list[float], int]:
                out, after, rows = [], None, 0
                for _ in range(args.pages):
                    t0 = time.perf_counter()
                    got = await page(flt, after)
                    out.append(time.perf_counter() - t0)
                    rows += len(got["rows"])
                    if not got["has_next_page"]:
                        break
                    after = got["rows"][-1]["cursor"]
                return out, rows

            seg = {"segmentId": str(segment_id)}
            for _ in range(5):  # warm the caches and the prepared statements
                await page(seg)
                await page({})
            count = await c.post("/internal/customers/count", json={"filter": seg}, headers=headers)
            say(f"totalCount with the segment filter: {count.json()['total_count']:,}")
            # Interleaved, so both cases meet the same load of a shared machine.
            with_segment: list[float] = []
            without: list[float] = []
            for _ in range(args.repeat):
                with_segment += await timed(1, lambda: page(seg))
                without += await timed(1, lambda: page({}))
            lines.append(summary("orders API, customers page 1, segment filter", with_segment, TARGET_P95_MS))
            lines.append(summary("orders API, customers page 1, no filter (same moments)", without))
            pages, rows = await walk(seg)
            lines.append(
                summary(f"orders API, pages 1-{len(pages)} ({rows:,} rows), segment filter", pages, TARGET_P95_MS)
            )
            pages, rows = await walk({})
            lines.append(summary(f"orders API, pages 1-{len(pages)} ({rows:,} rows), no filter", pages))

            async def count_call() -> None:
                r = await c.post("/internal/customers/count", json={"filter": seg}, headers=headers)
                r.raise_for_status()

            lines.append(summary("orders API, totalCount, segment filter", await timed(20, count_call)))

        # The store's part alone: the endpoint's statements in a tenant transaction, no HTTP.
        from shared.db import tenant_tx
        from shared.service import segment_copies
        from shared.service.app import service_state

        pool = service_state(app).pool
        flt = CustomerFilter(segment_id=segment_id)

        async def sql_page() -> None:
            async with tenant_tx(pool, org_id) as conn:
                await segment_copies.require_known(conn, org_id, segment_id, "filter.segmentId")
                await customers.list_page(conn, org_id, flt, "UTC", args.first, None)

        await timed(5, sql_page)
        sql_times = await timed(args.repeat, sql_page)
        lines.append(summary("SQL only (tenant tx: segment check + page 1), segment filter", sql_times, TARGET_P95_MS))

    p = Params()
    where = customers.where_clause(org_id, CustomerFilter(segment_id=segment_id), "UTC", p.values)
    sql = (
        f"EXPLAIN (ANALYZE, COSTS OFF, SUMMARY ON) SELECT {customers.COLUMNS} FROM customers c WHERE {where}"
        f" ORDER BY c.last_seen DESC, c.id DESC LIMIT {args.first + 1}"
    )
    conn = await asyncpg.connect(settings.service_database_url("orders", "owner"))
    try:
        plan = [r[0] for r in await conn.fetch(sql, *p.values)]
    finally:
        await conn.close()
    say("plan of page 1 with the segment filter (owner role: the same statement, no RLS policy):")
    for row in plan:
        say(f"    {row}")
    return lines


async def insights_recompute(settings: Any, org_id: uuid.UUID, n_customers: int) -> list[str]:
    """The insights side: a dynamic segment's set-based recompute over `n_customers` customers (first days spread
    over 60 days) and ~3.5 visits each over the last 30 days (customer i: i % 8 visits), loaded once by SQL; the
    definition "first seen in the last 30 days AND at least 6 visits in the last 30 days" selects about a quarter
    of them (customers i % 8 in 6..7 first seen within 30 days)."""
    from services.insights.service import segments
    from shared.db import create_pool, tenant_tx

    owner = await asyncpg.connect(settings.service_database_url("insights", "owner"))
    try:
        loaded = await owner.fetchval("SELECT count(*) FROM customer_firsts WHERE org_id = $1", org_id)
        if loaded != n_customers:
            say(f"loading the insights side: {n_customers:,} customers, ~{n_customers * 7 // 2:,} visit events")
            began = time.monotonic()
            await owner.execute("DELETE FROM customer_firsts WHERE org_id = $1", org_id)
            await owner.execute("SELECT ensure_event_partitions(current_date - 31, current_date + 1)")
            all_ = "ffffffff-ffff-ffff-ffff-ffffffffffff"
            await owner.execute(
                f"""INSERT INTO customer_firsts (org_id, customer_id, integration_id, category_id, first_day)
                    SELECT $1, md5('c' || i)::uuid, '{all_}', '{all_}', current_date - (i % 60)
                      FROM generate_series(1, $2) i""",
                org_id,
                n_customers,
            )
            await owner.execute(
                """INSERT INTO events (org_id, occurred_at, integration_id, source_key, type, class, customer_id)
                   SELECT $1, now() - (((i * 7 + v * 13) % 43000) * interval '1 minute'),
                          '00000000-0000-4000-8000-0000000000aa', 'bench-' || i || '-' || v, 'visit', 'funnel',
                          md5('c' || i)::uuid
                     FROM generate_series(1, $2) i, generate_series(1, 7) v WHERE v <= i % 8""",
                org_id,
                n_customers,
            )
            await owner.execute("ANALYZE customer_firsts")
            await owner.execute("ANALYZE events")
            say(f"  loaded in {time.monotonic() - began:.0f}s")
        await owner.execute("DELETE FROM segments WHERE org_id = $1", org_id)
        await owner.execute("DELETE FROM outbox WHERE org_id = $1", org_id)
    finally:
        await owner.close()
    pool = await create_pool(settings.service_database_url("insights"), max_size=2)
    lines: list[str] = []
    try:
        definition = {
            "firstSeen": {"preset": "LAST_30_DAYS"},
            "events": [{"type": "visit", "atLeast": 6, "lastDays": 30}],
        }
        t0 = time.perf_counter()
        async with tenant_tx(pool, org_id) as conn:
            seg, diff = await segments.create(conn, org_id, name="bench", definition=definition)
        created = time.perf_counter() - t0
        lines.append(
            f"insights: create (first computation) {created * 1000:.0f} ms: {diff.member_count:,} members,"
            f" {len(diff.added):,} added"
        )
        t0 = time.perf_counter()
        async with tenant_tx(pool, org_id) as conn:
            same = await segments.recompute(conn, org_id, seg.id)
        lines.append(
            f"insights: recompute with nothing changed {(time.perf_counter() - t0) * 1000:.0f} ms"
            f" (diff +{len(same.added)} -{len(same.removed)}, no event)"
        )
        narrower = {**definition, "events": [{"type": "visit", "atLeast": 7, "lastDays": 30}]}
        t0 = time.perf_counter()
        async with tenant_tx(pool, org_id) as conn:
            _, change = await segments.update(conn, org_id, seg.id, definition=narrower)
        assert change is not None
        lines.append(
            f"insights: narrowed definition {(time.perf_counter() - t0) * 1000:.0f} ms:"
            f" -{len(change.removed):,} members, {change.member_count:,} left"
        )
        async with tenant_tx(pool, org_id) as conn:
            events = await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE org_id = $1 AND type LIKE 'segment.%'", org_id
            )
        lines.append(f"insights: {events} segment.members_changed events in the outbox for these changes")
    finally:
        await pool.close()
    return lines


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=200_000)
    ap.add_argument("--members", type=int, default=50_000)
    ap.add_argument("--pages", type=int, default=200, help="consecutive pages walked per case")
    ap.add_argument("--repeat", type=int, default=200, help="times page 1 is asked per case")
    ap.add_argument("--first", type=int, default=50, help="page size")
    ap.add_argument("--data-dir", default=str(Path(tempfile.gettempdir()) / "bench_segments"))
    ap.add_argument("--no-insights", action="store_true", help="skip the insights service's recompute figures")
    args = ap.parse_args()

    pg = None
    if not os.environ.get("DATABASE_URL"):
        os.environ.setdefault("PG_FSYNC", "off")
        data = Path(args.data_dir)
        pg = EmbeddedPostgres(data, free_port()).start()
        os.environ["DATABASE_URL"] = pg.url
        say(f"embedded PostgreSQL in {data}")
    else:
        os.environ.setdefault("DB_PREFIX", "bench_segments_")
    try:
        from shared.bootstrap import bootstrap
        from shared.config import Settings

        settings = Settings()
        await bootstrap(settings, ("orders", "insights"))
        org_id, segment_id = await load(settings, args.customers, args.members)
        lines = await measure(settings, org_id, segment_id, args)
        if not args.no_insights:
            lines += await insights_recompute(settings, org_id, args.customers)
        say("")
        for line in lines:
            say(line)
    finally:
        if pg is not None:
            pg.stop()


if __name__ == "__main__":
    asyncio.run(main())
