"""Collection downloads through the gateway: `requestExport(kind: COLLECTION, format: NDJSON | CSV,
collectionInput)` and the export link, for every documented collection. The NDJSON lines are the documents the
reports service streams for the range, the CSV rows the same documents in the declared columns; organisation B's
documents never in A's file; members download, provider users are refused; bad input names its field and makes
no link."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from services.reports.api.collections import csv_row
from services.reports.service import collections as workflow
from shared.collections import COLLECTIONS, NAMES
from shared.db import tenant_tx
from tests.factories import gql
from tests.services.reports.report_data import feed, last_days
from tests.services.reports.test_collections import _device_event as device_event

EXPORT = """mutation($format: ExportFormat!, $c: CollectionInput, $kind: ExportKind! = COLLECTION) {
  requestExport(kind: $kind, format: $format, collectionInput: $c) { url errors { field code message } } }"""


@pytest.fixture
async def served_insights(reports_app: Any, settings: Any, insights_url: str) -> Any:
    """The reports API reads devices and events from the served insights API (the session's reports app is
    configured with the orders API's address only)."""
    previous = getattr(reports_app.state, "insights_collections", None)
    client = workflow.InsightsCollections(insights_url, settings.service_token_secret)
    reports_app.state.insights_collections = client
    yield client
    reports_app.state.insights_collections = previous
    await client.aclose()


def _path(url: str) -> str:
    return "/exports/" + url.rsplit("/exports/", 1)[1]


async def _download(gateway: Any, token: str, fmt: str, collection: str, range_: dict[str, Any]) -> str:
    body = await gql(gateway, EXPORT, {"format": fmt, "c": {"collection": collection, "range": range_}}, token=token)
    link = body["data"]["requestExport"]
    assert link["errors"] == [] and link["url"], body
    r = await gateway.get(_path(link["url"]))
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    expected = "application/x-ndjson" if fmt == "NDJSON" else "text/csv"
    assert r.headers["content-type"].startswith(expected)
    assert f'filename="{collection}.{fmt.lower()}"' in r.headers["content-disposition"]
    return r.text


async def test_ndjson_equals_csv_equals_the_documents_for_every_collection(
    gateway: Any,
    pool: Any,
    insights_pool: Any,
    reports_pool: Any,
    served_insights: Any,
    settings: Any,
    orders_url: str,
    tenant: Any,
    other_tenant: Any,
) -> None:
    mine = await feed(gateway, pool, insights_pool, reports_pool, tenant)
    theirs = await feed(gateway, pool, insights_pool, reports_pool, other_tenant)
    await device_event(gateway, tenant, mine.tag)
    await device_event(gateway, other_tenant, theirs.tag)
    range_ = last_days(3)
    openapi = (await gateway.get("/docs/openapi.json")).json()
    orders = workflow.OrdersProviders(orders_url, settings.service_token_secret)
    for c in COLLECTIONS:
        async with tenant_tx(reports_pool, tenant.org_id) as conn:
            w = await workflow.window(conn, tenant.org_id, {"collection": c.name, "range": range_})
        expected = [
            d
            async for d in workflow.documents(
                reports_pool, c.name, tenant.org_id, w.since, w.until, insights=served_insights, orders=orders
            )
        ]
        assert expected, c.name
        ndjson = await _download(gateway, tenant.member_token, "NDJSON", c.name, range_)
        docs = [json.loads(line) for line in ndjson.splitlines()]
        assert docs == expected, c.name
        # Every document is what the published documentation says (/docs/openapi.json's schema of it).
        validator = Draft202012Validator(openapi["components"]["schemas"][f"collection.{c.name}"])
        for d in docs:
            assert not list(validator.iter_errors(d)), (c.name, d)
        rows = list(csv.reader(io.StringIO(await _download(gateway, tenant.admin_token, "CSV", c.name, range_))))
        assert rows[0] == list(c.field_names), c.name
        assert rows[1:] == [csv_row(c, d) for d in docs], c.name
        if c.name == "devices":  # a text cell that reads like a formula is neutralised in CSV, kept in NDJSON
            [device] = [r for r in rows if r[3] == f"dev-{mine.tag}"]
            assert device[5] == "'=cmd|' /C calc'!A0"
            assert any(d["userAgent"] == "=cmd|' /C calc'!A0" for d in docs)
        # Organisation B's file of the same collection holds nothing of A's, and the reverse.
        other = await _download(gateway, other_tenant.admin_token, "NDJSON", c.name, range_)
        assert str(tenant.org_id) not in other and mine.tag not in other, c.name
        assert str(other_tenant.org_id) not in ndjson and theirs.tag not in ndjson, c.name
        ids = {json.loads(line)["_id"] for line in other.splitlines()}
        assert not ids & {d["_id"] for d in docs}, c.name
    await orders.aclose()


async def test_a_range_selects_on_the_time_field(gateway: Any, pool: Any, insights_pool: Any, reports_pool: Any,
                                                 tenant: Any) -> None:  # fmt: skip
    await feed(gateway, pool, insights_pool, reports_pool, tenant)
    past = {"from": "2020-01-01", "to": "2020-01-31"}
    assert await _download(gateway, tenant.admin_token, "NDJSON", "financial_journals", past) == ""
    rows = list(csv.reader(io.StringIO(await _download(gateway, tenant.admin_token, "CSV", "orders", past))))
    assert len(rows) == 1  # the header only
    today = await _download(gateway, tenant.admin_token, "NDJSON", "financial_journals", {"preset": "LAST_7_DAYS"})
    assert len(today.splitlines()) == 7  # feed's 3 invoice events, credit note, payment, refund and top-up


async def test_bad_input_names_its_field_and_makes_no_link(gateway: Any, pool: Any, reports_pool: Any,
                                                           tenant: Any) -> None:  # fmt: skip
    from tests.services.reports.feed import apply_orders, outbox_events

    await apply_orders(reports_pool, await outbox_events(pool, tenant.org_id))  # the organisation's settings
    week = {"preset": "LAST_7_DAYS"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"format": "NDJSON", "c": {"collection": "nope", "range": week}}, "collectionInput.collection"),
        (
            {"format": "CSV", "c": {"collection": "orders", "range": {"from": "2026-05-02", "to": "2026-05-01"}}},
            "collectionInput.range",
        ),
        ({"format": "CSV", "c": {"collection": "orders", "range": {"from": "2026-05-02"}}}, "collectionInput.range"),
        ({"format": "CSV", "c": None}, "collectionInput"),
        ({"format": "XLSX", "c": {"collection": "orders", "range": week}}, "format"),
        ({"format": "NDJSON", "c": None, "kind": "ORDERS"}, "format"),
        ({"format": "CSV", "c": {"collection": "orders", "range": week}, "kind": "ORDERS"}, "collectionInput"),
    ]
    for variables, field in cases:
        body = await gql(gateway, EXPORT, variables, token=tenant.admin_token)
        payload = body["data"]["requestExport"]
        assert payload["url"] is None, body
        assert payload["errors"][0]["field"] == field, (variables, body)


