"""The reports benchmark's data set (bench/reports.py): the reports read model of one organisation, loaded directly
by COPY and INSERT … SELECT into the bench PostgreSQL's reports database, as the events would have left it.

- organisation_settings, watermarks: the demo organisation of the orders benchmark (Europe/London, GBP);
- contacts: the orders benchmark's 200,000 customers (a tenth given EUR as account currency, so itemised reports
  convert);
- orders: its 1,000,000 orders (COPY out of the orders database into a temporary file, COPY into this one), with
  one commission ledger row per order and a second for every successful one; their hourly rollup (migration 008)
  rebuilt set-based after the load, its triggers off during it;
- business events: synthetic, seeded by row number (N_ENTITIES entities of all 18 types, 1 to 4 events each, the
  states of each type's life cycle, amounts in GBP / EUR / USD on the money types, the `fields` the reports read),
  on contacts of the 200,000, over the orders' 91 days; business_entities recomputed from them set-based, as
  the consumer does one entity at a time;
- FX rates: demo/fx_rates.csv (the ECB's, every currency, 2024-12 to 2027-12) through the reports fx store.

Then VACUUM ANALYZE. `load(..., reuse=True)` keeps a data set whose row counts match.
"""

from __future__ import annotations

import csv
import os
import tempfile
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
ORG = UUID("00000000-0000-4000-8000-000000000001")  # demo.orders.DEMO_ORG_ID: the orders benchmark's organisation
N_ENTITIES = int(os.environ.get("BENCH_REPORT_ENTITIES", "120000"))
TABLES = (
    "orders_hourly",
    "business_entities",
    "business_events",
    "commission_ledger",
    "orders",
    "contacts",
    "watermarks",
    "organisation_settings",
)

# Per type: the states an entity goes through (event j takes state j, the last one repeated), the state an odd
# entity ends in instead, whether its events carry an amount, and the `fields` the reports read.
LIFE = {
    "purchase": (["PENDING", "SUCCESSFUL"], "FAILED", True, "'{}'"),
    "achievement": (["achieved"], None, False, "'{}'"),
    "order": (["PENDING", "SUCCESSFUL"], "FAILED", True, "'{}'"),
    "service_request": (
        ["open", "in_progress", "resolved", "closed"],
        "in_progress",
        False,
        "jsonb_build_object('category', (ARRAY['billing','access','hardware','other'])[1 + g % 4],"
        " 'priority', (ARRAY['low','normal','high'])[1 + g % 3])",
    ),
    "activity": (["logged"], None, False, "'{}'"),
    "subscription": (
        ["trial", "active", "active", "cancelled"],
        "expired",
        True,
        "jsonb_build_object('plan', (ARRAY['basic','plus','pro'])[1 + g % 3],"
        " 'period', (ARRAY['month','year','week','quarter'])[1 + g % 4], 'allowance', 100 + g % 900)",
    ),
    "invoice": (
        ["draft", "posted"],
        "void",
        True,
        "jsonb_build_object('number', 'INV-' || g, 'method', (ARRAY['card','transfer'])[1 + g % 2])",
    ),
    "credit_note": (["posted"], None, True, "jsonb_build_object('number', 'CN-' || g)"),
    "payment": (
        ["pending", "posted"],
        "failed",
        True,
        "jsonb_build_object('number', 'PAY-' || g, 'method', (ARRAY['card','transfer','wallet'])[1 + g % 3])",
    ),
    "refund": (["posted"], None, True, "jsonb_build_object('number', 'RF-' || g)"),
    "top_up": (["posted"], None, True, "jsonb_build_object('method', 'card')"),
    "award": (
        ["pending", "granted"],
        "cancelled",
        False,
        "jsonb_build_object('scheme', (ARRAY['gold','silver'])[1 + g % 2], 'points', 10 + g % 490)",
    ),
    "spend": (
        ["granted"],
        None,
        False,
        "jsonb_build_object('scheme', (ARRAY['gold','silver'])[1 + g % 2], 'points', 5 + g % 95)",
    ),
    "donation": (["pledged", "received"], None, True, "'{}'"),
    "usage": (
        ["recorded"],
        None,
        False,
        "jsonb_build_object('metric', (ARRAY['api_calls','storage'])[1 + g % 2], 'unit', 'unit',"
        " 'quantity', 1 + g % 50)",
    ),
    "pass": (
        ["issued", "redeemed"],
        "expired",
        True,
        "jsonb_build_object('passType', (ARRAY['day','season','event'])[1 + g % 3])",
    ),
    "lead": (
        ["created", "qualified", "converted"],
        "lost",
        False,
        "jsonb_build_object('source', (ARRAY['web','referral','event','ads'])[1 + g % 4], 'owner', 'rep' || g % 7)",
    ),
    "inventory_item": (
        ["received", "allocated", "returned"],
        "allocated",
        False,
        "jsonb_build_object('location', (ARRAY['north','south','east'])[1 + g % 3], 'quantity', 1 + g % 20)",
    ),
}


