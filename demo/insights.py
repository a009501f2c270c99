"""Demo data for the insights service: 90 days of funnel and behaviour events of the orders demo's
customers, ending in the orders demo's own orders, with every read model built.

The events are made from what the orders database holds (read with its owner role, in one snapshot):
the same customers, integrations, products and orders, so every customer shown in Analytics exists, its
products are its integration's, and the funnel ends in the real orders. For each customer:

- sessions on the integrations it visited, between its first and last visit there, more for customers who
  come back to buy: `visit` → `journey_started` (a category of the integration) → `product_viewed`
  (products of that category in the integration) → `order_started`, each step dropping off at the rate of
  its category (credit cards are browsed more and applied for less than broadband), with behaviour events
  between the steps (`page_view`, `click`, `form_step` naming steps and fields, `form_submitted`,
  `error_shown`), all on one of the customer's devices (one, sometimes two: web, iOS or Android);
- for each of its orders a session that ends in that order: `order_started` minutes before its
  `created_at`, then `order_placed` at `created_at` and, for successful orders, `order_successful` when it
  succeeded (source keys `order:<id>:placed` and `order:<id>:successful`, as the orders-events consumer
  records them).

Then seed 002's business events of every type an integration sends (demo/business.py: lifecycles per
entity within each customer's span on an integration, amounts in the customer's currency, line items,
fields, custom fields, a few final states reported twice), each `counted` as the ingestion statement would
decide and the counted ones copied into entity_counts; the rollups are built from counted events only.

Everything random comes from `random.Random` seeded with the demo's seed, and the sessions are expanded in
time order; the loader writes with the insights service's bulk module (services/insights/repository/bulk.py):
binary COPY of the raw events (PostgreSQL routes each row to its day's partition), of the devices and of
the orders copy (its per-row rollup trigger off), then each read model with one INSERT ... SELECT ... GROUP BY,
all in one transaction of the owner role, recorded as loaded in the same transaction (a second load skips).

    python -m demo.insights            # after python -m demo.orders
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from demo import business
from demo.orders import DEMO_ORG_ID
from services.insights.repository import bulk as store
from services.insights.repository.bulk import (
    BUSINESS_EVENT_COLUMNS,
    DEVICE_COLUMNS,
    ENTITY_COUNT_COLUMNS,
    ORDER_COLUMNS,
    ORDER_EVENT_COLUMNS,
    SESSION_EVENT_COLUMNS,
    pg_timestamp,
)
from services.orders.repository import snapshot

_DAY = 86_400.0
PROGRESS_EVERY = 200_000

# Share of visits that start a journey, then per category: of journeys, the share that view a product; of
# those, the share that start an order (an application or checkout) without it being one of the real orders.
P_JOURNEY = 0.68
CATEGORY_FUNNEL: dict[str, tuple[float, float]] = {
    "Broadband": (0.80, 0.34),
    "Credit Cards": (0.66, 0.24),
    "Current Accounts": (0.55, 0.18),
}
DEFAULT_FUNNEL = (0.65, 0.25)
# Form steps of an application, per category: names of steps and fields, never what was typed.
FORMS: dict[str, tuple[str, ...]] = {
    "Broadband": ("postcode", "address", "package", "contact", "review"),
    "Credit Cards": ("eligibility", "income", "address", "contact", "review"),
    "Current Accounts": ("personal", "address", "employment", "review"),
}
DEFAULT_FORM = ("details", "contact", "review")
ERRORS = ("postcode not recognised", "please complete this field", "that did not work, try again")
REFERRERS = ("search", "search", "search", "direct", "direct", "email", "social", "partner")
USER_AGENTS = {
    "web": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5"
        " Safari/605.1.15",
        "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    ),
    "ios": ("DemoPartner/4.2 (iPhone; iOS 17.5)", "DemoPartner/4.1 (iPhone; iOS 16.7)"),
    "android": ("DemoPartner/4.2 (Android 14; Pixel 8)", "DemoPartner/4.1 (Android 13; SM-S911B)"),
}

FUNNEL, BEHAVIOUR = "funnel", "behaviour"


def _props(**values: Any) -> str:
    return json.dumps(values, separators=(",", ":"))


_EMPTY = "{}"
_VISIT_PROPS = tuple(_props(referrer=r) for r in REFERRERS)
_HOME = _props(page="home")
_PRODUCT_PAGE = _props(page="product")
_EXTRA_PAGES = (_props(page="compare"), _props(page="faq"), _props(page="offers"), _props(page="home"))
_CLICK_DEALS = _props(name="see_deals")
_CLICK_DETAILS = _props(name="details")
_CLICK_COMPARE = _props(name="compare")
_CLICK_APPLY = _props(name="apply")
_SUBMITTED = _props(form="application")


@dataclass
class InsightsDemoResult:
    org_id: UUID
    events: int = 0
    session_events: int = 0
    order_events: int = 0
    business_events: int = 0
    business_entities: int = 0
    business_duplicates: int = 0
    entity_counts: int = 0
    sessions: int = 0
    customers: int = 0
    orders: int = 0
    devices: int = 0
    read_models: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class _Category:
    id: Any
    name: str
    products: list[Any]
    page: str
    view_rate: float
    start_rate: float
    form_steps: tuple[str, ...]
    error_steps: tuple[str, ...]


@dataclass
class _Integration:
    id: Any
    channel: str
    categories: list[_Category]


@dataclass
class _Customer:
    id: Any
    anonymous_id: str | None
    first: float
    last: float
    visits: list[tuple[int, float, float]] = field(default_factory=list)  # (integration, first, last)
    orders: int = 0
    devices: list[tuple[str, str, str]] = field(default_factory=list)  # (id, platform, user agent)


@dataclass
class _Snapshot:
    org_name: str
    time_zone: str
    base_currency: str
    settings_as_of: Any
    integrations: list[_Integration]
    integration_index: dict[Any, int]
    customers: list[_Customer]
    customer_index: dict[Any, int]
    orders: list[asyncpg.Record]


async def insights_demo_loaded(insights_owner_dsn: str, org_id: UUID = DEMO_ORG_ID) -> bool:
    """True when a demo load of the organisation committed in the insights database."""
    conn = await asyncpg.connect(insights_owner_dsn)
    try:
        return await store.demo_loaded(conn, org_id)
    finally:
        await conn.close()


async def load_insights_demo(
    orders_owner_dsn: str,
    insights_owner_dsn: str,
    *,
    org_id: UUID = DEMO_ORG_ID,
    seed: int = 7,
    days: int = 90,
    browse_sessions_per_customer: float = 14.0,
    progress: Callable[[str], None] | None = None,
    now: float | None = None,
    bulk: bool = True,
) -> InsightsDemoResult:
    """Load `days` days of events of the orders demo's organisation `org_id` into the insights database.

    `browse_sessions_per_customer`: sessions without an order, on average (customers who buy more come back
    more). `now` (epoch seconds, default the current time) ends the time line: events are within
    (`now` - `days`, `now`], never later. Raises ValueError when the organisation is not in the orders
    database, or already has insights data (a committed demo load is recorded: see `insights_demo_loaded`).
    """
    if days < 1 or browse_sessions_per_customer < 0:
        raise ValueError("days must be >= 1 and browse_sessions_per_customer >= 0")
    say = progress or (lambda _msg: None)
    began = time.monotonic()
    now = time.time() if now is None else now
    window_start = now - days * _DAY
    result = InsightsDemoResult(org_id)

    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of tuples, none cyclic: the cyclic collector would rescan them again and again
    try:
        snap = await _read_orders_demo(orders_owner_dsn, org_id)
        result.customers, result.orders = len(snap.customers), len(snap.orders)
        say(f"read the orders demo: {len(snap.customers)} customers, {len(snap.orders)} orders")
        rng = random.Random(f"insights:{org_id}:{seed}")
        _assign_devices(rng, snap)
        plan = _plan_sessions(rng, snap, window_start, now, browse_sessions_per_customer)
        result.sessions = len(plan)
        say(f"sessions planned ({len(plan)})")

        conn = await asyncpg.connect(
            insights_owner_dsn, server_settings={"timezone": "UTC", "application_name": "insights-demo"}
        )
        try:
            async with conn.transaction():
                await store.lock_bulk_loads(conn)
                if await store.demo_loaded(conn, org_id):
                    raise ValueError(f"the insights demo of organisation {org_id} is already loaded")
                if await store.has_data(conn, org_id):
                    raise ValueError(f"organisation {org_id} already has events or orders in the insights database")
                await store.send_timestamps_as_epoch_tuples(conn)
                await store.upsert_organisation_settings(
                    conn, org_id, snap.org_name, snap.time_zone, snap.base_currency, snap.settings_as_of
                )
                first_day = datetime.fromtimestamp(window_start, UTC).date()
                last_day = datetime.fromtimestamp(now, UTC).date()
                made = await store.ensure_partitions(conn, first_day, last_day)
                say(f"event partitions {first_day}..{last_day} ({made} made)")

                devices: dict[tuple[int, int], list[float]] = {}
                counter = [0]

                def tick(n: int) -> None:
                    counter[0] = n
                    say(f"events {n:,} copied")

                async with store.events_without_secondary_indexes(conn, bulk) as dropped:
                    rows = _session_rows(rng, snap, plan, org_id, now, window_start, devices, tick)
                    await store.copy_rows(conn, "events", SESSION_EVENT_COLUMNS, rows)
                    result.session_events = counter[0]
                    say(f"session events {result.session_events:,} copied")
                    order_rows = list(_order_event_rows(snap, org_id, window_start, now))
                    await store.copy_rows(conn, "events", ORDER_EVENT_COLUMNS, order_rows)
                    result.order_events = len(order_rows)
                    say(f"order events {result.order_events:,} copied")
                    del order_rows
                    business_rows, made_business = _business_events(
                        random.Random(f"business:{org_id}:{seed}"), snap, plan, org_id, window_start, now
                    )
                    await store.copy_rows(conn, "events", BUSINESS_EVENT_COLUMNS, business_rows)
                    await store.copy_rows(conn, "entity_counts", ENTITY_COUNT_COLUMNS, made_business.entity_counts)
                    result.business_events = made_business.events
                    result.business_entities = made_business.entities
                    result.business_duplicates = made_business.duplicates
                    result.entity_counts = len(made_business.entity_counts)
                    result.events = result.session_events + result.order_events + result.business_events
                    say(
                        f"business events {result.business_events:,} of {result.business_entities:,} entities copied"
                        f" ({result.entity_counts:,} counted; {result.events:,} events in all)"
                    )
                    del business_rows, made_business
                if dropped:
                    say("events: secondary indexes built")

                device_rows = [
                    (org_id, snap.customers[c].id, *snap.customers[c].devices[d], pg_timestamp(f), pg_timestamp(la))
                    for (c, d), (f, la) in sorted(devices.items())
                ]
                await store.copy_rows(conn, "devices", DEVICE_COLUMNS, device_rows)
                result.devices = len(device_rows)
                say(f"devices {result.devices:,} copied")

                async with store.orders_trigger_disabled(conn):
                    await store.copy_rows(conn, "orders", ORDER_COLUMNS, _order_copy_rows(snap, org_id))
                result.read_models["order_rollups_daily"] = await store.build_read_model(
                    conn, org_id, "order_rollups_daily", first_day
                )
                say(f"orders copy {len(snap.orders):,} copied, order rollups built")

                for name in store.READ_MODELS:
                    # From the day before the window's first UTC day: every local day of the loaded events.
                    result.read_models[name] = await store.build_read_model(
                        conn, org_id, name, first_day - timedelta(days=1)
                    )
                    say(f"{name} built ({result.read_models[name]:,} rows)")
                result.seconds = round(time.monotonic() - began, 1)
                await store.record_demo_load(
                    conn, org_id, {k: v for k, v in asdict(result).items() if k not in ("org_id",)}
                )
            await store.analyze_loaded_tables(conn)
            say("analyzed")
        finally:
            await conn.close()
    finally:
        if gc_was_enabled:
            gc.enable()
    result.seconds = round(time.monotonic() - began, 1)
    return result


# --- the orders demo, read whole ---------------------------------------------------------------


async def _read_orders_demo(orders_owner_dsn: str, org_id: UUID) -> _Snapshot:
    conn = await asyncpg.connect(orders_owner_dsn, server_settings={"application_name": "insights-demo"})
    try:
        await store.send_timestamps_as_epoch_tuples(conn)
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            org = await snapshot.organisation(conn, org_id)
            if org is None:
                raise ValueError(f"organisation {org_id} is not in the orders database: load the orders demo first")
            integration_rows = await snapshot.integrations(conn, org_id)
            product_rows = await snapshot.products(conn, org_id)
            customer_rows = await snapshot.customers(conn, org_id)
            visit_rows = await snapshot.customer_visits(conn, org_id)
            orders = await snapshot.orders(conn, org_id)
    finally:
        await conn.close()

    integrations = [_Integration(r["id"], r["channel"], []) for r in integration_rows]
    integration_index = {r["id"]: i for i, r in enumerate(integration_rows)}
    for p in product_rows:
        if not p["enabled"]:
            continue
        integration = integrations[integration_index[p["integration_id"]]]
        category = next((c for c in integration.categories if c.id == p["category_id"]), None)
        if category is None:
            name = p["category"]
            view_rate, start_rate = CATEGORY_FUNNEL.get(name, DEFAULT_FUNNEL)
            steps = FORMS.get(name, DEFAULT_FORM)
            category = _Category(
                p["category_id"],
                name,
                [],
                _props(page="category", category=name),
                view_rate,
                start_rate,
                tuple(_props(form="application", step=k + 1, field=f) for k, f in enumerate(steps)),
                tuple(_props(step=k + 1, message=m) for k in range(len(steps)) for m in ERRORS),
            )
            integration.categories.append(category)
        category.products.append(p["id"])

    customers = [
        _Customer(
            r["id"],
            r["anonymous_id"] if r["kind"] == "anonymous" else None,
            store.epoch_seconds(r["first_seen"]),
            store.epoch_seconds(r["last_seen"]),
        )
        for r in customer_rows
    ]
    customer_index = {r["id"]: i for i, r in enumerate(customer_rows)}
    for v in visit_rows:
        first, last = store.epoch_seconds(v["first_seen"]), store.epoch_seconds(v["last_seen"])
        customers[customer_index[v["customer_id"]]].visits.append((integration_index[v["integration_id"]], first, last))
    for o in orders:
        customers[customer_index[o["customer_id"]]].orders += 1
    return _Snapshot(
        org["name"],
        org["time_zone"],
        org["base_currency"].strip(),
        org["updated_at"],
        integrations,
        integration_index,
        customers,
        customer_index,
        orders,
    )


# --- devices and sessions -------------------------------------------------------------------


def _assign_devices(rng: random.Random, snap: _Snapshot) -> None:
    """A device per customer, sometimes two: the platform follows the channel it came through first."""
    rand = rng.random
    for c in snap.customers:
        first_channel = snap.integrations[c.visits[0][0]].channel if c.visits else "web"
        mobile = first_channel == "mobile" or rand() < 0.15
        platforms = ["ios" if rand() < 0.55 else "android"] if mobile else ["web"]
        if rand() < 0.22:  # a second device: the other kind
            platforms.append("web" if mobile else ("ios" if rand() < 0.55 else "android"))
        for platform in platforms:
            agents = USER_AGENTS[platform]
            c.devices.append((f"dev-{rng.getrandbits(64):016x}", platform, agents[int(rand() * len(agents))]))


# A planned session: (start, sequence number, customer index, integration index, order index or -1).
_Session = tuple[float, int, int, int, int]


def _plan_sessions(
    rng: random.Random, snap: _Snapshot, window_start: float, now: float, per_customer: float
) -> list[_Session]:
    """Every session as a few numbers, in time order: one ending in each order of the window, and browsing
    sessions spread over each customer's visits (customers with more orders come back more)."""
    rand = rng.random
    plan: list[_Session] = []
    seq = 0
    customer_index, integration_index = snap.customer_index, snap.integration_index
    for n, o in enumerate(snap.orders):
        created = store.epoch_seconds(o["created_at"])
        if created < window_start + 1800:
            continue  # its session would start before the window (its order events are kept when in it)
        start = created - 120 - 1500 * rand()
        plan.append((start, seq, customer_index[o["customer_id"]], integration_index[o["integration_id"]], n))
        seq += 1
    mean_weight = sum(1 + c.orders for c in snap.customers) / max(1, len(snap.customers))
    lo_limit, hi_limit = window_start + 60, now - 3600
    for ci, c in enumerate(snap.customers):
        visits = c.visits or [(0, c.first, c.last)]
        count = max(len(visits), round(per_customer * (1 + c.orders) / mean_weight * (0.5 + rand())))
        for k in range(count):
            integration, first, last = visits[k] if k < len(visits) else visits[int(rand() * len(visits))]
            lo = min(max(first, lo_limit), hi_limit)
            hi = min(max(last, lo), hi_limit)
            plan.append((lo + (hi - lo) * rand(), seq, ci, integration, -1))
            seq += 1
    plan.sort()
    return plan


