"""The insights builder's exports through signed links: UGD and results reconcile with `insight(input)`, one
organisation's data per link, and bad input refused naming the field with no link made."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from openpyxl import load_workbook

from shared.messaging.contracts import ORGANISATION_EVENTS
from tests.factories import gql
from tests.services.gateway.test_orders_graphql import download
from tests.services.insights import feed

EXPORT = """mutation($k: ExportKind!, $f: ExportFormat!, $i: InsightInput, $af: AnalyticsFilterInput) {
  requestExport(kind: $k, format: $f, insightInput: $i, analyticsFilter: $af) {
    url expiresAt errors { field code message } } }"""
INSIGHT = """query($i: InsightInput!) { insight(input: $i) {
  totalSeries buckets { label } series { values currency points total } total { currency value } } }"""


async def _rows(gateway: Any, url: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((await download(gateway, url)).decode())))


async def _invoices(gateway: Any, pool: Any, insights_pool: Any, settings: Any, t: Any, tag: str) -> list[str]:
    """Invoices over the last days: one of three products (`<tag>-three`), others of one or two."""
    await feed.apply(insights_pool, settings, await feed.outbox_events(pool, t.org_id, set(ORGANISATION_EVENTS)))
    products = [str(p) for p in t.products.values()]
    now = datetime.now(UTC) - timedelta(minutes=10)
    events = []
    for n in range(6):
        lines = [{"productId": products[(n + j) % 3], "amount": "1.25"} for j in range(1 + n % 2)]
        if n == 0:
            lines = [{"productId": p, "amount": "2.00"} for p in products[:3]]
        entity = f"{tag}-three" if n == 0 else f"{tag}-inv-{n}"
        events.append(
            {
                "id": entity,
                "type": "invoice",
                "occurredAt": (now - timedelta(days=n % 3)).isoformat(),
                "anonymousId": f"{tag}-c{n}",
                "entityId": entity,
                "state": "posted",
                "amount": "5.00",
                "currency": "GBP",
                "items": lines,
            }
        )
    r = await gateway.post("/v1/events", json={"events": events}, headers={"authorization": f"Bearer {t.api_key}"})
    assert r.status_code == 202 and not r.json()["refused"], r.text
    return products


async def test_insight_exports_reconcile_with_the_answer_per_organisation(
    gateway, pool, insights_pool, settings, tenant, other_tenant
) -> None:
    products = await _invoices(gateway, pool, insights_pool, settings, tenant, "a")
    await _invoices(gateway, pool, insights_pool, settings, other_tenant, "b")
    i = {"eventType": "invoice", "breakdowns": ["item.productId"], "range": {"preset": "LAST_7_DAYS"}, "top": 1}

    body = await gql(gateway, EXPORT, {"k": "INSIGHT_EVENTS", "f": "CSV", "i": i}, token=tenant.member_token)
    assert body["data"]["requestExport"]["errors"] == [], body
    ugd = await _rows(gateway, body["data"]["requestExport"]["url"])
    assert Counter(r["entity_id"] for r in ugd)["a-three"] == 3  # an invoice of 3 products: 3 rows
    assert {r["entity_id"][:2] for r in ugd} == {"a-"}  # never the other organisation's
    assert {r["breakdown.item.productId"] for r in ugd} == set(products[:3])

    answer = (await gql(gateway, INSIGHT, {"i": {**i, "top": 500}}, token=tenant.member_token))["data"]["insight"]
    # UGD rows per product are the answer's series totals (an invoice once per product).
    per_product = Counter(r["breakdown.item.productId"] for r in ugd)
    assert per_product == {s["values"][0]: s["total"] for s in answer["series"]}

    body = await gql(gateway, EXPORT, {"k": "INSIGHT_RESULTS", "f": "CSV", "i": i}, token=tenant.member_token)
    results = await _rows(gateway, body["data"]["requestExport"]["url"])
    # Every series (the chart shows one), each bucket: the answer's points.
    assert answer["totalSeries"] == 3
    expected = [
        (b["label"], s["values"][0], str(v))
        for s in answer["series"]
        for b, v in zip(answer["buckets"], s["points"], strict=True)
    ]
    assert [(r["bucket_label"], r["breakdown.item.productId"], r["value"]) for r in results] == expected

    # The other organisation's link exports its own invoices only.
    body = await gql(gateway, EXPORT, {"k": "INSIGHT_EVENTS", "f": "XLSX", "i": i}, token=other_tenant.member_token)
    book = load_workbook(io.BytesIO(await download(gateway, body["data"]["requestExport"]["url"])), read_only=True)
    sheet = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
    entity, event = sheet[0].index("entity_id"), sheet[0].index("event_id")
    assert {str(r[entity])[:2] for r in sheet[1:]} == {"b-"} and len(sheet) - 1 == len(ugd)
    assert not {str(r[event]) for r in sheet[1:]} & {r["event_id"] for r in ugd}


async def test_bad_insight_input_is_refused_naming_the_field_and_makes_no_link(gateway, tenant) -> None:
    i = {"eventType": "invoice", "range": {"preset": "LAST_7_DAYS"}}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"k": "INSIGHT_EVENTS", "i": {**i, "breakdowns": ["customer.id"]}}, "insightInput.breakdowns[0]"),
        ({"k": "INSIGHT_RESULTS", "i": {**i, "eventType": "nope"}}, "insightInput.eventType"),
        ({"k": "INSIGHT_RESULTS", "i": {**i, "range": {"from": "2026-05-02", "to": "2026-05-01"}}}, "insightInput"),
        ({"k": "INSIGHT_EVENTS"}, "insightInput"),
        ({"k": "ANALYTICS_ORDERS", "i": i, "af": {"range": {"preset": "TODAY"}}}, "insightInput"),
    ]
    for variables, field in cases:
        body = await gql(gateway, EXPORT, {"f": "CSV", **variables}, token=tenant.member_token)
        payload = body["data"]["requestExport"]
        assert payload["url"] is None and payload["expiresAt"] is None, body
        assert payload["errors"] and payload["errors"][0]["field"].startswith(field), body


async def test_provider_users_get_no_insight_export(gateway, tenant) -> None:
    i = {"eventType": "invoice", "range": {"preset": "LAST_7_DAYS"}}
    body = await gql(gateway, EXPORT, {"k": "INSIGHT_EVENTS", "f": "CSV", "i": i}, token=tenant.provider_token)
    payload = (body.get("data") or {}).get("requestExport")
    assert payload is None or (payload["url"] is None and payload["errors"]), body
    assert "FORBIDDEN" in str(body), body
