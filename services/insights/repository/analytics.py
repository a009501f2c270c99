"""The Analytics tab's SQL: series points, the user funnel, and the rows behind every number.

Every number is read from a read model kept as events land (migration 001), never from a scan of raw
events over a long range:

- daily customers: `active_counts` and `customer_firsts` (migrations 003-004: per key of at most one
  integration and one category, ALL standing for any, how many customers were active each local day and
  each customer's first day), so a point is a row and a count over an index range; a filter of several
  values is the union of its keys' rows (`_keys`): distinct customers per day over their `active_customers`
  ranges, and the earliest of each customer's `customer_firsts` first days under them;
- visits: `event_rollups_daily`, or `event_rollups_hourly` for hours inside its 48-hour window;
- orders and commission: `order_rollups_daily` of the orders copy, as the orders service's own summary
  reads its rollup (orders created in the point, by their current status and commission status);
- the funnel: `funnel_paths` (migration 006: per integration or ALL, local day and customer, the previous funnel
  day and each step's first time from that day on: one row per customer for a range), or `funnel_firsts` (each
  customer's first occurrence of each step per local day) for a category filter.

Hourly points (ranges of at most 2 days) read what the read models cannot split by hour from raw events and
the orders copy of those days only. A point's bucket is `width_bucket(instant, starts)`: its 1-based index in
the span's bucket starts (`domain.buckets`), so days of 23 or 25 hours and half-hour zones need no special case.

Each list behind a number runs the very predicate its number counts, so its `totalCount` equals the number.
Every statement filters by `org_id` first and runs in a tenant transaction (row-level security).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from services.insights.domain.buckets import Bucket, Granularity, Span
from services.insights.domain.metrics import SeriesMetric
from services.insights.repository import segments
from services.insights.repository.events import ALL, HOURLY_WINDOW_HOURS, NIL
from shared.service.pagination import Params, decode_cursor, encode_cursor

FUNNEL_STEPS = 6


@dataclass(frozen=True)
class Scope:
    """One organisation, and the categories and integrations selected (empty: all)."""

    org_id: UUID
    category_ids: list[UUID] = field(default_factory=list)
    integration_ids: list[UUID] = field(default_factory=list)
    # Customers of this segment only (its members in segment_members): every number and list then reads
    # tables that name the customer, never the rollups, which do not.
    segment_id: UUID | None = None


def _member(p: Params, scope: Scope, customer: str) -> list[str]:
    """The segment condition on `customer`, when the scope names a segment."""
    if scope.segment_id is None:
        return []
    return [segments.member_condition(p, scope.org_id, scope.segment_id, customer)]


@dataclass
class Point:
    new_customers: int = 0
    returning_customers: int = 0
    visits: int = 0
    orders_created: int = 0
    successful_orders: int = 0
    commission_pending: dict[str, Decimal] = field(default_factory=dict)
    commission_paid: dict[str, Decimal] = field(default_factory=dict)


def _dims(p: Params, alias: str, scope: Scope, *, categories: bool = True, nil_category: bool = False) -> str:
    """The filter's integrations and (unless `categories` is False) categories on `alias`'s rows; with
    `nil_category`, rows without a category (the nil uuid) match any category filter. A segment is checked on
    `alias`'s customer unless `alias` is "r" (a rollup: no customer; the segment paths never read one)."""
    parts = [f"{alias}.org_id = {p(scope.org_id)}"]
    if alias != "r":
        parts += _member(p, scope, f"{alias}.customer_id")
    if scope.integration_ids:
        parts.append(f"{alias}.integration_id = ANY({p(scope.integration_ids)}::uuid[])")
    if categories and scope.category_ids:
        cats = list(scope.category_ids) + ([NIL] if nil_category else [])
        parts.append(f"{alias}.category_id = ANY({p(cats)}::uuid[])")
    return " AND ".join(parts)


