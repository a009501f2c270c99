"""The SQL of report runs and their files (migration 003). Every statement filters by org_id; callers hold a
tenant transaction."""

from __future__ import annotations

import json
from typing import IO, Any
from uuid import UUID

import asyncpg

from shared.service.pagination import Params, keyset_page

CHUNK_BYTES = 1024 * 1024
COLUMNS = """id, requested_by, requester_email, requester_role, recipients, input, format, status, attempts,
    row_count, file_size, checksum, duration_ms, query_hash, watermark, error, notified_at, created_at, started_at,
    finished_at"""


def _row(r: asyncpg.Record | dict[str, Any] | None) -> dict[str, Any] | None:
    if r is None:
        return None
    out = dict(r)
    for key in ("recipients", "input", "watermark"):
        if isinstance(out.get(key), str):
            out[key] = json.loads(out[key])
    return out


async def insert(
    conn: asyncpg.Connection,
    org_id: UUID,
    id: UUID,
    requester: dict[str, str],
    recipients: list[dict[str, str]],
    raw: dict[str, Any],
    fmt: str,
) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"""INSERT INTO report_runs (org_id, id, requested_by, requester_email, requester_role, recipients, input,
                                     format)
            VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8) RETURNING {COLUMNS}""",
        org_id,
        id,
        requester["subject"],
        requester["email"],
        requester["role"],
        json.dumps(recipients),
        json.dumps(raw),
        fmt,
    )
    return _row(row) or {}


async def get(conn: asyncpg.Connection, org_id: UUID, id: UUID, *, lock: bool = False) -> dict[str, Any] | None:
    suffix = " FOR UPDATE" if lock else ""
    return _row(
        await conn.fetchrow(f"SELECT {COLUMNS} FROM report_runs WHERE org_id = $1 AND id = $2{suffix}", org_id, id)
    )


async def page(
    conn: asyncpg.Connection, org_id: UUID, requested_by: str | None, first: int, after: str | None
) -> tuple[list[dict[str, Any]], bool]:
    """Newest first; only `requested_by`'s runs unless None."""
    p = Params()
    where = f"org_id = {p(org_id)}"
    if requested_by is not None:
        where += f" AND requested_by = {p(requested_by)}"
    rows, more = await keyset_page(
        conn,
        select=f"SELECT {COLUMNS} FROM report_runs",
        where=where,
        p=p,
        ts="created_at",
        id="id",
        ts_key="created_at",
        first=first,
        after=after,
    )
    return [_row(r) or {} for r in rows], more


async def start(conn: asyncpg.Connection, org_id: UUID, id: UUID) -> int:
    """Marks an attempt begun; the attempt's number."""
    return int(
        await conn.fetchval(
            """UPDATE report_runs SET status = 'running', attempts = attempts + 1, started_at = now(), error = NULL
                WHERE org_id = $1 AND id = $2 RETURNING attempts""",
            org_id,
            id,
        )
    )


async def succeed(conn: asyncpg.Connection, org_id: UUID, id: UUID, figures: dict[str, Any]) -> None:
    await conn.execute(
        """UPDATE report_runs SET status = 'succeeded', row_count = $3, file_size = $4, checksum = $5,
                  duration_ms = $6, query_hash = $7, watermark = $8::jsonb, finished_at = now(), error = NULL
            WHERE org_id = $1 AND id = $2""",
        org_id,
        id,
        figures["row_count"],
        figures["file_size"],
        figures["checksum"],
        figures["duration_ms"],
        figures["query_hash"],
        json.dumps(figures["watermark"]),
    )


async def fail(conn: asyncpg.Connection, org_id: UUID, id: UUID, error: str, *, final: bool) -> None:
    """Records an attempt's error; `final`: the run is failed for good (else queued for its retry)."""
    await conn.execute(
        """UPDATE report_runs SET status = $3, error = $4, finished_at = CASE WHEN $5 THEN now() END
            WHERE org_id = $1 AND id = $2""",
        org_id,
        id,
        "failed" if final else "queued",
        error[:2000],
        final,
    )


async def notified(conn: asyncpg.Connection, org_id: UUID, id: UUID) -> None:
    await conn.execute("UPDATE report_runs SET notified_at = now() WHERE org_id = $1 AND id = $2", org_id, id)


async def store_file(conn: asyncpg.Connection, org_id: UUID, id: UUID, source: IO[bytes]) -> None:
    """The file from `source`, a chunk at a time (any earlier attempt's chunks replaced)."""
    await conn.execute("DELETE FROM report_run_chunks WHERE org_id = $1 AND run_id = $2", org_id, id)
    seq = 0
    while chunk := source.read(CHUNK_BYTES):
        await conn.execute(
            "INSERT INTO report_run_chunks (org_id, run_id, seq, data) VALUES ($1, $2, $3, $4)", org_id, id, seq, chunk
        )
        seq += 1


async def chunk(conn: asyncpg.Connection, org_id: UUID, id: UUID, seq: int) -> bytes | None:
    data = await conn.fetchval(
        "SELECT data FROM report_run_chunks WHERE org_id = $1 AND run_id = $2 AND seq = $3", org_id, id, seq
    )
    return bytes(data) if data is not None else None
