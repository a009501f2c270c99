"""The Dramatiq Redis broker and the async actor decorator every service uses.

A worker module calls `get_broker()` (through `shared.service.worker`) before it imports
its actors. Retries back off
exponentially; a message that exhausts its retries lands in the queue's dead-letter
set (`<queue>.XQ`, kept `DEAD_MESSAGE_TTL_MS`) where an operator can inspect or requeue it.
A worker killed mid-message never acks it, so Redis redelivers it after the heartbeat
timeout; every actor must therefore be idempotent.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import dramatiq
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
    broker = RedisBroker(
        url=url,
        heartbeat_timeout=int(os.environ.get("DRAMATIQ_HEARTBEAT_TIMEOUT_MS", "15000")),
        dead_message_ttl=int(os.environ.get("DEAD_MESSAGE_TTL_MS", str(7 * 86_400_000))),
        # Out of a million commands, how many also requeue messages of dead workers.
        maintenance_chance=int(os.environ.get("DRAMATIQ_MAINTENANCE_CHANCE", "1000")),
    )
    broker.add_middleware(AsyncIO())
    broker.add_middleware(CurrentMessage())
    return broker


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