def say(msg: str) -> None:
    import sys

    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


async def counts(conn: asyncpg.Connection) -> dict[str, int]:
    return {t: int(await conn.fetchval(f"SELECT count(*) FROM {t} WHERE org_id = $1", ORG)) for t in TABLES}


async def _copy_across(
    src: asyncpg.Connection, dst: asyncpg.Connection, query: str, table: str, cols: list[str]
) -> int:
    """COPY `query` out of one database into a temporary file, and COPY it into `table` of another (binary)."""
    fd, path = tempfile.mkstemp(suffix=".copy")
    os.close(fd)
    try:
        await src.copy_from_query(query, output=path, format="binary")
        status = await dst.copy_to_table(table, source=path, columns=cols, format="binary")
        return int(status.split()[-1])
    finally:
        os.unlink(path)


def _events_sql() -> str:
    """INSERT … SELECT of every business event, from generate_series (entity g, event j), seeded by row number."""
    types = list(LIFE)
    cases_state, cases_fields, money_types = [], [], []
    for t, (states, alt, money, fields) in LIFE.items():
        arr = "(ARRAY[" + ",".join(f"'{s}'" for s in states) + "])"
        last = f"'{alt}'" if alt else f"{arr}[{len(states)}]"
        cases_state.append(
            f"WHEN '{t}' THEN CASE WHEN j = n - 1 AND g % 2 = 1 AND {alt is not None} THEN {last}"
            f" ELSE {arr}[LEAST(j + 1, {len(states)})] END"
        )
        cases_fields.append(f"WHEN '{t}' THEN {fields}::jsonb")
        if money:
            money_types.append(f"'{t}'")
    money_in = ", ".join(money_types)
    type_arr = "ARRAY[" + ",".join(f"'{t}'" for t in types) + "]"
    return f"""
        WITH c AS (SELECT array_agg(id ORDER BY id) AS ids FROM contacts WHERE org_id = $1),
             dims AS (SELECT array_agg(DISTINCT integration_id) AS ints, array_agg(DISTINCT product_id) AS prods,
                             array_agg(DISTINCT category_id) AS cats FROM orders WHERE org_id = $1),
             ent AS (SELECT g, ({type_arr})[1 + g % {len(types)}] AS type, 1 + (g / 7) % 4 AS n,
                            $3::timestamptz - (((g * 7919) % 7776000) || ' seconds')::interval AS t0
                       FROM generate_series(1, $2::int) g)
        INSERT INTO business_events (org_id, event_id, occurred_at, recorded_at, integration_id, source_key, type,
                                     entity_id, state, customer_id, product_id, category_id, channel, amount, currency,
                                     account_currency, fields, custom_fields, items, counted)
        SELECT $1, gen_random_uuid(), LEAST(e.t0 + (j * 5 || ' hours')::interval, $3::timestamptz),
               LEAST(e.t0 + (j * 5 || ' hours')::interval, $3::timestamptz), d.ints[1 + e.g % cardinality(d.ints)],
               'bench', e.type, e.type || '-' || e.g,
               CASE e.type {" ".join(cases_state)} END,
               c.ids[1 + ((e.g::bigint * 104729) % cardinality(c.ids))::int], d.prods[1 + e.g % cardinality(d.prods)],
               d.cats[1 + e.g % cardinality(d.cats)], (ARRAY['web','app','store'])[1 + e.g % 3],
               CASE WHEN e.type IN ({money_in}) THEN round((5 + (e.g * 31) % 49500 / 100.0)::numeric, 2) END,
               CASE WHEN e.type IN ({money_in}) THEN (ARRAY['GBP','GBP','GBP','EUR','USD'])[1 + e.g % 5] END,
               NULL, CASE e.type {" ".join(cases_fields)} END, NULL, NULL, j = e.n - 1
          FROM ent e CROSS JOIN c CROSS JOIN dims d CROSS JOIN LATERAL generate_series(0, e.n - 1) j"""


