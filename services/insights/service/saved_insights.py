"""Saved insights and dashboards: who may change what, the default dashboard, and answers per tile.

Rules (the issue's, and the choices made where it left them open):
- Everything is organisation-wide to read: every partner user (admin or member) sees every saved insight
  and dashboard of their organisation. Provider users see none (the endpoints are closed to them).
- Members and admins create saved insights and dashboards; the author (the service token's subject) or an
  admin changes or deletes them. Author NULL is the platform (the default dashboard and its insights): admins.
- An unknown id and another organisation's id are the same NOT_FOUND (every query filters by organisation
  and runs under row-level security: the other organisation's row is simply not there).
- Saving validates the input with `domain.insight.parse` in the organisation's time zone: the same errors,
  naming the field (`input.breakdowns[1]`); the transaction rolls back, so nothing is stored.
- The default dashboard is made lazily, on the first read of dashboards or saved insights, in the reader's
  transaction. Lazily rather than on `organisation.created`: organisations that exist already (the demo
  partner, every partner before this release) get it without a backfill, and the unique index on
  (org_id) WHERE is_default makes concurrent first reads create it once. The default dashboard cannot be
  deleted (it would come back at the next read); admins edit its tiles like any other.
- A tile's answer that fails (an input that stopped being valid: a field removed from the catalogue) is
  that tile's error, never the whole dashboard's.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.insights.domain import insight as insight_domain
from services.insights.repository import analytics as analytics_queries
from services.insights.repository import saved_insights as store
from services.insights.service import insight as builder
from shared.errors import Conflict, DomainError, ErrorCode, Forbidden, NotFound

logger = logging.getLogger("insights.saved_insights")

MAX_TILES = 24
DEFAULT_WIDTH = 2
DEFAULT_DASHBOARD_NAME = "Contacts, leads and service requests"

# Seed 002's "real-time insights into Contacts, Leads, and Service Request performance": the default tiles.
DEFAULT_INSIGHTS: tuple[tuple[str, str, dict[str, Any], int], ...] = (
    (
        "New contacts per day",
        "Distinct new customers visiting, per day, over the last 30 days.",
        {
            "eventType": "visit",
            "measure": "UNIQUE_CUSTOMERS",
            "filters": [{"field": "customer.isNew", "operator": "EQUALS", "values": ["true"]}],
            "range": {"preset": "LAST_30_DAYS"},
            "interval": "DAY",
            "chartType": "LINE",
        },
        4,
    ),
    (
        "Leads created vs converted per week",
        "Leads logged as created and as converted, per week, over the last 90 days.",
        {
            "eventType": "lead",
            "measure": "COUNT",
            "filters": [{"field": "state", "operator": "IN", "values": ["created", "converted"]}],
            "breakdowns": ["state"],
            "range": {"preset": "LAST_90_DAYS"},
            "interval": "WEEK",
            "chartType": "BAR",
        },
        2,
    ),
    (
        "Service requests opened vs resolved per day, by priority",
        "Service requests logged as open and as resolved, per day and priority, over the last 30 days.",
        {
            "eventType": "service_request",
            "measure": "COUNT",
            "filters": [{"field": "state", "operator": "IN", "values": ["open", "resolved"]}],
            "breakdowns": ["state", "fields.priority"],
            "range": {"preset": "LAST_30_DAYS"},
            "interval": "DAY",
            "chartType": "STACKED_BAR",
        },
        2,
    ),
)


@dataclass(frozen=True)
class Caller:
    """Who acts: the service token's subject (None for a service without a user) and role."""

    subject: str | None
    role: str | None

    def may_change(self, author: str | None) -> bool:
        return self.role == "admin" or (author is not None and self.subject is not None and author == self.subject)

    def author(self) -> str:
        if not self.subject:
            raise DomainError(ErrorCode.NO_SUBJECT, "saving needs the signed-in user", None, status=403)
        return self.subject


def _refuse(what: str) -> Forbidden:
    return Forbidden(f"only its author or an admin can change this {what}")


# ------------------------------------------------------------------------------------------ saved insights


async def _validated(conn: asyncpg.Connection, org_id: UUID, raw: Any) -> tuple[str, ...]:
    """The stored event types the input counts, once `parse` accepts it (else its error, naming the field)."""
    return (await builder.parse(conn, org_id, raw)).stored_types


async def save_insight(
    conn: asyncpg.Connection, org_id: UUID, caller: Caller, *, name: str, description: str, raw_input: Any
) -> store.SavedInsight:
    author = caller.author()
    types = await _validated(conn, org_id, raw_input)
    return await store.create_insight(
        conn, org_id, name=name, description=description, input=raw_input, event_types=types, author=author
    )


