"""Every process exposes Prometheus metrics with real values, and a request id follows a webhook into the
worker's log lines (issue 6, observability).

The apps, the worker and the relay run in this process, so they share prometheus-client's registry:
each test reads the samples it caused by their labels (unique operation names, queues, routes) and
compares before and after, never absolute totals other tests may have moved.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import dramatiq
import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from infra.embedded import free_port
from shared import logging as slog
from shared.health import serve_health
from shared.messaging import contracts
from shared.messaging.relay import relay_once
from shared.metrics import install_worker_metrics, operation_label, read_queue_depths
from tests.factories import commission_body, create_order, gql, signed_headers


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a /metrics answer, parsed with prometheus-client's own parser."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_http_and_graphql_metrics_after_real_requests(gateway, orders_url, tenant):
    name = f"MetricsOrders{uuid.uuid4().hex[:8]}"
    bad = f"MetricsBadId{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=orders_url) as orders_api:
        before = _samples((await orders_api.get("/metrics")).text)
        body = await gql(gateway, f"query {name} {{ organisation {{ name }} }}", token=tenant.admin_token)
        assert "errors" not in body, body
        body = await gql(gateway, f'query {bad} {{ order(id: "not-an-id") {{ id }} }}', token=tenant.admin_token)
        assert body["errors"][0]["extensions"]["code"] == "INVALID_ID"
        scraped = await gateway.get("/metrics")
        served = await orders_api.get("/metrics")
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    after = _samples(served.text)
    gw = _samples(scraped.text)
    # GraphQL operations by name, with latency and the first error's code.
    assert _value(gw, "graphql_operations_total", operation=name) == 1
    assert _value(gw, "graphql_operation_duration_seconds_count", operation=name) == 1
    assert _value(gw, "graphql_operation_duration_seconds_sum", operation=name) > 0
    assert _value(gw, "graphql_operation_errors_total", operation=name, code="INVALID_ID") == 0
    assert _value(gw, "graphql_operation_errors_total", operation=bad, code="INVALID_ID") == 1
    # HTTP requests by route template and status, with latency: the gateway's own route...
    assert _value(gw, "http_requests_total", route="/graphql", method="POST", status="200") >= 2
    assert _value(gw, "http_request_duration_seconds_count", route="/graphql", method="POST") >= 2
    # ...and the orders API's, reached by the gateway over HTTP for the organisation.
    key = {"route": "/internal/organisation", "method": "GET", "status": "200"}
    assert _value(after, "http_requests_total", **key) == _value(before, "http_requests_total", **key) + 1
    timed = {"route": "/internal/organisation", "method": "GET"}
    assert _value(after, "http_request_duration_seconds_count", **timed) > _value(
        before, "http_request_duration_seconds_count", **timed
    )
    # Labels are route templates: ids and tokens in paths never become label values.
    assert not [k for k in after if any("not-an-id" in v or v.count("-") == 4 for _, v in k[1])]


async def test_unmatched_paths_and_probes_stay_bounded(gateway):
    await gateway.get(f"/no/such/{uuid.uuid4()}.txt")  # a file name: not a dashboard route (those answer index.html)
    await gateway.get("/readyz")
    samples = _samples((await gateway.get("/metrics")).text)
    assert _value(samples, "http_requests_total", route="<unmatched>", method="GET", status="404") >= 1
    assert _value(samples, "http_requests_total", route="/readyz", method="GET", status="200") >= 1
    assert not _value(samples, "http_request_duration_seconds_count", route="/readyz", method="GET")


def test_operation_names_are_bounded_labels(monkeypatch):
    from shared import metrics

    monkeypatch.setattr(metrics, "_seen_operations", set())
    monkeypatch.setattr(metrics, "MAX_OPERATION_NAMES", 3)
    assert operation_label(None, "query Orders { orders { id } }") == "Orders"
    assert operation_label(None, "# a comment\nmutation Save($a: Int) { x }") == "Save"
    assert operation_label(None, "{ me { id } }") == "<anonymous>"
    assert operation_label("with spaces", None) == "<other>"
    assert [operation_label(n) for n in ("A", "B", "C", "Orders")] == ["A", "<other>", "<other>", "Orders"]


# ------------------------------------------------------------------------------ workers


@contextlib.contextmanager
def _json_lines(logger_name: str) -> Iterator[list[dict[str, Any]]]:
    """Log lines of `logger_name` as the process writes them (JsonFormatter, formatted where emitted)."""
    lines: list[dict[str, Any]] = []
    formatter = slog.JsonFormatter("test")

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(formatter.format(record)))

    handler = Capture()
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)


@pytest.fixture
def orders_worker() -> Iterator[Any]:
    """For one test only: two workers of one broker running at once in one process would share (and
    replace) the service's resources."""
    import services.orders.worker  # noqa: F401  (sets up the worker's resources and declares its actors)
    from shared.messaging.broker import get_broker
    from tests.workers import running_worker

    _delete_queue(get_broker(), contracts.ORDERS_QUEUE)  # earlier tests' leftovers would be counted here
    with running_worker({contracts.ORDERS_QUEUE}) as w:
        yield w