def _raw_dims(p: Params, alias: str, scope: Scope) -> str:
    """As `_dims` on raw events, whose category is NULL when the event has no product."""
    parts = [f"{alias}.org_id = {p(scope.org_id)}", f"{alias}.customer_id IS NOT NULL"]
    parts += _member(p, scope, f"{alias}.customer_id")
    if scope.integration_ids:
        parts.append(f"{alias}.integration_id = ANY({p(scope.integration_ids)}::uuid[])")
    if scope.category_ids:
        parts.append(f"{alias}.category_id = ANY({p(scope.category_ids)}::uuid[])")
    return " AND ".join(parts)


def _starts(span: Span) -> list[datetime]:
    return [b.start for b in span.buckets]


async def time_zone(conn: asyncpg.Connection, org_id: UUID) -> str:
    """The organisation's time zone as this service's copy of its settings says; UTC until it arrives."""
    tz = await conn.fetchval("SELECT time_zone FROM organisation_settings WHERE org_id = $1", org_id)
    return str(tz) if tz else "UTC"


# ---------------------------------------------------------------------------------------------- series


async def series(conn: asyncpg.Connection, scope: Scope, span: Span) -> list[Point]:
    """One point per bucket of `span`, in order (zeros where nothing happened)."""
    points = [Point() for _ in span.buckets]
    index_of_day = {b.day: i for i, b in enumerate(span.buckets)}

    def at(key: Any) -> Point | None:
        """The point of a row's key: a local day (daily) or a 1-based bucket index (hourly)."""
        if span.granularity is Granularity.DAY:
            i = index_of_day.get(key)
            return points[i] if i is not None else None
        return points[key - 1] if 1 <= key <= len(points) else None

    for r in await _customers(conn, scope, span):
        pt = at(r["k"])
        if pt is not None:
            pt.new_customers, pt.returning_customers = r["new"], r["active"] - r["new"]
    for r in await _visits(conn, scope, span):
        pt = at(r["k"])
        if pt is not None:
            pt.visits += int(r["n"])
    for r in await _orders(conn, scope, span):
        pt = at(r["k"])
        if pt is None:
            continue
        pt.orders_created += r["n"]
        if r["status"] == "SUCCESSFUL":
            pt.successful_orders += r["n"]
        money = {"PENDING": pt.commission_pending, "SUCCESSFUL": pt.commission_paid}.get(r["comm_status"])
        if money is not None:
            money[r["currency"]] = money.get(r["currency"], Decimal("0")) + r["commission"]
    return points


def _single_key(scope: Scope) -> tuple[UUID, UUID] | None:
    """The (integration, category) key of active_customers / customer_firsts a filter of at most one
    integration and one category reads (ALL where it names none); None for a filter of several values."""
    if len(scope.integration_ids) > 1 or len(scope.category_ids) > 1:
        return None
    return (
        scope.integration_ids[0] if scope.integration_ids else ALL,
        scope.category_ids[0] if scope.category_ids else ALL,
    )


def _keys(scope: Scope) -> list[tuple[UUID, UUID]]:
    """The (integration, category) keys of active_customers / customer_firsts whose union a filter selects: every
    selected integration (ALL when none) with every selected category (ALL when none). A customer matches the
    filter on a day exactly when they are active under one of them, and first matched on the earliest of their
    first days under them."""
    return [
        (i, c)
        for i in dict.fromkeys(scope.integration_ids or [ALL])
        for c in dict.fromkeys(scope.category_ids or [ALL])
    ]


def _seen_before(p: Params, scope: Scope, customer: str, day: date) -> str:
    """The customer had a matching active day before `day`: one of their first days (customer_firsts, read
    through its primary key from the customer) under a key the filter matches falls before it (an ALL key
    matches when its dimension is not filtered, and its first day is the earliest of the keys it covers)."""
    return f"""EXISTS (SELECT 1 FROM customer_firsts cf
                        WHERE {_dims(p, "cf", scope)} AND cf.customer_id = {customer}
                          AND cf.first_day < {p(day)})"""


