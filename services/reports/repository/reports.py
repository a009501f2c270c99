"""The SQL of the reports catalogue: one source per report, and the one engine every report runs through.

A source (`SOURCES[key]`) is a SELECT whose output columns carry the catalogue's column keys (plus `_k`, a key
unique per row, and for itemised reports `_custom` / `_contact_custom`, the entity's and its contact's custom
fields), with the report's filters already applied (the range in the organisation's time zone). The engine wraps
it: the chosen columns (text neutralised against spreadsheet formulas once, here), or GROUP BY ROLLUP of one or
two levels with the aggregates and GROUPING() flags marking subtotal and total rows, ordered by the sort with
`_k` last so the order is total. That one statement answers:

- the preview: its first 10 rows, and the exact count of its rows;
- the export link: one server-side cursor of it in one bounded snapshot (`run_rows`, service/runs.py
  `open_link`); keyset batches (`rows_batch`: the rows after the last one's sort key, NULLs last in both
  directions, each in its own short transaction) remain for comparison and the tests;
- the run (a worker job): the whole statement once, planned and sorted once, in one snapshot (`copy_csv`:
  PostgreSQL's COPY writes the CSV; `run_rows`: a server-side cursor read in batches, for XLSX). Keyset batches
  cannot serve a run of a million rows: no index serves the `_k` text order nor the OR-chain of `after`, so each
  batch re-reads and re-sorts the remainder (quadratic: 34 s for 1M rows in 50,000-row batches, 249 s in 5,000).

Amounts: itemised rows convert to the contact's account currency (the organisation's base currency when none)
at the amount's local date; analytical rows sum amounts converted to the base currency, each at its own local
date. Both follow migration 002's `fx_required`, which raises RFX01 naming the currency and date when the ECB copy
has no rate within 7 days: answered as an error, never skipped. Itemised rows read the rate from fx_daily
(migration 015: `_fx_joins`, `_fx_pair`, the same rule set-based) and call the functions only when it has none.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property, lru_cache
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg

from services.reports.domain.catalogue import FINANCIAL_TYPES, Aggregate, ColumnType
from services.reports.domain.query import Output, ReportQuery, Selected
from shared.export_queries import safe
from shared.service.pagination import Params
from shared.service.segment_copies import member_condition

PREVIEW_ROWS = 10
FX_MISSING = "RFX01"
ROW_KIND = "_row"  # grouped answers: 'row', 'subtotal' or 'total'


class Ctx:
    """The placeholders every source shares, each made once, when first used (PostgreSQL refuses a parameter no
    statement mentions)."""

    def __init__(
        self, q: ReportQuery, org_id: UUID, base_currency: str, rollups: bool = True, fx_daily: bool = True
    ) -> None:
        self.p, self.q, self.rollups, self.fx_daily = Params(), q, rollups, fx_daily
        self._org_id, self._base = org_id, base_currency

    @cached_property
    def org(self) -> str:
        return f"{self.p(self._org_id)}::uuid"

    @cached_property
    def tz(self) -> str:
        return f"{self.p(self.q.time_zone)}::text"

    @cached_property
    def base(self) -> str:
        return f"{self.p(self._base)}::text"

    @cached_property
    def lo(self) -> str:
        """The range's first instant."""
        return f"({self.p(self.q.first_day)}::date::timestamp AT TIME ZONE {self.tz})"

    @cached_property
    def hi(self) -> str:
        """The instant after the range's last day."""
        return f"({self.p(self.q.last_day + timedelta(days=1))}::date::timestamp AT TIME ZONE {self.tz})"

    def day(self, ts: str) -> str:
        """The local date of the instant `ts`."""
        return f"(({ts}) AT TIME ZONE {self.tz})::date"

    def period(self, ts: str) -> str:
        return f"date_trunc('{self.q.interval.value.lower()}', ({ts}) AT TIME ZONE {self.tz})::date"

    def month(self, ts: str) -> str:
        return f"date_trunc('month', ({ts}) AT TIME ZONE {self.tz})::date"

    def in_range(self, ts: str) -> str:
        return f"{ts} >= {self.lo} AND {ts} < {self.hi}"

    def any_of(self, expr: str, values: tuple[Any, ...] | None, cast: str) -> str:
        """` AND expr = ANY(values)` when the filter is given (an empty list matches nothing)."""
        return "" if values is None else f" AND {expr} = ANY({self.p(list(values))}::{cast}[])"

    def where_ids(self, integration: str | None, category: str | None) -> str:
        out = ""
        if integration is not None:
            out += self.any_of(integration, self.q.integration_ids, "uuid")
        if category is not None:
            out += self.any_of(category, self.q.category_ids, "uuid")
        return out

    def member(self, customer: str) -> str:
        """` AND customer is a present member of the segment` when the filter is given (a semi-join on the
        event-fed copy, migration 011: a row without a contact is no member's)."""
        if self.q.segment_id is None:
            return ""
        return f" AND {member_condition(self.p, self._org_id, self.q.segment_id, customer)}"


def _num(json_field: str) -> str:
    """A JSON number field as numeric (NULL when absent or not a number)."""
    obj, _, key = json_field.rpartition("->>")
    return f"CASE WHEN jsonb_typeof({obj}->{key}) = 'number' THEN ({json_field})::numeric END"


def _fx_joins(c: Ctx, currency: str, target: str, day: str) -> str:
    """The joins `_money` reads a row's rates from: the 8-day windows of fx_daily (migration 015) of both sides
    on `day` (at most one row each: the key), hashed once per statement instead of a function call per row."""
    if not c.fx_daily:
        return ""
    return f"""LEFT JOIN fx_daily fxc ON fxc.currency = {currency}::text AND fxc.day = {day}
               LEFT JOIN fx_daily fxt ON fxt.currency = {target}::text AND fxt.day = {day}"""


def _fx_pair(currency: str, target: str, day: str) -> tuple[str, str]:
    """(rate, rate date) of `currency` into `target` on `day` from the joined windows (`_fx_joins`): migration 006's
    rule (the latest day up to 7 back on which both sides have a rate; the euro always has 1), NULL when the
    windows hold none (the caller then asks the functions, which answer NULL or raise RFX01)."""
    mask = (
        f"((CASE WHEN {currency}::text = 'EUR' THEN 255 ELSE fxc.mask END)"
        f" & (CASE WHEN {target}::text = 'EUR' THEN 255 ELSE fxt.mask END))"
    )
    back = "CASE " + " ".join(f"WHEN {mask} & {1 << k} <> 0 THEN {k}" for k in range(8)) + " END"
    rate = (
        f"((CASE WHEN {target}::text = 'EUR' THEN 1 ELSE fxt.per_euro[({back}) + 1] END)"
        f" / (CASE WHEN {currency}::text = 'EUR' THEN 1 ELSE fxc.per_euro[({back}) + 1] END))"
    )
    return rate, f"({day} - ({back}))"


