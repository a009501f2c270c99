"""Demo and bulk data for the orders service: one organisation with a realistic catalogue,
customers and orders, loaded fast enough for benchmarks (200,000 customers and 1,000,000
orders into a fresh database in under half a minute on two cores).

Everything is generated here, in Python, from `random.Random(seed)`; the SQL that stores it is
the orders service's (services/orders/repository/bulk.py): binary COPY in batches, nothing
inserted row by row. The whole organisation is loaded in one transaction, as the owner role
(which bypasses row-level security), so a failure leaves nothing behind. The per-row rollup
trigger is disabled for the load (inside the same transaction) and the daily rollup is rebuilt
set-based afterwards. Into empty tables (a fresh database) foreign keys and secondary indexes
are dropped for the load and recreated at its end, still in the same transaction
(`bulk.bulk_mode`).

    python -m demo.orders --customers 200000 --orders 1000000 --no-ledger
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import gc
import json
import random
import sys
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, DecimalTuple
from typing import Any
from uuid import UUID

import asyncpg

from services.orders.domain.names import anonymous_name
from services.orders.repository import bulk as store
from services.orders.repository.bulk import CUSTOMER_COLUMNS, ORDER_COLUMNS, VISIT_COLUMNS, BulkMode
from services.orders.repository.bulk import pg_timestamp as _pg_time
from services.orders.repository.catalogue import new_api_key, new_webhook_secret
from shared.secrets import secret_box

DEMO_ORG_ID = UUID("00000000-0000-4000-8000-000000000001")
DEMO_ADMIN_SUBJECT = "dev|admin"
DEMO_ADMIN_EMAIL = "admin@demo-partner.example"
DEMO_PROVIDER_SUBJECT = "dev|provider"
DEMO_PROVIDER_EMAIL = "staff@fibrenet.example"

BATCH = 100_000
MARKETPLACE_URL = "https://marketplace.demo-partner.example"

CATEGORIES = ("Broadband", "Credit Cards", "Current Accounts")
# (name, the category it sells)
PROVIDERS = (("FibreNet", "Broadband"), ("Apex Card Co", "Credit Cards"), ("Northbank", "Current Accounts"))
# (name, channel, share of orders, {category: [(product, commission rate, currency, popularity)]})
INTEGRATIONS: tuple[tuple[str, str, float, dict[str, list[tuple[str, str, str, int]]]], ...] = (
    (
        "Web Marketplace",
        "web",
        0.55,
        {
            "Broadband": [("FibreNet 150", "12.50", "GBP", 5), ("FibreNet Gigabit", "25.00", "GBP", 2)],
            "Credit Cards": [
                ("Apex Rewards Card", "45.00", "GBP", 4),
                ("Apex Balance Transfer Card", "60.00", "GBP", 2),
            ],
            "Current Accounts": [("Northbank Everyday Account", "80.00", "GBP", 3)],
        },
    ),
    (
        "Mobile App",
        "mobile",
        0.30,
        {
            "Broadband": [("FibreNet 150 (app offer)", "15.00", "GBP", 3)],
            "Credit Cards": [("Apex Rewards Card", "45.00", "GBP", 5), ("Apex Cashback Card", "50.00", "GBP", 2)],
        },
    ),
    (
        "Partner API",
        "api",
        0.15,
        {
            # The one multi-currency corner: this integration's current accounts pay commission in EUR.
            "Current Accounts": [
                ("Northbank Euro Account", "95.00", "EUR", 3),
                ("Northbank Premier", "120.00", "EUR", 1),
            ],
            "Credit Cards": [("Apex Platinum Card", "80.00", "GBP", 2)],
        },
    ),
)

FIRST_NAMES = (
    "oliver",
    "amelia",
    "george",
    "isla",
    "harry",
    "ava",
    "noah",
    "mia",
    "jack",
    "ivy",
    "leo",
    "grace",
    "arthur",
    "freya",
    "muhammad",
    "lily",
    "oscar",
    "emily",
    "charlie",
    "sophia",
    "henry",
    "ella",
    "theo",
    "poppy",
    "jacob",
    "evie",
    "alfie",
    "rosie",
    "thomas",
    "chloe",
    "william",
    "sienna",
    "james",
    "ruby",
    "archie",
    "daisy",
    "joshua",
    "alice",
    "max",
    "florence",
    "lucas",
    "willow",
    "ethan",
    "hannah",
    "samuel",
    "priya",
    "aisha",
    "ravi",
    "zara",
    "omar",
)
LAST_NAMES = (
    "smith",
    "jones",
    "taylor",
    "brown",
    "williams",
    "wilson",
    "johnson",
    "davies",
    "patel",
    "wright",
    "robinson",
    "thompson",
    "evans",
    "walker",
    "white",
    "roberts",
    "green",
    "hall",
    "thomas",
    "clarke",
    "jackson",
    "wood",
    "harris",
    "edwards",
    "turner",
    "martin",
    "cooper",
    "hill",
    "ward",
    "hughes",
    "moore",
    "clark",
    "king",
    "harrison",
    "lewis",
    "baker",
    "lee",
    "allen",
    "morris",
    "khan",
    "scott",
    "watson",
    "davis",
    "parker",
    "price",
    "bennett",
    "young",
    "griffiths",
    "mitchell",
    "kelly",
    "cook",
    "carter",
    "richardson",
    "bailey",
    "collins",
    "bell",
    "shaw",
    "murphy",
    "miller",
    "cox",
    "richards",
    "marshall",
    "anderson",
    "simpson",
    "ellis",
    "adams",
    "singh",
)

# Relative order volume by hour of day (UTC, close enough to London): quiet nights, busy evenings.
_HOURLY = (
    0.15,
    0.1,
    0.08,
    0.06,
    0.06,
    0.1,
    0.25,
    0.45,
    0.65,
    0.75,
    0.8,
    0.85,
    0.9,
    0.85,
    0.8,
    0.8,
    0.85,
    0.9,
    0.95,
    1.0,
    1.0,
    0.9,
    0.6,
    0.3,
)
_WEEKDAY = (1.0, 0.97, 0.97, 1.0, 1.08, 0.9, 0.85)  # Monday .. Sunday

# (status, comm_status) by state code. Every order's commission_amount is its product's rate, whatever
# its state, as when an integration reports an order (repository.orders.create); the dashboard counts
# the amount as pending or paid only while the order is SUCCESSFUL.
_STATES = (("SUCCESSFUL", "PENDING"), ("SUCCESSFUL", "SUCCESSFUL"), ("PENDING", "N/A"), ("FAILED", "N/A"))
_SETTLED_PENDING, _PAID, _PENDING, _FAILED = range(4)
_DAY = 86_400.0
_LOW62 = (1 << 62) - 1


@dataclass
class DemoResult:
    org_id: UUID
    integrations: list[dict]  # each: {"id", "name", "api_key"} (plain API keys, shown once)
    providers: list[dict]  # each: {"id", "public_id", "name", "webhook_secret"}
    customers: int
    orders: int


async def demo_loaded(owner_dsn: str, org_id: UUID = DEMO_ORG_ID) -> bool:
    """True when the organisation exists (as seen by the owner role, which bypasses RLS)."""
    conn = await asyncpg.connect(owner_dsn)
    try:
        return await store.organisation_exists(conn, org_id)
    finally:
        await conn.close()


async def load_demo(
    owner_dsn: str,
    *,
    org_id: UUID = DEMO_ORG_ID,
    org_name: str = "Demo Partner",
    customers: int = 5000,
    orders: int = 40000,
    days: int = 90,
    seed: int = 7,
    admin_subject: str = DEMO_ADMIN_SUBJECT,
    admin_email: str = DEMO_ADMIN_EMAIL,
    progress: Callable[[str], None] | None = None,
    ledger: bool = True,
    bulk: bool | None = None,
    now: float | None = None,
) -> DemoResult:
    """Load one demo organisation: `customers` customers and `orders` orders over the last `days` days.

    `ledger=False` skips the commission ledger (one row per order), for the largest benchmark loads.
    `bulk`: None (default) drops and rebuilds foreign keys and secondary indexes of tables that are
    empty when the load starts, False never does (see `bulk.bulk_mode`). Raises ValueError if the
    organisation already exists. `now` (epoch seconds, default the current time) is where the
    demo's time line ends: loads with the same seed and `now` hold the same data.
    """
    if customers < 0 or orders < 0 or days < 1:
        raise ValueError("customers and orders must be >= 0 and days >= 1")
    if orders and not customers:
        raise ValueError("orders need at least one customer")
    say = progress or (lambda _msg: None)
    rng = random.Random(seed)  # the data: the same seed gives the same demo
    ids = random.Random(f"{org_id}:{seed}")  # identifiers: distinct per organisation, so loads never collide
    now = time.time() if now is None else now
    start = now - days * _DAY

    conn = await asyncpg.connect(owner_dsn, server_settings={"timezone": "UTC", "application_name": "orders-demo"})
    # Millions of live tuples would make the cyclic collector rescan them again and again; nothing
    # built here is cyclic, so it is paused for the load (reference counting frees as usual).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        async with conn.transaction():
            # One demo load at a time: two loads taking each other's tables in bulk mode could deadlock.
            await store.lock_bulk_loads(conn)
            if await store.organisation_exists(conn, org_id):
                raise ValueError(f"organisation {org_id} already exists")
            result, products = await _catalogue(conn, org_id, org_name, admin_subject, admin_email, ids, start)
            say("catalogue loaded")
            # From here on timestamps are sent as (microseconds since 2000-01-01,): no datetime objects.
            await store.send_timestamps_as_epoch_tuples(conn)
            plan = _plan_orders(rng, products, customers, orders, start, now, days)
            say(f"orders planned ({orders})")
            await _load_customers(conn, org_id, rng, ids, result, plan, customers, start, now, bulk, say)
            await _load_orders(conn, org_id, rng, ids, products, plan, orders, now, bulk, say)
            del plan
            if orders:
                await store.describe_demo_orders(conn, org_id)
            if ledger and orders:
                async with store.bulk_mode(conn, "commission_ledger", bulk) as mode:
                    await store.insert_history_ledger(conn, org_id, datetime.fromtimestamp(now, UTC))
                    say(f"commission ledger {orders}/{orders}")
                _report_bulk_mode(mode, say)
            await store.rebuild_rollups(conn, org_id)
            say("order rollups rebuilt")
        await store.analyze_loaded_tables(conn)
        say("analyzed")
    finally:
        await conn.close()
        if gc_was_enabled:
            gc.enable()
    result.customers, result.orders = customers, orders
    return result


def _uuid7(t: float, rng: random.Random) -> str:
    """A version-7 (time-ordered) UUID for time `t`, as hex. Rows loaded in time order then append at
    their primary key's right edge instead of splitting random pages."""
    r = rng.getrandbits(74)
    return "%032x" % ((int(t * 1000) << 80) | (0x7 << 76) | ((r >> 62) << 64) | (0b10 << 62) | (r & _LOW62))


