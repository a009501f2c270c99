"""The insights service's copy of the FX reference rates (migration 009): stored from the orders service's
`fx_rates.published` events, read by `service/fx_rates.rates_to`. Reference data of no organisation: no
org_id, no row-level security (the migration says why)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import asyncpg


async def store(
    conn: asyncpg.Connection,
    currencies: Sequence[str],
    days: Sequence[date],
    per_euro: Sequence[Decimal],
    as_of: datetime,
) -> int:
    """Stores the rates (parallel sequences) published at `as_of`, in one statement; a row already holding a
    value published at `as_of` or later is left alone, so a redelivered or overtaken event changes nothing.
    Returns how many rows it wrote."""
    written = await conn.fetchval(
        """WITH w AS (
               INSERT INTO fx_rates AS f (currency, day, per_euro, as_of)
               SELECT c, d, v, $4 FROM unnest($1::text[], $2::date[], $3::numeric[]) AS r(c, d, v)
               ON CONFLICT (currency, day) DO UPDATE SET per_euro = EXCLUDED.per_euro, as_of = EXCLUDED.as_of
                WHERE f.as_of < EXCLUDED.as_of
               RETURNING 1
           )
           SELECT count(*) FROM w""",
        list(currencies),
        list(days),
        list(per_euro),
        as_of,
    )
    return int(written)


@dataclass(frozen=True)
class Found:
    """For the i-th need: the date used and both sides' rates per euro (None for EUR, which has no row)."""

    index: int
    rate_date: date
    currency_per_euro: Decimal | None
    base_per_euro: Decimal | None


# For each need (currency, day), the latest date in [day - window, day] on which both sides have a rate.
# EUR has a rate on every date, so a side that is EUR is no condition: the "probe" is the side that is not EUR
# (the currency, else the base) and "other" the base when neither is EUR. One statement for every need: each
# need reads at most window + 1 rows of the probe's key (currency, day) backwards, and one row of the other's.
_LOOKUP = """
SELECT n.i, r.rate_date, r.probe_rate, r.other_rate, n.probe_is_currency
  FROM (SELECT u.i, u.day,
               CASE WHEN u.currency = 'EUR' THEN $3 ELSE u.currency END AS probe,
               CASE WHEN u.currency = 'EUR' OR $3 = 'EUR' THEN NULL ELSE $3 END AS other,
               u.currency <> 'EUR' AS probe_is_currency
          FROM unnest($1::text[], $2::date[]) WITH ORDINALITY AS u(currency, day, i)) n
  JOIN LATERAL (
        SELECT p.day AS rate_date, p.per_euro AS probe_rate, o.per_euro AS other_rate
          FROM fx_rates p
          LEFT JOIN fx_rates o ON o.currency = n.other AND o.day = p.day
         WHERE p.currency = n.probe AND p.day <= n.day AND p.day >= n.day - $4::integer
           AND (n.other IS NULL OR o.day IS NOT NULL)
         ORDER BY p.day DESC
         LIMIT 1
  ) r ON true
"""


async def lookup(
    conn: asyncpg.Connection, base: str, needs: Sequence[tuple[str, date]], window_days: int
) -> list[Found]:
    """The rates for converting each need's currency to `base` (neither may be equal to the other; at most
    one of them EUR). Needs without a date within the window are absent from the answer."""
    rows = await conn.fetch(_LOOKUP, [c for c, _ in needs], [d for _, d in needs], base, window_days)
    found: list[Found] = []
    for r in rows:
        if r["probe_is_currency"]:
            currency, base_rate = r["probe_rate"], r["other_rate"]
        else:  # the currency is EUR: the probe was the base
            currency, base_rate = None, r["probe_rate"]
        found.append(Found(int(r["i"]) - 1, r["rate_date"], currency, base_rate))
    return found
