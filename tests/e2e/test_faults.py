"""End to end: the platform's processes under the local supervisor (infra/run.py), the orders worker
SIGKILLed mid-burst (its main process once, then its worker child once).

Checks: the gateway keeps answering throughout; the worker is back within seconds; every webhook is
applied exactly once within the documented redelivery time; nothing the platform started is left
after it stops. Dramatiq's chance maintenance is off: only the kit's redelivery pass requeues.
Prints the measured times (kill to worker back, kill to the last message applied).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.embedded import free_port
from infra.processes import PROCESSES, local_urls
from infra.run import ChildSpec, Supervisor
from tests.factories import commission_body, create_order, signed_headers

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e

HEARTBEAT_S = 3.0
INTERVAL_S = 1.0
POLL_S = 0.1
WEBHOOKS = 300


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, process group) of `pid`, or None once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[2])


def _alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def _processes_of(groups: set[int]) -> set[int]:
    """Live processes in any of `groups` (each supervised process leads its own group)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) and stat[2] in groups and stat[0] not in "ZX":
            found.add(int(entry.name))
    return found


def _children(pid: int) -> list[int]:
    return [p for p in _processes_of({pid}) if (stat := _stat(p)) and stat[1] == pid]


class SupervisedPlatform:
    """infra/processes.py's processes on free ports, run by the supervisor of `./platform up`."""

    def __init__(self, tmp: Path) -> None:
        self.ports = {p.name: free_port() for p in PROCESSES if p.kind.serves_http}
        self.worker_health = free_port()
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            **local_urls(self.ports),
            "dramatiq_worker_timeout": str(int(POLL_S * 1000)),
            "DRAMATIQ_HEARTBEAT_TIMEOUT_MS": str(int(HEARTBEAT_S * 1000)),
            "DRAMATIQ_REDELIVERY_INTERVAL_MS": str(int(INTERVAL_S * 1000)),
            "DRAMATIQ_MAINTENANCE_CHANCE": "0",
            "LOG_LEVEL": "INFO",
        }
        self.log = tmp / "platform.log"
        self.events: list[tuple[float, str]] = []
        self._out = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self.supervisor = Supervisor(log=lambda m: self.events.append((time.monotonic(), m)), output=self._out)
        self.seen: set[int] = set()  # every process of the platform observed while it ran

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def start(self) -> None:
        self.supervisor.watch(interval=0.05)
        for p in PROCESSES:
            env = dict(self.env)
            if p.name == "orders-worker":
                env["HEALTH_PORT"] = str(self.worker_health)
            self.supervisor.add(ChildSpec(p.name, p.local_argv(sys.executable, self.ports.get(p.name)), env=env))

    def observe(self) -> None:
        self.seen |= _processes_of(self.supervisor.started_pids())

    def stop(self) -> None:
        self.observe()
        self.supervisor.stop_all()
        self._out.close()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


async def _until_all(applied: Callable[[], Awaitable[tuple[int, float]]], deadline: float) -> None:
    """Until every webhook is applied, or the deadline (the caller then reports how many were)."""
    while True:
        if (await applied())[0] >= WEBHOOKS or time.monotonic() > deadline:
            return
        await asyncio.sleep(0.1)


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def platform(tmp_path: Path, servers: None) -> Iterator[SupervisedPlatform]:
    p = SupervisedPlatform(tmp_path)
    try:
        p.start()
        urls = [f"http://127.0.0.1:{p.ports[x.name]}{x.readiness_path}" for x in PROCESSES if x.kind.serves_http]
        urls.append(f"http://127.0.0.1:{p.worker_health}/healthz")
        deadline = time.monotonic() + 60
        while not all(_ok(u) for u in urls):
            assert time.monotonic() < deadline, f"platform not ready\n{p.tail()}"
            time.sleep(0.1)
        yield p
    finally:
        p.stop()