def _money(c: Ctx, amount: str, currency: str, target: str, day: str) -> str:
    """The itemised money columns: the amount in `target` at the rate of `day`, and the original (the rows' source
    joins `_fx_joins`; without them, `c.fx_daily` False, the functions answer per row: tests compare the two)."""
    same = f"{currency}::text = {target}::text"
    if c.fx_daily:
        rate, rate_day = _fx_pair(currency, target, day)
        return f"""CASE WHEN {amount} IS NULL THEN NULL WHEN {same} THEN {amount}
                    ELSE round({amount} * COALESCE({rate}, fx_required({currency}::text, {target}::text, {day})), 2)
                    END AS amount,
               {target}::text AS currency, {amount} AS original_amount, {currency}::text AS original_currency,
               CASE WHEN {amount} IS NULL THEN NULL WHEN {same} THEN 1::numeric
                    ELSE COALESCE({rate}, fx_rate_on({currency}::text, {target}::text, {day})) END AS fx_rate,
               CASE WHEN {amount} IS NULL THEN NULL WHEN {same} THEN {day}
                    ELSE COALESCE({rate_day}, fx_rate_date_on({currency}::text, {target}::text, {day})) END
                 AS fx_rate_date"""
    return f"""CASE WHEN {amount} IS NULL THEN NULL WHEN {same} THEN {amount}
                    ELSE round({amount} * fx_required({currency}::text, {target}::text, {day}), 2) END AS amount,
               {target}::text AS currency, {amount} AS original_amount, {currency}::text AS original_currency,
               CASE WHEN {amount} IS NULL THEN NULL ELSE fx_rate_on({currency}::text, {target}::text, {day}) END
                 AS fx_rate,
               CASE WHEN {amount} IS NULL THEN NULL ELSE fx_rate_date_on({currency}::text, {target}::text, {day}) END
                 AS fx_rate_date"""


def _to_base(c: Ctx, amount: str, currency: str, day: str) -> str:
    """`amount` in the base currency at the rate of `day` (unrounded: sums round once, per row of the answer)."""
    return (
        f"CASE WHEN {amount} IS NULL THEN NULL WHEN {currency}::text = {c.base} THEN {amount}"
        f" ELSE {amount} * fx_required({currency}::text, {c.base}, {day}) END"
    )


def _fx_used(c: Ctx, amount: str, currency: str, day: str) -> str:
    """What `_to_base` used for a converted amount: 'USD 0.92 on 2024-05-03' (NULL when none was needed)."""
    return (
        f"CASE WHEN {amount} IS NOT NULL AND {currency}::text <> {c.base} THEN {currency}::text || ' '"
        f" || round(fx_rate_on({currency}::text, {c.base}, {day}), 6) || ' on '"
        f" || fx_rate_date_on({currency}::text, {c.base}, {day}) END"
    )


_CONTACT_COLS = "e.customer_id AS contact_id, c.email AS contact_email"


def _entities(
    c: Ctx,
    types: tuple[str, ...],
    columns: str,
    *,
    range_on: str = "e.last_event_at",
    states: tuple[str, ...] | None = None,
    firsts: dict[str, str] | None = None,
    fx: str = "",
) -> str:
    """Business entities of `types` (the `types` filter narrows them) with their contact (`c`), the latest
    event's product and category (`ev`), and `firsts` (alias -> state: when the entity first reached it)."""
    q = c.q
    chosen = tuple(t for t in types if q.types is None or t in q.types)
    firsts_sql = "".join(
        f", min(x.occurred_at) FILTER (WHERE x.state = {c.p(state)}) AS {alias}"
        for alias, state in (firsts or {}).items()
    )
    statuses = q.statuses if q.statuses is not None else states
    return f"""SELECT {columns},
                      e.integration_id::text || ':' || e.type || ':' || e.entity_id AS _k,
                      e.custom_fields AS _custom, c.custom_fields AS _contact_custom
                 FROM business_entities e
                 LEFT JOIN contacts c ON c.org_id = e.org_id AND c.id = e.customer_id
                 {fx}
                 LEFT JOIN LATERAL (
                     SELECT (array_agg(x.product_id ORDER BY x.occurred_at DESC))[1] AS product_id,
                            (array_agg(x.category_id ORDER BY x.occurred_at DESC))[1] AS category_id{firsts_sql}
                       FROM business_events x
                      WHERE x.org_id = e.org_id AND x.integration_id = e.integration_id AND x.type = e.type
                        AND x.entity_id = e.entity_id
                 ) ev ON true
                WHERE e.org_id = {c.org} AND e.type = ANY({c.p(list(chosen))}::text[])
                  AND {c.in_range(range_on)}{c.any_of("e.state", statuses, "text")}
                  {c.where_ids("e.integration_id", "ev.category_id")}{c.member("e.customer_id")}"""


_ENTITY_COLS = """e.entity_id, e.state, e.state_at, e.first_event_at, e.last_event_at, e.events"""
_WHERE_COLS = "e.integration_id, ev.category_id, ev.product_id"


def _entity_money(c: Ctx) -> tuple[str, str]:
    """The money columns of an entity report, and the joins they read (`_entities`' `fx`)."""
    target = f"COALESCE(c.account_currency::text, {c.base})"
    day = c.day("COALESCE(e.counted_at, e.state_at)")
    return _money(c, "e.amount", "e.currency", target, day), _fx_joins(c, "e.currency", target, day)


