"""The insights builder's SQL: an insight's cells, its breakdown series ranked, and the events behind a cell.

An answer is two statements in one transaction:

1. `fill_cells` aggregates the counted events of the insight's range into a temporary table, at the finest
   grain the answer needs: bucket x breakdown values x currency (x local day when amounts convert to the base
   currency, each day at its own rate). From `event_rollups_daily` when every field the insight names is a
   rollup dimension (type, integration, category, product, channel, currency) and the measure adds up (counts
   and amounts, not unique customers), and the interval is days or longer; from raw events otherwise. Measures
   that do not add up across cells (unique customers; events counted once per line-item product) are
   aggregated with GROUPING SETS, so series and overall totals are distinct counts too, not sums of cells.
2. `ranked` ranks the breakdown series by their total and returns the requested page of them with their
   cells, the overall totals, and how many series (and how much) fall outside the page: values are never
   folded into "Other" silently, and the rest can be paged.

Every filter and breakdown compares a field's value as text (NULL when absent: its own breakdown value);
numbers and dates compare in their type. Every statement filters by `org_id` and runs in a tenant transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from services.insights.domain.insight import FieldRef, Filter, Insight, Kind, Measure, Operator
from services.insights.repository import segments
from services.insights.repository.events import ALL, NIL
from shared.service.pagination import Params, decode_cursor, encode_cursor, like_escape

CELLS = "insight_cells"


@dataclass(frozen=True)
class Plan:
    """How an insight is answered."""

    source: str  # "rollups" or "events"
    grouping_sets: bool  # a measure that does not add up across cells
    by_day: bool  # cells kept per local day (amounts converted at each day's rate)


def plan(q: Insight) -> Plan:
    named = [*q.breakdowns, *(f.field for f in q.filters)]
    rollups = (
        q.segment_id is None
        and q.measure is not Measure.UNIQUE_CUSTOMERS
        and q.interval.value != "HOUR"
        and all(f.rollup_column is not None for f in named)
    )
    return Plan("rollups" if rollups else "events", q.measure is Measure.UNIQUE_CUSTOMERS, q.base_currency)


def expanded(q: Insight) -> bool:
    """Whether a breakdown is by line-item product: an event counts once in each of its products' buckets."""
    return any(b.name == "item.productId" for b in q.breakdowns)


# --------------------------------------------------------------------------------------------- raw events


# Each event column an insight can name (`domain.insight`), on raw events `e`, with `d.day` the event's local
# day, `cf` the customer's first day (ALL keys: customer_firsts) and `it.line` a line item when expanded.
_COLUMN_SQL = {
    "integrationId": "e.integration_id::text",
    "categoryId": "e.category_id::text",
    "productId": "e.product_id::text",
    "channel": "e.channel",
    "currency": "e.currency::text",
    "state": "e.state",
    "entityId": "e.entity_id",
    "customer.id": "e.customer_id::text",
    "customer.accountCurrency": "e.account_currency::text",
    "customer.firstSeenMonth": "to_char(cf.first_day, 'YYYY-MM')",
    "customer.isNew": "(cf.first_day = d.day)::text",
    "item.productId": "(it.line ->> 'productId')",
}
_CUSTOMER_FIRSTS = frozenset({"customer.firstSeenMonth", "customer.isNew"})


def _expr(f: FieldRef) -> str:
    """The field's value as text (NULL when absent): the one form filters and breakdowns compare."""
    if f.json_source is not None:
        col, key = f.json_source
        return f"(e.{col} ->> '{key}')"
    return f"({_COLUMN_SQL[f.name]})"


