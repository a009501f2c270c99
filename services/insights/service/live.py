"""Live updates: after a transaction that changed an organisation's figures commits, one Redis pub/sub
message on that organisation's channel tells the gateway's subscriptions to push fresh figures.

The channel carries no data, only what changed (`kind`, event types): subscribers re-read through the
API, as that organisation's users, so a message can never leak another organisation's rows. Publishing
is best effort: a Redis outage costs live pushes for its duration, never an accepted event.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from uuid import UUID

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from shared import logging as slog
from shared.config import Settings

logger = logging.getLogger("insights.live")

_clients: dict[str, aioredis.Redis] = {}


def channel(org_id: UUID | str) -> str:
    return f"live.org.{org_id}"


def _client(settings: Settings) -> aioredis.Redis:
    client = _clients.get(settings.redis_url)
    if client is None:
        client = _clients[settings.redis_url] = aioredis.Redis.from_url(
            settings.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0
        )
    return client


async def publish(settings: Settings, org_id: UUID, message: dict[str, Any]) -> None:
    try:
        await _client(settings).publish(channel(org_id), json.dumps({**message, "orgId": str(org_id)}))
        slog.dependency_available(logger, "redis (live updates)")
    except (RedisError, OSError) as exc:
        slog.dependency_unavailable(logger, "redis (live updates)", type(exc).__name__)
