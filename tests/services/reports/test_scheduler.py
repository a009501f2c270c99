"""The reports scheduler (services/reports/scheduler.py) on real PostgreSQL and the served orders API: one run per
slot however many schedulers race, missed slots as one run, recipients checked at send time, an owner who left
pauses the schedule, another organisation's recipients refused as unknown ones."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.orders.repository import members
from services.reports.domain import catalogue
from services.reports.repository import runs as runs_store
from services.reports.scheduler import tick
from services.reports.service import schedules as workflow
from shared.db import tenant_tx
from shared.errors import DomainError
from tests.services.reports.feed import apply_orders, outbox_events

REPORT = {"report": catalogue.REPORTS[0].key}


@pytest.fixture
async def directory(settings: Any, orders_url: str) -> Any:
    client = workflow.OrdersDirectory(orders_url, settings.service_token_secret)
    yield client
    await client.aclose()


async def _member(pool: Any, org_id: uuid.UUID, subject: str) -> dict[str, Any]:
    async with tenant_tx(pool, org_id) as conn:
        found = await members.by_subject(conn, org_id, subject)
    assert found is not None
    return found


async def _ready(pool: Any, reports_pool: Any, tenant: Any) -> None:
    """The organisation's settings in the reports service (reports validate in its time zone)."""
    await apply_orders(reports_pool, await outbox_events(pool, tenant.org_id))


async def _schedule(reports_pool: Any, directory: Any, org_id: uuid.UUID, owner: dict[str, Any], **body: Any) -> Any:
    raw = {"name": "Daily", "format": "csv", "input": REPORT, "cadence": "daily", "time": "07:00", "timeZone": "UTC"}
    raw.update(body)
    actor = workflow.Actor(owner["subject"], owner["role"], owner["id"])
    async with tenant_tx(reports_pool, org_id) as conn:
        return await workflow.create(conn, directory, org_id, actor, raw)


async def _due_since(reports_pool: Any, org_id: uuid.UUID, id: uuid.UUID, at: datetime) -> None:
    async with tenant_tx(reports_pool, org_id) as conn:
        await conn.execute("UPDATE report_schedules SET next_slot = $3 WHERE org_id = $1 AND id = $2", org_id, id, at)


async def _run(reports_pool: Any, org_id: uuid.UUID, run_id: uuid.UUID) -> dict[str, Any]:
    async with tenant_tx(reports_pool, org_id) as conn:
        run = await runs_store.get(conn, org_id, run_id)
    assert run is not None
    return run


async def _rows(reports_pool: Any, org_id: uuid.UUID, sql: str, *args: Any) -> list[dict[str, Any]]:
    async with tenant_tx(reports_pool, org_id) as conn:
        return [dict(r) for r in await conn.fetch(sql, *args)]


async def test_two_schedulers_racing_fire_one_run_per_slot(
    pool: Any, reports_pool: Any, tenant: Any, directory: Any
) -> None:
    await _ready(pool, reports_pool, tenant)
    admin = await _member(pool, tenant.org_id, tenant.admin_subject)
    s = await _schedule(reports_pool, directory, tenant.org_id, admin)
    now = datetime.now(UTC)
    await _due_since(reports_pool, tenant.org_id, s.id, now - timedelta(minutes=1))

    fired = await asyncio.gather(*(tick(reports_pool, directory, now) for _ in range(2)))
    mine = [f for batch in fired for f in batch if f.schedule_id == s.id]
    assert len(mine) == 1 and mine[0].outcome == "run"
    again = await tick(reports_pool, directory, now)  # the same instant once more: nothing is due
    assert all(f.schedule_id != s.id for f in again)

    slots = await _rows(reports_pool, tenant.org_id, "SELECT * FROM report_schedule_slots WHERE schedule_id = $1", s.id)
    assert len(slots) == 1 and slots[0]["run_id"] == mine[0].run_id
    assert mine[0].run_id is not None
    run = await _run(reports_pool, tenant.org_id, mine[0].run_id)
    assert run["requested_by"] == admin["subject"]
    assert [r["email"] for r in run["recipients"]] == [admin["email"]]
    after = await _rows(reports_pool, tenant.org_id, "SELECT next_slot FROM report_schedules WHERE id = $1", s.id)
    assert after[0]["next_slot"] > now