async def _customers(conn: asyncpg.Connection, scope: Scope, span: Span) -> list[asyncpg.Record]:
    """Per point: active customers and how many of them are new (first active, matching the filter)."""
    p = Params()
    key = _single_key(scope)
    if span.granularity is Granularity.DAY and scope.segment_id is not None:
        sql = _segment_customers_daily(p, scope, span)
    elif span.granularity is Granularity.DAY and key is not None:
        # One key: the customers active each day (a counter per day), and those whose first day it is (a count
        # over an index range).
        org, i, c = p(scope.org_id), p(key[0]), p(key[1])
        first, last = p(span.first_day), p(span.last_day)
        sql = f"""
            SELECT k, sum(active)::bigint AS active, sum(new)::bigint AS new FROM (
                SELECT a.day AS k, a.customers AS active, 0 AS new FROM active_counts a
                 WHERE a.org_id = {org} AND a.integration_id = {i} AND a.category_id = {c}
                   AND a.day >= {first} AND a.day <= {last}
                UNION ALL
                SELECT f.first_day, 0, count(*) FROM customer_firsts f
                 WHERE f.org_id = {org} AND f.integration_id = {i} AND f.category_id = {c}
                   AND f.first_day >= {first} AND f.first_day <= {last}
                 GROUP BY 1
            ) x GROUP BY k"""
    elif span.granularity is Granularity.DAY:
        sql = _several_keys_daily(p, scope, span)
    else:
        starts = p(_starts(span))
        if key is not None:
            # One key: the customers new in the span are the few whose first day under it is in the span (an
            # index range), not a probe per active customer.
            known = f"""SELECT cf.customer_id FROM customer_firsts cf
                         WHERE cf.org_id = {p(scope.org_id)} AND cf.integration_id = {p(key[0])}
                           AND cf.category_id = {p(key[1])} AND cf.first_day >= {p(span.first_day)}"""
            is_new = "n.customer_id IS NOT NULL"
        else:
            known = "SELECT NULL::uuid AS customer_id WHERE false"
            is_new = f"NOT {_seen_before(p, scope, 'a.customer_id', span.first_day)}"
        sql = f"""
            WITH ev AS (
                SELECT e.customer_id, e.occurred_at FROM events e
                 WHERE {_raw_dims(p, "e", scope)}
                   AND e.occurred_at >= {p(span.start)} AND e.occurred_at < {p(span.end)}
            ), act AS (
                SELECT DISTINCT width_bucket(occurred_at, {starts}::timestamptz[]) AS k, customer_id FROM ev
            ), fresh AS (
                SELECT customer_id, width_bucket(min(occurred_at), {starts}::timestamptz[]) AS first_k
                  FROM ev GROUP BY customer_id
            ), known AS ({known})
            SELECT a.k, count(*) AS active, count(*) FILTER (WHERE f.first_k = a.k AND {is_new}) AS new
              FROM act a JOIN fresh f USING (customer_id) LEFT JOIN known n USING (customer_id) GROUP BY a.k"""
    return list(await conn.fetch(sql, *p.values))


def _segment_customers_daily(p: Params, scope: Scope, span: Span) -> str:
    """Per day, a segment's customers active under the filter's keys, and how many of them are new (their
    earliest first day under those keys is that day): the keys' `active_customers` and `customer_firsts` rows of
    the members only (the day counters hold no customer)."""
    keys = _keys(scope)
    org = p(scope.org_id)
    in_keys = f"(SELECT * FROM unnest({p([k[0] for k in keys])}::uuid[], {p([k[1] for k in keys])}::uuid[]))"
    return f"""
        WITH act AS (
            SELECT DISTINCT a.day AS k, a.customer_id FROM active_customers a
             WHERE a.org_id = {org} AND (a.integration_id, a.category_id) IN {in_keys}
               AND a.day >= {p(span.first_day)} AND a.day <= {p(span.last_day)}
               AND {" AND ".join(_member(p, scope, "a.customer_id"))}
        ), firsts AS (
            SELECT f.customer_id, min(f.first_day) AS first_day FROM customer_firsts f
             WHERE f.org_id = {org} AND (f.integration_id, f.category_id) IN {in_keys}
               AND f.customer_id IN (SELECT customer_id FROM act)
             GROUP BY f.customer_id
        )
        SELECT a.k, count(*) AS active, count(*) FILTER (WHERE f.first_day = a.k) AS new
          FROM act a JOIN firsts f USING (customer_id) GROUP BY a.k"""


