"""Saved insights and dashboards (insights service, services/insights/service/saved_insights.py has the rules).

Reads: `savedInsights` (definitions; each `answer` asked for is batched into one call for the whole list),
`savedInsight(id)`, `dashboards` (without tiles), `dashboard(id)` (its tiles in grid order, each with its saved
insight and current answer: one internal call however many tiles). Mutations return payloads with `errors`
naming the field (`input.breakdowns[1]`), except a role's refusal (`FORBIDDEN`), raised as an error like every
other refused field. `dashboardUpdated(id)` pushes the tiles whose event types just received events.
An unknown id and another organisation's are the same: null for reads, `NOT_FOUND` for mutations.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from services.gateway.clients import ServiceError
from services.gateway.graphql.context import Context, parse_id
from services.gateway.graphql.errors import ErrorCode, PublicError, UserError, from_service, user_errors
from services.gateway.graphql.insights import InsightAnswer, InsightInput
from services.gateway.graphql.subscriptions import _fresh, _now, _partners_only, _subscribed, _ticks
from services.gateway.live import Tick

Row = dict[str, Any]


def _error(row: Row) -> UserError | None:
    e = row.get("error")
    return UserError(field=e.get("field"), code=ErrorCode(e["code"]), message=e["message"]) if e else None


@strawberry.type(description="A saved insights-builder question: its definition and its current answer.")
class SavedInsight:
    id: strawberry.ID
    name: str
    description: str
    input: JSON = strawberry.field(description="The builder's input as saved (InsightInput's JSON).")
    event_types: list[str] = strawberry.field(description="The stored event types it counts (live refresh).")
    by_platform: bool = strawberry.field(description="Made by the platform (the default dashboard): admins edit it.")
    mine: bool = strawberry.field(description="You saved it.")
    can_edit: bool = strawberry.field(description="You may change or delete it (its author, or an admin).")
    created_at: dt.datetime
    updated_at: dt.datetime
    row: strawberry.Private[Row]

    @classmethod
    def from_row(cls, r: Row) -> SavedInsight:
        return cls(
            id=strawberry.ID(r["id"]),
            name=r["name"],
            description=r["description"],
            input=r["input"],
            event_types=r["eventTypes"],
            by_platform=r["byPlatform"],
            mine=r["mine"],
            can_edit=r["canEdit"],
            created_at=dt.datetime.fromisoformat(r["createdAt"]),
            updated_at=dt.datetime.fromisoformat(r["updatedAt"]),
            row=r,
        )

    async def _answered(self, info: Info[Context, None]) -> Row:
        """This row if it came with its answer (a dashboard's tiles, `savedInsight`), else one batched call for
        every saved insight of the request asked for its answer."""
        if "answer" in self.row:
            return self.row
        found = await info.context.loader("insights", "saved-insights").load(str(self.id))
        return found or {"answer": None, "error": None}

    @strawberry.field(description="The current answer (as `insight` gives it); null when `error` is set.")
    async def answer(self, info: Info[Context, None]) -> InsightAnswer | None:
        answered = (await self._answered(info)).get("answer")
        return InsightAnswer.from_json(answered) if answered else None

    @strawberry.field(description="Why the saved input no longer answers (e.g. a field the catalogue dropped).")
    async def error(self, info: Info[Context, None]) -> UserError | None:
        return _error(await self._answered(info))


@strawberry.type(description="A saved insight on a dashboard, at its place in the grid.")
class DashboardTile:
    position: int = strawberry.field(description="0-based grid order.")
    width: int = strawberry.field(description="Columns, 1 to 4.")
    saved_insight: SavedInsight

    @classmethod
    def from_row(cls, r: Row) -> DashboardTile:
        return cls(position=r["position"], width=r["width"], saved_insight=SavedInsight.from_row(r["savedInsight"]))


@strawberry.type(description="A named grid of saved insights.")
class Dashboard:
    id: strawberry.ID
    name: str
    is_default: bool = strawberry.field(description="The organisation's default dashboard (cannot be deleted).")
    by_platform: bool
    mine: bool
    can_edit: bool = strawberry.field(description="You may rename it, delete it and change its tiles.")
    tile_count: int
    created_at: dt.datetime
    updated_at: dt.datetime
    tiles: list[DashboardTile] | None = strawberry.field(
        description="In grid order, each with its answer. Null in `dashboards`: read `dashboard(id)` for them."
    )

    @classmethod
    def from_row(cls, r: Row) -> Dashboard:
        tiles = r.get("tiles")
        return cls(
            id=strawberry.ID(r["id"]),
            name=r["name"],
            is_default=r["isDefault"],
            by_platform=r["byPlatform"],
            mine=r["mine"],
            can_edit=r["canEdit"],
            tile_count=r["tileCount"],
            created_at=dt.datetime.fromisoformat(r["createdAt"]),
            updated_at=dt.datetime.fromisoformat(r["updatedAt"]),
            tiles=[DashboardTile.from_row(t) for t in tiles] if tiles is not None else None,
        )


@strawberry.input
class SaveInsightInput:
    name: str
    description: str = ""
    insight: InsightInput = strawberry.field(description="The question, as `insight(input)` takes it.")


@strawberry.input(description="What to change; absent fields stay as they are.")
class ChangeInsightInput:
    name: str | None = None
    description: str | None = None
    insight: InsightInput | None = None


@strawberry.type
class SavedInsightPayload:
    saved_insight: SavedInsight | None
    errors: list[UserError]


@strawberry.type
class DashboardPayload:
    dashboard: Dashboard | None
    errors: list[UserError]


@strawberry.type
class DeletePayload:
    deleted: bool
    errors: list[UserError]


def _readers_only(info: Info[Context, None], field: str) -> None:
    _partners_only(info, field)


async def _dashboard_row(info: Info[Context, None], dashboard_id: str, types: list[str] | None = None) -> Row | None:
    params = {"types": ",".join(types)} if types is not None else None
    try:
        row: Row = await info.context.call("insights", "GET", f"/internal/dashboards/{dashboard_id}", params=params)
    except ServiceError as exc:
        if exc.code == ErrorCode.NOT_FOUND:
            return None
        raise from_service(exc) from None
    return row


@strawberry.type
class SavedInsightsQuery:
    @strawberry.field(description="The organisation's saved insights by name (the default ones included).")
    async def saved_insights(self, info: Info[Context, None]) -> list[SavedInsight]:
        _readers_only(info, "savedInsights")
        rows = await info.context.call("insights", "GET", "/internal/saved-insights")
        return [SavedInsight.from_row(r) for r in rows]

    @strawberry.field(description="A saved insight with its current answer; null if unknown.")
    async def saved_insight(self, info: Info[Context, None], id: strawberry.ID) -> SavedInsight | None:
        _readers_only(info, "savedInsight")
        row = await info.context.loader("insights", "saved-insights").load(str(parse_id(id, "id")))
        return SavedInsight.from_row(row) if row else None

    @strawberry.field(description="The organisation's dashboards, the default one first (made on first read).")
    async def dashboards(self, info: Info[Context, None]) -> list[Dashboard]:
        _readers_only(info, "dashboards")
        return [Dashboard.from_row(r) for r in await info.context.call("insights", "GET", "/internal/dashboards")]

    @strawberry.field(description="A dashboard with its tiles and their answers (one internal call); null if unknown.")
    async def dashboard(self, info: Info[Context, None], id: strawberry.ID) -> Dashboard | None:
        _readers_only(info, "dashboard")
        row = await _dashboard_row(info, str(parse_id(id, "id")))
        return Dashboard.from_row(row) if row else None


async def _mutate(info: Info[Context, None], method: str, path: str, json: Any = None) -> tuple[Row | None, Any]:
    """(answer, None) or (None, the refusal as errors)."""
    try:
        return await info.context.call("insights", method, path, json=json), None
    except ServiceError as exc:
        return None, user_errors(exc)


def _insight_payload(row: Row | None, errors: Any) -> SavedInsightPayload:
    return SavedInsightPayload(saved_insight=SavedInsight.from_row(row) if row else None, errors=errors or [])


def _dashboard_payload(row: Row | None, errors: Any) -> DashboardPayload:
    return DashboardPayload(dashboard=Dashboard.from_row(row) if row else None, errors=errors or [])


@strawberry.type
class SavedInsightsMutation:
    @strawberry.mutation(description="Saves an insight (validated like `insight`; nothing is stored on an error).")
    async def save_insight(self, info: Info[Context, None], input: SaveInsightInput) -> SavedInsightPayload:
        _readers_only(info, "saveInsight")
        body = {"name": input.name, "description": input.description, "input": input.insight.to_json()}
        return _insight_payload(*await _mutate(info, "POST", "/internal/saved-insights", body))

    @strawberry.mutation(description="Its author or an admin.")
    async def update_saved_insight(
        self, info: Info[Context, None], id: strawberry.ID, input: ChangeInsightInput
    ) -> SavedInsightPayload:
        _readers_only(info, "updateSavedInsight")
        sid = parse_id(id, "id")
        body = {
            k: v
            for k, v in {
                "name": input.name,
                "description": input.description,
                "input": input.insight.to_json() if input.insight else None,
            }.items()
            if v is not None
        }
        return _insight_payload(*await _mutate(info, "PATCH", f"/internal/saved-insights/{sid}", body))

    @strawberry.mutation(description="Its author or an admin; removes its tiles from every dashboard.")
    async def delete_saved_insight(self, info: Info[Context, None], id: strawberry.ID) -> DeletePayload:
        _readers_only(info, "deleteSavedInsight")
        row, errors = await _mutate(info, "DELETE", f"/internal/saved-insights/{parse_id(id, 'id')}")
        return DeletePayload(deleted=row is not None, errors=errors or [])

    @strawberry.mutation(description="Members and admins; you are its author.")
    async def create_dashboard(self, info: Info[Context, None], name: str) -> DashboardPayload:
        _readers_only(info, "createDashboard")
        return _dashboard_payload(*await _mutate(info, "POST", "/internal/dashboards", {"name": name}))

    @strawberry.mutation(description="Its author or an admin.")
    async def rename_dashboard(self, info: Info[Context, None], id: strawberry.ID, name: str) -> DashboardPayload:
        _readers_only(info, "renameDashboard")
        path = f"/internal/dashboards/{parse_id(id, 'id')}"
        return _dashboard_payload(*await _mutate(info, "PATCH", path, {"name": name}))

    @strawberry.mutation(description="Its author or an admin; the saved insights stay. Not the default dashboard.")
    async def delete_dashboard(self, info: Info[Context, None], id: strawberry.ID) -> DeletePayload:
        _readers_only(info, "deleteDashboard")
        row, errors = await _mutate(info, "DELETE", f"/internal/dashboards/{parse_id(id, 'id')}")
        return DeletePayload(deleted=row is not None, errors=errors or [])

    @strawberry.mutation(description="Puts a saved insight on the dashboard at `position` (default: last).")
    async def add_dashboard_tile(
        self,
        info: Info[Context, None],
        dashboard_id: strawberry.ID,
        saved_insight_id: strawberry.ID,
        position: int | None = None,
        width: int | None = None,
    ) -> DashboardPayload:
        _readers_only(info, "addDashboardTile")
        path = f"/internal/dashboards/{parse_id(dashboard_id, 'dashboardId')}/tiles"
        body: dict[str, Any] = {"savedInsightId": str(parse_id(saved_insight_id, "savedInsightId"))}
        body |= {k: v for k, v in {"position": position, "width": width}.items() if v is not None}
        return _dashboard_payload(*await _mutate(info, "POST", path, body))

    @strawberry.mutation(description="Moves a tile to `position` (the others keep their order) and/or resizes it.")
    async def move_dashboard_tile(
        self,
        info: Info[Context, None],
        dashboard_id: strawberry.ID,
        saved_insight_id: strawberry.ID,
        position: int | None = None,
        width: int | None = None,
    ) -> DashboardPayload:
        _readers_only(info, "moveDashboardTile")
        did, sid = parse_id(dashboard_id, "dashboardId"), parse_id(saved_insight_id, "savedInsightId")
        body = {k: v for k, v in {"position": position, "width": width}.items() if v is not None}
        return _dashboard_payload(*await _mutate(info, "PATCH", f"/internal/dashboards/{did}/tiles/{sid}", body))

    @strawberry.mutation(description="Takes a saved insight off the dashboard (the insight stays).")
    async def remove_dashboard_tile(
        self, info: Info[Context, None], dashboard_id: strawberry.ID, saved_insight_id: strawberry.ID
    ) -> DashboardPayload:
        _readers_only(info, "removeDashboardTile")
        did, sid = parse_id(dashboard_id, "dashboardId"), parse_id(saved_insight_id, "savedInsightId")
        return _dashboard_payload(*await _mutate(info, "DELETE", f"/internal/dashboards/{did}/tiles/{sid}"))


@strawberry.type(description="A dashboard's tiles, refreshed.")
class DashboardUpdate:
    at: dt.datetime = strawberry.field(description="When the gateway sent this update (UTC).")
    initial: bool = strawberry.field(description="The first message: every tile. Later ones: the refreshed tiles.")
    dashboard: Dashboard = strawberry.field(
        description="The dashboard; `tiles` holds every tile at first, then only those whose event types just "
        "received events (all of them after orders change or a reconnection)."
    )


def _refresh_types(tick: Tick) -> list[str] | None:
    """The event types whose tiles a tick refreshes; None: every tile (orders, a resync, too many types)."""
    if tick.kinds - {"events"} or tick.types is None:
        return None
    return sorted(tick.types)


@strawberry.type
class SavedInsightsSubscription:
    @strawberry.subscription(
        description="The dashboard with every tile's answer at once, then the tiles whose event types receive "
        "events, re-read as you after they are stored."
    )
    async def dashboard_updated(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> AsyncGenerator[DashboardUpdate, None]:
        _readers_only(info, "dashboardUpdated")
        did = str(parse_id(id, "id"))
        async with _subscribed(info) as box:
            row = await _dashboard_row(info, did)
            if row is None:
                raise PublicError("dashboard not found", ErrorCode.NOT_FOUND, "id")
            yield DashboardUpdate(at=_now(), initial=True, dashboard=Dashboard.from_row(row))
            async for tick in _ticks(box, lambda t: True):
                _fresh(info)
                row = await _dashboard_row(info, did, _refresh_types(tick))
                if row is None:
                    raise PublicError("dashboard not found", ErrorCode.NOT_FOUND, "id")
                if row["tiles"]:
                    yield DashboardUpdate(at=_now(), initial=False, dashboard=Dashboard.from_row(row))
