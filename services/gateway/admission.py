"""Admission control: a burst from one user, organisation or integration must not starve everyone else.

Two layers, both answered at once instead of queued (a queue in front of a saturated process only
turns overload into latency for everybody, and the caller cannot tell it from an outage):

- `InFlightLimit`, an ASGI middleware: at most `GATEWAY_MAX_IN_FLIGHT` requests in progress in this
  process; over it, `503 OVERLOADED` with `Retry-After`. Health probes, metrics scrapes and export
  downloads are never counted or refused (probes must answer under any load; downloads last minutes and
  have their own cap in `clients.py`).
- `Admission`, after authentication (the viewer's subject and organisation, or the integration key, are
  known then): per key, a cap on requests running at once and a token bucket (rate per second, burst);
  over either, `429 RATE_LIMITED` with `Retry-After`. GraphQL is limited per user and per organisation,
  REST `/v1` per integration key.

A burst must also be cheap to refuse. Before authentication, GraphQL requests are counted per access
token against the user's concurrency (`credentials`), so a client hammering with one token is refused
without verifying its token or asking the orders service for its memberships; and requests with the
same token that do need authenticating share one authentication (`authenticate_once`), so the moment a
cached viewer expires costs one membership call, not one per waiting request.

Where each limit lives. The RATES of integration keys and provider paths are shared by every gateway
replica: one token bucket per caller in Redis (`shared/rate_limit.py`, keyed by a SHA-256 prefix, never
the raw API key), so the rate an integration or a provider gets does not grow with the number of
replicas. That check is one round trip with a short deadline (`RATE_LIMIT_REDIS_TIMEOUT_MS`); when
Redis is down or slow each process falls back to its own bucket at the same rate (fail open to the
local limit: during an outage N replicas admit up to N times the rate, and no request fails for it),
the outage is logged once per interval and Redis is tried again by itself. Everything else stays in
this process's memory:

- Concurrency caps are a property of one process (what it is running now); a shared counter would need
  leases to survive a crashed replica, and the cap protects this process, not the platform.
- GraphQL per-user and per-organisation limits: the user's concurrency is the protection that matters
  (a dashboard sends few requests at once), the rate is fairness between the screens of one session,
  and a Redis round trip before every dashboard request (refused ones too, before authentication)
  would put a dependency on the path of every screen for no contract anyone relies on.
- Per-source-address limits are a flood guard in front of routes anyone may call: they must cost
  nothing and keep working when Redis is what is under pressure, and a shared bucket keyed by
  addresses a flood chooses would let the flood write keys into Redis.

Refusing stays cheap: a caller already over its concurrency in this process is refused before any
Redis call, and once Redis said a bucket is empty for `w` seconds this process refuses that caller
locally until then (buckets refill only with time, so no replica can have a token earlier); a caller
hammering through its Retry-After costs one Redis call per refill, not one per request. Every slot
taken is given back exactly once, on every path (answer, error, cancellation when the client goes
away): `Ticket.release` is idempotent and is called from `finally`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from shared import logging as slog
from shared.config import Settings
from shared.errors import ErrorCode
from shared.http import JSON, error
from shared.rate_limit import SharedBuckets, bucket_key

logger = logging.getLogger("gateway.admission")

T = TypeVar("T")

Clock = Callable[[], float]

# Idle keys (no request running, bucket full again) are forgotten on a sweep: at most once a minute, or
# once a second while there are more than MAX_KEYS of them (callers inventing keys cannot grow memory).
SWEEP_SECONDS = 60.0
MAX_KEYS = 50_000
# Refusals are summed up in one WARNING per interval, never one line each (a burst is thousands a second).
LOG_INTERVAL_SECONDS = 10.0
# A caller that keeps sending while told to wait (Retry-After) gets its refusals after a pause: after
# FREE_REFUSALS refusals within one Retry-After (a dashboard's parallel requests are answered at once),
# each further one is held until that Retry-After ends, at most MAX_HOLD_SECONDS. A held refusal costs no
# CPU and no in-flight slot, and a client that ignores Retry-After is slowed to the pace it was asked for
# instead of taking the process's CPU with refusals (measured: 2,500 refusals a second took 0.6 core).
FREE_REFUSALS = 8
MAX_HOLD_SECONDS = 1.0
# Paths never counted by the in-flight cap: probes and scrapes, and downloads (long, capped in clients.py).
EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
EXEMPT_PREFIXES = ("/exports/",)
# Where InFlightLimit leaves the function that gives a request's in-flight slot back early (idempotent).
IN_FLIGHT_RELEASE = "gateway.in_flight_release"


@dataclass(frozen=True)
class Limits:
    """One kind of caller's limits; 0 turns a limit off."""

    concurrency: int
    rate: float  # tokens per second
    burst: int  # bucket size: how many requests may come at once after a quiet spell


