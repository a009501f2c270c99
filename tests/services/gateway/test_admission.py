"""Admission control at the gateway: per-user and per-organisation limits (429), the in-flight cap (503).

The gateway runs for real (its app, its production aiohttp client, genuinely signed tokens) in front
of a stub orders service served over a real socket, whose answers a test can hold back per
organisation: that is how requests are kept in flight without any timing guess.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from infra.dev_issuer import DevIssuer
from services.gateway.admission import (
    FREE_REFUSALS,
    Admission,
    Limiter,
    Limits,
    Refusal,
    Ticket,
    TokenBucket,
    admit,
    admit_shared,
)
from shared.auth import service_tokens
from shared.config import Settings
from shared.rate_limit import SharedBuckets, bucket_key

CATEGORIES = "{ categories { id } }"  # one internal call, which the stub can hold back
ME = "{ me { subject organisationId } }"  # no internal call after authentication


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- the limiter on its own ----------------------------------------------------------------


def test_token_bucket_refills_at_its_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=4, burst=2, now=clock())
    assert bucket.take(clock()) == 0 and bucket.take(clock()) == 0
    assert bucket.take(clock()) == pytest.approx(0.25)  # one token every 1/4 s
    clock.now += 0.1
    assert bucket.take(clock()) == pytest.approx(0.15)
    clock.now += 0.15
    assert bucket.take(clock()) == 0
    clock.now += 10  # a long quiet spell refills only up to the burst
    assert [bucket.take(clock()) for _ in range(3)][:2] == [0, 0] and not bucket.full(clock())


def test_a_refusal_takes_nothing_and_a_ticket_gives_back_once() -> None:
    clock = FakeClock()
    user = Limiter("user", Limits(concurrency=2, rate=1, burst=5), clock)
    org = Limiter("organisation", Limits(concurrency=10, rate=1, burst=1), clock)
    first = admit([(user, "u"), (org, "o")])
    assert isinstance(first, Ticket)
    refused = admit([(user, "u"), (org, "o")])  # the organisation's bucket is empty
    assert isinstance(refused, Refusal) and refused.status == 429 and refused.retry_after == 1
    assert "organisation" in refused.message
    assert user.entries["u"].bucket is not None and user.entries["u"].bucket.tokens == pytest.approx(4)  # given back
    clock.now += 1
    second = admit([(user, "u"), (org, "o")])
    assert isinstance(second, Ticket) and user.active("u") == 2
    clock.now += 5
    busy = admit([(user, "u"), (org, "o")])  # two running: over the user's concurrency, no token taken
    assert isinstance(busy, Refusal) and "at once" in busy.message
    assert org.entries["o"].bucket is not None and org.entries["o"].bucket.full(clock())  # refilled, none taken
    first.release()
    first.release()
    assert user.active("u") == 1 and org.active("o") == 1
    second.release()
    assert user.in_use() == 0 and org.in_use() == 0


def test_idle_keys_are_forgotten() -> None:
    clock = FakeClock()
    user = Limiter("user", Limits(concurrency=1, rate=10, burst=1), clock)
    held = admit([(user, "busy")])
    assert isinstance(held, Ticket)
    done = admit([(user, "idle")])
    assert isinstance(done, Ticket)
    done.release()
    clock.now += 120
    admit([(user, "new")])  # a new key sweeps: "idle" refilled and holds nothing, "busy" still runs
    assert set(user.entries) == {"busy", "new"}


def test_retry_after_of_a_rate_refusal_is_whole_seconds() -> None:
    clock = FakeClock()
    slow = Limiter("user", Limits(concurrency=0, rate=0.2, burst=1), clock)
    assert isinstance(admit([(slow, "u")]), Ticket)
    refused = admit([(slow, "u")])
    assert isinstance(refused, Refusal) and refused.retry_after == 5
    response = refused.response()
    assert response.status_code == 429 and response.headers["retry-after"] == "5"


# --- the gateway in front of a stub orders service ------------------------------------------


@dataclasses.dataclass
class Stub:
    """The orders service as far as these requests need it; `hold` keeps an organisation's calls waiting."""

    secret: str
    members: dict[str, str] = dataclasses.field(default_factory=dict)  # subject -> org id
    hold: set[str] = dataclasses.field(default_factory=set)
    fail: set[str] = dataclasses.field(default_factory=set)
    released: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    waiting: int = 0
    hold_memberships: bool = False
    membership_calls: int = 0

    def app(self) -> Starlette:
        async def memberships(request: Request) -> Response:
            subject = (await request.json())["subject"]
            self.membership_calls += 1
            if self.hold_memberships:
                await self.released.wait()
            org = self.members.get(subject)
            member = str(uuid.uuid4())
            rows = [{"org_id": org, "org_name": "Org", "role": "admin", "member_id": member, "status": "active"}]
            return JSONResponse(rows if org else [])

        async def categories(request: Request) -> Response:
            token = request.headers["authorization"][7:]
            org = service_tokens.verify(self.secret, token, audience="orders").org_id
            if org in self.fail:
                return JSONResponse({"error": {"code": "INTERNAL", "message": "boom"}}, status_code=500)
            if org in self.hold:
                self.waiting += 1
                try:
                    await self.released.wait()
                finally:
                    self.waiting -= 1
            return JSONResponse([])

        async def ingest(request: Request) -> Response:
            return JSONResponse({"created": True, "order": {"id": str(uuid.uuid4())}})

        async def readyz(request: Request) -> Response:
            return JSONResponse({"status": "ok"})

        return Starlette(
            routes=[
                Route("/internal/auth/memberships", memberships, methods=["POST"]),
                Route("/internal/categories", categories),
                Route("/internal/ingest/orders", ingest, methods=["POST"]),
                Route("/readyz", readyz),
            ]
        )