def _condition(p: Params, flt: Filter, expr: str, typed: str) -> str:
    """One filter over `expr` (the value as text) or `typed` (as its kind's SQL type)."""
    op, values = flt.operator, flt.values
    if op is Operator.IS_SET:
        return f"{expr} IS {'NOT ' if values[0] else ''}NULL"
    if op is Operator.EQUALS:
        return f"{expr} = {p(str(values[0]))}"
    if op is Operator.NOT_EQUALS:
        return f"{expr} IS DISTINCT FROM {p(str(values[0]))}"
    if op is Operator.IN:
        return f"{expr} = ANY({p([str(v) for v in values])}::text[])"
    if op is Operator.CONTAINS:
        return f"{expr} ILIKE {p('%' + like_escape(str(values[0])) + '%')}"
    sign = ">" if op is Operator.GREATER_THAN else "<"
    value = values[0]
    if isinstance(value, Decimal):
        return f"{typed} {sign} {p(value)}::numeric"
    if isinstance(value, date):
        return f"{typed} {sign} {p(value)}::date"
    return f"{expr} {sign} {p(str(value))}"


def _typed(f: FieldRef) -> str:
    """The field's value in its kind's SQL type, for greater/less than: JSON numbers as numeric (a value sent as
    text is NULL, never an error), dates as date."""
    text = _expr(f)
    if f.json_source is not None and f.kind in (Kind.TEXT, Kind.NUMBER):
        col, key = f.json_source
        return f"(CASE WHEN jsonb_typeof(e.{col} -> '{key}') = 'number' THEN {text}::numeric END)"
    if f.kind is Kind.DATE:
        return f"(CASE WHEN {text} ~ '^\\d{{4}}-\\d{{2}}-\\d{{2}}$' THEN {text}::date END)"
    return text


def _items(condition: str) -> str:
    return f"EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(e.items, '[]'::jsonb)) AS l(line) WHERE {condition})"


def _raw_from(p: Params, org_id: UUID, q: Insight, *, expand: bool) -> tuple[str, str]:
    """FROM and WHERE of the insight's counted events in its range (line items expanded when a breakdown is by
    their product)."""
    joins = [f"CROSS JOIN LATERAL (SELECT (e.occurred_at AT TIME ZONE {p(q.time_zone)})::date AS day) d"]
    named = [*q.breakdowns, *(f.field for f in q.filters)]
    if any(f.name in _CUSTOMER_FIRSTS for f in named):
        joins.append(
            "LEFT JOIN customer_firsts cf ON cf.org_id = e.org_id AND cf.customer_id = e.customer_id"
            f" AND cf.integration_id = '{ALL}' AND cf.category_id = '{ALL}'"
        )
    if expand:
        joins.append("CROSS JOIN LATERAL jsonb_array_elements(coalesce(e.items, '[]'::jsonb)) AS it(line)")
    where = [
        f"e.org_id = {p(org_id)}",
        "e.counted",
        f"e.type = ANY({p(list(q.stored_types))}::text[])",
        f"e.occurred_at >= {p(q.start)}",
        f"e.occurred_at < {p(q.end)}",
    ]
    if q.segment_id is not None:
        where.append(segments.member_condition(p, org_id, q.segment_id, "e.customer_id"))
    for flt in q.filters:
        if flt.field.name == "item.productId" and not expand:
            where.append(_items(_condition(p, flt, "(l.line ->> 'productId')", "(l.line ->> 'productId')")))
        else:
            where.append(_condition(p, flt, _expr(flt.field), _typed(flt.field)))
    return "events e " + " ".join(joins), " AND ".join(where)


# ------------------------------------------------------------------------------------------------ rollups


def _rollup_expr(f: FieldRef) -> str:
    col = f.rollup_column
    assert col is not None
    if col == "integration_id":
        return "r.integration_id::text"
    if col in ("category_id", "product_id"):
        return f"NULLIF(r.{col}, '{NIL}'::uuid)::text"
    return f"NULLIF(r.{col}::text, '')"


# ------------------------------------------------------------------------------------------------ step 1