class TokenBucket:
    """`burst` tokens, refilled at `rate` per second; a request takes one."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate, self.burst = rate, float(max(burst, 1))
        self.tokens, self.stamp = self.burst, now

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def take(self, now: float) -> float:
        """0 when a token was taken; otherwise the seconds until one will be there (nothing taken)."""
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate

    def give_back(self) -> None:
        """Returns a token taken for a request that another limit then refused."""
        self.tokens = min(self.burst, self.tokens + 1.0)

    def full(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.burst


class _Entry:
    __slots__ = ("active", "bucket", "empty_until", "refused", "refused_until")

    def __init__(self, bucket: TokenBucket | None) -> None:
        self.active = 0
        self.bucket = bucket  # with shared buckets, used only while Redis does not answer
        self.empty_until = 0.0  # the shared bucket has no token before this (refused locally until then)
        self.refused = 0  # refusals since the last Retry-After given to this key began
        self.refused_until = 0.0  # when that Retry-After ends

    def refuse(self, now: float, retry_after: int) -> float:
        """Counts a refusal; returns how long to hold it back (0 unless the caller ignores Retry-After)."""
        if now >= self.refused_until:
            self.refused, self.refused_until = 0, now + retry_after
        self.refused += 1
        if self.refused <= FREE_REFUSALS:
            return 0.0
        return min(self.refused_until - now, MAX_HOLD_SECONDS)


@dataclass(frozen=True)
class Refusal:
    """Why a request was not admitted, and when to come back (whole seconds, as `Retry-After` wants)."""

    status: int
    code: ErrorCode
    message: str
    retry_after: int
    hold: float = 0.0  # seconds to wait before answering (a caller ignoring Retry-After)

    def response(self) -> Response:
        """The gateway's JSON error body, with `Retry-After`."""
        answer: JSON = error(self.status, self.code, self.message, retryAfter=self.retry_after)
        answer.headers["retry-after"] = str(self.retry_after)
        return answer

    async def held(self, scope: Scope) -> None:
        """Waits out `hold`, having first given back this request's in-flight slot (a pause takes none)."""
        if self.hold > 0:
            release = scope.get(IN_FLIGHT_RELEASE)
            if release is not None:
                release()
            await asyncio.sleep(self.hold)

    async def answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.held(scope)
        await self.response()(scope, receive, send)


def _seconds(wait: float) -> int:
    return max(1, math.ceil(wait))


class Ticket:
    """The slots one admitted request holds; `release` gives them back once, however often it is called."""

    __slots__ = ("_entries",)

    def __init__(self, entries: Sequence[_Entry]) -> None:
        self._entries: Sequence[_Entry] = entries

    def release(self) -> None:
        entries, self._entries = self._entries, ()
        for entry in entries:
            entry.active -= 1


class Limiter:
    """Concurrency and a token bucket per key of one kind (`user`, `organisation`, `integration key`)."""

    def __init__(self, kind: str, limits: Limits, clock: Clock = time.monotonic) -> None:
        self.kind, self.limits, self.clock = kind, limits, clock
        self.entries: dict[str, _Entry] = {}
        self.refused: Counter[str] = Counter()
        self._swept = clock()

    def entry(self, key: str, now: float) -> _Entry:
        found = self.entries.get(key)
        if found is None:
            self._sweep(now)
            bucket = TokenBucket(self.limits.rate, self.limits.burst, now) if self.limits.rate > 0 else None
            found = self.entries[key] = _Entry(bucket)
        return found

    def active(self, key: str) -> int:
        """Requests of `key` running now (tests and diagnostics)."""
        found = self.entries.get(key)
        return found.active if found else 0

    def in_use(self) -> int:
        """Slots held over every key: 0 whenever nothing is running (no leak)."""
        return sum(e.active for e in self.entries.values())

    def _sweep(self, now: float) -> None:
        due = SWEEP_SECONDS if len(self.entries) < MAX_KEYS else 1.0
        if now - self._swept < due:
            return
        self._swept = now
        idle = [k for k, e in self.entries.items() if e.active == 0 and (e.bucket is None or e.bucket.full(now))]
        for k in idle:
            del self.entries[k]


