"""Verification of dashboard users' OIDC access tokens against the issuer's JWKS.

Only asymmetric algorithms are accepted (no `none`, no HS256 signed with a public key);
`iss`, `aud` and `exp` are required and compared exactly. Keys are cached by `kid`; an
unknown `kid` triggers at most one JWKS refresh per interval (single flight, awaited on
the event loop, never blocking it), so a key the issuer newly publishes is accepted
without a restart while a flood of made-up kids cannot hammer the issuer. The keys are
also re-fetched once they are `max_age_seconds` old, so a key the issuer withdraws stops
being accepted.

The JWKS is fetched with aiohttp, the one HTTP client library of the production processes.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import jwt
import orjson
from jwt import PyJWK

ALLOWED_ALGORITHMS = {"RS256": "RSA", "ES256": "EC"}
FETCH_TIMEOUT = aiohttp.ClientTimeout(total=5)


class InvalidToken(Exception):
    pass


class JwksVerifier:
    def __init__(
        self,
        *,
        jwks_url: str,
        issuer: str,
        audience: str,
        min_refresh_seconds: float = 30,
        leeway_seconds: float = 30,
        max_age_seconds: float = 3600,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.jwks_url, self.issuer, self.audience = jwks_url, issuer, audience
        self.min_refresh_seconds, self.leeway = min_refresh_seconds, leeway_seconds
        # Known keys are re-fetched at least this often, so a key the issuer withdraws (e.g. after
        # a compromise) stops being trusted even if no token with an unknown kid ever arrives.
        self.max_age_seconds = max_age_seconds
        # Made on first use when not given: aiohttp binds a session to the running event loop.
        # A session passed in (tests count fetches with a trace config) is closed by `aclose` too.
        self._session = session
        self._keys: dict[str, PyJWK] = {}
        self._last_refresh = float("-inf")
        self._lock = asyncio.Lock()

    async def _refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._last_refresh < self.min_refresh_seconds:
                return
            self._last_refresh = time.monotonic()
            try:
                if self._session is None:
                    self._session = aiohttp.ClientSession(timeout=FETCH_TIMEOUT)
                # Redirects are not followed: the JWKS is read from exactly the configured URL.
                async with self._session.get(self.jwks_url, timeout=FETCH_TIMEOUT, allow_redirects=False) as response:
                    if not 200 <= response.status < 300:
                        return  # an error page or a redirect: keep the keys we have
                    document = orjson.loads(await response.read())
                keys: dict[str, PyJWK] = {}
                for jwk in document.get("keys", []):
                    if not isinstance(jwk, dict):
                        continue
                    kid = jwk.get("kid")
                    if not kid or not isinstance(kid, str) or jwk.get("use", "sig") != "sig":
                        continue
                    try:
                        keys[kid] = PyJWK(jwk)
                    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
                        continue
                self._keys = keys
            except (TimeoutError, aiohttp.ClientError, ValueError, TypeError, AttributeError):
                # (AttributeError: a JSON document that is not an object with a list of keys.)
                # Keep the keys we have; the next unknown kid after the interval retries.
                pass

    async def _key(self, kid: str) -> PyJWK:
        key = self._keys.get(kid)
        if key is None or time.monotonic() - self._last_refresh >= self.max_age_seconds:
            await self._refresh()
            key = self._keys.get(kid)
        if key is None:
            raise InvalidToken("unknown signing key")
        return key

    async def verify(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed token") from exc
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise InvalidToken("unsupported signing algorithm")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise InvalidToken("token has no key id")
        key = await self._key(kid)
        if key.key_type != ALLOWED_ALGORITHMS[alg]:
            raise InvalidToken("signing algorithm does not match the key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        # OIDC Core §2: `sub` is a non-empty identifier of at most 255 ASCII characters.
        if not claims["sub"] or len(claims["sub"]) > 255:
            raise InvalidToken("invalid subject")
        return claims

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
