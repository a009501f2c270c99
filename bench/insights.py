"""The insights issue's figures: Analytics series and funnel on N events over 90 days in one organisation,
beside chDB (ClickHouse in-process) on the same rows; a timeline page of 50; ingestion over HTTP with live
push; the Analytics CSV downloads.

    UV_PROJECT_ENVIRONMENT=/tmp/benchvenv PYTHONPATH=. uv run --frozen --no-sync python -m bench.insights \
        [--events 5000000] [--reuse]

The events are synthetic (seeded): customers (N / 25) with sessions on 3 integrations over 90 days, each
`visit` → `journey_started` → `product_viewed` → `order_started` → `order_placed` → `order_successful`
dropping off step by step, with behaviour events between. They are loaded by binary COPY and every read
model is built set-based with the demo loader's statements (services/insights/repository/bulk.py), into the
bench PostgreSQL (bench/out/pg, which also holds the orders benchmark's 1M orders / 200k customers).

Query times are the repository functions the API calls (in-process, one connection, in a tenant
transaction, after a warm-up), median and p95 of `--repeat` runs. chDB gets the same rows (exported from
PostgreSQL) in a MergeTree table ordered by (org_id, type, occurred_at) and answers the same series (distinct
customers, new customers, visits per point, compared number by number with ours) and funnel from raw events.
The orders benchmark's 1M orders are copied into the insights orders copy under the measured organisation.

Then the real processes (orders API, insights API, gateway; bench/insights_platform.py): 8 clients POST
/v1/events with batches of 500 for `--ingest-seconds` (the gateway's per-integration limits raised for the
run) while a live subscriber times probe events from request to push; the stored count is checked against
the accepted count, and a raw COPY of the same rows into the same table is the floor. Last, both Analytics
CSV downloads for LAST_90_DAYS through the gateway against COPY TO STDOUT of the same query, with the insights
API's peak RSS. Everything is printed as one table.
Figures are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    OUT,
    _running_pg_port,
    base_args,
    cpu_seconds,
    fmt_ms,
    named_cpu_seconds,
    pct,
    save_result,
    say,
    setup,
)

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
    return rows, {"integrations": integrations, "categories": categories, "customers": customers, "products": products}


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


def chdb_series(
    s: Any, first: date, last: date, category: uuid.UUID | None, hourly: bool
) -> dict[Any, tuple[int, int, int]]:
    """Per bucket (a UTC day, or an hour's start): distinct customers, new customers (first event ever under
    the filter in the bucket), visits (not narrowed by a category: a visit has none), as our series counts."""
    cat = f" AND category_id = '{category}'" if category else ""
    key = "toStartOfHour(occurred_at)" if hourly else "toDate(occurred_at)"
    in_range = f"toDate(occurred_at) BETWEEN '{first}' AND '{last}'"
    out: dict[Any, list[int]] = {}
    customers = s.query(
        f"""SELECT k, uniqExact(customer_id), uniqExactIf(customer_id, fk = k) FROM (
              SELECT {key} AS k, customer_id FROM ev WHERE org_id = '{BENCH_ORG}' AND {in_range}{cat}
            ) a LEFT JOIN (
              SELECT customer_id, {key.replace("occurred_at", "min(occurred_at)")} AS fk FROM ev
               WHERE org_id = '{BENCH_ORG}'{cat} GROUP BY customer_id
            ) f USING customer_id GROUP BY k ORDER BY k""",
        "CSV",
    ).bytes()
    visits = s.query(
        f"SELECT {key} AS k, count() FROM ev WHERE org_id = '{BENCH_ORG}' AND {in_range} AND type = 'visit'"
        " GROUP BY k ORDER BY k",
        "CSV",
    ).bytes()

    def parse(k: str) -> Any:
        k = k.strip('"')
        return datetime.fromisoformat(k).replace(tzinfo=UTC) if hourly else date.fromisoformat(k)

    for line in customers.decode().splitlines():
        k, active, new = line.split(",")
        out.setdefault(parse(k), [0, 0, 0])[:2] = [int(active), int(new)]
    for line in visits.decode().splitlines():
        k, n = line.split(",")
        out.setdefault(parse(k), [0, 0, 0])[2] = int(n)
    return {k: (v[0], v[1], v[2]) for k, v in out.items()}


def compare_series(points: list[Any], sp: Any, theirs: dict[Any, tuple[int, int, int]]) -> str:
    """Whether our points (active = new + returning, new, visits) equal chDB's, bucket by bucket."""
    hourly = sp.granularity.name != "DAY"
    differ = []
    for b, pt in zip(sp.buckets, points, strict=True):
        ours = (pt.new_customers + pt.returning_customers, pt.new_customers, pt.visits)
        other = theirs.get(b.start if hourly else b.day, (0, 0, 0))
        if ours != other:
            differ.append((b.start if hourly else b.day, ours, other))
    if not differ:
        return f"same numbers as chDB (active, new, visits in all {len(points)} points)"
    k, ours, other = differ[0]
    return f"DIFFERS from chDB in {len(differ)} of {len(points)} points (first {k}: ours {ours}, chDB {other})"


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


