"""The client of a service's internal API: one pooled aiohttp session per service it calls.

Every internal call (the gateway's, and a service's call to another, e.g. the insights service
resolving identities through the orders service) goes through `ServiceClient`, in production and in
the tests alike (the tests serve the services over real sockets), so the path that is tested is the
path that runs. aiohttp was chosen for the hot path: it costs ~1.6 ms less gateway CPU per orders
page than httpx did (bench/README.md).

A client knows its service's base URL (`Settings.service_api_url`) and mints the short-lived
service tokens that service trusts (issuer = the calling service, `caller`; audience = the called
service's name); the organisation, user and role of a call travel in that token, never in the body.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar, Self
from uuid import UUID

import aiohttp
import orjson

from shared import logging as slog
from shared.auth import service_tokens
from shared.config import Settings
from shared.errors import ErrorCode
from shared.http import dumps

logger = logging.getLogger("service.client")

# Ordinary calls: a service that has not answered within 30 s is treated as down.
CALL_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=5)
# An XLSX workbook is only sent once written (openpyxl needs the whole file), so an export
# stream may stay silent for minutes before its first byte; the whole download is unbounded.
EXPORT_READ_TIMEOUT = 15 * 60.0
STREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=EXPORT_READ_TIMEOUT)
POOL_SIZE = 64
# An idle pooled connection is dropped by this client before the server's idle timeout would close it
# (HTTP_IDLE_TIMEOUT_SECONDS, 5 s by default; uvicorn's own default is 5 s too): reusing one the server is
# closing at that moment fails the call with a reset ("unreachable: ClientOSError"), seen in the tests.
KEEPALIVE_SECONDS = 3.0
# Downloads hold a pooled connection for as long as they last: cap them below the pool size so
# that a burst of exports can never starve the calls every GraphQL request makes.
MAX_STREAMS = POOL_SIZE // 4
# A download finds a free slot within this many seconds or is refused (503 OVERLOADED, Retry-After).
STREAM_SLOT_WAIT = 5.0
STREAM_SLOT_RETRY_AFTER = 15
TOKEN_CACHE_MAX = 10_000
# Readiness trusts a call answered (below 500) this recently, and otherwise asks the service's /readyz
# over a connection of its own: a saturated pool never makes the gateway look down.
READY_FRESH_SECONDS = 5.0
PROBE_TIMEOUT = aiohttp.ClientTimeout(total=1.0)

JSONRow = dict[str, Any]


class ServiceError(Exception):
    """An expected refusal from a service, carried to the caller with its code and field."""

    def __init__(
        self,
        status: int,
        code: ErrorCode,
        message: str,
        field: str | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.errors = errors or []
        # The service's Retry-After (a refused export: come back when one has finished), passed on as is.
        self.retry_after: str | None = None


class Unavailable(Exception):
    """The service could not be reached or failed (5xx, garbage): callers answer 503 / UNAVAILABLE."""


@dataclass(frozen=True)
class Stream:
    """An upstream download being relayed: its headers worth passing on, and its body as it arrives."""

    content_type: str | None
    content_disposition: str | None
    body: AsyncIterable[bytes]


class _Body:
    """The body of an upstream download. Its connection and download slot are given back exactly once
    however the download ends: read to the end, cut short, or never read at all (the client went away
    before the first chunk, so the generator's `finally` never runs; then when it is collected)."""

    def __init__(self, response: aiohttp.ClientResponse, slots: asyncio.Semaphore) -> None:
        self._response, self._slots, self._open = response, slots, True

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        if self._open:
            self._open = False
            self._response.release()
            self._slots.release()

    def __del__(self) -> None:
        self.close()


def _code(value: Any) -> ErrorCode:
    """A service's error code as the enum; a code this gateway does not know is reported as INTERNAL
    (a service newer than the gateway must not make the schema lie about its enum)."""
    try:
        return ErrorCode(value)
    except ValueError:
        return ErrorCode.INTERNAL


class ServiceClient:
    """The internal API of one service: pooled keep-alive connections, cached service tokens.

    Subclasses set `service` (the name in `Settings.service_api_url` and the token audience) and
    may add typed methods over `call`.
    """

    service: ClassVar[str]
    caller: ClassVar[str]
    """The calling service's name, the issuer of its tokens (what `callers=` of an endpoint checks)."""

    def __init__(self, base_url: str, secret: str) -> None:
        self.base_url, self.secret = base_url.rstrip("/"), secret
        self._tokens: dict[tuple[str | None, str | None, str | None, str | None], tuple[float, str]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._probe_session: aiohttp.ClientSession | None = None
        self._streams: asyncio.Semaphore | None = None
        self._last_ok = float("-inf")
        self.dependency = f"{self.service} service at {self.base_url}"

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(settings.service_api_url(cls.service), settings.service_token_secret)

    def _http(self) -> aiohttp.ClientSession:
        """The session is made on first use: aiohttp binds it to the running event loop, which
        does not exist yet when the app object is built."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=POOL_SIZE, keepalive_timeout=KEEPALIVE_SECONDS),
                timeout=CALL_TIMEOUT,
            )
        return self._session

    def _token(self, org_id: str | None, subject: str | None, role: str | None, provider_id: str | None) -> str:
        """Service tokens live two minutes; one is reused for a minute per (org, user, role, provider)."""
        key = (org_id, subject, role, provider_id)
        now = time.monotonic()
        hit = self._tokens.get(key)
        if hit and now - hit[0] < service_tokens.TTL_SECONDS / 2:
            return hit[1]
        if len(self._tokens) > TOKEN_CACHE_MAX:
            self._tokens.clear()
        token = service_tokens.mint(
            self.secret,
            caller=self.caller,
            audience=self.service,
            org_id=org_id,
            subject=subject,
            role=role,
            provider_id=provider_id,
        )
        self._tokens[key] = (now, token)
        return token

    def _headers(
        self,
        org_id: UUID | str | None,
        subject: str | None,
        role: str | None,
        extra: dict[str, str] | None = None,
        provider_id: str | None = None,
    ) -> dict[str, str]:
        token = self._token(str(org_id) if org_id else None, subject, role, provider_id)
        headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
        rid = slog.request_id.get()
        if rid:
            headers["x-request-id"] = rid  # one request id across the gateway's and the service's logs
        headers.update(extra or {})
        return headers

    async def call(
        self,
        method: str,
        path: str,
        *,
        org_id: UUID | str | None = None,
        subject: str | None = None,
        role: str | None = None,
        provider_id: str | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> Any:
        """One JSON request (`json`, or `content` already encoded: a body relayed as it came); returns the
        decoded answer, raises `ServiceError` (4xx) or `Unavailable`."""
        if content is None and json is not None:
            content = dumps(json)
        all_headers = self._headers(org_id, subject, role, headers, provider_id)
        try:
            async with self._http().request(
                method, self.base_url + path, data=content, params=params, headers=all_headers
            ) as r:
                return self._result(r.status, await r.read())
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise self._down(f"unreachable: {type(exc).__name__}") from exc

    def _down(self, cause: str) -> Unavailable:
        """The service failed: one warning per interval naming it and the cause (never one per request)."""
        slog.dependency_unavailable(logger, self.dependency, cause)
        return Unavailable(f"{self.service} service {cause}")

    def _result(self, status: int, content: bytes) -> Any:
        try:
            body = orjson.loads(content) if content else None
        except orjson.JSONDecodeError:
            raise self._down(f"answered {status} with a body that is not JSON") from None
        if status >= 500:
            raise self._down(f"answered {status}")
        self._last_ok = time.monotonic()
        slog.dependency_available(logger, self.dependency)
        if status >= 400:
            err = (body or {}).get("error", {}) if isinstance(body, dict) else {}
            raise ServiceError(
                status,
                _code(err.get("code")),
                err.get("message", "request refused"),
                err.get("field"),
                err.get("errors"),
            )
        return body

    async def stream(
        self,
        path: str,
        *,
        org_id: UUID | str | None,
        subject: str | None,
        role: str | None,
        json: Any,
        provider_id: str | None = None,
    ) -> Stream:
        """POST `json` and relay the answer as it arrives (exports): constant memory, long silences allowed.

        Refusals and outages surface here, before the caller has answered anything; once the body
        is being iterated, a failure can only cut the download short.
        """
        if self._streams is None:
            self._streams = asyncio.Semaphore(MAX_STREAMS)
        slots = self._streams
        try:
            async with asyncio.timeout(STREAM_SLOT_WAIT):
                await slots.acquire()
        except TimeoutError:
            # Refused with a time to come back rather than queued for minutes: a download waiting here
            # holds the client's connection and tells it nothing.
            busy = ServiceError(503, ErrorCode.OVERLOADED, "too many downloads in progress; retry shortly")
            busy.retry_after = str(STREAM_SLOT_RETRY_AFTER)
            raise busy from None
        try:
            response = await self._http().request(
                "POST",
                self.base_url + path,
                data=dumps(json),
                headers=self._headers(org_id, subject, role, provider_id=provider_id),
                timeout=STREAM_TIMEOUT,
            )
        except (TimeoutError, aiohttp.ClientError) as exc:
            slots.release()
            raise self._down(f"unreachable: {type(exc).__name__}") from exc
        if response.status >= 400:
            try:
                content = await response.read()
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise self._down(f"unreachable: {type(exc).__name__}") from exc
            finally:
                response.release()
                slots.release()
            try:
                self._result(response.status, content)  # raises: ServiceError (4xx) or Unavailable (5xx)
            except ServiceError as exc:
                exc.retry_after = response.headers.get("retry-after")
                raise
        return Stream(
            content_type=response.headers.get("content-type"),
            content_disposition=response.headers.get("content-disposition"),
            body=_Body(response, slots),
        )

    async def ready(self) -> None:
        """Raises `Unavailable` unless the service answers: from this client's own state when a call
        was answered in the last few seconds, else by the service's /readyz within a second, over a
        connection of its own (never queued behind a pool saturated by ordinary calls)."""
        if time.monotonic() - self._last_ok < READY_FRESH_SECONDS:
            return
        if self._probe_session is None:
            self._probe_session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=2, keepalive_timeout=KEEPALIVE_SECONDS), timeout=PROBE_TIMEOUT
            )
        try:
            async with self._probe_session.get(self.base_url + "/readyz") as r:
                await r.read()
                status = r.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise self._down(f"unreachable: {type(exc).__name__}") from exc
        if status != 200:
            raise self._down(f"not ready ({status})")
        self._last_ok = time.monotonic()
        slog.dependency_available(logger, self.dependency)

    async def aclose(self) -> None:
        for session in (self._session, self._probe_session):
            if session is not None:
                await session.close()
        self._session = self._probe_session = None
