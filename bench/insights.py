"""The insights issue's figures: Analytics series and funnel on N events over 90 days in one organisation,
beside chDB (ClickHouse in-process) on the same rows; a timeline page of 50; ingestion through the
ingestion statement vs a raw COPY of the same rows into the same table.

    PYTHONPATH=. uv run --group bench python bench/insights.py [--events 5000000]

The events are synthetic (seeded): customers (N / 25) with sessions on 3 integrations over 90 days, each
`visit` → `journey_started` → `product_viewed` → `order_started` → `order_placed` → `order_successful`
dropping off step by step, with behaviour events between. They are loaded by binary COPY and every read
model is built set-based with the demo loader's statements (services/insights/repository/bulk.py), into the
bench PostgreSQL (bench/out/pg, which also holds the orders benchmark's 1M orders / 200k customers).

Query times are the repository functions the API calls (in-process, one connection, in a tenant
transaction, after a warm-up), median and p95 of `--repeat` runs. chDB gets the same rows (exported from
PostgreSQL) in a MergeTree table ordered by (org_id, type, occurred_at) and answers the same series
(distinct customers per day, new customers) and funnel from raw events. Ingestion: 8 clients storing
batches of 500 through `events.store` (the statement POST /v1/events runs) for `--ingest-seconds`, in
this process (not through the gateway and API processes), vs one COPY of the same number of rows.
Figures are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, base_args, fmt_ms, pct, save_result, say, setup

BENCH_ORG = uuid.UUID("b0000000-0000-4000-8000-00000000beef")
# Ingestion is measured into another organisation of the same tables: the measured one keeps its N events.
INGEST_ORG = uuid.UUID("b0000000-0000-4000-8000-00000000feed")
DAYS = 90
SEED = 20261130
TYPES_BEHAVIOUR = ("page_view", "click", "form_step")


def _ids(rng: random.Random, n: int) -> list[uuid.UUID]:
    return [uuid.UUID(int=rng.getrandbits(128) & ~(0xF << 76) | (4 << 76)) for _ in range(n)]


def generate(n_events: int, now: datetime) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
    """Rows of SESSION-style events (org, occurred_at, integration, source_key, type, class, customer, product,
    category), seeded; and the dimensions used."""
    rng = random.Random(SEED)
    integrations = _ids(rng, 3)
    categories = _ids(rng, 3)
    products = {c: _ids(rng, 4) for c in categories}
    customers = _ids(rng, max(1, n_events // 25))
    start = (now - timedelta(days=DAYS - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    span_s = (now - start).total_seconds() - 3600
    rows: list[tuple[Any, ...]] = []
    k = 0
    while len(rows) < n_events:
        cust = customers[rng.randrange(len(customers))]
        integ = integrations[rng.randrange(3)]
        cat = categories[rng.randrange(3)]
        prod = products[cat][rng.randrange(4)]
        t = start + timedelta(seconds=rng.random() * span_s)
        k += 1
        steps: list[tuple[str, str, uuid.UUID | None, uuid.UUID | None]] = [("visit", "funnel", None, None)]
        if rng.random() < 0.68:
            steps.append(("journey_started", "funnel", None, cat))
            if rng.random() < 0.65:
                steps.append(("product_viewed", "funnel", prod, cat))
                if rng.random() < 0.3:
                    steps.append(("order_started", "funnel", prod, cat))
                    if rng.random() < 0.5:
                        steps.append(("order_placed", "business", prod, cat))
                        if rng.random() < 0.6:
                            steps.append(("order_successful", "business", prod, cat))
        for i, (typ, cls, p, c) in enumerate(steps):
            for b in range(rng.randrange(3)):
                t += timedelta(seconds=rng.randrange(5, 60))
                rows.append((BENCH_ORG, t, integ, f"s{k}:{i}:b{b}", TYPES_BEHAVIOUR[b], "behaviour", cust, p, c))
            t += timedelta(seconds=rng.randrange(5, 300))
            rows.append((BENCH_ORG, t, integ, f"s{k}:{i}", typ, cls, cust, p, c))
    del rows[n_events:]
    return rows, {"integrations": integrations, "categories": categories, "customers": customers}


COLUMNS = (
    "org_id",
    "occurred_at",
    "integration_id",
    "source_key",
    "type",
    "class",
    "customer_id",
    "product_id",
    "category_id",
)


async def load(owner: Any, rows: list[tuple[Any, ...]], since: date, reuse: bool) -> dict[str, float]:
    from services.insights.repository import bulk

    took: dict[str, float] = {}
    await owner.execute("SET statement_timeout = 0")
    for t in (*bulk.READ_MODELS, "devices", "events"):
        await owner.execute(f"DELETE FROM {t} WHERE org_id = $1", INGEST_ORG)
    if reuse and await owner.fetchval("SELECT count(*) FROM events WHERE org_id = $1", BENCH_ORG) == len(rows):
        say("  reusing the loaded events; building the read models not built yet")
        for table in bulk.READ_MODELS:
            if not await owner.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE org_id = $1)", BENCH_ORG):
                t1 = time.perf_counter()
                n = await bulk.build_read_model(owner, BENCH_ORG, table, since)
                took[table] = time.perf_counter() - t1
                say(f"  {table}: {n:,} rows in {took[table]:.1f} s")
        await owner.execute(f"VACUUM (ANALYZE) {', '.join(bulk.READ_MODELS)}")
        return took
    await owner.execute("SELECT drop_event_partitions('2200-01-01')")
    for t in (*bulk.READ_MODELS, "devices", "organisation_settings"):
        await owner.execute(f"DELETE FROM {t} WHERE org_id = $1", BENCH_ORG)
    async with owner.transaction():
        await owner.execute("SET LOCAL statement_timeout = 0")
        await bulk.ensure_partitions(owner, since - timedelta(days=1), date.today() + timedelta(days=2))
        t0 = time.perf_counter()
        async with bulk.events_without_secondary_indexes(owner):
            await owner.copy_records_to_table("events", records=rows, columns=COLUMNS)
            took["copy"] = time.perf_counter() - t0
        took["copy+indexes"] = time.perf_counter() - t0
        for table in bulk.READ_MODELS:
            t1 = time.perf_counter()
            n = await bulk.build_read_model(owner, BENCH_ORG, table, since)
            took[table] = time.perf_counter() - t1
            say(f"  {table}: {n:,} rows in {took[table]:.1f} s")
    # What autovacuum does after a load, done before measuring rather than during.
    t0 = time.perf_counter()
    await owner.execute(f"VACUUM (ANALYZE) events, {', '.join(bulk.READ_MODELS)}")
    took["vacuum"] = time.perf_counter() - t0
    return took


async def timed(fn: Any, repeat: int) -> tuple[float, float, Any]:
    out = await fn()
    lat = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = await fn()
        lat.append(time.perf_counter() - t0)
    return pct(lat, 0.5), pct(lat, 0.95), out


def chdb_load(csv: Path) -> Any:
    from chdb import session

    s = session.Session(str(OUT / "chdb"))
    s.query("DROP TABLE IF EXISTS ev")
    s.query(
        "CREATE TABLE ev (org_id UUID, occurred_at DateTime64(6, 'UTC'), integration_id UUID, type String,"
        " customer_id UUID, category_id Nullable(UUID)) ENGINE = MergeTree ORDER BY (org_id, type, occurred_at)"
    )
    s.query(
        f"INSERT INTO ev SELECT * FROM file('{csv}', CSV, 'org_id UUID, occurred_at DateTime64(6, \\'UTC\\'),"
        " integration_id UUID, type String, customer_id UUID, category_id Nullable(UUID)')"
    )
    return s


def chdb_series(s: Any, first: date, last: date, category: uuid.UUID | None) -> bytes:
    cat = f" AND category_id = '{category}'" if category else ""
    return s.query(
        f"""SELECT d, uniqExact(customer_id) AS active, uniqExactIf(customer_id, fd = d) AS new FROM (
              SELECT toDate(occurred_at) AS d, customer_id FROM ev
               WHERE org_id = '{BENCH_ORG}' AND toDate(occurred_at) BETWEEN '{first}' AND '{last}'{cat}
            ) a LEFT JOIN (
              SELECT customer_id, min(toDate(occurred_at)) AS fd FROM ev WHERE org_id = '{BENCH_ORG}'{cat}
               GROUP BY customer_id
            ) f USING customer_id GROUP BY d ORDER BY d""",
        "CSV",
    ).bytes()


def chdb_funnel(s: Any, first: date, last: date) -> bytes:
    steps = ("visit", "journey_started", "product_viewed", "order_started", "order_placed", "order_successful")
    firsts = ", ".join(f"minIf(occurred_at, type = '{t}') AS s{k}" for k, t in enumerate(steps, 1))
    has = ", ".join(f"countIf(type = '{t}') > 0 AS h{k}" for k, t in enumerate(steps, 1))
    reached = " ".join(f"WHEN NOT h{k}{f' OR s{k} < s{k - 1}' if k > 1 else ''} THEN {k - 1}" for k in range(1, 7))
    counts = ", ".join(f"countIf(r >= {k})" for k in range(1, 7))
    return s.query(
        f"""SELECT {counts} FROM (SELECT CASE {reached} ELSE 6 END AS r FROM (
              SELECT customer_id, {firsts}, {has} FROM ev
               WHERE org_id = '{BENCH_ORG}' AND toDate(occurred_at) BETWEEN '{first}' AND '{last}'
                 AND type IN {steps} GROUP BY customer_id))""",
        "CSV",
    ).bytes()


async def ingest(pool: Any, rows: list[tuple[Any, ...]], seconds: float, clients: int = 8) -> tuple[int, float]:
    from services.insights.repository import events as store
    from shared.db import tenant_tx

    batches = [rows[i : i + 500] for i in range(0, len(rows), 500)]
    done = 0
    it = iter(batches)
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal done
        for batch in it:
            if time.perf_counter() > deadline:
                return
            evs = [store.NewEvent(r[1], r[3], r[4], r[5], r[6], product_id=r[7], category_id=r[8]) for r in batch]
            async with tenant_tx(pool, INGEST_ORG) as conn:
                n, _ = await store.store(conn, INGEST_ORG, r_integ(batch), None, evs)
            done += n

    def r_integ(batch: list[tuple[Any, ...]]) -> uuid.UUID:
        return uuid.UUID(str(batch[0][2]))

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return done, time.perf_counter() - t0


async def main() -> None:
    import asyncpg

    from services.insights.domain.buckets import span
    from services.insights.repository import analytics, timeline
    from shared.db import tenant_tx
    from shared.presets import DatePreset, DateRange

    ap = base_args(__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=5_000_000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--ingest-seconds", type=float, default=20.0)
    ap.add_argument("--reuse", action="store_true", help="keep the events a previous run loaded (same --events)")
    args = ap.parse_args()
    env = await setup(redis=False)
    lines: list[str] = []
    owner = await asyncpg.connect(env.settings.service_database_url("insights", "owner"))
    pool = await asyncpg.create_pool(env.settings.service_database_url("insights"), min_size=1, max_size=9)
    try:
        now = datetime.now(UTC)
        say(f"generating {args.events:,} events over {DAYS} days")
        rows, dims = generate(args.events, now)
        since = (now - timedelta(days=DAYS - 1)).date()
        say("loading (COPY, read models set-based)")
        took = await load(owner, rows, since, args.reuse)
        loaded = (
            f"COPY {took['copy']:.1f} s ({args.events / took['copy']:,.0f} rows/s), with indexes"
            f" {took['copy+indexes']:.1f} s; "
            if "copy" in took
            else "reused; "
        )
        lines.append(
            f"load of {args.events:,} events: {loaded}read models and vacuum "
            + ", ".join(f"{t} {took[t]:.1f} s" for t in took if t not in ("copy", "copy+indexes"))
        )
        say(lines[-1])
        sizes = {
            t: await owner.fetchval(f"SELECT count(*) FROM {t} WHERE org_id = $1", BENCH_ORG)
            for t in ("customer_days", "active_customers", "customer_firsts", "funnel_firsts")
        }
        lines.append("read model rows: " + ", ".join(f"{t} {n:,}" for t, n in sizes.items()))
        say(lines[-1])
        csv = OUT / "insights-events.csv"
        await owner.copy_from_query(
            "SELECT org_id, occurred_at, integration_id, type, customer_id, category_id FROM events"
            f" WHERE org_id = '{BENCH_ORG}'",
            output=str(csv),
            format="csv",
        )
        t0 = time.perf_counter()
        ch = chdb_load(csv)
        lines.append(f"chDB load of the same rows: {time.perf_counter() - t0:.1f} s")
        say(lines[-1])

        cat = dims["categories"][0]
        cases: list[tuple[str, DatePreset, list[uuid.UUID]]] = [
            *((p.value, p, []) for p in DatePreset),
            ("LAST_30_DAYS, one category", DatePreset.LAST_30_DAYS, [cat]),
            ("LAST_90_DAYS, one category", DatePreset.LAST_90_DAYS, [cat]),
            ("LAST_30_DAYS, two categories (scan fallback)", DatePreset.LAST_30_DAYS, dims["categories"][:2]),
        ]
        for label, preset, cats in cases:
            sp = span(DateRange(preset=preset), "UTC")
            scope = analytics.Scope(BENCH_ORG, category_ids=cats)

            async def q(sp: Any = sp, scope: Any = scope) -> Any:
                async with tenant_tx(pool, BENCH_ORG) as conn:
                    return await analytics.series(conn, scope, sp)

            med, p95, pts = await timed(q, args.repeat)
            ch_line = ""
            if len(cats) <= 1:
                c0 = time.perf_counter()
                for _ in range(3):
                    chdb_series(ch, sp.first_day, sp.last_day, cats[0] if cats else None)
                ch_t = (time.perf_counter() - c0) / 3
                ch_line = f"; chDB {fmt_ms(ch_t)}, ours ÷ chDB {med / ch_t:.2f}"
            verdict = "ok" if p95 < 0.1 else "MISSED"
            new = sum(p.new_customers for p in pts)
            lines.append(
                f"series {label}: median {fmt_ms(med)}, p95 {fmt_ms(p95)} (target < 100 ms) [{verdict}];"
                f" {len(pts)} points, {new:,} new customers{ch_line}"
            )
            say(lines[-1])
        today = now.date()
        for days, target in ((30, 0.3), (90, 1.0)):
            first = today - timedelta(days=days - 1)

            async def f(first: date = first) -> Any:
                async with tenant_tx(pool, BENCH_ORG) as conn:
                    return await analytics.funnel(conn, analytics.Scope(BENCH_ORG), first, today)

            med, p95, steps = await timed(f, max(3, args.repeat // 2))
            c0 = time.perf_counter()
            ch_counts = chdb_funnel(ch, first, today)
            ch_t = time.perf_counter() - c0
            verdict = "ok" if p95 < target else "MISSED"
            lines.append(
                f"funnel {days} days: median {fmt_ms(med)}, p95 {fmt_ms(p95)} (target < {fmt_ms(target)}) [{verdict}];"
                f" customers per step {[s.customers for s in steps]}; chDB {fmt_ms(ch_t)}"
                f" ({ch_counts.decode().strip()}), ours ÷ chDB {med / ch_t:.2f}"
            )
            say(lines[-1])
        rng = random.Random(1)
        custs = dims["customers"]

        async def tl() -> Any:
            async with tenant_tx(pool, BENCH_ORG) as conn:
                return await timeline.page(
                    conn, BENCH_ORG, custs[rng.randrange(len(custs))], classes=None, first=50, after=None
                )

        lat = []
        for _ in range(200):
            t0 = time.perf_counter()
            await tl()
            lat.append(time.perf_counter() - t0)
        p95 = pct(lat, 0.95)
        lines.append(
            f"timeline page of 50: median {fmt_ms(pct(lat, 0.5))}, p95 {fmt_ms(p95)} (target < 20 ms)"
            f" [{'ok' if p95 < 0.02 else 'MISSED'}]"
        )
        say(lines[-1])

        # Ingestion: fresh events in the last day, through the ingestion statement, 8 clients, batches of 500.
        base = now - timedelta(hours=20)
        fresh = [
            (INGEST_ORG, base + timedelta(seconds=i * 0.05), r[2], f"ingest:{i}", *r[4:])
            for i, r in enumerate(rows[:2_000_000])
        ]
        n, secs = await ingest(pool, fresh, args.ingest_seconds)
        rate = n / secs
        copy_rows = [
            (r[0], r[1] + timedelta(microseconds=1), r[2], f"copy:{i}", *r[4:]) for i, r in enumerate(fresh[:n])
        ]
        t0 = time.perf_counter()
        await owner.copy_records_to_table("events", records=copy_rows, columns=COLUMNS)
        copy_rate = n / (time.perf_counter() - t0)
        lines.append(
            f"ingestion (events.store, 8 clients, batches of 500, {secs:.0f} s): {rate:,.0f} events/s"
            f" (target >= 20,000) [{'ok' if rate >= 20000 else 'MISSED'}]; raw COPY of the same {n:,} rows into"
            f" events: {copy_rate:,.0f} rows/s; ratio {rate / copy_rate:.1%} (target >= 10%)"
        )
        say(lines[-1])
        save_result("insights", lines)
        print("\n".join(lines))
    finally:
        await pool.close()
        await owner.close()
        env.close()


if __name__ == "__main__":
    asyncio.run(main())
