"""Readiness that answers within its own bound, and the health listener of processes that are not
HTTP apps (workers, relays).

`/readyz` must answer quickly whatever the dependencies do: an orchestrator probing a process
whose database hangs needs "not ready" within its probe timeout, not a probe that hangs too,
and a process whose pool is merely busy must not be taken out of service. `Readiness` runs one
probe at a time (concurrent probes share it), reuses its outcome for a moment, and answers "no
answer within <bound>" when the probe is still running at the bound (the probe goes on in the
background, so a hung dependency never piles probes up). Probes read the process's own state
first (`shared.db.ping` trusts a recent successful transaction) and touch the dependency only
when that state is stale.

The listener of workers and relays starts only when HEALTH_PORT is set, so several can run side
by side; it binds HEALTH_HOST (default 127.0.0.1; deployments set 0.0.0.0 so that Prometheus can
scrape `/metrics` from it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable

from shared import logging as slog

logger = logging.getLogger(__name__)

READY_CACHE_SECONDS = 1.0
PROBE_TIMEOUT_SECONDS = 10.0


class DependencyUnavailable(Exception):
    """A dependency (a database, Redis, a service) refused or did not answer in time.

    Expected during an outage, so not a bug: callers answer 503 UNAVAILABLE and report it with
    `shared.logging.dependency_unavailable` (one warning per interval, no traceback). `dependency`
    names it fully for logs (`PostgreSQL database orders at 10.0.0.5:5432`); `public` names it for
    answers, without addresses.
    """

    def __init__(self, dependency: str, cause: BaseException | str, *, public: str | None = None) -> None:
        self.dependency = dependency
        self.cause = slog.describe(cause)
        self.public = public or dependency
        super().__init__(f"{dependency} unavailable: {self.cause}")


def _default_bound() -> float:
    from shared.config import get_settings

    return get_settings().readiness_timeout_ms / 1000


class Readiness:
    """`probe` (raises, or returns False, when not ready) answered within `bound` seconds."""

    def __init__(
        self,
        probe: Callable[[], Awaitable[object]],
        *,
        bound: float | None = None,
        cache_seconds: float = READY_CACHE_SECONDS,
        probe_timeout: float = PROBE_TIMEOUT_SECONDS,
    ) -> None:
        self.probe = probe
        self.bound = bound if bound is not None else _default_bound()
        self.cache_seconds = cache_seconds
        self.probe_timeout = probe_timeout
        self._task: asyncio.Task[str | None] | None = None
        self._reason: str | None = None
        self._checked_at = float("-inf")

    async def check(self) -> str | None:
        """None when ready, else why not."""
        if time.monotonic() - self._checked_at < self.cache_seconds:
            return self._reason
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())
        try:
            return await asyncio.wait_for(asyncio.shield(self._task), self.bound)
        except TimeoutError:
            return f"no answer within {self.bound:g}s"

    async def _run(self) -> str | None:
        reason: str | None
        try:
            async with asyncio.timeout(self.probe_timeout):
                ok = await self.probe()
            reason = "not ready" if ok is False else None
        except DependencyUnavailable as exc:
            reason = f"{exc.public} unavailable: {exc.cause}"
        except Exception as exc:  # whatever the probe raised is the reason; the process itself is fine
            reason = slog.describe(exc)
        self._reason, self._checked_at = reason, time.monotonic()
        return reason


def _response(status: bytes, content_type: bytes, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 "
        + status
        + b"\r\nContent-Type: "
        + content_type
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\nConnection: close\r\n\r\n"
        + body
    )


async def serve_health(
    ready: Callable[[], Awaitable[object]], port: int | None = None, host: str | None = None
) -> asyncio.AbstractServer | None:
    """`/healthz`, `/readyz` (bounded, see `Readiness`) and `/metrics` on HEALTH_HOST:HEALTH_PORT."""
    from shared.metrics import render

    port = port if port is not None else int(os.environ.get("HEALTH_PORT", "0") or 0)
    if not port:
        return None
    host = host or os.environ.get("HEALTH_HOST") or "127.0.0.1"
    readiness = Readiness(ready)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = (await asyncio.wait_for(reader.readline(), 5)).decode(errors="replace")
            path = line.split(" ")[1] if " " in line else "/"
            if path.startswith("/metrics"):
                body, content_type = render()
                writer.write(_response(b"200 OK", content_type.encode(), body))
            elif path.startswith(("/readyz", "/healthz")):
                reason = await readiness.check() if path.startswith("/readyz") else None
                doc = {"status": "ok"} if reason is None else {"status": "unavailable", "reason": reason}
                status = b"200 OK" if reason is None else b"503 Service Unavailable"
                writer.write(_response(status, b"application/json", json.dumps(doc).encode()))
            else:
                writer.write(_response(b"404 Not Found", b"application/json", b'{"status":"not found"}'))
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass  # a client that sent nothing or went away
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, port)
    logger.info("health and metrics on %s:%d", host, port)
    return server
