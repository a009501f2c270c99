"""Starlette helpers shared by every HTTP process: JSON, errors, request ids, health."""

from __future__ import annotations

import gc
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import logging as slog
from shared.errors import ErrorCode
from shared.health import Readiness

logger = logging.getLogger("http")


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):  # asyncpg's UUID subclass, which orjson does not take natively
        return str(value)
    raise TypeError


def dumps(content: Any) -> bytes:
    return orjson.dumps(content, default=_default, option=orjson.OPT_NON_STR_KEYS)


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


def error(status: int, code: str, message: str, field: str | None = None, **extra: Any) -> JSON:
    return JSON({"error": {"code": code, "message": message, "field": field, **extra}}, status_code=status)


def validation_error(exc: ValidationError, prefix: str = "") -> JSON:
    """422 naming every field that failed and why; the first one also in `field` and `message`."""
    errors: list[dict[str, str | None]] = []
    for e in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in e["loc"] if p != "__root__")
        errors.append({"field": f"{prefix}{loc}" if loc else prefix.rstrip(".") or None, "message": e["msg"]})
    field, reason = (errors[0]["field"], errors[0]["message"] or "invalid") if errors else (None, "invalid input")
    return error(422, ErrorCode.INVALID_INPUT, f"{field}: {reason}" if field else reason, field, errors=errors)


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadJSON() from None


class BadJSON(Exception):
    pass


class RequestContext:
    """ASGI middleware: request id (taken from X-Request-Id or made), access log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = None
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                rid = value.decode("latin-1")[:100]
                break
        rid = rid or uuid.uuid4().hex
        token = slog.request_id.set(rid)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            # 429s and 503s are refusals the process chose (over a limit, a dependency down, overloaded): the cause
            # is logged once per interval where it is known, and counted in the metrics, so they add no
            # line per request (an outage would otherwise write one per request).
            quiet = status in (429, 503) and not logger.isEnabledFor(logging.DEBUG)
            if (
                scope["path"] not in _QUIET_PATHS
                and not quiet
                and (status >= 400 or logger.isEnabledFor(logging.DEBUG))
            ):
                slog.log(
                    logger,
                    logging.INFO if status < 500 or status == 503 else logging.ERROR,
                    "request",
                    method=scope["method"],
                    path=redact_path(scope["path"]),
                    status=status,
                    ms=round((time.perf_counter() - started) * 1000, 1),
                )
            slog.request_id.reset(token)


_QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# Paths whose last segment is a credential (a signed export link): logged without it.
_SECRET_PATH_PREFIXES = ("/exports/",)


def redact_path(path: str) -> str:
    """`path` fit for a log line: a bearer token in the URL is replaced by `<redacted>`."""
    for prefix in _SECRET_PATH_PREFIXES:
        if path.startswith(prefix):
            return prefix + "<redacted>"
    return path


def health_routes(ready: Callable[[], Awaitable[object]], *, bound: float | None = None) -> list[Any]:
    """`/healthz` (the process answers), `/readyz` and `/metrics`.

    `ready` raises (or returns False) when the process cannot serve; `/readyz` answers within `bound`
    seconds (READINESS_TIMEOUT_MS) whatever it does, sharing one probe among concurrent calls
    (`shared.health.Readiness`). `ready` should answer from the process's own state (a recent
    success) and never queue behind a saturated pool or upstream.
    """
    from starlette.routing import Route

    from shared.metrics import metrics_route

    readiness = Readiness(ready, bound=bound)

    async def healthz(request: Request) -> Response:
        return JSON({"status": "ok"})

    async def readyz(request: Request) -> Response:
        reason = await readiness.check()
        if reason is not None:
            return JSON({"status": "unavailable", "reason": reason}, status_code=503)
        return JSON({"status": "ok"})

    return [Route("/healthz", healthz), Route("/readyz", readyz), metrics_route()]


def tune_gc() -> None:
    """Fewer, cheaper garbage collections for a request-serving process.

    Request handling (GraphQL execution above all) allocates thousands of small, partly cyclic
    objects per request, so the default generation-0 threshold (700) runs the collector many
    times per request. Start-up objects are frozen out of collection and young collections run
    less often; every generation is still collected, so memory stays bounded (../shared/design/PERFORMANCE.md:
    disabling the collector leaks)."""
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, 20, 20)


GC_GEN0_THRESHOLD = 20_000


def page_policy(style_nonce: str | None = None) -> str:
    """The Content-Security-Policy of the platform's HTML pages built from web/ (the development GraphiQL
    page; the partner dashboard next).

    Scripts, styles, fonts, images and requests from this origin only, nothing from any other; no inline
    script at all (the pages' configuration travels as JSON in a `<meta>` element). `data:` only for the
    images and fonts bundled into the CSS. Inline `<style>` elements only with this answer's `style_nonce`,
    which the page hands to the one library that creates them (Radix's scroll lock, through
    `__webpack_nonce__`); inline `style` attributes never.
    """
    styles = f"'self' 'nonce-{style_nonce}'" if style_nonce else "'self'"
    return (
        f"default-src 'self'; script-src 'self'; style-src {styles}; img-src 'self' data:; font-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


_PAGE_POLICY = page_policy().encode()


class SecurityHeaders:
    """ASGI middleware: the security headers every answer carries (OWASP ASVS V14.4).

    `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer` (unless the
    route set its own), HSTS when the request came over TLS (directly or through a proxy saying so), and a
    Content-Security-Policy: API answers get `default-src 'none'; frame-ancestors 'none'`; an HTML page
    keeps the policy its route set (the documentation page sets one for its inline styles, the web pages
    `page_policy` with their nonce) and otherwise gets `page_policy()`: this origin only, no inline script.
    """

    API_POLICY = b"default-src 'none'; frame-ancestors 'none'"

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tls = scope.get("scheme") == "https" or any(
            k == b"x-forwarded-proto" and v.split(b",")[0].strip() == b"https" for k, v in scope["headers"]
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                html = any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in headers)
                extra = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY")]
                if b"referrer-policy" not in present:
                    extra.append((b"referrer-policy", b"no-referrer"))
                if b"content-security-policy" not in present:
                    extra.append((b"content-security-policy", _PAGE_POLICY if html else self.API_POLICY))
                if tls:
                    extra.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
                message["headers"] = headers + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """ASGI middleware: request bodies are capped while they are read, whatever `Content-Length` says.

    A declared length over the cap is answered 413 before a byte of the body is read; a body that runs
    past the cap while streaming (chunked, or longer than declared) is answered 413 the moment it does,
    and the rest is never read: no route ever buffers more than its cap (OWASP ASVS V13.1.3).
    `limits` maps path prefixes to caps (first match wins); other paths get `default`.
    """

    def __init__(self, app: ASGIApp, limits: Sequence[tuple[str, int]] = (), default: int = 64 * 1024) -> None:
        self.app, self.limits, self.default = app, tuple(limits), default

    def limit_for(self, path: str) -> int:
        for prefix, cap in self.limits:
            if path.startswith(prefix):
                return cap
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.limit_for(scope["path"])
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and (not declared.strip().isdigit() or int(declared) > cap):
            await _too_large(cap)(scope, receive, send)
            return
        received = 0
        refused = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    refused = True
                    if not started:
                        await _too_large(cap)(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 is the answer; the route's own (to a "disconnect") is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not refused:
                raise  # a route that stopped because its body was cut off is not a fault


def _too_large(cap: int) -> JSON:
    response = error(413, ErrorCode.TOO_LARGE, f"request body over {cap // 1024} KiB")
    response.headers["connection"] = "close"
    return response
