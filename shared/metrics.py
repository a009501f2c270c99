"""Prometheus metrics of every process, declared once here (prometheus-client's default registry).

Every metric a process of the platform exports is one of the objects below, so that a name is
spelled in one place and the processes that record it (the gateway, the service APIs, workers,
relays, the supervisor, the redelivery pass) agree on its labels. HTTP apps serve them at
`/metrics` (`metrics_route`); workers and relays on their health listener (`shared/health.py`).

Workers use `WorkerMetrics`, a Dramatiq middleware recording what Dramatiq's own Prometheus
middleware records, under the same metric names (so its dashboards work), plus queue depth and
dead letters read from Redis. Dramatiq's own middleware was not used: it serves from a forked
exposition process on a port of its own with a multiprocess directory, wiped at every start,
which the platform does not need (one worker process per container, whose health listener can
serve the registry directly) and which would put every other metric of the process into
multiprocess mode too.

Label values are bounded: routes are route templates (never raw paths), GraphQL operation names
are capped (`operation_label`), queues and actors are declared in code.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, REGISTRY, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import logging as slog

logger = logging.getLogger("metrics")

# Seconds: from a cached read (~1 ms) to the client's 30 s timeout.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# --------------------------------------------------------------------------- HTTP and GraphQL

HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time from request to the end of the response, by route template and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
GRAPHQL_OPERATIONS = Counter(
    "graphql_operations_total", "GraphQL operations executed, by operation name.", ["operation"]
)
GRAPHQL_ERRORS = Counter(
    "graphql_operation_errors_total",
    "GraphQL operations whose result carried errors, by operation name and first error code.",
    ["operation", "code"],
)
GRAPHQL_LATENCY = Histogram(
    "graphql_operation_duration_seconds",
    "Time to execute a GraphQL operation, by operation name.",
    ["operation"],
    buckets=LATENCY_BUCKETS,
)

# --------------------------------------------------------------------------- dependencies

DEPENDENCY_UNAVAILABLE = Counter(
    "dependency_unavailable_total",
    "Operations that failed because a dependency (a database, Redis, a service) did not answer.",
    ["dependency"],
)

# --------------------------------------------------------------------------- Dramatiq (names as its own middleware)

_MESSAGE_LABELS = ["queue_name", "actor_name"]
MESSAGES = Counter("dramatiq_messages_total", "Messages processed (successfully or not).", _MESSAGE_LABELS)
MESSAGE_ERRORS = Counter("dramatiq_message_errors_total", "Messages whose actor raised.", _MESSAGE_LABELS)
MESSAGE_RETRIES = Counter("dramatiq_message_retries_total", "Messages enqueued again for a retry.", _MESSAGE_LABELS)
MESSAGE_REJECTS = Counter(
    "dramatiq_message_rejects_total", "Messages dead-lettered (retries exhausted) by this process.", _MESSAGE_LABELS
)
MESSAGES_IN_PROGRESS = Gauge("dramatiq_messages_inprogress", "Messages being processed now.", _MESSAGE_LABELS)
MESSAGE_DURATION = Histogram(
    "dramatiq_message_duration_milliseconds",
    "Time an actor took per message.",
    _MESSAGE_LABELS,
    buckets=(5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000, 30000, 60000, 600000, 900000),
)
REDELIVERED = Counter(
    "dramatiq_messages_redelivered_total",
    "Messages of dead (or lost) consumers put back on their queue by the redelivery pass.",
    ["queue_name"],
)
QUEUE_DEPTH = Gauge(
    "dramatiq_queue_depth",
    "Messages of a queue in Redis: ready (waiting), delayed (retry back-off, eta) or unacked (taken by a worker).",
    ["queue_name", "state"],
)
DEAD_LETTERS = Gauge("dramatiq_dead_letters", "Messages in a queue's dead-letter set <queue>.XQ.", ["queue_name"])

# --------------------------------------------------------------------------- outbox and processes

OUTBOX_LAG = Gauge(
    "outbox_lag_seconds", "Age of the oldest unpublished outbox event (0 when none is waiting).", ["service"]
)
OUTBOX_PUBLISHED = Counter("outbox_events_published_total", "Outbox events published by this relay.", ["service"])
OUTBOX_PUBLISH_DELAY = Histogram(
    "outbox_publish_delay_seconds",
    "Time from an event's transaction to its publication by the relay.",
    ["service"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
OUTBOX_PRUNED = Counter("outbox_events_pruned_total", "Published outbox events deleted after retention.", ["service"])
PROCESS_RESTARTS = Counter(
    "platform_process_restarts_total", "Restarts of a process by the local supervisor.", ["process"]
)


def render() -> tuple[bytes, str]:
    """The registry in Prometheus' text format (and its content type)."""
    return generate_latest(REGISTRY), CONTENT_TYPE_PLAIN_0_0_4


