# ruff: noqa: F811  (the Mixpanel fixtures are imported by name)
"""Mixpanel cohorts imported as static segments (against the fake peer's query API): members matched by
distinct id or email, unmatched counted and listed, re-import adding and removing members and recording when,
an unknown cohort refused naming cohortId with nothing made, and another organisation's connection unknown."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from services.insights.service import mixpanel as workflow
from shared.db import tenant_tx
from shared.errors import DomainError
from tests.services.insights.mixpanel_support import (  # noqa: F401  (fixtures)
    fake_mixpanel,
    mixpanel_settings,
    new_project,
    orders_contacts,
)


async def _customers(gateway: Any, pool: Any, tenant: Any, n: int) -> list[tuple[uuid.UUID, str]]:
    """n generic customers made by ingestion (the orders service owns them): their ids and emails."""
    tag = uuid.uuid4().hex[:6]
    emails = [f"c{i}-{tag}@example.com" for i in range(n)]
    events = [
        {"id": f"pv-{tag}-{i}", "type": "page_view", "occurredAt": datetime.now(UTC).isoformat(), "email": e}
        for i, e in enumerate(emails)
    ]
    r = await gateway.post("/v1/events", json={"events": events}, headers={"authorization": f"Bearer {tenant.api_key}"})
    assert r.status_code == 202, r.text
    async with tenant_tx(pool, tenant.org_id) as conn:
        rows = await conn.fetch(
            "SELECT id, email FROM customers WHERE org_id = $1 AND email = ANY($2::text[])", tenant.org_id, emails
        )
    by_email = {r["email"]: r["id"] for r in rows}
    return [(by_email[e], e) for e in emails]


async def _members(insights_pool: Any, org_id: uuid.UUID, segment_id: str) -> set[uuid.UUID]:
    async with tenant_tx(insights_pool, org_id) as conn:
        rows = await conn.fetch(
            "SELECT customer_id FROM segment_members WHERE org_id = $1 AND segment_id = $2",
            org_id,
            uuid.UUID(segment_id),
        )
    return {r["customer_id"] for r in rows}


async def test_a_cohort_is_imported_and_reimported_with_added_removed_and_unmatched_members(
    gateway, pool, insights_pool, mixpanel_settings, fake_mixpanel, orders_contacts, tenant
) -> None:
    project = await new_project(fake_mixpanel)
    c = await workflow.connect(insights_pool, mixpanel_settings, tenant.org_id, project.input())
    customers = await _customers(gateway, pool, tenant, 4)
    (a, _), (b, b_email), (d, _), (e, _) = customers
    await fake_mixpanel.add_cohort(
        project.project_id,
        7,
        [
            {"distinct_id": str(a)},  # by distinct id (our customer id, as forwarded)
            {"distinct_id": "legacy-user-9", "properties": {"$email": b_email}},  # by email
            {"distinct_id": "nobody-1", "properties": {"$email": "nobody@example.com"}},
            {"distinct_id": str(uuid.uuid4())},  # a uuid that is no customer of ours
            {"distinct_id": str(d)},
        ],
    )
    first = await workflow.import_cohort(
        insights_pool, mixpanel_settings, orders_contacts, tenant.org_id, c.id, 7, name="Power users", every_minutes=60
    )
    assert first["members"] == 3 and first["added"] == 3 and first["removed"] == 0
    assert first["unmatchedCount"] == 2 and "nobody-1" in first["unmatched"]
    assert await _members(insights_pool, tenant.org_id, first["segmentId"]) == {a, b, d}
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        segment = await conn.fetchrow(
            "SELECT name, kind, member_count FROM segments WHERE org_id = $1 AND id = $2",
            tenant.org_id,
            uuid.UUID(first["segmentId"]),
        )
    assert segment is not None and (segment["name"], segment["kind"], segment["member_count"]) == (
        "Power users",
        "static",
        3,
    )

    # The cohort changed in Mixpanel: d left, e joined. The re-import (same segment) adds and removes.
    await fake_mixpanel.add_cohort(
        project.project_id,
        7,
        [{"distinct_id": str(x)} for x in (a, e)]
        + [{"distinct_id": "legacy-user-9", "properties": {"$email": b_email}}],
    )
    await asyncio.sleep(0.01)
    second = await workflow.import_cohort(insights_pool, mixpanel_settings, orders_contacts, tenant.org_id, c.id, 7)
    assert second["segmentId"] == first["segmentId"]
    assert (second["members"], second["added"], second["removed"], second["unmatchedCount"]) == (3, 1, 1, 0)
    assert second["importedAt"] > first["importedAt"] and second["everyMinutes"] == 60  # the schedule kept
    assert await _members(insights_pool, tenant.org_id, second["segmentId"]) == {a, b, e}
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        [listed] = await workflow.cohort_imports(conn, tenant.org_id, c.id)
    assert listed["cohortId"] == 7 and listed["members"] == 3


async def test_an_unknown_cohort_is_refused_naming_cohort_id_and_makes_nothing(
    insights_pool, mixpanel_settings, fake_mixpanel, orders_contacts, tenant
) -> None:
    project = await new_project(fake_mixpanel)
    c = await workflow.connect(insights_pool, mixpanel_settings, tenant.org_id, project.input())
    with pytest.raises(DomainError) as refused:
        await workflow.import_cohort(
            insights_pool, mixpanel_settings, orders_contacts, tenant.org_id, c.id, 404, name="Nope"
        )
    assert refused.value.field == "cohortId" and "404" in refused.value.message
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM segments WHERE org_id = $1", tenant.org_id) == 0
        assert await workflow.cohort_imports(conn, tenant.org_id, c.id) == []


async def test_another_organisations_connection_imports_nothing(
    insights_pool, mixpanel_settings, fake_mixpanel, orders_contacts, tenant, other_tenant
) -> None:
    project = await new_project(fake_mixpanel)
    theirs = await workflow.connect(insights_pool, mixpanel_settings, other_tenant.org_id, project.input())
    await fake_mixpanel.add_cohort(project.project_id, 1, [{"distinct_id": "x"}])
    with pytest.raises(DomainError) as refused:
        await workflow.import_cohort(
            insights_pool, mixpanel_settings, orders_contacts, tenant.org_id, theirs.id, 1, name="Theirs"
        )
    assert refused.value.status == 404 and refused.value.field == "connectionId"
