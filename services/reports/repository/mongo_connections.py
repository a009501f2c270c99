"""The SQL of MongoDB connections (migration 010): the connections, their per-collection positions and failures.

Every statement filters by organisation explicitly and runs in the caller's tenant transaction (row-level security
admits only that organisation's rows); repositories never commit. `active` is the one read across organisations,
through the owner's `mongo_connections_active` (ids only), like the report scheduler's `report_schedules_due`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.reports.repository.collections import SQL

FAILURES_KEPT = 20

_TABLES = {"c": "contacts", "o": "orders", "e": "business_entities", "b": "business_events"}


@dataclass(frozen=True)
class MongoConnection:
    org_id: UUID
    id: UUID
    uri_secret: str
    display_uri: str
    database: str
    collections: tuple[str, ...]
    status: str
    indexes_at: datetime | None
    last_success_at: datetime | None
    last_attempt_at: datetime | None
    failing_since: datetime | None
    created_by: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, r: asyncpg.Record) -> MongoConnection:
        return cls(**{**dict(r), "collections": tuple(r["collections"])})


@dataclass(frozen=True)
class Position:
    collection: str
    position: str | None
    forwarded: int
    updated_at: datetime


@dataclass(frozen=True)
class Failure:
    at: datetime
    collection: str | None
    reason: str


_COLUMNS = """org_id, id, uri_secret, display_uri, database, collections, status, indexes_at, last_success_at,
              last_attempt_at, failing_since, created_by, created_at, updated_at"""


async def insert(
    conn: asyncpg.Connection,
    org_id: UUID,
    id: UUID,
    uri_secret: str,
    display_uri: str,
    database: str,
    collections: tuple[str, ...],
    created_by: str,
    now: datetime,
) -> MongoConnection:
    r = await conn.fetchrow(
        f"""INSERT INTO mongo_connections (org_id, id, uri_secret, display_uri, database, collections, created_by,
                                           created_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
            RETURNING {_COLUMNS}""",
        org_id,
        id,
        uri_secret,
        display_uri,
        database,
        list(collections),
        created_by,
        now,
    )
    return MongoConnection.of(r)


async def get(conn: asyncpg.Connection, org_id: UUID, id: UUID, *, lock: bool = False) -> MongoConnection | None:
    r = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM mongo_connections WHERE org_id = $1 AND id = $2{' FOR UPDATE' if lock else ''}",
        org_id,
        id,
    )
    return MongoConnection.of(r) if r else None


async def listed(conn: asyncpg.Connection, org_id: UUID) -> list[MongoConnection]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM mongo_connections WHERE org_id = $1 ORDER BY created_at, id",
        org_id,
    )
    return [MongoConnection.of(r) for r in rows]


async def update_target(
    conn: asyncpg.Connection,
    org_id: UUID,
    id: UUID,
    uri_secret: str,
    display_uri: str,
    database: str,
    collections: tuple[str, ...],
    now: datetime,
    *,
    new_target: bool,
) -> MongoConnection:
    """A new URI or database is a new target: its indexes are made again and every collection starts afresh; a
    collection added gets its indexes (made again for all: creating an existing index is a no-op)."""
    r = await conn.fetchrow(
        f"""UPDATE mongo_connections
               SET uri_secret = $3, display_uri = $4, database = $5, collections = $6, updated_at = $7,
                   indexes_at = CASE WHEN $8 OR NOT collections @> $6::text[] THEN NULL ELSE indexes_at END
             WHERE org_id = $1 AND id = $2
         RETURNING {_COLUMNS}""",
        org_id,
        id,
        uri_secret,
        display_uri,
        database,
        list(collections),
        now,
        new_target,
    )
    if new_target:
        await conn.execute("DELETE FROM mongo_positions WHERE org_id = $1 AND connection_id = $2", org_id, id)
    else:
        await conn.execute(
            "DELETE FROM mongo_positions WHERE org_id = $1 AND connection_id = $2 AND NOT collection = ANY($3)",
            org_id,
            id,
            list(collections),
        )
    return MongoConnection.of(r)


async def set_status(conn: asyncpg.Connection, org_id: UUID, id: UUID, status: str, now: datetime) -> MongoConnection:
    r = await conn.fetchrow(
        f"""UPDATE mongo_connections SET status = $3, updated_at = $4 WHERE org_id = $1 AND id = $2
         RETURNING {_COLUMNS}""",
        org_id,
        id,
        status,
        now,
    )
    return MongoConnection.of(r)


async def delete(conn: asyncpg.Connection, org_id: UUID, id: UUID) -> bool:
    done = await conn.fetchval("DELETE FROM mongo_connections WHERE org_id = $1 AND id = $2 RETURNING 1", org_id, id)
    return done is not None


async def positions(conn: asyncpg.Connection, org_id: UUID, id: UUID) -> dict[str, Position]:
    rows = await conn.fetch(
        """SELECT collection, position, forwarded, updated_at FROM mongo_positions
            WHERE org_id = $1 AND connection_id = $2""",
        org_id,
        id,
    )
    return {r["collection"]: Position(**dict(r)) for r in rows}


async def save_position(
    conn: asyncpg.Connection, org_id: UUID, id: UUID, collection: str, position: str | None, written: int, now: datetime
) -> bool:
    """Moves a collection's position (after its bulk write was acknowledged); False when the connection is gone."""
    done = await conn.fetchval(
        """INSERT INTO mongo_positions (org_id, connection_id, collection, position, forwarded, updated_at)
           SELECT $1, $2, $3, $4, $5, $6 FROM mongo_connections WHERE org_id = $1 AND id = $2
           ON CONFLICT (org_id, connection_id, collection)
           DO UPDATE SET position = EXCLUDED.position, forwarded = mongo_positions.forwarded + EXCLUDED.forwarded,
                         updated_at = EXCLUDED.updated_at
           RETURNING 1""",
        org_id,
        id,
        collection,
        position,
        written,
        now,
    )
    return done is not None


async def mark_indexes(conn: asyncpg.Connection, org_id: UUID, id: UUID, now: datetime) -> None:
    await conn.execute("UPDATE mongo_connections SET indexes_at = $3 WHERE org_id = $1 AND id = $2", org_id, id, now)


async def mark_attempt(conn: asyncpg.Connection, org_id: UUID, id: UUID, now: datetime) -> None:
    await conn.execute(
        "UPDATE mongo_connections SET last_attempt_at = $3 WHERE org_id = $1 AND id = $2", org_id, id, now
    )


async def mark_success(conn: asyncpg.Connection, org_id: UUID, id: UUID, now: datetime) -> None:
    await conn.execute(
        """UPDATE mongo_connections SET last_success_at = $3, failing_since = NULL
            WHERE org_id = $1 AND id = $2""",
        org_id,
        id,
        now,
    )


async def record_failure(
    conn: asyncpg.Connection, org_id: UUID, id: UUID, collection: str | None, reason: str, now: datetime
) -> None:
    """Keeps the newest FAILURES_KEPT failures of the connection; marks it failing since the first of a run, its
    last attempt ending now (the back-off counts from the failure, not from when the failing pass began)."""
    inserted = await conn.fetchval(
        """INSERT INTO mongo_failures (org_id, connection_id, at, collection, reason)
           SELECT $1, $2, $3, $4, $5 FROM mongo_connections WHERE org_id = $1 AND id = $2
           RETURNING 1""",
        org_id,
        id,
        now,
        collection,
        reason,
    )
    if inserted is None:
        return
    await conn.execute(
        """UPDATE mongo_connections SET failing_since = coalesce(failing_since, $3), last_attempt_at = $3
            WHERE org_id = $1 AND id = $2""",
        org_id,
        id,
        now,
    )
    await conn.execute(
        """DELETE FROM mongo_failures WHERE org_id = $1 AND connection_id = $2
              AND id < (SELECT min(id) FROM (SELECT id FROM mongo_failures WHERE org_id = $1 AND connection_id = $2
                                             ORDER BY id DESC LIMIT $3) newest)""",
        org_id,
        id,
        FAILURES_KEPT,
    )


async def failures(conn: asyncpg.Connection, org_id: UUID, id: UUID, limit: int = FAILURES_KEPT) -> list[Failure]:
    rows = await conn.fetch(
        """SELECT at, collection, reason FROM mongo_failures WHERE org_id = $1 AND connection_id = $2
            ORDER BY id DESC LIMIT $3""",
        org_id,
        id,
        limit,
    )
    return [Failure(**dict(r)) for r in rows]


async def active(conn: asyncpg.Connection, limit: int) -> list[tuple[UUID, UUID]]:
    """(org_id, id) of active connections across organisations, least recently attempted first."""
    rows = await conn.fetch("SELECT org_id, id FROM mongo_connections_active($1)", limit)
    return [(r["org_id"], r["id"]) for r in rows]


async def backlog(conn: asyncpg.Connection, org_id: UUID, name: str, after: tuple[Any, ...] | None) -> int:
    """How many rows of a changes-cursor collection were written after position `after` (changed_xid, key...):
    the documents not yet forwarded. Counted on the base table (the changed_xid indexes of migration 007)."""
    spec = SQL[name]
    alias = spec.org.split(".")[0]
    args: list[Any] = [org_id]
    where = [f"{spec.org} = $1"]
    if spec.type_column is not None:
        args.append(list(spec.types))
        where.append(f"{spec.type_column} = ANY(${len(args)})")
    if after is not None:
        marks = []
        for value in after:
            args.append(value)
            marks.append(f"${len(args)}")
        where.append(f"({spec.changed}, {', '.join(spec.key)}) > ({', '.join(marks)})")
    sql = f"SELECT count(*) FROM {_TABLES[alias]} {alias} WHERE {' AND '.join(where)}"
    return int(await conn.fetchval(sql, *args))


async def erased_among(conn: asyncpg.Connection, org_id: UUID, customer_ids: list[UUID]) -> list[UUID]:
    """Which of these contacts are erased in the reports copy (their forwarded events and devices are anonymised)."""
    rows = await conn.fetch(
        "SELECT id FROM contacts WHERE org_id = $1 AND id = ANY($2::uuid[]) AND erased_at IS NOT NULL",
        org_id,
        customer_ids,
    )
    return [r["id"] for r in rows]
