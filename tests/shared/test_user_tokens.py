"""`JwksVerifier` against the harness's real JWKS endpoint (the dev issuer served on localhost).

Every refusal must surface as `InvalidToken`; the happy path is checked next to each so a
refusal cannot pass merely because the verifier refuses everything.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import RawTestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from infra.dev_issuer import DevIssuer
from shared.auth.user_tokens import InvalidToken, JwksVerifier


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(obj: Any) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


class FetchCounter:
    """An aiohttp trace hook counting the JWKS fetches a verifier makes."""

    def __init__(self) -> None:
        self.count = 0
        self.trace = aiohttp.TraceConfig()
        self.trace.on_request_start.append(self._started)

    async def _started(
        self, session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestStartParams
    ) -> None:
        if params.url.path.endswith("/jwks.json"):
            self.count += 1

    def session(self) -> aiohttp.ClientSession:
        """A session for a verifier, counted."""
        return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5), trace_configs=[self.trace])


Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
Serve = Callable[[Handler], Awaitable[str]]


@pytest.fixture
def jwks_url() -> str:
    return os.environ["OIDC_JWKS_URL"]


@pytest.fixture
def keys(issuer: DevIssuer) -> Iterator[DevIssuer]:
    """The issuer, restored afterwards: keys a test added are withdrawn and the signing key is reset,
    so later tests (and the gateway's own verifier) keep minting with the harness's original key."""
    before, active = dict(issuer.keys), issuer.active_kid
    yield issuer
    for kid in list(issuer.keys):
        if kid not in before:
            issuer.remove_key(kid)
    issuer.keys.update(before)
    issuer.active_kid = active


@pytest.fixture
async def counter() -> FetchCounter:
    return FetchCounter()


@pytest.fixture
async def verifier(issuer: DevIssuer, jwks_url: str, counter: FetchCounter) -> AsyncIterator[JwksVerifier]:
    v = JwksVerifier(
        jwks_url=jwks_url,
        issuer=issuer.issuer,
        audience=issuer.audience,
        min_refresh_seconds=1,
        session=counter.session(),
    )
    yield v
    await v.aclose()


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Starts local JWKS endpoints answering through a handler; each call returns one endpoint's URL."""
    servers: list[RawTestServer] = []

    async def start(handler: Handler) -> str:
        server = RawTestServer(handler, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("/.well-known/jwks.json"))

    yield start
    for server in servers:
        await server.close()


def serving(document: Any) -> Handler:
    """A handler answering every request with `document` as the JWKS."""

    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        return web.json_response(document)

    return handler


def claims(issuer: DevIssuer, **over: Any) -> dict[str, Any]:
    now = int(time.time())
    body = {"iss": issuer.issuer, "aud": issuer.audience, "sub": "auth0|unit", "iat": now, "exp": now + 600}
    body.update(over)
    return {k: v for k, v in body.items() if v is not None}


def raw_sign(key: Any, header: dict[str, Any], body: Any) -> str:
    """Sign without PyJWT's encoder, which refuses the odd headers and claims these tests need."""
    signing_input = f"{b64json(header)}.{b64json(body)}".encode()
    if isinstance(key, rsa.RSAPrivateKey):
        signature = RSAAlgorithm(RSAAlgorithm.SHA256).sign(signing_input, key)
    else:
        signature = ECAlgorithm(ECAlgorithm.SHA256).sign(signing_input, key)
    return f"{signing_input.decode()}.{b64url(signature)}"


def active_key(issuer: DevIssuer) -> tuple[str, Any]:
    """The issuer's signing kid and private key (every fixture issuer has one)."""
    kid = issuer.active_kid
    assert kid is not None, "no signing key"
    return kid, issuer.keys[kid]


def sign(issuer: DevIssuer, body: dict[str, Any], kid: str | None = None) -> str:
    kid = kid or active_key(issuer)[0]
    key = issuer.keys[kid]
    alg = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid})


async def refused(verifier: JwksVerifier, token: str) -> InvalidToken:
    with pytest.raises(InvalidToken) as info:
        await verifier.verify(token)
    return info.value


