"""FX reference rates (migration 012): the ECB's euro rates, reference data shared by every organisation.

Written only by the owner role (the operator's `load-fx-rates`); row-level security lets the application role
read every row and write none. EUR has no row (1 per euro on every date).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import asyncpg


@dataclass(frozen=True)
class StoredRate:
    """A rate the upsert wrote: `inserted` when (currency, day) was new, otherwise its value changed."""

    currency: str
    day: date
    per_euro: Decimal
    inserted: bool


async def upsert(
    conn: asyncpg.Connection, currencies: Sequence[str], days: Sequence[date], per_euro: Sequence[Decimal]
) -> list[StoredRate]:
    """Stores the rates (parallel sequences) in one statement and returns only the rows it wrote: new ones and
    ones whose value changed (numerically: 1.0866 and 1.08660 are the same rate). Unchanged rows are not
    touched, so a reload of the same file writes nothing. Owner role only."""
    rows = await conn.fetch(
        """INSERT INTO fx_rates AS f (currency, day, per_euro)
           SELECT * FROM unnest($1::text[], $2::date[], $3::numeric[])
           ON CONFLICT (currency, day) DO UPDATE SET per_euro = EXCLUDED.per_euro, loaded_at = now()
            WHERE f.per_euro IS DISTINCT FROM EXCLUDED.per_euro
           RETURNING currency, day, per_euro, (xmax = 0) AS inserted""",
        list(currencies),
        list(days),
        list(per_euro),
    )
    return [StoredRate(r["currency"], r["day"], r["per_euro"], r["inserted"]) for r in rows]


async def between(conn: asyncpg.Connection, first: date, last: date) -> list[tuple[str, date, Decimal]]:
    """Every stored rate from `first` to `last` (inclusive), by day then currency."""
    rows = await conn.fetch(
        "SELECT currency, day, per_euro FROM fx_rates WHERE day BETWEEN $1 AND $2 ORDER BY day, currency",
        first,
        last,
    )
    return [(r["currency"], r["day"], r["per_euro"]) for r in rows]
