"""The Dramatiq Redis broker and the async actor decorator every service uses.

A worker module calls `get_broker()` (through `shared.service.worker`) before it imports
its actors. Retries back off
exponentially; a message that exhausts its retries lands in the queue's dead-letter
set (`<queue>.XQ`, kept `DEAD_MESSAGE_TTL_MS`) where an operator can inspect or requeue it.
A worker killed mid-message never acks it; the redelivery pass every live worker runs
(shared/messaging/redelivery.py) puts it back on its queue within the heartbeat timeout plus
the pass interval, so every actor must be idempotent. `retries_for_horizon` sizes an actor's
retry budget from the store outage its messages must outlive.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import dramatiq
import redis
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AsyncIO, CurrentMessage

from shared import logging as slog
from shared.config import get_settings

logger = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


def make_broker(redis_url: str | None = None) -> RedisBroker:
    """A Redis broker; creating it opens no connection (the first command does)."""
    url = redis_url or get_settings().redis_url or "redis://127.0.0.1:6379/0"
    # Every command has a deadline: a Redis that hangs (rather than refusing connections) must fail the
    # enqueue of a relay or a webhook answer in seconds, not block its event loop indefinitely.
    timeout = int(os.environ.get("REDIS_SOCKET_TIMEOUT_MS", "5000")) / 1000
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=30)
    broker = RedisBroker(
        client=client,
        heartbeat_timeout=int(os.environ.get("DRAMATIQ_HEARTBEAT_TIMEOUT_MS", "15000")),
        dead_message_ttl=int(os.environ.get("DEAD_MESSAGE_TTL_MS", str(7 * 86_400_000))),
        # Out of a million commands, how many also requeue messages of dead workers.
        maintenance_chance=int(os.environ.get("DRAMATIQ_MAINTENANCE_CHANCE", "1000")),
    )
    broker.add_middleware(AsyncIO())
    broker.add_middleware(CurrentMessage())
    return broker


def shortest_backoff_ms(retries: int, *, min_backoff: int, max_backoff: int) -> int:
    """The shortest wait Dramatiq's Retries middleware can draw before retry number `retries` + 1.

    `dramatiq.common.compute_backoff` multiplies `min_backoff * 2**retries` by a jitter in [1, 2]
    and, when that exceeds `max_backoff`, draws again in [max_backoff / 2, max_backoff].
    """
    base = min_backoff * 2 ** min(retries, 32)
    return base if 2 * base <= max_backoff else min(base, max_backoff // 2)


def longest_backoff_ms(retries: int, *, min_backoff: int, max_backoff: int) -> int:
    """The longest wait before retry number `retries` + 1 (see `shortest_backoff_ms`)."""
    return min(2 * min_backoff * 2 ** min(retries, 32), max_backoff)


def retries_for_horizon(horizon_ms: int, *, min_backoff: int, max_backoff: int) -> int:
    """The fewest retries whose back-offs add up to `horizon_ms` however the jitter falls.

    A message that fails because a store is down is then still being retried when the store has
    been down for `horizon_ms`, and is applied at most `max_backoff` after the store is back.
    """
    retries, total = 0, 0
    while total < horizon_ms:
        total += shortest_backoff_ms(retries, min_backoff=min_backoff, max_backoff=max_backoff)
        retries += 1
    return retries


def retry_horizon_ms(max_retries: int, *, min_backoff: int, max_backoff: int) -> tuple[int, int]:
    """(shortest, longest) time from a message's first failure to its last retry."""
    shortest = sum(shortest_backoff_ms(r, min_backoff=min_backoff, max_backoff=max_backoff) for r in range(max_retries))
    longest = sum(longest_backoff_ms(r, min_backoff=min_backoff, max_backoff=max_backoff) for r in range(max_retries))
    return shortest, longest


_broker: RedisBroker | None = None


def get_broker() -> RedisBroker:
    """The process's broker, made (and set as Dramatiq's global broker) on first use.

    Made on first use rather than at import, so that importing a module reads no settings
    and needs no server: a worker module calls this before importing its actors, the
    gateway in its lifespan, and test collection never does.
    """
    global _broker
    if _broker is None:
        _broker = make_broker()
        dramatiq.set_broker(_broker)
    return _broker


def async_actor(**options: Any) -> Callable[[Callable[P, Awaitable[R]]], dramatiq.Actor]:
    """Declare an async actor whose logs carry the Dramatiq message id.

    Dramatiq runs async actors on a separate event-loop thread, where context variables of
    the worker thread are not visible; this wrapper carries the message id across.
    """
    options.setdefault("max_retries", 10)
    options.setdefault("min_backoff", 500)
    options.setdefault("max_backoff", 300_000)

    def decorate(fn: Callable[P, Awaitable[R]]) -> dramatiq.Actor:
        async def with_context(msg_id: str | None, *args: Any, **kwargs: Any) -> R:
            token = slog.message_id.set(msg_id)
            try:
                return await fn(*args, **kwargs)
            finally:
                slog.message_id.reset(token)

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> R:
            message = CurrentMessage.get_current_message()
            loop_thread = get_event_loop_thread()
            if loop_thread is None:
                raise RuntimeError("the AsyncIO middleware is not running")
            return loop_thread.run_coroutine(with_context(message.message_id if message else None, *args, **kwargs))

        return dramatiq.actor(broker=get_broker(), **options)(run)

    return decorate