def contact_summary(c: Ctx) -> str:
    q = c.q
    target = f"COALESCE(c.account_currency::text, {c.base})"
    kinds = ("purchase", "payment", "top_up", "donation", "refund")
    activity = ""
    if q.integration_ids is not None or q.category_ids is not None:
        activity = f"""AND (EXISTS (SELECT 1 FROM orders o WHERE o.org_id = c.org_id AND o.customer_id = c.id
                                    {c.where_ids("o.integration_id", "o.category_id")})
                         OR EXISTS (SELECT 1 FROM business_events b WHERE b.org_id = c.org_id AND b.customer_id = c.id
                                    {c.where_ids("b.integration_id", "b.category_id")}))"""
    return f"""SELECT c.id AS contact_id, c.email AS contact_email, c.display_name, c.kind AS contact_type, c.channel,
                      c.first_seen, c.last_seen, COALESCE(i.n, 0) AS integrations, i.ids AS integration_ids,
                      COALESCE(o.orders, 0) AS orders, COALESCE(o.successful, 0) AS successful_orders,
                      COALESCE(la.total, 0) AS lifetime_amount, {target} AS currency,
                      la.per_currency AS lifetime_amounts,
                      c.id::text AS _k, c.custom_fields AS _custom, c.custom_fields AS _contact_custom
                 FROM contacts c
                 LEFT JOIN LATERAL (
                     SELECT count(*) AS orders, count(*) FILTER (WHERE o.status = 'SUCCESSFUL') AS successful
                       FROM orders o WHERE o.org_id = c.org_id AND o.customer_id = c.id
                 ) o ON true
                 LEFT JOIN LATERAL (
                     SELECT count(*) AS n, string_agg(u.x::text, ' ' ORDER BY u.x) AS ids
                       FROM (SELECT o.integration_id AS x FROM orders o
                              WHERE o.org_id = c.org_id AND o.customer_id = c.id
                             UNION
                             SELECT b.integration_id FROM business_events b
                              WHERE b.org_id = c.org_id AND b.customer_id = c.id) u
                 ) i ON true
                 LEFT JOIN LATERAL (
                     SELECT sum(w.conv) AS total, string_agg(w.currency || ' ' || w.amt, '; ' ORDER BY w.currency)
                              AS per_currency
                       FROM (SELECT v.currency, sum(v.amt) AS amt,
                                    sum(CASE WHEN v.currency = {target} THEN v.amt
                                             ELSE round(v.amt * fx_required(v.currency, {target}, v.day), 2)
                                        END) AS conv
                               FROM (SELECT b.currency::text AS currency, {c.day("b.occurred_at")} AS day,
                                            sum(CASE WHEN b.type = 'refund' THEN -b.amount ELSE b.amount END) AS amt
                                       FROM business_events b
                                      WHERE b.org_id = c.org_id AND b.customer_id = c.id AND b.counted
                                        AND b.amount IS NOT NULL AND b.type = ANY({c.p(list(kinds))}::text[])
                                      GROUP BY 1, 2) v
                              GROUP BY v.currency) w
                 ) la ON true
                WHERE c.org_id = {c.org} AND c.merged_into IS NULL AND c.first_seen < {c.hi} AND c.last_seen >= {c.lo}
                  {c.any_of("c.kind", q.statuses, "text")}{c.member("c.id")} {activity}"""


def contacts_new_returning(c: Ctx) -> str:
    start = f"(a.period::timestamp AT TIME ZONE {c.tz})"
    return f"""SELECT a.period, count(*) AS active_contacts,
                      count(*) FILTER (WHERE ct.first_seen IS NULL OR ct.first_seen >= {start})
                        AS new_contacts,
                      count(*) FILTER (WHERE ct.first_seen < {start}) AS returning_contacts,
                      a.period::text AS _k
                 FROM (SELECT DISTINCT u.customer_id, {c.period("u.ts")} AS period
                         FROM (SELECT o.customer_id, o.created_at AS ts FROM orders o
                                WHERE o.org_id = {c.org} AND {c.in_range("o.created_at")}
                                      {c.where_ids("o.integration_id", "o.category_id")}{c.member("o.customer_id")}
                               UNION ALL
                               SELECT b.customer_id, b.occurred_at FROM business_events b
                                WHERE b.org_id = {c.org} AND {c.in_range("b.occurred_at")} AND b.customer_id IS NOT NULL
                                      {c.where_ids("b.integration_id", "b.category_id")}
                                      {c.member("b.customer_id")}) u) a
                 LEFT JOIN contacts ct ON ct.org_id = {c.org} AND ct.id = a.customer_id
                GROUP BY a.period"""


def financial_transactions(c: Ctx) -> str:
    money, fx = _entity_money(c)
    cols = f"""e.type, e.fields->>'number' AS number, {_ENTITY_COLS}, {_CONTACT_COLS}, {_WHERE_COLS},
               e.fields->>'method' AS method, {money}"""
    return _entities(c, FINANCIAL_TYPES, cols, fx=fx)


def _events(c: Ctx, alias: str = "b") -> str:
    q = c.q
    return (
        f"{alias}.org_id = {c.org} AND {c.in_range(f'{alias}.occurred_at')}"
        f"{c.any_of(f'{alias}.type', q.types, 'text')}{c.where_ids(f'{alias}.integration_id', f'{alias}.category_id')}"
        f"{c.member(f'{alias}.customer_id')}"
    )


def _counted_amounts(c: Ctx, where: str, keys: list[tuple[str, str]]) -> str:
    """The counted amounts of business events per `keys` (alias, expression over `b`), the local day and the
    currency, converted to the base currency once per group (`conv`, and `used`: the rate said).

    Summing first and converting each day's sum gives exactly the sum of converted amounts (numeric arithmetic is
    exact, and every amount of a day and currency has the same rate), with one conversion per day and currency
    instead of one per event (each a few index lookups: 100,000 events cost seconds)."""
    cols = ", ".join(f"{expr} AS {alias}" for alias, expr in keys)
    names = ", ".join(f"d.{alias}" for alias, _ in keys)
    return f"""SELECT {names}, {_to_base(c, "d.amount", "d.currency", "d.day")} AS conv,
                      {_fx_used(c, "d.amount", "d.currency", "d.day")} AS used
                 FROM (SELECT {cols}, {c.day("b.occurred_at")} AS day, b.currency, sum(b.amount) AS amount
                         FROM business_events b
                        WHERE {where} AND b.counted AND b.amount IS NOT NULL
                        GROUP BY {", ".join(str(i) for i in range(1, len(keys) + 3))}) d"""


def revenue_per_period(c: Ctx) -> str:
    def total(*types: str) -> str:
        return f"round(COALESCE(sum(x.conv) FILTER (WHERE x.type IN ({', '.join(repr(t) for t in types)})), 0), 2)"

    where = f"{_events(c)} AND b.type = ANY({c.p(list(FINANCIAL_TYPES))}::text[])"
    keys = [("type", "b.type"), ("period", c.period("b.occurred_at"))]
    return f"""SELECT x.period, {total("invoice")} AS invoiced, {total("credit_note")} AS credited,
                      {total("invoice")} - {total("credit_note")} AS net_invoiced,
                      {total("payment", "top_up")} AS collected, {total("refund")} AS refunded,
                      {total("payment", "top_up")} - {total("refund")} AS net_collected,
                      {c.base}::text AS currency, string_agg(DISTINCT x.used, '; ') AS fx_rates, x.period::text AS _k
                 FROM ({_counted_amounts(c, where, keys)}) x
                GROUP BY x.period"""


