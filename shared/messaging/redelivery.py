"""Bounded redelivery: a periodic pass every live worker runs, so no accepted message waits on chance.

Dramatiq's Redis broker keeps each fetched-but-unacked message id in a per-worker ack set
(`<ns>:__acks__.<broker id>.<queue>`) and moves a dead worker's ids back to their queue only
during "maintenance", which runs on a random `maintenance_chance` of commands *for the queue
the command touches*: on a quiet queue that took minutes. Two gaps follow, and this module
closes both:

1. **Dead workers.** Every live worker runs, every `DRAMATIQ_REDELIVERY_INTERVAL_MS` (default a
   third of the heartbeat timeout), Dramatiq's own dispatch script with maintenance forced on and
   a command that changes nothing (`requeue` with no ids), for every declared queue and delay
   queue. The script requeues the unacked messages of every worker whose heartbeat is older than
   `DRAMATIQ_HEARTBEAT_TIMEOUT_MS`. Bound, from the moment a worker dies to its messages being
   back on their queue: heartbeat timeout + interval; then a consumer takes them within its poll
   (`dramatiq_worker_timeout`). The dispatch also refreshes this worker's own heartbeat.
2. **Messages a live worker lost track of.** On a Redis connection error a Dramatiq consumer
   thread throws away what it holds in memory (the delay queue of retries waiting out their
   back-off, and its prefetched messages) while their ids stay in this worker's ack set, which
   nobody requeues while the worker lives. The same pass compares this worker's ack sets with
   everything the worker still holds (consumers' prefetch caches and delay queues, the shared
   work queue, messages being processed or acknowledged) and requeues an id found orphaned in
   two consecutive passes (one pass could race a fetch whose reply is still in flight). The
   `requeue` command removes the id from the ack set first, so an id acknowledged meanwhile is
   left alone. Bound: the consumer's restart delay (3 s) plus two intervals plus a poll.

A consumer thread that died (Dramatiq lets a Redis error escape while it requeues its delay queue)
consumes nothing more in this process: the pass logs it and stops the worker process, which the
supervisor (or Kubernetes) restarts; its messages come back by rule 1.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis
from dramatiq.message import Message
from dramatiq.middleware import Middleware

from shared import logging as slog
from shared import metrics

logger = logging.getLogger(__name__)

INTERVAL_ENV = "DRAMATIQ_REDELIVERY_INTERVAL_MS"
_REQUEUE_CHUNK = 500  # ids per script call: keeps each call (which blocks Redis while it runs) short


def default_interval_ms(heartbeat_timeout_ms: int) -> int:
    """`DRAMATIQ_REDELIVERY_INTERVAL_MS`, or a third of the heartbeat timeout (at least 100 ms)."""
    raw = os.environ.get(INTERVAL_ENV, "")
    if raw:
        try:
            return max(100, int(raw))
        except ValueError as exc:
            raise RuntimeError(f"{INTERVAL_ENV} must be an integer, got {raw!r}") from exc
    return max(100, heartbeat_timeout_ms // 3)


def _terminate_own_process(queue: str) -> None:
    """Stop this worker process gracefully; its supervisor starts a fresh one."""
    os.kill(os.getpid(), signal.SIGTERM)


@dataclass
class PassStats:
    """What the passes of one worker did, for logs and tests."""

    passes: int = 0
    failed_passes: int = 0
    orphans_requeued: int = 0
    by_queue: dict[str, int] = field(default_factory=dict)


class RedeliveryMiddleware(Middleware):
    """Runs the redelivery pass in a daemon thread from worker boot to worker shutdown.

    Installed on every service's broker by `shared.service.worker.setup_worker`, so each worker
    process (and each future service's worker) runs it with no code of its own.
    """

    def __init__(
        self,
        interval_ms: int | None = None,
        *,
        on_dead_consumer: Callable[[str], None] = _terminate_own_process,
    ) -> None:
        self.interval_ms = interval_ms
        self.on_dead_consumer = on_dead_consumer
        self.stats = PassStats()
        self._busy: set[str] = set()  # redis ids being processed or acknowledged by this worker
        self._busy_lock = threading.Lock()
        self._suspects: dict[str, set[str]] = {}  # queue -> ids found orphaned by the previous pass
        self._worker: dramatiq.Worker | None = None
        self._broker: RedisBroker | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._dead_reported: set[str] = set()

    # In-flight tracking: from the moment a worker thread starts a message (or a consumer starts
    # acknowledging one) until the broker confirms the ack or nack. Dramatiq retries an ack that
    # failed on a connection error every few seconds; the id stays "busy" all that time.

    def _mark(self, message: Any) -> None:
        rid = message.options.get("redis_message_id")
        if rid:
            with self._busy_lock:
                self._busy.add(rid)

    def _unmark(self, message: Any) -> None:
        rid = message.options.get("redis_message_id")
        if rid:
            with self._busy_lock:
                self._busy.discard(rid)

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        self._mark(message)

    def before_ack(self, broker: dramatiq.Broker, message: Any) -> None:
        self._mark(message)

    def before_nack(self, broker: dramatiq.Broker, message: Any) -> None:
        self._mark(message)

    def after_ack(self, broker: dramatiq.Broker, message: Any) -> None:
        self._unmark(message)

    def after_nack(self, broker: dramatiq.Broker, message: Any) -> None:
        self._unmark(message)

    # Lifecycle.

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if not isinstance(broker, RedisBroker):
            return  # the pass is about Redis ack sets; other brokers (tests' StubBroker) have none
        self._broker, self._worker = broker, worker
        self._stop.clear()
        self._suspects.clear()
        self._dead_reported.clear()
        interval = self.interval_ms or default_interval_ms(broker.heartbeat_timeout)
        self._thread = threading.Thread(target=self._loop, args=(interval / 1000,), name="redelivery-pass", daemon=True)
        self._thread.start()
        slog.log(
            logger,
            logging.INFO,
            "redelivery pass started",
            interval_ms=interval,
            heartbeat_timeout_ms=broker.heartbeat_timeout,
        )

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._worker = None

    def _loop(self, interval_s: float) -> None:
        failing = False
        while True:
            try:
                self.run_pass()
                if failing:
                    logger.info("redelivery pass works again")
                failing = False
            except Exception as exc:  # Redis down: say it once per outage, try again next interval
                self.stats.failed_passes += 1
                if not failing:
                    slog.log(logger, logging.WARNING, "redelivery pass failed", error=f"{type(exc).__name__}: {exc}")
                failing = True
            if self._stop.wait(interval_s):
                return

    # The pass.

    def run_pass(self) -> None:
        """One pass: dead workers' messages back on their queues, then this worker's orphans."""
        broker, worker = self._broker, self._worker
        if broker is None:
            return
        queues = broker.get_declared_queues() | broker.get_declared_delay_queues()
        for queue in sorted(queues):
            self._dispatch(broker, queue, maintenance=True)
        if worker is not None:
            self._check_consumers(worker)
            self._requeue_orphans(broker, worker)
        self.stats.passes += 1

    def _dispatch(self, broker: RedisBroker, queue: str, ids: Iterable[str] = (), *, maintenance: bool = False) -> None:
        """Dramatiq's dispatch script with `requeue`, in the argument layout `RedisBroker._dispatch` uses.

        Called directly because the broker's own dispatch decides maintenance by chance; the
        max-unpack size comes from the broker's private helper, which probes Redis once.
        """
        args = [
            "requeue",
            current_millis(),
            queue,
            broker.broker_id,
            broker.heartbeat_timeout,
            broker.dead_message_ttl,
            1 if maintenance else 0,
            broker._max_unpack_size(),  # the value the broker's own calls pass (a Lua stack limit)
            *ids,
        ]
        broker.scripts["dispatch"](args=args, keys=[broker.namespace])

    def _check_consumers(self, worker: dramatiq.Worker) -> None:
        for queue, thread in list(worker.consumers.items()):
            # `running` is cleared only by stop(): a thread that ended while it is set died of an error.
            if thread.running and not thread.is_alive() and queue not in self._dead_reported:
                self._dead_reported.add(queue)
                slog.log(
                    logger,
                    logging.CRITICAL,
                    "consumer thread died; stopping this worker so that a fresh one replaces it",
                    queue=queue,
                )
                self.on_dead_consumer(queue)

    def _held(self, worker: dramatiq.Worker) -> set[str]:
        """Ids this worker holds in memory, except prefetch caches (see `_cached`)."""
        with self._busy_lock:
            held = set(self._busy)
        queues = [worker.work_queue] + [t.delay_queue for t in list(worker.consumers.values())]
        for q in queues:
            with q.mutex:
                items = list(q.queue)
            held.update(item.message.options.get("redis_message_id", "") for item in items)
        return held

    @staticmethod
    def _cached(worker: dramatiq.Worker) -> set[str]:
        """Ids in consumers' prefetch caches (raw messages, decoded only when a suspect needs it)."""
        held: set[str] = set()
        for thread in list(worker.consumers.values()):
            cache = getattr(thread.consumer, "message_cache", None) or []
            for data in list(cache):
                if data is not None:
                    held.add(Message.decode(data).options.get("redis_message_id", ""))
        return held

    def _requeue_orphans(self, broker: RedisBroker, worker: dramatiq.Worker) -> None:
        # Read the ack sets first, then what is in memory: an id fetched in between is in the ack
        # set only if its fetch reply was already on its way, which the second pass settles.
        acked: dict[str, set[str]] = {}
        for queue in list(worker.consumers):
            key = f"{broker.namespace}:__acks__.{broker.broker_id}.{queue}"
            acked[queue] = {m.decode() if isinstance(m, bytes) else str(m) for m in broker.client.smembers(key)}
        if not any(acked.values()):
            self._suspects.clear()
            return
        held = self._held(worker)
        orphans = {q: ids - held for q, ids in acked.items()}
        if any(orphans.values()):
            cached = self._cached(worker)
            orphans = {q: ids - cached for q, ids in orphans.items()}
        for queue, ids in orphans.items():
            confirmed = ids & self._suspects.get(queue, set())
            self._suspects[queue] = ids - confirmed
            if not confirmed:
                continue
            batch = sorted(confirmed)
            for i in range(0, len(batch), _REQUEUE_CHUNK):
                self._dispatch(broker, queue, batch[i : i + _REQUEUE_CHUNK])
            self.stats.orphans_requeued += len(batch)
            metrics.REDELIVERED.labels(queue_name=queue).inc(len(batch))
            self.stats.by_queue[queue] = self.stats.by_queue.get(queue, 0) + len(batch)
            slog.log(
                logger,
                logging.WARNING,
                "requeued messages this worker had lost track of",
                queue=queue,
                count=len(batch),
            )


def install(broker: dramatiq.Broker) -> RedeliveryMiddleware:
    """The broker's redelivery middleware, added once.

    First in the list, so that its `before_process_message` marks a message busy before any other
    middleware's hook runs (one that blocks, a rate limiter say, must not make it look orphaned).
    """
    for m in broker.middleware:
        if isinstance(m, RedeliveryMiddleware):
            return m
    middleware = RedeliveryMiddleware()
    if broker.middleware:
        broker.add_middleware(middleware, before=type(broker.middleware[0]))
    else:
        broker.add_middleware(middleware)
    return middleware
