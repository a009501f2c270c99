"""XLSX exports are streamed as they are written: the download starts before the first batch is read, memory
stays at a batch, and the result is a workbook openpyxl opens with exactly the CSV export's rows."""

from __future__ import annotations

import csv
import dataclasses
import io
import zipfile
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from openpyxl import load_workbook

from services.orders import exports
from services.orders.repository import exports as export_queries
from shared.auth import service_tokens
from shared.service.app import service_state
from tests.factories import Tenant, create_order, gql
from tests.services.gateway import test_orders_graphql
from tests.services.gateway.test_orders_graphql import EXPORT, FILTERS, download

shop = test_orders_graphql.shop  # the gateway tests' tenant: orders over 40 days in every state

BULK_ORDERS = 20_000


def same_cell(csv_cell: str, value: Any) -> bool:
    """A workbook cell holds what the CSV export wrote: text as it is, numbers as numbers, nothing as ''."""
    if value is None:
        return csv_cell == ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Decimal(csv_cell) == Decimal(str(value))
    return isinstance(value, str) and value == csv_cell


async def export(gateway: Any, t: Tenant, kind: str, fmt: str, f: dict[str, Any]) -> bytes:
    variables = {"k": kind, "fmt": fmt, "of" if kind == "ORDERS" else "cf": f}
    body = await gql(gateway, EXPORT, variables, token=t.admin_token)
    return await download(gateway, body["data"]["requestExport"]["url"])


@pytest.mark.parametrize("f", FILTERS)
async def test_the_workbook_holds_exactly_the_rows_of_the_csv_export(gateway: Any, shop: Tenant, f: Any) -> None:
    for kind, filters in [("ORDERS", f)] + ([("CUSTOMERS", {})] if not f else []):
        expected = list(csv.reader(io.StringIO((await export(gateway, shop, kind, "CSV", filters)).decode())))
        content = await export(gateway, shop, kind, "XLSX", filters)
        assert zipfile.ZipFile(io.BytesIO(content)).testzip() is None
        for read_only in (True, False):
            book = load_workbook(io.BytesIO(content), read_only=read_only)
            assert book.sheetnames == [kind.lower()]
            rows = [tuple(r) for r in book.worksheets[0].iter_rows(values_only=True)]
            for got, want in zip(rows, expected, strict=True):
                assert len(got) == len(want) and all(map(same_cell, want, got)), (want, got)


@pytest.fixture
async def bulk(tenant: Tenant, pool: Any, owner_pool: Any) -> Tenant:
    """BULK_ORDERS + 1 orders: one made as usual, the rest copied from it in one statement."""
    order = await create_order(pool, tenant, ref="bulk-0", status="SUCCESSFUL", email="bulk@example.com")
    async with owner_pool.acquire() as conn, conn.transaction():
        # Test data, not the behaviour under test: 20,000 rows through the rollup trigger may take longer than
        # the pool's statement timeout on a busy machine.
        await conn.execute("SET LOCAL statement_timeout = 0")
        await conn.execute(
            "INSERT INTO orders (org_id, integration_id, product_id, category_id, provider_id, customer_id,"
            " external_ref, status, comm_status, commission_amount, currency, created_at)"
            " SELECT o.org_id, o.integration_id, o.product_id, o.category_id, o.provider_id, o.customer_id,"
            " 'bulk-' || g, o.status, o.comm_status, o.commission_amount, o.currency,"
            " o.created_at - g * interval '1 second'"
            " FROM orders o, generate_series(1, $2::int) g WHERE o.id = $1",
            order["id"],
            BULK_ORDERS,
            timeout=600,  # nor by the client's command timeout
        )
    return tenant


async def test_the_download_starts_before_the_first_batch_is_read_and_streams_batch_by_batch(
    orders_app: Any, orders_url: str, settings: Any, bulk: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = service_state(orders_app)
    monkeypatch.setattr(state, "settings", dataclasses.replace(state.settings, export_batch_rows=250))
    read = 0
    rows_batch = export_queries.rows_batch

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal read
        batch = await rows_batch(*args, **kwargs)
        read += 1
        return batch

    monkeypatch.setattr(export_queries, "rows_batch", counted)
    token = service_tokens.mint(
        settings.service_token_secret, caller="gateway", audience="orders", org_id=str(bulk.org_id), role="admin"
    )
    batches = BULK_ORDERS // 250 + 1
    chunks: list[bytes] = []
    read_at: list[int] = []
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{orders_url}/internal/exports/orders.xlsx",
            json={"filter": {}},
            headers={"authorization": f"Bearer {token}"},
        ) as r:
            assert r.status == 200
            assert r.headers["content-type"].startswith(
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            )
            async for chunk in r.content.iter_any():
                chunks.append(chunk)
                read_at.append(read)
    # The ZIP's first parts arrived before the first batch was read; then the body kept coming while
    # batches were still being read.
    assert chunks[0].startswith(b"PK\x03\x04") and read_at[0] == 0
    assert read == batches and sum(0 < n < batches for n in read_at) > 10, read_at

    content = b"".join(chunks)
    book = load_workbook(io.BytesIO(content), read_only=True)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert len(rows) == BULK_ORDERS + 2 and rows[0][:2] == ("order_id", "external_ref")
    assert {r[1] for r in rows[1:]} == {"bulk-0"} | {f"bulk-{i}" for i in range(1, BULK_ORDERS + 1)}


async def test_each_batch_leaves_once_written_whatever_the_size(pool: Any, bulk: Tenant) -> None:
    """Memory stays at a batch: the stream hands over each batch's compressed rows, never the whole sheet."""
    from services.orders.domain.filters import OrderFilter

    query = export_queries.orders_query(bulk.org_id, OrderFilter(), "UTC")
    sizes = [len(c) async for c in exports.stream_xlsx(pool, bulk.org_id, query, "orders", 1000)]
    assert len(sizes) > BULK_ORDERS // 1000 and max(sizes) < 256 * 1024 < sum(sizes)


async def test_an_empty_workbook_is_its_header_and_opens_in_both_modes(pool: Any, tenant: Tenant) -> None:
    from services.orders.domain.filters import OrderFilter

    query = export_queries.orders_query(tenant.org_id, OrderFilter(), "UTC")
    content = b"".join([c async for c in exports.stream_xlsx(pool, tenant.org_id, query, "orders", 10)])
    for read_only in (True, False):
        rows = list(load_workbook(io.BytesIO(content), read_only=read_only).worksheets[0].iter_rows(values_only=True))
        assert rows == [tuple(query.header)]