def event_log(c: Ctx) -> str:
    target = f"COALESCE(ct.account_currency::text, {c.base})"
    return f"""SELECT b.occurred_at, b.type, b.entity_id, b.state, b.counted, b.customer_id AS contact_id,
                      ct.email AS contact_email, b.integration_id, b.category_id, b.product_id, b.channel,
                      b.fields::text AS fields,
                      {_money(c, "b.amount", "b.currency", target, c.day("b.occurred_at"))},
                      b.event_id::text AS _k, b.custom_fields AS _custom, ct.custom_fields AS _contact_custom
                 FROM business_events b
                 LEFT JOIN contacts ct ON ct.org_id = b.org_id AND ct.id = b.customer_id
                 {_fx_joins(c, "b.currency", target, c.day("b.occurred_at"))}
                WHERE {_events(c)}{c.any_of("b.state", c.q.statuses, "text")}"""


def events_per_type(c: Ctx) -> str:
    """Per period and type (contacts: per contact first, so the distinct count is a hash aggregate, not a sort)."""
    keys = [("period", c.period("b.occurred_at")), ("type", "b.type")]
    return f"""SELECT g.period, g.type, g.events, g.counted_events, g.contacts,
                      round(COALESCE(a.amount, 0), 2) AS counted_amount, {c.base}::text AS currency, a.fx_rates,
                      g.period::text || '|' || g.type AS _k
                 FROM (SELECT p.period, p.type, sum(p.events)::bigint AS events,
                              sum(p.counted_events)::bigint AS counted_events, count(p.customer_id) AS contacts
                         FROM (SELECT {c.period("b.occurred_at")} AS period, b.type, b.customer_id, count(*) AS events,
                                      count(*) FILTER (WHERE b.counted) AS counted_events
                                 FROM business_events b WHERE {_events(c)}
                                GROUP BY 1, 2, 3) p
                        GROUP BY 1, 2) g
                 LEFT JOIN (SELECT y.period, y.type, sum(y.conv) AS amount,
                                   string_agg(DISTINCT y.used, '; ') AS fx_rates
                              FROM ({_counted_amounts(c, _events(c), keys)}) y
                             GROUP BY y.period, y.type) a ON a.period = g.period AND a.type = g.type"""


def passes(c: Ctx) -> str:
    money, fx = _entity_money(c)
    cols = f"""e.fields->>'passType' AS pass_type, {_ENTITY_COLS}, ev.issued_at, ev.redeemed_at, {_CONTACT_COLS},
               {_WHERE_COLS}, {money}"""
    return _entities(c, ("pass",), cols, firsts={"issued_at": "issued", "redeemed_at": "redeemed"}, fx=fx)


def pass_issuance(c: Ctx) -> str:
    def n(state: str) -> str:
        return f"count(*) FILTER (WHERE b.counted AND b.state = '{state}')"

    return f"""SELECT {c.period("b.occurred_at")} AS period, b.fields->>'passType' AS pass_type,
                      {n("issued")} AS issued, {n("redeemed")} AS redeemed, {n("expired")} AS expired,
                      round({n("redeemed")}::numeric / NULLIF({n("issued")}, 0), 4) AS redemption_rate,
                      {c.period("b.occurred_at")}::text || '|' || COALESCE(b.fields->>'passType', '') AS _k
                 FROM business_events b
                WHERE {_events(c)} AND b.type = 'pass'
                GROUP BY 1, 2"""


def orders_with_commission(c: Ctx) -> str:
    target = f"COALESCE(ct.account_currency::text, {c.base})"
    return f"""SELECT o.id AS order_id, o.created_at, o.kind, o.status, o.comm_status, o.failure_reason,
                      o.successful_at,
                      o.provider_id, o.customer_id AS contact_id, ct.email AS contact_email, o.integration_id,
                      o.category_id, o.product_id,
                      {_money(c, "o.amount", "o.currency", target, c.day("o.created_at"))},
                      o.id::text AS _k, o.custom_fields AS _custom, ct.custom_fields AS _contact_custom
                 FROM orders o
                 LEFT JOIN contacts ct ON ct.org_id = o.org_id AND ct.id = o.customer_id
                 {_fx_joins(c, "o.currency", target, c.day("o.created_at"))}
                WHERE o.org_id = {c.org} AND {c.in_range("o.created_at")}
                      {c.any_of("o.status", c.q.statuses, "text")}{c.where_ids("o.integration_id", "o.category_id")}
                      {c.member("o.customer_id")}"""


@lru_cache(maxsize=256)
def _whole_hours(tz: str, first: date, last: date) -> bool:
    """Whether the offset of `tz` is a whole number of hours on every day of first..last (checked at midnight and
    noon): then every order of a UTC hour has the same local day, and the range's bounds are whole UTC hours."""
    zone, d = ZoneInfo(tz), first
    while d <= last + timedelta(days=1):
        for h in (0, 12):
            offset = datetime(d.year, d.month, d.day, h, tzinfo=zone).utcoffset()
            if offset is None or offset % timedelta(hours=1):
                return False
        d += timedelta(days=1)
    return True


def _hourly(c: Ctx) -> bool:
    """Whether the orders' hourly rollup (migration 008) answers this query exactly (it has no customer: never
    under a segment filter)."""
    return c.rollups and c.q.segment_id is None and _whole_hours(c.q.time_zone, c.q.first_day, c.q.last_day)


# A dimension of the analytical orders reports: (alias, over a raw order `o`, over a rollup day `d`).
Dim = tuple[str, str, str]


def orders_count(c: Ctx) -> str | None:
    """The exact row count of Orders with commission from the hourly rollup (its filters are rollup dimensions; the
    contact joined is at most one row), when the time zone allows."""
    if not _hourly(c):
        return None
    return f"""SELECT COALESCE(sum(h.orders), 0)::bigint FROM orders_hourly h
                WHERE h.org_id = {c.org} AND {c.in_range("h.hour")}
                      {c.any_of("h.status", c.q.statuses, "text")}{c.where_ids("h.integration_id", "h.category_id")}"""


