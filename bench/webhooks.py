"""Figure 5: provider commission webhooks end to end (signed request in -> ledger row applied), at N
concurrent senders, against a no-op Dramatiq actor drained with the same worker settings in the same
run. Targets: >= 500 webhooks/s and >= 40% of the no-op rate; none lost, none applied twice.

    PYTHONPATH=. uv run python bench/webhooks.py [--webhooks 5000] [--senders 32] [--duplicates 100]
        [--configs 1x8,1x8:p64,2x8:p64,...] [--noop-messages 10000] [--no-relay]

A config is PROCESSESxTHREADS with optional `:pN` (dramatiq_queue_prefetch=N) and `:tMS`
(dramatiq_worker_timeout=MS; infra/run.py's 100 when not given). Each config uses fresh orders that are
SUCCESSFUL with a PENDING commission and were never touched by a provider; every webhook confirms one
(commission_status SUCCESSFUL), a few are delivered twice (same webhook-id). The rate is the distinct
webhooks over the time from the first send to the last ledger row applied (new ledger rows are counted
every 50 ms, every 5 ms for the last 5%); the no-op floor is K messages enqueued beforehand, drained by a
fresh worker process with the same settings, timed from its first to its last acknowledgement.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    OUT,
    ROOT,
    MachineLoad,
    Processes,
    RawClient,
    Request,
    base_args,
    cpu_seconds,
    process_tree,
    save_result,
    say,
    setup,
    use_uvloop,
)

DEFAULT_CONFIGS = "1x8,1x8:p64,1x16:p128,2x8:p64"


def parse_config(spec: str) -> dict[str, Any]:
    head, *opts = spec.split(":")
    p, t = head.split("x")
    cfg: dict[str, Any] = {"spec": spec, "processes": int(p), "threads": int(t), "prefetch": None, "timeout": "100"}
    for o in opts:
        if o.startswith("p"):
            cfg["prefetch"] = o[1:]
        elif o.startswith("t"):
            cfg["timeout"] = o[1:]
    return cfg


def describe(cfg: dict[str, Any]) -> str:
    prefetch = cfg["prefetch"] or f"default ({2 * cfg['threads']})"
    return (
        f"{cfg['processes']} process(es) x {cfg['threads']} threads, dramatiq_queue_prefetch={prefetch},"
        f" dramatiq_worker_timeout={cfg['timeout']}, DB_POOL_MAX={os.environ.get('DB_POOL_MAX', '10')}"
    )


def worker_env(cfg: dict[str, Any]) -> dict[str, str]:
    env = {"dramatiq_worker_timeout": cfg["timeout"]}
    if cfg["prefetch"]:
        env["dramatiq_queue_prefetch"] = cfg["prefetch"]
    return env


def worker_cmd(module: str, queue: str, cfg: dict[str, Any]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "dramatiq",
        module,
        "--processes",
        str(cfg["processes"]),
        "--threads",
        str(cfg["threads"]),
        "--queues",
        queue,
    ]


def signed_headers(secret: str, body: bytes, msg_id: str) -> dict[str, str]:
    """Standard Webhooks headers, as a provider sends them."""
    from standardwebhooks.webhooks import Webhook

    when = datetime.now(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, when, body.decode()),
        "content-type": "application/json",
    }


async def noop_floor(procs: Processes, cfg: dict[str, Any], k: int) -> tuple[float, float]:
    """No-op messages per second drained by a fresh worker with these settings; and its start-up time."""
    import redis
    from dramatiq import Message
    from noop_worker import ACTOR, QUEUE

    from shared.messaging.broker import get_broker

    r = redis.Redis.from_url(os.environ["REDIS_URL"])
    key = f"dramatiq:{QUEUE}.msgs"
    r.delete(f"dramatiq:{QUEUE}", key)
    broker = get_broker()
    t_enq = time.perf_counter()
    for i in range(k):
        broker.enqueue(Message(queue_name=QUEUE, actor_name=ACTOR, args=(i,), kwargs={}, options={}))
    say(f"  enqueued {k:,} no-op messages in {time.perf_counter() - t_enq:.1f}s")
    assert r.hlen(key) == k, f"enqueued {r.hlen(key)} of {k}"
    started = time.perf_counter()
    procs.start("noop", worker_cmd("bench.noop_worker", QUEUE, cfg), env=worker_env(cfg), label="noop-worker")
    first = last = None
    deadline = started + 300
    while time.perf_counter() < deadline:
        n = r.hlen(key)
        now = time.perf_counter()
        if first is None and n < k:
            first = now
        if n == 0:
            last = now
            break
        await asyncio.sleep(0.005)
    t_stop = time.perf_counter()
    procs.stop("noop-worker", signal.SIGKILL)  # drained; dramatiq's graceful stop takes ~20 s here
    say(f"  no-op worker stopped in {time.perf_counter() - t_stop:.1f}s")
    if first is None or last is None:
        raise RuntimeError("the no-op worker did not drain its queue")
    return k / (last - first), first - started


async def main() -> None:
    ap = base_args(__doc__.split("\n\n")[0])
    ap.add_argument("--webhooks", type=int, default=5000, help="distinct webhooks per config")
    ap.add_argument("--duplicates", type=int, default=100, help="extra deliveries of already-sent webhook ids")
    ap.add_argument("--senders", type=int, default=32)
    ap.add_argument("--configs", default=DEFAULT_CONFIGS)
    ap.add_argument("--noop-messages", type=int, default=10000)
    ap.add_argument("--no-relay", action="store_true", help="do not run the outbox relay (infra/run.py runs it)")
    ap.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment of every platform process (e.g. LOG_LEVEL=WARNING, DB_POOL_MAX=16)",
    )
    args = ap.parse_args()
    configs = [parse_config(s) for s in args.configs.split(",")]

    env = await setup(redis=True)
    sys.path.insert(0, str(ROOT / "bench"))
    procs = Processes("webhooks-")
    extra = dict(kv.split("=", 1) for kv in args.env)
    procs.env.update(extra)
    lines: list[str] = []
    if extra or args.no_relay:
        lines.append(
            f"commission webhooks: extra environment {extra or '{}'}{', no outbox relay' if args.no_relay else ''}"
        )
        print(lines[-1], flush=True)
    best: tuple[float, str] | None = None
    try:
        procs.start_web()
        if not args.no_relay:
            procs.start("orders-relay")
        import asyncpg

        d = env.data
        providers = {p["id"]: p for p in d["providers"]}
        owner = await asyncpg.connect(env.owner_dsn())
        run_tag = uuid.uuid4().hex[:8]
        for n_cfg, cfg in enumerate(configs):
            t_cfg = time.perf_counter()
            noop_rate, boot = await noop_floor(procs, cfg, args.noop_messages)
            say(
                f"[{cfg['spec']}] no-op floor: {noop_rate:,.0f} msg/s ({args.noop_messages:,} messages;"
                f" worker start-up {boot:.1f}s)"
            )

            tag = f"bench-{run_tag}-{n_cfg}-"
            rows = await owner.fetch(
                "SELECT id, provider_id FROM orders WHERE org_id = $1 AND status = 'SUCCESSFUL'"
                " AND comm_status = 'PENDING' AND provider_seq = 0 AND NOT EXISTS (SELECT 1 FROM commission_ledger l"
                " WHERE l.order_id = orders.id AND l.source = 'provider') ORDER BY random() LIMIT $2",
                d["org_id"],
                args.webhooks + 20,
            )
            if len(rows) < args.webhooks + 20:
                raise SystemExit("not enough untouched PENDING commissions left; reload the data set")
            warm, rows = rows[:20], rows[20:]
            say(f"  no-op floor and order selection took {time.perf_counter() - t_cfg:.1f}s")

            def build(order: Any, hook_id: str) -> Request:
                p = providers[order["provider_id"]]
                body = json.dumps(
                    {
                        "type": "commission.updated",
                        "data": {
                            "order_id": str(order["id"]),
                            "sequence": 1,
                            "status": "SUCCESSFUL",
                            "commission_status": "SUCCESSFUL",
                        },
                    }
                ).encode()
                return Request(
                    "POST",
                    f"{procs.gateway}/webhooks/providers/{p['public_id']}/commission",
                    body,
                    signed_headers(p["webhook_secret"], body, hook_id),
                )

            since_id = int(await owner.fetchval("SELECT coalesce(max(id), 0) FROM commission_ledger"))
            procs.start("orders-worker", worker_cmd("services.orders.worker", "orders", cfg), env=worker_env(cfg))
            # Warm-up: the worker is ready when these are applied.
            warm_reqs = [build(o, f"{tag}warm-{i}") for i, o in enumerate(warm)]
            await send_all(warm_reqs, 4)
            if not await wait_count(owner, d["org_id"], f"{tag}warm-", len(warm), 60, since_id=since_id):
                raise RuntimeError("warm-up webhooks were not applied; see bench/out/logs")

            reqs = [build(o, f"{tag}{i}") for i, o in enumerate(rows)]
            rng = random.Random(n_cfg)
            for _ in range(args.duplicates):  # the same delivery again, later in the stream
                i = rng.randrange(len(reqs) // 2)
                reqs.insert(rng.randrange(i + 1, len(reqs)), reqs[i])
            distinct = len(rows)
            prefix = f"{tag}"
            cpu0 = cpu_by_process(procs)
            with MachineLoad() as m:
                t0 = time.perf_counter()
                sent = asyncio.create_task(send_all(reqs, args.senders))
                done_at = await wait_count(
                    owner,
                    d["org_id"],
                    prefix,
                    distinct + len(warm),
                    180,
                    exclude_warm=True,
                    distinct=distinct,
                    since_id=since_id,
                )
                _accepted, statuses, sent_at = await sent
            if done_at is None:
                applied = await count_applied(owner, d["org_id"], prefix)
                lines.append(
                    f"commission webhooks [{cfg['spec']}]: only {applied} of {distinct} applied within 180 s"
                    f" ({statuses})"
                )
                print(lines[-1], flush=True)
                procs.stop("orders-worker")
                continue
            secs = done_at - t0
            cpu1 = cpu_by_process(procs)
            await asyncio.sleep(1.0)  # a wrongly repeated application would show up now
            ledger, ledger_distinct, receipts, outcomes = await check(owner, d["org_id"], prefix)
            rate = distinct / secs
            ok_rate = rate >= 500 and rate / noop_rate >= 0.4
            exact = ledger == ledger_distinct == receipts == distinct
            lines.append(
                f"commission webhooks [{cfg['spec']}: {describe(cfg)}]: {rate:,.0f}/s end to end, {distinct:,} webhooks"
                f" + {args.duplicates} duplicates from {args.senders} senders in {secs:.1f}s (all accepted after"
                f" {sent_at - t0:.1f}s: {len(reqs) / (sent_at - t0):,.0f} req/s) (no-op actor floor {noop_rate:,.0f}"
                f" msg/s, {rate / noop_rate:.0%}) [{'ok' if ok_rate else 'MISSED'}]; ledger rows {ledger:,} for"
                f" {distinct:,} distinct ids, {ledger - ledger_distinct} applied twice,"
                f" {distinct - ledger_distinct} lost"
                f" [{'exactly once' if exact else 'NOT EXACTLY ONCE'}]; outcomes {outcomes}; HTTP {statuses}"
            )
            print(lines[-1], flush=True)
            say(f"  {m.brief()}")
            lines.append(
                f"  CPU per webhook [{cfg['spec']}]: "
                + ", ".join(f"{k} {(cpu1[k] - cpu0.get(k, 0)) / distinct * 1000:.2f} ms" for k in cpu1)
            )
            print(lines[-1], flush=True)
            if best is None or rate > best[0]:
                best = (rate, cfg["spec"])
            procs.stop("orders-worker", signal.SIGKILL)  # every message applied and checked above
        await owner.close()
        if best:
            lines.append(f"commission webhooks: best {best[0]:,.0f}/s with {best[1]}")
            print(lines[-1], flush=True)
        save_result("webhooks", lines)
    finally:
        procs.stop_all()
        env.close()


def cpu_by_process(procs: Processes) -> dict[str, float]:
    """CPU seconds so far of each platform process (worker: all its processes), PostgreSQL and Redis."""
    out = {}
    for label in ("gateway", "orders-worker", "orders-api", "orders-relay"):
        if label in procs.procs:
            out[label] = sum(cpu_seconds(p) for p in process_tree(procs.pid(label)))
    try:
        postmaster = int((OUT / "pg" / "pgdata" / "postmaster.pid").read_text().split()[0])
        out["postgres"] = sum(cpu_seconds(p) for p in process_tree(postmaster))
    except (OSError, ValueError):
        pass
    import psutil

    for p in psutil.process_iter(["name", "cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if "redis-server" in cmd and os.environ.get("REDIS_URL", "").rsplit(":", 1)[-1].split("/")[0] in cmd:
            out["redis"] = cpu_seconds(p.pid)
    out["senders (this process)"] = cpu_seconds(os.getpid())
    return out


async def send_all(reqs: list[Request], senders: int) -> tuple[int, dict[int, int], float]:
    """Each sender takes the next request until none is left; returns 202s, status counts, end time."""
    statuses: dict[int, int] = {}
    it = iter(reqs)
    accepted = [0]

    async def sender() -> None:
        client = RawClient(reqs[0].url)
        try:
            for req in it:
                for _attempt in range(5):
                    try:
                        status, _ = await client.send(req)
                        break
                    except (OSError, asyncio.IncompleteReadError):
                        await client.close()
                        client = RawClient(req.url)
                        status = 0
                statuses[status] = statuses.get(status, 0) + 1
                if status == 202:
                    accepted[0] += 1
        finally:
            await client.close()

    await asyncio.gather(*(sender() for _ in range(senders)))
    return accepted[0], statuses, time.perf_counter()


async def count_applied(conn: Any, org_id: Any, prefix: str) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM commission_ledger WHERE org_id = $1 AND source = 'provider' AND reference LIKE $2",
            org_id,
            prefix + "%",
        )
    )


async def wait_count(
    conn: Any,
    org_id: Any,
    prefix: str,
    n: int,
    timeout: float,
    exclude_warm: bool = False,
    distinct: int | None = None,
    since_id: int = 0,
) -> float | None:
    """When the ledger holds the rows of `prefix` (cheaply: only rows with id > since_id are counted,
    every 50 ms, then every 5 ms for the last 5%, so the poll itself costs PostgreSQL little)."""
    deadline = time.perf_counter() + timeout
    target = distinct if exclude_warm else n
    while time.perf_counter() < deadline:
        if exclude_warm:
            got = int(
                await conn.fetchval(
                    "SELECT count(*) FROM commission_ledger WHERE id > $4 AND org_id = $1 AND source = 'provider'"
                    " AND reference LIKE $2 AND reference NOT LIKE $3",
                    org_id,
                    prefix + "%",
                    prefix + "warm-%",
                    since_id,
                )
            )
        else:
            got = int(
                await conn.fetchval(
                    "SELECT count(*) FROM commission_ledger WHERE id > $3 AND org_id = $1 AND source = 'provider'"
                    " AND reference LIKE $2",
                    org_id,
                    prefix + "%",
                    since_id,
                )
            )
        if got >= (target or 0):
            return time.perf_counter()
        await asyncio.sleep(0.005 if got >= 0.95 * (target or 0) else 0.05)
    return None


async def check(conn: Any, org_id: Any, prefix: str) -> tuple[int, int, int, dict[str, int]]:
    pattern, warm = prefix + "%", prefix + "warm-%"
    ledger, ledger_distinct = await conn.fetchrow(
        "SELECT count(*), count(DISTINCT reference) FROM commission_ledger WHERE org_id = $1 AND source = 'provider'"
        " AND reference LIKE $2 AND reference NOT LIKE $3",
        org_id,
        pattern,
        warm,
    )
    receipts = await conn.fetchval(
        "SELECT count(*) FROM webhook_receipts WHERE org_id = $1 AND webhook_id LIKE $2 AND webhook_id NOT LIKE $3",
        org_id,
        pattern,
        warm,
    )
    outcomes = {
        r["outcome"]: r["n"]
        for r in await conn.fetch(
            "SELECT outcome, count(*) AS n FROM webhook_receipts WHERE org_id = $1 AND webhook_id LIKE $2"
            " AND webhook_id NOT LIKE $3 GROUP BY 1",
            org_id,
            pattern,
            warm,
        )
    }
    return int(ledger), int(ledger_distinct), int(receipts), outcomes


if __name__ == "__main__":
    use_uvloop()
    asyncio.run(main())