# --- the happy path -------------------------------------------------------------------------


async def test_valid_token_is_accepted(verifier: JwksVerifier, issuer: DevIssuer) -> None:
    token = issuer.mint("auth0|alice", email="alice@example.com")
    out = await verifier.verify(token)
    assert out["sub"] == "auth0|alice"
    assert out["iss"] == issuer.issuer and out["aud"] == issuer.audience
    assert out["email"] == "alice@example.com" and out["email_verified"] is True


async def test_known_kid_is_served_from_cache(verifier: JwksVerifier, issuer: DevIssuer, counter: FetchCounter) -> None:
    for i in range(10):
        await verifier.verify(issuer.mint(f"auth0|cached-{i}"))
    assert counter.count == 1


async def test_audience_list_containing_ours_is_accepted(verifier: JwksVerifier, issuer: DevIssuer) -> None:
    token = issuer.mint("auth0|multi-aud", claims={"aud": ["another-api", issuer.audience]})
    assert (await verifier.verify(token))["sub"] == "auth0|multi-aud"


# --- algorithm confusion --------------------------------------------------------------------


async def test_alg_none_is_refused(verifier: JwksVerifier, issuer: DevIssuer) -> None:
    body = claims(issuer)
    for header in (
        {"alg": "none", "typ": "JWT"},
        {"alg": "none", "kid": issuer.active_kid},
        {"alg": "None", "kid": issuer.active_kid},
        {"alg": "NONE", "kid": issuer.active_kid},
    ):
        await refused(verifier, f"{b64json(header)}.{b64json(body)}.")
    # The same claims, properly signed, are fine.
    assert (await verifier.verify(sign(issuer, body)))["sub"] == "auth0|unit"


async def test_hs256_signed_with_the_public_key_is_refused(verifier: JwksVerifier, issuer: DevIssuer) -> None:
    kid = issuer.active_kid
    assert kid is not None
    await verifier.verify(issuer.mint("auth0|warm"))  # the kid is cached: only the alg check can stop it
    public = issuer.keys[kid].public_key()
    body = claims(issuer)
    for pem in (
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1),
        json.dumps(issuer.jwks()["keys"][0]).encode(),
    ):
        for alg, digest in (("HS256", hashlib.sha256), ("HS384", hashlib.sha384), ("HS512", hashlib.sha512)):
            signing_input = f"{b64json({'alg': alg, 'typ': 'JWT', 'kid': kid})}.{b64json(body)}"
            signature = hmac.new(pem, signing_input.encode(), digest).digest()
            await refused(verifier, f"{signing_input}.{b64url(signature)}")


async def test_algorithm_must_match_the_key_type(verifier: JwksVerifier, keys: DevIssuer) -> None:
    rsa_kid = keys.active_kid
    assert rsa_kid is not None
    ec_kid = keys.add_key(alg="ES256")
    keys.active_kid = rsa_kid
    body = claims(keys)
    # An RS256 token naming the EC key, and an ES256 token naming the RSA key.
    await refused(verifier, jwt.encode(body, keys.keys[rsa_kid], algorithm="RS256", headers={"kid": ec_kid}))
    await refused(verifier, jwt.encode(body, keys.keys[ec_kid], algorithm="ES256", headers={"kid": rsa_kid}))
    # Other asymmetric algorithms the key could technically verify are not on the allow-list.
    await refused(verifier, jwt.encode(body, keys.keys[rsa_kid], algorithm="RS512", headers={"kid": rsa_kid}))
    await refused(verifier, jwt.encode(body, keys.keys[rsa_kid], algorithm="PS256", headers={"kid": rsa_kid}))
    assert (await verifier.verify(sign(keys, body, rsa_kid)))["sub"] == "auth0|unit"
    assert (await verifier.verify(sign(keys, body, ec_kid)))["sub"] == "auth0|unit"


# --- issuer, audience, lifetime -------------------------------------------------------------