# A filter of two keys counts its active customers by an anti-join (sorted index ranges merged, no hashing: the
# second key's customers the first already counted are skipped); more keys, by one sort of every key's rows
# (anti-joins grow with the square of the keys: at 5M events three keys by anti-joins were no faster).
_ANTI_JOIN_KEYS = 2


def _several_keys_daily(p: Params, scope: Scope, span: Span) -> str:
    """Per day, a filter of several integrations or categories: the customers active under any of its keys, and
    how many of them are new (their earliest first day over the keys, the first day matching the filter, is
    that day).

    Active: the first key's count is its `active_counts` row; each later key adds its `active_customers` of the
    day under none of the earlier keys: merge anti-joins of index ranges sorted by (day, customer). New: the
    customers first seen under a key within the span (index ranges of `customer_firsts`), their earliest day,
    less those first seen under any key before the span (a hash of the few candidates probed by those ranges)."""
    org, first, last = p(scope.org_id), p(span.first_day), p(span.last_day)
    keys = [(p(i), p(c)) for i, c in _keys(scope)]

    def actives(alias: str, key: tuple[str, str]) -> str:
        return f"""SELECT {alias}.day AS k, {alias}.customer_id FROM active_customers {alias}
                    WHERE {alias}.org_id = {org} AND {alias}.integration_id = {key[0]}
                      AND {alias}.category_id = {key[1]} AND {alias}.day >= {first} AND {alias}.day <= {last}"""

    if len(keys) <= _ANTI_JOIN_KEYS:
        i0, c0 = keys[0]
        parts = [
            f"""SELECT a.day AS k, a.customers::bigint AS n FROM active_counts a
                 WHERE a.org_id = {org} AND a.integration_id = {i0} AND a.category_id = {c0}
                   AND a.day >= {first} AND a.day <= {last}"""
        ]
        for n, key in enumerate(keys[1:], start=1):
            unseen = " AND ".join(
                f"""NOT EXISTS (SELECT 1 FROM active_customers e{j}
                                 WHERE e{j}.org_id = {org} AND e{j}.integration_id = {keys[j][0]}
                                   AND e{j}.category_id = {keys[j][1]}
                                   AND e{j}.day = a.k AND e{j}.customer_id = a.customer_id)"""
                for j in range(n)
            )
            parts.append(f"SELECT a.k, count(*) AS n FROM ({actives('x', key)}) a WHERE {unseen} GROUP BY a.k")
        active = f"SELECT k, sum(n)::bigint AS active FROM ({' UNION ALL '.join(parts)}) u GROUP BY k"
    else:
        union = " UNION ALL ".join(actives("a", key) for key in keys)
        active = f"SELECT k, count(*) AS active FROM (SELECT DISTINCT k, customer_id FROM ({union}) u) d GROUP BY k"

    def firsts(alias: str, key: tuple[str, str], days: str) -> str:
        return f"""SELECT {alias}.customer_id, {alias}.first_day FROM customer_firsts {alias}
                    WHERE {alias}.org_id = {org} AND {alias}.integration_id = {key[0]}
                      AND {alias}.category_id = {key[1]} AND {days}"""

    within = " UNION ALL ".join(firsts("f", k, f"f.first_day >= {first} AND f.first_day <= {last}") for k in keys)
    before = " UNION ALL ".join(firsts("f", k, f"f.first_day < {first}") for k in keys)
    return f"""
        WITH fresh AS (SELECT x.customer_id, min(x.first_day) AS k FROM ({within}) x GROUP BY x.customer_id),
        seen AS ({before}),
        act AS ({active}),
        new AS (SELECT f.k, count(*) AS new FROM fresh f
                 WHERE NOT EXISTS (SELECT 1 FROM seen s WHERE s.customer_id = f.customer_id) GROUP BY f.k)
        SELECT a.k, a.active, coalesce(n.new, 0) AS new FROM act a LEFT JOIN new n USING (k)"""