def _session_rows(
    rng: random.Random,
    snap: _Snapshot,
    plan: list[_Session],
    org_id: UUID,
    now: float,
    window_start: float,
    devices: dict[tuple[int, int], list[float]],
    tick: Callable[[int], None],
) -> Iterator[tuple[Any, ...]]:
    """The events of every planned session, in the columns of SESSION_EVENT_COLUMNS; records each device's
    first and last use in `devices`."""
    rand = rng.random
    org = org_id
    orders = snap.orders
    count = 0
    next_tick = PROGRESS_EVERY
    epoch = store.PG_EPOCH
    for start, seq, ci, ii, oi in plan:
        customer = snap.customers[ci]
        integration = snap.integrations[ii]
        cats = integration.categories
        # (gap in seconds before it, type, class, product, category, properties)
        steps: list[tuple[float, str, str, Any, Any, str]] = [
            (0.0, "visit", FUNNEL, None, None, _VISIT_PROPS[int(rand() * len(_VISIT_PROPS))]),
            (1 + 4 * rand(), "page_view", BEHAVIOUR, None, None, _HOME),
        ]
        order = orders[oi] if oi >= 0 else None
        if order is None:
            for _ in range(int(rand() * 3)):
                steps.append((5 + 60 * rand(), "page_view", BEHAVIOUR, None, None, _EXTRA_PAGES[int(rand() * 4)]))
        if order is not None:  # the order's category, even when none of its products is switched on any more
            cat = next((c for c in cats if c.id == order["category_id"]), None) or _category_of(order)
        elif cats and rand() < P_JOURNEY:
            cat = cats[int(rand() * len(cats))]
        else:
            cat = None
        if cat is not None:
            steps.append((3 + 30 * rand(), "journey_started", FUNNEL, None, cat.id, _EMPTY))
            steps.append((1 + 2 * rand(), "page_view", BEHAVIOUR, None, cat.id, cat.page))
            if rand() < 0.5:
                steps.append((2 + 20 * rand(), "click", BEHAVIOUR, None, cat.id, _CLICK_DEALS))
            if order is not None or rand() < cat.view_rate:
                products = cat.products
                views = 1 + int(rand() * rand() * 4)
                product = None
                for v in range(views):
                    if order is not None and v == views - 1:
                        product = order["product_id"]
                    else:
                        product = products[int(rand() * len(products))]
                    steps.append((10 + 80 * rand(), "product_viewed", FUNNEL, product, cat.id, _EMPTY))
                    steps.append((0.5 + rand(), "page_view", BEHAVIOUR, product, cat.id, _PRODUCT_PAGE))
                    if rand() < 0.4:
                        click = _CLICK_DETAILS if rand() < 0.6 else _CLICK_COMPARE
                        steps.append((5 + 40 * rand(), "click", BEHAVIOUR, product, cat.id, click))
                if order is not None or rand() < cat.start_rate:
                    steps.append((5 + 30 * rand(), "click", BEHAVIOUR, product, cat.id, _CLICK_APPLY))
                    steps.append((1 + 2 * rand(), "order_started", FUNNEL, product, cat.id, _EMPTY))
                    form = cat.form_steps
                    reached = len(form) if order is not None else 1 + int(rand() * len(form))
                    for k in range(reached):
                        steps.append((20 + 120 * rand(), "form_step", BEHAVIOUR, product, cat.id, form[k]))
                        if rand() < 0.08:
                            error = cat.error_steps[k * len(ERRORS) + int(rand() * len(ERRORS))]
                            steps.append((1 + 3 * rand(), "error_shown", BEHAVIOUR, product, cat.id, error))
                    if order is not None:
                        steps.append((10 + 40 * rand(), "form_submitted", BEHAVIOUR, product, cat.id, _SUBMITTED))

        # Times: from `start`; a session ending in an order is fitted between `start` and a few seconds
        # before the order; none ends in the future or starts before the window.
        total = sum(s[0] for s in steps)
        if order is not None:
            end = store.epoch_seconds(order["created_at"]) - 2 - 8 * rand()
            scale = (end - start) / total if total > 0 else 1.0
        else:
            scale = 1.0
            if start + total > now:
                start = max(window_start + 1, now - 1 - total)
        devs = customer.devices
        if len(devs) > 1:  # the channel's kind of device, mostly
            mobile_channel = integration.channel == "mobile"
            d = 0 if (devs[0][1] != "web") == mobile_channel else 1
            if rand() < 0.2:
                d = 1 - d
        else:
            d = 0
        device_id = devs[d][0]
        cid, anon, iid, channel = customer.id, customer.anonymous_id, integration.id, integration.channel
        t = start
        key = f"demo-{seq:x}-"
        for k, (gap, kind, cls, product, category, props) in enumerate(steps):
            t += gap * scale
            yield (
                org,
                (int((t - epoch) * 1_000_000),),
                iid,
                key + str(k),
                kind,
                cls,
                cid,
                anon,
                device_id,
                product,
                category,
                channel,
                props,
            )
        span = devices.get((ci, d))
        if span is None:
            devices[(ci, d)] = [start, t]
        else:
            if start < span[0]:
                span[0] = start
            if t > span[1]:
                span[1] = t
        count += len(steps)
        if count >= next_tick:
            tick(count)
            next_tick += PROGRESS_EVERY
    tick(count)