def _orders_by(c: Ctx, dims: list[Dim], extra: Callable[[str, str], str] | None = None) -> str:
    """Orders created in the range, per `dims`, with commission in the base currency; `extra(orders, successful)`
    adds columns over the two counts.

    From the hourly rollup (summed per local day, then converted once per day and currency: the same exact sums as
    converting each order) when the time zone allows, else from the raw orders."""
    commission = "CASE WHEN {a}.comm_status IN ('PENDING', 'SUCCESSFUL') THEN {a}.{amount} END"
    names = ", ".join(f"x.{alias}" for alias, _, _ in dims)
    key = " || '|' || ".join(f"COALESCE(x.{alias}::text, '')" for alias, _, _ in dims)
    if _hourly(c):
        inner = ", ".join(f"{expr} AS {alias}" for alias, _, expr in dims)
        conv = commission.format(a="d", amount="amount")
        orders, successful = "sum(x.n)::bigint", "COALESCE(sum(x.n) FILTER (WHERE x.status = 'SUCCESSFUL'), 0)::bigint"
        rows = f"""SELECT {inner}, d.status, d.comm_status, d.n, {_to_base(c, conv, "d.currency", "d.day")} AS conv,
                          {_fx_used(c, conv, "d.currency", "d.day")} AS used
                     FROM (SELECT {c.day("h.hour")} AS day, h.provider_id, h.integration_id, h.currency, h.status,
                                  h.comm_status, sum(h.orders) AS n, sum(h.amount) AS amount
                             FROM orders_hourly h
                            WHERE h.org_id = {c.org} AND {c.in_range("h.hour")} AND h.orders > 0
                                  {c.where_ids("h.integration_id", "h.category_id")}
                            GROUP BY 1, 2, 3, 4, 5, 6) d"""
    else:
        day = c.day("o.created_at")
        inner = ", ".join(f"{expr} AS {alias}" for alias, expr, _ in dims)
        conv = commission.format(a="o", amount="amount")
        orders, successful = "count(*)", "count(*) FILTER (WHERE x.status = 'SUCCESSFUL')"
        rows = f"""SELECT {inner}, o.status, o.comm_status, {_to_base(c, conv, "o.currency", day)} AS conv,
                          {_fx_used(c, conv, "o.currency", day)} AS used
                     FROM orders o
                    WHERE o.org_id = {c.org} AND {c.in_range("o.created_at")}
                          {c.where_ids("o.integration_id", "o.category_id")}{c.member("o.customer_id")}"""
    return f"""SELECT {names}, {orders} AS orders, {successful} AS successful_orders,
                      {extra(orders, successful) + "," if extra else ""}
                      round(COALESCE(sum(x.conv) FILTER (WHERE x.comm_status = 'PENDING'), 0), 2) AS commission_pending,
                      round(COALESCE(sum(x.conv) FILTER (WHERE x.comm_status = 'SUCCESSFUL'), 0), 2) AS commission_paid,
                      {c.base}::text AS currency, string_agg(DISTINCT x.used, '; ') AS fx_rates, {key} AS _k
                 FROM ({rows}) x
                GROUP BY {names}"""


def commission_per_provider(c: Ctx) -> str:
    month = ("month", c.month("o.created_at"), "date_trunc('month', d.day)::date")
    return _orders_by(c, [month, ("provider_id", "o.provider_id", "d.provider_id")])


def network_performance(c: Ctx) -> str:
    def rate(orders: str, successful: str) -> str:
        return f"round(({successful})::numeric / ({orders}), 4) AS success_rate"

    provider = ("provider_id", "o.provider_id", "d.provider_id")
    return _orders_by(c, [provider, ("integration_id", "o.integration_id", "d.integration_id")], rate)


def open_service_requests(c: Ctx) -> str:
    cols = f"""{_ENTITY_COLS}, e.fields->>'category' AS category, e.fields->>'priority' AS priority,
               e.first_event_at AS opened_at,
               floor(extract(epoch FROM (now() - e.first_event_at)) / 86400)::int AS age_days,
               {_CONTACT_COLS}, e.integration_id"""
    return _entities(c, ("service_request",), cols, range_on="e.first_event_at", states=("open", "in_progress"))


def resolution_time(c: Ctx) -> str:
    return f"""SELECT x.category, x.priority, count(*) AS resolved, round(avg(x.h), 2) AS average_hours,
                      round(min(x.h), 2) AS min_hours, round(max(x.h), 2) AS max_hours,
                      COALESCE(x.category, '') || '|' || COALESCE(x.priority, '') AS _k
                 FROM (SELECT e.fields->>'category' AS category, e.fields->>'priority' AS priority,
                              extract(epoch FROM (r.resolved_at - e.first_event_at)) / 3600 AS h
                         FROM business_entities e
                         JOIN LATERAL (SELECT min(x.occurred_at) AS resolved_at FROM business_events x
                                        WHERE x.org_id = e.org_id AND x.integration_id = e.integration_id
                                          AND x.type = e.type AND x.entity_id = e.entity_id AND x.state = 'resolved') r
                           ON true
                        WHERE e.org_id = {c.org} AND e.type = 'service_request' AND {c.in_range("r.resolved_at")}
                              {c.where_ids("e.integration_id", None)}{c.member("e.customer_id")}) x
                GROUP BY x.category, x.priority"""


def subscriptions(c: Ctx) -> str:
    money, fx = _entity_money(c)
    cols = f"""e.fields->>'plan' AS plan, e.fields->>'period' AS billing_period, {_ENTITY_COLS},
               ev.started_at, {_num("e.fields->>'allowance'")} AS allowance, {_CONTACT_COLS}, {_WHERE_COLS},
               {money}"""
    return _entities(c, ("subscription",), cols, firsts={"started_at": "active"}, fx=fx)


_MONTHLY = """CASE e.fields->>'period' WHEN 'week' THEN 52.0 / 12 WHEN 'month' THEN 1 WHEN 'quarter' THEN 1.0 / 3
                                     WHEN 'year' THEN 1.0 / 12 ELSE 1 END"""


