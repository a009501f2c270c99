"""The insights builder's exports (the insights API, called as the gateway calls it): UGD rows grouped as the
insight groups them give the answer's numbers (a line-item breakdown: an invoice once per product), the
results export is the answer with every series, CSV and XLSX alike, one organisation's data only."""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from services.insights.repository import fx_rates as fx_store
from services.insights.service import insight, insight_exports
from shared.auth import service_tokens
from shared.db import tenant_tx
from shared.messaging.contracts import ORGANISATION_EVENTS
from tests.factories import Tenant, create_tenant
from tests.services.insights import feed

# Half-hour offsets west of UTC: the local times' offsets are written with their sign and minutes.
TZ = "America/St_Johns"
NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
RANGE = {"preset": "LAST_30_DAYS"}
METHODS = ("card", "wallet", "cash")


def _ev(type_: str, entity: str, state: str, at: datetime, customer: str, **kw: Any) -> dict[str, Any]:
    return {
        "id": f"{entity}-{state}",
        "type": type_,
        "occurredAt": at.isoformat(),
        "anonymousId": customer,
        "entityId": entity,
        "state": state,
        **kw,
    }


async def _shop(client: httpx.AsyncClient, pool: Any, insights_pool: Any, settings: Any, issuer: Any, tag: str) -> Any:
    t = await create_tenant(pool, issuer, name=f"Export shop {tag}", time_zone=TZ)
    await feed.apply(insights_pool, settings, await feed.outbox_events(pool, t.org_id, set(ORGANISATION_EVENTS)))
    products = [str(p) for p in t.products.values()]
    events: list[dict[str, Any]] = []
    for d in range(6):
        at = NOW - timedelta(days=d)
        for n in range(d + 2):
            pay, cur = f"{tag}-pay-{d}-{n}", ("GBP", "EUR")[n % 2]
            fields = {"method": METHODS[(d + n) % 3], "invoiceNumber": f"INV-{d}-{n}"}
            events.append(
                _ev("payment", pay, "pending", at - timedelta(minutes=5), f"c{n}", amount="1.00", currency=cur)
            )
            events.append(
                _ev(
                    "payment",
                    pay,
                    "posted",
                    at,
                    f"c{n}",
                    amount=f"{10 + n}.{d:02d}",
                    currency=cur,
                    fields=fields,
                    properties={"campaign": "=HYPERLINK(1)" if n == 0 else f"c{n % 2}"},
                    productId=products[n % len(products)],
                )
            )
            lines = [{"productId": products[(n + j) % len(products)], "amount": f"{j + 1}.50"} for j in range(n % 3)]
            events.append(
                _ev("invoice", f"{tag}-inv-{d}-{n}", "posted", at, f"c{n}", amount="9.00", currency="GBP", items=lines)
            )
    # An invoice of three products, and one with two lines of the same product.
    three = [{"productId": p, "amount": "2.00"} for p in products[:3]]
    twice = [
        {"productId": products[0], "amount": "2.00"},
        {"productId": products[0], "amount": "3.00"},
        {"productId": products[1], "amount": "4.00"},
    ]
    events.append(_ev("invoice", f"{tag}-three", "posted", NOW, "c0", amount="6.00", currency="GBP", items=three))
    events.append(_ev("invoice", f"{tag}-twice", "posted", NOW, "c1", amount="9.00", currency="GBP", items=twice))
    r = await client.post("/v1/events", json={"events": events}, headers={"authorization": f"Bearer {t.api_key}"})
    assert r.status_code == 202 and not r.json()["refused"], r.text
    return t