async def test_wrong_issuer_is_refused(verifier: JwksVerifier, issuer: DevIssuer) -> None:
    assert issuer.issuer.endswith("/")
    for iss in (
        "https://evil.test/",
        issuer.issuer + "evil",
        issuer.issuer.rstrip("/"),
        issuer.issuer + "/",
        issuer.issuer.upper(),
        " " + issuer.issuer,
        "",
    ):
        await refused(verifier, issuer.mint("auth0|iss", claims={"iss": iss}))
    await refused(verifier, sign(issuer, claims(issuer, iss=None)))  # no iss at all
    kid, key = active_key(issuer)
    header = {"alg": "RS256", "kid": kid}
    await refused(verifier, raw_sign(key, header, claims(issuer, iss=[issuer.issuer])))
    await refused(verifier, raw_sign(key, header, claims(issuer, iss={"value": issuer.issuer})))
    assert (await verifier.verify(raw_sign(key, header, claims(issuer))))["iss"] == issuer.issuer


async def test_wrong_audience_is_refused(verifier: JwksVerifier, issuer: DevIssuer) -> None:
    for aud in ("another-api", issuer.audience + "x", issuer.audience[:-1], ["another-api"], []):
        await refused(verifier, issuer.mint("auth0|aud", claims={"aud": aud}))
    await refused(verifier, sign(issuer, claims(issuer, aud=None)))  # no aud at all


async def test_missing_exp_is_refused(verifier: JwksVerifier, issuer: DevIssuer) -> None:
    body = claims(issuer, exp=None)
    assert "exp" not in body
    await refused(verifier, sign(issuer, body))


async def test_missing_sub_is_refused(verifier: JwksVerifier, issuer: DevIssuer) -> None:
    await refused(verifier, sign(issuer, claims(issuer, sub=None)))


async def test_expiry_allows_only_the_leeway(verifier: JwksVerifier, issuer: DevIssuer) -> None:
    now = int(time.time())
    await refused(verifier, sign(issuer, claims(issuer, iat=now - 7200, exp=now - 3600)))
    await refused(verifier, sign(issuer, claims(issuer, iat=now - 7200, exp=now - 120)))
    # Expired 5 seconds ago: inside the 30 s clock-skew leeway.
    out = await verifier.verify(sign(issuer, claims(issuer, iat=now - 3600, exp=now - 5)))
    assert out["exp"] == now - 5


async def test_not_before_in_the_future_is_refused(verifier: JwksVerifier, issuer: DevIssuer) -> None:
    now = int(time.time())
    await refused(verifier, issuer.mint("auth0|nbf", claims={"nbf": now + 3600}))
    await refused(verifier, issuer.mint("auth0|nbf", claims={"nbf": now + 120}))
    assert (await verifier.verify(issuer.mint("auth0|nbf", claims={"nbf": now + 5})))["sub"] == "auth0|nbf"
    assert (await verifier.verify(issuer.mint("auth0|nbf", claims={"nbf": now - 60})))["sub"] == "auth0|nbf"


async def test_malformed_claims_are_refused(verifier: JwksVerifier, issuer: DevIssuer) -> None:
    now = int(time.time())
    kid, key = active_key(issuer)
    header = {"alg": "RS256", "kid": kid}
    await refused(verifier, raw_sign(key, header, claims(issuer, exp="never")))
    await refused(verifier, raw_sign(key, header, claims(issuer, exp=None, nbf=now)))
    await refused(verifier, raw_sign(key, header, claims(issuer, nbf="later")))
    await refused(verifier, raw_sign(key, header, claims(issuer, sub=12345)))
    await refused(verifier, raw_sign(key, header, claims(issuer, sub="")))
    await refused(verifier, raw_sign(key, header, claims(issuer, sub="x" * 256)))  # OIDC: at most 255 characters
    assert (await verifier.verify(raw_sign(key, header, claims(issuer, sub="x" * 255))))["sub"] == "x" * 255
    await refused(verifier, raw_sign(key, header, [claims(issuer)]))  # a payload that is not an object
    assert (await verifier.verify(raw_sign(key, header, claims(issuer))))["sub"] == "auth0|unit"