# --------------------------------------------------------------------------- HTTP apps


async def _metrics_endpoint(request: Request) -> Response:
    body, content_type = render()
    return Response(body, media_type=content_type)


def metrics_route() -> Route:
    """`GET /metrics` for an HTTP app (scraped by Prometheus, see infra/k8s and infra/compose.yaml)."""
    return Route("/metrics", _metrics_endpoint, methods=["GET"])


UNMATCHED_ROUTE = "<unmatched>"
_UNTIMED = frozenset({"/metrics", "/healthz", "/readyz"})


def _route_template(scope: Scope) -> str:
    """The route's template (`/exports/{token}`), never the raw path: raw paths carry ids and tokens."""
    route = scope.get("route")
    if isinstance(route, Mount):
        return str(scope.get("root_path") or "/")
    template = getattr(route, "path", None)
    return template if isinstance(template, str) else UNMATCHED_ROUTE


class HttpMetrics:
    """ASGI middleware: requests by route template, method and status, with latency.

    Sits outside Starlette's routing, which records the matched route in the scope; the scope is
    read once the response is done. Probes and scrapes are counted but not timed.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the app raises before starting a response

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = _route_template(scope)
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            key = (route, method, status)
            children = _http_children.get(key)
            if children is None:  # labels() takes a lock and builds tuples: once per key, not per request
                timed = HTTP_LATENCY.labels(route, method) if route not in _UNTIMED else None
                children = _http_children[key] = (HTTP_REQUESTS.labels(route, method, str(status)), timed)
            children[0].inc()
            if children[1] is not None:
                children[1].observe(time.perf_counter() - started)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# (route, method, status) -> (the request counter's child, the latency histogram's child or None).
# Bounded like the labels: route templates of the app, seven methods, the statuses answered.
_http_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

# --------------------------------------------------------------------------- GraphQL operation names

MAX_OPERATION_NAMES = 200
OTHER_OPERATION = "<other>"
ANONYMOUS_OPERATION = "<anonymous>"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_FIRST_OPERATION = re.compile(r"^\s*(?:#[^\n]*\n\s*)*(?:query|mutation|subscription)\s+([A-Za-z_][A-Za-z0-9_]*)")
_seen_operations: set[str] = set()
_seen_lock = threading.Lock()


def operation_label(operation_name: str | None, query: str | None = None) -> str:
    """A bounded label for a GraphQL operation: its name (as sent, or read from the document),
    `<anonymous>` without one, `<other>` once `MAX_OPERATION_NAMES` distinct names were seen
    (clients choose names: unbounded labels would let anyone grow the registry)."""
    name = operation_name
    if not name and query:
        match = _FIRST_OPERATION.match(query)
        name = match.group(1) if match else None
    if not name:
        return ANONYMOUS_OPERATION
    if not _NAME.fullmatch(name):
        return OTHER_OPERATION
    if name in _seen_operations:
        return name
    with _seen_lock:
        if len(_seen_operations) >= MAX_OPERATION_NAMES:
            return OTHER_OPERATION
        _seen_operations.add(name)
    return name


def record_graphql(operation: str, seconds: float, error_codes: Iterable[str | None]) -> None:
    """One executed operation: count, latency, and (if any error) its first error code."""
    GRAPHQL_OPERATIONS.labels(operation).inc()
    GRAPHQL_LATENCY.labels(operation).observe(seconds)
    codes = list(error_codes)
    if codes:
        GRAPHQL_ERRORS.labels(operation, codes[0] or "UNKNOWN").inc()


# --------------------------------------------------------------------------- Dramatiq workers


class WorkerMetrics(Middleware):
    """Per-actor message metrics, the request id in the worker's logs, and queue depths from Redis.

    The request id that caused a message travels in `message.options["request_id"]` (set by the
    gateway when it enqueues); it is bound to the worker thread's log context while the message
    runs. Dramatiq runs async actors on its event-loop thread through `run_coroutine_threadsafe`,
    which copies the calling thread's context, so the actor's log lines carry it too.
    """

    def __init__(self, poll_seconds: float = 15.0) -> None:
        self.poll_seconds = poll_seconds
        self._started: dict[str, float] = {}
        self._tokens = threading.local()
        self._pollers: dict[int, threading.Event] = {}  # one queue poller per running worker

    # -- messages

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.MessageProxy) -> None:
        labels = (message.queue_name, message.actor_name)
        MESSAGES_IN_PROGRESS.labels(*labels).inc()
        self._started[message.message_id] = time.perf_counter()
        rid = message.options.get("request_id")
        self._tokens.value = (
            slog.request_id.set(str(rid)[:4096] if rid else None),
            slog.message_id.set(message.message_id),
        )

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: dramatiq.MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        labels = (message.queue_name, message.actor_name)
        started = self._started.pop(message.message_id, None)
        if started is not None:
            MESSAGES_IN_PROGRESS.labels(*labels).dec()
            MESSAGE_DURATION.labels(*labels).observe((time.perf_counter() - started) * 1000)
        MESSAGES.labels(*labels).inc()
        if exception is not None:
            MESSAGE_ERRORS.labels(*labels).inc()
        self._unbind()

    def after_skip_message(self, broker: dramatiq.Broker, message: dramatiq.MessageProxy) -> None:
        if self._started.pop(message.message_id, None) is not None:
            MESSAGES_IN_PROGRESS.labels(message.queue_name, message.actor_name).dec()
        self._unbind()

    def after_enqueue(self, broker: dramatiq.Broker, message: dramatiq.Message[Any], delay: int | None) -> None:
        if "retries" in message.options:  # the Retries middleware enqueues a failed message again
            MESSAGE_RETRIES.labels(message.queue_name, message.actor_name).inc()

    def after_nack(self, broker: dramatiq.Broker, message: dramatiq.MessageProxy) -> None:
        MESSAGE_REJECTS.labels(message.queue_name, message.actor_name).inc()

    def _unbind(self) -> None:
        tokens = getattr(self._tokens, "value", None)
        if tokens is not None:
            self._tokens.value = None
            slog.message_id.reset(tokens[1])
            slog.request_id.reset(tokens[0])

    # -- queues, read from Redis

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        queues = worker.consumer_whitelist
        stop = self._pollers[id(worker)] = threading.Event()
        threading.Thread(
            target=self._poll,
            args=(broker, lambda: _canonical_queues(broker, queues), stop),
            name="queue-metrics",
            daemon=True,
        ).start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        stop = self._pollers.pop(id(worker), None)
        if stop is not None:
            stop.set()

    def _poll(self, broker: dramatiq.Broker, queues: Callable[[], list[str]], stop: threading.Event) -> None:
        while not stop.is_set():
            read_queue_depths(broker, queues())
            stop.wait(self.poll_seconds)


def _canonical_queues(broker: dramatiq.Broker, whitelist: Iterable[str] | None) -> list[str]:
    wanted = set(whitelist) if whitelist else None
    names = {q.removesuffix(".DQ").removesuffix(".XQ") for q in broker.get_declared_queues()}
    return sorted(q for q in names if wanted is None or q in wanted)


def read_queue_depths(broker: Any, queues: Iterable[str]) -> None:
    """Sets the queue-depth and dead-letter gauges of `queues` from the Redis broker's keys.

    A message stays in its queue's `.msgs` hash until acked, and its id sits in the queue's list
    only until a worker takes it: ready messages are the list, unacked ones (held by workers) the
    hash less the list. Delayed messages (retry back-off, eta) are the `.DQ` queue's hash, whether
    waiting or held by a worker until their time; dead letters the `.XQ` set. Redis being down is
    one warning per interval.
    """
    client = getattr(broker, "client", None)
    namespace = getattr(broker, "namespace", "dramatiq")
    if client is None:
        return
    try:
        for queue in queues:
            key = f"{namespace}:{queue}"
            with client.pipeline(transaction=False) as pipe:
                pipe.llen(key).hlen(f"{key}.msgs").hlen(f"{key}.DQ.msgs").zcard(f"{key}.XQ")
                ready, stored, delayed, dead = pipe.execute()
            QUEUE_DEPTH.labels(queue, "ready").set(ready)
            QUEUE_DEPTH.labels(queue, "unacked").set(max(0, stored - ready))
            QUEUE_DEPTH.labels(queue, "delayed").set(delayed)
            DEAD_LETTERS.labels(queue).set(dead)
    except Exception as exc:  # redis' ConnectionError, TimeoutError and friends
        slog.dependency_unavailable(logger, redis_name(broker), exc)


def redis_name(broker: Any) -> str:
    """`Redis at host:port` for log lines, from the broker's connection pool."""
    try:
        kwargs = broker.client.connection_pool.connection_kwargs
        return f"Redis at {kwargs.get('host', '?')}:{kwargs.get('port', '?')}"
    except AttributeError:
        return "Redis"


def install_worker_metrics(broker: dramatiq.Broker) -> WorkerMetrics:
    """Adds `WorkerMetrics` to `broker` once (a worker module may be set up more than once in tests)."""
    for m in broker.middleware:
        if isinstance(m, WorkerMetrics):
            return m
    middleware = WorkerMetrics()
    broker.add_middleware(middleware)
    return middleware
