"""Exports stay off the interactive path: their own pool, a cap per organisation, short batch transactions,
and exactly the rows one statement over the list's WHERE returns."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import pytest
from openpyxl import Workbook, load_workbook

from services.orders import exports
from services.orders.domain.filters import CustomerFilter, OrderFilter
from services.orders.repository import exports as export_queries
from shared.auth import service_tokens
from shared.db import tenant_tx
from shared.service.app import create_export_pool, service_state
from tests.factories import Tenant, create_order, gql

EXPORT = """mutation($of: OrderFilterInput) {
  requestExport(kind: ORDERS, format: CSV, orderFilter: $of) { url errors { code message } } }"""


@pytest.fixture
async def shop(pool: Any, owner_pool: Any, tenant: Tenant) -> Tenant:
    """13 orders, six of them (and their customers) sharing one timestamp: ties are broken by id."""
    tie = datetime.now(UTC) - timedelta(days=2)
    for i in range(13):
        at = tie if i < 6 else tie - timedelta(hours=i)
        status = "SUCCESSFUL" if i % 3 else "PENDING"
        await create_order(pool, tenant, ref=f"exp-{i:02d}", email=f"c{i}@example.com", created_at=at, status=status)
    async with owner_pool.acquire() as conn:
        await conn.execute(
            "UPDATE customers SET last_seen = $2 WHERE org_id = $1 AND email IN ('c1@example.com', 'c2@example.com',"
            " 'c3@example.com', 'c4@example.com')",
            tenant.org_id,
            tie,
        )
    return tenant


async def one_statement_csv(pool: Any, org_id: Any, query: export_queries.ExportQuery) -> bytes:
    """The export as it was read before batches: one COPY of the whole query in one transaction."""
    out: list[bytes] = []

    async def sink(chunk: bytes) -> None:
        out.append(bytes(chunk))

    async with tenant_tx(pool, org_id) as conn:
        await conn.copy_from_query(query.sql, *query.args, output=sink, format="csv", header=True)
    return b"".join(out)


async def one_statement_xlsx_rows(pool: Any, org_id: Any, query: export_queries.ExportQuery) -> list[tuple[Any, ...]]:
    async with tenant_tx(pool, org_id) as conn:
        rows = await conn.fetch(query.sql, *query.args)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("x")
    ws.append(query.header)
    for row in rows:
        ws.append([exports._xlsx_value(v) for v in row])
    buffer = io.BytesIO()
    wb.save(buffer)
    return xlsx_rows(buffer.getvalue())


def xlsx_rows(content: bytes) -> list[tuple[Any, ...]]:
    return [
        tuple(r) for r in load_workbook(io.BytesIO(content), read_only=True).worksheets[0].iter_rows(values_only=True)
    ]


async def collect(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in stream])


def queries(t: Tenant) -> list[export_queries.ExportQuery]:
    tz = "Europe/London"
    return [
        export_queries.orders_query(t.org_id, OrderFilter(), tz),
        export_queries.orders_query(t.org_id, OrderFilter.model_validate({"statuses": ["SUCCESSFUL"]}), tz),
        export_queries.customers_query(t.org_id, CustomerFilter(), tz),
    ]


@pytest.mark.parametrize("size", [1, 4, 6, 13, 500])
async def test_batches_hold_exactly_the_rows_of_one_statement(pool: Any, shop: Tenant, size: int) -> None:
    for query in queries(shop):
        expected = await one_statement_csv(pool, shop.org_id, query)
        assert expected.count(b"\n") > 4  # the header and rows
        assert await collect(exports.stream_csv(pool, shop.org_id, query, size)) == expected
        got = xlsx_rows(await collect(exports.stream_xlsx(pool, shop.org_id, query, "x", size)))
        assert got == await one_statement_xlsx_rows(pool, shop.org_id, query)


async def test_an_empty_export_is_its_header(pool: Any, shop: Tenant) -> None:
    query = export_queries.orders_query(shop.org_id, OrderFilter.model_validate({"search": "no-such-ref"}), "UTC")
    csv = await collect(exports.stream_csv(pool, shop.org_id, query, 4))
    assert csv == await one_statement_csv(pool, shop.org_id, query) and csv.startswith(b"order_id,")
    assert xlsx_rows(await collect(exports.stream_xlsx(pool, shop.org_id, query, "x", 4))) == [tuple(query.header)]


async def activity(superuser: asyncpg.Connection, pid: int) -> asyncpg.Record:
    row = await superuser.fetchrow("SELECT state, xact_start FROM pg_stat_activity WHERE pid = $1", pid)
    assert row is not None, "the export's connection is gone"
    return row


async def stays_out_of_transaction(superuser: asyncpg.Connection, pid: int) -> None:
    """Within a second the connection is out of any transaction and stays out while the client waits
    (the read-ahead may still finish one short batch transaction first; a transaction kept open
    across batches would never end)."""
    deadline = time.monotonic() + 1.5
    quiet = 0
    while quiet < 8:
        row = await activity(superuser, pid)
        quiet = quiet + 1 if row["xact_start"] is None and row["state"] == "idle" else 0
        assert time.monotonic() < deadline, f"the export keeps a transaction open while its client waits: {dict(row)}"
        await asyncio.sleep(0.03)


async def test_no_transaction_stays_open_while_the_client_reads_slowly(settings: Any, pool: Any, shop: Tenant) -> None:
    export_pool = await create_export_pool(dataclasses.replace(settings, export_db_pool_max=1), "orders")
    superuser = await asyncpg.connect(settings.database_url)
    try:
        async with export_pool.acquire() as conn:  # the pool's one connection, reused by the export
            pid = await conn.fetchval("SELECT pg_backend_pid()")
            assert await conn.fetchval("SHOW idle_in_transaction_session_timeout") == "5s"
        query = export_queries.orders_query(shop.org_id, OrderFilter(), "UTC")

        csv = exports.stream_csv(export_pool, shop.org_id, query, 3)
        first = await anext(csv)  # the client takes one batch, then reads nothing for a while
        await stays_out_of_transaction(superuser, pid)
        rest = await collect(csv)
        assert first + rest == await one_statement_csv(pool, shop.org_id, query)

        # The XLSX writer's side: while a batch is being written, no transaction is open either.
        batches = exports._row_batches(export_pool, shop.org_id, query, 3)
        assert len(await anext(batches)) == 3
        await stays_out_of_transaction(superuser, pid)
        await batches.aclose()
    finally:
        await superuser.close()
        await export_pool.close()


def service_token(settings: Any, t: Tenant) -> str:
    return service_tokens.mint(
        settings.service_token_secret, caller="gateway", audience="orders", org_id=str(t.org_id), role="admin"
    )


async def test_exports_and_interactive_reads_never_wait_for_each_others_connections(
    orders_app: Any, orders_api: Any, settings: Any, shop: Tenant
) -> None:
    state = service_state(orders_app)
    assert state.export_pool is not None and state.export_pool is not state.pool
    headers = {"authorization": f"Bearer {service_token(settings, shop)}"}

    # Every export connection busy: lists and summaries are served as usual.
    held = [await state.export_pool.acquire() for _ in range(settings.export_db_pool_max)]
    try:
        started = time.perf_counter()
        r = await orders_api.post("/internal/orders/list", json={"first": 5}, headers=headers)
        assert r.status_code == 200 and len(r.json()["rows"]) == 5
        r = await orders_api.post("/internal/orders/summary", json={}, headers=headers)
        assert r.status_code == 200
        assert time.perf_counter() - started < 1.0
    finally:
        for conn in held:
            await state.export_pool.release(conn)

    # Every interactive connection busy: an export still runs to the end.
    held = [await state.pool.acquire() for _ in range(settings.db_pool_max)]
    try:
        r = await orders_api.post("/internal/exports/orders.csv", json={"filter": {}}, headers=headers)
        assert r.status_code == 200 and r.content.count(b"\n") == 14
    finally:
        for conn in held:
            await state.pool.release(conn)


class SlowDownload:
    """An export request driven straight through the ASGI app by a client that takes the first chunk
    and then waits: the response stays in progress (its slot held) until `finish` or `go_away`."""

    def __init__(self, app: Any, token: str) -> None:
        self.app, self.token = app, token
        self.status: int | None = None
        self.first_chunk = asyncio.Event()
        self._proceed = asyncio.Event()
        self._gone = False
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        body = orjson.dumps({"filter": {}})
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # no disconnect message: the client is just slow
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]
            elif message.get("body"):
                if not self.first_chunk.is_set():
                    self.first_chunk.set()
                    await self._proceed.wait()
                if self._gone:
                    raise OSError("client went away")

        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/internal/exports/orders.csv",
            "raw_path": b"/internal/exports/orders.csv",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"authorization", f"Bearer {self.token}".encode()), (b"content-type", b"application/json")],
            "client": ("127.0.0.1", 50000),
            "server": ("orders.test", 80),
        }
        await self.app(scope, receive, send)

    async def started(self) -> None:
        await asyncio.wait_for(self.first_chunk.wait(), 5)
        assert self.status == 200

    async def finish(self) -> None:
        self._proceed.set()
        await asyncio.wait_for(self.task, 5)

    async def go_away(self) -> None:
        self._gone = True
        self._proceed.set()
        await asyncio.wait_for(asyncio.gather(self.task, return_exceptions=True), 5)


async def test_an_organisation_runs_at_most_its_cap_of_exports(
    orders_app: Any, orders_api: Any, gateway: Any, settings: Any, shop: Tenant, other_tenant: Tenant
) -> None:
    cap = settings.export_org_concurrency
    token = service_token(settings, shop)
    running = [SlowDownload(orders_app, token) for _ in range(cap)]
    for download in running:
        await download.started()
    slots = orders_app.state.export_slots
    assert slots.running == {shop.org_id: cap}

    started = time.perf_counter()
    refused = await orders_api.post(
        "/internal/exports/orders.xlsx", json={"filter": {}}, headers={"authorization": f"Bearer {token}"}
    )
    assert time.perf_counter() - started < 1.0
    assert refused.status_code == 429 and refused.headers["retry-after"] == str(exports.RETRY_AFTER_SECONDS)
    assert refused.json()["error"]["code"] == "RATE_LIMITED"

    # Through the gateway, the download link answers the same, Retry-After included.
    link = await gql(gateway, EXPORT, {"of": {}}, token=shop.admin_token)
    r = await gateway.get(link["data"]["requestExport"]["url"].removeprefix("http://gateway.test"))
    assert r.status_code == 429 and r.headers["retry-after"] == str(exports.RETRY_AFTER_SECONDS)

    # Another organisation is not affected.
    other = await orders_api.post(
        "/internal/exports/orders.csv",
        json={"filter": {}},
        headers={"authorization": f"Bearer {service_token(settings, other_tenant)}"},
    )
    assert other.status_code == 200

    # A client that goes away gives its slot back at once; so does one that finishes.
    await running[0].go_away()
    assert slots.running == {shop.org_id: cap - 1}
    again = await orders_api.post(
        "/internal/exports/orders.csv", json={"filter": {}}, headers={"authorization": f"Bearer {token}"}
    )
    assert again.status_code == 200 and again.content.count(b"\n") == 14
    for download in running[1:]:
        await download.finish()
    assert slots.running == {}


async def test_a_download_finding_every_gateway_slot_taken_is_refused_with_retry_after(
    gateway_app: Any, gateway: Any, shop: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.service import client as clients

    monkeypatch.setattr(clients, "STREAM_SLOT_WAIT", 0.05)
    orders = gateway_app.state.orders
    if orders._streams is None:
        orders._streams = asyncio.Semaphore(clients.MAX_STREAMS)
    for _ in range(clients.MAX_STREAMS):  # every download slot of this gateway busy
        await orders._streams.acquire()
    try:
        link = await gql(gateway, EXPORT, {"of": {}}, token=shop.admin_token)
        url = link["data"]["requestExport"]["url"].removeprefix("http://gateway.test")
        started = time.perf_counter()
        r = await gateway.get(url)
        assert time.perf_counter() - started < 1.0
        assert r.status_code == 503 and r.json()["error"]["code"] == "OVERLOADED"
        assert r.headers["retry-after"] == str(clients.STREAM_SLOT_RETRY_AFTER)
    finally:
        for _ in range(clients.MAX_STREAMS):
            orders._streams.release()
    assert (await gateway.get(url)).status_code == 200
