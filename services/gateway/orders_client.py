"""Client of the orders service's internal API: pooled keep-alive connections, service tokens."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import aiohttp
import httpx
import orjson

from shared import logging as slog
from shared.auth import service_tokens
from shared.http import dumps


EXPORT_READ_TIMEOUT = 15 * 60.0


class ServiceError(Exception):
    """An expected refusal from a service, carried to the caller with its code and field."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.errors = errors or []


class Unavailable(Exception):
    pass


class OrdersClient:
    """Calls go through aiohttp (the hot path: ~10x less CPU per call than httpx, measured in
    bench/README.md); export streams and any injected transport (tests run the orders app
    in-process through httpx's ASGI transport) go through httpx."""

    def __init__(self, base_url: str, secret: str, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.secret, self.base_url = secret, base_url.rstrip("/")
        self._tokens: dict[tuple[str | None, str | None, str | None], tuple[float, str]] = {}
        self.http = httpx.AsyncClient(
            base_url=base_url, transport=transport, timeout=httpx.Timeout(30, connect=5),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))
        self._use_aiohttp = transport is None
        self._session: aiohttp.ClientSession | None = None

    def _aiohttp(self) -> aiohttp.ClientSession:
        if self._session is None:  # created on first use, inside the running event loop
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=30),
                timeout=aiohttp.ClientTimeout(total=30, connect=5), json_serialize=lambda o: dumps(o).decode())
        return self._session

    def _token(self, org_id: str | None, subject: str | None, role: str | None) -> str:
        """Service tokens live two minutes; one is reused for a minute per (org, user, role)."""
        key = (org_id, subject, role)
        now = time.monotonic()
        hit = self._tokens.get(key)
        if hit and now - hit[0] < service_tokens.TTL_SECONDS / 2:
            return hit[1]
        if len(self._tokens) > 10_000:
            self._tokens.clear()
        token = service_tokens.mint(self.secret, caller="gateway", audience="orders", org_id=org_id, subject=subject,
                                    role=role)
        self._tokens[key] = (now, token)
        return token

    def _headers(self, org_id: UUID | str | None, subject: str | None, role: str | None,
                 extra: dict[str, str] | None = None) -> dict[str, str]:
        token = self._token(str(org_id) if org_id else None, subject, role)
        headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
        rid = slog.request_id.get()
        if rid:
            headers["x-request-id"] = rid
        headers.update(extra or {})
        return headers

    async def call(self, method: str, path: str, *, org_id: UUID | str | None = None, subject: str | None = None,
                   role: str | None = None, json: Any = None, headers: dict[str, str] | None = None,
                   params: dict[str, str] | None = None) -> Any:
        content = dumps(json) if json is not None else None
        all_headers = self._headers(org_id, subject, role, headers)
        try:
            if self._use_aiohttp:
                async with self._aiohttp().request(method, self.base_url + path, data=content, params=params,
                                                   headers=all_headers) as r:
                    return self._result(r.status, await r.read())
            response = await self.http.request(method, path, content=content, params=params, headers=all_headers)
        except (httpx.TransportError, aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise Unavailable(f"orders service unreachable: {type(exc).__name__}") from exc
        return self._result(response.status_code, response.content)

    @staticmethod
    def _result(status: int, content: bytes) -> Any:
        try:
            body = orjson.loads(content) if content else None
        except orjson.JSONDecodeError:
            raise Unavailable(f"orders service answered {status} with a body that is not JSON") from None
        if status >= 500:
            raise Unavailable(f"orders service error {status}")
        if status >= 400:
            err = (body or {}).get("error", {}) if isinstance(body, dict) else {}
            raise ServiceError(status, err.get("code", "ERROR"), err.get("message", "request refused"),
                               err.get("field"), err.get("errors"))
        return body

    async def stream(self, path: str, *, org_id: str, subject: str | None, role: str | None,
                     json: Any) -> tuple[httpx.Response, AsyncIterator[bytes]]:
        # An XLSX workbook is only sent once written (openpyxl needs the whole file): allow long
        # silences between chunks of an export, unlike ordinary calls.
        request = self.http.build_request("POST", path, content=dumps(json), headers=self._headers(org_id, subject, role),
                                          timeout=httpx.Timeout(EXPORT_READ_TIMEOUT, connect=5))
        response = await self.http.send(request, stream=True)
        if response.status_code >= 400:
            await response.aread()
            await response.aclose()
            self._result(response.status_code, response.content)

        async def body() -> AsyncIterator[bytes]:
            try:
                async for chunk in response.aiter_raw():
                    yield chunk
            finally:
                await response.aclose()

        return response, body()

    async def aclose(self) -> None:
        await self.http.aclose()
        if self._session is not None:
            await self._session.close()
