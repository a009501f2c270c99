"""The worker module pattern: broker first, then actors, then resources at worker boot.

A service's worker module (what `dramatiq services.<svc>.worker` imports) is three lines:

    resources = setup_worker("orders")          # logging, the broker, the resource middleware
    from services.orders import actors  # noqa: E402  (actors declare on the broker made above)

and its actors module takes `resources` from `shared.service.worker.resources_of("orders")`.
Importing either module reads settings but opens no connection: the pool is created on the
AsyncIO middleware's event loop when the worker boots, and closed when it stops.
"""

from __future__ import annotations

import asyncio

import asyncpg
import dramatiq
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.middleware import Middleware

from shared import logging as slog
from shared.config import check_production_secrets, database_secrets, get_settings
from shared.db import create_pool, ping
from shared.health import serve_health
from shared.messaging import dead_letters, redelivery
from shared.messaging.broker import get_broker
from shared.metrics import install_worker_metrics


class WorkerResources:
    """What a service's actors use (its pool), created at worker boot on the actors' event loop."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._pool: asyncpg.Pool | None = None
        self._health: asyncio.AbstractServer | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError(f"{self.service} worker resources not started")
        return self._pool

    async def start(self) -> None:
        settings = get_settings()
        self._pool = await create_pool(settings.service_database_url(self.service), max_size=settings.db_pool_max)

        async def ready() -> bool:
            await ping(self.pool, timeout=settings.readiness_timeout_ms / 1000)
            return True

        self._health = await serve_health(ready)

    async def stop(self) -> None:
        if self._health is not None:
            self._health.close()
            self._health = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


_resources: dict[str, WorkerResources] = {}


def resources_of(service: str) -> WorkerResources:
    """The one resources holder of `service` in this process."""
    if service not in _resources:
        _resources[service] = WorkerResources(service)
    return _resources[service]


class ResourceMiddleware(Middleware):
    """Starts a service's resources on the AsyncIO middleware's loop before the worker consumes.

    `before_worker_boot` runs before any consumer thread starts (and after the AsyncIO
    middleware, added earlier, has started its loop), so no message is taken before the pool
    exists; a database that is slow at start delays consumption instead of burning retries.
    """

    def __init__(self, resources: WorkerResources) -> None:
        self.resources = resources

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        loop_thread = get_event_loop_thread()
        if loop_thread is None:
            raise RuntimeError("the AsyncIO middleware is not running")
        loop_thread.run_coroutine(self.resources.start())

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        loop_thread = get_event_loop_thread()
        if loop_thread is not None:
            loop_thread.run_coroutine(self.resources.stop())


def setup_worker(service: str, *, configure_logging: bool = True) -> WorkerResources:
    """Logging, the broker, the resource middleware and the redelivery pass of `service`'s worker.

    Import the actors after. The redelivery pass (shared/messaging/redelivery.py) bounds how long a
    message of a dead worker, or one this worker lost track of after a Redis error, waits.
    """
    if configure_logging:
        slog.configure(f"{service}-worker", get_settings().log_level)
    check_production_secrets(get_settings(), database_secrets(service))
    broker = get_broker()
    resources = resources_of(service)
    if not any(isinstance(m, ResourceMiddleware) and m.resources is resources for m in broker.middleware):
        broker.add_middleware(ResourceMiddleware(resources))
    install_worker_metrics(broker)  # message metrics, queue depths, request ids in log lines
    redelivery.install(broker)
    dead_letters.install(broker)  # keeps the error of a message's final attempt beside its dead letter
    return resources