class Table:
    """The run's figures, one row each: what, figure, target or floor, verdict; printed as one table."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []
        self.notes: list[str] = []

    def add(self, what: str, figure: str, target: str = "", ok: bool | None = None) -> None:
        self.rows.append((what, figure, target, "" if ok is None else ("ok" if ok else "MISSED")))
        say(f"{what}: {figure} {f'(target {target})' if target else ''} {self.rows[-1][3]}")

    def note(self, text: str) -> None:
        self.notes.append(text)
        say(text)

    def render(self) -> str:
        head = ("measurement", "figure", "target / floor", "")
        rows = [head, *self.rows]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
        out = [line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(line(r) for r in self.rows)]
        return "\n".join([*out, "", *(f"- {n}" for n in self.notes)])


def platform_env() -> None:
    """The insights API's port and URL for the processes, and the gateway's per-integration limits raised
    for the run (defaults: 100 requests/s, burst 200, 16 at once; 64 requests in flight per gateway)."""
    import os

    from common import free_port

    port = free_port()
    os.environ.update(
        INSIGHTS_API_PORT=str(port),
        INSIGHTS_API_URL=f"http://127.0.0.1:{port}",
        INTEGRATION_RATE="100000",
        INTEGRATION_BURST="100000",
        INTEGRATION_CONCURRENCY="64",
        GATEWAY_MAX_IN_FLIGHT="256",
    )


async def main() -> None:
    import asyncpg
    from common import Processes, wait_ready
    from insights_platform import (
        download_csv,
        ensure_orders_copy,
        ensure_org,
        event_batches,
        ingest_over_http,
        integration_rows,
        push_brief,
    )

    import demo.orders as demo

    ap = base_args(__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=5_000_000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--ingest-seconds", type=float, default=25.0)
    ap.add_argument("--reuse", action="store_true", help="keep the events a previous run loaded (same --events)")
    ap.add_argument("--skip-queries", action="store_true", help="only the load and the processes' figures")
    args = ap.parse_args()
    platform_env()
    # A server another run started (or keeps) is left running at the end: Env.close would stop it under them.
    shared_pg = _running_pg_port(OUT / "pg" / "pgdata") is not None
    env = await setup(redis=True)
    if shared_pg:
        env.pg = None
    table = Table()
    owner = await asyncpg.connect(env.settings.service_database_url("insights", "owner"))
    pool = await asyncpg.create_pool(env.settings.service_database_url("insights"), min_size=1, max_size=9)
    procs = Processes("insights-")
    try:
        now = datetime.now(UTC)
        say(f"generating {args.events:,} events over {DAYS} days")
        rows, dims = generate(args.events, now)
        since = (now - timedelta(days=DAYS - 1)).date()
        say("loading (COPY, read models set-based)")
        t_load = time.perf_counter()
        took = await load(owner, rows, since, args.reuse)
        orders_dsn = env.settings.service_database_url("orders", "owner")
        n_orders, orders_secs = await ensure_orders_copy(orders_dsn, owner, demo.DEMO_ORG_ID, BENCH_ORG, dims)
        load_secs = time.perf_counter() - t_load
        if "copy" in took:
            table.add(
                f"load of {args.events:,} events (COPY, indexes, read models, vacuum)",
                f"{load_secs:.0f} s; COPY {args.events / took['copy']:,.0f} rows/s",
            )
        table.note(
            f"load: {'reused the loaded events; ' if 'copy' not in took else ''}"
            + ", ".join(f"{t} {took[t]:.1f} s" for t in took)
            + (f"; orders copy ({n_orders:,} orders) {orders_secs:.0f} s" if orders_secs else "")
        )
        sizes = {
            t: await owner.fetchval(f"SELECT count(*) FROM {t} WHERE org_id = $1", BENCH_ORG)
            for t in ("customer_days", "active_customers", "customer_firsts", "funnel_firsts", "orders")
        }
        table.note(
            f"{args.events:,} events, {len(dims['customers']):,} customers; read model rows: "
            + ", ".join(f"{t} {n:,}" for t, n in sizes.items())
        )
        if not args.skip_queries:
            await queries(args, table, owner, pool, dims, now)

        # --- the processes: ingestion over HTTP with a live subscriber, then the CSV downloads ---------------
        orders_app = env.settings.service_database_url("orders")
        ingest_org = await ensure_org(orders_app, INGEST_ORG, "Bench insights ingestion", catalogue=True)
        bench_org = await ensure_org(orders_app, BENCH_ORG, "Bench insights", catalogue=False)
        procs.start_web(("orders-api",))
        procs.start("insights-api")
        wait_ready(f"{procs.env['INSIGHTS_API_URL']}/readyz", procs.procs)
        procs.start_web(("gateway",))
        ingest_token = env.issuer.mint(ingest_org.admin_subject, email=ingest_org.admin_email, ttl=3600)
        n_events = min(len(rows), int(args.ingest_seconds * 60_000))
        say(f"building {n_events // 500:,} batches of 500 events")
        base = now - timedelta(hours=23)
        sent = integration_rows(rows, n_events)
        bodies = event_batches(sent, ingest_org, dims, len(sent), f"r{int(now.timestamp())}", base)
        # a short warm-up (connections, the orders service's first identities), not counted
        await ingest_over_http(procs.gateway, ingest_org, ingest_token, bodies[-40:], 3.0)
        await owner.execute("DELETE FROM events WHERE org_id = $1", INGEST_ORG)
        stored_before = 0
        say(f"ingesting over HTTP for {args.ingest_seconds:.0f} s (8 clients, batches of 500)")
        cpu_names = ("gateway", "insights-api", "orders-api")
        cpu_before = {n: cpu_seconds(procs.pid(n)) for n in cpu_names} | {"postgres": named_cpu_seconds("postgres")}
        res = await ingest_over_http(procs.gateway, ingest_org, ingest_token, bodies[:-40], args.ingest_seconds)
        cpu_after = {n: cpu_seconds(procs.pid(n)) for n in cpu_names} | {"postgres": named_cpu_seconds("postgres")}
        batches = max(1, res.stored // 500)
        table.note(
            "ingestion CPU per batch of 500: "
            + ", ".join(f"{n} {(cpu_after[n] - cpu_before[n]) / batches * 1000:.1f} ms" for n in cpu_before)
            + f" (the machine has {os.cpu_count()} cores: {os.cpu_count() or 1} s of CPU per second)"
        )
        in_db = await owner.fetchval("SELECT count(*) FROM events WHERE org_id = $1", INGEST_ORG) - stored_before
        rate = res.stored / res.seconds
        queryable = in_db == res.stored + res.probes
        table.add(
            "ingestion, POST /v1/events via gateway → insights API (8 clients, batches of 500), accepted → stored",
            f"{rate:,.0f} events/s ({res.stored:,} in {res.seconds:.0f} s; p50 {pct(res.latencies, 0.5) * 1000:.0f} ms,"
            f" p95 {pct(res.latencies, 0.95) * 1000:.0f} ms per batch)",
            ">= 20,000/s",
            rate >= 20_000,
        )
        table.add(
            "accepted → queryable: events in the table right after the last 202",
            f"{in_db:,} stored = {res.stored:,} accepted + {res.probes} probes"
            if queryable
            else f"MISMATCH: {in_db:,} in the table vs {res.stored + res.probes:,} accepted",
            "equal",
            queryable,
        )
        if res.errors or res.refused:
            table.note(
                f"ingestion: {res.errors} failed requests ({res.first_error}); {res.refused} refused events"
                f" ({res.first_refusal})"
            )
        # The floor: a raw COPY of the same rows (same columns the statement fills) into the same table.
        copy_rows = [
            (INGEST_ORG, base + timedelta(seconds=i * 0.05, microseconds=1), r[2], f"copy:{i}", *r[4:])
            for i, r in enumerate(sent[: res.stored])
        ]
        t0 = time.perf_counter()
        await owner.copy_records_to_table("events", records=copy_rows, columns=COLUMNS)
        copy_rate = len(copy_rows) / (time.perf_counter() - t0)
        del copy_rows
        table.add(
            "ingestion ÷ raw COPY of the same rows into events (same run)",
            f"{rate / copy_rate:.1%} (COPY {copy_rate:,.0f} rows/s)",
            ">= 10%",
            rate / copy_rate >= 0.10,
        )
        p95_push = pct(res.push, 0.95) if res.push else float("inf")
        table.add(
            "live push during that ingestion: probe's 202 → subscriber notified",
            push_brief(res),
            "p95 < 1 s",
            p95_push < 1.0,
        )
        await owner.execute("DELETE FROM events WHERE org_id = $1", INGEST_ORG)

        bench_token = env.issuer.mint(bench_org.admin_subject, email=bench_org.admin_email, ttl=3600)
        pids = {"insights API": procs.pid("insights-api"), "gateway": procs.pid("gateway")}
        for kind in ("ANALYTICS_CUSTOMERS", "ANALYTICS_ORDERS"):
            say(f"Download CSV {kind} LAST_90_DAYS")
            d = await download_csv(procs.gateway, bench_token, kind, pids, pool, BENCH_ORG)
            ours, raw = d.rows / d.seconds, d.raw_rows / d.raw_seconds
            same = "same bytes" if (d.size, d.rows) == (d.raw_size, d.raw_rows) else "SIZES DIFFER"
            table.add(
                f"Download CSV {kind}, LAST_90_DAYS ({d.rows:,} rows, {d.size / 1e6:.0f} MB) ÷ COPY TO STDOUT",
                f"{ours / raw:.0%} ({ours:,.0f} rows/s in {d.seconds:.1f} s; COPY {raw:,.0f} rows/s; {same})",
                ">= 50%",
                ours / raw >= 0.5,
            )
            table.add(
                f"Download CSV {kind}: insights API peak RSS",
                f"{d.peak_mb:.0f} MB (before {d.before_mb:.0f} MB; gateway {d.gateway_peak_mb:.0f} MB)",
                "< 150 MB",
                d.peak_mb < 150,
            )
        table.note(
            "gateway limits raised for the run: INTEGRATION_RATE=100000, INTEGRATION_BURST=100000,"
            " INTEGRATION_CONCURRENCY=64, GATEWAY_MAX_IN_FLIGHT=256"
        )
        text = table.render()
        save_result("insights", [*(" | ".join(r) for r in table.rows), *table.notes], {"table": text})
        print(text)
    finally:
        procs.stop_all()
        await pool.close()
        await owner.close()
        env.close()


async def queries(args: Any, table: Table, owner: Any, pool: Any, dims: dict[str, Any], now: datetime) -> None:
    """Series for every preset and a category filter, the funnel, a timeline page, in-process (the
    repository functions the API calls), beside chDB on the same rows."""
    from services.insights.domain.buckets import span
    from services.insights.repository import analytics, timeline
    from shared.db import tenant_tx
    from shared.presets import DatePreset, DateRange

    csv = OUT / "insights-events.csv"
    await owner.copy_from_query(
        "SELECT org_id, occurred_at, integration_id, type, customer_id, category_id FROM events"
        f" WHERE org_id = '{BENCH_ORG}'",
        output=str(csv),
        format="csv",
    )
    t0 = time.perf_counter()
    ch = chdb_load(csv)
    table.note(f"chDB load of the same rows: {time.perf_counter() - t0:.1f} s")
    cat = dims["categories"][0]
    cases: list[tuple[str, DatePreset, list[uuid.UUID]]] = [
        *((p.value, p, []) for p in DatePreset),
        ("LAST_30_DAYS, one category", DatePreset.LAST_30_DAYS, [cat]),
        ("LAST_90_DAYS, one category", DatePreset.LAST_90_DAYS, [cat]),
        ("LAST_30_DAYS, two categories", DatePreset.LAST_30_DAYS, dims["categories"][:2]),
    ]
    for label, preset, cats in cases:
        sp = span(DateRange(preset=preset), "UTC")
        scope = analytics.Scope(BENCH_ORG, category_ids=cats)

        async def q(sp: Any = sp, scope: Any = scope) -> Any:
            async with tenant_tx(pool, BENCH_ORG) as conn:
                return await analytics.series(conn, scope, sp)

        med, p95, pts = await timed(q, args.repeat)
        versus = ""
        if len(cats) <= 1:
            hourly = sp.granularity.name != "DAY"
            c0 = time.perf_counter()
            for _ in range(3):
                theirs = chdb_series(ch, sp.first_day, sp.last_day, cats[0] if cats else None, hourly)
            ch_t = (time.perf_counter() - c0) / 3
            versus = f"; chDB {fmt_ms(ch_t)}, ours ÷ chDB {med / ch_t:.2f}; {compare_series(pts, sp, theirs)}"
        table.add(
            f"series {label}",
            f"median {fmt_ms(med)}, p95 {fmt_ms(p95)}{versus}",
            "< 100 ms",
            p95 < 0.1,
        )
    today = now.date()
    for days, target in ((30, 0.3), (90, 1.0)):
        first = today - timedelta(days=days - 1)

        async def f(first: date = first) -> Any:
            async with tenant_tx(pool, BENCH_ORG) as conn:
                return await analytics.funnel(conn, analytics.Scope(BENCH_ORG), first, today)

        med, p95, steps = await timed(f, max(3, args.repeat // 2))
        c0 = time.perf_counter()
        ch_counts = chdb_funnel(ch, first, today).decode().strip()
        ch_t = time.perf_counter() - c0
        ours = ",".join(str(s.customers) for s in steps)
        table.add(
            f"funnel {days} days",
            f"median {fmt_ms(med)}, p95 {fmt_ms(p95)}; chDB {fmt_ms(ch_t)}, ours ÷ chDB {med / ch_t:.2f};"
            f" steps {'same as chDB' if ours == ch_counts else f'DIFFER: ours {ours}, chDB {ch_counts}'}",
            f"< {fmt_ms(target)}",
            p95 < target,
        )
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
    table.add(
        "timeline page of 50",
        f"median {fmt_ms(pct(lat, 0.5))}, p95 {fmt_ms(pct(lat, 0.95))}",
        "p95 < 20 ms",
        pct(lat, 0.95) < 0.02,
    )


if __name__ == "__main__":
    asyncio.run(main())
