"""The SQL of Mixpanel connections (migration 012): the connections, the events to forward after a position,
refused events, cohort imports. Every statement filters by organisation and runs in the caller's tenant
transaction. Transaction ids (xid8) travel as text: asyncpg has no codec for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.insights.domain.mixpanel import document

NIL = UUID(int=0)


@dataclass(frozen=True)
class Connection:
    org_id: UUID
    id: UUID
    project_id: str
    region: str
    token_enc: str
    username_enc: str
    secret_enc: str
    forward_contacts: bool
    event_types: list[str]
    paused: bool
    boundary_xid: str
    live_xid: str
    live_id: UUID
    backfill_from: datetime
    backfill_at: datetime | None
    backfill_id: UUID | None
    backfill_done: bool
    forwarded: int
    failed: int
    profiles: int
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    next_attempt_at: datetime | None
    attempts: int
    created_at: datetime
    updated_at: datetime


_COLUMNS = """org_id, id, project_id, region, token_enc, username_enc, secret_enc, forward_contacts, event_types,
    paused, boundary_xid::text AS boundary_xid, live_xid::text AS live_xid, live_id, backfill_from, backfill_at,
    backfill_id, backfill_done, forwarded, failed, profiles, last_success_at, last_error, last_error_at,
    next_attempt_at, attempts, created_at, updated_at"""


def _connection(row: asyncpg.Record) -> Connection:
    return Connection(**dict(row))


async def insert_connection(
    conn: asyncpg.Connection,
    org_id: UUID,
    *,
    project_id: str,
    region: str,
    token_enc: str,
    username_enc: str,
    secret_enc: str,
    forward_contacts: bool,
    event_types: list[str],
    backfill_from: datetime,
) -> Connection | None:
    """A new connection whose live cursor starts at the first transaction not yet begun (everything stored
    before it is the backfill's); None when the organisation already connected this project in this region."""
    row = await conn.fetchrow(
        f"""INSERT INTO mixpanel_connections AS c (org_id, project_id, region, token_enc, username_enc, secret_enc,
                forward_contacts, event_types, boundary_xid, live_xid, live_id, backfill_from, backfill_at, backfill_id)
            SELECT $1, $2, $3, $4, $5, $6, $7, $8, x.xmax, x.xmax, $10, $9, $9, $10
              FROM (SELECT pg_snapshot_xmax(pg_current_snapshot()) AS xmax) x
            ON CONFLICT (org_id, region, project_id) DO NOTHING
            RETURNING {_COLUMNS}""",
        org_id,
        project_id,
        region,
        token_enc,
        username_enc,
        secret_enc,
        forward_contacts,
        event_types,
        backfill_from,
        NIL,
    )
    return _connection(row) if row else None


async def get(conn: asyncpg.Connection, org_id: UUID, connection_id: UUID, *, lock: bool = False) -> Connection | None:
    """The connection; `lock`: locked for this transaction, or None when another transaction holds it (the one
    forwarding it now), so two workers never send the same batch at once."""
    suffix = " FOR UPDATE SKIP LOCKED" if lock else ""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM mixpanel_connections WHERE org_id = $1 AND id = $2{suffix}", org_id, connection_id
    )
    return _connection(row) if row else None


async def list_all(conn: asyncpg.Connection, org_id: UUID) -> list[Connection]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM mixpanel_connections WHERE org_id = $1 ORDER BY created_at, id", org_id
    )
    return [_connection(r) for r in rows]


async def update_settings(
    conn: asyncpg.Connection,
    org_id: UUID,
    connection_id: UUID,
    *,
    paused: bool | None = None,
    forward_contacts: bool | None = None,
    event_types: list[str] | None = None,
) -> Connection | None:
    row = await conn.fetchrow(
        f"""UPDATE mixpanel_connections SET paused = coalesce($3, paused),
                   forward_contacts = coalesce($4, forward_contacts), event_types = coalesce($5, event_types),
                   next_attempt_at = CASE WHEN $3 = false THEN NULL ELSE next_attempt_at END,
                   scheduled_at = CASE WHEN $3 = false THEN NULL ELSE scheduled_at END,
                   updated_at = now()
             WHERE org_id = $1 AND id = $2 RETURNING {_COLUMNS}""",
        org_id,
        connection_id,
        paused,
        forward_contacts,
        event_types,
    )
    return _connection(row) if row else None