def admit(checks: Sequence[tuple[Limiter, str]], now: float | None = None) -> Ticket | Refusal:
    """Admits a request against every (limiter, key) at once, or refuses it taking nothing.

    Runs without an await, so on the event loop it is atomic: no two requests can both take the
    last slot.
    """
    if not checks:
        return Ticket(())
    now = checks[0][0].clock() if now is None else now
    entries = [limiter.entry(key, now) for limiter, key in checks]
    for (limiter, key), entry in zip(checks, entries, strict=True):
        if 0 < limiter.limits.concurrency <= entry.active:
            return _busy(limiter, key, entry, now)
    taken: list[TokenBucket] = []
    for (limiter, key), entry in zip(checks, entries, strict=True):
        if entry.bucket is None:
            continue
        wait = entry.bucket.take(now)
        if wait > 0:
            for bucket in taken:
                bucket.give_back()
            return _too_fast(limiter, key, entry, now, wait)
        taken.append(entry.bucket)
    for entry in entries:
        entry.active += 1
    return Ticket(entries)


async def admit_shared(limiter: Limiter, key: str, shared: SharedBuckets) -> Ticket | Refusal:
    """Admits one caller's request: its concurrency in this process, its rate in the shared bucket `key`
    (this process's own bucket while Redis does not answer). Over the concurrency, or while the shared
    bucket is known to be empty, it is refused without a Redis call."""
    now = limiter.clock()
    entry = limiter.entry(key, now)
    if 0 < limiter.limits.concurrency <= entry.active:
        return _busy(limiter, key, entry, now)
    if entry.bucket is not None and now < entry.empty_until:
        return _too_fast(limiter, key, entry, now, entry.empty_until - now)
    entry.active += 1  # taken before the await: requests being checked count against the cap
    ticket = Ticket((entry,))
    if entry.bucket is None:
        return ticket
    try:
        wait = await shared.take(key, limiter.limits.rate, limiter.limits.burst)
    except BaseException:
        ticket.release()  # cancelled while asking (the client went away)
        raise
    now = limiter.clock()
    if wait is None:  # Redis did not answer: this process's limit decides
        wait = entry.bucket.take(now)
    elif wait > 0:
        entry.empty_until = now + wait
    if wait > 0:
        ticket.release()
        return _too_fast(limiter, key, entry, now, wait)
    return ticket


def _busy(limiter: Limiter, key: str, entry: _Entry, now: float) -> Refusal:
    limiter.refused[key] += 1
    return Refusal(
        429,
        ErrorCode.RATE_LIMITED,
        f"too many requests in progress for this {limiter.kind} (at most {limiter.limits.concurrency} at once);"
        " retry shortly",
        1,
        entry.refuse(now, 1),
    )


def _too_fast(limiter: Limiter, key: str, entry: _Entry, now: float, wait: float) -> Refusal:
    limiter.refused[key] += 1
    retry_after = _seconds(wait)
    return Refusal(
        429,
        ErrorCode.RATE_LIMITED,
        f"too many requests for this {limiter.kind} (at most {limiter.limits.rate:g} a second,"
        f" {limiter.limits.burst} at once); retry after the delay in Retry-After",
        retry_after,
        entry.refuse(now, retry_after),
    )


