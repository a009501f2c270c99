"""The insights builder's figures (issue 9): insights answered from rollups and from raw events beside the
same aggregate written directly in SQL (the floor) and beside chDB (ClickHouse in-process) on the same rows,
a drill-down page of 50, and the UGD export beside a raw COPY of the same rows.

Data: business events in an organisation of their own (`BUILDER_ORG`, next to the 20M events of
`insights.py`'s organisation in the same tables): N purchases over 90 days (completed, counted; an amount in one
of 4 currencies; JSON properties `campaign` (40 values) and `plan`; 20% with 2-4 line items), N/2.5 visits
over the last 30 days with a `source` property (12 values), and 20,000 events of each other business type.
Loaded by COPY with `counted` set as ingestion sets it, then the daily rollups built set-based.

    UV_PROJECT_ENVIRONMENT=/tmp/benchvenv PYTHONPATH=. uv run --frozen --no-sync python -m bench.insights_builder \
        [--purchases 5000000] [--reuse]
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, base_args, fmt_ms, pct, save_result, say, setup
from insights import timed

BUILDER_ORG = uuid.UUID("b0000000-0000-4000-8000-0000000b1d00")
DAYS = 90
SEED = 9
CURRENCIES = ("GBP", "EUR", "USD", "CHF")
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
    "amount",
    "currency",
    "entity_id",
    "state",
    "items",
    "properties",
    "fields",
    "counted",
)


def generate(n_purchases: int, now: datetime) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
    from services.insights.domain.business import TYPES

    rng = random.Random(SEED)
    ids = [uuid.UUID(int=rng.getrandbits(128) & ~(0xF << 76) | (4 << 76)) for _ in range(40)]
    integrations, categories, products = ids[:3], ids[3:6], ids[6:18]
    customers = [uuid.UUID(int=rng.getrandbits(128) & ~(0xF << 76) | (4 << 76)) for _ in range(200_000)]
    start = (now - timedelta(days=DAYS - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    span = (now - start).total_seconds() - 3600
    rows: list[tuple[Any, ...]] = []
    for i in range(n_purchases):
        p = products[rng.randrange(12)]
        items = None
        if rng.random() < 0.2:
            items = json.dumps(
                [
                    {
                        "productId": str(products[rng.randrange(12)]),
                        "quantity": 1,
                        "amount": f"{rng.randrange(1, 90)}.00",
                    }
                    for _ in range(rng.randrange(2, 5))
                ]
            )
        props = json.dumps({"campaign": f"c{rng.randrange(40)}", "plan": ("basic", "plus", "pro")[rng.randrange(3)]})
        rows.append(
            (
                BUILDER_ORG,
                start + timedelta(seconds=rng.random() * span),
                integrations[rng.randrange(3)],
                f"p{i}",
                "purchase",
                "business",
                customers[rng.randrange(len(customers))],
                p,
                categories[products.index(p) // 4],
                Decimal(rng.randrange(100, 20000)) / 100,
                CURRENCIES[rng.randrange(4)],
                f"pur-{i}",
                "completed",
                items,
                props,
                None,
                True,
            )
        )
    visit_start = now - timedelta(days=29)
    for i in range(int(n_purchases / 2.5)):
        rows.append(
            (
                BUILDER_ORG,
                visit_start + timedelta(seconds=rng.random() * (29 * 86400)),
                integrations[rng.randrange(3)],
                f"v{i}",
                "visit",
                "funnel",
                customers[rng.randrange(len(customers))],
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                json.dumps({"source": f"s{rng.randrange(12)}"}),
                None,
                True,
            )
        )
    example = {"text": "x", "number": 3, "date": "2026-12-31", "enum": None}
    for t in TYPES:
        if t.counted_type or t.name == "purchase":
            continue
        for i in range(20_000):
            state = t.states[rng.randrange(len(t.states))]
            fields = {f.name: (f.values[0] if f.values else example[f.kind.value]) for f in t.fields}
            money = t.amount is not None
            rows.append(
                (
                    BUILDER_ORG,
                    start + timedelta(seconds=rng.random() * span),
                    integrations[rng.randrange(3)],
                    f"{t.name}{i}",
                    t.name,
                    "business",
                    customers[rng.randrange(len(customers))],
                    None,
                    None,
                    Decimal(rng.randrange(100, 9000)) / 100 if money else None,
                    CURRENCIES[rng.randrange(4)] if money else None,
                    f"{t.name}-{i}",  # one event per entity: it counts when its state counts
                    state,
                    None,
                    "{}",
                    json.dumps(fields),
                    t.counts(state),
                )
            )
    return rows, {"integrations": integrations, "categories": categories, "products": products}


async def load(owner: Any, rows: list[tuple[Any, ...]], reuse: bool) -> dict[str, float]:
    from services.insights.repository import bulk

    took: dict[str, float] = {}
    await owner.execute("SET statement_timeout = 0")
    if reuse and await owner.fetchval("SELECT count(*) FROM events WHERE org_id = $1", BUILDER_ORG) == len(rows):
        say("  reusing the loaded events")
        return took
    await owner.execute("DELETE FROM events WHERE org_id = $1", BUILDER_ORG)
    await owner.execute("DELETE FROM event_rollups_daily WHERE org_id = $1", BUILDER_ORG)
    await owner.execute("DELETE FROM customer_firsts WHERE org_id = $1", BUILDER_ORG)
    await owner.execute(
        """INSERT INTO organisation_settings (org_id, name, time_zone, base_currency, as_of)
           VALUES ($1, 'Bench builder', 'UTC', 'GBP', now()) ON CONFLICT (org_id) DO NOTHING""",
        BUILDER_ORG,
    )
    since = (datetime.now(UTC) - timedelta(days=DAYS - 1)).date()
    await bulk.ensure_partitions(owner, since - timedelta(days=1), date.today() + timedelta(days=2))
    t0 = time.perf_counter()
    await owner.copy_records_to_table("events", records=rows, columns=COLUMNS)
    took["copy"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    await bulk.build_read_model(owner, BUILDER_ORG, "event_rollups_daily", since)
    took["event_rollups_daily"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    await owner.execute("ANALYZE event_rollups_daily")
    took["analyze"] = time.perf_counter() - t2
    return took


def chdb_load(csv: Path) -> Any:
    from chdb import session

    s = session.Session(str(OUT / "chdb-builder"))
    s.query("DROP TABLE IF EXISTS bev")
    s.query(
        "CREATE TABLE bev (org_id UUID, occurred_at DateTime64(6, 'UTC'), type String, currency Nullable(String),"
        " amount Nullable(Decimal(14, 2)), properties String) ENGINE = MergeTree ORDER BY (org_id, type, occurred_at)"
    )
    s.query(
        f"INSERT INTO bev SELECT * FROM file('{csv}', CSV, 'org_id UUID, occurred_at DateTime64(6, \\'UTC\\'),"
        " type String, currency Nullable(String), amount Nullable(Decimal(14, 2)), properties String')"
    )
    return s


def chdb_timed(s: Any, sql: str, repeat: int) -> tuple[float, bytes]:
    out = s.query(sql, "CSV").bytes()
    lat = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = s.query(sql, "CSV").bytes()
        lat.append(time.perf_counter() - t0)
    return pct(lat, 0.5), out


async def ugd_export(table: Any, pool: Any, settings: Any) -> None:
    """UGD (the events behind an insight) as CSV, through the export's own stream (what the insights API sends,
    in-process: Python's peak allocations traced while it streams), beside a COPY TO STDOUT of the same query."""
    import tracemalloc

    from services.insights.domain import insight as domain
    from services.insights.repository import exports as export_queries
    from services.insights.service import insight_exports
    from shared.db import tenant_tx

    raw = {
        "eventType": "purchase",
        "measure": "TOTAL_AMOUNT",
        "breakdowns": ["properties.campaign"],
        "range": {"preset": "LAST_7_DAYS"},
    }
    q = domain.parse(raw, "UTC")
    counted = [0, 0]
    tracemalloc.start()
    t0 = time.perf_counter()
    stream = await insight_exports.open_events(pool, BUILDER_ORG, q, "csv", settings)
    async for chunk in stream:
        counted[0] += len(chunk)
        counted[1] += chunk.count(b"\n")
    secs = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    query = export_queries.insight_events_query(BUILDER_ORG, q)
    floor = [0, 0]

    async def sink(chunk: bytes) -> None:
        floor[0] += len(chunk)
        floor[1] += chunk.count(b"\n")

    t0 = time.perf_counter()
    async with tenant_tx(pool, BUILDER_ORG) as conn:
        await conn.execute("SET LOCAL statement_timeout = 0")
        await conn.copy_from_query(query.sql, *query.args, output=sink, format="csv", header=True)
    floor_secs = time.perf_counter() - t0
    rows, floor_rows = counted[1] - 1, floor[1] - 1
    ratio = (rows / secs) / (floor_rows / floor_secs)
    table.add(
        f"UGD CSV, purchases by campaign, 7 days ({rows:,} rows, {counted[0] / 1e6:.0f} MB) ÷ COPY TO STDOUT",
        f"{ratio:.0%} ({rows / secs:,.0f} rows/s in {secs:.1f} s; COPY {floor_rows / floor_secs:,.0f} rows/s;"
        f" {'same' if (rows, counted[0]) == (floor_rows, floor[0]) else 'DIFFERENT'} rows and bytes)",
        ">= 50%",
        ratio >= 0.5,
    )
    table.add(
        "UGD CSV: Python's peak allocations while streaming (tracemalloc)",
        f"{peak / 1e6:.1f} MB",
        "< 150 MB",
        peak < 150e6,
    )


