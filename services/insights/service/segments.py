"""Segments: their workflows, and every membership change published to the services that filter by segment.

Rules:
- Everyone in the organisation (admins and members) reads segments and their members; admins create, change
  and delete them (the API endpoints say `admin=True`). An unknown id and another organisation's are the same
  NOT_FOUND (every statement filters by organisation under row-level security).
- A dynamic segment's members are recomputed from its definition (domain/segments.py) when it is created or
  its definition changes, and periodically (`recompute_due`, from the worker: "in the last D days" moves with
  time). A static segment holds the list it was given (`replace_static_members`: manual lists, imported
  cohorts); a dynamic segment's members cannot be set by hand, nor a static one be given a definition.
- Every change is one set-based statement (repository/segments.py), `member_count` moves by the diff in the
  same transaction, and the diff is published through the outbox in that transaction too
  (`segment.members_changed`, batches of MEMBER_BATCH ids, all with the segment's new `version`); a deletion
  publishes `segment.deleted`. The copies (shared/service/segment_copies.py) apply them once per event id, and
  in any order, so once the events land the orders and reports services select exactly the members here.
- A new segment always publishes its first version, even with no members, so the copies know it exists: a
  filter naming a segment the copy never heard of is NOT_FOUND there, as here.

For the Mixpanel cohort import (stable names): `create_static(pool, org_id, name, source=...) -> UUID` and
`replace_static_members(pool, org_id, segment_id, customer_ids, source=...) -> MembershipDiff`, each in its
own tenant transaction; `*_in` variants take the caller's connection.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from services.insights.domain.segments import MAX_STATIC_MEMBERS, Definition, SegmentKind, parse_definition
from services.insights.repository import analytics as analytics_queries
from services.insights.repository import segments as store
from services.insights.repository.segments import Diff, Segment
from shared import logging as slog
from shared.db import tenant_tx
from shared.errors import DomainError, ErrorCode, NotFound
from shared.messaging import contracts
from shared.messaging.outbox import add_event
from shared.service.segment_copies import MEMBER_BATCH

logger = logging.getLogger("insights.segments")

# A dynamic segment is recomputed when its last computation is older than this (and the worker looks every
# RECOMPUTE_EVERY_SECONDS): a definition in days is at most this stale.
RECOMPUTE_AFTER = timedelta(hours=1)
RECOMPUTE_BATCH = 50
RECOMPUTE_EVERY_SECONDS = 300.0
# The worker's recompute may take longer than a request's statement timeout (5 s): a large organisation's
# "events in the last D days" groups its raw events of the range (bench/README.md, "Segments": 1.4-3.4 s over
# ~700,000 events).
WORKER_STATEMENT_TIMEOUT = "60s"
MANUAL = "manual"
DYNAMIC_MEMBERS = "a dynamic segment's members come from its definition"


@dataclass(frozen=True)
class MembershipDiff:
    """What a change did: the customers added and removed, the member count and version after it."""

    segment_id: UUID
    added: list[UUID]
    removed: list[UUID]
    member_count: int
    version: int


def _checked_ids(customer_ids: Sequence[UUID], field: str) -> list[UUID]:
    if len(customer_ids) > MAX_STATIC_MEMBERS:
        raise DomainError(ErrorCode.INVALID_INPUT, f"at most {MAX_STATIC_MEMBERS} customers", field)
    return list(dict.fromkeys(customer_ids))


async def _publish(conn: asyncpg.Connection, org_id: UUID, segment: Segment, diff: Diff) -> None:
    """The diff as `segment.members_changed` events of at most MEMBER_BATCH ids per list (one event when empty)."""
    n = max(len(diff.added), len(diff.removed), 1)
    for start in range(0, n, MEMBER_BATCH):
        payload = {
            "segment_id": str(segment.id),
            "version": segment.version,
            "added": [str(c) for c in diff.added[start : start + MEMBER_BATCH]],
            "removed": [str(c) for c in diff.removed[start : start + MEMBER_BATCH]],
        }
        await add_event(conn, org_id, contracts.SEGMENT_MEMBERS_CHANGED, payload)


async def _record(
    conn: asyncpg.Connection,
    org_id: UUID,
    segment_id: UUID,
    diff: Diff,
    *,
    first: bool = False,
    now: datetime | None = None,
) -> MembershipDiff:
    changed = first or bool(diff.added or diff.removed)
    at = now or datetime.now(UTC)
    segment = await store.record_change(conn, org_id, segment_id, diff, bump=changed, at=at)
    if changed:
        await _publish(conn, org_id, segment, diff)
    return MembershipDiff(segment.id, diff.added, diff.removed, segment.member_count, segment.version)


async def _locked(conn: asyncpg.Connection, org_id: UUID, segment_id: UUID, field: str = "id") -> Segment:
    segment = await store.get(conn, org_id, segment_id, for_update=True)
    if segment is None:
        raise NotFound("segment", field)
    return segment


async def _recompute(
    conn: asyncpg.Connection, org_id: UUID, segment: Segment, *, first: bool = False, now: datetime | None = None
) -> MembershipDiff:
    definition = parse_definition(segment.definition)
    tz = await analytics_queries.time_zone(conn, org_id)
    now = now or datetime.now(UTC)
    diff = await store.recompute_dynamic(conn, org_id, segment.id, definition, tz, now)
    return await _record(conn, org_id, segment.id, diff, first=first, now=now)


# ------------------------------------------------------------------------------------------------ reads


async def list_segments(conn: asyncpg.Connection, org_id: UUID) -> list[Segment]:
    return await store.list_all(conn, org_id)


async def get_segment(conn: asyncpg.Connection, org_id: UUID, segment_id: UUID, field: str = "id") -> Segment:
    segment = await store.get(conn, org_id, segment_id)
    if segment is None:
        raise NotFound("segment", field)
    return segment


async def members_page(
    conn: asyncpg.Connection, org_id: UUID, segment_id: UUID, first: int, after: str | None
) -> tuple[Segment, list[tuple[UUID, str]], bool]:
    segment = await get_segment(conn, org_id, segment_id)
    rows, more = await store.members_page(conn, org_id, segment_id, first, after)
    return segment, rows, more


async def require_segment(conn: asyncpg.Connection, org_id: UUID, segment_id: UUID | None, field: str) -> None:
    """For filters: NOT_FOUND naming `field` unless the segment is this organisation's."""
    if segment_id is not None:
        await get_segment(conn, org_id, segment_id, field)


