"""The SQL of the Analytics tab's exports: the customers active in a range and the range's orders.

Both are the kit's `ExportQuery` (shared/export_queries.py: the SELECT list with every text column
neutralised, keyset batches each read in its own short transaction), built from the very predicates the
tab's numbers count (`repository.analytics`), so the files hold exactly the rows behind the numbers:

- `analytics_customers`: one row per customer with a `customer_days` row in the range under the filter
  (the customers behind the range's NEW_CUSTOMERS and RETURNING_CUSTOMERS points, each once). Batches are
  keyed by customer id: the next `size` distinct ids of `customer_days_customer` (org_id, customer_id, day),
  then each customer's figures read for those ids only, so a batch costs its own customers, never the range.
  The furthest funnel step is the funnel's own definition (`analytics._funnel_base`, narrowed to the
  customer), so counting rows with `furthest_step >= k` gives the funnel's step k.
- `analytics_orders`: the orders copy's orders created in the range under the filter (what the series'
  ordersCreated points add up to), newest first by `orders_created` (org_id, created_at DESC, id DESC),
  each with its customer's events and visits in the range (from `customer_days`, under the same filter).

- `insight_events` (the insights builder's UGD export): an insight's counted events in its range under its
  filters (`repository.insight._raw_from`, the very FROM and WHERE the answer counts), newest first, one row
  per event, or with a breakdown by `item.productId` one row per event and line-item product (the lines of
  one product in one event are one row, their amounts added: so rows per cell are the cell's count, as the
  answer counts an event once per product, and amounts per cell are its total). Batches are keyed by
  (occurred_at, id) and the product's first line ordinality.

Names (customer email and display name, product, category and integration names) are the orders service's:
these files carry their ids (see services/insights/api/exports.py for why).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from services.insights.domain.buckets import local_midnight
from services.insights.domain.insight import Insight
from services.insights.repository.analytics import Scope, _dims, _funnel_base
from services.insights.repository.insight import _condition, _expr, _raw_from, _typed, expanded
from shared.export_queries import Column, ExportQuery, Key, select_list
from shared.service.pagination import Params

_UTC_TEXT = '\'YYYY-MM-DD"T"HH24:MI:SS"Z"\''


def _utc(expr: str) -> str:
    return f"to_char({expr} AT TIME ZONE 'UTC', {_UTC_TEXT})"


CUSTOMER_COLUMNS = [
    Column("customer_id", "k.customer_id"),
    Column("first_seen", "d.first_day"),
    Column("last_seen", "d.last_day"),
    Column("active_days", "d.active_days"),
    Column("visits", "d.visits"),
    Column("events", "d.events"),
    Column("furthest_step", "coalesce(fr.reached, 0)"),
    Column("orders", "(SELECT count(*) FROM orders o WHERE {orders_where} AND o.customer_id = k.customer_id)"),
    # The channel of the customer's first event in the range that had one (an integration's free text).
    Column("first_channel", "coalesce(ch.channel, '')", text=True),
]


def customers_query(scope: Scope, first_day: date, last_day: date, time_zone: str) -> ExportQuery:
    """One row per customer active in [first_day, last_day] (local days of `time_zone`) under `scope`."""
    p = Params()
    days = f"c.day >= {p(first_day)} AND c.day <= {p(last_day)}"
    active = f"SELECT DISTINCT c.customer_id FROM customer_days c WHERE {_dims(p, 'c', scope)} AND {days}"
    key_args = len(p.values)  # the batches' ends are found on `active` alone
    start, end = p(local_midnight(first_day, time_zone)), p(local_midnight(last_day + timedelta(days=1), time_zone))
    figures = f"""SELECT min(c.day) AS first_day, max(c.day) AS last_day, count(DISTINCT c.day) AS active_days,
                         sum(c.visits)::bigint AS visits, sum(c.events)::bigint AS events
                    FROM customer_days c
                   WHERE {_dims(p, "c", scope)} AND {days} AND c.customer_id = k.customer_id"""
    reached = (
        f"SELECT b.reached FROM ({_funnel_base(p, scope, first_day, last_day)}) b WHERE b.customer_id = k.customer_id"
    )
    orders_where = f"{_dims(p, 'o', scope)} AND o.created_at >= {start} AND o.created_at < {end}"
    channel = f"""SELECT e.channel FROM events e
                   WHERE e.org_id = {p(scope.org_id)} AND e.customer_id = k.customer_id
                     AND e.occurred_at >= {start} AND e.occurred_at < {end} AND e.channel IS NOT NULL
                   ORDER BY e.occurred_at LIMIT 1"""
    columns = [Column(c.name, c.expr.replace("{orders_where}", orders_where), c.text) for c in CUSTOMER_COLUMNS]
    keys = f"({active}) k"
    source = (
        f"{keys} CROSS JOIN LATERAL ({figures}) d LEFT JOIN LATERAL ({reached}) fr ON true"
        f" LEFT JOIN LATERAL ({channel}) ch ON true"
    )
    return ExportQuery(
        columns=select_list(columns),
        source=source,
        keys=keys,
        where="true",
        args=p.values,
        header=[c.name for c in CUSTOMER_COLUMNS],
        # Keyed by the customer alone (one row each): the key's two halves are the same column.
        ts="k.customer_id",
        id="k.customer_id",
        key_args=key_args,
    )


ORDER_COLUMNS = [
    Column("order_id", "o.id"),
    Column("created_at", _utc("o.created_at")),
    Column("customer_id", "o.customer_id"),
    Column("integration_id", "o.integration_id"),
    Column("category_id", "o.category_id"),
    Column("product_id", "o.product_id"),
    Column("kind", "o.kind"),
    Column("status", "o.status"),
    Column("comm_status", "o.comm_status"),
    Column("commission_amount", "o.amount"),
    Column("currency", "o.currency"),
    Column("customer_events_in_range", "coalesce(cd.events, 0)"),
    Column("customer_visits_in_range", "coalesce(cd.visits, 0)"),
]


def orders_query(scope: Scope, first_day: date, last_day: date, time_zone: str) -> ExportQuery:
    """The orders created in [first_day, last_day] (local days of `time_zone`) under `scope`, newest first."""
    p = Params()
    start, end = p(local_midnight(first_day, time_zone)), p(local_midnight(last_day + timedelta(days=1), time_zone))
    where = f"{_dims(p, 'o', scope)} AND o.created_at >= {start} AND o.created_at < {end}"
    key_args = len(p.values)  # the batches' ends are found on the orders alone
    customer = f"""SELECT sum(c.events)::bigint AS events, sum(c.visits)::bigint AS visits FROM customer_days c
                    WHERE {_dims(p, "c", scope)} AND c.customer_id = o.customer_id
                      AND c.day >= {p(first_day)} AND c.day <= {p(last_day)}"""
    return ExportQuery(
        columns=select_list(ORDER_COLUMNS),
        source=f"orders o LEFT JOIN LATERAL ({customer}) cd ON true",
        keys="orders o",
        where=where,
        args=p.values,
        header=[c.name for c in ORDER_COLUMNS],
        ts="o.created_at",
        id="o.id",
        key_args=key_args,
    )


# ------------------------------------------------------------------------------------------ insight events

ITEM = "item.productId"


def _local_iso(tz: str) -> str:
    """`e.occurred_at` in the zone `tz` (a placeholder) as ISO 8601 with its UTC offset, to the second."""
    local = f"(e.occurred_at AT TIME ZONE {tz})"
    offset = f"({local} - (e.occurred_at AT TIME ZONE 'UTC'))"
    return (
        f"""to_char({local}, 'YYYY-MM-DD"T"HH24:MI:SS') || CASE WHEN {offset} < interval '0'"""
        f" THEN '-' || to_char(-{offset}, 'HH24:MI') ELSE '+' || to_char({offset}, 'HH24:MI') END"
    )


def _quoted(name: str) -> str:
    """A column alias that keeps its dots (`fields.method`): COPY's header and the sheet's are the same."""
    return '"' + name.replace('"', '""') + '"'


def insight_events_header(q: Insight) -> list[str]:
    """The UGD export's columns for `q`: fixed ones, one per breakdown, the type's own fields, then JSON."""
    fields = q.event_type.business.fields if q.event_type.business else ()
    return [
        *(c.name for c in _EVENT_COLUMNS),
        *(f"breakdown.{b.name}" for b in q.breakdowns),
        *(f"fields.{f.name}" for f in fields),
        "custom_fields",
        "properties",
    ]


_EVENT_COLUMNS = [
    Column("event_id", "e.id"),
    Column("type", "e.type", text=True),  # custom:<name> is the integration's
    Column("occurred_at", "{occurred_at}"),
    Column("customer_id", "e.customer_id"),
    Column("integration_id", "e.integration_id"),
    Column("category_id", "e.category_id"),
    Column("product_id", "e.product_id"),
    Column("entity_id", "e.entity_id", text=True),
    Column("state", "e.state", text=True),
    # The event's amount; with a line-item breakdown, its lines' of the row's product (what the answer adds).
    Column("amount", "{amount}"),
    Column("currency", "e.currency::text"),
]


class _EventsQuery(ExportQuery):
    """The kit's keyset batches, plus the batch's bound on `e.occurred_at` alone: the row comparison on
    (occurred_at, key) is no index condition when the key is computed (a line's), this one is, so each
    batch reads from where the last ended instead of from the range's newest event."""

    def _batch_where(self, after: Key | None, until: Key | None, *, keys_only: bool = False) -> tuple[str, list[Any]]:
        where, args = super()._batch_where(after, until, keys_only=keys_only)
        p = Params(args)
        if after is not None:
            where += f" AND e.occurred_at <= {p(after[0])}"
        if until is not None:
            where += f" AND e.occurred_at >= {p(until[0])}"
        return where, p.values


def insight_events_query(org_id: UUID, q: Insight) -> ExportQuery:
    """The UGD export of `q`: its counted events in its range under its filters, newest first (see the
    module's docstring); columns as `insight_events_header`."""
    p = Params()
    expand = expanded(q)
    # With lines expanded, a filter on a line's product keeps the lines it matches (as the answer does); the
    # event's own filters stay on the event.
    line_filters = [f for f in q.filters if f.field.name == ITEM] if expand else []
    on_events = replace(q, filters=tuple(f for f in q.filters if f.field.name != ITEM)) if line_filters else q
    source, where = _raw_from(p, org_id, on_events, expand=False)
    amount, key = "e.amount", "e.id"
    if expand:
        item = next(b for b in q.breakdowns if b.name == ITEM)
        conds = " AND ".join(_condition(p, f, _expr(f.field), _typed(f.field)) for f in line_filters) or "true"
        source += f"""
            CROSS JOIN LATERAL (
                SELECT {_expr(item)} AS product, sum((it.line ->> 'amount')::numeric) AS amount, min(it.n) AS n
                  FROM jsonb_array_elements(coalesce(e.items, '[]'::jsonb)) WITH ORDINALITY AS it(line, n)
                 WHERE {conds}
                 GROUP BY 1) li"""
        amount = "li.amount"
        # One text key per row, ordered as (event id, line): the kit's keyset takes two parts, time and key.
        key = "(e.id::text || '/' || lpad(li.n::text, 10, '0')) COLLATE \"C\""
    key_args = len(p.values)  # the batches' ends are found without the columns' own (the time zone)
    tz = p(q.time_zone)
    fixed = [Column(c.name, c.expr.format(occurred_at=_local_iso(tz), amount=amount), c.text) for c in _EVENT_COLUMNS]
    breakdowns = [
        Column(_quoted(f"breakdown.{b.name}"), "li.product" if b.name == ITEM else _expr(b), text=True)
        for b in q.breakdowns
    ]
    fields = q.event_type.business.fields if q.event_type.business else ()
    own = [Column(_quoted(f"fields.{f.name}"), f"(e.fields ->> '{f.name}')", text=True) for f in fields]
    json_columns = [
        Column("custom_fields", "e.custom_fields::text", text=True),
        Column("properties", "e.properties::text", text=True),
    ]
    return _EventsQuery(
        columns=select_list([*fixed, *breakdowns, *own, *json_columns]),
        source=source,
        keys=source,
        where=where,
        args=p.values,
        header=insight_events_header(q),
        ts="e.occurred_at",
        id=key,
        key_args=key_args,
    )