# --- keys and signatures --------------------------------------------------------------------


async def test_unknown_kid_is_refused(verifier: JwksVerifier, issuer: DevIssuer) -> None:
    error = await refused(verifier, issuer.mint("auth0|kid", headers={"kid": "no-such-kid"}))
    assert "unknown signing key" in str(error)
    body = claims(issuer)
    _, key = active_key(issuer)
    # No kid at all, and a kid that is not a string.
    await refused(verifier, jwt.encode(body, key, algorithm="RS256"))
    for kid in (7, None, [issuer.active_kid], {"kid": issuer.active_kid}, ""):
        await refused(verifier, raw_sign(key, {"alg": "RS256", "kid": kid}, body))
    assert (await verifier.verify(raw_sign(key, {"alg": "RS256", "kid": issuer.active_kid}, body)))["sub"]


async def test_key_outside_the_jwks_with_an_existing_kid_is_refused(verifier: JwksVerifier, issuer: DevIssuer) -> None:
    kid = issuer.active_kid
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims(issuer), impostor, algorithm="RS256", headers={"kid": kid})
    error = await refused(verifier, token)
    assert "signature" in str(error).lower()
    ec_impostor = ec.generate_private_key(ec.SECP256R1())
    await refused(verifier, jwt.encode(claims(issuer), ec_impostor, algorithm="ES256", headers={"kid": kid}))


async def test_tampered_token_is_refused(verifier: JwksVerifier, issuer: DevIssuer) -> None:
    token = issuer.mint("auth0|victim", email="victim@example.com")
    assert (await verifier.verify(token))["sub"] == "auth0|victim"
    header, payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    for change in ({"sub": "auth0|attacker"}, {"email": "attacker@example.com"}, {"exp": body["exp"] + 86400}):
        await refused(verifier, f"{header}.{b64json({**body, **change})}.{signature}")
    # A header naming a different alg over the original signature, a flipped signature byte, no signature.
    await refused(verifier, f"{b64json({'alg': 'ES256', 'kid': issuer.active_kid})}.{payload}.{signature}")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    await refused(verifier, f"{header}.{payload}.{b64url(bytes(raw))}")
    await refused(verifier, f"{header}.{payload}.")


async def test_garbage_is_refused(verifier: JwksVerifier) -> None:
    for token in (
        "",
        "garbage",
        "a.b.c",
        "a.b",
        "....",
        "eyJhbGciOiJSUzI1NiJ9.e30",
        b64json([1, 2]) + ".e30.",
        b64json("just a string") + ".e30.",
        "Bearer x.y.z",
    ):
        await refused(verifier, token)


# --- JWKS refresh: rotation and floods ------------------------------------------------------


async def test_new_key_is_accepted_without_restart(
    verifier: JwksVerifier, keys: DevIssuer, counter: FetchCounter
) -> None:
    old_kid = keys.active_kid
    assert (await verifier.verify(keys.mint("auth0|before")))["sub"] == "auth0|before"
    assert counter.count == 1
    new_kid = keys.add_key(alg="RS256")
    assert new_kid != old_kid
    await asyncio.sleep(1.2)  # past the minimum refresh interval since the first fetch
    assert (await verifier.verify(keys.mint("auth0|after", kid=new_kid)))["sub"] == "auth0|after"
    assert counter.count == 2
    # The old key is still published, and still accepted from the refreshed cache.
    assert (await verifier.verify(keys.mint("auth0|old", kid=old_kid)))["sub"] == "auth0|old"
    assert counter.count == 2


async def test_withdrawn_key_is_refused_after_the_next_refresh(verifier: JwksVerifier, keys: DevIssuer) -> None:
    retiring = keys.add_key(alg="RS256")
    token = keys.mint("auth0|retiring", kid=retiring)
    assert (await verifier.verify(token))["sub"] == "auth0|retiring"
    keys.remove_key(retiring)
    # Publishing a new key makes the verifier refresh (after the interval); the withdrawn key goes with it.
    successor = keys.add_key(alg="RS256")
    await asyncio.sleep(1.2)
    assert (await verifier.verify(keys.mint("auth0|successor", kid=successor)))["sub"] == "auth0|successor"
    await refused(verifier, token)


