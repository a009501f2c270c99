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

Names (customer email and display name, product, category and integration names) are the orders service's:
these files carry their ids (see services/insights/api/exports.py for why).
"""

from __future__ import annotations

from datetime import date, timedelta

from services.insights.domain.buckets import local_midnight
from services.insights.repository.analytics import Scope, _dims, _funnel_base
from shared.export_queries import Column, ExportQuery, select_list
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