async def delete(conn: asyncpg.Connection, org_id: UUID, connection_id: UUID) -> bool:
    done = await conn.execute("DELETE FROM mixpanel_connections WHERE org_id = $1 AND id = $2", org_id, connection_id)
    return bool(done != "DELETE 0")


# ------------------------------------------------------------------------------------------ events to forward

# What a Mixpanel event is made of (domain/mixpanel.py `document` assembles it), as PostgreSQL can give it
# cheaply: ids as text, time in ms, the amount as a float, the surviving customer after a merge, and the event's own
# properties as JSON text, without Mixpanel's reserved names (removed only when the text mentions one: the regular
# expression is a cheap over-approximation). Decoding each event's JSONB in Python and encoding it again cost ~100 us
# an event; building the whole document in SQL ~12 us; this ~7 us (bench/mixpanel_forwarding.py).
_EVENT = r"""e.id, e.occurred_at, e.type, coalesce(m.into_customer_id, e.customer_id) AS customer_id,
    e.id::text AS insert_id, (extract(epoch FROM e.occurred_at) * 1000)::bigint AS ms,
    coalesce(m.into_customer_id, e.customer_id)::text AS distinct_id, e.integration_id::text AS integration_id,
    e.product_id::text AS product_id, e.category_id::text AS category_id, e.channel, e.amount::float8 AS amount,
    e.currency, e.entity_id, e.state, e.device_id,
    CASE WHEN jsonb_typeof(e.properties) <> 'object' THEN '{}'
         WHEN e.properties::text !~ '"(\$|mp_|time"|distinct_id"|token")' THEN e.properties::text
         ELSE (e.properties - ARRAY(SELECT k FROM jsonb_object_keys(e.properties) k
                                     WHERE left(k, 1) = '$' OR left(k, 3) = 'mp_'
                                        OR k IN ('time', 'distinct_id', 'token')))::text END AS props"""
_MERGED = "LEFT JOIN customer_merges m ON m.org_id = e.org_id AND m.from_customer_id = e.customer_id"
_DIMENSIONS = ("integration_id", "product_id", "category_id", "channel", "amount", "currency", "entity_id", "state")


def _outgoing(r: asyncpg.Record, position: Any) -> Outgoing:
    dims = {name: r[name] for name in _DIMENSIONS if r[name] is not None}
    if r["device_id"] is not None:
        dims["$device_id"] = r["device_id"]
    doc = document(r["type"], r["ms"], r["distinct_id"] or "", r["insert_id"], dims, r["props"])
    return Outgoing(r["id"], r["occurred_at"], r["type"], r["customer_id"], doc, position)


@dataclass(frozen=True)
class Outgoing:
    """A stored event ready to send: what failures and profiles need of it, its document, its position."""

    id: UUID
    occurred_at: datetime
    type: str
    customer_id: UUID | None
    doc: bytes
    position: Any


@dataclass(frozen=True)
class Batch:
    """The events to send of a scan, and the position of the last row scanned (None: nothing left): rows of
    types not forwarded are passed over, so the position moves past them too."""

    events: list[Outgoing]
    last: Any


# The next rows in order are read with no filter beyond the order's index (PostgreSQL then walks the partitions'
# indexes in order and stops at the limit; with the type filter among them it sorted every row after the
# position: 0.7 s a batch at 70,000 behind), and only those of a forwarded type are made into documents.
_COLUMNS_READ = """e.org_id, e.id, e.occurred_at, e.type, e.customer_id, e.integration_id, e.product_id, e.category_id,
    e.channel, e.amount, e.currency, e.entity_id, e.state, e.device_id, e.properties, e.ingest_xid"""
