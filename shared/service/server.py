"""Every HTTP server of the platform: uvicorn's httptools protocol, with limits against slow and idle clients.

uvicorn (0.54, httptools) bounds none of this itself: a connection that never sends, a request head sent half a
line every few seconds, or a body sent a byte at a time stays open for ever, and a 96 MiB header is parsed in
full (quadratic copying: 8.8 s of CPU). `GuardedHttpToolsProtocol` adds, per connection:

- a header size cap (`HTTP_MAX_HEADER_BYTES`): the request line and headers are counted as they arrive and never
  fed to the parser past the cap; the request is answered 431 and the connection closed;
- a header deadline (`HTTP_HEADER_TIMEOUT_SECONDS`) from the connection (or from the first byte after an idle
  keep-alive) to the end of the head: one deadline, not reset by each byte; closed (408 if anything was sent);
- a body deadline (`HTTP_BODY_TIMEOUT_SECONDS`) from the end of the head to the end of the body: 408 if no answer
  has started, else closed (while the application does not read, the time is its own and not counted);
- the idle timeout (`HTTP_IDLE_TIMEOUT_SECONDS`, uvicorn's keep-alive), also after a body read past its answer;
- a concurrency limit (`HTTP_MAX_CONCURRENCY`): a new connection beyond it closes the oldest idle one (no
  request in progress), so silent connections cannot use up the descriptors and a probe still gets in; a request
  beyond it while every connection is busy gets 503 (uvicorn's answer), except /healthz, /readyz and /metrics.

Each cut-off is logged (INFO, with the client's address and which limit); in a flood the first lines of each
interval are written and the rest counted in one WARNING line. Run servers with `python -m shared.service.serve`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import uvicorn
from starlette.requests import ClientDisconnect
from uvicorn._types import ASGI3Application
from uvicorn.config import Config
from uvicorn.importer import import_from_string
from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from shared import logging as slog
from shared.config import Settings, get_settings

logger = logging.getLogger(__name__)

# Never refused by the concurrency limit: cheap, and what tells an orchestrator the process is alive.
UNLIMITED_PATHS = frozenset({b"/healthz", b"/readyz", b"/metrics"})
# Connections the kernel queues before the process accepts them (uvicorn's default; capped by somaxconn).
BACKLOG = 2048
# WebSocket, for the apps that serve it (`serves_websockets`): messages up to 64 KiB (the GraphQL body cap), no
# per-message compression (a zlib state per connection), a ping every 20 s closes dead peers.
WS_MAX_MESSAGE_BYTES = 64 * 1024
WS_PING_SECONDS = 20.0
# While the application does not read the body (flow control paused reading), the body deadline waits this long
# and looks again: the time is the application's, not the client's.
BODY_RECHECK_SECONDS = 1.0


@dataclass(frozen=True)
class Limits:
    """What `GuardedHttpToolsProtocol` enforces besides uvicorn's own keep-alive and concurrency settings."""

    max_header_bytes: int
    header_timeout: float
    body_timeout: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_header_bytes=settings.http_max_header_bytes,
            header_timeout=settings.http_header_timeout_seconds,
            body_timeout=settings.http_body_timeout_seconds,
        )


class CutOffLog:
    """One INFO line per cut-off, naming the limit and the client. In a flood (20,000 silent connections), at most
    `burst` lines per limit per `interval`; the rest are counted in one WARNING line at the interval's end."""

    def __init__(self, burst: int = 20, interval: float = 10.0) -> None:
        self.burst, self.interval = burst, interval
        self.window: dict[str, tuple[float, int]] = {}  # limit -> (window start, lines written)
        self.held: dict[str, int] = {}

    def report(self, limit: str, client: str, what: str, **fields: object) -> None:
        now = time.monotonic()
        start, written = self.window.get(limit, (now, 0))
        if now - start >= self.interval:
            start, written = now, 0
        if written < self.burst:
            self.window[limit] = (start, written + 1)
            slog.log(logger, logging.INFO, f"{client}: {what}", limit=limit, client=client, **fields)
            return
        self.window[limit] = (start, written)
        if limit not in self.held:
            self.held[limit] = 0
            asyncio.get_running_loop().call_later(max(0.0, start + self.interval - now), self._flush, limit)
        self.held[limit] += 1

    def _flush(self, limit: str) -> None:
        held = self.held.pop(limit, 0)
        self.window.pop(limit, None)
        if held:
            slog.log(
                logger,
                logging.WARNING,
                f"{held} more connections cut off ({limit}) in the last {self.interval:.0f} s",
                limit=limit,
                connections=held,
            )


cut_offs = CutOffLog()

# Per server: its connections with no request in progress, oldest first (the ones a new connection may close).
_idle_by_server: weakref.WeakKeyDictionary[ServerState, OrderedDict[GuardedHttpToolsProtocol, None]] = (
    weakref.WeakKeyDictionary()
)


