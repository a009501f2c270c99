"""Issue 11's MongoDB figures: forwarding to the local peer beside the peer's own bulk-insert rate, and a 1M backfill
with the reports worker's memory sampled.

    PYTHONPATH=. uv run --frozen --no-sync python -m bench.mongo_forwarding [--rows 500000] [--floor-docs 100000] \
        [--data-dir /tmp/mongo-forwarding-bench]

Starts its own embedded PostgreSQL and Redis in `--data-dir` (or uses DATABASE_URL / REDIS_URL) and the local peer
(SecantusDB, `secantusd-py`, as its own process, over the wire only), bootstraps the reports database and loads
`--rows` orders (one ledger row each) and `--rows` financial business events for one organisation by INSERT …
SELECT (the loader of bench/collection_downloads.py):
2 × `--rows` documents of the orders and financial_journals collections.
Then, in one run:

- floor: the peer's own unordered bulk-insert rate alone, `insert_many(ordered=False)` of batches of 1,000 of the
  same documents (the first `--floor-docs` financial journals and as many orders, read beforehand, as forwarded:
  BSON dates), with PyMongo's asyncio client, into an empty database;
- forwarding: a connection made through the service (`connect`: checked, stored encrypted, its pass enqueued) and
  run by the real reports worker (`dramatiq services.reports.worker --queues reports.mongo`, one thread), the first
  pass being the backfill of every document; documents/s from the enqueue to the pass's success, and the worker's
  RSS (VmRSS of its worker process) sampled every second;
- a second pass on nothing changed (the cost of a sweep that finds nothing).

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.collection_downloads import ORG, _load

BATCH = 1000


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


async def _documents(pool: Any, name: str, limit: int) -> list[dict[str, Any]]:
    from services.reports.domain import mongo as domain
    from services.reports.service import collections as workflow

    c = workflow.domain.collection(name)
    out: list[dict[str, Any]] = []
    async for batch, _ in workflow.changes(pool, name, ORG, batch=BATCH):
        out += [domain.to_mongo(c, d) for d in batch]
        if len(out) >= limit:
            break
    return out[:limit]


async def _floor(uri: str, docs: dict[str, list[dict[str, Any]]]) -> tuple[int, float]:
    """The peer alone: unordered insert_many of 1,000-document batches into an empty database."""
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    try:
        await client.drop_database("floor")
        db = client["floor"]
        n = 0
        t0 = time.perf_counter()
        for name, rows in docs.items():
            for start in range(0, len(rows), BATCH):
                batch = [dict(d) for d in rows[start : start + BATCH]]
                await db[name].insert_many(batch, ordered=False)
                n += len(batch)
        return n, time.perf_counter() - t0
    finally:
        await client.close()


def _start_worker(log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "dramatiq", "services.reports.worker", "--processes", "1", "--threads", "1"]
    command += ["--queues", "reports.mongo"]
    with open(log, "ab") as out:
        return subprocess.Popen(command, stdout=out, stderr=out, start_new_session=True, env=dict(os.environ))


async def _wait_pass(
    pool: Any, id: Any, since: Any, total: int, worker: int, samples: list[float]
) -> tuple[float | None, float]:
    """(seconds until `total` documents were written, seconds until the pass succeeded: its indexes built too),
    from now, sampling the worker process's RSS each second."""
    from services.reports.repository import mongo_connections as store
    from shared.db import tenant_tx

    t0 = time.perf_counter()
    written_at: float | None = None
    while True:
        for pid in _children(worker):
            rss = _rss_mb(pid)
            if rss is not None:
                samples.append(rss)
        async with tenant_tx(pool, ORG) as conn:
            c = await store.get(conn, ORG, id)
            positions = await store.positions(conn, ORG, id)
        if written_at is None and total and sum(p.forwarded for p in positions.values()) >= total:
            written_at = time.perf_counter() - t0
        if c is not None and c.last_success_at is not None and c.last_success_at > since:
            return written_at, time.perf_counter() - t0
        if c is not None and c.failing_since is not None:
            async with tenant_tx(pool, ORG) as conn:
                failures = await store.failures(conn, ORG, id, 1)
            raise RuntimeError(f"the pass failed: {failures[0].reason if failures else '?'}")
        await asyncio.sleep(0.5)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=500_000, help="orders and financial events each (documents: 2x)")
    ap.add_argument("--floor-docs", type=int, default=100_000, help="documents of the peer-alone floor")
    ap.add_argument("--data-dir", default="/tmp/mongo-forwarding-bench")
    ap.add_argument("--keep", action="store_true", help="leave PostgreSQL and Redis running")
    args = ap.parse_args()
    data = Path(args.data_dir)
    os.makedirs(data, exist_ok=True)

    from bench.common import _QuietRedis
    from infra.embedded import EmbeddedPostgres, free_port
    from tests.services.reports.mongo_peer import Peer

    pg = rd = None
    if not os.environ.get("DATABASE_URL"):
        os.environ.setdefault("PG_FSYNC", "off")
        pg = EmbeddedPostgres(data / "pg", free_port()).start()
        os.environ["DATABASE_URL"] = pg.url
    if not os.environ.get("REDIS_URL"):
        rd = _QuietRedis(data / "redis", free_port()).start(persistent=False)
        os.environ["REDIS_URL"] = rd.url
    shutil.rmtree(data / "peer", ignore_errors=True)
    peer = Peer(data / "peer")
    worker: subprocess.Popen[bytes] | None = None
    try:
        from services.reports.service import mongo_forwarding as forwarding
        from shared.bootstrap import bootstrap_service
        from shared.config import Settings
        from shared.db import create_pool

        settings = Settings()
        await bootstrap_service(settings, "reports")
        await _load(settings, args.rows)
        pool = await create_pool(settings.service_database_url("reports"), max_size=4, settings=settings)
        owner = await create_pool(settings.service_database_url("reports", role="owner"), max_size=1)
        await owner.execute("DELETE FROM mongo_connections WHERE org_id = $1", ORG)
        peer.start()
        try:
            half = args.floor_docs // 2
            docs = {n: await _documents(pool, n, half) for n in ("orders", "financial_journals")}
            n, elapsed = await _floor(peer.uri(), docs)
            floor = n / elapsed
            print(f"peer alone: insert_many(ordered=False) of {BATCH:,}: {n:,} documents in {elapsed:.1f} s = "
                  f"{floor:,.0f} docs/s")  # fmt: skip
            del docs

            worker = _start_worker(data / "worker.log")
            await asyncio.sleep(3)
            from datetime import UTC, datetime

            since = datetime.now(UTC)
            total = 2 * args.rows
            c = await forwarding.connect(
                pool,
                ORG,
                "user:bench",
                {"uri": peer.uri(), "database": "forwarded", "collections": ["orders", "financial_journals"]},
            )
            samples: list[float] = []
            written, elapsed = await _wait_pass(pool, c.id, since, total, worker.pid, samples)
            writing = written or elapsed
            rate = total / writing
            print(f"forwarding (reports worker, backfill): {total:,} documents written in {writing:.1f} s = "
                  f"{rate:,.0f} docs/s = {100 * rate / floor:.0f}% of the peer alone (target >= 50%); the pass, "
                  f"with the declared indexes built after it, {elapsed:.1f} s = {total / elapsed:,.0f} docs/s "
                  f"({100 * total / elapsed / floor:.0f}%)")  # fmt: skip
            if samples:
                print(f"worker RSS: first {samples[0]:.0f} MB, max {max(samples):.0f} MB, last {samples[-1]:.0f} MB "
                      f"({len(samples)} samples, 0.5 s apart); after a tenth of the pass "
                      f"{samples[len(samples) // 10]:.0f} MB, at half {samples[len(samples) // 2]:.0f} MB")  # fmt: skip
            with peer.client() as client:
                counts = {n: client["forwarded"][n].count_documents({}) for n in ("orders", "financial_journals")}
            print(f"in the peer: {counts} (expected {args.rows:,} each)")
            await forwarding.enqueue(ORG, c.id)
            _, again = await _wait_pass(pool, c.id, datetime.now(UTC), 0, worker.pid, samples)
            print(f"a pass with nothing changed: {again:.1f} s from enqueue to success (0.5 s polling)")
        finally:
            await pool.close()
            await owner.close()
    finally:
        if worker is not None:
            os.kill(worker.pid, signal.SIGTERM)  # the main process only (bench/README.md: a group SIGTERM can hang)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        peer.stop()
        if not args.keep:
            if rd is not None:
                rd.stop()
            if pg is not None:
                pg.stop()


if __name__ == "__main__":
    asyncio.run(main())
