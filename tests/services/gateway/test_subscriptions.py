"""Live updates: GraphQL subscriptions over graphql-transport-ws, with a real WebSocket client against the
gateway served by uvicorn, events ingested through POST /v1/events, and the real Redis pub/sub."""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin, Subprotocol

from services.insights.service.live import publish

PROTOCOL = Subprotocol("graphql-transport-ws")
ANALYTICS = """subscription Live($types: [String!]) {
  analyticsUpdated(filter: {types: $types}) {
    at initial kinds types
    query { organisation { id name } ordersSummary(filter: {range: {preset: TODAY}}) { totalOrders } }
  }
}"""
QUIET = 1.0  # how long "nothing arrived" is waited for


@pytest.fixture(scope="module")
async def ws_url(gateway_app: Any, asgi_server: Any) -> AsyncIterator[str]:
    async with asgi_server(gateway_app) as url:
        yield url.replace("http://", "ws://") + "/graphql"


class Live:
    """A graphql-transport-ws client: init, subscribe, read the next message of an operation."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def init(self, token: str | None) -> dict[str, Any]:
        payload = {"Authorization": f"Bearer {token}"} if token else {}
        await self.ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        return await self.receive()

    async def subscribe(self, op_id: str, query: str, variables: dict[str, Any] | None = None) -> None:
        message = {"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": variables or {}}}
        await self.ws.send(json.dumps(message))

    async def receive(self, timeout: float = 5.0) -> dict[str, Any]:
        frame = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(frame, str), "graphql-transport-ws frames are text"
        message: dict[str, Any] = json.loads(frame)
        return message

    async def next(self, op_id: str = "1", timeout: float = 5.0) -> dict[str, Any]:
        """The next `next` payload's data of `op_id` (pongs skipped); fails on an error."""
        while True:
            message = await self.receive(timeout)
            if message.get("id") == op_id and message["type"] == "next":
                assert not message["payload"].get("errors"), message
                data: dict[str, Any] = message["payload"]["data"]
                return data
            assert message["type"] in ("ping", "pong"), message

    async def nothing(self, wait: float = QUIET) -> None:
        with contextlib.suppress(TimeoutError):
            message = await self.receive(wait)
            raise AssertionError(f"nothing expected, got {message}")

    async def closed(self, timeout: float = 5.0) -> int | None:
        """Waits for the server to close the connection; its close code."""
        with contextlib.suppress(ConnectionClosed):
            while True:
                await asyncio.wait_for(self.ws.recv(), timeout)
        return self.ws.close_code


@contextlib.asynccontextmanager
async def live(url: str, **kw: Any) -> AsyncIterator[Live]:
    async with connect(url, subprotocols=[PROTOCOL], **kw) as ws:
        yield Live(ws)


@contextlib.asynccontextmanager
async def subscribed(
    url: str, token: str, query: str = ANALYTICS, variables: dict[str, Any] | None = None
) -> AsyncIterator[tuple[Live, dict[str, Any]]]:
    """A connection with one subscription ("1") live: yields it and its first (initial) message."""
    async with live(url) as client:
        assert (await client.init(token))["type"] == "connection_ack"
        await client.subscribe("1", query, variables)
        yield client, await client.next()


async def ingest(gateway: Any, tenant: Any, n: int = 1, event_type: str = "page_view") -> Any:
    tag = uuid.uuid4().hex[:10]
    events = [
        {
            "id": f"live-{tag}-{i}",
            "type": event_type,
            "occurredAt": datetime.now(UTC).isoformat(),
            "anonymousId": f"visitor-{tag}",
        }
        for i in range(n)
    ]
    r = await gateway.post("/v1/events", json={"events": events}, headers={"authorization": f"Bearer {tenant.api_key}"})
    assert r.status_code == 202 and r.json()["stored"] == n, r.text
    return r


