"""The Dramatiq Redis broker and the async actor decorator every service uses.

Import this module before any module that declares actors. Retries back off
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
from dramatiq.middleware import AsyncIO, CurrentMessage, Middleware

from shared import logging as slog

logger = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


class ResourceMiddleware(Middleware):
    """Runs a service's async start-up/shut-down (pools) on the AsyncIO loop of the worker."""

    def __init__(self, startup: Callable[[], Awaitable[None]], shutdown: Callable[[], Awaitable[None]]) -> None:
        self.startup, self.shutdown = startup, shutdown

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        loop_thread = get_event_loop_thread()
        assert loop_thread is not None
        loop_thread.run_coroutine(self.startup())

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        loop_thread = get_event_loop_thread()
        if loop_thread is not None:
            loop_thread.run_coroutine(self.shutdown())


def make_broker(redis_url: str | None = None) -> RedisBroker:
    url = redis_url or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
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


broker = make_broker()
dramatiq.set_broker(broker)


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

        return dramatiq.actor(run, **options)

    return decorate
