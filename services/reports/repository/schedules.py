"""The SQL of report schedules and their slots (migration 004). Every statement names the organisation and runs
in its tenant transaction; the two cross-organisation reads the scheduler needs go through the owner's SECURITY
DEFINER functions and answer ids only."""

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


# The scheduler's statements.


async def due_ids(conn: asyncpg.Connection, now: datetime, limit: int) -> list[tuple[UUID, UUID]]:
    """(org, schedule) of active schedules whose next slot has passed, across organisations (owner's function)."""
    rows = await conn.fetch("SELECT org_id, id FROM report_schedules_due($1, $2)", now, limit)
    return [(r["org_id"], r["id"]) for r in rows]


async def claim_due(conn: asyncpg.Connection, org_id: UUID, id: UUID, now: datetime) -> Schedule | None:
    """The schedule, locked for this transaction, if it is still active and due; None when another scheduler holds
    it (SKIP LOCKED) or has fired it already (its next slot moved past `now`)."""
    row = await conn.fetchrow(
        """SELECT * FROM report_schedules
            WHERE org_id = $1 AND id = $2 AND status = 'active' AND next_slot <= $3
              FOR UPDATE SKIP LOCKED""",
        org_id,
        id,
        now,
    )
    return _schedule(row) if row else None


async def take_slot(conn: asyncpg.Connection, org_id: UUID, id: UUID, slot: datetime, outcome: str) -> bool:
    """True for the one taker of (`id`, `slot`); the key refuses any second one."""
    taken = await conn.fetchval(
        """INSERT INTO report_schedule_slots (org_id, schedule_id, slot, outcome) VALUES ($1, $2, $3, $4)
           ON CONFLICT DO NOTHING RETURNING true""",
        org_id,
        id,
        slot,
        outcome,
    )
    return bool(taken)


async def record_slot(
    conn: asyncpg.Connection,
    org_id: UUID,
    id: UUID,
    slot: datetime,
    outcome: str,
    run_id: UUID | None,
    recipients: int,
    dropped: int,
    error: str | None = None,
) -> None:
    await conn.execute(
        """UPDATE report_schedule_slots SET outcome = $4, run_id = $5, recipients = $6, dropped = $7, error = $8
            WHERE org_id = $1 AND schedule_id = $2 AND slot = $3""",
        org_id,
        id,
        slot,
        outcome,
        run_id,
        recipients,
        dropped,
        error,
    )


async def advance(conn: asyncpg.Connection, org_id: UUID, id: UUID, last_slot: datetime, next_slot: datetime) -> None:
    await conn.execute(
        "UPDATE report_schedules SET last_slot = $3, next_slot = $4 WHERE org_id = $1 AND id = $2",
        org_id,
        id,
        last_slot,
        next_slot,
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