async def test_a_connection_without_a_valid_token_or_membership_is_refused(ws_url, tenant, issuer) -> None:
    async with live(ws_url) as client:
        await client.ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert await client.closed() == 4401
    async with live(ws_url) as client:
        await client.ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": "Bearer nope"}}))
        assert await client.closed() == 4401
    # A valid token of someone who belongs to no organisation.
    stranger = issuer.mint(f"auth0|stranger-{uuid.uuid4().hex[:8]}", email="stranger@example.com")
    async with live(ws_url) as client:
        await client.ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {stranger}"}})
        )
        assert await client.closed() == 4403
    # Provider users see their provider's orders only: not the organisation's analytics.
    async with live(ws_url) as client:
        assert (await client.init(tenant.provider_token))["type"] == "connection_ack"
        await client.subscribe("1", ANALYTICS)
        message = await client.receive()
        assert message["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN", message
    # Subscribing before the acknowledgement.
    async with live(ws_url) as client:
        await client.subscribe("1", ANALYTICS)
        assert await client.closed() == 4401
    # A page of another origin may not open one (browsers send Origin; the gateway serves no other origin).
    with pytest.raises(InvalidStatus) as refused:
        async with live(ws_url, origin=Origin("https://evil.example")):
            pass
    assert refused.value.response.status_code == 403
    # The header on the upgrade request works as well as the payload.
    async with live(ws_url, additional_headers={"authorization": f"Bearer {tenant.admin_token}"}) as client:
        assert (await client.init(None))["type"] == "connection_ack"
        # Only subscriptions run over the socket.
        await client.subscribe("q", "{ organisation { name } }")
        message = await client.receive()
        assert message["type"] == "error" and "only subscriptions" in message["payload"][0]["message"]


async def test_subscribers_get_their_own_organisations_pushes_only(ws_url, gateway, tenant, other_tenant) -> None:
    async with (
        subscribed(ws_url, tenant.admin_token) as (a1, first_a1),
        subscribed(ws_url, tenant.member_token) as (a2, first_a2),
        subscribed(ws_url, other_tenant.admin_token) as (b, first_b),
        subscribed(ws_url, tenant.admin_token, "subscription { activity(first: 5) { edges { node { type } } } }") as (
            act,
            first,
        ),
    ):
        assert first_a1["analyticsUpdated"]["initial"] is True
        assert first_a1["analyticsUpdated"]["query"]["organisation"]["id"] == str(tenant.org_id)
        assert first_a2["analyticsUpdated"]["query"]["organisation"]["id"] == str(tenant.org_id)
        assert first_b["analyticsUpdated"]["query"]["organisation"]["id"] == str(other_tenant.org_id)
        assert first["activity"]["edges"] == []  # the feed as it is: nothing yet

        await ingest(gateway, tenant, event_type="visit")
        for client in (a1, a2):  # both subscribers of A
            update = (await client.next())["analyticsUpdated"]
            assert update["initial"] is False and update["kinds"] == ["events"] and update["types"] == ["visit"]
            assert update["query"]["organisation"]["id"] == str(tenant.org_id)
        assert [e["node"]["type"] for e in (await act.next())["activity"]["edges"]] == ["visit"]
        await b.nothing()

        await ingest(gateway, other_tenant)
        update = (await b.next())["analyticsUpdated"]
        assert update["query"]["organisation"]["id"] == str(other_tenant.org_id)
        await a1.nothing(0.3)
        await a2.nothing(0.3)
        await act.nothing(0.3)


async def test_push_latency_after_ingest(ws_url, gateway, tenant, capsys) -> None:
    """~50 batches, one at a time (spaced past the coalescing interval): time from the 202 to the push."""
    from_202, from_request = [], []
    async with subscribed(ws_url, tenant.admin_token) as (client, _first):
        for _ in range(50):
            started = time.perf_counter()
            await ingest(gateway, tenant)
            accepted = time.perf_counter()
            await client.next()
            pushed = time.perf_counter()
            from_202.append(pushed - accepted)
            from_request.append(pushed - started)
            await asyncio.sleep(0.3)

    def p95(xs: list[float]) -> float:
        return statistics.quantiles(xs, n=20)[-1]

    with capsys.disabled():
        print(
            f"\nlive push latency over {len(from_202)} pushes: from the 202 "
            f"p50 {statistics.median(from_202) * 1000:.1f} ms p95 {p95(from_202) * 1000:.1f} ms "
            f"max {max(from_202) * 1000:.1f} ms; from the request p50 {statistics.median(from_request) * 1000:.1f} ms "
            f"p95 {p95(from_request) * 1000:.1f} ms"
        )
    assert p95(from_202) < 1.0


async def test_bursts_are_coalesced_and_type_filters_apply(ws_url, gateway, tenant) -> None:
    async with subscribed(ws_url, tenant.admin_token, variables={"types": ["visit"]}) as (client, _first):
        await ingest(gateway, tenant, event_type="page_view")  # not a wanted type
        await client.nothing(0.6)
        for _ in range(5):
            await ingest(gateway, tenant, event_type="visit")
        pushes = [await client.next()]
        with contextlib.suppress(TimeoutError):
            while True:
                pushes.append(await client.next(timeout=0.8))
        assert 1 <= len(pushes) <= 3, pushes  # five batches in well under a second: coalesced


async def test_orders_activity_pushes_the_latest_orders(ws_url, gateway, settings, tenant, other_tenant) -> None:
    query = "subscription { ordersActivity(first: 5) { nodes { id externalRef } } }"
    async with (
        subscribed(ws_url, tenant.admin_token, query) as (client, first),
        subscribed(ws_url, other_tenant.admin_token, query) as (other, _),
    ):
        assert first["ordersActivity"]["nodes"] == []
        ref = f"live-{uuid.uuid4().hex[:8]}"
        r = await gateway.post(
            "/v1/orders",
            json={
                "externalRef": ref,
                "productId": str(tenant.products["Broadband"]),
                "customer": {"email": "j@x.example"},
            },
            headers={"authorization": f"Bearer {tenant.api_key}"},
        )
        assert r.status_code == 201, r.text
        # What the insights worker publishes once it has applied the order's event.
        await publish(settings, tenant.org_id, {"kind": "orders", "types": ["order_created"]})
        nodes = (await client.next())["ordersActivity"]["nodes"]
        assert [n["externalRef"] for n in nodes] == [ref]
        await other.nothing(0.5)
        # A message that changed nothing on the page pushes nothing.
        await publish(settings, tenant.org_id, {"kind": "orders", "types": ["order_created"]})
        await client.nothing(0.5)
        # An events message is not an orders change.
        await ingest(gateway, tenant)
        await client.nothing(0.5)


async def test_a_removed_member_is_disconnected(ws_url, gateway, tenant, settings) -> None:
    members = await gateway.post("/graphql", json={"query": "{ members { id email } }"}, headers=tenant.headers())
    member_id = next(m["id"] for m in members.json()["data"]["members"] if m["email"].startswith("member-"))
    async with subscribed(ws_url, tenant.member_token) as (client, _first):
        r = await gateway.post(
            "/graphql",
            json={"query": f'mutation {{ removeMember(memberId: "{member_id}") {{ removed }} }}'},
            headers=tenant.headers(),
        )
        assert r.json()["data"]["removeMember"]["removed"] is True
        removed = time.perf_counter()
        # Re-checked every AUTH_CACHE_SECONDS (1 s in tests) against a viewer cache of the same age.
        assert await client.closed(timeout=2 * settings.auth_cache_seconds + 2) == 4403
        assert time.perf_counter() - removed <= 2 * settings.auth_cache_seconds + 1


async def test_pushes_resume_after_the_pubsub_connection_drops(ws_url, gateway, gateway_app, settings, tenant) -> None:
    hub = gateway_app.state.live
    async with subscribed(ws_url, tenant.admin_token) as (client, _first):
        before = hub.reconnections
        admin = aioredis.Redis.from_url(settings.redis_url)
        try:
            ours = [c for c in await admin.client_list() if c.get("name") == hub.client_name]
            assert len(ours) == 1, "one pub/sub connection per gateway process"
            dropped = time.perf_counter()
            await admin.execute_command("CLIENT", "KILL", "ID", ours[0]["id"])
        finally:
            await admin.aclose()
        # Reconnected and resubscribed: a resync push says changes may have been missed.
        update = (await client.next(timeout=10))["analyticsUpdated"]
        assert update["kinds"] == ["resync"] and update["types"] is None
        print(f"\nlive hub back {(time.perf_counter() - dropped) * 1000:.0f} ms after its connection was killed")
        assert hub.reconnections == before + 1
        await asyncio.sleep(0.3)
        await ingest(gateway, tenant)
        assert (await client.next())["analyticsUpdated"]["kinds"] == ["events"]


async def test_subscriptions_are_capped_per_user(ws_url, tenant) -> None:
    from services.gateway.live import MAX_SUBSCRIPTIONS_PER_CONNECTION, MAX_SUBSCRIPTIONS_PER_USER

    query = "subscription { activity { edges { cursor } } }"
    connections = -(-MAX_SUBSCRIPTIONS_PER_USER // MAX_SUBSCRIPTIONS_PER_CONNECTION)
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(live(ws_url)) for _ in range(connections + 1)]
        opened = 0
        for client in clients[:-1]:
            assert (await client.init(tenant.admin_token))["type"] == "connection_ack"
            for i in range(MAX_SUBSCRIPTIONS_PER_CONNECTION):
                if opened == MAX_SUBSCRIPTIONS_PER_USER:
                    break
                await client.subscribe(str(i), query)
                assert "edges" in (await client.next(str(i)))["activity"]
                opened += 1
        extra = clients[-1]
        assert (await extra.init(tenant.admin_token))["type"] == "connection_ack"
        await extra.subscribe("1", query)
        message = await extra.receive()
        assert message["type"] == "next" and message["payload"]["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