# ------------------------------------------------------------------------------------------------ writes


async def create(
    conn: asyncpg.Connection,
    org_id: UUID,
    *,
    name: str,
    definition: dict[str, Any] | None = None,
    customer_ids: Sequence[UUID] | None = None,
    source: str = MANUAL,
) -> tuple[Segment, MembershipDiff]:
    """A dynamic segment (a definition) or a static one (a list, possibly empty), its members computed."""
    if definition is not None and customer_ids is not None:
        raise DomainError(ErrorCode.INVALID_INPUT, "a segment has a definition or a list of customers", "customerIds")
    if definition is not None:
        parsed: Definition = parse_definition(definition)
        segment = await store.insert(
            conn, org_id, name=name, kind=SegmentKind.DYNAMIC, definition=parsed.to_json(), source=source
        )
        diff = await _recompute(conn, org_id, segment, first=True)
    else:
        ids = _checked_ids(customer_ids or [], "customerIds")
        segment = await store.insert(conn, org_id, name=name, kind=SegmentKind.STATIC, definition=None, source=source)
        diff = await _record(
            conn, org_id, segment.id, await store.replace_members(conn, org_id, segment.id, ids), first=True
        )
    return await get_segment(conn, org_id, segment.id), diff


async def update(
    conn: asyncpg.Connection,
    org_id: UUID,
    segment_id: UUID,
    *,
    name: str | None = None,
    definition: dict[str, Any] | None = None,
    customer_ids: Sequence[UUID] | None = None,
    source: str | None = None,
) -> tuple[Segment, MembershipDiff | None]:
    """Renames it and/or replaces its definition (dynamic) or list (static); members recomputed on either."""
    segment = await _locked(conn, org_id, segment_id)
    if definition is not None and segment.kind is not SegmentKind.DYNAMIC:
        raise DomainError(ErrorCode.INVALID_INPUT, "a static segment has no definition", "definition")
    if customer_ids is not None and segment.kind is not SegmentKind.STATIC:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "a dynamic segment's members come from its definition", "customerIds"
        )
    parsed = parse_definition(definition).to_json() if definition is not None else None
    await store.change(conn, org_id, segment_id, name=name, definition=parsed, source=source)
    diff: MembershipDiff | None = None
    if parsed is not None:
        diff = await _recompute(conn, org_id, await _locked(conn, org_id, segment_id))
    elif customer_ids is not None:
        ids = _checked_ids(customer_ids, "customerIds")
        diff = await _record(conn, org_id, segment_id, await store.replace_members(conn, org_id, segment_id, ids))
    return await get_segment(conn, org_id, segment_id), diff


async def delete(conn: asyncpg.Connection, org_id: UUID, segment_id: UUID) -> None:
    version = await store.delete(conn, org_id, segment_id)
    if version is None:
        raise NotFound("segment")
    payload = {"segment_id": str(segment_id), "version": version + 1}
    await add_event(conn, org_id, contracts.SEGMENT_DELETED, payload)


async def recompute(conn: asyncpg.Connection, org_id: UUID, segment_id: UUID) -> MembershipDiff:
    """A dynamic segment's members recomputed now (a static one's are what they were given)."""
    segment = await _locked(conn, org_id, segment_id)
    if segment.kind is not SegmentKind.DYNAMIC:
        return MembershipDiff(segment.id, [], [], segment.member_count, segment.version)
    return await _recompute(conn, org_id, segment)