async def _visits(conn: asyncpg.Connection, scope: Scope, span: Span) -> list[asyncpg.Record]:
    """Per point: visit events (a category filter does not narrow them: a visit has no category)."""
    p = Params()
    if span.granularity is Granularity.DAY and scope.segment_id is not None:
        # A segment's visits: its members' per-day visit counts (visits carry the nil category).
        sql = f"""
            SELECT c.day AS k, sum(c.visits) AS n FROM customer_days c
             WHERE {_dims(p, "c", scope, categories=False)}
               AND c.day >= {p(span.first_day)} AND c.day <= {p(span.last_day)}
             GROUP BY 1"""
        return list(await conn.fetch(sql, *p.values))
    if span.granularity is Granularity.DAY:
        sql = f"""
            SELECT r.day AS k, sum(r.events) AS n FROM event_rollups_daily r
             WHERE {_dims(p, "r", scope, categories=False)} AND r.type = 'visit'
               AND r.day >= {p(span.first_day)} AND r.day <= {p(span.last_day)}
             GROUP BY 1"""
        return list(await conn.fetch(sql, *p.values))
    starts = p(_starts(span))
    end = p(span.end)
    # Hours inside the hourly rollup's window come from it (only when buckets are UTC hours); the rest of the
    # range's (at most 2) days from the raw visits.
    cut = (
        f"(SELECT coalesce(min(s), {end}) FROM unnest({starts}::timestamptz[]) s"
        f" WHERE s >= now() - interval '{HOURLY_WINDOW_HOURS} hours')"
        if span.hours_aligned and scope.segment_id is None
        else f"{end}::timestamptz"
    )
    sql = f"""
        WITH cut AS (SELECT {cut} AS at)
        SELECT width_bucket(r.hour, {starts}::timestamptz[]) AS k, sum(r.events) AS n
          FROM event_rollups_hourly r, cut
         WHERE {_dims(p, "r", scope, categories=False)} AND r.type = 'visit' AND r.hour >= cut.at AND r.hour < {end}
         GROUP BY 1
        UNION ALL
        SELECT width_bucket(e.occurred_at, {starts}::timestamptz[]) AS k, count(*) AS n
          FROM events e, cut
         WHERE {_dims(p, "e", scope, categories=False)} AND e.type = 'visit'
           AND e.occurred_at >= {p(span.start)} AND e.occurred_at < cut.at
         GROUP BY 1"""
    return list(await conn.fetch(sql, *p.values))


async def _orders(conn: asyncpg.Connection, scope: Scope, span: Span) -> list[asyncpg.Record]:
    """Per point, status, commission status and currency: orders created and their commission."""
    p = Params()
    if span.granularity is Granularity.DAY and scope.segment_id is not None:
        # A segment's orders: the orders copy's rows of its members, by the organisation-local day.
        sql = f"""
            SELECT (o.created_at AT TIME ZONE {p(span.time_zone)})::date AS k, o.status, o.comm_status, o.currency,
                   count(*) AS n, sum(o.amount) AS commission
              FROM orders o
             WHERE {_dims(p, "o", scope)} AND o.created_at >= {p(span.start)} AND o.created_at < {p(span.end)}
             GROUP BY 1, 2, 3, 4"""
    elif span.granularity is Granularity.DAY:
        sql = f"""
            SELECT r.day AS k, r.status, r.comm_status, r.currency, sum(r.orders)::bigint AS n,
                   sum(r.commission) AS commission
              FROM order_rollups_daily r
             WHERE {_dims(p, "r", scope)} AND r.day >= {p(span.first_day)} AND r.day <= {p(span.last_day)}
             GROUP BY 1, 2, 3, 4 HAVING sum(r.orders) > 0"""
    else:
        sql = f"""
            SELECT width_bucket(o.created_at, {p(_starts(span))}::timestamptz[]) AS k, o.status, o.comm_status,
                   o.currency, count(*) AS n, sum(o.amount) AS commission
              FROM orders o
             WHERE {_dims(p, "o", scope)} AND o.created_at >= {p(span.start)} AND o.created_at < {p(span.end)}
             GROUP BY 1, 2, 3, 4"""
    return list(await conn.fetch(sql, *p.values))