_PICKED = f"""SELECT e.pos_a, e.pos_b, e.wanted, {_EVENT} FROM picked e {_MERGED} ORDER BY e.k1, e.k2"""


async def _ordered_fetch(conn: asyncpg.Connection, sql: str, *args: Any) -> list[asyncpg.Record]:
    """`sql` with sorting discouraged: the planner misjudges how many rows follow a position (a row comparison)
    and sorted every one of them (0.24 s at 70,000 behind) where walking the partitions' indexes in order (Merge
    Append) stops at the limit (25 ms). For this statement only."""
    await conn.execute("SELECT set_config('enable_sort', 'off', true)")
    rows = await conn.fetch(sql, *args)  # a failure ends the transaction, and the setting with it
    await conn.execute("SELECT set_config('enable_sort', 'on', true)")
    return rows


def _batch(rows: list[asyncpg.Record]) -> Batch:
    events = [_outgoing(r, (r["pos_a"], r["pos_b"])) for r in rows if r["wanted"]]
    return Batch(events, (rows[-1]["pos_a"], rows[-1]["pos_b"]) if rows else None)


async def live_batch(conn: asyncpg.Connection, c: Connection, limit: int) -> Batch:
    """Up to `limit` events stored after the live position, in storing order, among those no running transaction
    can still add to (below the oldest running transaction id); positions are (transaction id, event id)."""
    rows = await _ordered_fetch(
        conn,
        f"""WITH picked AS MATERIALIZED (
               SELECT {_COLUMNS_READ}, e.ingest_xid AS k1, e.id AS k2, e.ingest_xid::text AS pos_a, e.id AS pos_b,
                      e.type = ANY($4::text[]) AS wanted
                 FROM events e
                WHERE e.org_id = $1 AND (e.ingest_xid, e.id) > ($2::text::xid8, $3::uuid)
                  AND e.ingest_xid < pg_snapshot_xmin(pg_current_snapshot())
                ORDER BY e.ingest_xid, e.id LIMIT $5)
           {_PICKED}""",
        c.org_id,
        c.live_xid,
        c.live_id,
        c.event_types,
        limit,
    )
    return _batch(rows)


async def backfill_ready(conn: asyncpg.Connection, c: Connection) -> bool:
    """Whether every transaction that began before the connection has ended (their events are all visible)."""
    return bool(await conn.fetchval("SELECT pg_snapshot_xmin(pg_current_snapshot()) >= $1::text::xid8", c.boundary_xid))


async def backfill_batch(conn: asyncpg.Connection, c: Connection, limit: int) -> Batch:
    """Up to `limit` events that happened from `backfill_from` on, by occurred_at after the backfill position;
    those stored from the connection on are passed over (the live cursor's); positions are (occurred_at, id)."""
    rows = await _ordered_fetch(
        conn,
        f"""WITH picked AS MATERIALIZED (
               SELECT {_COLUMNS_READ}, e.occurred_at AS k1, e.id AS k2, e.occurred_at AS pos_a, e.id AS pos_b,
                      e.type = ANY($6::text[]) AND (e.ingest_xid IS NULL OR e.ingest_xid < $5::text::xid8) AS wanted
                 FROM events e
                WHERE e.org_id = $1 AND e.occurred_at >= $2 AND (e.occurred_at, e.id) > ($3, $4::uuid)
                ORDER BY e.occurred_at, e.id LIMIT $7)
           {_PICKED}""",
        c.org_id,
        c.backfill_from,
        c.backfill_at or c.backfill_from,
        c.backfill_id or NIL,
        c.boundary_xid,
        c.event_types,
        limit,
    )
    return _batch(rows)