class _Amount(Decimal):
    """A Decimal that keeps its digits: asyncpg encodes the same few rates a million times."""

    __slots__ = ("_digits",)
    _digits: DecimalTuple

    def __new__(cls, value: str) -> _Amount:
        self = super().__new__(cls, value)
        self._digits = Decimal.as_tuple(self)
        return self

    def as_tuple(self) -> DecimalTuple:
        return self._digits


# --- catalogue --------------------------------------------------------------------------


@dataclass
class _Product:
    id: UUID
    integration_index: int
    integration_id: UUID
    category_id: UUID
    provider_id: UUID
    rate: Decimal
    currency: str


async def _catalogue(
    conn: asyncpg.Connection,
    org_id: UUID,
    org_name: str,
    admin_subject: str,
    admin_email: str,
    ids: random.Random,
    start: float,
) -> tuple[DemoResult, list[_Product]]:
    created = datetime.fromtimestamp(start - 30 * _DAY, UTC)
    await store.insert_organisation(
        conn,
        org_id,
        org_name,
        marketplace_url=MARKETPLACE_URL,
        primary_colour="#1E5EFF",
        base_currency="GBP",
        time_zone="Europe/London",
        created=created,
    )
    admin_id = await store.insert_member(conn, org_id, admin_subject, admin_email, "admin", created)
    local, _, domain = admin_email.partition("@")
    member_email = f"analyst@{domain}" if domain and local.lower() != "analyst" else f"analyst.{admin_email}"
    await store.insert_member(
        conn, org_id, f"{admin_subject}-member", member_email, "member", created, invited_by=admin_id
    )

    categories = {}
    for name in CATEGORIES:
        categories[name] = await store.insert_category(conn, org_id, name, created)

    providers, provider_by_category = [], {}
    for name, category in PROVIDERS:
        public_id = f"prv_{ids.getrandbits(64):016x}"
        secret = new_webhook_secret()
        # Stored encrypted like every provider secret (shared/secrets.py); the plain one goes to demo.json.
        pid = await store.insert_provider(conn, org_id, public_id, name, secret_box().encrypt(secret), created)
        providers.append({"id": UUID(bytes=pid.bytes), "public_id": public_id, "name": name, "webhook_secret": secret})
        provider_by_category[category] = pid
    # A provider user of the first provider: the seed's provider staff who confirm commissions by hand
    # (`python -m infra.dev_issuer token --user provider`).
    await store.insert_member(
        conn,
        org_id,
        DEMO_PROVIDER_SUBJECT,
        DEMO_PROVIDER_EMAIL,
        "provider",
        created,
        provider_id=UUID(str(providers[0]["id"])),
    )

    integrations, products = [], []
    for index, (name, channel, _share, catalogue) in enumerate(INTEGRATIONS):
        key, key_hash, prefix = new_api_key()
        iid = await store.insert_integration(conn, org_id, name, channel, key_hash, prefix, created)
        integrations.append({"id": UUID(bytes=iid.bytes), "name": name, "api_key": key})
        for category, items in catalogue.items():
            await store.link_integration_category(conn, org_id, iid, categories[category])
            for product_name, rate, currency, _popularity in items:
                pid = await store.insert_product(
                    conn,
                    org_id,
                    iid,
                    categories[category],
                    provider_by_category[category],
                    product_name,
                    Decimal(rate),
                    currency,
                    created,
                )
                products.append(
                    _Product(
                        pid, index, iid, categories[category], provider_by_category[category], _Amount(rate), currency
                    )
                )
    return DemoResult(org_id, integrations, providers, 0, 0), products


