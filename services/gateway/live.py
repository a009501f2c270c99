"""Live updates at the gateway: one Redis pub/sub connection per process, fanned out to subscriptions.

Services publish on `live.org.<org_id>` after a transaction commits (services/insights/service/live.py);
a message says only what changed (`kind`, event `types`), never a row. The hub subscribes to an
organisation's channel while at least one local subscription of that organisation exists (reference
counted), and hands each message to those subscriptions' mailboxes only: a subscription of organisation A
is registered under A's channel and can receive nothing else (the message's own `orgId` must agree too).

Each subscription has a mailbox that merges what arrived since it last looked (kinds, types, a count):
it holds at most one pending tick, so a slow subscriber loses intermediate ticks but never the fact that
something changed, and delivery never waits on a subscriber. Subscribers re-read their figures through
the services as their viewer, so a merged tick costs them nothing.

When Redis drops, the hub reconnects with back-off (0.1 s doubling to 5 s, jittered), subscribes again to
every channel it needs, and gives every mailbox a `resync` tick: messages published meanwhile are lost, so
subscribers re-read once. A connection silent for `PING_SECONDS` is pinged; one silent for twice that is
treated as dead (a half-open TCP connection gives no error of its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from shared import logging as slog

logger = logging.getLogger("gateway.live")

CHANNEL_PREFIX = "live.org."
PING_SECONDS = 15.0
BACKOFF_FIRST, BACKOFF_MAX = 0.1, 5.0
# How long a new subscription waits for Redis to confirm its channel before it goes on regardless (Redis
# down: it is subscribed on reconnection and gets the resync tick then).
CONFIRM_TIMEOUT = 2.0
# Distinct event types a pending tick remembers; beyond, the tick says "many" (types=None: anything changed).
MAX_TICK_TYPES = 64

# Caps (per gateway process; admission.py says why limits live in memory). A connection holds at most
# MAX_SUBSCRIPTIONS_PER_CONNECTION operations (strawberry's own cap).
MAX_CONNECTIONS_PER_PROCESS = 1_000  # below HTTP_MAX_CONCURRENCY (2,048), which counts WebSockets too
MAX_SUBSCRIPTIONS_PER_PROCESS = 5_000
MAX_SUBSCRIPTIONS_PER_USER = 20
MAX_SUBSCRIPTIONS_PER_CONNECTION = 10


def channel(org_id: UUID | str) -> str:
    return f"{CHANNEL_PREFIX}{org_id}"


@dataclass
class Tick:
    """What changed since the subscriber last looked: message kinds (`events`, `orders`, `resync`), event
    types (None: too many to list, treat as anything), and how many messages were merged."""

    kinds: set[str] = field(default_factory=set)
    types: set[str] | None = field(default_factory=set)
    messages: int = 0

    def merge(self, kind: str, types: list[str] | None) -> None:
        self.kinds.add(kind)
        self.messages += 1
        if self.types is None:
            return
        if types is None:
            self.types = None
            return
        self.types.update(types)
        if len(self.types) > MAX_TICK_TYPES:
            self.types = None

    def absorb(self, other: Tick) -> None:
        self.kinds |= other.kinds
        self.messages += other.messages
        if self.types is not None and other.types is not None:
            self.types |= other.types
            if len(self.types) > MAX_TICK_TYPES:
                self.types = None
        else:
            self.types = None


class Mailbox:
    """One subscription's pending tick: at most one, merged, so delivery never blocks and memory is bounded."""

    def __init__(self, org_id: str) -> None:
        self.org_id = org_id
        self._pending: Tick | None = None
        self._ready = asyncio.Event()

    def offer(self, kind: str, types: list[str] | None) -> None:
        if self._pending is None:
            self._pending = Tick()
        self._pending.merge(kind, types)
        self._ready.set()

    def take(self) -> Tick | None:
        """The pending tick, if any, without waiting."""
        tick, self._pending = self._pending, None
        self._ready.clear()
        return tick

    async def next(self) -> Tick:
        while True:
            await self._ready.wait()
            tick = self.take()
            if tick is not None:
                return tick