async def recompute_due(pool: asyncpg.Pool, now: datetime | None = None, limit: int = RECOMPUTE_BATCH) -> int:
    """Recomputes the dynamic segments last computed more than RECOMPUTE_AFTER ago, each in its organisation's
    own transaction (the row lock makes concurrent workers take turns; the second finds it fresh and skips it).
    Returns how many were recomputed; a failing one is logged and retried at the next pass."""
    now = now or datetime.now(UTC)
    before = now - RECOMPUTE_AFTER
    async with pool.acquire() as conn:
        due = await store.due(conn, before, limit)
    done = 0
    for org_id, segment_id in due:
        try:
            async with tenant_tx(pool, org_id) as conn:
                await conn.execute(f"SET LOCAL statement_timeout = '{WORKER_STATEMENT_TIMEOUT}'")
                segment = await store.get(conn, org_id, segment_id, for_update=True)
                if segment is None or (segment.computed_at is not None and segment.computed_at >= before):
                    continue
                diff = await _recompute(conn, org_id, segment, now=now)
            done += 1
            slog.log(
                logger,
                logging.INFO,
                "segment recomputed",
                segment_id=str(segment_id),
                added=len(diff.added),
                removed=len(diff.removed),
                members=diff.member_count,
            )
        except Exception as exc:  # one segment's failure must not stop the others; retried at the next pass
            slog.log(logger, logging.WARNING, "segment recompute failed", segment_id=str(segment_id), error=repr(exc))
    return done


async def run_periodically(pool_of: Callable[[], asyncpg.Pool], every: float = RECOMPUTE_EVERY_SECONDS) -> None:
    """Each insights worker's loop (until cancelled): recompute the due dynamic segments, then wait `every`
    seconds with jitter; a pass that fills its batch goes again at once."""
    await asyncio.sleep(random.uniform(1.0, 10.0))
    while True:
        try:
            if await recompute_due(pool_of()) >= RECOMPUTE_BATCH:
                continue
        except Exception as exc:  # the store away: the next pass tries again
            slog.log(logger, logging.WARNING, "segment recompute pass failed", error=type(exc).__name__)
        await asyncio.sleep(every * random.uniform(0.8, 1.2))


# ------------------------------------------------------------------------------------------ identity changes


async def follow_merge(conn: asyncpg.Connection, org_id: UUID, source: UUID, target: UUID) -> int:
    """A customer merged into another (`customer.merged`, in the consumer's transaction): every segment holding the
    merged one holds the survivor instead (the orders service lists only the survivor), each change published.
    Dynamic segments would come to the same at their next recompute; static ones would not. Returns how many
    segments changed."""
    return await _move(conn, org_id, source, target)


async def follow_erasure(conn: asyncpg.Connection, org_id: UUID, customer_id: UUID) -> int:
    """An erased customer (`customer.erased`) leaves every segment, each change published."""
    return await _move(conn, org_id, customer_id, None)


async def _move(conn: asyncpg.Connection, org_id: UUID, source: UUID, target: UUID | None) -> int:
    if not await store.lock_segments_holding(conn, org_id, source):
        return 0
    moved = await store.move_customer(conn, org_id, source, target)
    for segment_id, added in sorted(moved):
        await _record(conn, org_id, segment_id, Diff(added=[target] if added and target else [], removed=[source]))
    return len(moved)


# ------------------------------------------------------------------------------ for the Mixpanel cohort import


async def create_static(pool: asyncpg.Pool, org_id: UUID, name: str, *, source: str) -> UUID:
    """A new, empty static segment (its first version published), in its own transaction."""
    async with tenant_tx(pool, org_id) as conn:
        segment, _ = await create(conn, org_id, name=name, customer_ids=[], source=source)
    return segment.id


async def replace_static_members_in(
    conn: asyncpg.Connection, org_id: UUID, segment_id: UUID, customer_ids: Sequence[UUID], *, source: str
) -> MembershipDiff:
    segment = await _locked(conn, org_id, segment_id, "segmentId")
    if segment.kind is not SegmentKind.STATIC:
        raise DomainError(ErrorCode.INVALID_INPUT, DYNAMIC_MEMBERS, "segmentId")
    ids = _checked_ids(customer_ids, "customerIds")
    diff = await store.replace_members(conn, org_id, segment_id, ids)
    if source != segment.source:
        await store.change(conn, org_id, segment_id, name=None, definition=None, source=source)
    return await _record(conn, org_id, segment_id, diff)


async def replace_static_members(
    pool: asyncpg.Pool, org_id: UUID, segment_id: UUID, customer_ids: Sequence[UUID], *, source: str
) -> MembershipDiff:
    """Sets a static segment's members to exactly `customer_ids` (a re-import: the ones gone are removed), in its
    own transaction; the diff is published with it."""
    async with tenant_tx(pool, org_id) as conn:
        return await replace_static_members_in(conn, org_id, segment_id, customer_ids, source=source)
