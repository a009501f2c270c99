"""The SQL of republishing stored business events (`python -m services.insights.admin publish-business-events`):
a backfill for the services that report on them (the reports service).

Each stored business event gets a new outbox row (`business_event.recorded`) with the payload the ingestion
statement publishes (services/insights/repository/events.py, its `published` CTE: the same keys and values,
tests/services/reports/test_backfill.py compares them). The outbox id is new; consumers dedupe on the payload's
`event_id`. Runs as the owner role, across organisations, in keyset batches of the events' primary key.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from shared.messaging.contracts import BUSINESS_EVENT_RECORDED

Key = tuple[UUID, datetime, UUID]

_REPUBLISH = f"""
WITH batch AS (
    SELECT e.* FROM events e
     WHERE e.class = 'business' AND (e.org_id, e.occurred_at, e.id) > ($1::uuid, $2::timestamptz, $3::uuid)
     ORDER BY e.org_id, e.occurred_at, e.id LIMIT $4
), ins AS (
    INSERT INTO outbox (org_id, type, payload)
    SELECT b.org_id, '{BUSINESS_EVENT_RECORDED}',
           jsonb_build_object(
               'event_id', b.id, 'source_key', b.source_key, 'type', b.type, 'occurred_at', b.occurred_at,
               'integration_id', b.integration_id, 'customer_id', b.customer_id, 'product_id', b.product_id,
               'category_id', b.category_id, 'channel', b.channel, 'amount', b.amount::text,
               'currency', b.currency, 'entity_id', b.entity_id, 'state', b.state, 'items', b.items,
               'fields', b.fields, 'custom_fields', b.custom_fields, 'account_currency', b.account_currency,
               'counted', b.counted)
      FROM batch b ORDER BY b.org_id, b.occurred_at, b.id
    RETURNING 1
), last AS (
    SELECT org_id, occurred_at, id FROM batch ORDER BY org_id DESC, occurred_at DESC, id DESC LIMIT 1
)
SELECT (SELECT count(*) FROM ins) AS published, l.org_id, l.occurred_at, l.id FROM (SELECT 1) one
  LEFT JOIN last l ON true
"""


async def republish_batch(conn: asyncpg.Connection, after: Key, limit: int) -> tuple[int, Key | None]:
    """Appends `business_event.recorded` for up to `limit` stored business events after the key `after`
    (organisation, occurred_at, id), across organisations: the owner role only. Returns how many and the last key
    (None when none was left)."""
    row = await conn.fetchrow(_REPUBLISH, after[0], after[1], after[2], limit)
    assert row is not None
    last = (row["org_id"], row["occurred_at"], row["id"]) if row["org_id"] is not None else None
    return int(row["published"]), last
