"""The reports database's FX lookups (migration 002, re-planned by 006): the rate of a day or of the latest earlier
ECB date up to 7 days back on which both sides have one, crossed through the euro; NULL (and RFX01 from
`fx_required`) when there is none. 006 changed how they are planned (bench/reports.py measures it); these pin what
they answer."""

from __future__ import annotations

import random
import string
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from shared.db import connection

D = date(2031, 3, 12)


def _code(rng: random.Random) -> str:
    return "Q" + "".join(rng.choice(string.ascii_uppercase) for _ in range(2))


@pytest.fixture
async def pair(reports_pool: Any) -> tuple[str, str]:
    """Two made-up currencies: A has rates on D and D-2, B only on D-2 (and D-9, out of any 7-day reach of D+5)."""
    rng = random.Random()
    a, b = _code(rng), _code(rng)
    while b == a:
        b = _code(rng)
    rows = [(a, D, Decimal("2")), (a, D - timedelta(days=2), Decimal("4")), (b, D - timedelta(days=2), Decimal("10"))]
    rows.append((b, D - timedelta(days=9), Decimal("99")))
    async with connection(reports_pool) as conn:
        await conn.executemany(
            "INSERT INTO fx_rates (currency, day, per_euro, as_of) VALUES ($1, $2, $3, now())"
            " ON CONFLICT (currency, day) DO UPDATE SET per_euro = EXCLUDED.per_euro",
            rows,
        )
    return a, b


async def _on(pool: Any, cur: str, target: str, d: date) -> tuple[Decimal | None, date | None]:
    async with connection(pool) as conn:
        row = await conn.fetchrow(
            "SELECT fx_rate_on($1, $2, $3) AS r, fx_rate_date_on($1, $2, $3) AS d", cur, target, d
        )
    return row["r"], row["d"]


async def test_the_rate_of_the_day_or_the_latest_common_day_within_7_days(
    reports_pool: Any, pair: tuple[str, str]
) -> None:
    a, b = pair
    assert await _on(reports_pool, a, "EUR", D) == (Decimal("0.5"), D)
    assert await _on(reports_pool, "EUR", a, D) == (Decimal("2"), D)
    assert await _on(reports_pool, a, a, D) == (Decimal("1"), D)
    # D has no rate of B: the latest day both have is D-2 (A 4, B 10 per euro).
    assert await _on(reports_pool, a, b, D) == (Decimal("2.5"), D - timedelta(days=2))
    assert await _on(reports_pool, a, "EUR", D - timedelta(days=1)) == (Decimal("0.25"), D - timedelta(days=2))
    # D+5 still reaches D-2 (7 days back); D+6 does not, and D-9 is never read for D.
    assert (await _on(reports_pool, b, a, D + timedelta(days=5)))[1] == D - timedelta(days=2)
    assert await _on(reports_pool, b, a, D + timedelta(days=6)) == (None, None)
    # B alone: D-3 reaches back to its D-9 rate (6 days); D-17 reaches nothing.
    assert (await _on(reports_pool, b, "EUR", D - timedelta(days=3)))[1] == D - timedelta(days=9)
    assert await _on(reports_pool, b, "EUR", D - timedelta(days=17)) == (None, None)


async def test_a_missing_rate_is_an_error_naming_the_currency_and_the_date(
    reports_pool: Any, pair: tuple[str, str]
) -> None:
    a, b = pair
    late = D + timedelta(days=6)
    async with connection(reports_pool) as conn:
        assert await conn.fetchval("SELECT fx_required($1, $2, $3)", a, b, D) == Decimal("2.5")
        with pytest.raises(asyncpg.PostgresError) as caught:
            await conn.fetchval("SELECT fx_required($1, $2, $3)", b, a, late)
    assert caught.value.sqlstate == "RFX01"
    assert b in str(caught.value) and late.isoformat() in str(caught.value)