async def get_insight(conn: asyncpg.Connection, org_id: UUID, insight_id: UUID) -> store.SavedInsight:
    found = await store.get_insight(conn, org_id, insight_id)
    if found is None:
        raise NotFound("saved insight")
    return found


async def update_insight(
    conn: asyncpg.Connection,
    org_id: UUID,
    caller: Caller,
    insight_id: UUID,
    *,
    name: str | None,
    description: str | None,
    raw_input: Any | None,
) -> store.SavedInsight:
    found = await store.get_insight(conn, org_id, insight_id, for_update=True)
    if found is None:
        raise NotFound("saved insight")
    if not caller.may_change(found.author):
        raise _refuse("saved insight")
    new_input, types = found.input, found.event_types
    if raw_input is not None:
        types, new_input = await _validated(conn, org_id, raw_input), raw_input
    return await store.update_insight(
        conn,
        org_id,
        insight_id,
        name=found.name if name is None else name,
        description=found.description if description is None else description,
        input=new_input,
        event_types=types,
    )


async def delete_insight(conn: asyncpg.Connection, org_id: UUID, caller: Caller, insight_id: UUID) -> None:
    found = await store.get_insight(conn, org_id, insight_id, for_update=True)
    if found is None:
        raise NotFound("saved insight")
    if not caller.may_change(found.author):
        raise _refuse("saved insight")
    await store.delete_insight(conn, org_id, insight_id)


async def list_insights(conn: asyncpg.Connection, org_id: UUID) -> list[store.SavedInsight]:
    await ensure_default_dashboard(conn, org_id)
    return await store.list_insights(conn, org_id)


# ------------------------------------------------------------------------------------------------- answers


async def answer(
    conn: asyncpg.Connection, org_id: UUID, saved: store.SavedInsight, now: datetime | None = None
) -> dict[str, Any]:
    """{"answer": ..., "error": None} or, when the saved input no longer answers, {"answer": None, "error": ...}.
    Each answer runs in its own savepoint: a tile that fails leaves the transaction usable for the next one."""
    try:
        async with conn.transaction():
            return {"answer": await builder.answer(conn, org_id, saved.input, now), "error": None}
    except DomainError as exc:
        return {"answer": None, "error": {"code": exc.code.value, "message": exc.message, "field": exc.field}}


# ----------------------------------------------------------------------------------------------- dashboards


async def ensure_default_dashboard(conn: asyncpg.Connection, org_id: UUID) -> None:
    """Makes the organisation's default dashboard with its three insights, once (see the module docstring).

    The cheap check first: after the first read every call is one indexed lookup and no write."""
    if await store.has_default_dashboard(conn, org_id):
        return
    dashboard_id = await store.create_default_dashboard(conn, org_id, DEFAULT_DASHBOARD_NAME)
    if dashboard_id is None:
        return  # a concurrent first read made it
    tz = await analytics_queries.time_zone(conn, org_id)
    layout: list[tuple[UUID, int]] = []
    for name, description, raw, width in DEFAULT_INSIGHTS:
        try:
            types = insight_domain.parse(raw, tz).stored_types
        except DomainError as exc:
            # A platform input the builder does not accept (yet): kept with its event type, answered as an error
            # on its tile, rather than refusing every dashboard read of the organisation.
            logger.warning("default insight %r does not parse: %s (%s)", name, exc.message, exc.field)
            types = (str(raw["eventType"]),)
        saved = await store.create_insight(
            conn, org_id, name=name, description=description, input=raw, event_types=types, author=None
        )
        layout.append((saved.id, width))
    await store.set_tiles(conn, org_id, dashboard_id, layout)


async def list_dashboards(conn: asyncpg.Connection, org_id: UUID) -> list[store.Dashboard]:
    await ensure_default_dashboard(conn, org_id)
    return await store.list_dashboards(conn, org_id)


async def get_dashboard(conn: asyncpg.Connection, org_id: UUID, dashboard_id: UUID) -> store.Dashboard:
    found = await store.get_dashboard(conn, org_id, dashboard_id)
    if found is None:
        raise NotFound("dashboard")
    return found


async def dashboard_tiles(
    conn: asyncpg.Connection,
    org_id: UUID,
    dashboard_id: UUID,
    *,
    types: Collection[str] | None = None,
    now: datetime | None = None,
) -> list[tuple[store.Tile, dict[str, Any] | None]]:
    """The dashboard's tiles in order with their answers, in the caller's one transaction; with `types`, only
    the tiles counting one of those event types are answered (what a live tick refreshes), the others None."""
    out: list[tuple[store.Tile, dict[str, Any] | None]] = []
    for tile in await store.tiles(conn, org_id, dashboard_id):
        wanted = types is None or bool(set(tile.insight.event_types) & set(types))
        out.append((tile, await answer(conn, org_id, tile.insight, now) if wanted else None))
    return out