# --- plan: who bought what, where and when ------------------------------------------------


@dataclass
class _Plan:
    times: array  # epoch seconds of each order, ascending
    product: array  # product index of each order
    customer: array  # customer index of each order
    state: array  # index into _STATES
    # per (customer * integrations + integration): orders, first and last order time
    pair_orders: array
    pair_first: array
    pair_last: array
    customer_ids: list[str] = field(default_factory=list)  # filled when the customers are loaded


def _day_counts(n: int, start: float, days: int) -> list[int]:
    """Orders per 24-hour slot: growing towards today (about +60% over the period), with a weekly rhythm."""
    weights = []
    for k in range(days):
        mid = datetime.fromtimestamp(start + (k + 0.5) * _DAY, UTC)
        growth = 1.0 + 0.6 * (k / (days - 1) if days > 1 else 1.0)
        weights.append(growth * _WEEKDAY[mid.weekday()])
    total = sum(weights)
    exact = [n * w / total for w in weights]
    counts = [int(e) for e in exact]
    for k in sorted(range(days), key=lambda i: exact[i] - counts[i], reverse=True)[: n - sum(counts)]:
        counts[k] += 1
    return counts


def _plan_orders(
    rng: random.Random, products: list[_Product], n_customers: int, n_orders: int, start: float, now: float, days: int
) -> _Plan:
    """Every order as a few compact numbers, in time order; the rows themselves are built while copying."""
    weights = []
    for _name, _channel, share, catalogue in INTEGRATIONS:
        items = [item for items in catalogue.values() for item in items]
        popularity = sum(item[3] for item in items)
        weights += [share * item[3] / popularity for item in items]
    assert len(weights) == len(products)
    cum, acc = [], 0.0
    for w in weights:
        acc += w
        cum.append(acc)
    cum[-1] = 2.0
    accept = [h / max(_HOURLY) for h in _HOURLY]
    n_int = len(INTEGRATIONS)
    integration_of = [p.integration_index for p in products]

    times, product, customer, state = array("d"), array("B"), array("l"), array("B")
    pair_orders = array("l", [0]) * (n_customers * n_int)
    pair_first = array("d", [0.0]) * (n_customers * n_int)
    pair_last = array("d", [0.0]) * (n_customers * n_int)
    rand, bis, span = rng.random, bisect.bisect, now - start
    for k, count in enumerate(_day_counts(n_orders, start, days)):
        day_start = start + k * _DAY
        day_times: list[float] = []
        while len(day_times) < count:
            t = day_start + _DAY * rand()
            if rand() < accept[int(t // 3600) % 24]:
                day_times.append(t)
        day_times.sort()
        for t in day_times:
            p = bis(cum, rand())
            c = int(n_customers * rand() ** 1.6)  # some customers come back often, some never buy
            u = rand()
            if u < 0.55:  # SUCCESSFUL; the older the order, the likelier its commission is paid
                s = _PAID if rand() < 0.12 + 0.62 * (now - t) / span else _SETTLED_PENDING
            else:
                s = _PENDING if u < 0.85 else _FAILED
            times.append(t)
            product.append(p)
            customer.append(c)
            state.append(s)
            pair = c * n_int + integration_of[p]
            if not pair_orders[pair]:
                pair_first[pair] = t
            pair_last[pair] = t
            pair_orders[pair] += 1
    return _Plan(times, product, customer, state, pair_orders, pair_first, pair_last)


# --- customers ----------------------------------------------------------------------------


async def _load_customers(
    conn: asyncpg.Connection,
    org_id: UUID,
    rng: random.Random,
    ids: random.Random,
    result: DemoResult,
    plan: _Plan,
    n: int,
    start: float,
    now: float,
    bulk: bool | None,
    say: Callable[[str], None],
) -> None:
    integration_ids = [i["id"] for i in result.integrations]
    channels = [channel for _n, channel, _s, _c in INTEGRATIONS]
    n_int = len(INTEGRATIONS)
    rand = rng.random
    pair_orders, pair_first, pair_last = plan.pair_orders, plan.pair_first, plan.pair_last

    firsts, lasts = [0.0] * n, [0.0] * n
    people: list[tuple[Any, ...]] = [()] * n
    visits: list[list[tuple[int, float, float, int]]] = [[]] * n
    anon_seen: set[str] = set()
    for c in range(n):
        base = c * n_int
        seen = sorted((pair_first[base + i], i) for i in range(n_int) if pair_orders[base + i])
        if seen:  # visits of the integrations they ordered through, a little before their first order
            first = max(start, seen[0][0] - 2 * _DAY * rand())
            last = max(pair_last[base + i] for _f, i in seen)
            visits[c] = [
                (i, first if k == 0 else f, pair_last[base + i], pair_orders[base + i] + int(3 * rand()))
                for k, (f, i) in enumerate(seen)
            ]
            channel = channels[seen[0][1]]
        else:  # a visitor who has not bought (yet)
            first = start + (now - start) * rand()
            last = first + (now - first) * 0.3 * rand()
            picked = rng.sample(range(n_int), 1 + int(n_int * rand() ** 2))
            visits[c] = [(i, first, last, 1 + int(4 * rand())) for i in picked]
            channel = channels[picked[0]]
        firsts[c], lasts[c] = first, last
        if rand() < 0.6:
            email = (
                f"{FIRST_NAMES[int(rand() * len(FIRST_NAMES))]}.{LAST_NAMES[int(rand() * len(LAST_NAMES))]}"
                f"{c + 1}@example.com"
            )
            people[c] = ("generic", email, None, email, channel)
        else:
            anon = f"anon-{rng.getrandbits(64):016x}"
            while anon in anon_seen:
                anon = f"anon-{rng.getrandbits(64):016x}"
            anon_seen.add(anon)
            people[c] = ("anonymous", None, anon, anonymous_name(anon), channel)
    del anon_seen
    plan.pair_orders = plan.pair_first = plan.pair_last = array("d")

    # Stored in order of arrival, with time-ordered ids: their indexes fill at the right edge.
    arrival = sorted(range(n), key=firsts.__getitem__)
    customer_ids = plan.customer_ids = [""] * n
    for c in arrival:
        customer_ids[c] = _uuid7(firsts[c], ids)
    visit_rows: list[tuple[Any, ...]] = []
    async with store.bulk_mode(conn, "customers", bulk) as mode:
        for lo in range(0, n, BATCH):
            rows = []
            for c in arrival[lo : lo + BATCH]:
                cid = customer_ids[c]
                first_seen = _pg_time(firsts[c])
                rows.append((cid, org_id, *people[c], first_seen, _pg_time(lasts[c]), first_seen))
                for i, f, last, count in visits[c]:
                    visit_rows.append((org_id, cid, integration_ids[i], _pg_time(f), _pg_time(last), count))
            await store.copy_rows(conn, "customers", CUSTOMER_COLUMNS, rows)
            say(f"customers {lo + len(rows)}/{n}")
    _report_bulk_mode(mode, say)
    del people, visits
    async with store.bulk_mode(conn, "customer_visits", bulk) as mode:
        for lo in range(0, len(visit_rows), BATCH):
            await store.copy_rows(conn, "customer_visits", VISIT_COLUMNS, visit_rows[lo : lo + BATCH])
            say(f"customer visits {min(lo + BATCH, len(visit_rows))}/{len(visit_rows)}")
    _report_bulk_mode(mode, say)


# --- orders -------------------------------------------------------------------------------


def _order_rows(
    org_id: UUID,
    rng: random.Random,
    ids: random.Random,
    products: list[_Product],
    plan: _Plan,
    lo: int,
    hi: int,
    now: float,
) -> Iterator[tuple[Any, ...]]:
    rand = rng.random
    customer_ids = plan.customer_ids
    times, product, customer, state = plan.times, plan.product, plan.customer, plan.state
    org = str(org_id)  # asyncpg parses a str UUID in C; a uuid.UUID costs a Python-level .bytes per row
    catalogue = [(org, p.integration_id, p.id, p.category_id, p.provider_id) for p in products]
    for n in range(lo, hi):
        p = product[n]
        s = state[n]
        t = times[n]
        created = _pg_time(t)
        # Settled some hours to days later, never in the future; pending orders were never touched.
        updated = created if s == _PENDING else _pg_time(min(now, t + 3600 + 4 * _DAY * rand() * rand()))
        product_ = products[p]
        yield (
            _uuid7(t, ids),
            *catalogue[p],
            customer_ids[customer[n]],
            f"ord-{n + 1:08d}",
            *_STATES[s],
            product_.rate,
            product_.currency,
            created,
            updated,
        )


async def _load_orders(
    conn: asyncpg.Connection,
    org_id: UUID,
    rng: random.Random,
    ids: random.Random,
    products: list[_Product],
    plan: _Plan,
    n: int,
    now: float,
    bulk: bool | None,
    say: Callable[[str], None],
) -> None:
    # The per-row rollup trigger would do one upsert per order; the rollup is rebuilt set-based instead.
    async with store.rollup_trigger_disabled(conn):
        async with store.bulk_mode(conn, "orders", bulk) as mode:
            for lo in range(0, n, BATCH):
                hi = min(lo + BATCH, n)
                await store.copy_rows(
                    conn, "orders", ORDER_COLUMNS, _order_rows(org_id, rng, ids, products, plan, lo, hi, now)
                )
                say(f"orders {hi}/{n}")
        _report_bulk_mode(mode, say)


def _report_bulk_mode(mode: BulkMode, say: Callable[[str], None]) -> None:
    """Reports a table's bulk mode once its indexes and foreign keys are back (benchmarks read it)."""
    if mode.active:
        say(f"{mode.table}: {mode.indexes} indexes built, {mode.foreign_keys} foreign keys validated")


# --- command line -------------------------------------------------------------------------


async def _main(argv: list[str] | None = None) -> int:
    from shared.config import get_settings

    parser = argparse.ArgumentParser(
        prog="python -m demo.orders", description="Load a demo organisation into the orders database."
    )
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--orders", type=int, default=40000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--org-id", type=UUID, default=DEMO_ORG_ID)
    parser.add_argument("--org-name", default="Demo Partner")
    parser.add_argument("--admin-subject", default=DEMO_ADMIN_SUBJECT)
    parser.add_argument("--admin-email", default=DEMO_ADMIN_EMAIL)
    parser.add_argument("--no-ledger", action="store_true", help="skip the commission ledger (one row per order)")
    parser.add_argument(
        "--no-bulk", action="store_true", help="keep foreign keys and indexes in place even when the tables are empty"
    )
    parser.add_argument(
        "--bootstrap",
        action="store_true",
        help="first create the orders database, roles and tables (DATABASE_URL must be a superuser)",
    )
    args = parser.parse_args(argv)

    settings = get_settings()
    if args.bootstrap:
        from shared.bootstrap import bootstrap

        await bootstrap(settings, ("orders",))
    owner_dsn = settings.service_database_url("orders", "owner")
    if await demo_loaded(owner_dsn, args.org_id):
        print(f"organisation {args.org_id} is already loaded", file=sys.stderr)
        return 1
    began = time.monotonic()

    def progress(msg: str) -> None:
        print(f"[{time.monotonic() - began:6.1f}s] {msg}", file=sys.stderr, flush=True)

    result = await load_demo(
        owner_dsn,
        org_id=args.org_id,
        org_name=args.org_name,
        customers=args.customers,
        orders=args.orders,
        days=args.days,
        seed=args.seed,
        admin_subject=args.admin_subject,
        admin_email=args.admin_email,
        progress=progress,
        ledger=not args.no_ledger,
        bulk=False if args.no_bulk else None,
    )
    progress("done")
    print(json.dumps(asdict(result), indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(_main()))