async def test_withdrawn_key_is_refused_once_the_cache_is_old(
    issuer: DevIssuer, jwks_url: str, keys: DevIssuer
) -> None:
    """A revoked key must stop working even if nobody ever presents an unknown kid."""
    counter = FetchCounter()
    v = JwksVerifier(
        jwks_url=jwks_url,
        issuer=issuer.issuer,
        audience=issuer.audience,
        min_refresh_seconds=1,
        max_age_seconds=1,
        session=counter.session(),
    )
    try:
        retiring = keys.add_key(alg="RS256")
        token = keys.mint("auth0|retiring", kid=retiring)
        assert (await v.verify(token))["sub"] == "auth0|retiring"
        keys.remove_key(retiring)
        assert (await v.verify(token))["sub"] == "auth0|retiring"  # still within the cache's age
        await asyncio.sleep(1.2)
        await refused(v, token)
        assert counter.count == 2
    finally:
        await v.aclose()


async def test_default_cache_age_is_bounded(issuer: DevIssuer, jwks_url: str) -> None:
    v = JwksVerifier(jwks_url=jwks_url, issuer=issuer.issuer, audience=issuer.audience)
    try:
        assert 0 < v.max_age_seconds <= 24 * 3600
    finally:
        await v.aclose()


@pytest.mark.parametrize(
    "document",
    [
        [],
        "keys",
        {"keys": "nope"},
        {"keys": [1, "x", None, []]},
        {"keys": {"a": 1}},
        {"keys": [{"kty": "RSA", "kid": "broken"}, {"kty": 5, "kid": "x"}, {"kid": ["list"], "kty": "RSA"}]},
    ],
)
async def test_malformed_jwks_never_escapes_as_another_error(issuer: DevIssuer, serve: Serve, document: Any) -> None:
    calls = {"n": 0}

    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        calls["n"] += 1
        return web.json_response(issuer.jwks() if calls["n"] == 1 else document)

    v = JwksVerifier(
        jwks_url=await serve(handler), issuer=issuer.issuer, audience=issuer.audience, min_refresh_seconds=0
    )
    try:
        assert (await v.verify(issuer.mint("auth0|first")))["sub"] == "auth0|first"
        await refused(v, issuer.mint("auth0|x", headers={"kid": "unknown"}))  # refresh gets the malformed document
        assert calls["n"] == 2
    finally:
        await v.aclose()


async def test_symmetric_key_in_the_jwks_is_never_used(issuer: DevIssuer, serve: Serve) -> None:
    secret = b"shared-secret-published-by-mistake"
    published = {"keys": [*issuer.jwks()["keys"], {"kty": "oct", "kid": "oct-key", "k": b64url(secret)}]}
    v = JwksVerifier(
        jwks_url=await serve(serving(published)), issuer=issuer.issuer, audience=issuer.audience, min_refresh_seconds=1
    )
    try:
        for alg in ("HS256", "RS256"):
            signing_input = f"{b64json({'alg': alg, 'kid': 'oct-key'})}.{b64json(claims(issuer))}"
            signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
            await refused(v, f"{signing_input}.{b64url(signature)}")
        assert (await v.verify(issuer.mint("auth0|rsa")))["sub"] == "auth0|rsa"
    finally:
        await v.aclose()


async def test_refresh_is_rate_limited_within_the_interval(issuer: DevIssuer, jwks_url: str, keys: DevIssuer) -> None:
    counter = FetchCounter()
    v = JwksVerifier(
        jwks_url=jwks_url,
        issuer=issuer.issuer,
        audience=issuer.audience,
        min_refresh_seconds=60,
        session=counter.session(),
    )
    try:
        await v.verify(issuer.mint("auth0|warm"))
        fresh = keys.add_key()
        # Within the interval an unknown kid does not reach the issuer, even a genuine new one.
        for _ in range(5):
            await refused(v, keys.mint("auth0|new", kid=fresh))
            await refused(v, issuer.mint("auth0|made-up", headers={"kid": uuid.uuid4().hex}))
        assert counter.count == 1
    finally:
        await v.aclose()