async def backlog(conn: asyncpg.Connection, c: Connection) -> int:
    """Events still to forward (the backfill's and the live cursor's)."""
    live = await conn.fetchval(
        """SELECT count(*) FROM events e WHERE e.org_id = $1 AND (e.ingest_xid, e.id) > ($2::text::xid8, $3::uuid)
             AND e.type = ANY($4::text[])""",
        c.org_id,
        c.live_xid,
        c.live_id,
        c.event_types,
    )
    back = 0
    if not c.backfill_done:
        back = await conn.fetchval(
            """SELECT count(*) FROM events e
                WHERE e.org_id = $1 AND e.occurred_at >= $2 AND (e.occurred_at, e.id) > ($3, $4::uuid)
                  AND (e.ingest_xid IS NULL OR e.ingest_xid < $5::text::xid8) AND e.type = ANY($6::text[])""",
            c.org_id,
            c.backfill_from,
            c.backfill_at or c.backfill_from,
            c.backfill_id or NIL,
            c.boundary_xid,
            c.event_types,
        )
    return int(live) + int(back)


async def advance_live(conn: asyncpg.Connection, c: Connection, position: Any, forwarded: int, failed: int) -> None:
    await conn.execute(
        """UPDATE mixpanel_connections SET live_xid = $3::text::xid8, live_id = $4, forwarded = forwarded + $5,
                  failed = failed + $6, attempts = 0, next_attempt_at = NULL,
                  last_success_at = CASE WHEN $5 + $6 > 0 THEN now() ELSE last_success_at END,
                  last_error = NULL, updated_at = now()
            WHERE org_id = $1 AND id = $2""",
        c.org_id,
        c.id,
        position[0],
        position[1],
        forwarded,
        failed,
    )


async def advance_backfill(conn: asyncpg.Connection, c: Connection, position: Any, forwarded: int, failed: int) -> None:
    """The backfill's position moved past a forwarded batch; None: the backfill is done."""
    await conn.execute(
        """UPDATE mixpanel_connections SET backfill_at = coalesce($3, backfill_at),
                  backfill_id = coalesce($4, backfill_id), backfill_done = $3 IS NULL,
                  forwarded = forwarded + $5, failed = failed + $6,
                  last_success_at = CASE WHEN $5 + $6 > 0 THEN now() ELSE last_success_at END,
                  attempts = 0, next_attempt_at = NULL, last_error = NULL, updated_at = now()
            WHERE org_id = $1 AND id = $2""",
        c.org_id,
        c.id,
        position[0] if position else None,
        position[1] if position else None,
        forwarded,
        failed,
    )


async def record_profiles(conn: asyncpg.Connection, c: Connection, count: int) -> None:
    await conn.execute(
        "UPDATE mixpanel_connections SET profiles = profiles + $3 WHERE org_id = $1 AND id = $2", c.org_id, c.id, count
    )


async def record_error(conn: asyncpg.Connection, c: Connection, reason: str, delay_seconds: float) -> None:
    """A batch not accepted (429, 5xx, unreachable, refused credentials): nothing moves; the next attempt waits."""
    await conn.execute(
        """UPDATE mixpanel_connections SET last_error = $3, last_error_at = now(), attempts = attempts + 1,
                  next_attempt_at = now() + make_interval(secs => $4), updated_at = now()
            WHERE org_id = $1 AND id = $2""",
        c.org_id,
        c.id,
        reason[:1000],
        delay_seconds,
    )


async def finished(conn: asyncpg.Connection, org_id: UUID, connection_id: UUID) -> None:
    """A forwarding job ended: the ticker may queue the next one at once."""
    await conn.execute(
        "UPDATE mixpanel_connections SET scheduled_at = NULL WHERE org_id = $1 AND id = $2", org_id, connection_id
    )


async def record_failures(conn: asyncpg.Connection, c: Connection, failures: list[dict[str, Any]]) -> None:
    """Refused events (event_id, event_type, occurred_at, field, reason), once each."""
    if not failures:
        return
    await conn.execute(
        """INSERT INTO mixpanel_failures (org_id, connection_id, event_id, event_type, occurred_at, field, reason)
           SELECT $1, $2, f.event_id, f.event_type, f.occurred_at, f.field, f.reason
             FROM unnest($3::uuid[], $4::text[], $5::timestamptz[], $6::text[], $7::text[])
                  AS f(event_id, event_type, occurred_at, field, reason)
           ON CONFLICT DO NOTHING""",
        c.org_id,
        c.id,
        [f["event_id"] for f in failures],
        [f["event_type"] for f in failures],
        [f["occurred_at"] for f in failures],
        [f["field"] for f in failures],
        [f["reason"][:1000] for f in failures],
    )