def mrr_churn(c: Ctx) -> str:
    q = c.q
    first, last = c.p(q.first_day), c.p(q.last_day)

    def mrr(condition: str, day: str) -> str:
        conv = f"CASE WHEN s.currency = {c.base} THEN 1 ELSE fx_required(s.currency, {c.base}, {day}) END"
        return f"round(COALESCE(sum(round(s.monthly * {conv}, 2)) FILTER (WHERE {condition}), 0), 2)"

    at_start = "s.active_from < m.start AND (s.ended_at IS NULL OR s.ended_at >= m.start)"
    at_end = "s.active_from < m.stop AND (s.ended_at IS NULL OR s.ended_at >= m.stop)"
    cancelled = "s.end_state = 'cancelled' AND s.ended_at >= m.start AND s.ended_at < m.stop"
    return f"""WITH subs AS (
                   SELECT a.active_from, x.ended_at, x.end_state, e.currency::text AS currency,
                          COALESCE(e.amount, 0) * {_MONTHLY} AS monthly
                     FROM business_entities e
                     JOIN LATERAL (SELECT min(y.occurred_at) AS active_from FROM business_events y
                                    WHERE y.org_id = e.org_id AND y.integration_id = e.integration_id
                                      AND y.type = e.type AND y.entity_id = e.entity_id AND y.state = 'active') a
                       ON true
                     LEFT JOIN LATERAL (SELECT y.occurred_at AS ended_at, y.state AS end_state FROM business_events y
                                         WHERE y.org_id = e.org_id AND y.integration_id = e.integration_id
                                           AND y.type = e.type AND y.entity_id = e.entity_id
                                           AND y.state IN ('cancelled', 'expired') AND y.occurred_at > a.active_from
                                         ORDER BY y.occurred_at LIMIT 1) x ON true
                    WHERE e.org_id = {c.org} AND e.type = 'subscription' AND a.active_from IS NOT NULL
                          AND a.active_from < {c.hi} {c.where_ids("e.integration_id", None)}{c.member("e.customer_id")}
               ), months AS (
                   SELECT g::date AS month, (g::timestamp AT TIME ZONE {c.tz}) AS start,
                          ((g + interval '1 month')::timestamp AT TIME ZONE {c.tz}) AS stop,
                          LEAST((g + interval '1 month - 1 day')::date, {last}::date) AS end_day,
                          (g - interval '1 day')::date AS start_day
                     FROM generate_series(date_trunc('month', {first}::date), date_trunc('month', {last}::date),
                                          interval '1 month') g
               )
               SELECT y.*, round(y.cancelled::numeric / NULLIF(y.active_at_start, 0), 4) AS churn_rate,
                      round(y.mrr_cancelled / NULLIF(y.mrr_start, 0), 4) AS mrr_churn_rate, y.month::text AS _k
                 FROM (SELECT m.month, count(s.*) FILTER (WHERE {at_start}) AS active_at_start,
                              count(s.*) FILTER (WHERE {at_end}) AS active_at_end,
                              count(s.*) FILTER (WHERE {cancelled}) AS cancelled,
                              {mrr(at_start, "m.start_day")} AS mrr_start, {mrr(at_end, "m.end_day")} AS mrr,
                              {mrr(cancelled, "m.end_day")} AS mrr_cancelled, {c.base}::text AS currency
                         FROM months m LEFT JOIN subs s ON true
                        GROUP BY m.month) y"""


def usage_allowance(c: Ctx) -> str:
    return f"""SELECT u.month, u.contact_id, u.metric, u.unit, u.used, a.allowance,
                      round(u.used / NULLIF(a.allowance, 0), 4) AS used_share,
                      u.month::text || '|' || u.contact_id::text || '|' || COALESCE(u.metric, '') AS _k
                 FROM (SELECT {c.month("b.occurred_at")} AS month, b.customer_id AS contact_id,
                              b.fields->>'metric' AS metric, max(b.fields->>'unit') AS unit,
                              sum({_num("b.fields->>'quantity'")}) AS used
                         FROM business_events b
                        WHERE b.org_id = {c.org} AND {c.in_range("b.occurred_at")} AND b.type = 'usage' AND b.counted
                              AND b.customer_id IS NOT NULL {c.where_ids("b.integration_id", None)}
                              {c.member("b.customer_id")}
                        GROUP BY 1, 2, 3) u
                 LEFT JOIN LATERAL (
                     SELECT sum({_num("e.fields->>'allowance'")}) AS allowance
                       FROM business_entities e
                      WHERE e.org_id = {c.org} AND e.type = 'subscription' AND e.customer_id = u.contact_id
                        AND e.first_event_at < ((u.month + interval '1 month')::timestamp AT TIME ZONE {c.tz})
                        AND NOT (e.state IN ('cancelled', 'expired')
                                 AND e.state_at < ((u.month + interval '1 month')::timestamp AT TIME ZONE {c.tz}))
                 ) a ON true"""


def awards_spends(c: Ctx) -> str:
    cols = f"""e.type, e.fields->>'scheme' AS scheme, {_num("e.fields->>'points'")} AS points, {_ENTITY_COLS},
               {_CONTACT_COLS}, {_WHERE_COLS}"""
    return _entities(c, ("award", "spend"), cols)


def points_per_scheme(c: Ctx) -> str:
    pts = _num("b.fields->>'points'")

    def total(type_: str, in_range: bool) -> str:
        when = f" AND x.occurred_at >= {c.lo}" if in_range else ""
        return f"COALESCE(sum(x.pts) FILTER (WHERE x.type = '{type_}'{when}), 0)"

    return f"""SELECT x.scheme, {total("award", True)} AS awarded, {total("spend", True)} AS spent,
                      {total("award", False)} - {total("spend", False)} AS outstanding,
                      COALESCE(x.scheme, '') AS _k
                 FROM (SELECT b.fields->>'scheme' AS scheme, b.type, b.occurred_at, {pts} AS pts
                         FROM business_events b
                        WHERE b.org_id = {c.org} AND b.type IN ('award', 'spend') AND b.counted
                              AND b.occurred_at < {c.hi} {c.where_ids("b.integration_id", None)}
                              {c.member("b.customer_id")}) x
                GROUP BY x.scheme"""


def inventory_items(c: Ctx) -> str:
    cols = f"""{_ENTITY_COLS}, e.fields->>'location' AS location, {_num("e.fields->>'quantity'")} AS quantity,
               {_WHERE_COLS}"""
    return _entities(c, ("inventory_item",), cols)


def stock_movements(c: Ctx) -> str:
    qty = _num("b.fields->>'quantity'")

    def units(state: str) -> str:
        return f"COALESCE(sum({qty}) FILTER (WHERE b.state = '{state}'), 0)"

    return f"""SELECT b.product_id, b.fields->>'location' AS location, {units("received")} AS received,
                      {units("allocated")} AS allocated, {units("returned")} AS returned,
                      {units("received")} - {units("allocated")} + {units("returned")} AS net,
                      COALESCE(b.product_id::text, '') || '|' || COALESCE(b.fields->>'location', '') AS _k
                 FROM business_events b
                WHERE {_events(c)} AND b.type = 'inventory_item'
                GROUP BY 1, 2"""


def leads(c: Ctx) -> str:
    cols = f"""e.fields->>'source' AS source, e.fields->>'owner' AS owner, {_ENTITY_COLS}, {_CONTACT_COLS},
               e.integration_id"""
    return _entities(c, ("lead",), cols)


def lead_conversion(c: Ctx) -> str:
    return f"""SELECT x.source, count(*) AS created, count(*) FILTER (WHERE x.qualified) AS qualified,
                      count(*) FILTER (WHERE x.converted) AS converted, count(*) FILTER (WHERE x.lost) AS lost,
                      round(count(*) FILTER (WHERE x.converted)::numeric / count(*), 4) AS conversion_rate,
                      COALESCE(x.source, '') AS _k
                 FROM (SELECT e.fields->>'source' AS source, s.qualified, s.converted, s.lost
                         FROM business_entities e
                         JOIN LATERAL (SELECT bool_or(y.state = 'qualified') AS qualified,
                                              bool_or(y.state = 'converted') AS converted,
                                              bool_or(y.state = 'lost') AS lost
                                         FROM business_events y
                                        WHERE y.org_id = e.org_id AND y.integration_id = e.integration_id
                                          AND y.type = e.type AND y.entity_id = e.entity_id) s ON true
                        WHERE e.org_id = {c.org} AND e.type = 'lead' AND {c.in_range("e.first_event_at")}
                              {c.where_ids("e.integration_id", None)}{c.member("e.customer_id")}) x
                GROUP BY x.source"""