ENTITIES_SQL = """
    INSERT INTO business_entities (org_id, integration_id, type, entity_id, customer_id, state, state_at,
                                   first_event_at, last_event_at, events, counted_at, amount, currency,
                                   account_currency, fields, custom_fields)
    SELECT org_id, integration_id, type, entity_id,
           (array_agg(customer_id ORDER BY occurred_at DESC))[1], (array_agg(state ORDER BY occurred_at DESC))[1],
           max(occurred_at), min(occurred_at), max(occurred_at), count(*),
           max(occurred_at) FILTER (WHERE counted),
           (array_agg(amount ORDER BY occurred_at DESC) FILTER (WHERE counted))[1],
           (array_agg(currency ORDER BY occurred_at DESC) FILTER (WHERE counted))[1], NULL,
           (array_agg(fields ORDER BY occurred_at DESC))[1], NULL
      FROM business_events WHERE org_id = $1
     GROUP BY org_id, integration_id, type, entity_id"""


ROLLUP_TRIGGERS = ("orders_hourly_insert", "orders_hourly_update", "orders_hourly_delete")
ROLLUP_SQL = """
    INSERT INTO orders_hourly (org_id, hour, provider_id, integration_id, category_id, currency, status, comm_status,
                               orders, amount)
    SELECT org_id, date_trunc('hour', created_at, 'UTC'), provider_id, integration_id, category_id, currency, status,
           comm_status, count(*), sum(amount)
      FROM orders WHERE org_id = $1
     GROUP BY 1, 2, 3, 4, 5, 6, 7, 8"""