async def test_webhook_message_metrics_and_request_id_in_worker_logs(gateway, pool, tenant, orders_worker):
    from shared.messaging.broker import get_broker

    broker = get_broker()
    assert any(type(m).__name__ == "WorkerMetrics" for m in broker.middleware), "setup_worker installs it"
    labels = {"queue_name": contracts.ORDERS_QUEUE, "actor_name": contracts.APPLY_PROVIDER_WEBHOOKS}
    processed = _sample("dramatiq_messages_total", **labels)
    timed = _sample("dramatiq_message_duration_milliseconds_count", **labels)
    errors = _sample("dramatiq_message_errors_total", **labels)
    order = await create_order(pool, tenant, status="SUCCESSFUL")
    body = commission_body(order["id"], 1, "SUCCESSFUL", "SUCCESSFUL")
    request_id = f"rid-{uuid.uuid4().hex}"
    headers = signed_headers(tenant.provider["webhook_secret"], body, f"msg-{uuid.uuid4().hex}")
    with _json_lines("orders.actors") as actor_lines, _json_lines("dramatiq") as dramatiq_lines:
        response = await gateway.post(
            f"/webhooks/providers/{tenant.provider['public_id']}/commission",
            content=body,
            headers={**headers, "x-request-id": request_id},
        )
        assert response.status_code == 202, response.text
        deadline = time.monotonic() + 15
        while _sample("dramatiq_messages_total", **labels) < processed + 1:
            assert time.monotonic() < deadline, "the webhook message was not processed"
            await asyncio.sleep(0.05)
    applied = [line for line in actor_lines if line["msg"] == "provider webhooks"]
    assert applied and applied[0]["request_id"] == request_id, actor_lines  # the gateway's request id
    assert applied[0]["message_id"]
    # Dramatiq's warning that the actor's return value was discarded (once per message) is gone.
    assert not [line for line in dramatiq_lines if line["level"] in ("warning", "error")], dramatiq_lines
    assert _sample("dramatiq_message_duration_milliseconds_count", **labels) == timed + 1
    assert _sample("dramatiq_message_errors_total", **labels) == errors
    assert _sample("dramatiq_messages_inprogress", **labels) == 0


def _delete_queue(broker: Any, queue: str) -> None:
    key = f"{broker.namespace}:{queue}"
    broker.client.delete(key, f"{key}.msgs", f"{key}.DQ", f"{key}.DQ.msgs", f"{key}.XQ", f"{key}.XQ.msgs")


async def test_queue_depth_dead_letters_and_failures_per_actor(servers):
    from shared.messaging.broker import get_broker
    from tests.workers import running_worker

    broker = get_broker()
    install_worker_metrics(broker)
    suffix = uuid.uuid4().hex[:8]
    idle, failing = f"metricsidle{suffix}", f"metricsfail{suffix}"

    def always_fails(n: int) -> None:
        raise RuntimeError(f"failure {n}")

    actor = dramatiq.actor(actor_name=f"metrics.fails_{suffix}", queue_name=failing, max_retries=0, broker=broker)(
        always_fails
    )
    try:
        broker.declare_queue(idle)
        for n in range(3):
            broker.enqueue(dramatiq.Message(queue_name=idle, actor_name="nobody", args=(n,), kwargs={}, options={}))
        labels = {"queue_name": failing, "actor_name": actor.actor_name}
        with running_worker({failing}, threads=1):
            actor.send(1)
            deadline = time.monotonic() + 15
            while _sample("dramatiq_message_rejects_total", **labels) < 1:
                assert time.monotonic() < deadline, "the failing message was not dead-lettered"
                await asyncio.sleep(0.05)
        assert _sample("dramatiq_message_errors_total", **labels) == 1
        assert _sample("dramatiq_messages_total", **labels) == 1
        await asyncio.to_thread(read_queue_depths, broker, [idle, failing])
        assert _sample("dramatiq_queue_depth", queue_name=idle, state="ready") == 3
        assert _sample("dramatiq_queue_depth", queue_name=idle, state="unacked") == 0
        assert _sample("dramatiq_dead_letters", queue_name=failing) == 1
        assert REGISTRY.get_sample_value("dramatiq_dead_letters", {"queue_name": idle}) == 0
    finally:
        _delete_queue(broker, idle)
        _delete_queue(broker, failing)


async def test_health_listener_serves_metrics_and_bounded_readiness():
    port = free_port()

    async def ready() -> bool:
        return True

    server = await serve_health(ready, port=port)
    assert server is not None
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            metrics = await client.get("/metrics")
            assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
            names = {family.name for family in text_string_to_metric_families(metrics.text)}
            assert {"dramatiq_messages", "dramatiq_queue_depth", "outbox_lag_seconds", "http_requests"} <= names
            assert (await client.get("/readyz")).json() == {"status": "ok"}
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/nothing")).status_code == 404
    finally:
        server.close()


async def test_relay_counts_what_it_publishes(pool, tenant):
    sub = contracts.Subscription(consumer="metricsrelay", source="orders", event_types=frozenset())
    while await relay_once(pool, "orders", subscriptions=(sub,)):
        pass  # what earlier tests left unsent
    published = _sample("outbox_events_published_total", service="orders")
    delays = _sample("outbox_publish_delay_seconds_count", service="orders")
    await create_order(pool, tenant, email=f"metrics-{uuid.uuid4().hex[:6]}@example.com")
    sent = 0
    while n := await relay_once(pool, "orders", subscriptions=(sub,)):
        sent += n
    assert sent == 2  # customer.created and order.created
    assert _sample("outbox_events_published_total", service="orders") == published + 2
    assert _sample("outbox_publish_delay_seconds_count", service="orders") == delays + 2
