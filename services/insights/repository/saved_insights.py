"""Saved insights, dashboards and their tiles (migration 010): the SQL only, no rules.

Every statement names `org_id` explicitly besides running under row-level security; the caller's
transaction (`tenant_tx`) commits or rolls back. Who may change what is service/saved_insights.py's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg


@dataclass(frozen=True)
class SavedInsight:
    id: UUID
    name: str
    description: str
    input: dict[str, Any]
    event_types: tuple[str, ...]
    author: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Dashboard:
    id: UUID
    name: str
    author: str | None
    is_default: bool
    created_at: datetime
    updated_at: datetime
    tile_count: int = 0


@dataclass(frozen=True)
class Tile:
    position: int
    width: int
    insight: SavedInsight


_INSIGHT = "s.id, s.name, s.description, s.input, s.event_types, s.author, s.created_at, s.updated_at"
_DASHBOARD = "d.id, d.name, d.author, d.is_default, d.created_at, d.updated_at"


def _insight(r: asyncpg.Record) -> SavedInsight:
    return SavedInsight(
        id=r["id"],
        name=r["name"],
        description=r["description"],
        input=dict(r["input"]),
        event_types=tuple(r["event_types"]),
        author=r["author"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


def _dashboard(r: asyncpg.Record) -> Dashboard:
    return Dashboard(
        id=r["id"],
        name=r["name"],
        author=r["author"],
        is_default=r["is_default"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        tile_count=r.get("tile_count") or 0,
    )


# ------------------------------------------------------------------------------------------ saved insights


async def create_insight(
    conn: asyncpg.Connection,
    org_id: UUID,
    *,
    name: str,
    description: str,
    input: dict[str, Any],
    event_types: Sequence[str],
    author: str | None,
) -> SavedInsight:
    r = await conn.fetchrow(
        f"""INSERT INTO saved_insights AS s (org_id, name, description, input, event_types, author)
            VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_INSIGHT}""",
        org_id,
        name,
        description,
        input,
        list(event_types),
        author,
    )
    return _insight(r)


async def get_insight(
    conn: asyncpg.Connection, org_id: UUID, insight_id: UUID, *, for_update: bool = False
) -> SavedInsight | None:
    r = await conn.fetchrow(
        f"SELECT {_INSIGHT} FROM saved_insights s WHERE s.org_id = $1 AND s.id = $2"
        + (" FOR UPDATE" if for_update else ""),
        org_id,
        insight_id,
    )
    return _insight(r) if r else None


async def get_insights(conn: asyncpg.Connection, org_id: UUID, ids: Sequence[UUID]) -> list[SavedInsight]:
    rows = await conn.fetch(
        f"SELECT {_INSIGHT} FROM saved_insights s WHERE s.org_id = $1 AND s.id = ANY($2::uuid[])", org_id, list(ids)
    )
    return [_insight(r) for r in rows]


async def list_insights(conn: asyncpg.Connection, org_id: UUID) -> list[SavedInsight]:
    """The organisation's saved insights by name (an organisation keeps tens to hundreds: no paging)."""
    rows = await conn.fetch(
        f"SELECT {_INSIGHT} FROM saved_insights s WHERE s.org_id = $1 ORDER BY lower(s.name), s.id", org_id
    )
    return [_insight(r) for r in rows]


async def update_insight(
    conn: asyncpg.Connection,
    org_id: UUID,
    insight_id: UUID,
    *,
    name: str,
    description: str,
    input: dict[str, Any],
    event_types: Sequence[str],
) -> SavedInsight:
    r = await conn.fetchrow(
        f"""UPDATE saved_insights AS s SET name = $3, description = $4, input = $5, event_types = $6, updated_at = now()
             WHERE s.org_id = $1 AND s.id = $2 RETURNING {_INSIGHT}""",
        org_id,
        insight_id,
        name,
        description,
        input,
        list(event_types),
    )
    return _insight(r)


async def delete_insight(conn: asyncpg.Connection, org_id: UUID, insight_id: UUID) -> None:
    """Deletes the insight and (by cascade) its tiles on every dashboard."""
    await conn.execute("DELETE FROM saved_insights WHERE org_id = $1 AND id = $2", org_id, insight_id)


# ----------------------------------------------------------------------------------------------- dashboards


async def create_dashboard(conn: asyncpg.Connection, org_id: UUID, name: str, author: str | None) -> Dashboard:
    r = await conn.fetchrow(
        f"INSERT INTO dashboards AS d (org_id, name, author) VALUES ($1, $2, $3) RETURNING {_DASHBOARD}",
        org_id,
        name,
        author,
    )
    return _dashboard(r)