def _category_of(order: asyncpg.Record) -> _Category:
    """A category of an order whose product is no longer offered (only its order's product is viewed)."""
    return _Category(
        order["category_id"],
        "",
        [order["product_id"]],
        _props(page="category"),
        1.0,
        1.0,
        (_props(form="application", step=1, field="details"),),
        tuple(_props(step=1, message=m) for m in ERRORS),
    )


def _order_event_rows(snap: _Snapshot, org_id: UUID, window_start: float, now: float) -> Iterator[tuple[Any, ...]]:
    """`order_placed` at each order's creation and `order_successful` when a successful order succeeded
    (its last change), as the orders-events consumer records them; within the window only."""
    for o in snap.orders:
        created, updated = store.epoch_seconds(o["created_at"]), store.epoch_seconds(o["updated_at"])
        iid, oid = o["integration_id"], o["id"]
        # As services/insights/service/orders_events.py records them: no channel (order events carry
        # none), the order's id as entity and its status as state.
        common = (
            o["customer_id"],
            o["product_id"],
            o["category_id"],
            None,
            o["commission_amount"],
            o["currency"],
            str(oid),
            o["status"],
        )
        if window_start <= created <= now:
            yield (org_id, o["created_at"], iid, f"order:{oid}:placed", "order_placed", FUNNEL, *common)
        if o["status"] == "SUCCESSFUL" and window_start <= updated <= now:
            yield (
                org_id,
                o["updated_at"],
                iid,
                f"order:{oid}:successful",
                "order_successful",
                FUNNEL,
                *common,
            )


