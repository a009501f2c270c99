"""The scheduler's batches (service/schedules.py `fire_batch`): more schedules due at once than one batch holds, in
two organisations, fired by two ticks racing; each slot once, each run in its own organisation with its own
recipients; the recipients of a batch resolved in as few calls as the orders service's limits allow."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.reports.scheduler import tick
from services.reports.service import schedules as workflow
from shared.db import tenant_tx
from tests.services.reports.test_scheduler import _member, _ready, _rows, _schedule

MANY = workflow.MAX_BATCH + 20


@pytest.fixture
async def directory(settings: Any, orders_url: str) -> Any:
    client = workflow.OrdersDirectory(orders_url, settings.service_token_secret)
    yield client
    await client.aclose()


async def _due(reports_pool: Any, org_id: uuid.UUID, at: datetime) -> None:
    async with tenant_tx(reports_pool, org_id) as conn:
        await conn.execute("UPDATE report_schedules SET next_slot = $2 WHERE org_id = $1", org_id, at)


async def test_more_than_a_batch_due_at_once_in_two_organisations_fire_once_each_in_their_own_organisation(
    pool: Any, reports_pool: Any, tenant: Any, other_tenant: Any, directory: Any
) -> None:
    await _ready(pool, reports_pool, tenant)
    await _ready(pool, reports_pool, other_tenant)
    admin = await _member(pool, tenant.org_id, tenant.admin_subject)
    other_admin = await _member(pool, other_tenant.org_id, other_tenant.admin_subject)
    mine = {(await _schedule(reports_pool, directory, tenant.org_id, admin, name=f"s{i}")).id for i in range(MANY)}
    theirs = {(await _schedule(reports_pool, directory, other_tenant.org_id, other_admin)).id for _ in range(3)}
    now = datetime.now(UTC)
    for org_id in (tenant.org_id, other_tenant.org_id):
        await _due(reports_pool, org_id, now - timedelta(minutes=1))

    ticks = await asyncio.gather(*(tick(reports_pool, directory, now) for _ in range(2)))
    fired = [f for batch in ticks for f in batch if f.schedule_id in mine | theirs]
    per_schedule = Counter(f.schedule_id for f in fired)
    assert set(per_schedule) == mine | theirs and set(per_schedule.values()) == {1}, per_schedule.most_common(3)
    assert {f.outcome for f in fired} == {"run"}
    assert all(f.org_id == (tenant.org_id if f.schedule_id in mine else other_tenant.org_id) for f in fired)
    assert not [f for f in await tick(reports_pool, directory, now) if f.schedule_id in mine | theirs]

    # One slot row and one run per schedule, in its organisation; each run to that organisation's admin only.
    for org_id, ids, email in (
        (tenant.org_id, mine, admin["email"]),
        (other_tenant.org_id, theirs, other_admin["email"]),
    ):
        slots = await _rows(reports_pool, org_id, "SELECT schedule_id, run_id, outcome FROM report_schedule_slots")
        assert sorted(r["schedule_id"] for r in slots) == sorted(ids)
        runs = await _rows(reports_pool, org_id, "SELECT id, org_id, recipients FROM report_runs")
        fired_runs = {f.run_id for f in fired if f.schedule_id in ids}
        assert {r["run_id"] for r in slots} == fired_runs and fired_runs <= {r["id"] for r in runs}
        assert len(fired_runs) == len(ids)
        for r in runs:
            if r["id"] in fired_runs:
                assert r["org_id"] == org_id and [x["email"] for x in json.loads(r["recipients"])] == [email]
        after = await _rows(reports_pool, org_id, "SELECT next_slot FROM report_schedules")
        assert all(a["next_slot"] > now for a in after)


async def test_a_batch_resolves_more_ids_than_one_call_takes(pool: Any, tenant: Any, directory: Any) -> None:
    admin = await _member(pool, tenant.org_id, tenant.admin_subject)
    unknown = [uuid.uuid4() for _ in range(workflow.RESOLVE_MAX + 50)]
    team = uuid.uuid4()
    resolved = await workflow.resolve_all(directory, tenant.org_id, [*unknown, admin["id"]], [team])
    assert sorted(resolved["unknownMemberIds"]) == sorted(str(i) for i in unknown)  # past the first call's share
    assert [m["email"] for m in resolved["members"]] == [admin["email"]]
    assert resolved["unknownTeamIds"] == [str(team)] and resolved["teams"] == []
