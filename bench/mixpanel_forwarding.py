"""Mixpanel forwarding (issue 11's figure): the local peer's own acceptance rate measured alone, and our
forwarding rate to it, in the same run (targets: at least 10,000 events/s, and at least 50 % of the peer's rate).

    PYTHONPATH=. uv run --frozen --no-sync python -m bench.mixpanel_forwarding [--events 200000] [--rounds 1]

- The peer: tests/fakes/mixpanel.py (written from Mixpanel's docs: validation of every event, $insert_id dedupe,
  gzip), its own process on a free port.
- Alone: the same events as forwarding sends (the same mapping, built and gzipped before the clock starts), POSTed
  to /import in batches of 2,000 one after another over one keep-alive connection: what the peer can accept.
- Ours: N events stored in the insights store (one organisation, 12 types, 5,000 customers, a few properties;
  loaded by SQL after the connection was made, so they are the live cursor's), forwarded by
  `services.insights.service.mixpanel.forward` (the actor's body): keyset batches of 2,000 read by ingestion
  order, mapped, gzipped, POSTed, the position moved in the same transaction, until caught up. Contacts off.

Servers: an embedded PostgreSQL under --data-dir (default /tmp/bench_mixpanel; not bench/out, so it runs beside the
other benchmarks), or DATABASE_URL's (databases prefixed bench_mixpanel_). Prints figures; never asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gzip
import os
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402

from infra.embedded import EmbeddedPostgres, free_port  # noqa: E402

TYPES = (
    "page_view",
    "visit",
    "click",
    "product_viewed",
    "journey_started",
    "order_started",
    "invoice",
    "payment",
    "lead",
    "service_request",
    "subscription",
    "usage",
)
BATCH = 2000


def say(msg: str) -> None:
    print(msg, flush=True)


async def load(settings: Any, org_id: uuid.UUID, n: int) -> None:
    owner = await asyncpg.connect(settings.service_database_url("insights", "owner"))
    try:
        await owner.execute("SELECT ensure_event_partitions(current_date - 31, current_date + 1)")
        await owner.execute(
            """INSERT INTO events (org_id, occurred_at, integration_id, source_key, type, class, customer_id,
                                   amount, currency, properties)
               SELECT $1, now() - ((i % 43000) * interval '1 minute'), '00000000-0000-4000-8000-0000000000aa',
                      'bench-' || i, ($3::text[])[1 + i % 12], 'behaviour', md5('c' || (i % 5000))::uuid,
                      CASE WHEN i % 3 = 0 THEN (i % 500) + 0.99 END, CASE WHEN i % 3 = 0 THEN 'GBP' END,
                      jsonb_build_object('source', 'bench', 'campaign', 'c' || (i % 40), 'step', i % 7)
                 FROM generate_series(1, $2) i""",
            org_id,
            n,
            list(TYPES),
        )
        await owner.execute("ANALYZE events")
    finally:
        await owner.close()


async def peer_alone(settings: Any, project: Any, pool: Any, c: Any, n: int) -> float:
    """Events/s the peer accepts alone: the very documents forwarding sends (the repository's SQL), with fresh
    insert ids (the peer must accept them, not find them again), batched and gzipped before the clock starts."""
    from services.insights.repository import mixpanel as store
    from services.insights.service.mixpanel_peer import Project as PeerProject
    from shared.db import tenant_tx

    docs: list[bytes] = []
    while len(docs) < n:
        async with tenant_tx(pool, c.org_id) as conn:
            scan = await store.live_batch(conn, c, BATCH)
        if scan.last is None:
            break
        docs += [o.doc for o in scan.events]
        c = dataclasses.replace(c, live_xid=scan.last[0], live_id=scan.last[1])
    docs = [re.sub(rb'"\$insert_id":"[^"]*"', f'"$insert_id":"{uuid.uuid4()}"'.encode(), d) for d in docs]
    bodies = [gzip.compress(b"[" + b",".join(docs[i : i + BATCH]) + b"]", 1) for i in range(0, len(docs), BATCH)]
    peer = PeerProject("US", project["project_id"], project["token"], project["username"], project["secret"])
    url = f"{peer.ingest_url(settings)}/import"
    headers = {**peer.auth, "Content-Type": "application/json", "Content-Encoding": "gzip"}
    async with aiohttp.ClientSession() as session:
        began = time.perf_counter()
        for body in bodies:
            async with session.post(
                url, params={"strict": "1", "project_id": peer.project_id}, data=body, headers=headers
            ) as r:
                assert r.status == 200, await r.text()
                await r.read()
        elapsed = time.perf_counter() - began
    return len(docs) / elapsed


async def run(args: argparse.Namespace) -> None:
    from services.insights.service import mixpanel as workflow
    from services.insights.service import mixpanel_peer
    from shared.bootstrap import bootstrap
    from shared.config import Settings
    from shared.db import create_pool, tenant_tx
    from tests.fakes.mixpanel import FakeMixpanel

    settings = Settings()
    await bootstrap(settings, ("orders", "insights"))
    fake = FakeMixpanel(free_port()).start()
    try:
        settings = dataclasses.replace(
            settings, mixpanel_ingest_url_us=fake.url("us"), mixpanel_query_url_us=fake.url("us")
        )
        pool = await create_pool(settings.service_database_url("insights"), max_size=4)
        org_id = uuid.uuid4()
        project = {
            "project_id": str(uuid.uuid4().int % 10**9),
            "token": uuid.uuid4().hex,
            "username": "bench.sa",
            "secret": uuid.uuid4().hex,
        }
        await fake.add_project(project["project_id"], project["token"], project["username"], project["secret"])
        c = await workflow.connect(
            pool,
            settings,
            org_id,
            workflow.ConnectInput(
                project_id=project["project_id"],
                project_token=project["token"],
                username=project["username"],
                secret=project["secret"],
                region="US",
                forward_contacts=False,
                event_types=list(TYPES),
            ),
        )
        say(f"loading {args.events:,} events ...")
        began = time.monotonic()
        await load(settings, org_id, args.events)
        say(f"  loaded in {time.monotonic() - began:.0f}s")

        ours: list[float] = []
        alone: list[float] = []
        for round_ in range(args.rounds):
            alone_rate = await peer_alone(settings, project, pool, c, args.events)
            alone.append(alone_rate)
            if round_ > 0:  # forward the same events again: a new connection's position
                async with tenant_tx(pool, org_id) as conn:
                    await conn.execute(
                        """UPDATE mixpanel_connections SET live_xid = boundary_xid, live_id = $2
                            WHERE org_id = $1""",
                        org_id,
                        uuid.UUID(int=0),
                    )
            orders = workflow.OrdersContacts.from_settings(settings)
            t0 = time.perf_counter()
            done = await workflow.forward(pool, settings, orders, org_id, c.id, budget_seconds=3600)
            elapsed = time.perf_counter() - t0
            assert done.stopped == "caught_up", done
            ours.append(done.events / elapsed)
            say(
                f"round {round_ + 1}: peer alone {alone_rate:,.0f} events/s; forwarding {done.events:,} events in "
                f"{elapsed:.1f}s = {ours[-1]:,.0f} events/s ({done.batches} batches)"
            )
        received, kept = await fake.counts(project["project_id"])
        ratios = sorted(o / a for o, a in zip(ours, alone, strict=True))
        median = ratios[len(ratios) // 2]
        best_ours, best_alone = max(ours), max(alone)
        say("")
        say(f"Mixpanel forwarding (gzip requests of 2,000, {workflow.IN_FLIGHT} in flight, local peer, contacts off)")
        say(f"  the peer's own rate, alone:         best {best_alone:,.0f} events/s, rounds {_rates(alone)}")
        say(
            f"  our forwarding rate:                best {best_ours:,.0f} events/s, rounds {_rates(ours)} "
            f"(target >= 10,000: {'met' if best_ours >= 10_000 else 'MISSED'})"
        )
        say(
            f"  ratio per round (same moment):      {', '.join(f'{r:.0%}' for r in ratios)}; median {median:.0%}"
            f" (target >= 50 %: {'met' if median >= 0.5 else 'MISSED'}); best over best {best_ours / best_alone:.0%}"
        )
        say(f"  events the peer received / kept:    {received:,} / {kept:,} (ours: the same each round)")
        await pool.close()
        await mixpanel_peer.close_sessions()
    finally:
        fake.stop()


def _rates(values: list[float]) -> str:
    return ", ".join(f"{v:,.0f}" for v in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--data-dir", default="/tmp/bench_mixpanel")
    args = parser.parse_args()
    pg = None
    if not os.environ.get("DATABASE_URL"):
        os.environ.setdefault("PG_FSYNC", "off")
        pg = EmbeddedPostgres(Path(args.data_dir), free_port()).start()
        os.environ["DATABASE_URL"] = pg.url
    else:
        os.environ.setdefault("DB_PREFIX", "bench_mixpanel_")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:1/0")  # not used: no broker in this bench
    try:
        asyncio.run(run(args))
    finally:
        if pg is not None:
            pg.stop()


if __name__ == "__main__":
    main()