@pytest.fixture
async def stub(asgi_server: Any) -> AsyncIterator[tuple[Stub, str]]:
    s = Stub(Settings().service_token_secret)
    async with asgi_server(s.app()) as url:
        yield s, url
    s.released.set()


@contextlib.asynccontextmanager
async def gateway_with(
    stub_url: str, base: Settings | None = None, **limits: Any
) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    """A gateway of its own in front of the stub; `base`: settings to start from (e.g. the session's Redis)."""
    from services.gateway.app import create_app

    settings = dataclasses.replace(base or Settings(), orders_api_url=stub_url, **limits)
    app = create_app(settings, broker=object())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test", timeout=10) as client:
            yield app, client


class People:
    """Users with real tokens, each a member of one organisation of the stub."""

    def __init__(self, stub: Stub, issuer: DevIssuer) -> None:
        self.stub, self.issuer = stub, issuer

    def user(self, org: str) -> tuple[str, str]:
        subject = f"auth0|adm-{uuid.uuid4().hex[:10]}"
        self.stub.members[subject] = org
        return subject, self.issuer.mint(subject)


async def ask(client: httpx.AsyncClient, token: str, query: str = ME) -> httpx.Response:
    return await client.post("/graphql", json={"query": query}, headers={"authorization": f"Bearer {token}"})


async def until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


def admission_of(app: Starlette) -> Admission:
    admission: Admission = app.state.admission
    return admission


async def test_a_user_over_their_concurrency_gets_429_at_once_while_others_are_served(
    stub: tuple[Stub, str], issuer: DevIssuer
) -> None:
    s, url = stub
    people = People(s, issuer)
    org_a, org_b = str(uuid.uuid4()), str(uuid.uuid4())
    greedy, greedy_token = people.user(org_a)
    _, colleague_token = people.user(org_a)
    _, other_token = people.user(org_b)
    s.hold.add(org_a)
    async with gateway_with(url, graphql_user_concurrency=2) as (app, client):
        admission = admission_of(app)
        running = [asyncio.create_task(ask(client, greedy_token, CATEGORIES)) for _ in range(2)]
        await until(lambda: s.waiting == 2)
        assert admission.user.active(f"{org_a}:{greedy}") == 2

        started = time.perf_counter()
        refused = await ask(client, greedy_token, CATEGORIES)
        assert time.perf_counter() - started < 0.5
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["code"] == "RATE_LIMITED" and "user" in refused.json()["error"]["message"]
        assert s.waiting == 2  # the refused request never reached the service

        other = await ask(client, other_token, CATEGORIES)  # another organisation: served meanwhile
        assert other.status_code == 200 and other.json() == {"data": {"categories": []}}
        colleague = await ask(client, colleague_token)  # the same organisation, another user: served too
        assert colleague.status_code == 200 and "errors" not in colleague.json()

        s.released.set()
        assert [r.status_code for r in await asyncio.gather(*running)] == [200, 200]
        assert admission.user.in_use() == 0 and admission.org.in_use() == 0 and admission.in_flight == 0