def _fx_csv() -> tuple[list[str], list[date], list[Decimal]]:
    cur: list[str] = []
    days: list[date] = []
    vals: list[Decimal] = []
    with open(ROOT / "demo" / "fx_rates.csv", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        for row in reader:
            d = date.fromisoformat(row[0])
            for name, v in zip(header[1:], row[1:], strict=False):
                if name and v and v != "N/A":
                    cur.append(name)
                    days.append(d)
                    vals.append(Decimal(v))
    return cur, days, vals


async def load_fx(conn: asyncpg.Connection) -> int:
    from services.reports.repository import fx_rates

    cur, days, vals = _fx_csv()
    return await fx_rates.store(conn, cur, days, vals, datetime(2026, 11, 30, tzinfo=UTC))


async def load(orders_owner: str, reports_owner: str, *, reuse: bool) -> dict[str, int]:
    """The data set, loaded unless `reuse` finds it whole; returns the row count per table."""
    src = await asyncpg.connect(orders_owner)
    dst = await asyncpg.connect(reports_owner)
    try:
        n_orders = int(await src.fetchval("SELECT count(*) FROM orders WHERE org_id = $1", ORG))
        have = await counts(dst)
        if reuse and have["orders"] == n_orders and have["business_entities"] > 0:
            say(f"reports data set present: {have}")
            return have
        began = time.monotonic()
        say("loading the reports read model (COPY from the orders database, INSERT … SELECT)")
        # The orders' hourly rollup (migration 008) is kept by statement triggers; with them on, deleting and
        # reloading a million orders would also write every bucket twice: off while loading, rebuilt set-based after.
        for trigger in ROLLUP_TRIGGERS:
            await dst.execute(f"ALTER TABLE orders DISABLE TRIGGER {trigger}")
        for t in TABLES:
            await dst.execute(f"DELETE FROM {t} WHERE org_id = $1", ORG)
        await dst.execute("DELETE FROM report_schedules WHERE org_id = $1", ORG)
        await dst.execute("DELETE FROM report_runs WHERE org_id = $1", ORG)
        name, tz, base = await src.fetchrow(
            "SELECT name, time_zone, base_currency FROM organisations WHERE id = $1", ORG
        )
        await dst.execute(
            """INSERT INTO organisation_settings (org_id, name, time_zone, base_currency, as_of)
               VALUES ($1, $2, $3, $4, now())""",
            ORG,
            name,
            tz,
            base,
        )
        await load_fx(dst)
        n = await _copy_across(
            src,
            dst,
            f"""SELECT org_id, id, kind, channel, email, display_name,
                       CASE WHEN abs(hashtext(id::text)) % 10 = 0 THEN 'EUR' END::char(3),
                       custom_fields, first_seen, last_seen, merged_into, erased_at, created_at
                  FROM customers WHERE org_id = '{ORG}'""",
            "contacts",
            [
                "org_id",
                "id",
                "kind",
                "channel",
                "email",
                "display_name",
                "account_currency",
                "custom_fields",
                "first_seen",
                "last_seen",
                "merged_into",
                "erased_at",
                "created_at",
            ],
        )
        say(f"  contacts {n:,} ({time.monotonic() - began:.0f}s)")
        n = await _copy_across(
            src,
            dst,
            f"""SELECT org_id, id, integration_id, category_id, product_id, customer_id, provider_id, kind, status,
                       comm_status, failure_reason, commission_amount, currency, created_at,
                       CASE WHEN status = 'SUCCESSFUL' THEN updated_at END, updated_at, updated_at, custom_fields
                  FROM orders WHERE org_id = '{ORG}'""",
            "orders",
            [
                "org_id",
                "id",
                "integration_id",
                "category_id",
                "product_id",
                "customer_id",
                "provider_id",
                "kind",
                "status",
                "comm_status",
                "failure_reason",
                "amount",
                "currency",
                "created_at",
                "successful_at",
                "updated_at",
                "as_of",
                "custom_fields",
            ],
        )
        say(f"  orders {n:,} ({time.monotonic() - began:.0f}s)")
        await dst.execute(
            """INSERT INTO commission_ledger (org_id, event_id, order_id, from_status, to_status, from_comm, to_comm,
                                              amount, currency, source, occurred_at)
               SELECT org_id, gen_random_uuid(), id, NULL, 'PENDING', NULL, 'N/A', 0, currency, NULL, created_at
                 FROM orders WHERE org_id = $1
               UNION ALL
               SELECT org_id, gen_random_uuid(), id, 'PENDING', status, 'N/A', comm_status, amount, currency, NULL,
                      updated_at
                 FROM orders WHERE org_id = $1 AND status <> 'PENDING'""",
            ORG,
        )
        say(f"  commission ledger ({time.monotonic() - began:.0f}s)")
        await dst.execute(ROLLUP_SQL, ORG)
        for trigger in ROLLUP_TRIGGERS:
            await dst.execute(f"ALTER TABLE orders ENABLE TRIGGER {trigger}")
        newest = await dst.fetchval("SELECT max(created_at) FROM orders WHERE org_id = $1", ORG)
        await dst.execute(_events_sql(), ORG, N_ENTITIES, newest)
        say(f"  business events ({time.monotonic() - began:.0f}s)")
        await dst.execute(ENTITIES_SQL, ORG)
        say(f"  business entities ({time.monotonic() - began:.0f}s)")
        await dst.execute(
            """INSERT INTO watermarks (org_id, source, occurred_at, event_id, applied_at)
               SELECT $1, 'orders', max(updated_at), gen_random_uuid(), now() FROM orders WHERE org_id = $1
               UNION ALL
               SELECT $1, 'insights', max(recorded_at), gen_random_uuid(), now() FROM business_events
                WHERE org_id = $1""",
            ORG,
        )
        for t in (*TABLES, "fx_rates"):
            await dst.execute(f"VACUUM ANALYZE {t}")
        have = await counts(dst)
        say(f"reports data set loaded in {time.monotonic() - began:.0f}s: {have}")
        return have
    finally:
        await src.close()
        await dst.close()
