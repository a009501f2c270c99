"""Real Dramatiq workers inside the test process, started and stopped cleanly."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dramatiq

from shared.messaging.broker import get_broker


@contextmanager
def running_worker(queues: set[str], threads: int = 4) -> Iterator[dramatiq.Worker]:
    """A worker consuming only `queues`, on the real broker.

    A stopped Dramatiq worker leaves its middleware on the broker, and that middleware starts
    consumers for every queue declared later (which then hold messages nobody processes):
    it is removed here when the worker stops.
    """
    broker = get_broker()
    worker = dramatiq.Worker(broker, queues=queues, worker_threads=threads, worker_timeout=100)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
        broker.middleware[:] = [m for m in broker.middleware if getattr(m, "worker", None) is not worker]
