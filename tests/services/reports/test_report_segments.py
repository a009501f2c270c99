"""The segment filter of reports: a segment's members' rows only (the unfiltered run's rows of those contacts, in
the same order), a preview's count equal to the rows the run gives, every report whose rows relate to contacts
taking it (inventory's do not), and another organisation's segment or an unknown one NOT_FOUND naming the field.

Membership reaches the reports service as the insights service publishes it (`segment.members_changed`), applied
by the kit's consumer with the handlers the reports worker uses, once per event id."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from services.reports.domain import catalogue
from services.reports.repository import reports as store
from services.reports.service import reports as workflow
from shared.db import tenant_tx
from shared.errors import DomainError
from shared.messaging import contracts
from shared.messaging.consumer import apply_event
from shared.messaging.contracts import REPORTS_FROM_INSIGHTS, Event
from shared.service import segment_copies
from tests.factories import gql
from tests.services.reports.report_data import Fed, feed, last_days, store_rates

PREVIEW = """query($input: ReportInput!) { reportPreview(input: $input) {
  preview { rows totalRows } errors { field code message } } }"""


async def _members_changed(
    reports_pool: Any, org_id: UUID, segment_id: UUID, version: int, added: list[UUID], removed: tuple[UUID, ...] = ()
) -> None:
    e = Event(
        uuid.uuid4(),
        contracts.SEGMENT_MEMBERS_CHANGED,
        org_id,
        datetime.now(UTC),
        1,
        {
            "segment_id": str(segment_id),
            "version": version,
            "added": [str(a) for a in added],
            "removed": [str(r) for r in removed],
        },
    )
    assert await apply_event(reports_pool, REPORTS_FROM_INSIGHTS.consumer, e, segment_copies.HANDLERS) == 1


async def _preview(reports_pool: Any, org_id: UUID, raw: dict[str, Any]) -> dict[str, Any]:
    async with tenant_tx(reports_pool, org_id) as conn:
        return await workflow.preview(conn, org_id, raw)


async def _run(reports_pool: Any, org_id: UUID, raw: dict[str, Any]) -> list[list[Any]]:
    """The whole run (the worker's one-snapshot read)."""
    async with tenant_tx(reports_pool, org_id) as conn:
        q = await workflow.parse(conn, org_id, raw)
        base, _ = await workflow.settings_of(conn, org_id)
        st = store.statement(q, org_id, base)
        width = len(q.outputs) + (1 if q.grouped else 0)
        rows: list[list[Any]] = []
        async for batch in store.run_rows(conn, st, width, 1000, 60):
            rows += [[workflow.json_value(r[i]) for i in range(width)] for r in batch]
        return rows


async def _contacts(reports_pool: Any, org_id: UUID) -> list[UUID]:
    """The organisation's contacts that have business events, in a stable order."""
    async with tenant_tx(reports_pool, org_id) as conn:
        rows = await conn.fetch(
            "SELECT DISTINCT customer_id FROM business_events WHERE org_id = $1 AND customer_id IS NOT NULL ORDER BY 1",
            org_id,
        )
    return [r["customer_id"] for r in rows]


@pytest.fixture
async def fed(gateway: Any, pool: Any, insights_pool: Any, reports_pool: Any, tenant: Any) -> Fed:
    await store_rates(reports_pool)
    return await feed(gateway, pool, insights_pool, reports_pool, tenant)


def test_every_report_whose_rows_relate_to_contacts_takes_the_segment_filter() -> None:
    without = {r.key for r in catalogue.REPORTS if catalogue.Filter.SEGMENT not in r.filters}
    assert without == {"inventory_items", "stock_movements"}


async def test_itemised_reports_answer_the_members_rows_only(fed: Fed, reports_pool: Any, tenant: Any) -> None:
    contacts = await _contacts(reports_pool, tenant.org_id)
    assert len(contacts) >= 2
    member, other = contacts[0], contacts[1]
    segment = uuid.uuid4()
    await _members_changed(reports_pool, tenant.org_id, segment, 1, [member, other])
    await _members_changed(reports_pool, tenant.org_id, segment, 2, [], (other,))  # `other` left: not a member

    checked = 0
    for report in catalogue.REPORTS:
        if not report.itemised or "contact_id" not in report.by_key:
            continue
        every = [c.key for c in report.columns]
        raw: dict[str, Any] = {"report": report.key, "filters": {"range": last_days()}, "columns": every}
        where = every.index("contact_id")
        unfiltered = await _run(reports_pool, tenant.org_id, raw)
        expected = [r for r in unfiltered if r[where] == str(member)]
        raw["filters"]["segmentId"] = str(segment)
        got = await _run(reports_pool, tenant.org_id, raw)
        assert got == expected, report.key
        preview = await _preview(reports_pool, tenant.org_id, raw)
        assert preview["totalRows"] == len(got), report.key
        assert preview["rows"] == got[:10], report.key
        checked += 1 if expected else 0
    assert checked >= 5  # the member has rows in most itemised reports


async def test_analytical_reports_count_the_members_only(fed: Fed, reports_pool: Any, tenant: Any) -> None:
    contacts = await _contacts(reports_pool, tenant.org_id)
    everyone, nobody = uuid.uuid4(), uuid.uuid4()
    await _members_changed(reports_pool, tenant.org_id, everyone, 1, contacts)
    await _members_changed(reports_pool, tenant.org_id, nobody, 1, [uuid.uuid4()])  # a member with no rows

    raw: dict[str, Any] = {"report": "events_per_type", "filters": {"range": last_days()}}
    unfiltered = await _run(reports_pool, tenant.org_id, raw)
    assert unfiltered
    cols = list(catalogue.BY_KEY["events_per_type"].default_columns)
    events = cols.index("events")
    raw["filters"]["segmentId"] = str(nobody)
    assert await _run(reports_pool, tenant.org_id, raw) == []
    raw["filters"]["segmentId"] = str(everyone)
    # Every contact of the events is a member: only events without a contact drop out.
    members = await _run(reports_pool, tenant.org_id, raw)
    assert sum(int(r[events]) for r in members) <= sum(int(r[events]) for r in unfiltered)
    async with tenant_tx(reports_pool, tenant.org_id) as conn:
        with_contact = await conn.fetchval(
            "SELECT count(*) FROM business_events WHERE org_id = $1 AND customer_id IS NOT NULL", tenant.org_id
        )
    assert sum(int(r[events]) for r in members) == with_contact

    # Orders by provider: the raw orders (the hourly rollup has no customer), none of a segment without orders.
    raw = {"report": "commission_per_provider", "filters": {"range": last_days(), "segmentId": str(nobody)}}
    assert (await _preview(reports_pool, tenant.org_id, raw))["totalRows"] == 0
    raw = {"report": "orders_with_commission", "filters": {"range": last_days(), "segmentId": str(nobody)}}
    assert (await _preview(reports_pool, tenant.org_id, raw))["totalRows"] == 0


async def test_another_organisations_segment_is_not_found_and_its_members_never_show(
    gateway: Any, pool: Any, insights_pool: Any, reports_pool: Any, fed: Fed, tenant: Any, other_tenant: Any
) -> None:
    await feed(gateway, pool, insights_pool, reports_pool, other_tenant)
    theirs = uuid.uuid4()
    their_contacts = await _contacts(reports_pool, other_tenant.org_id)
    await _members_changed(reports_pool, other_tenant.org_id, theirs, 1, their_contacts)
    raw: dict[str, Any] = {"report": "event_log", "filters": {"range": last_days(), "segmentId": str(theirs)}}
    for segment in (theirs, uuid.uuid4()):
        raw["filters"]["segmentId"] = str(segment)
        with pytest.raises(DomainError) as refused:
            await _preview(reports_pool, tenant.org_id, raw)
        assert (refused.value.code.value, refused.value.field) == ("NOT_FOUND", "input.filters.segmentId")
    # Theirs answers them, with their rows only.
    raw["filters"]["segmentId"] = str(theirs)
    answer = await _preview(reports_pool, other_tenant.org_id, raw)
    assert answer["totalRows"] > 0
    mine = {str(c) for c in await _contacts(reports_pool, tenant.org_id)}
    assert not any(cell in mine for row in await _run(reports_pool, other_tenant.org_id, raw) for cell in row)

    # A deleted segment is unknown too; a report without contacts refuses the filter, naming it.
    deleted = Event(
        uuid.uuid4(),
        contracts.SEGMENT_DELETED,
        other_tenant.org_id,
        datetime.now(UTC),
        1,
        {"segment_id": str(theirs), "version": 2},
    )
    await apply_event(reports_pool, REPORTS_FROM_INSIGHTS.consumer, deleted, segment_copies.HANDLERS)
    with pytest.raises(DomainError) as refused:
        await _preview(reports_pool, other_tenant.org_id, raw)
    assert refused.value.field == "input.filters.segmentId"
    raw = {"report": "inventory_items", "filters": {"segmentId": str(theirs)}}
    with pytest.raises(DomainError) as refused:
        await _preview(reports_pool, other_tenant.org_id, raw)
    assert refused.value.field == "input.filters.segmentId"


async def test_report_preview_through_the_gateway_takes_a_segment(
    gateway: Any, pool: Any, insights_pool: Any, reports_pool: Any, fed: Fed, tenant: Any, other_tenant: Any
) -> None:
    await feed(gateway, pool, insights_pool, reports_pool, other_tenant)
    segment = uuid.uuid4()
    contacts = await _contacts(reports_pool, tenant.org_id)
    await _members_changed(reports_pool, tenant.org_id, segment, 1, contacts[:1])
    config: dict[str, Any] = {"report": "event_log", "filters": {"range": last_days(), "segmentId": str(segment)}}
    direct = await _preview(reports_pool, tenant.org_id, config)
    answer = (await gql(gateway, PREVIEW, {"input": config}, token=tenant.admin_token))["data"]["reportPreview"]
    assert answer["errors"] == [] and answer["preview"]["totalRows"] == direct["totalRows"] > 0
    answer = (await gql(gateway, PREVIEW, {"input": config}, token=other_tenant.admin_token))["data"]["reportPreview"]
    assert answer["preview"] is None
    assert (answer["errors"][0]["field"], answer["errors"][0]["code"]) == ("input.filters.segmentId", "NOT_FOUND")
    config["filters"]["segmentId"] = "not-an-id"
    body = await gql(gateway, PREVIEW, {"input": config}, token=tenant.admin_token)
    assert body["errors"][0]["extensions"] == {"code": "INVALID_ID", "field": "input.filters.segmentId"}