async def main() -> None:
    import asyncpg
    from insights import Table

    ap = base_args(__doc__.split("\n\n")[0])
    ap.add_argument("--purchases", type=int, default=5_000_000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--reuse", action="store_true")
    args = ap.parse_args()
    env = await setup(redis=False)
    env.pg = None  # leave the shared server running
    table = Table()
    owner = await asyncpg.connect(env.settings.service_database_url("insights", "owner"))
    pool = await asyncpg.create_pool(env.settings.service_database_url("insights"), min_size=1, max_size=4)
    from services.insights.service import insight
    from shared.db import tenant_tx

    try:
        now = datetime.now(UTC)
        say(f"generating {args.purchases:,} purchases, visits and 20,000 events of each other business type")
        rows, _ = generate(args.purchases, now)
        say(f"loading {len(rows):,} events (COPY, daily rollups)")
        took = await load(owner, rows, args.reuse)
        table.note(
            f"{len(rows):,} events in the builder organisation: "
            + (", ".join(f"{k} {v:.1f} s" for k, v in took.items()) or "reused")
        )
        del rows

        async def answer(raw: dict[str, Any]) -> Any:
            async with tenant_tx(pool, BUILDER_ORG) as conn:
                await conn.execute("SET LOCAL statement_timeout = 0")
                return await insight.answer(conn, BUILDER_ORG, raw)

        async def floor(sql: str) -> Any:
            async with tenant_tx(pool, BUILDER_ORG) as conn:
                await conn.execute("SET LOCAL statement_timeout = 0")
                return await conn.fetch(sql, BUILDER_ORG)

        q90 = {"preset": "LAST_90_DAYS"}
        for label, raw in (
            ("purchase TOTAL_AMOUNT by productId, 90 days", {"breakdowns": ["productId"]}),
            ("purchase COUNT by integrationId and channel, 90 days", {"breakdowns": ["integrationId", "channel"]}),
            ("purchase TOTAL_AMOUNT by currency per WEEK, 90 days", {"breakdowns": ["currency"], "interval": "WEEK"}),
            (
                "purchase AVERAGE_AMOUNT by categoryId per MONTH, 90 days",
                {"breakdowns": ["categoryId"], "interval": "MONTH"},
            ),
        ):
            measure = raw.pop("measure", label.split()[1])
            full = {"eventType": "purchase", "measure": measure, "range": q90, **raw}
            med, p95, out = await timed(lambda full=full: answer(full), args.repeat)
            table.add(
                f"insight from rollups: {label}",
                f"median {fmt_ms(med)}, p95 {fmt_ms(p95)} ({out['source']}, {out['totalSeries']} series)",
                "< 100 ms",
                p95 < 0.1 and out["source"] == "rollups",
            )

        day = (
            "width_bucket(e.occurred_at, (SELECT array_agg(d) FROM generate_series("
            "date_trunc('day', now() - interval '89 days'), now(), interval '1 day') d))"
        )
        raw_cases: list[tuple[str, dict[str, Any], str, str]] = [
            (
                "purchase TOTAL_AMOUNT by properties.campaign (x currency), per day, 90 days",
                {
                    "eventType": "purchase",
                    "measure": "TOTAL_AMOUNT",
                    "breakdowns": ["properties.campaign"],
                    "range": q90,
                },
                f"""SELECT {day}, e.properties ->> 'campaign', e.currency, sum(e.amount) FROM events e
                     WHERE e.org_id = $1 AND e.counted AND e.type = 'purchase'
                       AND e.occurred_at >= date_trunc('day', now() - interval '89 days') GROUP BY 1, 2, 3""",
                f"""SELECT toDate(occurred_at) AS k, JSONExtractString(properties, 'campaign') AS c, currency,
                           sum(amount) FROM bev WHERE org_id = '{BUILDER_ORG}' AND type = 'purchase'
                       AND occurred_at >= toStartOfDay(now() - INTERVAL 89 DAY) GROUP BY k, c, currency""",
            ),
            (
                "visit COUNT where properties.source = s3, per day, 30 days",
                {
                    "eventType": "visit",
                    "measure": "COUNT",
                    "filters": [{"field": "properties.source", "operator": "EQUALS", "values": ["s3"]}],
                    "range": {"preset": "LAST_30_DAYS"},
                },
                f"""SELECT {day}, count(*) FROM events e
                     WHERE e.org_id = $1 AND e.counted AND e.type = 'visit' AND e.properties ->> 'source' = 's3'
                       AND e.occurred_at >= date_trunc('day', now() - interval '29 days') GROUP BY 1""",
                f"""SELECT toDate(occurred_at) AS k, count() FROM bev
                     WHERE org_id = '{BUILDER_ORG}' AND type = 'visit'
                       AND JSONExtractString(properties, 'source') = 's3'
                       AND occurred_at >= toStartOfDay(now() - INTERVAL 29 DAY) GROUP BY k""",
            ),
        ]
        csv = OUT / "builder-events.csv"
        await owner.execute("SET statement_timeout = 0")
        await owner.copy_from_query(
            "SELECT org_id, occurred_at, type, currency, amount, properties::text FROM events"
            f" WHERE org_id = '{BUILDER_ORG}' AND type IN ('purchase', 'visit')",
            output=str(csv),
            format="csv",
        )
        t0 = time.perf_counter()
        ch = chdb_load(csv)
        table.note(f"chDB load of the purchases and visits: {time.perf_counter() - t0:.1f} s")
        matched = await owner.fetchval(
            "SELECT count(*) FROM events WHERE org_id = $1 AND type = 'purchase' AND counted", BUILDER_ORG
        )
        for label, raw, floor_sql, ch_sql in raw_cases:
            med, p95, out = await timed(lambda raw=raw: answer(raw), args.repeat)
            f_med, _, _ = await timed(lambda sql=floor_sql: floor(sql), args.repeat)
            c_med, _ = chdb_timed(ch, ch_sql, args.repeat)
            ratio = med / f_med
            table.add(
                f"insight from raw events: {label}",
                f"median {fmt_ms(med)}, p95 {fmt_ms(p95)}; the SQL aggregate alone {fmt_ms(f_med)} (x{ratio:.2f});"
                f" chDB {fmt_ms(c_med)} (ours ÷ chDB {med / c_med:.2f}); {out['source']}",
                "<= 1.5x floor",
                ratio <= 1.5,
            )
            if "purchase" in label:
                table.add(
                    f"  same, {matched:,} events matching",
                    f"median {fmt_ms(med)}",
                    "< 2 s",
                    med < 2,
                )

        # Drill-down: a page of 50 events behind a cell of the campaign insight.
        first = raw_cases[0][1]
        ans = await answer(first)
        cells = [(s, k) for s in ans["series"] for k, v in enumerate(s["points"]) if v not in (None, "0.00", 0)]
        rng = random.Random(1)
        lat = []
        for _ in range(30):
            s, k = rng.choice(cells)
            t0 = time.perf_counter()
            async with tenant_tx(pool, BUILDER_ORG) as conn:
                page = await insight.events_behind(
                    conn, BUILDER_ORG, first, ans["buckets"][k]["start"], s["values"], s["currency"], 50, None
                )
            lat.append(time.perf_counter() - t0)
        table.add(
            "drill-down: a page of 50 events behind a cell (campaign x currency x day)",
            f"median {fmt_ms(pct(lat, 0.5))}, p95 {fmt_ms(pct(lat, 0.95))} ({page['totalCount']:,} events in the last)",
            "p95 < 50 ms",
            pct(lat, 0.95) < 0.05,
        )
        await ugd_export(table, pool, env.settings)
    finally:
        await pool.close()
        await owner.close()
        env.close()
    text = table.render()
    print(text)
    save_result("insights_builder", [*(" | ".join(r) for r in table.rows), *table.notes], {"table": text})


if __name__ == "__main__":
    asyncio.run(main())
