"""The shared token bucket (shared/rate_limit.py) against the session's real Redis, and without it.

Redis going away is real too: a closed port (refused at once), a socket that accepts and never answers
(a hung Redis), and a small TCP relay in front of the session's Redis that the test switches off and on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis.asyncio as aioredis

from infra.embedded import free_port
from shared.rate_limit import SharedBuckets, bucket_key

LOGGER = "shared.rate_limit"


def fresh_key() -> str:
    return bucket_key("test", uuid.uuid4().hex)


@contextlib.asynccontextmanager
async def buckets(url: str, **options: Any) -> AsyncIterator[SharedBuckets]:
    shared = SharedBuckets(url, **options)
    try:
        yield shared
    finally:
        await shared.aclose()


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]


def test_bucket_keys_never_hold_the_caller() -> None:
    key = bucket_key("integration", "sk_live_secret")
    assert key.startswith("ratelimit:integration:") and "secret" not in key and len(key.split(":")[2]) == 32
    assert key == bucket_key("integration", "sk_live_secret") != bucket_key("provider", "sk_live_secret")


async def test_the_lua_bucket_takes_its_burst_refills_at_its_rate_and_expires_when_full(settings: Any) -> None:
    redis = aioredis.Redis.from_url(settings.redis_url)
    key = fresh_key()
    async with buckets(settings.redis_url) as shared:
        assert await shared.take(key, 4, 3) == 0.0
        state = await redis.hgetall(key)
        assert float(state[b"t"]) == pytest.approx(2.0)
        assert 0 < await redis.pttl(key) <= 250  # one token short of full: full again in 1/4 s

        assert [await shared.take(key, 4, 3) for _ in range(2)] == [0.0, 0.0]
        assert 500 < await redis.pttl(key) <= 750  # empty: full again in 3/4 s
        wait = await shared.take(key, 4, 3)
        assert wait is not None and 0.2 < wait <= 0.25  # the next token in at most 1/4 s
        assert float((await redis.hgetall(key))[b"t"]) < 0.2  # a refusal takes (and writes) nothing

        await asyncio.sleep(0.6)  # 2.4 tokens back
        assert [await shared.take(key, 4, 3) for _ in range(2)] == [0.0, 0.0]
        wait = await shared.take(key, 4, 3)
        assert wait is not None and 0.0 < wait <= 0.15

        await asyncio.sleep(0.8)  # full again: the key is gone, and a full bucket is what a missing key means
        assert await redis.exists(key) == 0
        assert [await shared.take(key, 4, 3) for _ in range(4)][:3] == [0.0, 0.0, 0.0]
        assert not shared.down
    await redis.aclose()


async def test_a_lower_burst_caps_what_a_bucket_held(settings: Any) -> None:
    """The bucket is the caller's, whatever the settings of the process asking: a smaller burst applies at once."""
    key = fresh_key()
    async with buckets(settings.redis_url) as shared:
        assert await shared.take(key, 1000, 2000) == 0.0
        assert await shared.take(key, 1, 2) == 0.0
        assert await shared.take(key, 1, 2) == 0.0
        assert (await shared.take(key, 1, 2) or 0) > 0.9


async def test_an_unreachable_redis_answers_none_at_once_and_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    async with buckets(f"redis://127.0.0.1:{free_port()}/0", retry=0.05) as shared:
        started = time.perf_counter()
        answers = []
        for _ in range(20):
            answers.append(await shared.take(fresh_key(), 10, 10))
            await asyncio.sleep(0.01)  # past the retry interval now and then: Redis is tried again
        assert answers == [None] * 20 and shared.down
        assert time.perf_counter() - started < 1.0
        assert len(warnings_of(caplog)) == 1
        assert "rate limits" in warnings_of(caplog)[0].getMessage()


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers: a hung Redis."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


async def test_a_hung_redis_costs_one_deadline_then_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    with silent_server() as port:
        async with buckets(f"redis://127.0.0.1:{port}/0", timeout=0.05, retry=10) as shared:
            started = time.perf_counter()
            assert await shared.take(fresh_key(), 10, 10) is None
            first = time.perf_counter() - started
            assert 0.04 < first < 0.25  # the deadline, not a socket's default timeout
            started = time.perf_counter()
            assert [await shared.take(fresh_key(), 10, 10) for _ in range(100)] == [None] * 100
            assert time.perf_counter() - started < 0.05  # known down: no request waits for it again
            assert len(warnings_of(caplog)) == 1


class Relay:
    """A TCP relay to the real Redis that can be switched off (connections cut, new ones refused) and on."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 6379
        self.up = True
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return f"redis://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/0"

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.close()
            return
        upstream_reader, upstream_writer = await asyncio.open_connection(self.host, self.port)
        self.writers |= {writer, upstream_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    def switch_off(self) -> None:
        self.up = False
        for writer in self.writers:
            writer.close()
        self.writers.clear()

    async def aclose(self) -> None:
        self.switch_off()
        if self.server is not None:
            self.server.close()


async def test_redis_coming_back_is_used_again_by_itself(settings: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    relay = Relay(settings.redis_url)
    url = await relay.start()
    key = fresh_key()
    try:
        async with buckets(url, retry=0.05) as shared:
            assert await shared.take(key, 1, 2) == 0.0
            relay.switch_off()
            assert await shared.take(key, 1, 2) is None and shared.down
            assert await shared.take(key, 1, 2) is None
            relay.up = True
            await asyncio.sleep(0.06)
            assert await shared.take(key, 1, 2) == 0.0  # the same bucket as before the outage
            assert not shared.down
            assert (await shared.take(key, 1, 2) or 0) > 0  # burst of 2 used up across the outage
            messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
            assert len(warnings_of(caplog)) == 1 and any("available again" in m for m in messages)
    finally:
        await relay.aclose()


async def test_concurrent_checks_share_the_pool_and_the_bucket(settings: Any) -> None:
    """Many checks at once (more than the pool's connections): exactly `burst` tokens are handed out."""
    key = fresh_key()
    async with buckets(settings.redis_url, timeout=1.0, max_connections=4) as shared:
        answers = await asyncio.gather(*(shared.take(key, 0.01, 25) for _ in range(60)))
        assert answers.count(0.0) == 25 and all(a is not None and a > 0 for a in answers if a != 0.0)