def _business_events(
    rng: random.Random, snap: _Snapshot, plan: list[_Session], org_id: UUID, window_start: float, now: float
) -> tuple[Iterator[tuple[Any, ...]], business.BusinessEvents]:
    """demo/business.py's events of the snapshot's customers: each on an integration it visited, starting during
    one of its planned sessions there, until its last visit there (within the window), in the customer's currency
    (EUR for those with euro orders, else the organisation's base currency); stock items for some successful
    orders."""
    sessions: dict[tuple[int, int], list[float]] = {}
    for start, _seq, ci, ii, _oi in plan:  # in time order
        sessions.setdefault((ci, ii), []).append(start)
    currencies: dict[int, str] = {}
    for o in snap.orders:
        if o["currency"] != snap.base_currency:
            currencies[snap.customer_index[o["customer_id"]]] = o["currency"]
    lo_limit, hi_limit = window_start + 60, now - 60
    customers = []
    for ci, c in enumerate(snap.customers):
        spans = []
        for ii, first, last in c.visits:
            starts = sessions.get((ci, ii), [])
            lo = max(starts[0] if starts else first, first, lo_limit)
            if lo <= hi_limit:
                hi = min(max(last, lo), hi_limit)
                spans.append((ii, lo, hi, [s for s in starts if lo <= s <= hi]))
        seen = sum(hi - lo for _ii, lo, hi, _starts in spans)
        customers.append(
            business.Customer(
                c.id,
                c.anonymous_id,
                currencies.get(ci, snap.base_currency),
                business.customer_weight(c.orders, seen),
                spans,
            )
        )
    integrations = [
        business.Integration(i.id, i.channel, [(p, cat.id, cat.name) for cat in i.categories for p in cat.products])
        for i in snap.integrations
    ]
    rand = rng.random
    stock = [
        business.StockOrder(
            snap.customer_index[o["customer_id"]],
            snap.integration_index[o["integration_id"]],
            o["product_id"],
            o["category_id"],
            store.epoch_seconds(o["created_at"]),
        )
        for o in snap.orders
        if o["status"] == "SUCCESSFUL"
        and rand() < business.SHARE_OF_ORDERS_WITH_STOCK
        and window_start < store.epoch_seconds(o["created_at"]) <= now
    ]
    return business.generate(rng, org_id, integrations, customers, stock, now, window_start)


