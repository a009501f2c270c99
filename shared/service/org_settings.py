"""A consuming service's local copy of organisation settings (name, time zone, base currency).

The orders service owns organisations and publishes `organisation.created` and
`organisation.settings_changed` with the settings in the payload. A service that includes
`shared/sql/organisation_settings.sql` and subscribes to `ORGANISATION_EVENTS` hands
`HANDLERS` to its event consumer; its queries then read the time zone locally. A late,
older event never overwrites a newer one (`as_of`). Backfill for an existing deployment:
`python -m services.orders.admin publish-organisations` republishes every organisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import asyncpg

from shared.errors import NotFound
from shared.messaging import contracts
from shared.messaging.consumer import EventHandler
from shared.messaging.contracts import Event


@dataclass(frozen=True)
class OrganisationSettings:
    org_id: UUID
    name: str
    time_zone: str
    base_currency: str


async def apply(conn: asyncpg.Connection, event: Event) -> None:
    p = event.payload
    await conn.execute(
        """INSERT INTO organisation_settings AS s (org_id, name, time_zone, base_currency, as_of)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (org_id) DO UPDATE SET name = EXCLUDED.name, time_zone = EXCLUDED.time_zone,
                  base_currency = EXCLUDED.base_currency, as_of = EXCLUDED.as_of
            WHERE s.as_of < EXCLUDED.as_of""",
        event.org_id,
        p["name"],
        p["time_zone"],
        p["base_currency"],
        event.occurred_at,
    )


HANDLERS: dict[str, EventHandler] = {t: apply for t in contracts.ORGANISATION_EVENTS}


async def get(conn: asyncpg.Connection, org_id: UUID) -> OrganisationSettings:
    row = await conn.fetchrow(
        "SELECT org_id, name, time_zone, base_currency FROM organisation_settings WHERE org_id = $1", org_id
    )
    if row is None:
        raise NotFound("organisation")
    return OrganisationSettings(
        org_id=row["org_id"], name=row["name"], time_zone=row["time_zone"], base_currency=row["base_currency"].strip()
    )
