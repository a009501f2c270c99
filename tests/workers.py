"""Real Dramatiq workers for tests: inside the test process, or as `dramatiq` subprocesses; and a TCP
proxy that makes a store unreachable on demand, as a network fault or a store outage would."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

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


# A probe worker: `dramatiq tests.workers:probe_worker --queues $PROBE_QUEUE`, run as the platform runs
# its workers (the kit's broker and redelivery pass), with one actor whose effect a test can count
# from another process.

PROBE_ACTOR = "tests.probe"


def probe_keys(queue: str) -> tuple[str, str]:
    """Redis hashes of the probe actor on `queue`: key -> "<ms> <process group>" of its first application,
    and key -> runs. A `dramatiq` command started in its own session has its main process's pid as group."""
    return f"{queue}:applied", f"{queue}:runs"


def declare_probe(broker: dramatiq.Broker, queue: str) -> dramatiq.Actor:
    """The probe actor on `queue`: sleeps, then records its key once (HSETNX) and counts the run."""
    applied, runs = probe_keys(queue)

    def probe(key: str, seconds: float) -> None:
        time.sleep(seconds)
        client = broker.client  # type: ignore[attr-defined]  # a RedisBroker
        client.hsetnx(applied, key, f"{int(time.time() * 1000)} {os.getpgid(0)}")
        client.hincrby(runs, key, 1)

    return dramatiq.actor(broker=broker, actor_name=PROBE_ACTOR, queue_name=queue, max_retries=0)(probe)


def probe_worker() -> None:
    """Dramatiq CLI entry (`module:callable`): the kit's worker setup, then the probe actor."""
    from shared import logging as slog
    from shared.messaging import redelivery

    slog.configure("probe-worker", "INFO")
    broker = get_broker()
    redelivery.install(broker)
    declare_probe(broker, os.environ["PROBE_QUEUE"])


def wait_for_log(path: Path, text: str, timeout: float = 30) -> None:
    """Until `text` appears in the log file at `path`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.05)
    tail = path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"
    raise AssertionError(f"{text!r} not logged within {timeout:.0f}s:\n{tail}")


class TcpProxy:
    """Forwards 127.0.0.1:`port` to 127.0.0.1:`target_port`.

    `cut()` drops every open connection and refuses new ones (as a store that died, or a network
    fault, would); `restore()` accepts again on the same port. Created with `listening=False`, the
    port refuses connections until `restore()` (a store that is not up yet).
    """

    def __init__(self, target_port: int, *, listening: bool = True) -> None:
        self.target_port = target_port
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = int(probe.getsockname()[1])
        probe.close()
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        if listening:
            self.restore()

    def restore(self) -> None:
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(128)
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, set()
        for s in [*([listener] if listener else []), *conns]:
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)  # wakes the threads blocked on it
            s.close()

    close = cut

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cut()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    client.close()
                    upstream.close()
                    return
                self._conns.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:  # one side ended: end both, so the other pump stops too
            for s in (src, dst):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            with self._lock:
                self._conns.difference_update((src, dst))
