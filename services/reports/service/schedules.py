"""Report schedules' workflows: creating and changing them (the API), and firing a due slot (the scheduler).

Recipients are member and team ids of the organisation, kept as ids: who they are is asked of the orders
service (`/internal/recipients/resolve`, the owner of members and teams) when the schedule is made, to refuse
unknown ids (another organisation's look the same) and members without an email, and again at every slot, so a
member who left gets nothing and a team sends to whoever is in it that day. A schedule whose owner left is paused
at its next slot and the organisation's admins are mailed.

Firing is one tenant transaction per batch of an organisation's due schedules (`fire_batch`, up to MAX_BATCH):
lock their rows (SKIP LOCKED: another scheduler claims the next batch beside it), take the slots (a unique key),
advance `next_slot` past now (missed slots collapse into this one), resolve the recipients of the whole batch in
one call, create the runs and enqueue their jobs inside this transaction (a job whose run never committed is
dropped by the worker). Each of those steps is one statement or call for the batch, not one per schedule: 1,000
schedules due in one minute are ten batches. An orders service that does not answer rolls the batch back and its
slots fire on a later tick. Runs are created unchecked (`create_run(checked=False)`): a run the report refuses
(a missing FX rate, a PDF too large) fails at once in the worker and its requester, the schedule's owner, is
mailed why; an input the report no longer accepts (a column gone) is recorded on the slot as `refused` and the
owner mailed. The schedule goes on. Mail (admins, owner) is sent after the commit.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
from dramatiq import Message

from services.reports.domain import schedules as domain
from services.reports.domain.schedules import PausedReason, ScheduleStatus, Timing
from services.reports.repository import schedules as store
from services.reports.repository.schedules import Schedule
from services.reports.service import reports, runs
from shared import logging as slog
from shared.db import tenant_tx
from shared.errors import DomainError, ErrorCode, Forbidden, NotFound
from shared.mail import Mail
from shared.messaging.broker import get_broker
from shared.service.client import ServiceClient

logger = logging.getLogger("reports.schedules")

FORMATS = ("csv", "xlsx", "pdf")
MAX_MEMBERS = 100
MAX_TEAMS = 20
MAX_BATCH = 100  # schedules fired in one tenant transaction (the scheduler's batch)
RESOLVE_MAX = 200  # ids of each kind the orders service resolves in one call (its MAX_RECIPIENTS)
# The kit's mail actor (shared/messaging/mail_actors.py MAIL_QUEUE, SEND_MAIL), by name: importing that module
# would declare its actors in the scheduler.
MAIL_QUEUE, SEND_MAIL = "mail", "mail.send"


class OrdersDirectory(ServiceClient):
    """The orders service as the reports service asks it who members and teams are now."""

    service = "orders"
    caller = "reports"

    async def resolve(self, org_id: UUID, member_ids: list[UUID], team_ids: list[UUID]) -> dict[str, Any]:
        result: dict[str, Any] = await self.call(
            "POST",
            "/internal/recipients/resolve",
            org_id=org_id,
            json={"memberIds": [str(i) for i in member_ids], "teamIds": [str(i) for i in team_ids]},
        )
        return result

    async def members(self, org_id: UUID) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.call("GET", "/internal/members", org_id=org_id)
        return result


@dataclass(frozen=True)
class Actor:
    """Who asks: their subject and role from the service token, their member id from the gateway."""

    subject: str
    role: str | None
    member_id: UUID | None = None

    @property
    def admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class Draft:
    """A schedule as asked for, validated: what to run, when, for whom."""

    name: str
    input: dict[str, Any]
    format: str
    timing: Timing
    member_ids: list[UUID]
    team_ids: list[UUID]


def _invalid(field: str, message: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, message, field)


def _ids(raw: Any, field: str, limit: int) -> list[UUID]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _invalid(field, "is a list of ids")
    if len(raw) > limit:
        raise _invalid(field, f"holds at most {limit} ids")
    out: list[UUID] = []
    for i, value in enumerate(raw):
        try:
            out.append(UUID(str(value)))
        except ValueError:
            raise DomainError(ErrorCode.INVALID_ID, "is not a valid id", f"{field}[{i}]") from None
    return list(dict.fromkeys(out))


async def draft(
    conn: asyncpg.Connection, directory: OrdersDirectory, org_id: UUID, body: dict[str, Any], owner: UUID | None
) -> Draft:
    """The body validated (every refusal names its field): the report input in the organisation's zone, the
    timing, and the recipients as the orders service knows them now. With no recipient, the owner is one."""
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise _invalid("name", "is 1 to 200 characters")
    fmt = body.get("format")
    if fmt not in FORMATS:
        raise _invalid("format", f"is one of {', '.join(FORMATS)}")
    raw_input = body.get("input")
    if not isinstance(raw_input, dict):
        raise _invalid("input", "is a report configuration")
    await reports.parse(conn, org_id, raw_input)  # refusals name input.<field>
    timing = domain.parse_timing(body)
    member_ids = _ids(body.get("memberIds"), "memberIds", MAX_MEMBERS)
    team_ids = _ids(body.get("teamIds"), "teamIds", MAX_TEAMS)
    if not member_ids and not team_ids and owner is not None:
        member_ids = [owner]
    if not member_ids and not team_ids:
        raise _invalid("memberIds", "name at least one member or team")
    resolved = await directory.resolve(org_id, member_ids, team_ids)
    unknown_members = set(resolved["unknownMemberIds"])
    unknown_teams = set(resolved["unknownTeamIds"])
    for i, m in enumerate(member_ids):
        if str(m) in unknown_members:
            raise _invalid(f"memberIds[{i}]", "no member of this organisation has this id")
    for i, t in enumerate(team_ids):
        if str(t) in unknown_teams:
            raise _invalid(f"teamIds[{i}]", "no team of this organisation has this id")
    no_email = {m["id"] for m in resolved["members"] if m.get("emailMissing")}
    for i, m in enumerate(member_ids):
        if str(m) in no_email:
            raise _invalid(f"memberIds[{i}]", "this member has no email address to send the report to")
    return Draft(name.strip(), raw_input, fmt, timing, member_ids, team_ids)


def _may_change(s: Schedule, actor: Actor) -> None:
    if not actor.admin and s.owner_subject != actor.subject:
        raise Forbidden("only the schedule's owner or an admin may change it")


async def _found(conn: asyncpg.Connection, org_id: UUID, id: UUID) -> Schedule:
    found = await store.get(conn, org_id, id, lock=True)
    if found is None:
        raise NotFound("report schedule")
    return found


async def create(
    conn: asyncpg.Connection, directory: OrdersDirectory, org_id: UUID, actor: Actor, body: dict[str, Any]
) -> Schedule:
    if actor.member_id is None:
        raise _invalid("memberId", "the owner's member id is required")
    d = await draft(conn, directory, org_id, body, actor.member_id)
    owner_known = await directory.resolve(org_id, [actor.member_id], [])
    if owner_known["unknownMemberIds"]:
        raise _invalid("memberId", "no member of this organisation has this id")
    now = datetime.now(UTC)
    return await store.create(
        conn,
        org_id,
        uuid.uuid4(),
        d.name,
        actor.subject,
        actor.member_id,
        d.input,
        d.format,
        d.timing,
        d.member_ids,
        d.team_ids,
        domain.next_slot(d.timing, now),
    )


async def update(
    conn: asyncpg.Connection, directory: OrdersDirectory, org_id: UUID, actor: Actor, id: UUID, body: dict[str, Any]
) -> Schedule:
    """Replaces the schedule's report, timing and recipients; an active one's next slot follows the new timing."""
    s = await _found(conn, org_id, id)
    _may_change(s, actor)
    d = await draft(conn, directory, org_id, body, s.owner_member_id)
    nxt = domain.next_slot(d.timing, datetime.now(UTC)) if s.status is ScheduleStatus.ACTIVE else None
    return await store.update(conn, org_id, id, d.name, d.input, d.format, d.timing, d.member_ids, d.team_ids, nxt)


async def pause(conn: asyncpg.Connection, org_id: UUID, actor: Actor, id: UUID) -> Schedule:
    s = await _found(conn, org_id, id)
    _may_change(s, actor)
    if s.status is ScheduleStatus.PAUSED:
        return s
    return await store.set_status(conn, org_id, id, ScheduleStatus.PAUSED, PausedReason.BY_USER, None)


async def resume(
    conn: asyncpg.Connection, directory: OrdersDirectory, org_id: UUID, actor: Actor, id: UUID
) -> Schedule:
    """Active again from the next slot after now (slots while paused are not caught up). A schedule paused
    because its owner left is taken over by whoever resumes it (an admin: the owner is gone)."""
    s = await _found(conn, org_id, id)
    _may_change(s, actor)
    if s.status is ScheduleStatus.ACTIVE:
        return s
    if s.paused_reason is PausedReason.OWNER_LEFT:
        if actor.member_id is None:
            raise _invalid("memberId", "the new owner's member id is required")
        await store.set_owner(conn, org_id, id, actor.subject, actor.member_id)
    nxt = domain.next_slot(s.timing, datetime.now(UTC))
    return await store.set_status(conn, org_id, id, ScheduleStatus.ACTIVE, None, nxt)


async def delete(conn: asyncpg.Connection, org_id: UUID, actor: Actor, id: UUID) -> None:
    s = await _found(conn, org_id, id)
    _may_change(s, actor)
    await store.delete(conn, org_id, id)


def schedule_json(s: Schedule, slots: list[store.Slot] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(s.id),
        "name": s.name,
        "owner": s.owner_subject,
        "ownerMemberId": str(s.owner_member_id),
        "input": s.input,
        "format": s.format,
        **s.timing.as_json(),
        "memberIds": [str(i) for i in s.member_ids],
        "teamIds": [str(i) for i in s.team_ids],
        "status": s.status.value,
        "pausedReason": s.paused_reason.value if s.paused_reason else None,
        "nextSlot": s.next_slot.isoformat() if s.next_slot else None,
        "lastSlot": s.last_slot.isoformat() if s.last_slot else None,
        "createdAt": s.created_at.isoformat(),
        "updatedAt": s.updated_at.isoformat(),
    }
    if slots is not None:
        out["slots"] = [
            {
                "slot": t.slot.isoformat(),
                "outcome": t.outcome,
                "runId": str(t.run_id) if t.run_id else None,
                "recipients": t.recipients,
                "dropped": t.dropped,
                "error": t.error,
                "firedAt": t.fired_at.isoformat(),
            }
            for t in slots
        ]
    return out


# Firing (the scheduler).


@dataclass
class Fired:
    """What one slot did, and the mail to send once its transaction has committed."""

    org_id: UUID
    schedule_id: UUID
    slot: datetime
    outcome: str
    run_id: UUID | None = None
    recipients: list[dict[str, str]] = field(default_factory=list)
    dropped: int = 0
    mails: list[tuple[str, Mail]] = field(default_factory=list)


def _recipients(resolved: dict[str, Any]) -> tuple[list[dict[str, str]], int]:
    """Current members with an email, once each, from the members and teams named; and how many were dropped."""
    out: dict[str, dict[str, str]] = {}
    dropped = 0
    everyone = list(resolved["members"]) + [m for t in resolved["teams"] for m in t["members"]]
    for m in everyone:
        if m.get("emailMissing") or not m.get("email"):
            dropped += 1
            continue
        out.setdefault(m["id"], {"memberId": m["id"], "email": m["email"]})
    dropped += len(resolved["unknownMemberIds"]) + len(resolved["unknownTeamIds"])
    return list(out.values()), dropped


def _owner_left_mail(s: Schedule, admin_email: str) -> Mail:
    return Mail(
        to=admin_email,
        subject=f"Report schedule paused: {s.name}",
        text=(
            f'The report schedule "{s.name}" was paused: its owner is no longer a member of the organisation.\n'
            "Nothing was sent. An admin can resume it (and so become its owner), change it or delete it.\n"
        ),
    )


def _refused_mail(s: Schedule, owner_email: str, reason: str, slot: datetime) -> Mail:
    return Mail(
        to=owner_email,
        subject=f"Scheduled report not sent: {s.name}",
        text=(
            f'The report schedule "{s.name}" could not run its slot of {slot.isoformat()}: {reason}\n'
            "The schedule stays active; its next slot runs as usual.\n"
        ),
    )


@dataclass
class _Taken:
    """A slot this batch took, while it is being decided."""

    schedule: Schedule
    slot: datetime
    following: datetime
    fired: Fired | None = None


def _subset(resolved: dict[str, Any], member_ids: list[UUID], team_ids: list[UUID]) -> dict[str, Any]:
    """One schedule's share of a batch's `resolve` answer, shaped as `resolve` answers for it alone."""
    members = {m["id"]: m for m in resolved["members"]}
    teams = {t["id"]: t for t in resolved["teams"]}
    unknown_m, unknown_t = set(resolved["unknownMemberIds"]), set(resolved["unknownTeamIds"])
    ms, ts = [str(i) for i in dict.fromkeys(member_ids)], [str(i) for i in dict.fromkeys(team_ids)]
    return {
        "members": [members[i] for i in ms if i in members],
        "teams": [teams[i] for i in ts if i in teams],
        "unknownMemberIds": [i for i in ms if i in unknown_m],
        "unknownTeamIds": [i for i in ts if i in unknown_t],
    }


async def resolve_all(
    directory: OrdersDirectory, org_id: UUID, member_ids: list[UUID], team_ids: list[UUID]
) -> dict[str, Any]:
    """`directory.resolve` of every id at once, in as few calls as its limits allow (RESOLVE_MAX of each kind
    per call), merged into one answer."""
    members, teams = list(dict.fromkeys(member_ids)), list(dict.fromkeys(team_ids))
    out: dict[str, Any] = {"members": [], "teams": [], "unknownMemberIds": [], "unknownTeamIds": []}
    for at in range(0, max(len(members), len(teams), 1), RESOLVE_MAX):
        part = await directory.resolve(org_id, members[at : at + RESOLVE_MAX], teams[at : at + RESOLVE_MAX])
        for key in out:
            out[key].extend(part[key])
    return out


async def fire_batch(
    pool: asyncpg.Pool, directory: OrdersDirectory, org_id: UUID, now: datetime, limit: int
) -> list[Fired]:
    """Fires up to `limit` of the organisation's due schedules, each slot once, in one tenant transaction: the
    schedules claimed in one statement (SKIP LOCKED: another scheduler takes the next ones), their slots taken and
    next slots set in one statement each, the recipients of all of them resolved in one call to the orders
    service, the runs inserted and their jobs enqueued in one thread hop, what each slot did recorded in one
    statement. What each fired slot did; empty when none is left to claim. Any failure (the orders service or
    Redis down) rolls the whole batch back: its schedules are still due on the next tick."""
    with slog.bound_org(str(org_id)):
        async with tenant_tx(pool, org_id) as conn:
            claimed = await store.claim_batch(conn, org_id, now, limit)
            taken: list[_Taken] = []
            for s in claimed:
                assert s.next_slot is not None  # active
                taken.append(_Taken(s, *domain.due(s.timing, s.next_slot, now)))
            if not taken:
                return []
            await store.advance_many(conn, org_id, [(t.schedule.id, t.slot, t.following) for t in taken])
            won = await store.take_slots(conn, org_id, [(t.schedule.id, t.slot) for t in taken])
            taken = [t for t in taken if t.schedule.id in won]  # the others had fired: only their next slot moved
            if not taken:
                return []
            resolved = await resolve_all(
                directory,
                org_id,
                [i for t in taken for i in (t.schedule.owner_member_id, *t.schedule.member_ids)],
                [i for t in taken for i in t.schedule.team_ids],
            )
            records: list[store.SlotRecord] = []
            admins: list[dict[str, Any]] | None = None
            run_ids: list[UUID] = []
            for t in taken:
                s, slot = t.schedule, t.slot
                mine = _subset(resolved, [s.owner_member_id, *s.member_ids], s.team_ids)
                owner = next((m for m in mine["members"] if m["id"] == str(s.owner_member_id)), None)
                if owner is None:
                    await store.set_status(conn, org_id, s.id, ScheduleStatus.PAUSED, PausedReason.OWNER_LEFT, None)
                    records.append(store.SlotRecord(s.id, slot, "owner_left"))
                    if admins is None:
                        admins = [
                            m for m in await directory.members(org_id) if m.get("role") == "admin" and m.get("email")
                        ]
                    mails = [
                        (f"report-schedule-paused:{s.id}:{slot.isoformat()}:{m['id']}", _owner_left_mail(s, m["email"]))
                        for m in admins
                    ]
                    t.fired = Fired(org_id, s.id, slot, "owner_left", mails=mails)
                    continue
                if s.owner_member_id not in s.member_ids:
                    mine["members"] = [m for m in mine["members"] if m["id"] != str(s.owner_member_id)]
                recipients, dropped = _recipients(mine)
                if not recipients:
                    records.append(store.SlotRecord(s.id, slot, "no_recipients", dropped=dropped))
                    t.fired = Fired(org_id, s.id, slot, "no_recipients", dropped=dropped)
                    continue
                requester = {"subject": s.owner_subject, "email": owner.get("email") or "", "role": owner["role"]}
                try:
                    async with conn.transaction():  # a savepoint: a refused run leaves the slot recorded
                        run = await runs.create_run(
                            conn, org_id, requester, s.input, s.format, recipients=recipients, checked=False, send=False
                        )
                except DomainError as exc:
                    reason = f"{exc.field}: {exc.message}" if exc.field else exc.message
                    records.append(store.SlotRecord(s.id, slot, "refused", dropped=dropped, error=reason))
                    mails = []
                    if owner.get("email"):
                        key = f"report-schedule-refused:{s.id}:{slot.isoformat()}"
                        mails.append((key, _refused_mail(s, owner["email"], reason, slot)))
                    t.fired = Fired(org_id, s.id, slot, "refused", dropped=dropped, mails=mails)
                    continue
                run_id = UUID(str(run["id"]))
                run_ids.append(run_id)
                records.append(store.SlotRecord(s.id, slot, "run", run_id, len(recipients), dropped))
                t.fired = Fired(org_id, s.id, slot, "run", run_id, recipients, dropped)
            await store.record_slots(conn, org_id, records)
            # Inside the transaction: a job whose run never commits is dropped by the worker (runs.ORPHAN_SECONDS).
            await runs.enqueue_many(org_id, run_ids)
    return [t.fired for t in taken if t.fired is not None]


async def send_mails(*fired: Fired) -> None:
    """After the commit: each mail to the kit's mail actor (`mail.send`, idempotent per key), sent by name so
    the scheduler declares no actors; all from one thread hop."""
    messages: list[Message[None]] = [
        Message(queue_name=MAIL_QUEUE, actor_name=SEND_MAIL, args=(key, mail.to_payload()), kwargs={}, options={})
        for f in fired
        for key, mail in f.mails
    ]
    if not messages:
        return
    broker = get_broker()

    def send_all() -> None:
        for message in messages:
            broker.enqueue(message)

    await asyncio.to_thread(send_all)