async def create_default_dashboard(conn: asyncpg.Connection, org_id: UUID, name: str) -> UUID | None:
    """The organisation's default dashboard (author: the platform), or None when it has one already. A
    concurrent first call waits on the unique index until the other commits, then makes nothing."""
    made: UUID | None = await conn.fetchval(
        """INSERT INTO dashboards (org_id, name, author, is_default) VALUES ($1, $2, NULL, true)
           ON CONFLICT (org_id) WHERE is_default DO NOTHING RETURNING id""",
        org_id,
        name,
    )
    return made


async def has_default_dashboard(conn: asyncpg.Connection, org_id: UUID) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM dashboards WHERE org_id = $1 AND is_default)", org_id
    )
    return found


async def get_dashboard(
    conn: asyncpg.Connection, org_id: UUID, dashboard_id: UUID, *, for_update: bool = False
) -> Dashboard | None:
    r = await conn.fetchrow(
        f"SELECT {_DASHBOARD} FROM dashboards d WHERE d.org_id = $1 AND d.id = $2"
        + (" FOR UPDATE" if for_update else ""),
        org_id,
        dashboard_id,
    )
    return _dashboard(r) if r else None


async def list_dashboards(conn: asyncpg.Connection, org_id: UUID) -> list[Dashboard]:
    """The default dashboard first, then by name; each with its number of tiles."""
    rows = await conn.fetch(
        f"""SELECT {_DASHBOARD},
                   (SELECT count(*) FROM dashboard_tiles t WHERE t.org_id = d.org_id AND t.dashboard_id = d.id)
                       AS tile_count
              FROM dashboards d WHERE d.org_id = $1
             ORDER BY d.is_default DESC, lower(d.name), d.id""",
        org_id,
    )
    return [_dashboard(r) for r in rows]


async def rename_dashboard(conn: asyncpg.Connection, org_id: UUID, dashboard_id: UUID, name: str) -> Dashboard:
    r = await conn.fetchrow(
        f"""UPDATE dashboards AS d SET name = $3, updated_at = now() WHERE d.org_id = $1 AND d.id = $2
            RETURNING {_DASHBOARD}""",
        org_id,
        dashboard_id,
        name,
    )
    return _dashboard(r)


async def touch_dashboard(conn: asyncpg.Connection, org_id: UUID, dashboard_id: UUID) -> None:
    await conn.execute("UPDATE dashboards SET updated_at = now() WHERE org_id = $1 AND id = $2", org_id, dashboard_id)


async def delete_dashboard(conn: asyncpg.Connection, org_id: UUID, dashboard_id: UUID) -> None:
    """Deletes the dashboard and its tiles (the saved insights stay)."""
    await conn.execute("DELETE FROM dashboards WHERE org_id = $1 AND id = $2", org_id, dashboard_id)


# ---------------------------------------------------------------------------------------------------- tiles


async def tiles(conn: asyncpg.Connection, org_id: UUID, dashboard_id: UUID) -> list[Tile]:
    """The dashboard's tiles in grid order, each with its saved insight (one statement)."""
    rows = await conn.fetch(
        f"""SELECT t.position, t.width, {_INSIGHT}
              FROM dashboard_tiles t
              JOIN saved_insights s ON s.org_id = t.org_id AND s.id = t.saved_insight_id
             WHERE t.org_id = $1 AND t.dashboard_id = $2
             ORDER BY t.position""",
        org_id,
        dashboard_id,
    )
    return [Tile(r["position"], r["width"], _insight(r)) for r in rows]


async def set_tiles(
    conn: asyncpg.Connection, org_id: UUID, dashboard_id: UUID, layout: Sequence[tuple[UUID, int]]
) -> None:
    """Makes the dashboard's tiles exactly `layout` (saved insight id, width), in that order: positions 0..n-1.
    The caller holds the dashboard's row lock, so concurrent edits of one dashboard apply one after the other."""
    ids = [i for i, _ in layout]
    await conn.execute(
        """DELETE FROM dashboard_tiles
            WHERE org_id = $1 AND dashboard_id = $2 AND NOT (saved_insight_id = ANY($3::uuid[]))""",
        org_id,
        dashboard_id,
        ids,
    )
    await conn.execute(
        """INSERT INTO dashboard_tiles (org_id, dashboard_id, saved_insight_id, position, width)
           SELECT $1, $2, u.id, u.ord - 1, u.width
             FROM unnest($3::uuid[], $4::smallint[]) WITH ORDINALITY AS u(id, width, ord)
           ON CONFLICT (org_id, dashboard_id, saved_insight_id)
           DO UPDATE SET position = EXCLUDED.position, width = EXCLUDED.width""",
        org_id,
        dashboard_id,
        ids,
        [w for _, w in layout],
    )