async def test_after_downtime_missed_slots_are_one_run(
    pool: Any, reports_pool: Any, tenant: Any, directory: Any
) -> None:
    await _ready(pool, reports_pool, tenant)
    admin = await _member(pool, tenant.org_id, tenant.admin_subject)
    s = await _schedule(reports_pool, directory, tenant.org_id, admin)
    now = datetime.now(UTC)
    await _due_since(reports_pool, tenant.org_id, s.id, now - timedelta(days=10))

    fired = [f for f in await tick(reports_pool, directory, now) if f.schedule_id == s.id]
    assert len(fired) == 1
    latest = now.replace(hour=7, minute=0, second=0, microsecond=0)
    latest = latest if latest <= now else latest - timedelta(days=1)
    assert fired[0].slot == latest  # the latest missed slot, run once
    assert not [f for f in await tick(reports_pool, directory, now + timedelta(hours=1)) if f.schedule_id == s.id]


async def test_a_removed_member_gets_nothing_and_a_team_sends_to_its_members_now(
    pool: Any, reports_pool: Any, tenant: Any, directory: Any
) -> None:
    from services.orders.repository import teams

    await _ready(pool, reports_pool, tenant)
    admin = await _member(pool, tenant.org_id, tenant.admin_subject)
    member = await _member(pool, tenant.org_id, tenant.member_subject)
    async with tenant_tx(pool, tenant.org_id) as conn:
        extra = await members.add(conn, tenant.org_id, f"extra-{uuid.uuid4().hex[:6]}@example.com", "member")
        team_id = await teams.insert(conn, tenant.org_id, f"team-{uuid.uuid4().hex[:6]}")
    s = await _schedule(
        reports_pool, directory, tenant.org_id, admin, memberIds=[str(member["id"])], teamIds=[str(team_id)]
    )
    async with tenant_tx(pool, tenant.org_id) as conn:
        await members.delete(conn, tenant.org_id, member["id"])  # left after the schedule was made
        await teams.add_member(conn, tenant.org_id, team_id, extra["id"])  # joined the team since
    now = datetime.now(UTC)
    await _due_since(reports_pool, tenant.org_id, s.id, now - timedelta(minutes=1))

    fired = [f for f in await tick(reports_pool, directory, now) if f.schedule_id == s.id]
    assert len(fired) == 1 and fired[0].outcome == "run" and fired[0].dropped == 1
    assert fired[0].run_id is not None
    run = await _run(reports_pool, tenant.org_id, fired[0].run_id)
    assert [r["email"] for r in run["recipients"]] == [extra["email"]]


async def test_owner_who_left_pauses_the_schedule_and_nothing_is_run(
    pool: Any, reports_pool: Any, tenant: Any, directory: Any
) -> None:
    await _ready(pool, reports_pool, tenant)
    admin = await _member(pool, tenant.org_id, tenant.admin_subject)
    member = await _member(pool, tenant.org_id, tenant.member_subject)
    s = await _schedule(reports_pool, directory, tenant.org_id, member, memberIds=[str(admin["id"])])
    async with tenant_tx(pool, tenant.org_id) as conn:
        await members.delete(conn, tenant.org_id, member["id"])
    now = datetime.now(UTC)
    await _due_since(reports_pool, tenant.org_id, s.id, now - timedelta(minutes=1))

    fired = [f for f in await tick(reports_pool, directory, now) if f.schedule_id == s.id]
    assert len(fired) == 1 and fired[0].outcome == "owner_left" and fired[0].run_id is None
    assert [m.to for _, m in fired[0].mails] == [admin["email"]]  # the admins are told
    row = await _rows(reports_pool, tenant.org_id, "SELECT * FROM report_schedules WHERE id = $1", s.id)
    assert (row[0]["status"], row[0]["paused_reason"], row[0]["next_slot"]) == ("paused", "owner_left", None)

    # An admin resumes it and becomes its owner.
    actor = workflow.Actor(admin["subject"], "admin", admin["id"])
    async with tenant_tx(reports_pool, tenant.org_id) as conn:
        resumed = await workflow.resume(conn, directory, tenant.org_id, actor, s.id)
    assert resumed.status.value == "active" and resumed.next_slot is not None


