"""The reports service's copy of the FX reference rates (migration 001), stored from the orders service's
`fx_rates.published` events. Reference data of no organisation: no org_id, no row-level security.

A copy of services/insights/repository/fx_rates.py's `store` (one statement): services share only `shared/`,
and a conversion (`lookup`) joins it when the analytical reports need one.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    """Stores the rates (parallel sequences) published at `as_of`; a row holding a value published at `as_of`
    or later is left alone. Returns how many rows it wrote."""
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
