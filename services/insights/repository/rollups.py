"""Rebuilding the read models from what they are read models of: the raw events and the orders copy.

Each read model is recomputed into a temporary table by one set-based statement (the same rules as the
statement that maintains it as events land, repository/events.py, and the orders trigger of migration 001),
compared with the stored rows in the same scope (rows that differ, are missing or are extra), then, when
asked, replaced: the scope's rows deleted and the recomputed ones inserted, in the caller's transaction.

Scopes. Raw events are kept 90 days, so the day-bucketed models are rebuilt from the first
organisation-local day the raw window covers whole (`since_day`); older days are left as they are. The
hourly rollup is rebuilt for its full hours of the last 48. The orders rollup is rebuilt whole from the
orders copy, which is kept whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.insights.domain.catalogue import STEP_NAMES
from services.insights.repository.events import ALL, FUNNEL_PATH_COLUMNS, NIL, funnel_paths_select

_FUNNEL_VALUES = ", ".join(f"('{name}', {step})" for step, name in enumerate(STEP_NAMES, start=1))
_TZ = "coalesce((SELECT time_zone FROM organisation_settings WHERE org_id = $1), 'UTC')"
SAMPLE = 20
REBUILD_STATEMENT_TIMEOUT_S = 600
# Every statement below takes the same three parameters, typed here whether or not it uses each.
_PARAMS = "WITH _params AS (SELECT $1::uuid, $2::date, $3::timestamptz)"


@dataclass(frozen=True)
class Model:
    table: str
    keys: tuple[str, ...]
    values: tuple[str, ...]
    scope: str  # a condition on the stored rows compared (parameters: $1 org, $2 since_day, $3 hour_from)
    recompute: str  # SELECT org_id, *keys, *values (same parameters)
    replaced: str | None = None  # the rows deleted before the recomputed ones go in (default: `scope`)
    # The read model `recompute` reads (as "FROM <table> c") instead of raw events: when the same rebuild has
    # recomputed it, its recomputed rows are read (with its stored rows outside its scope), so a check
    # compares with what the source should hold, and a replace needs no second pass.
    derived_from: str | None = None


_LOCAL_EVENTS = f"""
    SELECT e.*, (e.occurred_at AT TIME ZONE tz.name)::date AS day
      FROM events e, (SELECT {_TZ} AS name) tz
     WHERE e.org_id = $1 AND e.occurred_at >= ($2::date - 1)::timestamp AT TIME ZONE 'UTC'
       AND (e.occurred_at AT TIME ZONE tz.name)::date >= $2::date"""

# A customer day's four keys of migration 003: its own, and with ALL for either dimension or both.
_KEYS = f"""LATERAL (VALUES (c.integration_id, c.category_id), (c.integration_id, '{ALL}'::uuid),
                         ('{ALL}'::uuid, c.category_id), ('{ALL}'::uuid, '{ALL}'::uuid))
            AS k(integration_id, category_id)"""

MODELS: tuple[Model, ...] = (
    Model(
        "event_rollups_daily",
        ("day", "type", "integration_id", "category_id", "product_id", "channel", "currency"),
        ("events", "amount"),
        "day >= $2::date",
        f"""SELECT org_id, day, type, integration_id, coalesce(category_id, '{NIL}'), coalesce(product_id, '{NIL}'),
                   coalesce(channel, ''), coalesce(currency, ''), count(*), coalesce(sum(amount), 0)
              FROM ({_LOCAL_EVENTS}) loc WHERE loc.counted GROUP BY 1, 2, 3, 4, 5, 6, 7, 8""",
    ),
    Model(
        "event_rollups_hourly",
        ("hour", "type", "integration_id", "category_id", "product_id", "channel", "currency"),
        ("events", "amount"),
        "hour >= $3::timestamptz",
        f"""SELECT org_id, date_trunc('hour', occurred_at), type, integration_id, coalesce(category_id, '{NIL}'),
                   coalesce(product_id, '{NIL}'), coalesce(channel, ''), coalesce(currency, ''), count(*),
                   coalesce(sum(amount), 0)
              FROM events WHERE org_id = $1 AND counted AND occurred_at >= $3::timestamptz
             GROUP BY 1, 2, 3, 4, 5, 6, 7, 8""",
    ),
    Model(
        "customer_days",
        ("day", "integration_id", "category_id", "customer_id"),
        ("events", "visits"),
        "day >= $2::date",
        f"""SELECT org_id, day, integration_id, coalesce(category_id, '{NIL}'), customer_id, count(*),
                   count(*) FILTER (WHERE type = 'visit')
              FROM ({_LOCAL_EVENTS}) loc WHERE customer_id IS NOT NULL GROUP BY 1, 2, 3, 4, 5""",
    ),
    # Derived from customer_days as stored (whole: older days than the raw window included), so they must come
    # after it in a rebuild: the customers' four keys of migration 003 per active day, and the first of them.
    Model(
        "active_customers",
        ("integration_id", "category_id", "day", "customer_id"),
        (),
        "true",
        f"""SELECT DISTINCT c.org_id, k.integration_id, k.category_id, c.day, c.customer_id
              FROM customer_days c, {_KEYS}
             WHERE c.org_id = $1""",
        derived_from="customer_days",
    ),
    Model(
        "active_counts",
        ("integration_id", "category_id", "day"),
        ("customers",),
        # A key a merge emptied keeps a row of 0: the same as no row.
        "customers <> 0",
        "SELECT c.org_id, c.integration_id, c.category_id, c.day, count(*) FROM active_customers c"
        " WHERE c.org_id = $1 GROUP BY 1, 2, 3, 4",
        replaced="true",
        derived_from="active_customers",
    ),
    Model(
        "customer_firsts",
        ("customer_id", "integration_id", "category_id"),
        ("first_day",),
        "true",
        f"""SELECT c.org_id, c.customer_id, k.integration_id, k.category_id, min(c.day)
              FROM customer_days c, {_KEYS}
             WHERE c.org_id = $1 GROUP BY 1, 2, 3, 4""",
        derived_from="customer_days",
    ),
    Model(
        "funnel_firsts",
        ("day", "integration_id", "category_id", "customer_id", "step"),
        ("first_at",),
        "day >= $2::date",
        f"""SELECT org_id, day, integration_id, coalesce(category_id, '{NIL}'), customer_id, s.step::smallint,
                   min(occurred_at)
              FROM ({_LOCAL_EVENTS}) loc JOIN (VALUES {_FUNNEL_VALUES}) AS s(type, step) USING (type)
             WHERE customer_id IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6""",
    ),
    # Derived from funnel_firsts as stored (whole), so after it: migration 006.
    Model(
        "funnel_paths",
        ("integration_id", "day", "customer_id"),
        FUNNEL_PATH_COLUMNS,
        "true",
        funnel_paths_select("funnel_firsts c", "c.org_id = $1"),
        derived_from="funnel_firsts",
    ),
    Model(
        "order_rollups_daily",
        ("day", "integration_id", "category_id", "status", "comm_status", "currency"),
        ("orders", "commission"),
        # Buckets the trigger emptied (an order moved on) are rows of zeros: the same as no row.
        "NOT (orders = 0 AND commission = 0)",
        f"""SELECT org_id, (created_at AT TIME ZONE tz.name)::date, integration_id, category_id, status, comm_status,
                   currency, count(*), sum(amount)
              FROM orders, (SELECT {_TZ} AS name) tz WHERE org_id = $1 GROUP BY 1, 2, 3, 4, 5, 6, 7""",
        replaced="true",
    ),
)
BY_TABLE = {m.table: m for m in MODELS}
# What a change of the organisation's time zone re-buckets (the hourly rollup is in UTC hours).
LOCAL_DAY_MODELS = (
    "event_rollups_daily",
    "customer_days",
    "active_customers",
    "active_counts",
    "customer_firsts",
    "funnel_firsts",
    "funnel_paths",
    "order_rollups_daily",
)


@dataclass
class Difference:
    """How the stored rows of one read model differ from the ones rebuilt from the source."""

    table: str
    differing: int = 0  # same key, other values
    missing: int = 0  # rebuilt, not stored
    extra: int = 0  # stored, not rebuilt
    samples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.differing + self.missing + self.extra

    def as_json(self) -> dict[str, Any]:
        return {
            "differing": self.differing,
            "missing": self.missing,
            "extra": self.extra,
            "samples": self.samples,
        }


def _json(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value if isinstance(value, int | str | None) else str(value)


async def rebuild(
    conn: asyncpg.Connection,
    org_id: UUID,
    tables: tuple[str, ...],
    *,
    since_day: date,
    hour_from: datetime,
    replace: bool = True,
) -> list[Difference]:
    """Recomputes `tables` of `org_id` in their scopes, returns how the stored rows differed and, with
    `replace`, puts the recomputed rows in their place. Runs in the caller's (tenant) transaction."""
    found: list[Difference] = []
    args = (org_id, since_day, hour_from)
    # 90 days of a large organisation's events take longer than the pools' 5 s statement limit: a rebuild
    # (a zone change, the operator's command) is rare and allowed this long, for this transaction only.
    await conn.execute(f"SET LOCAL statement_timeout = '{REBUILD_STATEMENT_TIMEOUT_S}s'")
    for table in tables:
        m = BY_TABLE[table]
        cols = ", ".join((*m.keys, *m.values))
        fresh = f"fresh_{m.table}"
        recompute = m.recompute
        if m.derived_from and m.derived_from in tables[: tables.index(table)]:
            src = BY_TABLE[m.derived_from]
            rebuilt = f"""(SELECT * FROM {src.table} WHERE org_id = $1 AND NOT ({src.replaced or src.scope})
                           UNION ALL SELECT * FROM fresh_{src.table})"""
            recompute = recompute.replace(f"FROM {src.table} c", f"FROM {rebuilt} c")
        await conn.execute(f"DROP TABLE IF EXISTS {fresh}")
        await conn.execute(f"CREATE TEMP TABLE {fresh} ON COMMIT DROP AS SELECT * FROM {m.table} WITH NO DATA")
        await conn.execute(f"{_PARAMS} INSERT INTO {fresh} (org_id, {cols}) {recompute}", *args)
        keys = ", ".join(m.keys)
        s_vals = ", ".join(f"s.{v}" for v in m.values)
        f_vals = ", ".join(f"f.{v}" for v in m.values)
        stored = ", ".join([*(f"s.{v} AS stored_{v}" for v in m.values), *(f"f.{v} AS rebuilt_{v}" for v in m.values)])
        # A model of keys only (active_customers) differs by missing and extra rows only.
        differs = (
            f"ROW({s_vals}) IS DISTINCT FROM ROW({f_vals})"
            if m.values
            else f"s.{m.keys[0]} IS NULL OR f.{m.keys[0]} IS NULL"
        )
        rows = await conn.fetch(
            f"""{_PARAMS}
            SELECT CASE WHEN s.{m.keys[0]} IS NULL THEN 'missing' WHEN f.{m.keys[0]} IS NULL THEN 'extra'
                        ELSE 'differing' END AS how,
                   {", ".join([*(f"coalesce(s.{k}, f.{k}) AS {k}" for k in m.keys), *([stored] if stored else [])])}
              FROM (SELECT {", ".join((*m.keys, *m.values))} FROM {m.table} WHERE org_id = $1 AND {m.scope}) s
              FULL JOIN (SELECT {", ".join((*m.keys, *m.values))} FROM {fresh}) f
                ON {" AND ".join(f"s.{k} = f.{k}" for k in m.keys)}
             WHERE {differs}
             ORDER BY 2""",
            *args,
        )
        d = Difference(table)
        for r in rows:
            setattr(d, r["how"], getattr(d, r["how"]) + 1)
            if len(d.samples) < SAMPLE:
                d.samples.append({k: _json(v) for k, v in r.items()})
        found.append(d)
        if replace:
            await conn.execute(
                f"{_PARAMS} DELETE FROM {m.table} WHERE org_id = $1 AND ({m.replaced or m.scope})", *args
            )
            await conn.execute(
                f"INSERT INTO {m.table} (org_id, {cols}) SELECT org_id, {cols} FROM {fresh} ORDER BY {keys}"
            )
    return found