async def fill_cells(conn: asyncpg.Connection, org_id: UUID, q: Insight, how: Plan) -> None:
    """The insight's cells into the transaction's temporary table `insight_cells`: level 0 (bucket k x values
    b1..bn x currency cur [x local day]); for unique customers also level 1 (a series' total) and level 2 (the
    overall total), distinct counts in their own right."""
    p = Params()
    starts = p([b[0] for b in q.buckets])
    expand = expanded(q)
    if how.source == "rollups":
        bs = [_rollup_expr(b) for b in q.breakdowns]
        conditions = [
            f"r.org_id = {p(org_id)}",
            f"r.type = ANY({p(list(q.stored_types))}::text[])",
            f"r.day >= {p(q.first_day)}",
            f"r.day <= {p(q.last_day)}",
            *(_condition(p, f, _rollup_expr(f.field), _rollup_expr(f.field)) for f in q.filters),
        ]
        source, where = "event_rollups_daily r", " AND ".join(conditions)
        at, day, cur = f"(r.day::timestamp AT TIME ZONE {p(q.time_zone)})", "r.day", "NULLIF(r.currency::text, '')"
        inputs = "r.events AS x_events, r.amount AS x_amount, NULL::uuid AS x_id, NULL::uuid AS x_customer"
        n = "sum(x_events)"
    else:
        bs = [_expr(b) for b in q.breakdowns]
        source, where = _raw_from(p, org_id, q, expand=expand)
        at, day, cur = "e.occurred_at", "d.day", "e.currency::text"
        amount = "(it.line ->> 'amount')::numeric" if expand else "e.amount"
        inputs = f"1 AS x_events, {amount} AS x_amount, e.id AS x_id, e.customer_id AS x_customer"
        # An event in one bucket: distinct events per cell add up over buckets (a line-item breakdown counts an
        # event once per product, however many lines of it).
        n = "count(DISTINCT x_id)" if expand else "count(*)"
    keys = ["k", *(f"b{i + 1}" for i in range(len(bs))), "cur", *(["day"] if how.by_day else [])]
    select = [
        f"width_bucket({at}, {starts}::timestamptz[]) AS k",
        *(f"{b} AS b{i + 1}" for i, b in enumerate(bs)),
        f"{cur if q.measure.money else 'NULL::text'} AS cur",
        *([f"{day} AS day"] if how.by_day else []),
        inputs,
    ]
    series_keys = [k for k in keys if k not in ("k", "day")]
    customers = "NULL"
    if how.grouping_sets:
        sets = [f"({', '.join(keys)})", f"({', '.join(series_keys)})", *(["(cur)"] if len(series_keys) > 1 else [])]
        group = f"GROUPING SETS ({', '.join(sets)})"
        breakdowns = [k for k in series_keys if k != "cur"]
        split = " AND ".join(f"GROUPING({k}) = 0" for k in breakdowns) or "true"
        level = f"CASE WHEN GROUPING(k) = 0 THEN 0 WHEN {split} THEN 1 ELSE 2 END"
        customers = "count(DISTINCT x_customer)"
    else:
        group, level = ", ".join(keys), "0"
    await conn.execute(f"DROP TABLE IF EXISTS {CELLS}")
    await conn.execute(
        f"""CREATE TEMP TABLE {CELLS} ON COMMIT DROP AS
            SELECT {level}::int AS level, {", ".join(keys)}, {n}::bigint AS n, sum(x_amount)::numeric AS amount,
                   {customers}::bigint AS customers
              FROM (SELECT {", ".join(select)} FROM {source} WHERE {where}) x
             GROUP BY {group}""",
        *p.values,
    )


async def _fetch(conn: asyncpg.Connection, sql: str, *args: Any) -> list[asyncpg.Record]:
    """A statement on the temporary table, prepared afresh: each answer's table is a new object, so a plan
    cached from an earlier answer's would be invalid (and cannot be re-planned inside the transaction)."""
    return list(await (await conn.prepare(sql)).fetch(*args))


async def needs(conn: asyncpg.Connection) -> list[tuple[str, date]]:
    """The (currency, local day) pairs of the cells: the rates a base-currency answer needs."""
    rows = await _fetch(conn, f"SELECT DISTINCT cur, day FROM {CELLS} WHERE cur IS NOT NULL ORDER BY 1, 2")
    return [(str(r["cur"]).strip(), r["day"]) for r in rows]


# ------------------------------------------------------------------------------------------------ step 2