# ---------------------------------------------------------------------------------------------- drill-downs


@dataclass
class Page:
    rows: list[dict[str, Any]]
    has_next_page: bool
    total_count: int


async def _page(conn: asyncpg.Connection, p: Params, base: str, order_ts: str, first: int, after: str | None) -> Page:
    """A keyset page of `base` (rows `at`, `id`) newest first, and the count of all its rows."""
    total = await conn.fetchval(f"SELECT count(*) FROM ({base}) b", *p.values)
    where = ""
    if after:
        ts, id = decode_cursor(after)
        where = f"WHERE (b.{order_ts}, b.id) < ({p(ts)}, {p(id)})"
    rows = await conn.fetch(
        f"SELECT * FROM ({base}) b {where} ORDER BY b.{order_ts} DESC, b.id DESC LIMIT {p(first + 1)}", *p.values
    )
    page = [dict(r) for r in rows[:first]]
    for r in page:
        r["cursor"] = encode_cursor(r[order_ts], r["id"])
    return Page(page, len(rows) > first, int(total))


def _customers_behind(p: Params, scope: Scope, span: Span, bucket: Bucket, metric: SeriesMetric) -> str:
    """The customers a customer point counts: active in `bucket`, and new (nothing matching before it) or
    returning. Rows: id (the customer), at (their first matching activity in the bucket, or the day's start)."""
    earlier_days = _seen_before(p, scope, "a.id", bucket.day)
    if span.granularity is Granularity.DAY:
        active = f"""SELECT c.customer_id AS id, {p(bucket.start)}::timestamptz AS at FROM customer_days c
                      WHERE {_dims(p, "c", scope)} AND c.day = {p(bucket.day)} GROUP BY c.customer_id"""
        earlier = earlier_days
    else:
        day_start = p(_day_start(span, bucket.day))
        active = f"""SELECT e.customer_id AS id, min(e.occurred_at) AS at FROM events e
                      WHERE {_raw_dims(p, "e", scope)}
                        AND e.occurred_at >= {p(bucket.start)} AND e.occurred_at < {p(bucket.end)}
                      GROUP BY e.customer_id"""
        earlier = f"""({earlier_days} OR EXISTS (
                        SELECT 1 FROM events e WHERE {_raw_dims(p, "e", scope)} AND e.customer_id = a.id
                           AND e.occurred_at >= {day_start} AND e.occurred_at < {p(bucket.start)}))"""
    negate = "NOT " if metric is SeriesMetric.NEW_CUSTOMERS else ""
    return f"SELECT a.id, a.at FROM ({active}) a WHERE {negate}{earlier}"


def _day_start(span: Span, day: date) -> datetime:
    return next(b.start for b in span.buckets if b.day == day)


async def customers_behind(
    conn: asyncpg.Connection,
    scope: Scope,
    span: Span,
    bucket: Bucket,
    metric: SeriesMetric,
    first: int,
    after: str | None,
) -> Page:
    p = Params()
    return await _page(conn, p, _customers_behind(p, scope, span, bucket, metric), "at", first, after)