async def test_provider_users_are_refused(gateway: Any, pool: Any, reports_pool: Any, tenant: Any) -> None:
    from tests.services.reports.feed import apply_orders, outbox_events

    await apply_orders(reports_pool, await outbox_events(pool, tenant.org_id))
    variables = {"format": "NDJSON", "c": {"collection": "contact_profiles", "range": {"preset": "LAST_7_DAYS"}}}
    body = await gql(gateway, EXPORT, variables, token=tenant.provider_token)
    payload = (body.get("data") or {}).get("requestExport")
    assert payload is None or (payload["url"] is None and payload["errors"]), body
    assert "FORBIDDEN" in str(body), body


async def test_the_documentation_is_made_from_the_declarations(gateway: Any) -> None:
    openapi = (await gateway.get("/docs/openapi.json")).json()
    described = openapi["x-collections"]
    assert [c["name"] for c in described] == list(NAMES)
    page = (await gateway.get("/docs")).text
    assert "id='collections'" in page
    for c, doc in zip(COLLECTIONS, described, strict=True):
        schema = openapi["components"]["schemas"][f"collection.{c.name}"]
        assert list(schema["properties"]) == list(c.field_names) == schema["required"]
        assert schema["additionalProperties"] is False
        for f in c.fields:
            prop = schema["properties"][f.name]
            assert prop["description"] == f.meaning and ("anyOf" in prop) == f.nullable, (c.name, f.name)
        assert [[tuple(k) for k in i["keys"]] for i in doc["indexes"]] == [list(i.keys) for i in c.indexes]
        assert (doc["timeField"], doc["meaning"]) == (c.time_field, c.meaning)
        section = page.split(f"id='collection-{c.name}'", 1)[1].split("</section>", 1)[0]
        for f in c.fields:
            assert f"<code>{f.name}</code>" in section, (c.name, f.name)
        for i in c.indexes:
            assert json.dumps(dict(i.keys)) in section.replace("&quot;", '"'), (c.name, i.keys)
    events = next(d for d in described if d["name"] == "events")
    assert any(i["expireAfterSeconds"] == 90 * 86400 for i in events["indexes"])