async def create_dashboard(conn: asyncpg.Connection, org_id: UUID, caller: Caller, name: str) -> store.Dashboard:
    return await store.create_dashboard(conn, org_id, name, caller.author())


async def _changeable(conn: asyncpg.Connection, org_id: UUID, caller: Caller, dashboard_id: UUID) -> store.Dashboard:
    """The dashboard, locked for this transaction (edits of one dashboard apply one after the other), once the
    caller may change it."""
    found = await store.get_dashboard(conn, org_id, dashboard_id, for_update=True)
    if found is None:
        raise NotFound("dashboard")
    if not caller.may_change(found.author):
        raise _refuse("dashboard")
    return found


async def rename_dashboard(
    conn: asyncpg.Connection, org_id: UUID, caller: Caller, dashboard_id: UUID, name: str
) -> store.Dashboard:
    await _changeable(conn, org_id, caller, dashboard_id)
    return await store.rename_dashboard(conn, org_id, dashboard_id, name)


async def delete_dashboard(conn: asyncpg.Connection, org_id: UUID, caller: Caller, dashboard_id: UUID) -> None:
    found = await _changeable(conn, org_id, caller, dashboard_id)
    if found.is_default:
        raise DomainError(
            ErrorCode.FORBIDDEN, "the default dashboard cannot be deleted; remove or move its tiles", "id", status=403
        )
    await store.delete_dashboard(conn, org_id, dashboard_id)


def _position(position: int | None, count: int, field: str) -> int:
    if position is None:
        return count
    if not 0 <= position <= count:
        raise DomainError(ErrorCode.INVALID_INPUT, f"must be between 0 and {count}", field)
    return position


async def add_tile(
    conn: asyncpg.Connection,
    org_id: UUID,
    caller: Caller,
    dashboard_id: UUID,
    insight_id: UUID,
    *,
    position: int | None,
    width: int | None,
) -> None:
    await _changeable(conn, org_id, caller, dashboard_id)
    if await store.get_insight(conn, org_id, insight_id) is None:
        raise NotFound("saved insight", "savedInsightId")
    layout = [(t.insight.id, t.width) for t in await store.tiles(conn, org_id, dashboard_id)]
    if any(i == insight_id for i, _ in layout):
        raise Conflict(ErrorCode.ALREADY_ADDED, "this saved insight is on the dashboard already", "savedInsightId")
    if len(layout) >= MAX_TILES:
        raise DomainError(ErrorCode.INVALID_INPUT, f"a dashboard holds at most {MAX_TILES} tiles", "savedInsightId")
    layout.insert(_position(position, len(layout), "position"), (insight_id, width or DEFAULT_WIDTH))
    await store.set_tiles(conn, org_id, dashboard_id, layout)
    await store.touch_dashboard(conn, org_id, dashboard_id)


async def move_tile(
    conn: asyncpg.Connection,
    org_id: UUID,
    caller: Caller,
    dashboard_id: UUID,
    insight_id: UUID,
    *,
    position: int | None,
    width: int | None,
) -> None:
    """Moves the tile to `position` (the others keep their order) and/or sets its width."""
    await _changeable(conn, org_id, caller, dashboard_id)
    layout = [(t.insight.id, t.width) for t in await store.tiles(conn, org_id, dashboard_id)]
    at = next((n for n, (i, _) in enumerate(layout) if i == insight_id), None)
    if at is None:
        raise NotFound("tile", "savedInsightId")
    _, old_width = layout.pop(at)
    to = at if position is None else _position(position, len(layout), "position")
    layout.insert(to, (insight_id, width or old_width))
    await store.set_tiles(conn, org_id, dashboard_id, layout)
    await store.touch_dashboard(conn, org_id, dashboard_id)


async def remove_tile(
    conn: asyncpg.Connection, org_id: UUID, caller: Caller, dashboard_id: UUID, insight_id: UUID
) -> None:
    await _changeable(conn, org_id, caller, dashboard_id)
    layout = [(t.insight.id, t.width) for t in await store.tiles(conn, org_id, dashboard_id)]
    if not any(i == insight_id for i, _ in layout):
        raise NotFound("tile", "savedInsightId")
    await store.set_tiles(conn, org_id, dashboard_id, [(i, w) for i, w in layout if i != insight_id])
    await store.touch_dashboard(conn, org_id, dashboard_id)
