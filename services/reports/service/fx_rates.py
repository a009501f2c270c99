"""FX reference rates in the reports service: the copy kept from the orders service's `fx_rates.published` events
(services/insights/service/fx_rates.py describes the events and the rule: the newest published value of a row
wins). The analytical reports convert to the organisation's base currency from this copy (a later part)."""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal

import asyncpg

from services.reports.repository import fx_rates as store
from shared import logging as slog
from shared.messaging.contracts import Event

logger = logging.getLogger("reports.fx_rates")


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