async def visits_behind(conn: asyncpg.Connection, scope: Scope, bucket: Bucket, first: int, after: str | None) -> Page:
    """The visit events of a visits point (raw events: kept 90 days, the daily rollup longer)."""
    p = Params()
    base = f"""SELECT e.id, e.occurred_at AS at, e.customer_id, e.integration_id, e.device_id FROM events e
                WHERE {_dims(p, "e", scope, categories=False)} AND e.type = 'visit'
                  AND e.occurred_at >= {p(bucket.start)} AND e.occurred_at < {p(bucket.end)}"""
    return await _page(conn, p, base, "at", first, after)


_ORDER_METRIC = {
    SeriesMetric.ORDERS_CREATED: "true",
    SeriesMetric.SUCCESSFUL_ORDERS: "o.status = 'SUCCESSFUL'",
    SeriesMetric.COMMISSION_PENDING: "o.comm_status = 'PENDING'",
    SeriesMetric.COMMISSION_PAID: "o.comm_status = 'SUCCESSFUL'",
}


async def orders_behind(
    conn: asyncpg.Connection, scope: Scope, bucket: Bucket, metric: SeriesMetric, first: int, after: str | None
) -> Page:
    """The orders (of the orders copy) an orders point counts or sums: created in the bucket."""
    p = Params()
    base = f"""SELECT o.id, o.created_at AS at, o.customer_id, o.integration_id, o.category_id, o.product_id,
                      o.status, o.comm_status, o.amount, o.currency, o.kind FROM orders o
                WHERE {_dims(p, "o", scope)} AND {_ORDER_METRIC[metric]}
                  AND o.created_at >= {p(bucket.start)} AND o.created_at < {p(bucket.end)}"""
    return await _page(conn, p, base, "at", first, after)


# ---------------------------------------------------------------------------------------------- funnel


def _funnel_base(p: Params, scope: Scope, first_day: date, last_day: date) -> str:
    """Per customer: the first time in the range of each step (s1..s6, microseconds since the epoch) and how far
    they got in order (`reached`: the last step k such that every step up to k happened, each no earlier than the
    one before)."""
    reached = " ".join(
        f"WHEN s{k} IS NULL{f' OR s{k} < s{k - 1}' if k > 1 else ''} THEN {k - 1}" for k in range(1, FUNNEL_STEPS + 1)
    )
    firsts = _funnel_firsts(p, scope, first_day, last_day)
    # OFFSET 0: the per-customer times and `reached` are computed once, not inlined into every aggregate that
    # reads them (eleven in `funnel`).
    return f"SELECT w.*, CASE {reached} ELSE {FUNNEL_STEPS} END AS reached FROM ({firsts} OFFSET 0) w OFFSET 0"


