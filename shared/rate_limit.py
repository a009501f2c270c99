"""A token bucket shared by every process through Redis: a rate that holds across replicas.

One Lua script does the whole check atomically in Redis (`register_script`: EVALSHA, loaded again by
the client if Redis forgot it): refill from the time elapsed, take a token or say how long until one
will be there. The time is Redis's own (`TIME`, inside the script), so the replicas' clocks do not
matter. A refusal writes nothing; a token taken sets the key to expire once the bucket would be full
again, so an idle caller leaves nothing behind and a full bucket is the same as no key.

Redis must never fail or slow down a request because of a limit: every check has a short deadline
(`RATE_LIMIT_REDIS_TIMEOUT_MS`, 50 ms by default: connection, pool wait and command together), and a
check that fails or misses it answers `None`, "no shared answer": the caller applies its own
in-process limit instead (fail open to the local limit). Once a check failed, the following ones do
not try Redis for `retry` seconds (one probe at a time after that), so an outage costs each request
nothing, not a timeout; the outage is logged once per interval (`dependency_unavailable`) and the
recovery once (`dependency_available`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from shared import logging as slog
from shared.config import Settings

logger = logging.getLogger("shared.rate_limit")

# KEYS[1]: the bucket (a hash: `t` tokens, `s` when they were counted, Redis time in seconds).
# ARGV[1]: rate (tokens a second, > 0); ARGV[2]: burst (bucket size, >= 1).
# Returns the seconds to wait as a string ("0" when a token was taken): Redis would truncate a Lua number.
SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 't', 's')
local tokens = tonumber(state[1])
local stamp = tonumber(state[2])
if tokens == nil or stamp == nil then
  tokens, stamp = burst, now
elseif now > stamp then
  tokens = math.min(burst, tokens + (now - stamp) * rate)
  stamp = now
else
  tokens = math.min(burst, tokens)
end
if tokens < 1 then
  return string.format('%.6f', (1 - tokens) / rate)
end
tokens = tokens - 1
redis.call('HSET', KEYS[1], 't', string.format('%.6f', tokens), 's', string.format('%.6f', stamp))
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((burst - tokens) / rate * 1000)))
return '0'
"""

# Connections one process opens for its checks: a check takes well under a millisecond, so a few dozen
# carry thousands a second; beyond that a check waits for one (within its deadline).
MAX_CONNECTIONS = 32

Clock = Callable[[], float]


def bucket_key(kind: str, caller: str) -> str:
    """`ratelimit:<kind>:<sha256 prefix>`: callers' identities (API keys are secrets) never appear in Redis."""
    return f"ratelimit:{kind}:{hashlib.sha256(caller.encode()).hexdigest()[:32]}"


class SharedBuckets:
    """Token buckets in one Redis, checked with one round trip each; `None` when Redis did not answer."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 0.05,
        retry: float = 1.0,
        warning_interval: float = 10.0,
        max_connections: int = MAX_CONNECTIONS,
        clock: Clock = time.monotonic,
    ) -> None:
        self.timeout, self.retry, self.warning_interval, self.clock = timeout, retry, warning_interval, clock
        self.pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )
        self.client = aioredis.Redis(connection_pool=self.pool)
        self.script = self.client.register_script(SCRIPT)
        parts = urlsplit(url)
        self.dependency = f"Redis at {parts.hostname or '?'}:{parts.port or 6379} (rate limits)"
        self.down = False  # the last check failed: checks skip Redis until `retry_at`
        self.retry_at = 0.0
        self._probing = False

    @classmethod
    def from_settings(cls, settings: Settings) -> SharedBuckets | None:
        """The buckets the settings ask for: none when `RATE_LIMIT_SHARED=0` or no Redis URL is set."""
        url = settings.rate_limit_redis_url or settings.redis_url
        if not settings.rate_limit_shared or not url:
            return None
        return cls(
            url,
            timeout=settings.rate_limit_redis_timeout_ms / 1000,
            retry=settings.rate_limit_redis_retry_ms / 1000,
            warning_interval=float(settings.dependency_warning_seconds),
        )

    async def take(self, key: str, rate: float, burst: int) -> float | None:
        """Takes a token from bucket `key` (`rate` a second, `burst` at most): 0.0 when taken, otherwise the
        seconds until one will be there (nothing taken); `None` when Redis did not answer within the deadline
        or is known to be down (the caller applies its local limit)."""
        if self.down:
            if self._probing or self.clock() < self.retry_at:
                return None
            self._probing = True  # one check at a time finds out whether Redis is back
        try:
            async with asyncio.timeout(self.timeout):
                answer = await self.script(keys=[key], args=[repr(float(rate)), max(int(burst), 1)])
            wait = float(answer)
        except (RedisError, OSError, TimeoutError, ValueError) as exc:
            self._failed(exc)
            return None
        finally:
            self._probing = False
        if self.down:
            self.down = False
            slog.dependency_available(logger, self.dependency)
        return wait

    def _failed(self, exc: BaseException) -> None:
        self.down, self.retry_at = True, self.clock() + self.retry
        cause: BaseException | str = exc if str(exc) else f"no answer within {self.timeout * 1000:g} ms"
        slog.dependency_unavailable(logger, self.dependency, cause, interval=self.warning_interval)

    async def aclose(self) -> None:
        """Closes the connections (the pool opens new ones if used again)."""
        await self.pool.disconnect()
