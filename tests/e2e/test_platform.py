"""End to end: the real processes of infra/processes.py (uvicorn gateway and orders API, dramatiq worker,
outbox relay), started with the commands `./platform up` uses, over HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.embedded import free_port
from infra.processes import PROCESSES, by_name, local_urls
from tests.factories import commission_body, create_order, signed_headers

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


class Platform:
    """The processes of infra/processes.py, run as `./platform up` runs them, on free ports."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.ports = {p.name: free_port() for p in PROCESSES if p.kind.serves_http}
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            **local_urls(self.ports),
            "dramatiq_worker_timeout": "100",
            "LOG_LEVEL": "INFO",
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def readiness_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{self.ports[p.name]}{p.readiness_path}" for p in PROCESSES if p.kind.serves_http]

    def start(self, name: str) -> subprocess.Popen[bytes]:
        cmd = by_name(name).local_argv(sys.executable, self.ports.get(name))
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - the child writes to it until it stops
        p = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = p
        return p

    def wait_ready(self, url: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        logs = "\n".join(f"--- {p.name}\n{p.read_text()[-1500:]}" for p in self.tmp.glob("*.log"))
        raise AssertionError(f"{url} not ready\n{logs}")

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        p = self.procs.pop(name)
        if p.poll() is None:
            p.send_signal(sig)  # the main process stops its own children (signalling the group can hang Dramatiq)
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, servers: None) -> Iterator[Platform]:
    p = Platform(tmp_path_factory.mktemp("e2e"))
    try:
        for process in PROCESSES:
            p.start(process.name)
        for url in p.readiness_urls():
            p.wait_ready(url)
        yield p
    finally:
        p.stop_all()


SUMMARY = """query { ordersSummary { totalOrders successfulOrders pendingOrders
  commissionPending { amount currency } commissionPaid { amount currency } } }"""


async def _gql(client: httpx.AsyncClient, token: str, query: str, variables: dict[str, Any] | None = None) -> Any:
    r = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers={"authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert "errors" not in body, body
    return body["data"]


async def _until(predicate: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.2)


async def test_order_then_commission_webhook_twice_pays_once(platform: Platform, tenant: Any, pool: Any) -> None:
    async with httpx.AsyncClient(base_url=platform.url, timeout=10) as client:
        r = await client.post(
            "/v1/orders",
            headers={"authorization": f"Bearer {tenant.api_key}"},
            json={
                "externalRef": "e2e-1",
                "productId": str(tenant.products["Credit Cards"]),
                "customer": {"email": "e2e@example.com"},
            },
        )
        assert r.status_code == 201, r.text
        order_id = r.json()["order"]["id"]
        again = await client.post(
            "/v1/orders",
            headers={"authorization": f"Bearer {tenant.api_key}"},
            json={
                "externalRef": "e2e-1",
                "productId": str(tenant.products["Credit Cards"]),
                "customer": {"email": "e2e@example.com"},
            },
        )
        assert again.status_code == 200 and again.json()["order"]["id"] == order_id

        hook = f"/webhooks/providers/{tenant.provider['public_id']}/commission"
        secret = tenant.provider["webhook_secret"]
        confirmed = commission_body(order_id, 1, "SUCCESSFUL", "PENDING", "45.00", "GBP")
        r = await client.post(hook, content=confirmed, headers=signed_headers(secret, confirmed, "e2e-confirm"))
        assert r.status_code == 202, r.text

        async def pending() -> Any:
            s = (await _gql(client, tenant.admin_token, SUMMARY))["ordersSummary"]
            return s if s["commissionPending"] == [{"amount": "45.00", "currency": "GBP"}] else None

        summary = await _until(pending)
        assert summary and summary["commissionPaid"] == [] and summary["successfulOrders"] == 1

        paid = commission_body(order_id, 2, "SUCCESSFUL", "SUCCESSFUL", "45.00", "GBP")
        for _ in range(2):
            r = await client.post(hook, content=paid, headers=signed_headers(secret, paid, "e2e-paid"))
            assert r.status_code == 202, r.text

        async def settled() -> Any:
            s = (await _gql(client, tenant.admin_token, SUMMARY))["ordersSummary"]
            return s if s["commissionPaid"] == [{"amount": "45.00", "currency": "GBP"}] else None

        summary = await _until(settled)
        assert summary and summary["commissionPending"] == []
        await asyncio.sleep(1)  # give a wrongly duplicated application the chance to show up
        history = (
            await _gql(
                client,
                tenant.admin_token,
                "query($id: ID!) { orderHistory(id: $id) { toStatus toCommStatus source } }",
                {"id": order_id},
            )
        )["orderHistory"]
        assert [(h["toStatus"], h["toCommStatus"], h["source"]) for h in history] == [
            ("PENDING", "NA", "integration"),
            ("SUCCESSFUL", "PENDING", "provider"),
            ("SUCCESSFUL", "SUCCESSFUL", "provider"),
        ]

    # The relay published every event the order produced and marked it sent.
    from shared.db import tenant_tx

    async def relayed() -> bool:
        async with tenant_tx(pool, tenant.org_id) as conn:
            return await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0

    assert await _until(relayed, 15)


async def test_worker_killed_mid_stream_loses_nothing_and_applies_nothing_twice(
    platform: Platform, tenant: Any, pool: Any
) -> None:
    orders = [await create_order(pool, tenant, status="SUCCESSFUL") for _ in range(300)]
    secret = tenant.provider["webhook_secret"]
    hook = f"/webhooks/providers/{tenant.provider['public_id']}/commission"
    platform.stop("orders-worker")
    async with httpx.AsyncClient(base_url=platform.url, timeout=10) as client:
        for i, o in enumerate(orders):
            body = commission_body(o["id"], 1, "SUCCESSFUL", "SUCCESSFUL", "12.50", "GBP")
            headers = signed_headers(secret, body, f"kill-{i}-{uuid.uuid4().hex}")
            r = await client.post(hook, content=body, headers=headers)
            assert r.status_code == 202

    from shared.db import tenant_tx

    async def applied() -> int:
        async with tenant_tx(pool, tenant.org_id) as conn:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM commission_ledger WHERE source = 'provider' AND order_id = ANY($1)",
                    [o["id"] for o in orders],
                )
            )

    worker = platform.start("orders-worker")
    await _until(lambda: _gt(applied, 10), 30)
    os.killpg(worker.pid, signal.SIGKILL)  # mid-stream: some applied, some prefetched and unacked
    worker.wait()
    platform.procs.pop("orders-worker")
    partial = await applied()
    assert partial < len(orders), "the worker finished before it could be killed; raise the order count"
    platform.start("orders-worker")
    done = await _until(lambda: _eq(applied, len(orders)), 60)
    assert done, f"only {await applied()} of {len(orders)} applied after redelivery"
    await asyncio.sleep(1)
    assert await applied() == len(orders)  # exactly once each
    async with tenant_tx(pool, tenant.org_id) as conn:
        states = await conn.fetch(
            "SELECT DISTINCT comm_status FROM orders WHERE id = ANY($1)", [o["id"] for o in orders]
        )
    assert [s["comm_status"] for s in states] == ["SUCCESSFUL"]


async def _gt(fn: Any, n: int) -> bool:
    return await fn() > n


async def _eq(fn: Any, n: int) -> bool:
    return await fn() == n