def _funnel_firsts(p: Params, scope: Scope, first_day: date, last_day: date) -> str:
    """Per customer matching the filter in the range: customer_id, and s1..s6 their first time of each step in it
    (NULL: not in it).

    Without a category filter, funnel_paths (migration 006): per key (each selected integration, or ALL), the one
    row per customer whose day is their first funnel day in the range (day in it, previous day before it or none),
    holding each step's first time on or after that day; a time at or past the end of the range's last day is not
    in the range. One key is one row per customer, no grouping; several integrations take each customer's earliest
    time of each step over their keys' rows (each the first in the range under its key). A category filter reads
    funnel_firsts per (local day, integration, category, customer, step), rows of the nil category (steps without
    a product) counting under any category, grouped per customer."""
    if scope.category_ids:
        firsts = ", ".join(
            f"min((extract(epoch FROM f.first_at) * 1000000)::bigint) FILTER (WHERE f.step = {k}) AS s{k}"
            for k in range(1, FUNNEL_STEPS + 1)
        )
        return f"""
            SELECT f.customer_id, {firsts} FROM funnel_firsts f
             WHERE {_dims(p, "f", scope, nil_category=True)}
               AND f.day >= {p(first_day)} AND f.day <= {p(last_day)}
             GROUP BY f.customer_id"""
    org, first = p(scope.org_id), p(first_day)
    # The end of the last day: the organisation's local midnight after it, in microseconds since the epoch.
    end = f"""(SELECT (extract(epoch FROM ({p(last_day)}::date + 1)::timestamp AT TIME ZONE
                       coalesce((SELECT time_zone FROM organisation_settings WHERE org_id = {org}), 'UTC'))
                       * 1000000)::bigint)"""
    keys = list(dict.fromkeys(scope.integration_ids)) or [ALL]
    key = f"fp.integration_id = {p(keys[0])}" if len(keys) == 1 else f"fp.integration_id = ANY({p(keys)}::uuid[])"
    in_range = ", ".join(f"CASE WHEN fp.s{k} < e.at THEN fp.s{k} END AS s{k}" for k in range(1, FUNNEL_STEPS + 1))
    members = "".join(f" AND {m}" for m in _member(p, scope, "fp.customer_id"))
    rows = f"""
        SELECT fp.customer_id, {in_range}
          FROM funnel_paths fp, (SELECT {end} AS at) e
         WHERE fp.org_id = {org} AND {key} AND fp.day >= {first} AND fp.day <= {p(last_day)}
           AND (fp.prev_day IS NULL OR fp.prev_day < {first}){members}"""
    if len(keys) == 1:
        return rows
    mins = ", ".join(f"min(r.s{k}) AS s{k}" for k in range(1, FUNNEL_STEPS + 1))
    return f"SELECT r.customer_id, {mins} FROM ({rows}) r GROUP BY r.customer_id"


@dataclass
class FunnelStep:
    step: int
    customers: int
    median_seconds: float | None


async def _custom_plans(conn: asyncpg.Connection) -> None:
    """Plans the funnel's statements for their own range (this transaction): after five runs of one prepared
    statement PostgreSQL may keep a generic plan, blind to the range, that reads funnel_paths by day (the primary
    key) where a long range needs its first rows by previous day (migration 007): 90 days in ~1 s instead of ~0.4 s."""
    await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")


async def funnel(conn: asyncpg.Connection, scope: Scope, first_day: date, last_day: date) -> list[FunnelStep]:
    await _custom_plans(conn)
    p = Params()
    counts = ", ".join(f"count(*) FILTER (WHERE reached >= {k}) AS c{k}" for k in range(1, FUNNEL_STEPS + 1))
    medians = ", ".join(
        # Seconds as float8 from exact microseconds: the same correctly rounded value as extract(epoch) of the
        # interval, so the same medians.
        f"percentile_cont(0.5) WITHIN GROUP (ORDER BY (s{k} - s{k - 1})::float8 / 1000000)"
        f" FILTER (WHERE reached >= {k}) AS m{k}"
        for k in range(2, FUNNEL_STEPS + 1)
    )
    row = await conn.fetchrow(
        f"SELECT {counts}, {medians} FROM ({_funnel_base(p, scope, first_day, last_day)}) x", *p.values
    )
    assert row is not None
    return [
        FunnelStep(k, int(row[f"c{k}"]), float(row[f"m{k}"]) if k > 1 and row[f"m{k}"] is not None else None)
        for k in range(1, FUNNEL_STEPS + 1)
    ]


async def funnel_customers(
    conn: asyncpg.Connection, scope: Scope, first_day: date, last_day: date, step: int, first: int, after: str | None
) -> Page:
    """The customers counted at `step`, latest to reach it first; `at` is when they first did it."""
    await _custom_plans(conn)
    p = Params()
    at = f"'epoch'::timestamptz + x.s{step} * interval '1 microsecond'"
    base = f"""SELECT x.customer_id AS id, {at} AS at FROM ({_funnel_base(p, scope, first_day, last_day)}) x
                WHERE x.reached >= {p(step)}"""
    return await _page(conn, p, base, "at", first, after)