def _order_copy_rows(snap: _Snapshot, org_id: UUID) -> Iterator[tuple[Any, ...]]:
    """The insights orders copy: every order as of its last change."""
    for o in snap.orders:
        yield (
            org_id,
            o["id"],
            o["integration_id"],
            o["category_id"],
            o["product_id"],
            o["customer_id"],
            o["status"],
            o["comm_status"],
            o["commission_amount"],
            o["currency"],
            o["kind"],
            o["created_at"],
            o["updated_at"],
        )


# --- command line -------------------------------------------------------------------------


async def _main(argv: list[str] | None = None) -> int:
    from shared.config import get_settings

    parser = argparse.ArgumentParser(
        prog="python -m demo.insights",
        description="Load the orders demo organisation's events into the insights database (after demo.orders).",
    )
    parser.add_argument("--org-id", type=UUID, default=DEMO_ORG_ID)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--sessions-per-customer", type=float, default=14.0)
    args = parser.parse_args(argv)

    settings = get_settings()
    insights_owner = settings.service_database_url("insights", "owner")
    if await insights_demo_loaded(insights_owner, args.org_id):
        print(f"the insights demo of {args.org_id} is already loaded", file=sys.stderr)
        return 1
    began = time.monotonic()

    def progress(msg: str) -> None:
        print(f"[{time.monotonic() - began:6.1f}s] {msg}", file=sys.stderr, flush=True)

    result = await load_insights_demo(
        settings.service_database_url("orders", "owner"),
        insights_owner,
        org_id=args.org_id,
        seed=args.seed,
        days=args.days,
        browse_sessions_per_customer=args.sessions_per_customer,
        progress=progress,
    )
    progress("done")
    print(json.dumps(asdict(result), indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(_main()))