@dataclass
class Ranked:
    series: list[asyncpg.Record]  # the page's series in rank order: b1..bn, cur, n, amount, customers, r
    cells: list[asyncpg.Record]  # their cells: k, b1..bn, cur, n, amount, customers, r
    overall: list[asyncpg.Record]  # per cur: n, amount, customers
    others: list[asyncpg.Record]  # per cur: r (how many series), n, amount (customers: not additive, NULL)
    total_series: int
    unrated: bool  # a cell had an amount on a (currency, day) without a rate


async def ranked(
    conn: asyncpg.Connection,
    q: Insight,
    how: Plan,
    rates: list[tuple[str, date, Decimal]] | None,
    *,
    digits: int = 2,
) -> Ranked:
    """The page of series (`q.offset`, `q.top`) ranked by their measure (ties by their values), their cells,
    the overall totals and what lies outside the page. With `rates` (base currency): each cell-day's amount
    converted at its day's rate and rounded to cents before anything adds it up, so totals are sums of points."""
    p = Params()
    bs = [f"b{i + 1}" for i in range(len(q.breakdowns))]
    keys = [*bs, "cur"]
    cols = ", ".join(keys)
    if rates is not None:
        conv = f"""
            SELECT c.level, c.k, {"".join(f"c.{b}, " for b in bs)}NULL::text AS cur, c.n,
                   round(c.amount * r.rate, {p(digits)}::int) AS amount, c.customers,
                   (r.rate IS NULL AND c.amount IS NOT NULL) AS unrated
              FROM {CELLS} c
              LEFT JOIN unnest({p([r[0] for r in rates])}::text[], {p([r[1] for r in rates])}::date[],
                               {p([r[2] for r in rates])}::numeric[]) AS r(cur, day, rate)
                ON r.cur = c.cur AND r.day = c.day"""
    else:
        conv = f"SELECT level, k, {cols}, n, amount, customers, false AS unrated FROM {CELLS}"
    if how.grouping_sets:
        series = f"SELECT {cols}, n, amount, customers FROM c WHERE level = 1"
        overall = f"SELECT cur, n, amount, customers FROM c WHERE level = {2 if bs else 1}"
    else:
        series = f"""SELECT {cols}, sum(n) AS n, sum(amount) AS amount, NULL::bigint AS customers
                       FROM c WHERE level = 0 GROUP BY {cols}"""
        overall = "SELECT cur, sum(n) AS n, sum(amount) AS amount, NULL::bigint AS customers FROM c GROUP BY cur"
    measure = {
        Measure.COUNT: "s.n",
        Measure.TOTAL_AMOUNT: "s.amount",
        Measure.AVERAGE_AMOUNT: "s.amount / NULLIF(s.n, 0)",
        Measure.UNIQUE_CUSTOMERS: "s.customers",
    }[q.measure]
    order = ", ".join([f"{measure} DESC NULLS LAST", *(f"s.{k} NULLS FIRST" for k in keys)])
    same = " AND ".join(f"x.{k} IS NOT DISTINCT FROM s.{k}" for k in keys)
    lo, hi = p(q.offset), p(q.offset + q.top)
    nulls = "NULL, " * len(bs)
    sql = f"""
        WITH c AS MATERIALIZED ({conv}),
        s AS ({series}),
        ranked AS (SELECT s.*, row_number() OVER (ORDER BY {order}) AS r FROM s),
        page AS (SELECT * FROM ranked WHERE r > {lo} AND r <= {hi})
        SELECT 'series' AS kind, NULL::int AS k, {", ".join(f"s.{k}" for k in keys)}, s.n, s.amount, s.customers,
               s.r
          FROM page s
        UNION ALL
        SELECT 'cell', x.k, {", ".join(f"x.{k}" for k in keys)}, sum(x.n), sum(x.amount), max(x.customers), s.r
          FROM c x JOIN page s ON {same}
         WHERE x.level = 0
         GROUP BY x.k, {", ".join(f"x.{k}" for k in keys)}, s.r
        UNION ALL
        SELECT 'overall', NULL, {nulls}o.cur, o.n, o.amount, o.customers, NULL FROM ({overall}) o
        UNION ALL
        SELECT 'others', NULL, {nulls}s.cur, sum(s.n), sum(s.amount), NULL, count(*)
          FROM ranked s WHERE s.r <= {lo} OR s.r > {hi} GROUP BY s.cur
        UNION ALL
        SELECT 'count', NULL, {nulls}NULL, NULL, NULL, NULL, count(*) FROM ranked
        UNION ALL
        SELECT 'unrated', NULL, {nulls}NULL, NULL, NULL, NULL, count(*) FROM c WHERE c.unrated"""
    rows = await _fetch(conn, sql, *p.values)
    by_kind: dict[str, list[asyncpg.Record]] = {"series": [], "cell": [], "overall": [], "others": []}
    total = unrated = 0
    for r in rows:
        if r["kind"] == "count":
            total = int(r["r"])
        elif r["kind"] == "unrated":
            unrated = int(r["r"])
        else:
            by_kind[r["kind"]].append(r)
    by_kind["series"].sort(key=lambda r: r["r"])
    return Ranked(by_kind["series"], by_kind["cell"], by_kind["overall"], by_kind["others"], total, unrated > 0)