SOURCES: dict[str, Callable[[Ctx], str]] = {
    "contact_summary": contact_summary,
    "contacts_new_returning": contacts_new_returning,
    "financial_transactions": financial_transactions,
    "revenue_per_period": revenue_per_period,
    "event_log": event_log,
    "events_per_type": events_per_type,
    "passes": passes,
    "pass_issuance": pass_issuance,
    "orders_with_commission": orders_with_commission,
    "commission_per_provider": commission_per_provider,
    "network_performance": network_performance,
    "open_service_requests": open_service_requests,
    "resolution_time": resolution_time,
    "subscriptions": subscriptions,
    "mrr_churn": mrr_churn,
    "usage_allowance": usage_allowance,
    "awards_spends": awards_spends,
    "points_per_scheme": points_per_scheme,
    "inventory_items": inventory_items,
    "stock_movements": stock_movements,
    "leads": leads,
    "lead_conversion": lead_conversion,
}


# Sources whose ungrouped row count a rollup answers exactly (None when it cannot for this query).
COUNTS: dict[str, Callable[[Ctx], str | None]] = {"orders_with_commission": orders_count}


# The engine.


def _expr(s: Selected) -> str:
    """A column over the source `s`: its own, or a custom field's value as text."""
    if s.custom == "entity":
        return f"(s._custom->>'{s.custom_key}')"
    if s.custom == "contact":
        return f"(s._contact_custom->>'{s.custom_key}')"
    return f"s.{s.key}"


def _text(o: Output) -> bool:
    """Text a person or an integration typed: neutralised against formulas (ids, numbers, our enums are not)."""
    return o.type is ColumnType.TEXT and o.aggregate is None


_AGG = {
    Aggregate.COUNT: "count({})",
    Aggregate.SUM: "sum({})",
    Aggregate.AVERAGE: "round(avg({}), 4)",
    Aggregate.MIN: "min({})",
    Aggregate.MAX: "max({})",
}


@dataclass(frozen=True)
class Statement:
    """A report run as one statement: `sql` yields the answer's columns `c0..cn` (then `_row` when grouped),
    sort keys `_s0..` (the last makes the order total), and `args`."""

    sql: str
    args: list[Any]
    outputs: tuple[Output, ...]
    sort: tuple[tuple[str, bool], ...]  # (key column, descending)
    grouped: bool
    count: tuple[str, list[Any]] | None = None  # a cheaper statement giving the same row count, and its args
    aggregated: bool = False  # every row is an aggregate: the rows and their count come from one execution

    @property
    def order_by(self) -> str:
        return ", ".join(f"{k} {'DESC' if d else 'ASC'} NULLS LAST" for k, d in self.sort)

    def after(self, p: Params, last: tuple[Any, ...] | None) -> str:
        """The rows after the one whose sort keys are `last`, in the order (NULLs last both ways)."""
        if last is None:
            return "true"
        terms = []
        for i, (key, desc) in enumerate(self.sort):
            if last[i] is None:
                continue  # nothing follows a NULL with the same prefix: NULLs are last
            equal = [f"{k} IS NOT DISTINCT FROM {p(v)}" for (k, _), v in zip(self.sort[:i], last[:i], strict=True)]
            later = f"({key} {'<' if desc else '>'} {p(last[i])} OR {key} IS NULL)"
            terms.append("(" + " AND ".join([*equal, later]) + ")")
        return "(" + " OR ".join(terms) + ")" if terms else "false"


def statement(
    q: ReportQuery, org_id: UUID, base_currency: str, *, rollups: bool = True, fx_daily: bool = True
) -> Statement:
    """The report's one statement; `rollups=False` reads raw rows only (the rollups' tests compare the two),
    `fx_daily=False` converts itemised amounts by the per-row functions (the fx_daily tests compare the two)."""
    c = Ctx(q, org_id, base_currency, rollups, fx_daily)
    source = SOURCES[q.report.key](c)
    outputs = q.outputs
    if not q.grouped:
        cols = [f"{safe(_expr(o.selected)) if _text(o) else _expr(o.selected)} AS c{i}" for i, o in enumerate(outputs)]
        keys = [f"{_expr(s)} AS _s{i}" for i, (s, _) in enumerate(q.sort)]
        order = (*((f"_s{i}", d) for i, (_, d) in enumerate(q.sort)), ("_s_k", False))
        sql = f"SELECT {', '.join(cols)}, {', '.join(keys)}, s._k AS _s_k FROM ({source}) s"
        counted = Ctx(q, org_id, base_currency, rollups, fx_daily=False)
        count_sql = COUNTS[q.report.key](counted) if q.report.key in COUNTS else None
        if count_sql is None and fx_daily:
            # The source's rows without the fx joins (each at most one row): the functions in its unused columns
            # are never called, and nothing keeps the contacts join alive (the fx_daily join on the contact's
            # currency would, though PostgreSQL removes the fx joins themselves), so the count stays index-only.
            count_sql = f"SELECT count(*) FROM ({SOURCES[q.report.key](counted)}) s"
        count = (count_sql, counted.p.values) if count_sql is not None else None
        return Statement(sql, c.p.values, outputs, order, False, count, not q.report.itemised)
    levels = [_expr(g) for g in q.grouping]
    currency = "s.currency" if q.by_currency else None
    cols, keys = [], []
    for i, o in enumerate(outputs):
        if o.aggregate is None:
            e = _expr(o.selected)
            cols.append(f"{safe(e) if _text(o) else e} AS c{i}")
        else:
            cols.append(_AGG[o.aggregate].format(_expr(o.selected)) + f" AS c{i}")
    sort: list[tuple[str, bool]] = []
    direction = dict((s.key, d) for s, d in q.sort)
    for i, (g, e) in enumerate(zip(q.grouping, levels, strict=True)):
        keys += [f"{e} AS _s{i}", f"GROUPING({e}) AS _g{i}"]
        sort += [(f"_s{i}", direction.get(g.key, False)), (f"_g{i}", False)]
    if currency:
        keys.append(f"{currency} AS _cur")
        sort.append(("_cur", False))
    flags = " + ".join(f"GROUPING({e})" for e in levels)
    row_kind = (
        f"CASE WHEN {flags} = 0 THEN 'row' WHEN GROUPING({levels[0]}) = 1 THEN 'total' ELSE 'subtotal' END"
        f" AS {ROW_KIND}"
    )
    group_by = f"{currency + ', ' if currency else ''}ROLLUP({', '.join(levels)})"
    sql = f"SELECT {', '.join(cols)}, {row_kind}, {', '.join(keys)} FROM ({source}) s GROUP BY {group_by}"
    return Statement(sql, c.p.values, outputs, tuple(sort), True, aggregated=True)