class LiveHub:
    """The process's one pub/sub connection and its subscribers (see the module's docstring)."""

    def __init__(self, redis_url: str, *, client_name: str | None = None) -> None:
        self.client_name = client_name or f"gateway-live-{os.getpid()}-{id(self):x}"
        self._redis_url = redis_url
        self._pool_made: ConnectionPool | None = None  # made at the first subscription (see `_pool`)
        self._mailboxes: dict[str, set[Mailbox]] = {}  # channel -> its local subscriptions
        self._confirmed: dict[str, asyncio.Event] = {}  # channels Redis has confirmed on this connection
        self._active: set[str] = set()  # channels asked for on this connection
        self._changed = asyncio.Event()  # the wanted channels changed: the writer reconciles
        self._connected = asyncio.Event()
        self._conn: AbstractConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.reconnections = 0
        self.connections = 0  # live WebSocket connections of this process (live_connection.py counts them)

    @property
    def _pool(self) -> ConnectionPool:
        """The pub/sub connection's pool, made on first use: a gateway that serves no subscription never needs
        Redis for live updates (and a URL that is unset or malformed fails the subscription, not the start)."""
        if self._pool_made is None:
            self._pool_made = ConnectionPool.from_url(
                self._redis_url,
                client_name=self.client_name,
                socket_connect_timeout=2.0,
                socket_keepalive=True,
                retry=Retry(NoBackoff(), 0),  # the hub reconnects itself, and resubscribes
            )
        return self._pool_made

    # -- subscribers

    @contextlib.asynccontextmanager
    async def listen(self, org_id: str) -> AsyncIterator[Mailbox]:
        """A mailbox receiving `org_id`'s messages while the block runs; on entry Redis has confirmed the
        channel (or `CONFIRM_TIMEOUT` passed: Redis is down and the subscription joins on reconnection)."""
        if self._closed:
            raise RuntimeError("the live hub is closed")
        name = channel(UUID(org_id))
        box = Mailbox(str(UUID(org_id)))
        boxes = self._mailboxes.setdefault(name, set())
        boxes.add(box)
        if len(boxes) == 1:
            self._changed.set()
        self._start()
        try:
            confirmed = self._confirmed.setdefault(name, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(confirmed.wait(), CONFIRM_TIMEOUT)
            yield box
        finally:
            boxes.discard(box)
            if not boxes:
                self._mailboxes.pop(name, None)
                self._changed.set()

    def subscriptions(self) -> int:
        return sum(len(b) for b in self._mailboxes.values())

    def channels(self) -> set[str]:
        return set(self._mailboxes)

    # -- lifecycle

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="gateway-live-hub")

    async def aclose(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._drop_connection()
        if self._pool_made is not None:
            await self._pool_made.disconnect()

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        self._connected.clear()
        self._active.clear()
        for event in self._confirmed.values():
            event.clear()
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.disconnect(nowait=True)

    async def _run(self) -> None:
        """Connect, subscribe, read; on any failure drop the connection and start again after a back-off."""
        delay = BACKOFF_FIRST
        first = True
        while not self._closed:
            writer: asyncio.Task[None] | None = None
            try:
                conn = self._pool.make_connection()
                await conn.connect()
                self._conn = conn
                self._connected.set()
                if not first:
                    self.reconnections += 1
                    slog.dependency_available(logger, "redis (live updates)")
                    self._resync()
                first, delay = False, BACKOFF_FIRST
                writer = asyncio.create_task(self._write(conn), name="gateway-live-hub-writer")
                await self._read(conn, writer)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, ValueError) as exc:
                slog.dependency_unavailable(logger, "redis (live updates)", type(exc).__name__)
            finally:
                if writer is not None:
                    writer.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await writer
                await self._drop_connection()
            if self._closed:
                return
            first = False
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, BACKOFF_MAX)

    async def _write(self, conn: AbstractConnection) -> None:
        """Keeps the connection's channels equal to the wanted ones (the only task that sends commands
        besides the reader's pings, so subscribe and unsubscribe never interleave out of order)."""
        while True:
            self._changed.clear()
            wanted = set(self._mailboxes)
            add, remove = sorted(wanted - self._active), sorted(self._active - wanted)
            if add:
                self._active.update(add)
                await conn.send_command("SUBSCRIBE", *add, check_health=False)
            if remove:
                self._active.difference_update(remove)
                for name in remove:
                    self._confirmed.pop(name, None)
                await conn.send_command("UNSUBSCRIBE", *remove, check_health=False)
            await self._changed.wait()

    async def _read(self, conn: AbstractConnection, writer: asyncio.Task[None]) -> None:
        last_heard = time.monotonic()
        while True:
            if writer.done():
                writer.result()  # a failed send: raise it here, where the connection is replaced
                raise ConnectionError("live hub writer stopped")
            response = await conn.read_response(timeout=PING_SECONDS, push_request=True)
            now = time.monotonic()
            if response is None:
                if now - last_heard > 2 * PING_SECONDS:
                    raise ConnectionError(f"no answer from Redis for {now - last_heard:.0f} s")
                await conn.send_command("PING", check_health=False)
                continue
            last_heard = now
            self._handle(response)

    def _handle(self, response: Any) -> None:
        if not isinstance(response, list) or not response:
            return
        kind = _text(response[0])
        if kind == "subscribe" and len(response) >= 2:
            name = _text(response[1])
            self._confirmed.setdefault(name, asyncio.Event()).set()
        elif kind == "message" and len(response) >= 3:
            self._deliver(_text(response[1]), response[2])

    def _deliver(self, name: str, data: Any) -> None:
        boxes = self._mailboxes.get(name)
        if not boxes:
            return
        try:
            message = json.loads(data)
            kind = message["kind"]
            types = message.get("types")
            org_id = str(UUID(str(message["orgId"])))
            if not isinstance(kind, str) or (types is not None and not isinstance(types, list)):
                raise ValueError("kind or types of the wrong type")
        except (ValueError, KeyError, TypeError) as exc:
            slog.log(logger, logging.WARNING, "live message dropped: not understood", channel=name, error=str(exc))
            return
        if channel(org_id) != name:
            # Never hand an organisation's subscribers a message that names another organisation.
            slog.log(logger, logging.WARNING, "live message dropped: orgId differs from its channel", channel=name)
            return
        for box in list(boxes):
            box.offer(kind, [str(t) for t in types] if types is not None else None)

    def _resync(self) -> None:
        """After a reconnection: whatever was published meanwhile is lost, so every subscriber re-reads."""
        for boxes in self._mailboxes.values():
            for box in list(boxes):
                box.offer("resync", None)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class SubscriptionSlots:
    """Counts live subscriptions per user and per process; `acquire` refuses beyond the caps."""

    def __init__(
        self, per_user: int = MAX_SUBSCRIPTIONS_PER_USER, per_process: int = MAX_SUBSCRIPTIONS_PER_PROCESS
    ) -> None:
        self.per_user, self.per_process = per_user, per_process
        self._by_user: dict[str, int] = {}
        self.total = 0

    def acquire(self, subject: str) -> str | None:
        """None when taken, else why not (the refusal's message)."""
        if self.total >= self.per_process:
            return f"this gateway serves {self.per_process} live subscriptions already; try again later"
        held = self._by_user.get(subject, 0)
        if held >= self.per_user:
            return f"at most {self.per_user} live subscriptions per user"
        self._by_user[subject] = held + 1
        self.total += 1
        return None

    def release(self, subject: str) -> None:
        held = self._by_user.get(subject, 0)
        if held <= 1:
            self._by_user.pop(subject, None)
        else:
            self._by_user[subject] = held - 1
        self.total = max(0, self.total - 1)