async def distinct_events(conn: asyncpg.Connection, org_id: UUID, q: Insight) -> list[asyncpg.Record]:
    """Per currency (when money is per currency): the distinct events and their amounts, for an insight whose
    breakdown counts an event once per line-item product (the answer gives both totals)."""
    p = Params()
    source, where = _raw_from(p, org_id, q, expand=False)
    cur = "e.currency::text" if q.measure.money and not q.base_currency else "NULL::text"
    return list(
        await conn.fetch(
            f"SELECT {cur} AS cur, count(*) AS n, sum(e.amount) AS amount FROM {source} WHERE {where} GROUP BY 1",
            *p.values,
        )
    )


# ------------------------------------------------------------------------------------------- drill-down


async def events_behind(
    conn: asyncpg.Connection,
    org_id: UUID,
    q: Insight,
    bucket: tuple[datetime, datetime],
    values: list[str | None],
    currency: str | None,
    first: int,
    after: str | None,
) -> tuple[list[asyncpg.Record], int, str | None]:
    """The events one cell counts (newest first, keyset-paginated) and how many there are: the cell's count."""
    p = Params()
    source, where = _raw_from(p, org_id, q, expand=False)
    conds = [where, f"e.occurred_at >= {p(bucket[0])}", f"e.occurred_at < {p(bucket[1])}"]
    for ref, value in zip(q.breakdowns, values, strict=True):
        if ref.name == "item.productId":
            inner = "(l.line ->> 'productId') IS NULL" if value is None else f"(l.line ->> 'productId') = {p(value)}"
            conds.append(
                f"EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(e.items, '[]'::jsonb)) AS l(line) WHERE {inner})"
            )
        else:
            conds.append(f"{_expr(ref)} IS NOT DISTINCT FROM {p(value)}::text")
    if currency is not None:
        conds.append(f"e.currency = {p(currency)}")
    base = f"SELECT e.* FROM {source} WHERE {' AND '.join(conds)}"
    total = await conn.fetchval(f"SELECT count(*) FROM ({base}) b", *p.values)
    page_p = Params(list(p.values))
    keyset = ""
    if after is not None:
        ts, eid = decode_cursor(after)
        keyset = f"WHERE (b.occurred_at, b.id) < ({page_p(ts)}, {page_p(eid)})"
    rows = list(
        await conn.fetch(
            f"SELECT * FROM ({base}) b {keyset} ORDER BY b.occurred_at DESC, b.id DESC LIMIT {page_p(first + 1)}",
            *page_p.values,
        )
    )
    more = len(rows) > first
    rows = rows[:first]
    cursor = encode_cursor(rows[-1]["occurred_at"], rows[-1]["id"]) if more and rows else None
    return rows, int(total or 0), cursor