def _idle_connections(state: ServerState) -> OrderedDict[GuardedHttpToolsProtocol, None]:
    idle = _idle_by_server.get(state)
    if idle is None:
        idle = _idle_by_server[state] = OrderedDict()
    return idle


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header cap, header and body deadlines and an eviction-backed
    concurrency limit (see the module's docstring). Built by `guarded_protocol`, which binds the limits."""

    limits: ClassVar[Limits]

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.cut_off = False  # set once a limit has cut this connection
        # Checked here rather than by uvicorn: probes are exempt and idle connections make room first.
        self.max_concurrency = config.limit_concurrency or None
        self.limit_concurrency = None
        self.idle = _idle_connections(server_state)
        self.reading_head = True  # the bytes arriving belong to a request head (or precede one)
        self.head_bytes = 0
        self.heads_read = 0
        self.head_timer: asyncio.TimerHandle | None = None
        self.body_timer: asyncio.TimerHandle | None = None

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        # Wrapped per request, never stored on the connection: a bound method kept on `self` would make every
        # connection a reference cycle, freed only by the (rarely run, tune_gc) cyclic collector.
        super()._start_asgi_task(cycle, functools.partial(_run_app, app, self))

    # -- connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()
        if self.max_concurrency is not None:
            while len(self.connections) > self.max_concurrency and self.idle:
                victim, _ = self.idle.popitem(last=False)
                victim._cut(
                    "connection_limit",
                    f"idle connection closed to admit a new one ({self.max_concurrency} connections)",
                    status=None,
                )
            self.idle[self] = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.idle.pop(self, None)
        self._cancel_deadlines()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        cap = self.limits.max_header_bytes
        while True:
            if not self.reading_head or cap <= 0:
                super().data_received(data)
                return
            if self.head_timer is None:
                self._arm_head_deadline()  # first bytes after an idle keep-alive
            # Never feed the parser past the cap: it copies a growing header value on every chunk.
            room = cap + 1 - self.head_bytes
            piece, data = data[:room], data[room:]
            self.head_bytes += len(piece)
            heads_before = self.heads_read
            super().data_received(piece)
            if self.transport.is_closing():
                return
            if self.reading_head and self.heads_read == heads_before and self.head_bytes > cap:
                self._cut(
                    "header_size",
                    f"request head over {cap} bytes",
                    status=431 if self._between_answers() else None,
                    received_bytes=self.head_bytes,
                )
                return
            if not data:
                return

    def handle_websocket_upgrade(self) -> None:
        # The connection becomes uvicorn's WebSocket protocol's: none of this protocol's deadlines may cut it later.
        self._cancel_deadlines()
        self.idle.pop(self, None)
        super().handle_websocket_upgrade()

    # -- parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.head_timer is None:
            self._arm_head_deadline()  # a pipelined request begins in the same chunk as the last one ended

    def on_headers_complete(self) -> None:
        self.reading_head = False
        self.heads_read += 1
        self._cancel(self.head_timer)
        self.head_timer = None
        self.idle.pop(self, None)
        refuse = self._over_capacity() and self.url.partition(b"?")[0] not in UNLIMITED_PATHS
        app = self.app
        if refuse:
            cut_offs.report(
                "concurrency",
                self._client(),
                f"request refused with 503: {self.max_concurrency} connections or requests in progress",
                connections=len(self.connections),
                requests=len(self.tasks),
            )
            self.app = service_unavailable
        try:
            super().on_headers_complete()
        finally:
            self.app = app
        if self.limits.body_timeout > 0:
            self.body_timer = self.loop.call_later(self.limits.body_timeout, self._body_deadline)

    def on_message_complete(self) -> None:
        self._cancel(self.body_timer)
        self.body_timer = None
        self.reading_head, self.head_bytes = True, 0
        answered = self.cycle is not None and self.cycle.response_complete
        super().on_message_complete()
        if answered and not self.transport.is_closing():
            # The answer went out before the body was read (a refused oversize body): uvicorn armed no idle
            # timer then, and read the rest of the body; the connection is idle from now.
            self._now_idle()
            if self.timeout_keep_alive_task is None:
                self.timeout_keep_alive_task = self.loop.call_later(
                    self.timeout_keep_alive, self.timeout_keep_alive_handler
                )

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.reading_head and self._between_answers() and not self.transport.is_closing():
            self._now_idle()

    # -- deadlines

    def _arm_head_deadline(self) -> None:
        if self.limits.header_timeout > 0:
            self.head_timer = self.loop.call_later(self.limits.header_timeout, self._head_deadline)

    def _head_deadline(self) -> None:
        self.head_timer = None
        if self.transport.is_closing():
            return
        what = f"request head not complete within {self.limits.header_timeout:g} s"
        if not self._between_answers():
            # A pipelined request stalled behind one still being answered: finish that answer, then close.
            self.cycle.keep_alive = False
            self.flow.pause_reading()
            cut_offs.report("header_timeout", self._client(), what, received_bytes=self.head_bytes)
            return
        self._cut("header_timeout", what, status=408 if self.head_bytes else None, received_bytes=self.head_bytes)

    def _body_deadline(self) -> None:
        self.body_timer = None
        cycle = self.cycle
        if self.transport.is_closing() or cycle is None:
            return
        if self.flow.read_paused and not cycle.response_complete:
            # The application has not read what already arrived: the wait is its own, not the client's.
            self.body_timer = self.loop.call_later(BODY_RECHECK_SECONDS, self._body_deadline)
            return
        respond = not cycle.response_started
        # The application's receive() now sees a disconnect and its sends go nowhere.
        cycle.disconnected = True
        cycle.message_event.set()
        self._cut(
            "body_timeout",
            f"request body not complete within {self.limits.body_timeout:g} s",
            status=408 if respond else None,
        )

    # -- helpers

    def _cut(self, limit: str, what: str, *, status: int | None, **fields: object) -> None:
        cut_offs.report(limit, self._client(), what, **fields)
        self.cut_off = True
        self.idle.pop(self, None)
        self.connections.discard(self)  # counted out now: connection_lost comes on a later loop turn
        self._cancel_deadlines()
        if status is not None:
            self.transport.write(self._status_only(status))
        self.transport.close()

    def _status_only(self, status: int) -> bytes:
        body = STATUS_LINE[status][13:].strip()  # the reason phrase
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content += [name, b": ", value, b"\r\n"]
        content += [
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        ]
        return b"".join(content)

    def _between_answers(self) -> bool:
        """No answer is being written: a status line written now would be the connection's next one."""
        return self.cycle is None or self.cycle.response_complete

    def _now_idle(self) -> None:
        if self.max_concurrency is not None:
            self.idle[self] = None
            self.idle.move_to_end(self)

    def _over_capacity(self) -> bool:
        limit = self.max_concurrency
        # Connections include this one; tasks do not yet include its request.
        return limit is not None and (len(self.connections) > limit or len(self.tasks) >= limit)

    def _client(self) -> str:
        if not self.client:
            return "unknown"
        host, port = self.client[0], self.client[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def _cancel_deadlines(self) -> None:
        self._cancel(self.head_timer)
        self._cancel(self.body_timer)
        self.head_timer = self.body_timer = None

    @staticmethod
    def _cancel(timer: asyncio.TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()


async def _run_app(
    app: ASGI3Application, protocol: GuardedHttpToolsProtocol, scope: Any, receive: Any, send: Any
) -> None:
    try:
        await app(scope, receive, send)
    except ClientDisconnect:
        if not protocol.cut_off:
            raise
        # The body was cut off by a limit (and logged once): the route stopping on it is no fault.


def guarded_protocol(limits: Limits) -> type[GuardedHttpToolsProtocol]:
    """The protocol class uvicorn instantiates per connection, with `limits` bound."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {"limits": limits})


AppFactory = TypeVar("AppFactory")


def serves_websockets(factory: AppFactory) -> AppFactory:
    """Marks an app factory whose app has WebSocket routes: `server_config` serves it with WebSocket on
    (every other app's server answers an upgrade request as plain HTTP)."""
    factory.serves_websockets = True  # type: ignore[attr-defined]
    return factory


def server_config(
    target: str,
    *,
    host: str,
    port: int,
    settings: Settings | None = None,
    max_concurrency: int | None = None,
    access_log: bool = True,
    on_loaded: Any = None,
) -> uvicorn.Config:
    """uvicorn's configuration for app factory `target` ("module:function") with every limit of the settings.

    `max_concurrency` overrides HTTP_MAX_CONCURRENCY (the runner lowers it to what the open-files limit allows);
    `on_loaded()` runs once the factory has returned (logging is configured by then). Raises
    `uvicorn.importer.ImportFromStringError` when `target` cannot be imported."""
    settings = settings or get_settings()
    limit = settings.http_max_concurrency if max_concurrency is None else max_concurrency
    make_app = import_from_string(target)  # imported now, as uvicorn's command line does: a typo fails at once

    def factory() -> Any:
        app = make_app()
        if on_loaded is not None:
            on_loaded()
        return app

    return uvicorn.Config(
        factory,
        factory=True,
        host=host,
        port=port,
        http=guarded_protocol(Limits.from_settings(settings)),
        # Only an app marked `serves_websockets` speaks WebSocket; for others an upgrade is plain HTTP.
        ws="websockets-sansio" if getattr(make_app, "serves_websockets", False) else "none",
        ws_max_size=WS_MAX_MESSAGE_BYTES,
        ws_per_message_deflate=False,
        ws_ping_interval=WS_PING_SECONDS,
        ws_ping_timeout=WS_PING_SECONDS,
        limit_concurrency=limit if limit > 0 else None,
        timeout_keep_alive=settings.http_idle_timeout_seconds,
        backlog=BACKLOG,
        access_log=access_log,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
