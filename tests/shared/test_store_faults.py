"""The stores fail too: a hung or killed PostgreSQL costs seconds, not the platform (issue 6).

The fault tests run a PostgreSQL of their own (not the session's: it is stopped with SIGSTOP and
killed with SIGKILL here), bootstrapped with the orders schema, with short timeouts so that they
run in seconds: a statement gets 1 s (plus asyncpg's 1 s client margin), waiting for a pooled
connection 1 s, /readyz 1 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from infra.embedded import EmbeddedPostgres, free_port
from shared import logging as slog
from shared.auth import service_tokens
from shared.bootstrap import bootstrap_service
from shared.db import create_pool, tenant_tx
from shared.health import DependencyUnavailable, Readiness
from shared.messaging import relay
from shared.messaging.outbox import add_event

STATEMENT_MS = 1000
ACQUIRE_MS = 1000
READY_MS = 1000
# The longest a request may take while PostgreSQL hangs: its statement times out (client side, 1 s
# after the server's timeout, which a stopped server never applies), then releasing the connection
# waits at most the acquire timeout before terminating it. Plus scheduling slack on a busy machine.
REQUEST_BOUND = STATEMENT_MS / 1000 + 1.0 + ACQUIRE_MS / 1000 + 1.0
READY_BOUND = READY_MS / 1000 + 0.5


def _pg_pids(pg: EmbeddedPostgres) -> list[int]:
    """The postmaster and its children (backends, checkpointer, ...)."""
    postmaster = int((pg.data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])
    pids = [postmaster]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == postmaster:
                pids.append(int(entry))
    return pids


@contextlib.contextmanager
def hung(pg: EmbeddedPostgres) -> Iterator[None]:
    """PostgreSQL frozen whole (SIGSTOP to every process of it), as a hung host or VM pause would."""
    pids = _pg_pids(pg)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


async def _kill(pg: EmbeddedPostgres) -> None:
    """kill -9 every process of the server, as a crash would, and wait until they are gone."""
    pids = _pg_pids(pg)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids):
        assert time.monotonic() < deadline, "PostgreSQL processes survived SIGKILL"
        await asyncio.sleep(0.05)
    if _exists(pids[0]):
        # Dead but not reaped yet (its parent is the container's init): `pg_ctl status` would take the
        # zombie for a running server. A crashed host leaves the pid file naming no process at all.
        (pg.data_dir / "pgdata" / "postmaster.pid").unlink()


def _exists(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


async def _until(predicate: Any, timeout: float, what: str, step: float = 0.05) -> float:
    """Seconds until `predicate()` (sync or async) is true; fails after `timeout`."""
    started = time.monotonic()
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return time.monotonic() - started
        assert time.monotonic() - started < timeout, f"{what} not within {timeout}s"
        await asyncio.sleep(step)


@pytest.fixture(scope="module")
async def fault_pg(tmp_path_factory: pytest.TempPathFactory, settings: Any) -> AsyncIterator[tuple[Any, Any]]:
    pg = await asyncio.to_thread(EmbeddedPostgres(tmp_path_factory.mktemp("fault-pg"), free_port()).start)
    fs = dataclasses.replace(
        settings,
        database_url=pg.url,
        db_statement_timeout_ms=STATEMENT_MS,
        db_acquire_timeout_ms=ACQUIRE_MS,
        readiness_timeout_ms=READY_MS,
        db_pool_max=4,
    )
    await bootstrap_service(fs, "orders")
    try:
        yield pg, fs
    finally:
        await asyncio.to_thread(pg.stop)


def _headers(secret: str, org_id: Any) -> dict[str, str]:
    token = service_tokens.mint(secret, caller="gateway", audience="orders", org_id=str(org_id), subject="auth0|t")
    return {"authorization": f"Bearer {token}"}


async def _timed(call: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await call
    return response, time.monotonic() - started


@pytest.fixture
async def fault_api(fault_pg: tuple[Any, Any], issuer: Any) -> AsyncIterator[tuple[httpx.AsyncClient, Any, Any]]:
    """The orders API on the fault server, with a tenant of its own: (client, headers, app)."""
    from services.orders.api.app import create_app
    from shared.service.app import service_state
    from tests.factories import create_tenant

    _, fs = fault_pg
    app = create_app(fs)
    async with app.router.lifespan_context(app):
        tenant = await create_tenant(service_state(app).pool, issuer)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://orders.test", timeout=30) as client:
            yield client, _headers(fs.service_token_secret, tenant.org_id), app


async def test_hung_postgres_fails_requests_within_the_timeout_naming_the_database(fault_pg, fault_api, caplog):
    pg, fs = fault_pg
    client, headers, _ = fault_api
    assert (await client.get("/internal/categories", headers=headers)).status_code == 200
    caplog.set_level(logging.INFO)
    where = f"PostgreSQL database {fs.database_name('orders')} at 127.0.0.1:{pg.port}"
    with hung(pg):
        # More requests than the pool has connections: some time out on their statement, the
        # rest waiting for a connection; none waits for PostgreSQL to come back.
        answers = await asyncio.gather(
            *[_timed(client.get("/internal/categories", headers=headers)) for _ in range(12)]
        )
        for response, elapsed in answers:
            assert response.status_code == 503, response.text
            error = response.json()["error"]
            assert error["code"] == "UNAVAILABLE"
            assert f"database {fs.database_name('orders')} unavailable" in error["message"]
            assert f"{pg.port}" not in error["message"], "addresses stay in the logs"
            assert elapsed < REQUEST_BOUND, f"a request took {elapsed:.1f}s while PostgreSQL hung"
        probes = await asyncio.gather(*[_timed(client.get("/readyz")) for _ in range(5)])
        for response, elapsed in probes:
            assert response.status_code == 503 and elapsed < READY_BOUND, (response.text, elapsed)
        assert "database" in probes[0][0].json()["reason"] or "no answer" in probes[0][0].json()["reason"]
    # What the process writes: its log handler's filter (shared/logging.py) applied to every record.
    written = [r for r in caplog.records if slog.OutageFilter().filter(r)]
    warnings = [r for r in written if r.levelno >= logging.WARNING]
    named = [r for r in warnings if r.getMessage().startswith(f"{where} unavailable")]
    # One line for the whole outage (one per DEPENDENCY_WARNING_SECONDS), naming host and port.
    assert len(named) == 1, [r.getMessage() for r in warnings]
    assert not [r for r in written if r.exc_info], "an outage is not a bug: no tracebacks"
    assert not [r for r in warnings if r not in named], [r.getMessage() for r in warnings]
    # Everything recovers once PostgreSQL resumes.
    recovered = await _until(
        lambda: _ok(client.get("/internal/categories", headers=headers)), 10, "requests after SIGCONT"
    )
    assert recovered < 5
    # Readiness reuses a probe's outcome for up to a second (READY_CACHE_SECONDS).
    await _until(lambda: _ok(client.get("/readyz")), 3, "/readyz after SIGCONT")
    assert any(r.getMessage() == f"{where} available again" for r in caplog.records)


async def _ok(call: Any) -> bool:
    return bool((await call).status_code == 200)


async def test_readiness_answers_from_recent_success_without_waiting_on_a_saturated_pool(fault_api):
    client, headers, app = fault_api
    from shared.service.app import service_state

    pool = service_state(app).pool
    assert (await client.get("/internal/categories", headers=headers)).status_code == 200
    held = [await pool.acquire() for _ in range(pool.get_max_size())]  # every connection busy
    try:
        response, elapsed = await _timed(client.get("/readyz"))
        assert response.status_code == 200 and elapsed < 0.2, (response.text, elapsed)
        # A request waits at most the acquire timeout for a connection, and says why it failed.
        response, elapsed = await _timed(client.get("/internal/categories", headers=headers))
        assert response.status_code == 503 and elapsed < ACQUIRE_MS / 1000 + 1.0
    finally:
        for conn in held:
            await pool.release(conn)


async def test_killed_postgres_relay_reopens_listen_and_lag_returns_to_normal(fault_pg, issuer, monkeypatch, caplog):
    """kill -9 PostgreSQL under the relay: LISTEN reconnects, and events are published as they
    commit again (the relay polls only every 30 s here, so a fast publication proves LISTEN)."""
    from tests.factories import create_tenant

    pg, fs = fault_pg
    monkeypatch.setattr(relay, "RECONNECT_MAX_SECONDS", 1.0)
    caplog.set_level(logging.INFO)
    pool = await create_pool(fs.service_database_url("orders"), max_size=2, settings=fs)
    tenant = await create_tenant(pool, issuer)
    stop = asyncio.Event()
    listeners: list[relay.Listener] = []
    task = asyncio.create_task(
        relay.run(
            "orders",
            poll_seconds=30,
            settings=fs,
            stop=stop,
            degraded_poll_seconds=30,
            keepalive_seconds=1,
            on_listener=listeners.append,
        )
    )

    async def unsent() -> int:
        async with tenant_tx(pool, tenant.org_id) as conn:
            count: int = await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        return count

    async def publication_delay() -> float:
        async with tenant_tx(pool, tenant.org_id) as conn:
            await add_event(conn, tenant.org_id, "test.fault", {})
        return await _until(lambda: _zero(unsent()), 5, "publication")

    try:
        await _until(lambda: listeners and listeners[0].connected, 10, "LISTEN")
        await _until(lambda: _zero(unsent()), 5, "the tenant's own events published")
        assert await publication_delay() < 1.0
        await _kill(pg)
        await _until(lambda: not listeners[0].connected, 5, "the lost LISTEN connection noticed")
        killed_at = time.monotonic()
        await asyncio.to_thread(pg.start)
        await _until(lambda: listeners[0].connected, 15, "LISTEN reconnected")
        reconnected_after = time.monotonic() - killed_at
        assert listeners[0].reconnects == 1
        # The test's own pool reconnects too (its first acquire after the crash may fail once).
        await _until(lambda: _succeeds(unsent()), 10, "the test's pool back")
        assert await publication_delay() < 1.0, "published by the 30 s poll: LISTEN was not reopened"
        await _until(lambda: _lag("orders") == 0.0, 3, "outbox_lag_seconds back to 0")
        assert reconnected_after < 10
        messages = [r.getMessage() for r in caplog.records]
        assert "LISTEN connection lost; reconnecting" in messages and "LISTEN reconnected" in messages
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await pool.close()


async def _zero(count: Any) -> bool:
    return bool(await count == 0)


async def _succeeds(call: Any) -> bool:
    try:
        await call
    except DependencyUnavailable:
        return False
    return True


def _lag(service: str) -> float | None:
    return REGISTRY.get_sample_value("outbox_lag_seconds", {"service": service})


# ------------------------------------------------------------------------------ pruning


async def test_pruning_deletes_only_published_rows_older_than_the_retention(pool, owner_pool, tenant):
    rows = {  # name: (hours since it occurred, hours since it was published or None)
        "published 99h ago": (100, 99),
        "published 80h ago": (90, 80),
        "published 73h ago": (80, 73),
        "published 71h ago": (80, 71),
        "published 1h ago": (10, 1),
        "never published": (100, None),
    }
    ids = {}
    async with owner_pool.acquire() as conn:  # the owner may write any timestamps (and bypasses RLS)
        for name, (occurred, sent) in rows.items():
            ids[name] = await conn.fetchval(
                "INSERT INTO outbox (org_id, type, payload, occurred_at, sent_at)"
                " VALUES ($1, 'test.prune', '{}', now() - make_interval(hours => $2),"
                "         now() - make_interval(hours => $3)) RETURNING id",
                tenant.org_id,
                occurred,
                sent,  # NULL stays NULL
            )
    pruned_before = REGISTRY.get_sample_value("outbox_events_pruned_total", {"service": "orders"}) or 0.0
    try:
        assert await relay.outbox_lag(pool) >= 100 * 3600 - 60  # the unpublished row is the oldest
        deleted = await relay.prune_published(pool, "orders", retention_hours=72, batch=2)  # two batches
        async with owner_pool.acquire() as conn:
            left = {r["id"] for r in await conn.fetch("SELECT id FROM outbox WHERE id = ANY($1)", list(ids.values()))}
        assert {name for name, id_ in ids.items() if id_ in left} == {
            "published 71h ago",
            "published 1h ago",
            "never published",
        }
        assert deleted == 3
        pruned = REGISTRY.get_sample_value("outbox_events_pruned_total", {"service": "orders"})
        assert pruned == pruned_before + 3
        assert await relay.prune_published(pool, "orders", retention_hours=72) == 0
    finally:
        async with owner_pool.acquire() as conn:
            await conn.execute("DELETE FROM outbox WHERE id = ANY($1)", list(ids.values()))


# ------------------------------------------------------------------------------ no server


def test_an_unavailable_dependency_is_one_warning_per_interval(caplog):
    caplog.set_level(logging.INFO)
    log = logging.getLogger("test.faults")
    dependency = "PostgreSQL database unit at 10.0.0.9:5432"
    written = [slog.dependency_unavailable(log, dependency, TimeoutError(), interval=60) for _ in range(50)]
    assert written == [True] + [False] * 49
    other = slog.dependency_unavailable(log, "Redis at 10.0.0.9:6379", ConnectionRefusedError(111, "refused"))
    assert other, "each dependency has its own interval"
    slog.dependency_available(log, dependency)
    slog.dependency_available(log, dependency)  # said once
    assert slog.dependency_unavailable(log, dependency, TimeoutError(), interval=60), "a new outage is reported"
    lines = [(r.levelname, r.getMessage(), getattr(r, "fields", {})) for r in caplog.records]
    assert lines[0][:2] == ("WARNING", f"{dependency} unavailable: TimeoutError")
    assert lines[1][1] == "Redis at 10.0.0.9:6379 unavailable: ConnectionRefusedError: [Errno 111] refused"
    assert lines[2][:2] == ("INFO", f"{dependency} available again")
    assert lines[2][2]["failures_since_last_warning"] == 49
    assert len(lines) == 4
    assert REGISTRY.get_sample_value("dependency_unavailable_total", {"dependency": dependency}) == 51


def test_outage_records_lose_their_traceback_bugs_keep_theirs():
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    handler.addFilter(slog.OutageFilter())
    log = logging.getLogger("test.outage-filter")
    log.addHandler(handler)
    try:
        try:
            raise DependencyUnavailable("PostgreSQL database x at h:1", TimeoutError(), public="database x")
        except DependencyUnavailable:
            log.exception("Failed to process message m with unhandled exception.")
        try:
            raise KeyError("bug")
        except KeyError:
            log.exception("Failed to process message n with unhandled exception.")
        # asyncio's report of asyncpg's connection attempt cut short by an acquire timeout: dropped.
        lost = ConnectionError("unexpected connection_lost() call")
        asyncio_logger = logging.getLogger("asyncio")
        asyncio_logger.addHandler(handler)
        asyncio_logger.error("Future exception was never retrieved", exc_info=(type(lost), lost, None))
        asyncio_logger.removeHandler(handler)
    finally:
        log.removeHandler(handler)
    outage, bug = records
    assert outage.levelname == "INFO" and outage.exc_info is None
    assert outage.getMessage().endswith("(PostgreSQL database x at h:1 unavailable: TimeoutError)")
    assert bug.levelname == "ERROR" and bug.exc_info is not None


async def test_readiness_answers_within_its_bound_and_shares_one_probe():
    calls = 0

    async def hangs() -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(30)

    readiness = Readiness(hangs, bound=0.2, probe_timeout=0.6)
    started = time.monotonic()
    reasons = await asyncio.gather(*[readiness.check() for _ in range(10)])
    assert time.monotonic() - started < 0.5
    assert reasons == ["no answer within 0.2s"] * 10 and calls == 1
    await asyncio.sleep(0.8)  # the probe gives up at its own timeout; the next check starts another
    assert await readiness.check() == "TimeoutError"
    assert calls == 1
