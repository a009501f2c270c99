"""FX reference rates in the insights service: the copy kept from the orders service's events, and the
conversion the insights builder asks for (`rates_to`).

The copy. `fx_rates.published` events (services/orders/service/fx_rates.py: the ECB's euro rates, at most
1,000 per event, under the reserved organisation id `contracts.REFERENCE_DATA_ORG_ID`) are applied by the
kit's consumer like every orders event, once per event id (recorded in `processed_events` in the same
transaction). A row keeps the value of the newest event that carried it (`as_of`), so events may arrive
in any order and a corrected rate wins over the one it corrects.

The conversion. An amount uses the rate of its local date (the organisation's day the amount belongs to),
or, when the ECB published none that day (weekends, TARGET holidays), the latest earlier one up to
`WINDOW_DAYS` (7) days back; beyond that the answer is an error naming the date and the currency, never a
silent skip or an older rate. Cross rates go through the euro: the ECB publishes units of each currency
per 1 EUR, so 1 unit of X is perEuro[base] / perEuro[X] units of the base, both sides read on the same
ECB date (the latest date within the window on which both have a rate; EUR is 1 per euro on every date).

Precision and rounding. Rates stay `Decimal`: the ECB's values exactly as published, and the cross rate
their quotient to `RATE_PRECISION` (28) significant digits, rounded half-even, far finer than any amount
needs. Nothing here rounds an amount: the builder multiplies each amount by its rate, adds them up, and
rounds only the converted total, to the base currency's minor unit (2 decimals; 0 for JPY), half-even,
so many small amounts do not accumulate rounding errors.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Context, Decimal

import asyncpg

from services.insights.repository import fx_rates as store
from shared import logging as slog
from shared.errors import DomainError, ErrorCode
from shared.messaging.contracts import Event
from shared.money import CURRENCIES

logger = logging.getLogger("insights.fx_rates")

WINDOW_DAYS = 7
RATE_PRECISION = 28
_RATE_CONTEXT = Context(prec=RATE_PRECISION)
ONE = Decimal(1)


@dataclass(frozen=True)
class Rate:
    """`rate` units of the base currency per 1 unit of `currency`, for amounts of the local date `day`, read
    from the ECB rates of `rate_date` (the same date, or up to WINDOW_DAYS before it)."""

    currency: str
    day: date
    rate_date: date
    rate: Decimal


async def on_fx_rates_published(conn: asyncpg.Connection, event: Event) -> None:
    """fx_rates.published: the rates into the copy (in the consumer's transaction, with the event id)."""
    rates = event.payload["rates"]
    written = await store.store(
        conn,
        [str(r["currency"]) for r in rates],
        [date.fromisoformat(r["day"]) for r in rates],
        [Decimal(r["perEuro"]) for r in rates],
        event.occurred_at,
    )
    slog.log(logger, logging.INFO, "fx rates stored", received=len(rates), written=written)


async def rates_to(
    conn: asyncpg.Connection, base: str, needs: Iterable[tuple[str, date]]
) -> dict[tuple[str, date], Rate]:
    """The rate converting each (currency, local day) of `needs` to `base`, in one query for all of them.

    Raises DomainError (INVALID_INPUT, field `currency`) naming the currency and the date when a need has no
    rate on its day or up to WINDOW_DAYS before it (the first such need by currency and date; how many more
    there are), and (field `base`) when `base` is not a currency the platform accepts.
    """
    if base not in CURRENCIES:
        raise DomainError(ErrorCode.INVALID_INPUT, f"{base!r} is not a currency the platform accepts", "base")
    wanted = list(dict.fromkeys(needs))
    answer: dict[tuple[str, date], Rate] = {}
    asked: list[tuple[str, date]] = []
    for currency, day in wanted:
        if currency == base:
            answer[(currency, day)] = Rate(currency, day, day, ONE)
        else:
            asked.append((currency, day))
    if asked:
        for found in await store.lookup(conn, base, asked, WINDOW_DAYS):
            currency, day = asked[found.index]
            per_base = found.base_per_euro or ONE
            per_currency = found.currency_per_euro or ONE
            answer[(currency, day)] = Rate(currency, day, found.rate_date, _RATE_CONTEXT.divide(per_base, per_currency))
    missing = sorted(n for n in asked if n not in answer)
    if missing:
        currency, day = missing[0]
        more = f"; and {len(missing) - 1} more without a rate" if len(missing) > 1 else ""
        sides = " and ".join(c for c in (currency, base) if c != "EUR")
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"no {currency} rate on or up to {WINDOW_DAYS} days before {day} to convert to {base}: no ECB date "
            f"from {day - timedelta(days=WINDOW_DAYS)} to {day} has a rate of {sides} loaded "
            f"(python -m services.orders.admin load-fx-rates){more}",
            "currency",
        )
    return answer
