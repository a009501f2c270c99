"""The SQL of report schedules and their slots (migration 004). Every statement names the organisation and runs
in its tenant transaction; the one cross-organisation read the scheduler needs (which organisations have schedules
due) goes through the owner's SECURITY DEFINER function (migration 009) and answers ids only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from uuid import UUID

import asyncpg

from services.reports.domain.schedules import Cadence, PausedReason, ScheduleStatus, Timing


@dataclass(frozen=True)
class Schedule:
    org_id: UUID
    id: UUID
    name: str
    owner_subject: str
    owner_member_id: UUID
    input: dict[str, Any]
    format: str
    timing: Timing
    member_ids: list[UUID]
    team_ids: list[UUID]
    status: ScheduleStatus
    paused_reason: PausedReason | None
    next_slot: datetime | None
    last_slot: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Slot:
    slot: datetime
    outcome: str
    run_id: UUID | None
    recipients: int
    dropped: int
    error: str | None
    fired_at: datetime


def _schedule(r: asyncpg.Record) -> Schedule:
    local: time | None = r["local_time"]
    return Schedule(
        org_id=r["org_id"],
        id=r["id"],
        name=r["name"],
        owner_subject=r["owner_subject"],
        owner_member_id=r["owner_member_id"],
        input=r["input"],
        format=r["format"],
        timing=Timing(
            cadence=Cadence(r["cadence"]),
            time_zone=r["time_zone"],
            local_time=local,
            weekday=r["weekday"],
            day_of_month=r["day_of_month"],
            cron=r["cron"],
        ),
        member_ids=list(r["member_ids"]),
        team_ids=list(r["team_ids"]),
        status=ScheduleStatus(r["status"]),
        paused_reason=PausedReason(r["paused_reason"]) if r["paused_reason"] else None,
        next_slot=r["next_slot"],
        last_slot=r["last_slot"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


async def create(
    conn: asyncpg.Connection,
    org_id: UUID,
    id: UUID,
    name: str,
    owner_subject: str,
    owner_member_id: UUID,
    input: dict[str, Any],
    format: str,
    timing: Timing,
    member_ids: list[UUID],
    team_ids: list[UUID],
    next_slot: datetime,
) -> Schedule:
    row = await conn.fetchrow(
        """INSERT INTO report_schedules (org_id, id, name, owner_subject, owner_member_id, input, format, cadence,
                                         local_time, weekday, day_of_month, cron, time_zone, member_ids, team_ids,
                                         status, next_slot, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 'active', $16, now(), now())
           RETURNING *""",
        org_id,
        id,
        name,
        owner_subject,
        owner_member_id,
        input,
        format,
        timing.cadence.value,
        timing.local_time,
        timing.weekday,
        timing.day_of_month,
        timing.cron,
        timing.time_zone,
        member_ids,
        team_ids,
        next_slot,
    )
    assert row is not None
    return _schedule(row)


async def get(conn: asyncpg.Connection, org_id: UUID, id: UUID, *, lock: bool = False) -> Schedule | None:
    sql = "SELECT * FROM report_schedules WHERE org_id = $1 AND id = $2"
    row = await conn.fetchrow(sql + (" FOR UPDATE" if lock else ""), org_id, id)
    return _schedule(row) if row else None


async def listed(conn: asyncpg.Connection, org_id: UUID) -> list[Schedule]:
    rows = await conn.fetch(
        "SELECT * FROM report_schedules WHERE org_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1000", org_id
    )
    return [_schedule(r) for r in rows]


async def update(
    conn: asyncpg.Connection,
    org_id: UUID,
    id: UUID,
    name: str,
    input: dict[str, Any],
    format: str,
    timing: Timing,
    member_ids: list[UUID],
    team_ids: list[UUID],
    next_slot: datetime | None,
) -> Schedule:
    """Replaces what the schedule does and when; a paused one stays paused (`next_slot` None)."""
    row = await conn.fetchrow(
        """UPDATE report_schedules
              SET name = $3, input = $4, format = $5, cadence = $6, local_time = $7, weekday = $8,
                  day_of_month = $9, cron = $10, time_zone = $11, member_ids = $12, team_ids = $13,
                  next_slot = $14, updated_at = now()
            WHERE org_id = $1 AND id = $2
        RETURNING *""",
        org_id,
        id,
        name,
        input,
        format,
        timing.cadence.value,
        timing.local_time,
        timing.weekday,
        timing.day_of_month,
        timing.cron,
        timing.time_zone,
        member_ids,
        team_ids,
        next_slot,
    )
    assert row is not None
    return _schedule(row)


async def set_status(
    conn: asyncpg.Connection,
    org_id: UUID,
    id: UUID,
    status: ScheduleStatus,
    reason: PausedReason | None,
    next_slot: datetime | None,
) -> Schedule:
    row = await conn.fetchrow(
        """UPDATE report_schedules SET status = $3, paused_reason = $4, next_slot = $5, updated_at = now()
            WHERE org_id = $1 AND id = $2 RETURNING *""",
        org_id,
        id,
        status.value,
        reason.value if reason else None,
        next_slot,
    )
    assert row is not None
    return _schedule(row)


async def delete(conn: asyncpg.Connection, org_id: UUID, id: UUID) -> bool:
    return await conn.fetchval("DELETE FROM report_schedules WHERE org_id = $1 AND id = $2 RETURNING true", org_id, id)


# The scheduler's statements: a batch of one organisation's due schedules at a time.


@dataclass(frozen=True)
class SlotRecord:
    """What became of a slot, as `record_slots` writes it."""

    schedule_id: UUID
    slot: datetime
    outcome: str
    run_id: UUID | None = None
    recipients: int = 0
    dropped: int = 0
    error: str | None = None


async def due_orgs(conn: asyncpg.Connection, now: datetime, limit: int) -> list[UUID]:
    """Organisations with active schedules whose next slot has passed, oldest due first (owner's function,
    migration 009: ids only, across organisations)."""
    rows = await conn.fetch("SELECT org_id FROM report_schedules_due_orgs($1, $2)", now, limit)
    return [r["org_id"] for r in rows]


async def claim_batch(conn: asyncpg.Connection, org_id: UUID, now: datetime, limit: int) -> list[Schedule]:
    """Up to `limit` of the organisation's due schedules, locked for this transaction; those another scheduler
    holds are skipped (SKIP LOCKED), so replicas take disjoint batches. One that another scheduler has just fired
    is not due any more (its next slot moved past `now`)."""
    rows = await conn.fetch(
        """SELECT * FROM report_schedules
            WHERE org_id = $1 AND status = 'active' AND next_slot <= $2
            ORDER BY next_slot, id
            LIMIT $3
              FOR UPDATE SKIP LOCKED""",
        org_id,
        now,
        limit,
    )
    return [_schedule(r) for r in rows]


async def advance_many(conn: asyncpg.Connection, org_id: UUID, moves: list[tuple[UUID, datetime, datetime]]) -> None:
    """(schedule, the slot fired as its last, its next slot) for each, in one statement."""
    await conn.execute(
        """UPDATE report_schedules s SET last_slot = m.last_slot, next_slot = m.next_slot
             FROM unnest($2::uuid[], $3::timestamptz[], $4::timestamptz[]) AS m(id, last_slot, next_slot)
            WHERE s.org_id = $1 AND s.id = m.id""",
        org_id,
        [m[0] for m in moves],
        [m[1] for m in moves],
        [m[2] for m in moves],
    )


async def take_slots(conn: asyncpg.Connection, org_id: UUID, slots: list[tuple[UUID, datetime]]) -> set[UUID]:
    """The schedules of `slots` (schedule, slot) whose slot this transaction took; the key refuses any second
    taker, whichever scheduler it is."""
    rows = await conn.fetch(
        """INSERT INTO report_schedule_slots (org_id, schedule_id, slot, outcome)
           SELECT $1, t.id, t.slot, 'run' FROM unnest($2::uuid[], $3::timestamptz[]) AS t(id, slot)
           ON CONFLICT DO NOTHING RETURNING schedule_id""",
        org_id,
        [t[0] for t in slots],
        [t[1] for t in slots],
    )
    return {r["schedule_id"] for r in rows}


async def record_slots(conn: asyncpg.Connection, org_id: UUID, records: list[SlotRecord]) -> None:
    """What each taken slot did, in one statement."""
    await conn.execute(
        """UPDATE report_schedule_slots s
              SET outcome = r.outcome, run_id = r.run_id, recipients = r.recipients, dropped = r.dropped,
                  error = r.error
             FROM unnest($2::uuid[], $3::timestamptz[], $4::text[], $5::uuid[], $6::int[], $7::int[], $8::text[])
                  AS r(schedule_id, slot, outcome, run_id, recipients, dropped, error)
            WHERE s.org_id = $1 AND s.schedule_id = r.schedule_id AND s.slot = r.slot""",
        org_id,
        [r.schedule_id for r in records],
        [r.slot for r in records],
        [r.outcome for r in records],
        [r.run_id for r in records],
        [r.recipients for r in records],
        [r.dropped for r in records],
        [r.error for r in records],
    )


async def slots(conn: asyncpg.Connection, org_id: UUID, id: UUID, limit: int = 50) -> list[Slot]:
    rows = await conn.fetch(
        """SELECT slot, outcome, run_id, recipients, dropped, error, fired_at FROM report_schedule_slots
            WHERE org_id = $1 AND schedule_id = $2 ORDER BY slot DESC LIMIT $3""",
        org_id,
        id,
        limit,
    )
    return [
        Slot(r["slot"], r["outcome"], r["run_id"], r["recipients"], r["dropped"], r["error"], r["fired_at"])
        for r in rows
    ]


async def set_owner(conn: asyncpg.Connection, org_id: UUID, id: UUID, subject: str, member_id: UUID) -> None:
    await conn.execute(
        "UPDATE report_schedules SET owner_subject = $3, owner_member_id = $4 WHERE org_id = $1 AND id = $2",
        org_id,
        id,
        subject,
        member_id,
    )