async def recent_failures(
    conn: asyncpg.Connection, org_id: UUID, connection_id: UUID, limit: int = 50
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT event_id, event_type, occurred_at, field, reason, recorded_at FROM mixpanel_failures
            WHERE org_id = $1 AND connection_id = $2 ORDER BY recorded_at DESC, event_id LIMIT $3""",
        org_id,
        connection_id,
        limit,
    )
    return [dict(r) for r in rows]


async def customer_integrations(conn: asyncpg.Connection, org_id: UUID, customers: list[UUID]) -> dict[UUID, list[str]]:
    """The integrations each customer was active in (their active days' keys)."""
    rows = await conn.fetch(
        """SELECT customer_id, array_agg(DISTINCT integration_id::text ORDER BY integration_id::text) AS ids
             FROM customer_days WHERE org_id = $1 AND customer_id = ANY($2::uuid[]) AND integration_id <> $3
            GROUP BY customer_id""",
        org_id,
        customers,
        NIL,
    )
    return {r["customer_id"]: list(r["ids"]) for r in rows}


async def due(conn: asyncpg.Connection, limit: int) -> list[tuple[UUID, UUID]]:
    """Connections due a forwarding job, across organisations (the owner's function), marked queued."""
    rows = await conn.fetch("SELECT org_id, connection_id FROM mixpanel_connections_due($1)", limit)
    return [(r["org_id"], r["connection_id"]) for r in rows]


# --------------------------------------------------------------------------------------------- cohort imports


async def cohort_import(
    conn: asyncpg.Connection, org_id: UUID, connection_id: UUID, cohort_id: int
) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        """SELECT * FROM mixpanel_cohort_imports WHERE org_id = $1 AND connection_id = $2 AND cohort_id = $3""",
        org_id,
        connection_id,
        cohort_id,
    )
    return dict(row) if row else None


async def cohort_imports(conn: asyncpg.Connection, org_id: UUID, connection_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT * FROM mixpanel_cohort_imports WHERE org_id = $1 AND connection_id = $2 ORDER BY cohort_id",
        org_id,
        connection_id,
    )
    return [dict(r) for r in rows]


async def save_cohort_import(
    conn: asyncpg.Connection,
    org_id: UUID,
    connection_id: UUID,
    cohort_id: int,
    *,
    segment_id: UUID,
    every_minutes: int | None,
    members: int,
    added: int,
    removed: int,
    unmatched: list[str],
    unmatched_count: int,
) -> dict[str, Any]:
    row = await conn.fetchrow(
        """INSERT INTO mixpanel_cohort_imports AS i (org_id, connection_id, cohort_id, segment_id, every_minutes,
                  imported_at, members, added, removed, unmatched_count, unmatched)
           VALUES ($1, $2, $3, $4, $5, now(), $6, $7, $8, $9, $10)
           ON CONFLICT (org_id, connection_id, cohort_id) DO UPDATE SET
                  every_minutes = coalesce(EXCLUDED.every_minutes, i.every_minutes), imported_at = now(),
                  members = EXCLUDED.members, added = EXCLUDED.added, removed = EXCLUDED.removed,
                  unmatched_count = EXCLUDED.unmatched_count, unmatched = EXCLUDED.unmatched
           RETURNING *""",
        org_id,
        connection_id,
        cohort_id,
        segment_id,
        every_minutes,
        members,
        added,
        removed,
        unmatched_count,
        unmatched,
    )
    assert row is not None
    return dict(row)


async def cohort_imports_due(conn: asyncpg.Connection, limit: int) -> list[tuple[UUID, UUID, int]]:
    rows = await conn.fetch("SELECT org_id, connection_id, cohort_id FROM mixpanel_cohort_imports_due($1)", limit)
    return [(r["org_id"], r["connection_id"], int(r["cohort_id"])) for r in rows]
