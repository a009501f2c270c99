"""Report schedules (reports service, services/reports/service/schedules.py): a report configuration run and mailed
on a daily, weekly, monthly or cron cadence at a local time in an IANA zone, to members and teams.

`scheduleReport(input)` makes one owned by the viewer: the gateway sends the viewer's member id as the owner
(`memberId`), never one from the client, so nobody schedules mail in another member's name. Any member reads the
organisation's schedules and makes their own; the owner and the admins edit, pause, resume and delete (the service
checks: another member's attempt is refused as a whole with `FORBIDDEN`). Provider users are refused by the reports
service like every report field.

Recipients read as people: `members` (each member id with its email and role as the orders service knows them
now; `isMember` false for one who left, who gets nothing) and `teams` (each team id with its name and members),
and `ownerMember`. The orders service owns members and teams; a request asks it for the organisation's members
and its teams at most once each (`GET /internal/members`, `GET /internal/teams`, through per-request DataLoaders
that every schedule of the page shares), never once per schedule.

Bad input is answered in the payload's `errors`, naming the field as the client wrote it (`input.cron`,
`input.timeZone`, `input.memberIds[1]`, `input.report.columns[0]`); nothing is changed. Another organisation's
member or team reads exactly as an unknown id, and another organisation's schedule as an unknown one: null for
reads, `NOT_FOUND` naming `id` for mutations.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.scalars import JSON
from strawberry.types import Info

from services.gateway.clients import ServiceError
from services.gateway.graphql.context import Context, ServiceName, parse_id
from services.gateway.graphql.errors import UserError, from_service
from services.gateway.graphql.reports import ReportInput, ReportRun, ReportRunFormat

Row = dict[str, Any]
BASE = "/internal/reports/schedules"
MAX_SLOTS = 50  # what the reports service answers per schedule (its newest slots)

# Fields the service names that are not inside the mutation's `input`: the schedule's id, and the owner's member
# id the gateway itself sends.
_OUTSIDE_INPUT = {"id", "memberId"}


@strawberry.enum
class ReportScheduleCadence(Enum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    CRON = "cron"


@strawberry.enum
class ReportScheduleStatus(Enum):
    ACTIVE = "active"
    PAUSED = "paused"


@strawberry.enum(description="Why a schedule is paused: by its owner or an admin, or because its owner left.")
class ReportSchedulePausedReason(Enum):
    BY_USER = "paused"
    OWNER_LEFT = "owner_left"


@strawberry.enum(description="What a fired slot did: a run, or why there is none.")
class ReportScheduleSlotOutcome(Enum):
    RUN = "run"
    OWNER_LEFT = "owner_left"
    NO_RECIPIENTS = "no_recipients"
    REFUSED = "refused"


@strawberry.input(description="A schedule: what to run (a report configuration and format), when, and for whom.")
class ReportScheduleInput:
    name: str
    format: ReportRunFormat
    report: ReportInput
    cadence: ReportScheduleCadence
    time_zone: str = strawberry.field(description="IANA zone the slots follow (e.g. Europe/London), DST included.")
    time: str | None = strawberry.field(default=None, description="Local HH:MM (DAILY, WEEKLY, MONTHLY).")
    weekday: int | None = strawberry.field(default=None, description="ISO: 1 Monday .. 7 Sunday (WEEKLY).")
    day_of_month: int | None = strawberry.field(
        default=None, description="1 to 31 (MONTHLY); a month without that day runs on its last day."
    )
    cron: str | None = strawberry.field(
        default=None, description="Five fields in time_zone (CRON); at most every 5 minutes."
    )
    member_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Members mailed; with neither members nor teams, you are the recipient."
    )
    team_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Teams mailed: whoever is in the team at each slot."
    )

    def to_json(self, member_id: str) -> Row:
        """The service's body. Fields the cadence does not use are left out only when null: a value given for one is
        refused by the service naming it, so nothing is silently ignored."""
        out: Row = {
            "name": self.name,
            "format": self.format.value,
            "input": self.report.to_json(),
            "cadence": self.cadence.value,
            "timeZone": self.time_zone,
            "memberIds": [str(i) for i in self.member_ids or []],
            "teamIds": [str(i) for i in self.team_ids or []],
            "memberId": member_id,
        }
        for name, value in (
            ("time", self.time),
            ("weekday", self.weekday),
            ("dayOfMonth", self.day_of_month),
            ("cron", self.cron),
        ):
            if value is not None:
                out[name] = value
        return out


def _field(name: str | None) -> str | None:
    """The service's field name as the client wrote it: the body is the mutation's `input`, and the body's report
    configuration (`input` to the service) is `input.report`."""
    if name is None or name in _OUTSIDE_INPUT:
        return name
    if name == "input" or name.startswith(("input.", "input[")):
        return "input.report" + name[len("input") :]
    return f"input.{name}"


def _user_errors(exc: ServiceError) -> list[UserError]:
    if exc.errors:
        return [
            UserError(field=_field(e.get("field")), code=exc.code, message=e.get("message", exc.message))
            for e in exc.errors
        ]
    return [UserError(field=_field(exc.field), code=exc.code, message=exc.message)]


@strawberry.type(description="A slot a schedule fired: its run (what was sent), or why there is none.")
class ReportScheduleSlot:
    slot: dt.datetime = strawberry.field(description="The slot's instant (UTC).")
    outcome: ReportScheduleSlotOutcome
    run_id: strawberry.ID | None
    recipients: int = strawberry.field(description="Members the run was mailed to.")
    dropped: int = strawberry.field(description="Recipients left out: no longer members, or without an email.")
    error: str | None = strawberry.field(description="Why the run was refused (outcome REFUSED).")
    fired_at: dt.datetime

    @strawberry.field(description="The run; null when none, or when it is not yours to see (members see their own).")
    async def run(self, info: Info[Context, None]) -> ReportRun | None:
        if self.run_id is None:
            return None
        try:
            r = await info.context.call("reports", "GET", f"/internal/reports/runs/{self.run_id}")
        except ServiceError as exc:
            if exc.status == 404:
                return None
            raise from_service(exc) from None
        return ReportRun.from_row(r)

    @classmethod
    def from_row(cls, r: Row) -> ReportScheduleSlot:
        return cls(
            slot=dt.datetime.fromisoformat(r["slot"]),
            outcome=ReportScheduleSlotOutcome(r["outcome"]),
            run_id=strawberry.ID(r["runId"]) if r["runId"] else None,
            recipients=r["recipients"],
            dropped=r["dropped"],
            error=r.get("error"),
            fired_at=dt.datetime.fromisoformat(r["firedAt"]),
        )


def _directory(info: Info[Context, None], kind: str) -> DataLoader[str, Row | None]:
    """This request's loader of the organisation's members or teams by id (`kind`: members, teams): whatever ids
    the page's schedules ask for, one call lists them all, in the viewer's organisation (another organisation's
    ids are simply not in it)."""
    key: tuple[ServiceName, str] = ("orders", f"{kind}:listed")
    loader = info.context.loaders.get(key)
    if loader is None:

        async def load(ids: list[str]) -> list[Row | None]:
            rows: list[Row] = await info.context.call("orders", "GET", f"/internal/{kind}")
            by_id = {str(r["id"]): r for r in rows}
            return [by_id.get(i) for i in ids]

        loader = info.context.loaders[key] = DataLoader(load_fn=load)
    return loader


@strawberry.type(description="A member a schedule names, as the organisation knows them now.")
class ReportScheduleMember:
    id: strawberry.ID
    email: str | None = strawberry.field(description="Null when they are no longer a member.")
    role: str | None = strawberry.field(description="admin or member; null when they are no longer a member.")
    is_member: bool = strawberry.field(description="False for someone who left: they get nothing.")

    @classmethod
    def of(cls, id: str, row: Row | None) -> ReportScheduleMember:
        if row is None:
            return cls(id=strawberry.ID(id), email=None, role=None, is_member=False)
        return cls(id=strawberry.ID(id), email=row.get("email"), role=row.get("role"), is_member=True)


@strawberry.type(description="A team a schedule names: its members at the next slot are mailed.")
class ReportScheduleTeam:
    id: strawberry.ID
    name: str | None = strawberry.field(description="Null when the team was deleted.")
    members: list[ReportScheduleMember] = strawberry.field(description="Its members now.")
    exists: bool


@strawberry.type(description="A report run and mailed on a cadence, owned by the member who made it.")
class ReportSchedule:
    id: strawberry.ID
    name: str
    owner: str = strawberry.field(description="The owner's subject (who the runs are requested by).")
    owner_member_id: strawberry.ID
    report: JSON = strawberry.field(description="The report configuration (ReportInput's JSON).")
    format: ReportRunFormat
    cadence: ReportScheduleCadence
    time_zone: str
    time: str | None
    weekday: int | None
    day_of_month: int | None
    cron: str | None
    member_ids: list[strawberry.ID] = strawberry.field(description="Members mailed (checked again at each slot).")
    team_ids: list[strawberry.ID] = strawberry.field(description="Teams mailed (their members at each slot).")
    status: ReportScheduleStatus
    paused_reason: ReportSchedulePausedReason | None
    next_slot: dt.datetime | None = strawberry.field(description="When it runs next (UTC); null while paused.")
    last_slot: dt.datetime | None = strawberry.field(description="The latest slot it fired (UTC).")
    created_at: dt.datetime
    updated_at: dt.datetime
    can_change: bool = strawberry.field(description="Whether you may edit, pause, resume or delete it.")
    slots: strawberry.Private[list[Row] | None]

    @strawberry.field(description="The newest fired slots, newest first, each with its run or why there is none.")
    async def last_runs(self, info: Info[Context, None], first: int = 10) -> list[ReportScheduleSlot]:
        first = max(0, min(first, MAX_SLOTS))
        slots = self.slots
        if slots is None:  # a listed schedule: its slots are read when asked for
            try:
                r = await info.context.call("reports", "GET", f"{BASE}/{self.id}")
            except ServiceError as exc:
                if exc.status == 404:
                    return []  # deleted meanwhile
                raise from_service(exc) from None
            slots = r.get("slots") or []
        return [ReportScheduleSlot.from_row(s) for s in slots[:first]]

    @strawberry.field(description="The members it mails, with their email as the organisation knows them now.")
    async def members(self, info: Info[Context, None]) -> list[ReportScheduleMember]:
        ids = [str(i) for i in self.member_ids]
        rows = await _directory(info, "members").load_many(ids)
        return [ReportScheduleMember.of(i, r) for i, r in zip(ids, rows, strict=True)]

    @strawberry.field(description="The teams it mails, with their names and members now.")
    async def teams(self, info: Info[Context, None]) -> list[ReportScheduleTeam]:
        ids = [str(i) for i in self.team_ids]
        rows = await _directory(info, "teams").load_many(ids)
        return [
            ReportScheduleTeam(id=strawberry.ID(i), name=None, members=[], exists=False)
            if r is None
            else ReportScheduleTeam(
                id=strawberry.ID(i),
                name=r["name"],
                members=[ReportScheduleMember.of(str(m["id"]), m) for m in r.get("members") or []],
                exists=True,
            )
            for i, r in zip(ids, rows, strict=True)
        ]

    @strawberry.field(description="The owner as the organisation knows them now (isMember false: they left).")
    async def owner_member(self, info: Info[Context, None]) -> ReportScheduleMember:
        row = await _directory(info, "members").load(str(self.owner_member_id))
        return ReportScheduleMember.of(str(self.owner_member_id), row)

    @classmethod
    def from_row(cls, r: Row, info: Info[Context, None]) -> ReportSchedule:
        def when(v: str | None) -> dt.datetime | None:
            return dt.datetime.fromisoformat(v) if v else None

        viewer = info.context.viewer
        return cls(
            id=strawberry.ID(r["id"]),
            name=r["name"],
            owner=r["owner"],
            owner_member_id=strawberry.ID(r["ownerMemberId"]),
            report=r["input"],
            format=ReportRunFormat(r["format"]),
            cadence=ReportScheduleCadence(r["cadence"]),
            time_zone=r["timeZone"],
            time=r["time"],
            weekday=r["weekday"],
            day_of_month=r["dayOfMonth"],
            cron=r["cron"],
            member_ids=[strawberry.ID(i) for i in r["memberIds"]],
            team_ids=[strawberry.ID(i) for i in r["teamIds"]],
            status=ReportScheduleStatus(r["status"]),
            paused_reason=ReportSchedulePausedReason(r["pausedReason"]) if r["pausedReason"] else None,
            next_slot=when(r["nextSlot"]),
            last_slot=when(r["lastSlot"]),
            created_at=dt.datetime.fromisoformat(r["createdAt"]),
            updated_at=dt.datetime.fromisoformat(r["updatedAt"]),
            can_change=viewer.role == "admin" or r["owner"] == viewer.subject,
            slots=r.get("slots"),
        )


@strawberry.type
class ReportSchedulePayload:
    schedule: ReportSchedule | None
    errors: list[UserError]


@strawberry.type
class DeleteReportSchedulePayload:
    deleted: bool
    errors: list[UserError]


@strawberry.type
class ReportSchedulesQuery:
    @strawberry.field(description="The organisation's report schedules, by name.")
    async def report_schedules(self, info: Info[Context, None]) -> list[ReportSchedule]:
        r = await info.context.call("reports", "GET", BASE)
        return [ReportSchedule.from_row(x, info) for x in r["schedules"]]

    @strawberry.field
    async def report_schedule(self, info: Info[Context, None], id: strawberry.ID) -> ReportSchedule | None:
        key = parse_id(id, "id")
        try:
            r = await info.context.call("reports", "GET", f"{BASE}/{key}")
        except ServiceError as exc:
            if exc.status == 404:
                return None
            raise from_service(exc) from None
        return ReportSchedule.from_row(r, info)


async def _change(info: Info[Context, None], method: str, path: str, body: Row | None = None) -> ReportSchedulePayload:
    try:
        r = await info.context.call("reports", method, path, json=body if body is not None else {})
    except ServiceError as exc:
        return ReportSchedulePayload(schedule=None, errors=_user_errors(exc))
    return ReportSchedulePayload(schedule=ReportSchedule.from_row(r, info), errors=[])


@strawberry.type
class ReportSchedulesMutation:
    @strawberry.mutation(
        description="Schedules a report, owned by you: run on its cadence and mailed to its members and teams (you, "
        "when it names none). Recipients must be members of the organisation with an email."
    )
    async def schedule_report(self, info: Info[Context, None], input: ReportScheduleInput) -> ReportSchedulePayload:
        return await _change(info, "POST", BASE, input.to_json(info.context.viewer.member_id))

    @strawberry.mutation(
        description="Replaces a schedule's report, timing and recipients (its owner or an admin); an active one's "
        "next slot follows the new timing."
    )
    async def update_report_schedule(
        self, info: Info[Context, None], id: strawberry.ID, input: ReportScheduleInput
    ) -> ReportSchedulePayload:
        key = parse_id(id, "id")
        return await _change(info, "PUT", f"{BASE}/{key}", input.to_json(info.context.viewer.member_id))

    @strawberry.mutation(description="Stops a schedule's runs until it is resumed (its owner or an admin).")
    async def pause_report_schedule(self, info: Info[Context, None], id: strawberry.ID) -> ReportSchedulePayload:
        key = parse_id(id, "id")
        return await _change(info, "POST", f"{BASE}/{key}/pause", {"memberId": info.context.viewer.member_id})

    @strawberry.mutation(
        description="Runs a paused schedule again from its next slot (slots missed meanwhile are not caught up). "
        "An admin resuming a schedule paused because its owner left becomes its owner."
    )
    async def resume_report_schedule(self, info: Info[Context, None], id: strawberry.ID) -> ReportSchedulePayload:
        key = parse_id(id, "id")
        return await _change(info, "POST", f"{BASE}/{key}/resume", {"memberId": info.context.viewer.member_id})

    @strawberry.mutation(description="Deletes a schedule and its slot history (its owner or an admin).")
    async def delete_report_schedule(self, info: Info[Context, None], id: strawberry.ID) -> DeleteReportSchedulePayload:
        key = parse_id(id, "id")
        try:
            await info.context.call("reports", "DELETE", f"{BASE}/{key}")
        except ServiceError as exc:
            return DeleteReportSchedulePayload(deleted=False, errors=_user_errors(exc))
        return DeleteReportSchedulePayload(deleted=True, errors=[])