async def test_worker_killed_mid_burst_main_then_child_everything_applied_once_nothing_left(
    platform: SupervisedPlatform, tenant: Any, pool: Any
) -> None:
    from shared.db import tenant_tx
    from shared.messaging.broker import get_broker

    orders = [await create_order(pool, tenant, status="SUCCESSFUL") for _ in range(WEBHOOKS)]
    order_ids = [o["id"] for o in orders]
    secret = tenant.provider["webhook_secret"]
    hook = f"/webhooks/providers/{tenant.provider['public_id']}/commission"
    worker_health = f"http://127.0.0.1:{platform.worker_health}/healthz"
    broker = get_broker()
    failures: list[str] = []
    probes = 0
    stop_probing = asyncio.Event()

    async def probe_gateway(client: httpx.AsyncClient) -> None:
        """The gateway answers throughout (its health, every 50 ms)."""
        nonlocal probes
        while not stop_probing.is_set():
            try:
                r = await client.get("/healthz")
                if r.status_code != 200:
                    failures.append(f"/healthz {r.status_code}")
            except httpx.HTTPError as exc:
                failures.append(f"/healthz {exc!r}")
            probes += 1
            await asyncio.sleep(0.05)

    async def send(client: httpx.AsyncClient, indexes: range) -> None:
        async def one(i: int) -> None:
            body = commission_body(order_ids[i], 1, "SUCCESSFUL", "SUCCESSFUL", "12.50", "GBP")
            r = await client.post(hook, content=body, headers=signed_headers(secret, body, f"fault-{i}-{uuid.uuid4()}"))
            if r.status_code != 202:
                failures.append(f"webhook {i}: {r.status_code} {r.text[:200]}")

        for start in range(indexes.start, indexes.stop, 10):  # ten at a time, as concurrent providers would
            await asyncio.gather(*(one(i) for i in range(start, min(start + 10, indexes.stop))))

    def unacked() -> int:
        """Messages fetched and not acknowledged, over every worker's ack set of the orders queue."""
        keys = list(broker.client.scan_iter(f"{broker.namespace}:__acks__.*.orders"))
        return sum(int(broker.client.scard(k)) for k in keys)

    async def back_after(old_main: int) -> float:
        """When a new worker (another main process) serves its health again."""
        while True:
            pid = platform.supervisor.pid("orders-worker")
            if pid is not None and pid != old_main and await asyncio.to_thread(_ok, worker_health):
                platform.observe()
                return time.monotonic()
            await asyncio.sleep(0.05)

    figures: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=platform.url, timeout=10) as client:
        prober = asyncio.create_task(probe_gateway(client))
        third = WEBHOOKS // 3

        # 1. The main process only: its worker child is orphaned, then stopped by the supervisor.
        await send(client, range(0, third))
        platform.observe()
        main = platform.supervisor.pid("orders-worker")
        assert main is not None and _children(main), "the worker's main process has no worker child"
        held_1 = unacked()
        os.kill(main, signal.SIGKILL)
        killed_1 = time.monotonic()
        killed_1_wall = time.time()
        sending = asyncio.create_task(send(client, range(third, 2 * third)))  # the burst goes on meanwhile
        figures["main killed: worker back (s)"] = await asyncio.wait_for(back_after(main), 30) - killed_1
        await sending

        # 2. The worker child only: Dramatiq's main process exits, the supervisor restarts it.
        main = platform.supervisor.pid("orders-worker")
        assert main is not None
        await asyncio.sleep(0.3)
        children = _children(main)
        assert len(children) == 1, children
        sending = asyncio.create_task(send(client, range(2 * third, WEBHOOKS)))
        await asyncio.sleep(0.2)  # mid-burst
        held_2 = unacked()
        os.kill(children[0], signal.SIGKILL)
        killed_2 = time.monotonic()
        killed_2_wall = time.time()
        await sending
        figures["child killed: worker back (s)"] = await asyncio.wait_for(back_after(main), 30) - killed_2

        async def applied() -> tuple[int, float]:
            async with tenant_tx(pool, tenant.org_id) as conn:
                row = await conn.fetchrow(
                    "SELECT count(*) AS n, extract(epoch FROM max(occurred_at)) AS last FROM commission_ledger"
                    " WHERE source = 'provider' AND order_id = ANY($1)",
                    order_ids,
                )
            return int(row["n"]), float(row["last"] or 0)

        # Documented bound from a death: heartbeat + pass interval + a poll, once a worker runs again.
        worker_back = max(figures["child killed: worker back (s)"], figures["main killed: worker back (s)"])
        bound = max(worker_back, HEARTBEAT_S + INTERVAL_S) + POLL_S + 2.0
        await _until_all(applied, deadline=killed_2 + bound + 5)
        await asyncio.sleep(1)  # room for a wrong second application to show
        stop_probing.set()
        await prober

    n, last = await applied()
    assert n == WEBHOOKS, f"{n} of {WEBHOOKS} applied (each exactly once)\n{platform.tail()}"
    async with tenant_tx(pool, tenant.org_id) as conn:
        states = await conn.fetch("SELECT DISTINCT comm_status FROM orders WHERE id = ANY($1)", order_ids)
    assert [s["comm_status"] for s in states] == ["SUCCESSFUL"]
    assert not failures, failures[:5]
    assert probes > 20
    figures["kill to last message applied (s)"] = last - killed_2_wall
    figures["first kill to last message applied (s)"] = last - killed_1_wall
    assert figures["kill to last message applied (s)"] < bound, figures
    restarts = [m for _, m in platform.events if "orders-worker" in m and "restarting in" in m]
    assert len(restarts) == 2 and "killed by SIGKILL" in restarts[0], restarts
    for back in ("main killed: worker back (s)", "child killed: worker back (s)"):
        assert figures[back] < 15, figures  # back within seconds (1 s then 2 s of back-off, plus boot)
    print(f"\nunacked messages at the kills: {held_1}, {held_2}")
    for name, value in figures.items():
        print(f"{name}: {value:.1f}")

    # After the platform stops, nothing it started is left, Dramatiq's forked workers included.
    platform.stop()
    left = [p for p in platform.seen | platform.supervisor.started_pids() if _alive(p)]
    assert not left, left
