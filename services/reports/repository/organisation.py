"""The reports service's copy of organisation settings, beyond what the kit's copy holds (shared/service/
org_settings.py: name, time zone, base currency): the primary colour PDFs print (migration 013)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg


async def set_colour(conn: asyncpg.Connection, org_id: UUID, colour: str | None, as_of: datetime) -> None:
    """The colour of the event the kit's copy just applied (`as_of`): a late, older event changes nothing."""
    await conn.execute(
        "UPDATE organisation_settings SET primary_colour = $2 WHERE org_id = $1 AND as_of = $3",
        org_id,
        colour,
        as_of,
    )


async def heading(conn: asyncpg.Connection, org_id: UUID) -> tuple[str, str | None]:
    """The organisation's name and primary colour as a PDF prints them ("" and None before its settings came)."""
    row = await conn.fetchrow("SELECT name, primary_colour FROM organisation_settings WHERE org_id = $1", org_id)
    return (str(row["name"]), row["primary_colour"]) if row else ("", None)
