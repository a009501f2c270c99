"""Report schedules through the gateway (services/gateway/graphql/report_schedules.py) on the served reports and
orders APIs: create, list, read with the slot history and runs, edit, pause, resume, delete, and who may (admins and
the owner change; members make their own, owned by the viewer whatever the client sends); bad input naming the
field as the client wrote it; another organisation's schedules, members and teams never reach this one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.reports.domain import catalogue
from services.reports.scheduler import tick
from services.reports.service import schedules as workflow
from shared.db import tenant_tx
from tests.factories import gql
from tests.services.reports.feed import apply_orders, outbox_events

REPORT = {"report": catalogue.REPORTS[0].key}
FIELDS = """id name owner ownerMemberId report format cadence timeZone time weekday dayOfMonth cron memberIds teamIds
  status pausedReason nextSlot lastSlot canChange"""
SCHEDULE = f"""mutation($input: ReportScheduleInput!) {{ scheduleReport(input: $input) {{
  schedule {{ {FIELDS} }} errors {{ field code message }} }} }}"""
UPDATE = f"""mutation($id: ID!, $input: ReportScheduleInput!) {{ updateReportSchedule(id: $id, input: $input) {{
  schedule {{ {FIELDS} }} errors {{ field code message }} }} }}"""
PAUSE = f"""mutation($id: ID!) {{ pauseReportSchedule(id: $id) {{
  schedule {{ {FIELDS} }} errors {{ field code message }} }} }}"""
RESUME = f"""mutation($id: ID!) {{ resumeReportSchedule(id: $id) {{
  schedule {{ {FIELDS} }} errors {{ field code message }} }} }}"""
DELETE = """mutation($id: ID!) { deleteReportSchedule(id: $id) { deleted errors { field code message } } }"""
LIST = "{ reportSchedules { id name ownerMemberId status canChange } }"
ONE = f"""query($id: ID!) {{ reportSchedule(id: $id) {{ {FIELDS}
  lastRuns {{ slot outcome runId recipients dropped error firedAt run {{ id status format requestedBy }} }} }} }}"""
ME = "{ me { memberId } }"
CREATE_TEAM = "mutation($n: String!) { createTeam(name: $n) { team { id } errors { field } } }"


def daily(**over: Any) -> dict[str, Any]:
    base = {"name": "Daily orders", "format": "CSV", "report": REPORT, "cadence": "DAILY", "time": "07:00"}
    return {**base, "timeZone": "Europe/London", **over}


@pytest.fixture
async def ready(gateway: Any, pool: Any, reports_pool: Any, tenant: Any, other_tenant: Any) -> Any:
    """Both organisations' settings in the reports service (reports validate in the organisation's zone)."""
    for t in (tenant, other_tenant):
        await apply_orders(reports_pool, await outbox_events(pool, t.org_id))
    return gateway


async def _me(gw: Any, token: str) -> str:
    return str((await gql(gw, ME, token=token))["data"]["me"]["memberId"])


async def _ok(gw: Any, query: str, variables: dict[str, Any], token: str, name: str) -> dict[str, Any]:
    r = await gql(gw, query, variables, token=token)
    assert r.get("errors") is None and r["data"][name]["errors"] == [], r
    return dict(r["data"][name]["schedule"])


def _forbidden(r: dict[str, Any]) -> bool:
    return bool(r.get("errors")) and r["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def _count(reports_pool: Any, org_id: uuid.UUID) -> int:
    async with tenant_tx(reports_pool, org_id) as conn:
        return int(await conn.fetchval("SELECT count(*) FROM report_schedules WHERE org_id = $1", org_id))


async def test_crud_and_who_may(ready: Any, reports_pool: Any, tenant: Any, settings: Any, orders_url: str) -> None:
    gw, admin, member = ready, tenant.admin_token, tenant.member_token
    admin_id, member_id = await _me(gw, admin), await _me(gw, member)

    mine = await _ok(gw, SCHEDULE, {"input": daily()}, admin, "scheduleReport")
    # No recipient named: the owner is one. The next slot is 07:00 London (06:00 or 07:00 UTC), within a day.
    assert mine["ownerMemberId"] == admin_id and mine["memberIds"] == [admin_id] and mine["teamIds"] == []
    assert (mine["status"], mine["pausedReason"], mine["cadence"], mine["format"]) == ("ACTIVE", None, "DAILY", "CSV")
    assert mine["report"] == REPORT and mine["time"] == "07:00" and mine["cron"] is None and mine["canChange"]
    nxt = datetime.fromisoformat(mine["nextSlot"])
    assert timedelta(0) < nxt - datetime.now(UTC) <= timedelta(days=1) and nxt.minute == 0 and nxt.hour in (6, 7)

    # A member makes their own (owned by the viewer: the input has no owner field to forge), mailed to the admin.
    theirs = await _ok(
        gw,
        SCHEDULE,
        {"input": daily(name="Mondays", cadence="WEEKLY", weekday=1, time="09:30", memberIds=[admin_id])},
        member,
        "scheduleReport",
    )
    assert theirs["ownerMemberId"] == member_id and theirs["memberIds"] == [admin_id] and theirs["weekday"] == 1
    forged = await gql(gw, SCHEDULE, {"input": {**daily(), "memberId": admin_id}}, token=member)
    assert forged.get("errors") and forged.get("data") is None  # not a field of the input

    # Any member reads every schedule; they may change only their own.
    listed = (await gql(gw, LIST, token=member))["data"]["reportSchedules"]
    assert {(s["id"], s["canChange"]) for s in listed} == {(mine["id"], False), (theirs["id"], True)}
    for query in (PAUSE, RESUME, DELETE):
        assert _forbidden(await gql(gw, query, {"id": mine["id"]}, token=member))
    assert _forbidden(await gql(gw, UPDATE, {"id": mine["id"], "input": daily(name="x")}, token=member))
    paused = await _ok(gw, PAUSE, {"id": theirs["id"]}, member, "pauseReportSchedule")
    assert (paused["status"], paused["pausedReason"], paused["nextSlot"]) == ("PAUSED", "BY_USER", None)

    # An admin changes the member's schedule: a cron every 15 minutes in New York; still paused until resumed.
    edited = await _ok(
        gw,
        UPDATE,
        {
            "id": theirs["id"],
            "input": daily(cadence="CRON", time=None, cron="*/15 * * * *", timeZone="America/New_York"),
        },
        admin,
        "updateReportSchedule",
    )
    assert (edited["cadence"], edited["cron"], edited["time"], edited["timeZone"]) == (
        "CRON",
        "*/15 * * * *",
        None,
        "America/New_York",
    )
    assert edited["status"] == "PAUSED" and edited["ownerMemberId"] == member_id
    resumed = await _ok(gw, RESUME, {"id": theirs["id"]}, admin, "resumeReportSchedule")
    nxt = datetime.fromisoformat(resumed["nextSlot"])
    assert resumed["status"] == "ACTIVE" and nxt.minute % 15 == 0 and nxt - datetime.now(UTC) <= timedelta(minutes=15)

    # A fired slot shows in lastRuns with its run: the admin sees the run, the member (not its requester) does not.
    async with tenant_tx(reports_pool, tenant.org_id) as conn:
        await conn.execute(
            "UPDATE report_schedules SET next_slot = $3 WHERE org_id = $1 AND id = $2",
            tenant.org_id,
            uuid.UUID(mine["id"]),
            datetime.now(UTC) - timedelta(minutes=1),
        )
    directory = workflow.OrdersDirectory(orders_url, settings.service_token_secret)
    try:
        fired = [f for f in await tick(reports_pool, directory) if str(f.schedule_id) == mine["id"]]
    finally:
        await directory.aclose()
    assert len(fired) == 1 and fired[0].run_id is not None
    seen = (await gql(gw, ONE, {"id": mine["id"]}, token=admin))["data"]["reportSchedule"]
    [slot] = seen["lastRuns"]
    assert (slot["outcome"], slot["runId"], slot["recipients"], slot["dropped"]) == ("RUN", str(fired[0].run_id), 1, 0)
    assert slot["run"]["id"] == str(fired[0].run_id) and slot["run"]["format"] == "CSV"
    assert slot["run"]["requestedBy"] == tenant.admin_subject and seen["lastSlot"] == slot["slot"]
    as_member = (await gql(gw, ONE, {"id": mine["id"]}, token=member))["data"]["reportSchedule"]
    assert as_member["lastRuns"][0]["runId"] == slot["runId"] and as_member["lastRuns"][0]["run"] is None

    # Deleting: the owner (member) their own, an admin anyone's; gone afterwards.
    for sid, token in ((theirs["id"], member), (mine["id"], admin)):
        r = await gql(gw, DELETE, {"id": sid}, token=token)
        assert r["data"]["deleteReportSchedule"] == {"deleted": True, "errors": []}, r
        assert (await gql(gw, ONE, {"id": sid}, token=admin))["data"]["reportSchedule"] is None
    r = await gql(gw, DELETE, {"id": mine["id"]}, token=admin)
    assert r["data"]["deleteReportSchedule"]["errors"][0]["code"] == "NOT_FOUND"
    assert await _count(reports_pool, tenant.org_id) == 0


async def test_bad_input_names_the_field_and_changes_nothing(
    ready: Any, reports_pool: Any, tenant: Any, other_tenant: Any
) -> None:
    gw, admin = ready, tenant.admin_token
    admin_id = await _me(gw, admin)
    foreign_member = await _me(gw, other_tenant.member_token)
    foreign_team = (await gql(gw, CREATE_TEAM, {"n": f"t-{uuid.uuid4().hex[:6]}"}, token=other_tenant.admin_token))[
        "data"
    ]["createTeam"]["team"]["id"]
    cases: list[tuple[dict[str, Any], str]] = [
        (daily(cadence="CRON", time=None, cron="0 25 * * *"), "input.cron"),
        (daily(cadence="CRON", time=None, cron="* * * * *"), "input.cron"),  # more often than every 5 minutes
        (daily(cadence="CRON", cron="0 7 * * *"), "input.time"),  # a field the cadence does not use
        (daily(timeZone="Europe/Lindon"), "input.timeZone"),
        (daily(time="7am"), "input.time"),
        (daily(cadence="WEEKLY"), "input.weekday"),
        (daily(cadence="MONTHLY", dayOfMonth=32), "input.dayOfMonth"),
        (daily(name=" "), "input.name"),
        (daily(memberIds=[admin_id, foreign_member]), "input.memberIds[1]"),
        (daily(memberIds=[admin_id, str(uuid.uuid4())]), "input.memberIds[1]"),
        (daily(memberIds=[admin_id, "not-an-id"]), "input.memberIds[1]"),
        (daily(teamIds=[foreign_team]), "input.teamIds[0]"),
        (daily(report={**REPORT, "columns": ["no_such_column"]}), "input.report.columns[0]"),
        (daily(report={"report": "no_such_report"}), "input.report.report"),
    ]
    messages = []
    for body, field in cases:
        r = await gql(gw, SCHEDULE, {"input": body}, token=admin)
        assert r.get("errors") is None, r
        payload = r["data"]["scheduleReport"]
        assert payload["schedule"] is None and [e["field"] for e in payload["errors"]] == [field], (body, payload)
        messages.append(payload["errors"][0]["message"])
    # Another organisation's member reads exactly as an unknown id.
    assert messages[8] == messages[9] and "no member of this organisation" in messages[8]
    assert await _count(reports_pool, tenant.org_id) == 0

    # The same refusals on update, and the schedule stays as it was.
    s = await _ok(gw, SCHEDULE, {"input": daily()}, admin, "scheduleReport")
    r = await gql(gw, UPDATE, {"id": s["id"], "input": daily(timeZone="Mars/Olympus")}, token=admin)
    assert [e["field"] for e in r["data"]["updateReportSchedule"]["errors"]] == ["input.timeZone"]
    after = (await gql(gw, ONE, {"id": s["id"]}, token=admin))["data"]["reportSchedule"]
    assert after["timeZone"] == "Europe/London" and after["nextSlot"] == s["nextSlot"]


async def test_another_organisation_and_provider_users_get_nothing(
    ready: Any, reports_pool: Any, tenant: Any, other_tenant: Any
) -> None:
    gw = ready
    s = await _ok(gw, SCHEDULE, {"input": daily()}, tenant.admin_token, "scheduleReport")
    intruder = other_tenant.admin_token

    assert (await gql(gw, LIST, token=intruder))["data"]["reportSchedules"] == []
    assert (await gql(gw, ONE, {"id": s["id"]}, token=intruder))["data"]["reportSchedule"] is None
    for query, name in ((PAUSE, "pauseReportSchedule"), (RESUME, "resumeReportSchedule")):
        r = await gql(gw, query, {"id": s["id"]}, token=intruder)
        assert [(e["field"], e["code"]) for e in r["data"][name]["errors"]] == [("id", "NOT_FOUND")], r
    r = await gql(gw, UPDATE, {"id": s["id"], "input": daily(name="Taken over")}, token=intruder)
    assert [(e["field"], e["code"]) for e in r["data"]["updateReportSchedule"]["errors"]] == [("id", "NOT_FOUND")]
    r = await gql(gw, DELETE, {"id": s["id"]}, token=intruder)
    assert r["data"]["deleteReportSchedule"]["deleted"] is False
    assert r["data"]["deleteReportSchedule"]["errors"][0]["code"] == "NOT_FOUND"
    # Their own schedule cannot name this organisation's members either.
    r = await gql(gw, SCHEDULE, {"input": daily(memberIds=[s["ownerMemberId"]])}, token=intruder)
    assert [e["field"] for e in r["data"]["scheduleReport"]["errors"]] == ["input.memberIds[0]"]

    mine = (await gql(gw, ONE, {"id": s["id"]}, token=tenant.admin_token))["data"]["reportSchedule"]
    assert (mine["name"], mine["status"], mine["nextSlot"]) == ("Daily orders", "ACTIVE", s["nextSlot"])
    assert await _count(reports_pool, other_tenant.org_id) == 0

    # Provider users: refused as a whole.
    assert _forbidden(await gql(gw, LIST, token=tenant.provider_token))
    assert _forbidden(await gql(gw, SCHEDULE, {"input": daily()}, token=tenant.provider_token))
    assert _forbidden(await gql(gw, PAUSE, {"id": s["id"]}, token=tenant.provider_token))
    assert await _count(reports_pool, tenant.org_id) == 1