@pytest.fixture(scope="module")
async def shops(gateway_app: Any, pool: Any, insights_pool: Any, settings: Any, issuer: Any) -> tuple[Any, Any]:
    """Two organisations with payments (pending ones never count) and invoices with line items."""
    transport = httpx.ASGITransport(app=gateway_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        return (
            await _shop(client, pool, insights_pool, settings, issuer, "a"),
            await _shop(client, pool, insights_pool, settings, issuer, "b"),
        )


async def _call(settings: Any, insights_url: str, t: Tenant, path: str, body: dict[str, Any]) -> httpx.Response:
    token = service_tokens.mint(
        settings.service_token_secret, caller="gateway", audience="insights", org_id=str(t.org_id), role="member"
    )
    async with httpx.AsyncClient() as client:
        return await client.post(f"{insights_url}{path}", json=body, headers={"authorization": f"Bearer {token}"})


async def export(settings: Any, insights_url: str, t: Tenant, kind: str, fmt: str, raw: dict[str, Any]) -> list[dict]:
    """The file's rows as dicts by header (CSV and XLSX read back alike: empty cells as '')."""
    r = await _call(settings, insights_url, t, f"/internal/exports/{kind}.{fmt}", {"filter": raw})
    assert r.status_code == 200, r.text
    if fmt == "csv":
        rows = [list(row) for row in csv.reader(io.StringIO(r.text))]
    else:
        book = load_workbook(io.BytesIO(r.content), read_only=True)
        rows = [["" if v is None else str(v) for v in row] for row in book.worksheets[0].iter_rows(values_only=True)]
    header = rows[0]
    assert len(set(header)) == len(header), header
    return [dict(zip(header, row, strict=True)) | {"__header__": header} for row in rows[1:]] or [
        {"__header__": header, "__empty__": True}
    ]


def _rows(out: list[dict]) -> list[dict]:
    return [r for r in out if not r.get("__empty__")]


async def _answer(insights_pool: Any, t: Tenant, raw: dict[str, Any]) -> dict[str, Any]:
    async with tenant_tx(insights_pool, t.org_id) as conn:
        return await insight.answer(conn, t.org_id, raw)


def _cells(answer: dict[str, Any]) -> dict[tuple[Any, ...], Any]:
    """(bucket label, *values, currency) -> point, for every non-zero point of the answer."""
    out = {}
    for s in answer["series"]:
        for b, v in zip(answer["buckets"], s["points"], strict=True):
            if v not in (0, "0.00", None):
                out[(b["label"], *s["values"], s["currency"])] = v
    return out


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_ugd_rows_give_the_answers_counts_and_amounts(shops, insights_pool, settings, insights_url, fmt) -> None:
    a, b = shops
    for measure in ("COUNT", "TOTAL_AMOUNT"):
        raw = {"eventType": "payment", "measure": measure, "breakdowns": ["fields.method"], "range": RANGE, "top": 2}
        # The chart shows two series; the export holds the events of all of them.
        answer = await _answer(insights_pool, a, {**raw, "top": 500})
        assert answer["totalSeries"] == 3 * (1 if measure == "COUNT" else 2)  # methods (x currencies)
        rows = _rows(await export(settings, insights_url, a, "insight_events", fmt, raw))
        header = rows[0]["__header__"]
        assert header == [
            "event_id", "type", "occurred_at", "customer_id", "integration_id", "category_id", "product_id",
            "entity_id", "state", "amount", "currency", "breakdown.fields.method",
            "fields.method", "fields.invoiceNumber", "custom_fields", "properties",
        ]  # fmt: skip
        # Counted events only (every pending payment left out), each once, newest first.
        assert all(r["state"] == "posted" for r in rows)
        assert len({r["event_id"] for r in rows}) == len(rows) == sum(d + 2 for d in range(6))
        assert [r["occurred_at"] for r in rows] == sorted((r["occurred_at"] for r in rows), reverse=True)
        # Local times with the zone's offset (-02:30 in summer, -03:30 in winter).
        assert all(r["occurred_at"][19:] in ("-02:30", "-03:30") for r in rows)
        grouped: dict[tuple[Any, ...], Any] = defaultdict(int if measure == "COUNT" else Decimal)
        for r in rows:
            key = (r["occurred_at"][:10], r["breakdown.fields.method"], r["currency"] if measure != "COUNT" else None)
            grouped[key] += 1 if measure == "COUNT" else Decimal(r["amount"])
        expected = {k: (v if measure == "COUNT" else Decimal(v)) for k, v in _cells(answer).items()}
        assert dict(grouped) == expected
        # A formula-like property is text, never a formula; the type's own fields are their columns.
        assert any(r["properties"].startswith("{") and "=HYPERLINK(1)" in r["properties"] for r in rows)
        assert {r["fields.method"] for r in rows} == set(METHODS)
        # The other organisation's export holds none of these events.
        theirs = _rows(await export(settings, insights_url, b, "insight_events", fmt, raw))
        assert theirs and not {r["event_id"] for r in rows} & {r["event_id"] for r in theirs}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_a_line_item_breakdown_repeats_an_invoice_once_per_product(
    shops, insights_pool, settings, insights_url, fmt
) -> None:
    a, _ = shops
    for measure in ("COUNT", "TOTAL_AMOUNT"):
        raw = {"eventType": "invoice", "measure": measure, "breakdowns": ["item.productId"], "range": RANGE}
        answer = await _answer(insights_pool, a, raw)
        rows = _rows(await export(settings, insights_url, a, "insight_events", fmt, raw))
        per_entity = Counter(r["entity_id"] for r in rows)
        assert per_entity["a-three"] == 3  # three products: three rows
        twice = {r["breakdown.item.productId"]: Decimal(r["amount"]) for r in rows if r["entity_id"] == "a-twice"}
        products = [str(p) for p in a.products.values()]
        assert twice == {products[0]: Decimal("5.00"), products[1]: Decimal("4.00")}  # a product's lines: one row
        assert "a-inv-0-0" not in per_entity  # no lines: no product, not in a product breakdown
        grouped: dict[tuple[Any, ...], Any] = defaultdict(int if measure == "COUNT" else Decimal)
        for r in rows:
            cur = r["currency"] if measure != "COUNT" else None
            grouped[(r["occurred_at"][:10], r["breakdown.item.productId"], cur)] += (
                1 if measure == "COUNT" else Decimal(r["amount"])
            )
        expected = {k: (v if measure == "COUNT" else Decimal(v)) for k, v in _cells(answer).items()}
        assert dict(grouped) == expected
    # A filter on a line's product keeps only that product's rows, as the answer counts them.
    only = {
        "eventType": "invoice",
        "breakdowns": ["item.productId"],
        "range": RANGE,
        "filters": [{"field": "item.productId", "operator": "EQUALS", "values": [products[1]]}],
    }
    rows = _rows(await export(settings, insights_url, a, "insight_events", fmt, only))
    total = (await _answer(insights_pool, a, only))["total"][0]["value"]
    assert {r["breakdown.item.productId"] for r in rows} == {products[1]} and len(rows) == total


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_results_hold_every_series_as_the_answer_has_them(
    shops, insights_pool, settings, insights_url, fmt
) -> None:
    a, b = shops
    raw = {
        "eventType": "payment",
        "measure": "TOTAL_AMOUNT",
        "breakdowns": ["fields.method", "productId"],
        "range": {"preset": "LAST_7_DAYS"},
        "top": 2,  # the chart shows two series; the export has them all
    }
    everything = await _answer(insights_pool, a, {**raw, "top": 500})
    assert everything["totalSeries"] > 2
    rows = _rows(await export(settings, insights_url, a, "insight_results", fmt, raw))
    assert rows[0]["__header__"] == [
        "bucket_start", "bucket_label", "breakdown.fields.method", "breakdown.productId", "currency", "value",
    ]  # fmt: skip
    assert len(rows) == everything["totalSeries"] * len(everything["buckets"]) == 7 * everything["totalSeries"]
    expected = [
        (bk["label"], *s["values"], s["currency"], Decimal(v))
        for s in everything["series"]
        for bk, v in zip(everything["buckets"], s["points"], strict=True)
    ]
    got = [
        (r["bucket_label"], r["breakdown.fields.method"], r["breakdown.productId"], r["currency"], Decimal(r["value"]))
        for r in rows
    ]
    assert got == expected
    # Local bucket starts: midnight with the zone's offset.
    assert all(r["bucket_start"][10:] in ("T00:00:00-02:30", "T00:00:00-03:30") for r in rows)
    assert rows[0]["bucket_start"][:10] == rows[0]["bucket_label"]
    # The answer's overall total is the sum of every row, per currency.
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for g in got:
        sums[g[3]] += g[4]
    assert sums == {t["currency"]: Decimal(t["value"]) for t in everything["total"]}
    theirs = _rows(await export(settings, insights_url, b, "insight_results", fmt, raw))
    assert sum(Decimal(r["value"]) for r in theirs) == sum(Decimal(t["value"]) for t in everything["total"])


async def test_results_in_the_base_currency_are_the_answers_converted_values(
    shops, insights_pool, settings, insights_url
) -> None:
    a, _ = shops
    days = [(NOW - timedelta(days=d)).date() for d in range(40)]
    async with insights_pool.acquire() as conn:
        await fx_store.store(conn, ["GBP"] * len(days), days, [Decimal("0.85")] * len(days), datetime.now(UTC))
    raw = {"eventType": "payment", "measure": "TOTAL_AMOUNT", "currency": "BASE", "range": RANGE, "interval": "WEEK"}
    answer = await _answer(insights_pool, a, raw)
    rows = _rows(await export(settings, insights_url, a, "insight_results", "csv", raw))
    assert [(r["bucket_label"], r["currency"], r["value"]) for r in rows] == [
        (bk["label"], answer["baseCurrency"], v)
        for bk, v in zip(answer["buckets"], answer["series"][0]["points"], strict=True)
    ]
    assert sum(Decimal(r["value"]) for r in rows) == Decimal(answer["total"][0]["value"])


async def test_the_link_is_resolved_to_dates_and_bad_input_names_the_field(shops, settings, insights_url) -> None:
    a, _ = shops
    raw = {"eventType": "payment", "range": {"preset": "LAST_7_DAYS"}, "breakdowns": ["currency"]}
    r = await _call(settings, insights_url, a, "/internal/exports/resolve", {"kind": "insight_results", "filter": raw})
    assert r.status_code == 200, r.text
    resolved = r.json()
    assert resolved["timeZone"] == TZ and set(resolved["filter"]["range"]) == {"from", "to"}
    assert resolved["filter"]["breakdowns"] == ["currency"]
    for bad, field in (
        ({**raw, "breakdowns": ["customer.id"]}, "input.breakdowns[0]"),
        ({**raw, "eventType": "nope"}, "input.eventType"),
        ({**raw, "measure": "TOTAL_AMOUNT", "eventType": "service_request"}, "input.measure"),
    ):
        r = await _call(
            settings, insights_url, a, "/internal/exports/resolve", {"kind": "insight_events", "filter": bad}
        )
        assert r.status_code == 400 and r.json()["error"]["field"] == field, r.text


async def _drain(stream: Any) -> bytes:
    return b"".join([chunk async for chunk in await stream])


async def test_small_batches_give_the_same_files(shops, insights_pool, monkeypatch) -> None:
    """Keyset batches of 2 rows (lines of one invoice split across batches) and results 2 series a batch hold
    exactly the rows of one batch."""
    a, _ = shops
    async with tenant_tx(insights_pool, a.org_id) as conn:
        q = await insight.parse(
            conn,
            a.org_id,
            {"eventType": "invoice", "measure": "TOTAL_AMOUNT", "breakdowns": ["item.productId"], "range": RANGE},
        )
    big, small = (
        SimpleNamespace(export_csv_batch_rows=10_000, export_batch_rows=10_000),
        SimpleNamespace(export_csv_batch_rows=2, export_batch_rows=2),
    )
    for fmt in ("csv", "xlsx"):
        whole = await _drain(insight_exports.open_events(insights_pool, a.org_id, q, fmt, big))
        pieces = await _drain(insight_exports.open_events(insights_pool, a.org_id, q, fmt, small))
        assert _table(whole, fmt) == _table(pieces, fmt) and len(_table(whole, fmt)) > 10
    whole_results = await _drain(insight_exports.open_results(insights_pool, a.org_id, q, "csv", big))
    monkeypatch.setattr(insight_exports, "RESULT_SERIES", 2)
    assert insight_exports.series_per_batch(q) == 2
    for fmt in ("csv", "xlsx"):
        pieces = await _drain(insight_exports.open_results(insights_pool, a.org_id, q, fmt, small))
        expected = [[*r[:-1], Decimal(r[-1])] for r in _table(whole_results, "csv")[1:]]
        assert [[*r[:-1], Decimal(r[-1])] for r in _table(pieces, fmt)[1:]] == expected and len(expected) > 10


def _table(data: bytes, fmt: str) -> list[list[str]]:
    if fmt == "csv":
        return [list(r) for r in csv.reader(io.StringIO(data.decode()))]
    book = load_workbook(io.BytesIO(data), read_only=True)
    return [["" if v is None else str(v) for v in r] for r in book.worksheets[0].iter_rows(values_only=True)]
