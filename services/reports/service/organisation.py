"""Organisation events in the reports service: the kit's copy of the settings (name, time zone, base currency),
then the primary colour its PDFs print, from the same event (the orders service publishes the colour among
ORGANISATION_SETTINGS_FIELDS; an event from before it did carries none, and leaves the default colour)."""

from __future__ import annotations

import re

import asyncpg

from services.reports.repository import organisation as store
from shared.messaging import contracts
from shared.messaging.consumer import EventHandler
from shared.messaging.contracts import Event
from shared.service import org_settings

_COLOUR = re.compile(r"^#[0-9A-Fa-f]{6}$")


async def on_organisation(conn: asyncpg.Connection, event: Event) -> None:
    await org_settings.apply(conn, event)
    colour = event.payload.get("primary_colour")
    await store.set_colour(
        conn, event.org_id, colour if isinstance(colour, str) and _COLOUR.match(colour) else None, event.occurred_at
    )


HANDLERS: dict[str, EventHandler] = {t: on_organisation for t in contracts.ORGANISATION_EVENTS}