async def preview(conn: asyncpg.Connection, st: Statement) -> tuple[list[asyncpg.Record], int]:
    """The first PREVIEW_ROWS rows of the run, and how many rows it has in all (exactly).

    An aggregated answer (grouped, or an analytical report) is computed whole whatever is shown of it, so its count
    is a window over the same execution (`_total`) rather than a second one; an itemised answer shows its first
    rows from an index where it can, so its count is its own (cheaper) statement."""
    if st.aggregated:
        rows = await conn.fetch(
            f"SELECT *, count(*) OVER () AS _total FROM ({st.sql}) r ORDER BY {st.order_by} LIMIT {PREVIEW_ROWS}",
            *st.args,
        )
        return rows, int(rows[0]["_total"]) if rows else 0
    rows = await conn.fetch(f"SELECT * FROM ({st.sql}) r ORDER BY {st.order_by} LIMIT {PREVIEW_ROWS}", *st.args)
    if st.count is not None:
        count_sql, count_args = st.count
        total = await conn.fetchval(count_sql, *count_args)
    else:
        total = await conn.fetchval(f"SELECT count(*) FROM ({st.sql}) r", *st.args)
    return rows, int(total)


async def count_at_most(conn: asyncpg.Connection, st: Statement, limit: int) -> int:
    """The row count of an unaggregated statement, counting no further than `limit` (a cap's check reads at most
    cap + 1 rows, unsorted, whatever the report holds; its money columns are never evaluated)."""
    n = await conn.fetchval(f"SELECT count(*) FROM (SELECT 1 FROM ({st.sql}) r LIMIT {int(limit)}) x", *st.args)
    return int(n)


async def rows_batch(
    conn: asyncpg.Connection, st: Statement, after: tuple[Any, ...] | None, size: int
) -> tuple[list[asyncpg.Record], tuple[Any, ...] | None]:
    """The next `size` rows after the sort keys `after`, and the keys to read on from (None after the last)."""
    p = Params(list(st.args))
    where = st.after(p, after)
    rows = await conn.fetch(
        f"SELECT * FROM ({st.sql}) r WHERE {where} ORDER BY {st.order_by} LIMIT {int(size)}", *p.values
    )
    if len(rows) < size:
        return rows, None
    last = rows[-1]
    return rows, tuple(last[k] for k, _ in st.sort)


# Runs: one statement for the whole answer, in the caller's snapshot transaction (services/reports/service/runs.py).

# Result types whose text PostgreSQL writes as the CSV writer of the Python values does (`_csv_text` rewrites the
# others it knows); a statement with any other type (json, float, arrays) is written from Python rows instead.
_COPY_AS_IS = frozenset({"text", "varchar", "bpchar", "name", "uuid", "int2", "int4", "int8", "numeric"})
_ISO_SECONDS = """'YYYY-MM-DD"T"HH24:MI:SS'"""
_ISO_MICROSECONDS = """'YYYY-MM-DD"T"HH24:MI:SS.US'"""


def _csv_text(column: str, type_name: str) -> str | None:
    """`column` (of type `type_name`) as the text service/reports.py's CSV writer prints for its Python value:
    ISO 8601 times (UTC, microseconds only when there are some), dates, true/false. None: a type not handled."""
    if type_name in _COPY_AS_IS:
        return column
    if type_name == "bool":
        return f"CASE WHEN {column} THEN 'true' WHEN NOT {column} THEN 'false' END"
    if type_name == "date":
        return f"to_char({column}, 'YYYY-MM-DD')"
    if type_name in ("timestamptz", "timestamp"):
        at = f"({column} AT TIME ZONE 'UTC')" if type_name == "timestamptz" else column
        zone = " || '+00:00'" if type_name == "timestamptz" else ""
        return (
            f"CASE WHEN {column} IS NULL THEN NULL"
            f" WHEN {at} = date_trunc('second', {at}) THEN to_char({at}, {_ISO_SECONDS})"
            f" ELSE to_char({at}, {_ISO_MICROSECONDS}) END{zone}"
        )
    return None


def _answer(st: Statement, width: int, columns: list[str] | None = None) -> str:
    """The answer's first `width` columns (or `columns`, expressions over them) in the run's order."""
    chosen = columns or [r_col(st, i) for i in range(width)]
    return f"SELECT {', '.join(chosen)} FROM ({st.sql}) r ORDER BY {st.order_by}"


def r_col(st: Statement, i: int) -> str:
    """The answer's i-th column (`c0..`, then `_row` when grouped)."""
    return f"r.c{i}" if i < len(st.outputs) else f"r.{ROW_KIND}"


async def csv_columns(conn: asyncpg.Connection, st: Statement, width: int) -> list[str] | None:
    """The answer's columns as SQL writing each as the CSV writer would, or None when one has a type COPY
    would write differently (from the statement's planned result types: one prepare, no execution)."""
    ps = await conn.prepare(_answer(st, width))
    out = []
    for i, attr in enumerate(ps.get_attributes()):
        text = _csv_text(r_col(st, i), attr.type.name)
        if text is None:
            return None
        out.append(text)
    return out


async def copy_csv(
    conn: asyncpg.Connection,
    st: Statement,
    columns: list[str],
    output: Callable[[bytes], Awaitable[None]],
    timeout: float,
) -> int:
    """The whole answer as CSV rows (no header) by COPY, to `output`; how many rows. `columns`: `csv_columns`."""
    status = await conn.copy_from_query(_answer(st, 0, columns), *st.args, output=output, format="csv", timeout=timeout)
    return int(str(status).rsplit(" ", 1)[-1])


async def run_rows(
    conn: asyncpg.Connection, st: Statement, width: int, batch: int, timeout: float
) -> AsyncGenerator[list[asyncpg.Record], None]:
    """The whole answer's first `width` columns in order, `batch` rows at a time, through one server-side cursor
    in the caller's transaction: the statement is planned and sorted once, and memory holds one batch."""
    cursor = await conn.cursor(_answer(st, width), *st.args, timeout=timeout)
    while rows := await cursor.fetch(batch, timeout=timeout):
        yield rows


async def base_currency_and_zone(conn: asyncpg.Connection, org_id: UUID) -> tuple[str, str] | None:
    row = await conn.fetchrow("SELECT base_currency, time_zone FROM organisation_settings WHERE org_id = $1", org_id)
    return (str(row["base_currency"]).strip(), str(row["time_zone"])) if row else None
