"""Live updates (GraphQL subscriptions over graphql-transport-ws at /graphql; the connection is
services/gateway/live_connection.py, the Redis fan-out services/gateway/live.py).

A subscription's first message comes once it is live (Redis has confirmed its organisation's channel):
the current figures, so a client misses nothing between its first read and the subscription. After
that, a message comes when the organisation's data changed: figures are re-read through the owning
service as the subscriber (their organisation, role and, for a provider user, provider), never taken
from the pub/sub message, which carries only what changed. Bursts are coalesced: at most one push per
`COALESCE_SECONDS` per subscription, the first change after a quiet spell goes out at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry
from strawberry.types import Info

from services.gateway.graphql.activity import ActivityConnection, ActivityFilterInput, ActivityQuery
from services.gateway.graphql.context import Context
from services.gateway.graphql.errors import ErrorCode, PublicError
from services.gateway.graphql.orders import OrderConnection, OrderFilterInput, OrdersQuery
from services.gateway.live import LiveHub, Mailbox, SubscriptionSlots, Tick

COALESCE_SECONDS = 0.25
ORDERS_KINDS = frozenset({"orders", "resync"})

# The root Query type, resolved when the schema is built (schema.py imports this module).
if TYPE_CHECKING:
    QueryRoot = Any
else:
    QueryRoot = Annotated["Query", strawberry.lazy("services.gateway.graphql.schema")]  # noqa: F821
# The `orders` resolver itself (strawberry keeps the function; mypy sees the field object).
_orders_page = cast(Any, OrdersQuery.orders)
_activity_page = cast(Any, ActivityQuery.activity)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _root() -> Any:
    from services.gateway.graphql.schema import Query

    return Query()


@strawberry.input(description="Which changes push an analytics update.")
class AnalyticsUpdatedFilter:
    types: list[str] | None = strawberry.field(
        default=None,
        description="Event types (`eventTypes` names) whose arrival pushes an update; every type when absent. "
        "Orders and reconnections always push.",
    )


@strawberry.type(
    description="Something changed in the organisation's analytics. Select the figures to re-read under "
    "`query` (e.g. the analytics series and funnel, `ordersSummary`): they are read afresh for every update, "
    "as you, exactly as the same query would answer."
)
class AnalyticsUpdate:
    at: dt.datetime = strawberry.field(description="When the gateway sent this update (UTC).")
    initial: bool = strawberry.field(description="True for the first message, sent once the subscription is live.")
    kinds: list[str] = strawberry.field(
        description="What changed since the last update: `events` (events ingested), `orders` (orders applied), "
        "`resync` (the gateway reconnected to its message bus and may have missed changes)."
    )
    types: list[str] | None = strawberry.field(
        description="The event types that arrived since the last update; null when too many to list."
    )

    @strawberry.field(description="The root query, read afresh for this update as you.")
    def query(self) -> QueryRoot:
        return _root()


def _state(info: Info[Context, None]) -> tuple[LiveHub, SubscriptionSlots]:
    state = info.context.request.app.state
    return state.live, state.live_slots


def _partners_only(info: Info[Context, None], field: str) -> None:
    if info.context.viewer.role == "provider":
        raise PublicError(
            "provider users see and update their provider's orders only", ErrorCode.FORBIDDEN, field
        ) from None


@contextlib.asynccontextmanager
async def _subscribed(info: Info[Context, None]) -> AsyncIterator[Mailbox]:
    """The viewer's organisation's mailbox, within the per-user and per-process caps."""
    hub, slots = _state(info)
    viewer = info.context.viewer
    refusal = slots.acquire(viewer.subject)
    if refusal is not None:
        raise PublicError(refusal, ErrorCode.RATE_LIMITED)
    try:
        async with hub.listen(viewer.org_id) as box:
            yield box
    finally:
        slots.release(viewer.subject)


async def _ticks(box: Mailbox, wanted: Callable[[Tick], bool]) -> AsyncIterator[Tick]:
    """Ticks that matter to the subscription, at most one per COALESCE_SECONDS (later ones merged in)."""
    last = -COALESCE_SECONDS
    while True:
        tick = await box.next()
        if not wanted(tick):
            continue
        wait = last + COALESCE_SECONDS - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
            if (more := box.take()) is not None:
                tick.absorb(more)
        last = time.monotonic()
        yield tick


def _fresh(info: Info[Context, None]) -> None:
    """Each push reads afresh: DataLoaders of the connection's context are per push, never a cache across them."""
    info.context.loaders.clear()


def _fingerprint(page: OrderConnection) -> list[tuple[object, ...]]:
    return [
        (e.cursor, e.node.id, e.node.status, e.node.comm_status, e.node.updated_at, e.node.commission)
        for e in page.edges
    ]


def _types(tick: Tick) -> list[str] | None:
    return sorted(tick.types) if tick.types is not None else None


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Pushes when the organisation's events or orders land (first message at once): select "
        "the analytics figures under `query`, re-read as you for each update."
    )
    async def analytics_updated(
        self, info: Info[Context, None], filter: AnalyticsUpdatedFilter | None = None
    ) -> AsyncGenerator[AnalyticsUpdate, None]:
        _partners_only(info, "analyticsUpdated")
        types = set(filter.types) if filter is not None and filter.types else None

        def wanted(tick: Tick) -> bool:
            if types is None or tick.kinds - {"events"} or tick.types is None:
                return True
            return bool(tick.types & types)

        async with _subscribed(info) as box:
            yield AnalyticsUpdate(at=_now(), initial=True, kinds=[], types=[])
            async for tick in _ticks(box, wanted):
                _fresh(info)
                yield AnalyticsUpdate(at=_now(), initial=False, kinds=sorted(tick.kinds), types=_types(tick))

    @strawberry.subscription(
        description="The latest orders (the `orders` list with this filter, first page) at once, then again "
        "whenever that page changes."
    )
    async def orders_activity(
        self, info: Info[Context, None], filter: OrderFilterInput | None = None, first: int = 20
    ) -> AsyncGenerator[OrderConnection, None]:
        async def page() -> OrderConnection:
            _fresh(info)
            page: OrderConnection = await _orders_page(OrdersQuery(), info, filter=filter, first=first, after=None)
            return page

        async with _subscribed(info) as box:
            latest = await page()
            yield latest
            async for _tick in _ticks(box, lambda t: bool(t.kinds & ORDERS_KINDS)):
                # Pushed only when the page itself changed: another provider's order moving tells a provider
                # user nothing, not even when it moved.
                fresh = await page()
                if _fingerprint(fresh) != _fingerprint(latest):
                    latest = fresh
                    yield fresh

    @strawberry.subscription(
        description="The activity feed, live: the `activity` list with this filter (first page) at once, then "
        "again whenever events land and the page changed."
    )
    async def activity(
        self, info: Info[Context, None], filter: ActivityFilterInput | None = None, first: int = 20
    ) -> AsyncGenerator[ActivityConnection, None]:
        _partners_only(info, "activity")

        async def page() -> ActivityConnection:
            _fresh(info)
            feed: ActivityConnection = await _activity_page(
                ActivityQuery(), info, filter=filter, first=first, after=None
            )
            return feed

        async with _subscribed(info) as box:
            latest = await page()
            yield latest
            async for _tick in _ticks(box, lambda t: "events" in t.kinds or "resync" in t.kinds):
                fresh = await page()
                if [e.cursor for e in fresh.edges] != [e.cursor for e in latest.edges]:
                    latest = fresh
                    yield fresh
