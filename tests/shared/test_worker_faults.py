"""Worker faults: every accepted message is applied once, within a documented bound, whatever fails.

- A live worker whose consumer hits a Redis connection error while it holds retries in back-off
  (Dramatiq then drops them from memory, their ids staying in its ack set) gets them back from the
  redelivery pass (issue 6, item 5).
- A worker killed with SIGKILL while it holds unacked messages: a live worker's pass puts them back
  within the heartbeat timeout plus the pass interval, with Dramatiq's chance maintenance off.
- A worker started while PostgreSQL is unreachable for longer than the whole retry budget consumes
  nothing until its pool exists: every accepted webhook is applied once, none dead-lettered.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.message import Message

from shared.messaging import redelivery
from shared.messaging.redelivery import RedeliveryMiddleware
from tests.workers import PROBE_ACTOR, TcpProxy, probe_keys, wait_for_log

ROOT = Path(__file__).resolve().parents[2]
HEARTBEAT_MS = 3000
INTERVAL_MS = 1000
POLL_MS = 100  # dramatiq_worker_timeout of the workers below


def _until(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Waits until `predicate()` holds; returns when it did (monotonic)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {timeout:.1f}s")
        time.sleep(0.02)
    return time.monotonic()


def _hash(client: Any, key: str) -> dict[str, str]:
    """A Redis hash, decoded."""
    return {k.decode(): v.decode() for k, v in client.hgetall(key).items()}


def _redis_port() -> int:
    port = urlsplit(os.environ["REDIS_URL"]).port
    assert port
    return port


def test_retries_dropped_by_a_consumer_on_a_redis_error_are_applied_once(servers: None) -> None:
    """Issue 6, item 5: retries waiting out their back-off survive a Redis connection error."""
    n = 40
    attempts: collections.Counter[int] = collections.Counter()
    applied: collections.Counter[int] = collections.Counter()
    lock = threading.Lock()
    dead_consumers: list[str] = []
    with TcpProxy(_redis_port()) as proxy:
        broker = RedisBroker(
            url=f"redis://127.0.0.1:{proxy.port}/0",
            namespace=f"faults-{uuid.uuid4().hex[:8]}",
            heartbeat_timeout=HEARTBEAT_MS,
            maintenance_chance=0,  # only the redelivery pass requeues anything here
        )
        redelivery = RedeliveryMiddleware(INTERVAL_MS, on_dead_consumer=dead_consumers.append)
        broker.add_middleware(redelivery)

        # Fails its first attempt, as during a store outage; the retry waits 1.5-3 s in the delay queue.
        @dramatiq.actor(broker=broker, queue_name="flaky", max_retries=5, min_backoff=3000, max_backoff=3000)
        def flaky(key: int) -> None:
            with lock:
                attempts[key] += 1
                if attempts[key] == 1:
                    raise dramatiq.Retry("store unavailable (first attempt)")  # retried, without a traceback
                applied[key] += 1

        worker = dramatiq.Worker(broker, worker_threads=4, worker_timeout=POLL_MS)
        worker.start()
        try:
            for i in range(n):
                flaky.send(i)
            delay_acks = f"{broker.namespace}:__acks__.{broker.broker_id}.flaky.DQ"
            # Every retry fetched into the delay-queue consumer's memory (and its ack set), none due yet.
            _until(lambda: int(broker.client.scard(delay_acks)) == n, 5, "all retries held in the delay queue")
            assert not applied
            proxy.cut()  # the consumers' next fetch fails: Dramatiq drops the delay queue it held
            time.sleep(1)
            proxy.restore()
            restored = time.monotonic()
            done = _until(lambda: sum(applied.values()) >= n, 15, "every retry applied")
            time.sleep(0.5)  # room for a wrong second application to show
        finally:
            worker.stop()
    assert applied == {i: 1 for i in range(n)}  # each exactly once
    # The fault was reproduced (Dramatiq dropped the held retries) and the pass recovered them:
    assert redelivery.stats.by_queue.get("flaky.DQ") == n
    assert not dead_consumers
    # Consumer restart delay (3 s) + two passes + a poll, plus the retries' own processing.
    bound = 3 + 2 * INTERVAL_MS / 1000 + POLL_MS / 1000 + 1.5
    print(f"\nlost retries applied {done - restored:.1f}s after Redis came back (bound {bound:.1f}s)")
    assert done - restored < bound


def _dramatiq(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`dramatiq <args>` in its own process group, output to `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "dramatiq", *args],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), "dramatiq_worker_timeout": str(POLL_MS), **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _probe_worker(queue: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        "PROBE_QUEUE": queue,
        "DRAMATIQ_HEARTBEAT_TIMEOUT_MS": str(HEARTBEAT_MS),
        "DRAMATIQ_REDELIVERY_INTERVAL_MS": str(INTERVAL_MS),
        "DRAMATIQ_MAINTENANCE_CHANCE": "0",  # the bound below must not depend on chance
    }
    return _dramatiq(["tests.workers:probe_worker", "--processes", "1", "--threads", "2", "--queues", queue], log, env)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(15)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # anything of its group left behind
    proc.wait()


async def _until_async(predicate: Callable[[], Awaitable[bool]], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


def test_messages_of_a_killed_worker_are_redelivered_within_heartbeat_plus_interval(
    servers: None, tmp_path: Path
) -> None:
    queue = f"probe-{uuid.uuid4().hex[:8]}"
    sender = RedisBroker(url=os.environ["REDIS_URL"], maintenance_chance=0)
    applied_key, runs_key = probe_keys(queue)
    victim = _probe_worker(queue, tmp_path / "victim.log")
    survivor = _probe_worker(queue, tmp_path / "survivor.log")
    try:
        for log in ("victim.log", "survivor.log"):
            wait_for_log(tmp_path / log, "Worker process is ready for action")
        n = 24
        sender.declare_queue(queue)
        for i in range(n):
            message: Message[Any] = Message(
                queue_name=queue, actor_name=PROBE_ACTOR, args=(str(i), 0.25), kwargs={}, options={}
            )
            sender.enqueue(message)

        def applied() -> dict[str, tuple[int, int]]:
            raw = _hash(sender.client, applied_key)
            return {k: (int(v.split()[0]), int(v.split()[1])) for k, v in raw.items()}

        # Kill the victim once it has applied something: it then holds messages in flight and prefetched.
        _until(lambda: any(group == victim.pid for _, group in applied().values()), 10, "the victim at work")
        os.killpg(victim.pid, signal.SIGKILL)  # main process and its worker child, mid-message
        killed_ms = time.time() * 1000
        victim.wait()
        _until(lambda: len(applied()) == n, HEARTBEAT_MS / 1000 + 10, "every message applied")
    finally:
        _stop(survivor)
        _stop(victim)
    done = applied()
    last_ms = max(t for t, _ in done.values())
    redelivered = [k for k, (t, _) in done.items() if t > killed_ms + HEARTBEAT_MS]
    # The victim held unacked messages, which came back only after its heartbeat expired...
    assert redelivered
    # ...and within heartbeat + pass interval + a poll (+ the probe's 0.25 s and slack for the machine).
    bound_ms = HEARTBEAT_MS + INTERVAL_MS + POLL_MS + 250 + 1000
    print(f"\nlast redelivered message applied {(last_ms - killed_ms) / 1000:.1f}s after the kill")
    assert last_ms - killed_ms < bound_ms
    assert set(_hash(sender.client, runs_key)) == {str(i) for i in range(n)}
    sender.client.delete(applied_key, runs_key)


async def test_a_worker_started_while_postgres_is_down_longer_than_its_retry_budget_loses_nothing(
    servers: None, gateway: Any, pool: Any, tenant: Any, tmp_path: Path
) -> None:
    """The worker waits for its pool before consuming: an outage at start burns no retries."""
    from shared.db import tenant_tx
    from shared.messaging.broker import get_broker
    from tests.factories import commission_body, create_order, signed_headers

    orders = [await create_order(pool, tenant, status="SUCCESSFUL") for _ in range(20)]
    pg_port = urlsplit(os.environ["DATABASE_URL"]).port
    assert pg_port
    budget_s = 1  # WEBHOOK_RETRY_HORIZON_SECONDS: 2 retries, the last at most 3 s after the first failure
    with TcpProxy(pg_port, listening=False) as proxy:  # PostgreSQL "not started yet"
        log = tmp_path / "worker.log"
        env = {
            "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{proxy.port}/postgres",
            "WEBHOOK_RETRY_HORIZON_SECONDS": str(budget_s),
        }
        worker = _dramatiq(
            ["services.orders.worker", "--processes", "1", "--threads", "4", "--queues", "orders"], log, env
        )
        started = time.monotonic()
        try:
            hook = f"/webhooks/providers/{tenant.provider['public_id']}/commission"
            webhook_ids = [f"outage-{i}-{uuid.uuid4().hex}" for i in range(len(orders))]
            for o, wid in zip(orders, webhook_ids, strict=True):
                body = commission_body(o["id"], 1, "SUCCESSFUL", "SUCCESSFUL", "12.50", "GBP")
                r = await gateway.post(
                    hook, content=body, headers=signed_headers(tenant.provider["webhook_secret"], body, wid)
                )
                assert r.status_code == 202, r.text

            async def applied() -> int:
                async with tenant_tx(pool, tenant.org_id) as conn:
                    return int(
                        await conn.fetchval(
                            "SELECT count(*) FROM commission_ledger WHERE source = 'provider' AND order_id = ANY($1)",
                            [o["id"] for o in orders],
                        )
                    )

            # Down for longer than the whole retry budget (3 s at most) after the worker started.
            await asyncio.sleep(max(0.0, started + 3 * budget_s + 3 - time.monotonic()))
            assert worker.poll() is None, log.read_text()[-2000:]
            assert await applied() == 0
            proxy.restore()

            async def all_applied() -> bool:
                return await applied() == len(orders)

            await _until_async(all_applied, 20)
            await asyncio.sleep(0.5)  # room for a wrong second application to show
            assert await applied() == len(orders), log.read_text()[-3000:]
        finally:
            _stop(worker)
    broker = get_broker()
    dead = "".join(_hash(broker.client, f"{broker.namespace}:orders.XQ.msgs").values())
    assert not [w for w in webhook_ids if w in dead]


class _Consumer(threading.Thread):
    """Stands for a Dramatiq ConsumerThread: `running` is cleared only by a requested stop."""

    def __init__(self, running: bool, start: bool) -> None:
        super().__init__(daemon=True, target=threading.Event().wait, args=(5,) if start else ())
        self.running = running
        if start:
            self.start()


def test_a_consumer_thread_that_died_stops_the_worker_once() -> None:
    """Dramatiq lets a Redis error escape a consumer thread that is requeueing its delay queue; the thread
    is then gone and its queue unconsumed in this process, so the pass has the worker replaced."""
    died: list[str] = []
    mw = RedeliveryMiddleware(1000, on_dead_consumer=died.append)
    worker: Any = SimpleNamespace(
        consumers={
            "orders": _Consumer(running=True, start=False),  # ended while running: died
            "orders.DQ": _Consumer(running=False, start=False),  # stopped on request
            "other": _Consumer(running=True, start=True),  # working
        }
    )
    mw._check_consumers(worker)
    mw._check_consumers(worker)
    assert died == ["orders"]


def test_install_puts_the_pass_first_and_once() -> None:
    broker = RedisBroker(url="redis://127.0.0.1:1/0")  # no connection is opened
    middleware = redelivery.install(broker)
    assert broker.middleware[0] is middleware  # marks a message busy before any other hook runs
    assert redelivery.install(broker) is middleware
    assert sum(isinstance(m, RedeliveryMiddleware) for m in broker.middleware) == 1