async def test_pause_edit_delete_and_who_may(pool: Any, reports_pool: Any, tenant: Any, directory: Any) -> None:
    await _ready(pool, reports_pool, tenant)
    admin = await _member(pool, tenant.org_id, tenant.admin_subject)
    member = await _member(pool, tenant.org_id, tenant.member_subject)
    s = await _schedule(reports_pool, directory, tenant.org_id, admin)
    as_member = workflow.Actor(member["subject"], "member", member["id"])
    as_admin = workflow.Actor(admin["subject"], "admin", admin["id"])
    with pytest.raises(DomainError) as refused:
        async with tenant_tx(reports_pool, tenant.org_id) as conn:
            await workflow.pause(conn, tenant.org_id, as_member, s.id)
    assert refused.value.code.value == "FORBIDDEN"
    async with tenant_tx(reports_pool, tenant.org_id) as conn:
        paused = await workflow.pause(conn, tenant.org_id, as_admin, s.id)
    assert paused.status.value == "paused" and paused.next_slot is None
    now = datetime.now(UTC)
    assert not [f for f in await tick(reports_pool, directory, now + timedelta(days=2)) if f.schedule_id == s.id]

    body = {
        "name": "Weekly",
        "format": "xlsx",
        "input": REPORT,
        "cadence": "weekly",
        "time": "09:30",
        "weekday": 3,
        "timeZone": "Europe/London",
    }
    async with tenant_tx(reports_pool, tenant.org_id) as conn:
        edited = await workflow.update(conn, directory, tenant.org_id, as_admin, s.id, body)
        resumed = await workflow.resume(conn, directory, tenant.org_id, as_admin, s.id)
    assert edited.status.value == "paused" and edited.timing.weekday == 3
    assert resumed.next_slot is not None and resumed.next_slot.astimezone(UTC) > now
    async with tenant_tx(reports_pool, tenant.org_id) as conn:
        await workflow.delete(conn, tenant.org_id, as_admin, s.id)
    assert not await _rows(reports_pool, tenant.org_id, "SELECT 1 FROM report_schedules WHERE id = $1", s.id)


async def test_bad_recipients_are_refused_naming_the_field_and_another_org_is_unknown(
    pool: Any, reports_pool: Any, tenant: Any, other_tenant: Any, directory: Any
) -> None:
    await _ready(pool, reports_pool, tenant)
    await _ready(pool, reports_pool, other_tenant)
    admin = await _member(pool, tenant.org_id, tenant.admin_subject)
    foreign = await _member(pool, other_tenant.org_id, other_tenant.member_subject)
    async with tenant_tx(pool, tenant.org_id) as conn:
        no_email = await members.add(conn, tenant.org_id, "", "member", subject=f"auth0|noemail-{uuid.uuid4().hex}")
    answers = []
    cases: list[tuple[dict[str, Any], str]] = [
        ({"memberIds": [str(admin["id"]), str(foreign["id"])]}, "memberIds[1]"),
        ({"memberIds": [str(admin["id"]), str(uuid.uuid4())]}, "memberIds[1]"),
        ({"teamIds": [str(uuid.uuid4())]}, "teamIds[0]"),
        ({"memberIds": [str(no_email["id"])]}, "memberIds[0]"),
        ({"cron": "0 25 * * *", "cadence": "cron", "time": None}, "cron"),
        ({"timeZone": "Europe/Lindon"}, "timeZone"),
        ({"format": "docx"}, "format"),
    ]
    for body, field in cases:
        with pytest.raises(DomainError) as exc:
            await _schedule(reports_pool, directory, tenant.org_id, admin, **body)
        assert exc.value.field == field, body
        answers.append(exc.value.message)
    assert answers[0] == answers[1]  # another organisation's member reads exactly as an unknown id
    assert not await _rows(
        reports_pool, tenant.org_id, "SELECT 1 FROM report_schedules WHERE org_id = $1", tenant.org_id
    )


async def test_tenant_isolation(pool: Any, reports_pool: Any, tenant: Any, other_tenant: Any, directory: Any) -> None:
    await _ready(pool, reports_pool, tenant)
    admin = await _member(pool, tenant.org_id, tenant.admin_subject)
    other_admin = await _member(pool, other_tenant.org_id, other_tenant.admin_subject)
    s = await _schedule(reports_pool, directory, tenant.org_id, admin)
    intruder = workflow.Actor(other_admin["subject"], "admin", other_admin["id"])
    for step in ("pause", "delete"):
        with pytest.raises(DomainError) as exc:
            async with tenant_tx(reports_pool, other_tenant.org_id) as conn:
                await getattr(workflow, step)(conn, other_tenant.org_id, intruder, s.id)
        assert exc.value.code.value == "NOT_FOUND"
    assert not await _rows(reports_pool, other_tenant.org_id, "SELECT 1 FROM report_schedules")
    assert not await _rows(reports_pool, other_tenant.org_id, "SELECT 1 FROM report_schedule_slots")