async def test_flood_of_unknown_kids_is_bounded(
    verifier: JwksVerifier, issuer: DevIssuer, counter: FetchCounter
) -> None:
    tokens = [issuer.mint("auth0|flood", headers={"kid": uuid.uuid4().hex}) for _ in range(50)]
    results = await asyncio.gather(*(verifier.verify(t) for t in tokens), return_exceptions=True)
    assert all(isinstance(r, InvalidToken) for r in results), results
    assert counter.count <= 2
    # A second flood right after stays inside the same interval: no further fetches at all.
    before = counter.count
    results = await asyncio.gather(*(verifier.verify(t) for t in tokens), return_exceptions=True)
    assert all(isinstance(r, InvalidToken) for r in results)
    assert counter.count == before
    # Genuine tokens are still verified meanwhile, from the cache.
    assert (await verifier.verify(issuer.mint("auth0|genuine")))["sub"] == "auth0|genuine"
    assert counter.count == before


async def test_flood_while_cold_still_verifies_genuine_tokens(
    verifier: JwksVerifier, issuer: DevIssuer, counter: FetchCounter
) -> None:
    """A genuine token racing a flood on a cold cache is verified by the single fetch."""
    bogus = [issuer.mint("auth0|flood", headers={"kid": uuid.uuid4().hex}) for _ in range(25)]
    genuine = [issuer.mint(f"auth0|real-{i}") for i in range(25)]
    mixed = [t for pair in zip(bogus, genuine, strict=True) for t in pair]
    results = await asyncio.gather(*(verifier.verify(t) for t in mixed), return_exceptions=True)
    assert [isinstance(r, InvalidToken) for r in results] == [True, False] * 25, results
    assert counter.count == 1


async def test_issuer_outage_keeps_the_cached_keys(issuer: DevIssuer, serve: Serve) -> None:
    published = issuer.jwks()
    state = {"up": True, "fetches": 0}

    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        state["fetches"] += 1
        if state["up"]:
            return web.json_response(published)
        return web.Response(status=503, text="down")

    v = JwksVerifier(
        jwks_url=await serve(handler), issuer=issuer.issuer, audience=issuer.audience, min_refresh_seconds=0
    )
    try:
        assert (await v.verify(issuer.mint("auth0|up")))["sub"] == "auth0|up"
        state["up"] = False
        await refused(v, issuer.mint("auth0|x", headers={"kid": "unknown"}))  # triggers a failing refresh
        assert state["fetches"] == 2
        assert (await v.verify(issuer.mint("auth0|still")))["sub"] == "auth0|still"
    finally:
        await v.aclose()


async def test_jwks_entries_not_for_signing_are_ignored(issuer: DevIssuer, serve: Serve) -> None:
    published = issuer.jwks()
    for k in published["keys"]:
        k["use"] = "enc"
    v = JwksVerifier(
        jwks_url=await serve(serving(published)), issuer=issuer.issuer, audience=issuer.audience, min_refresh_seconds=1
    )
    try:
        await refused(v, issuer.mint("auth0|enc"))
    finally:
        await v.aclose()


async def test_es256_key_works(verifier: JwksVerifier, keys: DevIssuer) -> None:
    kid = keys.add_key(alg="ES256")
    token = keys.mint("auth0|ec", email="ec@example.com", kid=kid)
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    out = await verifier.verify(token)
    assert out["sub"] == "auth0|ec" and out["email"] == "ec@example.com"
    # The EC key is held to the same rules.
    await refused(verifier, keys.mint("auth0|ec", kid=kid, claims={"aud": "another-api"}))
    await refused(verifier, keys.mint("auth0|ec", kid=kid, ttl=-3600))
    impostor = ec.generate_private_key(ec.SECP256R1())
    await refused(verifier, jwt.encode(claims(keys), impostor, algorithm="ES256", headers={"kid": kid}))