async def test_an_organisation_over_its_concurrency_gets_429(stub: tuple[Stub, str], issuer: DevIssuer) -> None:
    s, url = stub
    people = People(s, issuer)
    org_a, org_b = str(uuid.uuid4()), str(uuid.uuid4())
    tokens = [people.user(org_a)[1] for _ in range(4)]
    s.hold.add(org_a)
    async with gateway_with(url, graphql_user_concurrency=8, graphql_org_concurrency=3) as (app, client):
        running = [asyncio.create_task(ask(client, t, CATEGORIES)) for t in tokens[:3]]
        await until(lambda: s.waiting == 3)
        refused = await ask(client, tokens[3])
        assert refused.status_code == 429 and "organisation" in refused.json()["error"]["message"]
        assert (await ask(client, people.user(org_b)[1])).status_code == 200
        s.released.set()
        await asyncio.gather(*running)
        assert admission_of(app).org.in_use() == 0


async def test_the_rate_limit_refills(stub: tuple[Stub, str], issuer: DevIssuer) -> None:
    s, url = stub
    _, token = People(s, issuer).user(str(uuid.uuid4()))
    async with gateway_with(url, graphql_user_rate=5.0, graphql_user_burst=2) as (_app, client):
        assert [(await ask(client, token)).status_code for _ in range(2)] == [200, 200]
        refused = await ask(client, token)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["retryAfter"] == 1
        await asyncio.sleep(0.25)  # one token every 0.2 s
        assert (await ask(client, token)).status_code == 200
        assert (await ask(client, token)).status_code == 429


async def test_the_in_flight_cap_answers_503_and_health_is_never_limited(
    stub: tuple[Stub, str], issuer: DevIssuer
) -> None:
    s, url = stub
    people = People(s, issuer)
    held_org = str(uuid.uuid4())
    s.hold.add(held_org)
    async with gateway_with(url, gateway_max_in_flight=2, graphql_user_rate=0.5, graphql_user_burst=1) as (
        app,
        client,
    ):
        running = [asyncio.create_task(ask(client, people.user(held_org)[1], CATEGORIES)) for _ in range(2)]
        await until(lambda: s.waiting == 2)
        started = time.perf_counter()
        refused = await ask(client, people.user(str(uuid.uuid4()))[1])
        assert time.perf_counter() - started < 0.5
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["code"] == "OVERLOADED"
        rest = await client.post("/v1/orders", json={}, headers={"authorization": "Bearer some-key"})
        assert rest.status_code == 503  # every route counts, not only GraphQL

        for path in ("/healthz", "/readyz"):
            for _ in range(5):
                assert (await client.get(path)).status_code == 200, path
        _, token = people.user(str(uuid.uuid4()))  # health probes used up no user's tokens either
        s.released.set()
        await asyncio.gather(*running)
        assert admission_of(app).in_flight == 0
        assert (await ask(client, token)).status_code == 200


