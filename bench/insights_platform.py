"""The insights benchmark's measurements through the real processes (gateway, orders API, insights API):
ingestion over HTTP, live push at scale, the Analytics tab's CSV downloads. Used by bench/insights.py.

- Organisations: the measured organisation (its N events) and the ingestion organisation exist in the orders
  database too (fixed ids, created on the first run, reused), each with an admin member, so the gateway
  admits their users; the ingestion organisation has categories, products and an integration whose key is
  rotated each run (the key is shown once, at creation or rotation).
- Ingestion: `clients` closed-loop clients POST /v1/events with pre-built batches for `seconds`; every 202
  counts its `stored` events. Identities are anonymous ids the orders service resolves (creating the
  customer on first sight, reusing it on later runs).
- Live push: one graphql-transport-ws subscriber of `analyticsUpdated` filtered on a probe type; while the
  ingestion runs, a probe event is posted every ~0.5 s and the time from its 202 to the push is recorded
  (the ingestion's own types never match the filter, so every push answers a probe).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from common import RawClient, Request, RssSampler, pct, say

PROBE_TYPE = "custom:bench_probe"
LIVE = f'subscription {{ analyticsUpdated(filter: {{types: ["{PROBE_TYPE}"]}}) {{ at initial kinds types }} }}'
EXPORT = """mutation Export($kind: ExportKind!, $filter: AnalyticsFilterInput) {
  requestExport(kind: $kind, format: CSV, analyticsFilter: $filter) { url errors { code message } } }"""


@dataclass
class BenchOrg:
    org_id: uuid.UUID
    admin_subject: str
    admin_email: str
    api_key: str = ""
    integration_id: uuid.UUID | None = None
    # (product id, category id) per (category index, product index) of the generator
    products: dict[tuple[int, int], uuid.UUID] = field(default_factory=dict)


async def ensure_org(dsn: str, org_id: uuid.UUID, name: str, *, catalogue: bool) -> BenchOrg:
    """The organisation in the orders database (created once; time zone UTC), its admin member and, with
    `catalogue`, 3 categories of 4 products on one integration whose key is rotated now."""
    from services.orders.repository import catalogue as cat
    from services.orders.repository import members
    from services.orders.service import organisation as organisation_service
    from shared.db import create_pool, tenant_tx

    tag = org_id.hex[-4:]
    org = BenchOrg(org_id, f"auth0|bench-admin-{tag}", f"bench-admin-{tag}@example.com")
    pool = await create_pool(dsn, min_size=1, max_size=1)
    try:
        async with tenant_tx(pool, org_id) as conn:
            if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM organisations WHERE id = $1)", org_id):
                await organisation_service.create(conn, org_id, name, time_zone="UTC")
                await members.add(conn, org_id, org.admin_email, "admin", subject=org.admin_subject)
            if not catalogue:
                return org
            integration = await conn.fetchrow(
                "SELECT id FROM integrations WHERE org_id = $1 AND name = 'Bench web'", org_id
            )
            if integration is None:
                cats = [(await cat.create_category(conn, org_id, f"Bench category {k}"))["id"] for k in range(3)]
                provider = await cat.create_provider(conn, org_id, "Bench Bank")
                created, org.api_key = await cat.create_integration(conn, org_id, "Bench web", "web", cats)
                org.integration_id = created["id"]
                for k, c in enumerate(cats):
                    for j in range(4):
                        await cat.create_product(
                            conn,
                            org_id,
                            integration_id=created["id"],
                            category_id=c,
                            provider_id=provider["id"],
                            name=f"Bench product {k}.{j}",
                            commission_rate="10.00",
                            currency="GBP",
                        )
            else:
                org.integration_id = integration["id"]
                _, org.api_key = await cat.rotate_key(conn, org_id, integration["id"])
            rows = await conn.fetch(
                "SELECT p.id, p.name FROM products p WHERE p.org_id = $1 AND p.name LIKE 'Bench product %'", org_id
            )
            for r in rows:
                k, j = r["name"].removeprefix("Bench product ").split(".")
                org.products[(int(k), int(j))] = r["id"]
        return org
    finally:
        await pool.close()


async def ensure_orders_copy(
    orders_dsn: str, insights_owner: Any, demo_org: uuid.UUID, org_id: uuid.UUID, dims: dict[str, Any]
) -> tuple[int, float | None]:
    """The insights database's orders copy for `org_id`: the orders benchmark's orders (the demo
    organisation's, in the orders database) under the measured organisation's integrations, categories,
    products and customers (each demo customer mapped onto one generated customer), then its daily rollup.
    Loaded once; (orders, seconds of the load or None when reused)."""
    import asyncpg

    from services.insights.repository import bulk

    src = await asyncpg.connect(orders_dsn)
    try:
        wanted = await src.fetchval("SELECT count(*) FROM orders WHERE org_id = $1", demo_org)
        have = await insights_owner.fetchval("SELECT count(*) FROM orders WHERE org_id = $1", org_id)
        if have == wanted:
            return have, None
        say(f"copying the orders benchmark's {wanted:,} orders into the insights orders copy")
        t0 = time.perf_counter()
        await insights_owner.execute("DELETE FROM orders WHERE org_id = $1", org_id)
        customers, integrations, categories = dims["customers"], dims["integrations"], dims["categories"]
        products = dims["products"]
        async with src.transaction():
            cur = src.cursor(
                "SELECT id, customer_id, status, comm_status, commission_amount, currency, created_at"
                " FROM orders WHERE org_id = $1",
                demo_org,
                prefetch=20_000,
            )
            batch: list[tuple[Any, ...]] = []

            async def flush() -> None:
                async with insights_owner.transaction(), bulk.orders_trigger_disabled(insights_owner):
                    await insights_owner.copy_records_to_table("orders", records=batch, columns=bulk.ORDER_COLUMNS)
                batch.clear()

            async for r in cur:
                h = r["customer_id"].int
                c = categories[h % 3]
                batch.append(
                    tuple(
                        {
                            "org_id": org_id,
                            "id": r["id"],
                            "integration_id": integrations[(h >> 8) % 3],
                            "category_id": c,
                            "product_id": products[c][(h >> 16) % 4],
                            "customer_id": customers[h % len(customers)],
                            "status": r["status"],
                            "comm_status": r["comm_status"],
                            "amount": r["commission_amount"],
                            "currency": r["currency"],
                            "kind": "order",
                            "created_at": r["created_at"],
                            "as_of": r["created_at"],
                        }[col]
                        for col in bulk.ORDER_COLUMNS
                    )
                )
                if len(batch) >= 100_000:
                    await flush()
            if batch:
                await flush()
        await bulk.build_read_model(insights_owner, org_id, "order_rollups_daily", date(2000, 1, 1))
        await insights_owner.execute("VACUUM (ANALYZE) orders, order_rollups_daily")
        return wanted, time.perf_counter() - t0
    finally:
        await src.close()


# --- ingestion over HTTP, with a live subscriber --------------------------------------------------


def integration_rows(rows: list[tuple[Any, ...]], n: int) -> list[tuple[Any, ...]]:
    """The first `n` generated rows of the types integrations send: business events (order_placed,
    order_successful) come from POST /v1/orders."""
    from services.insights.domain import catalogue

    out = []
    for r in rows:
        t = catalogue.lookup(r[4])
        if t is not None and t.accepted_from_integrations:
            out.append(r)
            if len(out) == n:
                break
    return out


def event_batches(
    rows: list[tuple[Any, ...]], org: BenchOrg, dims: dict[str, Any], n: int, tag: str, base: datetime
) -> list[bytes]:
    """Bodies of POST /v1/events, 500 events each, from the first `n` generated rows of the types integrations
    send, re-timed into the last day (0.05 s apart) and re-keyed for this run; products mapped onto the
    ingestion organisation's."""
    cat_index = {c: k for k, c in enumerate(dims["categories"])}
    prod_index = {p: (cat_index[c], j) for c, ps in dims["products"].items() for j, p in enumerate(ps)}
    bodies = []
    for lo in range(0, n, 500):
        events = []
        for i in range(lo, min(lo + 500, n)):
            r = rows[i]
            e: dict[str, Any] = {
                "id": f"{tag}:{i}",
                "type": r[4],
                "occurredAt": (base + timedelta(seconds=i * 0.05)).isoformat(),
                "anonymousId": f"bench-{r[6].hex[:16]}",
            }
            if r[7] is not None:
                e["productId"] = str(org.products[prod_index[r[7]]])
            events.append(e)
        bodies.append(json.dumps({"events": events}).encode())
    return bodies


@dataclass
class IngestResult:
    batches: int = 0
    accepted: int = 0
    stored: int = 0
    refused: int = 0
    errors: int = 0
    first_error: str = ""
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    push: list[float] = field(default_factory=list)  # from sending the probe to the push
    push_after_202: list[float] = field(default_factory=list)  # from reading its 202 (< 0: the push came first)
    push_missed: int = 0
    probes: int = 0
    first_refusal: str = ""


async def ingest_over_http(
    gateway: str, org: BenchOrg, token: str, bodies: list[bytes], seconds: float, clients: int = 8
) -> IngestResult:
    """`clients` clients posting `bodies` in turn for `seconds`, and the live subscriber with its probes."""
    import httpx
    from websockets.asyncio.client import connect
    from websockets.typing import Subprotocol

    res = IngestResult()
    it = iter(bodies)
    headers = {"content-type": "application/json", "authorization": f"Bearer {org.api_key}"}
    url = f"{gateway}/v1/events"
    stop = asyncio.Event()

    async def client() -> None:
        raw = RawClient(url)
        try:
            for body in it:
                if stop.is_set():
                    return
                t0 = time.perf_counter()
                try:
                    status, answer = await raw.send(Request("POST", url, body, headers))
                except Exception as exc:
                    res.errors += 1
                    res.first_error = res.first_error or f"{type(exc).__name__}: {exc}"[:200]
                    await raw.close()
                    raw = RawClient(url)
                    continue
                res.latencies.append(time.perf_counter() - t0)
                if status != 202:
                    res.errors += 1
                    res.first_error = res.first_error or f"HTTP {status}: {answer[:200]!r}"
                    continue
                out = json.loads(answer)
                res.batches += 1
                res.accepted += out["accepted"]
                res.stored += out["stored"]
                res.refused += len(out["refused"])
                if out["refused"] and not res.first_refusal:
                    res.first_refusal = json.dumps(out["refused"][0])[:200]
        finally:
            await raw.close()

    async def subscriber(ready: asyncio.Event) -> None:
        ws_url = gateway.replace("http://", "ws://") + "/graphql"
        async with (
            connect(ws_url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws,
            httpx.AsyncClient(timeout=30) as http,
        ):
            await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
            ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if ack["type"] != "connection_ack":
                raise RuntimeError(f"live subscriber refused: {ack}")
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": LIVE}}))

            pushes: asyncio.Queue[float] = asyncio.Queue()

            async def reader() -> None:
                """Timestamps each push as it arrives (it may arrive before the probe's 202 is read)."""
                async for frame in ws:
                    m = json.loads(frame)
                    if m.get("id") == "1" and m["type"] == "next":
                        if m["payload"].get("errors"):
                            raise RuntimeError(f"live push errors: {m['payload']['errors']}")
                        pushes.put_nowait(time.perf_counter())
                    elif m["type"] not in ("ping", "pong"):
                        raise RuntimeError(f"live subscriber got {m}")

            reading = asyncio.create_task(reader())
            await asyncio.wait_for(pushes.get(), 10)  # the initial message
            ready.set()
            while not stop.is_set():
                probe = {
                    "events": [
                        {
                            "id": f"probe-{uuid.uuid4().hex}",
                            "type": PROBE_TYPE,
                            "occurredAt": datetime.now(UTC).isoformat(),
                            "anonymousId": "bench-probe",
                        }
                    ]
                }
                sent = time.perf_counter()
                r = await http.post(url, json=probe, headers={"authorization": f"Bearer {org.api_key}"})
                accepted = time.perf_counter()
                if r.status_code != 202 or r.json()["stored"] != 1:
                    raise RuntimeError(f"probe refused: HTTP {r.status_code} {r.text[:200]}")
                res.probes += 1
                try:
                    arrived = await asyncio.wait_for(pushes.get(), 5)
                    res.push.append(arrived - sent)
                    res.push_after_202.append(arrived - accepted)
                except TimeoutError:
                    res.push_missed += 1
                await asyncio.sleep(0.3)  # past the coalescing of consecutive ticks
                while not pushes.empty():  # a late second push of one probe is not the next probe's
                    pushes.get_nowait()
            reading.cancel()

    ready = asyncio.Event()
    sub = asyncio.create_task(subscriber(ready))
    await asyncio.wait_for(ready.wait(), 30)
    t0 = time.perf_counter()

    async def timer() -> None:
        await asyncio.sleep(seconds)
        stop.set()

    async def lead() -> None:
        await asyncio.gather(*(client() for _ in range(clients)))
        stop.set()  # ran out of batches before the time

    await asyncio.gather(timer(), lead())
    res.seconds = time.perf_counter() - t0
    try:
        await asyncio.wait_for(sub, 10)
    except TimeoutError:
        sub.cancel()
    return res


# --- the Analytics tab's CSV downloads --------------------------------------------------------------


@dataclass
class Download:
    kind: str
    rows: int
    size: int
    seconds: float
    raw_rows: int
    raw_size: int
    raw_seconds: float
    peak_mb: float
    before_mb: float
    gateway_peak_mb: float


async def download_csv(
    gateway: str, token: str, kind: str, pids: dict[str, int], pool: Any, org_id: uuid.UUID
) -> Download:
    """requestExport (LAST_90_DAYS) through the gateway, the link streamed and counted while the insights
    API's and gateway's RSS are sampled; then a raw COPY (TO STDOUT, CSV, header) of the same query."""
    import httpx
    from common import gql

    from services.insights.domain import buckets
    from services.insights.repository import analytics
    from services.insights.repository import exports as export_queries
    from shared.db import tenant_tx
    from shared.presets import DatePreset, DateRange

    filt = {"range": {"preset": "LAST_90_DAYS"}}
    async with httpx.AsyncClient(timeout=httpx.Timeout(1800, connect=10)) as client:
        data = await gql(client, gateway, token, EXPORT, {"kind": kind, "filter": filt})
        payload = data["requestExport"]
        if payload["errors"]:
            raise RuntimeError(f"requestExport refused: {payload['errors']}")
        size = newlines = 0
        with RssSampler(pids) as rss:
            t0 = time.perf_counter()
            async with client.stream("GET", payload["url"]) as r:
                if r.status_code != 200:
                    raise RuntimeError(f"export download: HTTP {r.status_code}: {(await r.aread())[:300]!r}")
                async for chunk in r.aiter_raw():
                    size += len(chunk)
                    newlines += chunk.count(b"\n")
            secs = time.perf_counter() - t0
    first, last = buckets.days_of(DateRange(preset=DatePreset.LAST_90_DAYS), "UTC")
    make = export_queries.customers_query if kind == "ANALYTICS_CUSTOMERS" else export_queries.orders_query
    q = make(analytics.Scope(org_id), first, last, "UTC")
    counted = [0, 0]

    async def sink(chunk: bytes) -> None:
        counted[0] += len(chunk)
        counted[1] += chunk.count(b"\n")

    t0 = time.perf_counter()
    async with tenant_tx(pool, org_id) as conn:
        await conn.execute("SET LOCAL statement_timeout = 0")
        await conn.copy_from_query(q.sql, *q.args, output=sink, format="csv", header=True)
    raw_secs = time.perf_counter() - t0
    return Download(
        kind,
        newlines - 1,
        size,
        secs,
        counted[1] - 1,
        counted[0],
        raw_secs,
        rss.peak_mb("insights API"),
        rss.start_rss["insights API"] / 1024,
        rss.peak_mb("gateway"),
    )


def push_brief(res: IngestResult) -> str:
    if not res.push:
        return f"no push measured ({res.push_missed} probes unanswered)"
    missed = f", {res.push_missed} probes without a push in 5 s" if res.push_missed else ""
    after = sorted(res.push_after_202)
    return (
        f"from the probe's request: p50 {pct(res.push, 0.5) * 1000:.0f} ms, p95 {pct(res.push, 0.95) * 1000:.0f} ms,"
        f" max {max(res.push) * 1000:.0f} ms over {len(res.push)} probes; from its 202: p95"
        f" {pct(after, 0.95) * 1000:.0f} ms ({sum(a <= 0 for a in after)} pushes arrived before the 202 was read)"
        f"{missed}"
    )