class Admission:
    """This gateway process's limiters and in-flight count (kept in `app.state.admission`), and the shared
    buckets of the integration and provider rates (None: `RATE_LIMIT_SHARED=0` or no Redis configured)."""

    def __init__(self, settings: Settings, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.shared = SharedBuckets.from_settings(settings)
        self.max_in_flight = settings.gateway_max_in_flight
        self.in_flight = 0
        self.overloaded = 0  # requests refused by the in-flight cap since the last log line
        self.user = Limiter(
            "user",
            Limits(settings.graphql_user_concurrency, settings.graphql_user_rate, settings.graphql_user_burst),
            clock,
        )
        self.org = Limiter(
            "organisation",
            Limits(settings.graphql_org_concurrency, settings.graphql_org_rate, settings.graphql_org_burst),
            clock,
        )
        self.integration = Limiter(
            "integration key",
            Limits(settings.integration_concurrency, settings.integration_rate, settings.integration_burst),
            clock,
        )
        self.provider = Limiter(
            "provider",
            Limits(
                settings.webhook_provider_concurrency, settings.webhook_provider_rate, settings.webhook_provider_burst
            ),
            clock,
        )
        self.source = Limiter(
            "source address",
            Limits(settings.source_concurrency, settings.source_rate, settings.source_burst),
            clock,
        )
        # The same concurrency per access token, counted before authentication (refusals cost no verification).
        self.token = Limiter("user", Limits(settings.graphql_user_concurrency, 0, 0), clock)
        self._authenticating: dict[Hashable, asyncio.Task[Any]] = {}
        self._logged = clock()

    def credentials(self, authorization: str, org_hint: str | None) -> Ticket | Refusal:
        """A GraphQL request presenting this token (and organisation choice), before it is verified."""
        digest = hashlib.blake2b(f"{authorization}\n{org_hint}".encode(), digest_size=12).hexdigest()
        result = admit(((self.token, digest),), self.clock())
        self._maybe_log()
        return result

    async def authenticate_once(self, key: Hashable, authenticate: Callable[[], Awaitable[T]]) -> T:
        """`authenticate()`, shared by every request with the same `key` that arrives while it runs.

        A waiter that goes away does not cancel it for the others; its outcome (viewer or refusal) is
        everyone's, as it would be for each of them alone.
        """
        task = self._authenticating.get(key)
        if task is None:
            task = asyncio.ensure_future(authenticate())
            self._authenticating[key] = task
            task.add_done_callback(lambda done: self._authenticated(key, done))
        result: T = await asyncio.shield(task)
        return result

    def _authenticated(self, key: Hashable, task: asyncio.Task[Any]) -> None:
        if self._authenticating.get(key) is task:
            del self._authenticating[key]
        if not task.cancelled():
            task.exception()  # retrieved here too, in case every waiter went away

    def graphql(self, subject: str, org_id: str) -> Ticket | Refusal:
        """A GraphQL request of this user in this organisation (the user's limit holds in each of their orgs)."""
        result = admit(((self.user, f"{org_id}:{subject}"), (self.org, org_id)), self.clock())
        self._maybe_log()
        return result

    async def integration_key(self, api_key: str) -> Ticket | Refusal:
        """A REST call made with this integration key (held only as a hash, here and in Redis: keys are secrets)."""
        return await self._shared_rate(self.integration, bucket_key("integration", api_key))

    async def provider_webhook(self, public_id: str) -> Ticket | Refusal:
        """A webhook delivery to this provider's path, admitted before its provider is looked up."""
        return await self._shared_rate(self.provider, bucket_key("provider", public_id))

    async def _shared_rate(self, limiter: Limiter, key: str) -> Ticket | Refusal:
        if self.shared is None:
            result = admit(((limiter, key),), self.clock())
        else:
            result = await admit_shared(limiter, key, self.shared)
        self._maybe_log()
        return result

    async def aclose(self) -> None:
        """Closes the shared buckets' Redis connections (at the end of the app's lifespan)."""
        if self.shared is not None:
            await self.shared.aclose()

    def source_address(self, address: str) -> Ticket | Refusal:
        """A request to a route anyone may call (webhooks, export links), per client address, before any lookup."""
        result = admit(((self.source, address),), self.clock())
        self._maybe_log()
        return result

    def refuse_overloaded(self) -> Refusal:
        self.overloaded += 1
        self._maybe_log()
        return Refusal(
            503,
            ErrorCode.OVERLOADED,
            f"the gateway is at its limit of {self.max_in_flight} requests in progress; retry shortly",
            1,
        )

    def _maybe_log(self) -> None:
        """One WARNING per interval summing up the refusals, naming the busiest keys."""
        now = self.clock()
        if now - self._logged < LOG_INTERVAL_SECONDS:
            return
        seconds = now - self._logged
        self._logged = now
        fields: dict[str, object] = {}
        total = self.overloaded
        if self.overloaded:
            fields["overloaded"] = self.overloaded
        for limiter in (self.user, self.org, self.integration):
            if limiter.refused:
                total += sum(limiter.refused.values())
                fields[limiter.kind.replace(" ", "_")] = dict(limiter.refused.most_common(5))
            limiter.refused.clear()
        self.overloaded = 0
        if total:
            slog.log(logger, logging.WARNING, f"admission refused {total} requests in {seconds:.0f}s", **fields)


class InFlightLimit:
    """ASGI middleware: at most `admission.max_in_flight` requests in progress, the rest answered 503 at once."""

    def __init__(self, app: ASGIApp, admission: Admission) -> None:
        self.app, self.admission = app, admission

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        admission = self.admission
        if (
            scope["type"] != "http"
            or admission.max_in_flight <= 0
            or scope["path"] in EXEMPT_PATHS
            or scope["path"].startswith(EXEMPT_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        if admission.in_flight >= admission.max_in_flight:
            await admission.refuse_overloaded().response()(scope, receive, send)
            return
        admission.in_flight += 1
        counted = True

        def release() -> None:
            nonlocal counted
            if counted:
                counted = False
                admission.in_flight -= 1

        scope[IN_FLIGHT_RELEASE] = release
        try:
            await self.app(scope, receive, send)
        finally:
            release()


Endpoint = Callable[[Request], Awaitable[Response]]


TicketFor = Callable[[Request, Admission], Awaitable[Ticket | Refusal | None]]


def _admitted(handler: Endpoint, ticket_for: TicketFor) -> Endpoint:
    """`handler` behind an admission check: `ticket_for` admits the request (None: not limited here), a
    refusal is answered at once, and the slot is given back however the handler ends."""

    async def limited(request: Request) -> Response:
        ticket = await ticket_for(request, request.app.state.admission)
        if ticket is None:
            return await handler(request)
        if isinstance(ticket, Refusal):
            await ticket.held(request.scope)
            return ticket.response()
        try:
            return await handler(request)
        finally:
            ticket.release()

    limited.__name__ = limited.__qualname__ = handler.__name__
    limited.__doc__ = handler.__doc__
    return limited


async def _integration_ticket(request: Request, admission: Admission) -> Ticket | Refusal | None:
    auth = request.headers.get("authorization", "")
    key = auth[7:].strip() if auth.startswith("Bearer ") else request.headers.get("x-api-key")
    return await admission.integration_key(key) if key else None  # no key: the endpoint answers 401


def integration_limited(handler: Endpoint) -> Endpoint:
    """Wraps a REST `/v1` endpoint: its calls are admitted per integration key (its rate shared by replicas)."""
    return _admitted(handler, _integration_ticket)


def provider_limited(handler: Endpoint) -> Endpoint:
    """Wraps the provider webhook route: deliveries are admitted per provider path (rate shared by replicas,
    concurrency per process).

    Checked before any lookup, so a burst to one provider's path (or to made-up ones) is refused cheaply;
    providers retry refused deliveries (Standard Webhooks senders retry on 429 with Retry-After).
    """
    return _admitted(handler, _provider_ticket)


async def _provider_ticket(request: Request, admission: Admission) -> Ticket | Refusal | None:
    return await admission.provider_webhook(str(request.path_params["provider"])[:80])


async def _source_ticket(request: Request, admission: Admission) -> Ticket | Refusal | None:
    client = request.scope.get("client")
    return admission.source_address(str(client[0]) if client else "unknown")


def source_limited(handler: Endpoint) -> Endpoint:
    """Wraps a route callers reach without an account (provider webhooks, export links): admitted per client
    address first, so a flood from one address is refused before any lookup. Behind a proxy the address is
    the one uvicorn takes from the proxy's forwarded headers (`--proxy-headers`, `--forwarded-allow-ips`)."""
    return _admitted(handler, _source_ticket)