async def test_slots_are_given_back_after_failing_requests(stub: tuple[Stub, str], issuer: DevIssuer) -> None:
    s, url = stub
    people = People(s, issuer)
    org = str(uuid.uuid4())
    s.fail.add(org)
    _, token = people.user(org)
    # Rates off (this is about slots): 60 requests in a fraction of a second would empty the organisation's bucket.
    async with gateway_with(url, graphql_user_concurrency=2, graphql_user_rate=0, graphql_org_rate=0) as (app, client):
        admission = admission_of(app)
        for _ in range(20):
            answers = await asyncio.gather(
                ask(client, token, CATEGORIES),  # the service fails: a GraphQL error
                ask(client, token, "{ categories { id "),  # a syntax error
                client.post("/graphql", content=b"not json", headers={"authorization": f"Bearer {token}"}),
            )
            assert {r.status_code for r in answers} <= {200, 400, 429}
            assert admission.user.in_use() == 0 and admission.org.in_use() == 0 and admission.in_flight == 0
        failed = await ask(client, token, CATEGORIES)
        assert failed.status_code == 200 and failed.json()["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
        assert (await ask(client, token)).status_code == 200  # nothing leaked: the user is still served


async def test_slots_are_given_back_when_the_client_goes_away(
    stub: tuple[Stub, str], issuer: DevIssuer, asgi_server: Any
) -> None:
    from services.gateway.app import create_app

    s, url = stub
    people = People(s, issuer)
    org = str(uuid.uuid4())
    s.hold.add(org)
    subject, token = people.user(org)
    app = create_app(dataclasses.replace(Settings(), orders_api_url=url, graphql_user_concurrency=1), broker=object())
    admission = admission_of(app)
    async with app.router.lifespan_context(app), asgi_server(app) as gateway_url:
        async with httpx.AsyncClient(base_url=gateway_url) as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.post(
                    "/graphql",
                    json={"query": CATEGORIES},
                    headers={"authorization": f"Bearer {token}"},
                    timeout=httpx.Timeout(5, read=0.3),
                )
        assert s.waiting == 1
        s.released.set()
        await until(lambda: admission.user.in_use() == 0 and admission.in_flight == 0)
        async with httpx.AsyncClient(base_url=gateway_url) as client:
            again = await ask(client, token, CATEGORIES)
        assert again.status_code == 200, again.text
        assert admission.user.active(f"{org}:{subject}") == 0


async def test_integration_keys_are_limited_each_on_its_own(stub: tuple[Stub, str]) -> None:
    _s, url = stub
    async with gateway_with(url, integration_rate=1.0, integration_burst=2) as (_app, client):

        async def post(key: str | None) -> httpx.Response:
            headers = {"authorization": f"Bearer {key}"} if key else {}
            return await client.post("/v1/orders", json={"externalRef": "x"}, headers=headers)

        one, two = f"key-one-{uuid.uuid4().hex}", f"key-two-{uuid.uuid4().hex}"  # fresh buckets, also in Redis
        assert [(await post(one)).status_code for _ in range(3)] == [201, 201, 429]
        refused = await post(one)
        assert refused.headers["retry-after"] == "1" and refused.json()["error"]["code"] == "RATE_LIMITED"
        assert (await post(two)).status_code == 201
        assert [(await post(None)).status_code for _ in range(4)] == [401] * 4  # no key: the endpoint's 401


async def test_a_burst_with_one_token_is_refused_before_authentication_and_authenticates_once(
    stub: tuple[Stub, str], issuer: DevIssuer
) -> None:
    s, url = stub
    _, token = People(s, issuer).user(str(uuid.uuid4()))
    s.hold_memberships = True  # sign-in is slow: the burst arrives while the token is being checked
    async with gateway_with(url, graphql_user_concurrency=2) as (app, client):
        burst = [asyncio.create_task(ask(client, token)) for _ in range(10)]
        await until(lambda: sum(t.done() for t in burst) == 8)
        refused = [t.result() for t in burst if t.done()]
        assert {r.status_code for r in refused} == {429} and all(r.headers["retry-after"] == "1" for r in refused)
        await until(lambda: s.membership_calls > 0)
        await asyncio.sleep(0.05)
        assert s.membership_calls == 1  # the two admitted requests share one authentication
        s.released.set()
        assert {(await t).status_code for t in burst} == {200, 429}
        admission = admission_of(app)
        assert admission.token.in_use() == 0 and admission.user.in_use() == 0 and not admission._authenticating


def test_a_caller_ignoring_retry_after_gets_its_refusals_held_back() -> None:
    clock = FakeClock()
    user = Limiter("user", Limits(concurrency=1, rate=0, burst=0), clock)
    running = admit([(user, "u")])
    assert isinstance(running, Ticket)
    quick = [admit([(user, "u")]) for _ in range(FREE_REFUSALS)]  # a parallel burst: answered at once
    assert all(isinstance(r, Refusal) and r.hold == 0 for r in quick)
    clock.now += 0.25
    ignored = admit([(user, "u")])  # still within the Retry-After given: this one waits out the rest of it
    assert isinstance(ignored, Refusal) and ignored.hold == pytest.approx(0.75)
    clock.now += 1.0  # came back when told to: answered at once again
    again = admit([(user, "u")])
    assert isinstance(again, Refusal) and again.hold == 0


async def test_held_refusals_take_no_in_flight_slot(stub: tuple[Stub, str], issuer: DevIssuer) -> None:
    s, url = stub
    people = People(s, issuer)
    org = str(uuid.uuid4())
    s.hold.add(org)
    _, token = people.user(org)
    async with gateway_with(url, graphql_user_concurrency=1, gateway_max_in_flight=3) as (app, client):
        admission = admission_of(app)
        running = asyncio.create_task(ask(client, token, CATEGORIES))
        await until(lambda: s.waiting == 1)
        for _ in range(FREE_REFUSALS):
            assert (await ask(client, token)).status_code == 429
        held = [asyncio.create_task(ask(client, token)) for _ in range(4)]  # hammering on regardless
        await asyncio.sleep(0.1)
        assert not any(t.done() for t in held) and admission.in_flight == 1  # held, without a slot
        other = await ask(client, people.user(str(uuid.uuid4()))[1])  # the cap of 3 is not used up by them
        assert other.status_code == 200
        answers = await asyncio.wait_for(asyncio.gather(*held), 2)
        assert {r.status_code for r in answers} == {429}
        s.released.set()
        await running
        assert admission.in_flight == 0 and admission.user.in_use() == 0 and admission.token.in_use() == 0


async def test_webhooks_are_limited_per_provider_before_any_lookup(stub: tuple[Stub, str]) -> None:
    """A burst to one provider's path is refused with 429 + Retry-After; another provider is still served."""
    _, url = stub
    busy, quiet = f"prv_busy{uuid.uuid4().hex}", f"prv_quiet{uuid.uuid4().hex}"  # fresh buckets, also in Redis
    async with gateway_with(url, webhook_provider_rate=1.0, webhook_provider_burst=2) as (_, client):
        answers = [
            (await client.post(f"/webhooks/providers/{busy}/commission", content=b"{}")).status_code for _ in range(5)
        ]
        assert answers[:2] != [429, 429] and answers[2:] == [429, 429, 429]
        refused = await client.post(f"/webhooks/providers/{busy}/commission", content=b"{}")
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"]["code"] == "RATE_LIMITED"
        other = await client.post(f"/webhooks/providers/{quiet}/commission", content=b"{}")
        assert other.status_code != 429


async def test_routes_without_an_account_are_limited_per_source_address(stub: tuple[Stub, str]) -> None:
    """A flood from one address to webhook and export-link routes is refused before any lookup."""
    _, url = stub
    async with gateway_with(url, source_rate=1.0, source_burst=3) as (_, client):
        answers = [(await client.get(f"/exports/not-a-token-{i}")).status_code for i in range(3)]
        answers += [(await client.post("/webhooks/providers/prv_any/commission", content=b"{}")).status_code]
        assert 429 not in answers[:3] and answers[3] == 429
        refused = await client.get("/exports/another")
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "RATE_LIMITED"
        assert int(refused.headers["retry-after"]) >= 1


# --- rates shared by gateway replicas through Redis (shared/rate_limit.py) -------------------------


@contextlib.asynccontextmanager
async def two_gateways(
    stub_url: str, base: Settings, **limits: Any
) -> AsyncIterator[tuple[tuple[Starlette, httpx.AsyncClient], tuple[Starlette, httpx.AsyncClient]]]:
    """Two gateway apps (two replicas) with the same settings, hence the same Redis."""
    async with gateway_with(stub_url, base, **limits) as first, gateway_with(stub_url, base, **limits) as second:
        yield first, second


def assert_refusal(response: httpx.Response) -> None:
    assert response.status_code == 429 and response.json()["error"]["code"] == "RATE_LIMITED"
    assert response.headers["retry-after"].isdigit() and int(response.headers["retry-after"]) >= 1
    assert response.json()["error"]["retryAfter"] == int(response.headers["retry-after"])


async def test_two_replicas_share_one_integration_keys_rate(stub: tuple[Stub, str], settings: Settings) -> None:
    """With rate r and burst b, b + k requests spread over two gateways admit about b (each alone would admit b)."""
    _s, url = stub
    rate, burst, extra = 2.0, 10, 10
    key = f"key-{uuid.uuid4().hex}"
    async with two_gateways(url, settings, integration_rate=rate, integration_burst=burst) as (first, second):
        assert admission_of(first[0]).shared is not None
        started = time.monotonic()
        answers = [
            await client.post("/v1/orders", json={"externalRef": "x"}, headers={"authorization": f"Bearer {key}"})
            for i in range(burst + extra)
            for client in [(first, second)[i % 2][1]]
        ]
        elapsed = time.monotonic() - started
        accepted = sum(a.status_code == 201 for a in answers)
        refused = [a for a in answers if a.status_code != 201]
        assert refused and accepted + len(refused) == burst + extra
        assert accepted <= burst + rate * elapsed + 1, (accepted, elapsed)
        for answer in refused:
            assert_refusal(answer)
        assert {a.status_code for a in answers[0::2]} == {a.status_code for a in answers[1::2]} == {201, 429}
        other = await second[1].post(
            "/v1/orders", json={"externalRef": "x"}, headers={"authorization": f"Bearer other-{uuid.uuid4().hex}"}
        )
        assert other.status_code == 201  # another integration's bucket is its own


async def test_two_replicas_share_one_providers_webhook_rate(stub: tuple[Stub, str], settings: Settings) -> None:
    _s, url = stub
    rate, burst, extra = 2.0, 8, 8
    path = f"/webhooks/providers/prv_{uuid.uuid4().hex}/commission"
    async with two_gateways(url, settings, webhook_provider_rate=rate, webhook_provider_burst=burst) as apps:
        started = time.monotonic()
        answers = [await apps[i % 2][1].post(path, content=b"{}") for i in range(burst + extra)]
        elapsed = time.monotonic() - started
        refused = [a for a in answers if a.status_code == 429]
        assert refused and burst + extra - len(refused) <= burst + rate * elapsed + 1
        for answer in refused:
            assert_refusal(answer)
        other = await apps[1][1].post(f"/webhooks/providers/prv_{uuid.uuid4().hex}/commission", content=b"{}")
        assert other.status_code != 429


async def test_with_redis_down_each_gateway_applies_its_own_limit_and_warns_once(
    stub: tuple[Stub, str], settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    from infra.embedded import free_port

    caplog.set_level(logging.INFO, "shared.rate_limit")
    _s, url = stub
    down = dataclasses.replace(settings, rate_limit_redis_url=f"redis://127.0.0.1:{free_port()}/0")
    key = f"key-{uuid.uuid4().hex}"
    async with two_gateways(url, down, integration_rate=0.5, integration_burst=3) as apps:
        started = time.perf_counter()
        answers = [
            await apps[i % 2][1].post(
                "/v1/orders", json={"externalRef": "x"}, headers={"authorization": f"Bearer {key}"}
            )
            for i in range(10)
        ]
        assert time.perf_counter() - started < 2.0
        # Each replica on its own bucket (fail open to the local limit): 3 each, never a failed request.
        assert [a.status_code for a in answers] == [201] * 6 + [429] * 4
        for answer in answers[6:]:
            assert_refusal(answer)
        warnings = [r for r in caplog.records if r.name == "shared.rate_limit" and r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "unavailable" in warnings[0].getMessage()
        assert all(admission_of(app).integration.in_use() == 0 for app, _ in apps)


async def test_no_redis_call_for_a_caller_over_its_concurrency_or_known_to_be_empty(settings: Settings) -> None:
    """The cheap refusals: over the local concurrency, or while Redis said the bucket is empty."""

    class Counted(SharedBuckets):
        calls = 0

        async def take(self, key: str, rate: float, burst: int) -> float | None:
            self.calls += 1
            return await super().take(key, rate, burst)

    shared = Counted(settings.redis_url)
    clock = FakeClock()
    integration = Limiter("integration key", Limits(concurrency=1, rate=1, burst=2), clock)
    key = bucket_key("integration", uuid.uuid4().hex)
    try:
        running = await admit_shared(integration, key, shared)
        assert isinstance(running, Ticket) and shared.calls == 1
        busy = await admit_shared(integration, key, shared)
        assert isinstance(busy, Refusal) and "at once" in busy.message and shared.calls == 1
        running.release()
        second = await admit_shared(integration, key, shared)
        assert isinstance(second, Ticket)
        second.release()
        empty = await admit_shared(integration, key, shared)
        assert isinstance(empty, Refusal) and empty.retry_after == 1 and shared.calls == 3
        again = await admit_shared(integration, key, shared)  # within the wait Redis gave: not asked
        assert isinstance(again, Refusal) and again.retry_after == 1 and shared.calls == 3
        clock.now += 1.0
        await asyncio.sleep(1.0)  # a token back in Redis too
        assert isinstance(await admit_shared(integration, key, shared), Ticket) and shared.calls == 4
    finally:
        await shared.aclose()
