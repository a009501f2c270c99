"""Forwarding the documented collections to an organisation's MongoDB (issue 11), against the local peer
(SecantusDB over the wire, tests/services/reports/mongo_peer.py), with the real reports, insights and orders stores.

Every collection is read back with pymongo and compared with the collection's own documents; organisation B's
documents never reach A's target; the declared indexes (the events TTL among them) exist; a second pass changes
nothing; an erased contact is erased in the target; the peer stopped then restarted leaves every document there
once; connecting refuses an unreachable URI, wrong credentials and a read-only user, naming `uri`, storing nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from services.orders.service import erasure as orders_erasure
from services.reports.domain import mongo as domain
from services.reports.repository import mongo_connections as store
from services.reports.service import collections as docs
from services.reports.service import mongo_forwarding as forwarding
from shared.collections import BY_NAME, COLLECTIONS, EVENTS, Source
from shared.db import tenant_tx
from shared.errors import DomainError
from shared.messaging import contracts
from tests.factories import create_order
from tests.services.reports.feed import apply_orders, outbox_events
from tests.services.reports.mongo_peer import AUTH_DATABASE, USERS, Peer, mongo_auth_peer, mongo_peer  # noqa: F401
from tests.services.reports.report_data import feed


@pytest.fixture
async def sources(settings: Any, insights_url: str, orders_url: str) -> Any:
    insights = docs.InsightsCollections(insights_url, settings.service_token_secret)
    orders = docs.OrdersProviders(orders_url, settings.service_token_secret)
    yield forwarding.Sources(insights, orders)
    await insights.aclose()
    await orders.aclose()


async def _device_event(gateway: Any, tenant: Any, tag: str, **extra: Any) -> None:
    event = {
        "id": f"{tag}-dev-{uuid.uuid4().hex[:6]}",
        "type": "page_view",
        "occurredAt": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "anonymousId": f"anon-a-{tag}",
        "device": {"id": f"dev-{tag}", "platform": "ios", "userAgent": "agent"},
        "properties": {"page": "home"},
    } | extra
    r = await gateway.post(
        "/v1/events", json={"events": [event]}, headers={"authorization": f"Bearer {tenant.api_key}"}
    )
    assert r.status_code == 202 and r.json()["stored"] == 1, r.text


async def _expected(reports_pool: Any, sources: Any, org_id: UUID, name: str) -> dict[str, dict[str, Any]]:
    """The collection's documents as the reports service streams them, at MongoDB's millisecond precision."""
    c = BY_NAME[name]
    now = datetime.now(UTC)
    if c.changes_cursor:
        found = [d async for batch, _ in docs.changes(reports_pool, name, org_id) for d in batch]
    elif c.source is Source.INSIGHTS:
        found = [
            d
            async for d in docs.documents(
                reports_pool, name, org_id, now - forwarding.RETENTION, now + forwarding.INSIGHTS_AHEAD,
                insights=sources.insights(),
            )
        ]  # fmt: skip
    else:
        found = [d async for d in docs.documents(reports_pool, name, org_id, now, now, orders=sources.orders())]
    return {d["_id"]: domain.millis(c, d) for d in found}


def _one(collection: Any, query: dict[str, Any]) -> dict[str, Any]:
    found = collection.find_one(query)
    assert found is not None, query
    return dict(found)


def _forwarded(peer: Peer, database: str, name: str) -> list[dict[str, Any]]:
    with peer.client() as client:
        return [domain.from_mongo(BY_NAME[name], d) for d in client[database][name].find()]


async def _connect(reports_pool: Any, org_id: UUID, uri: str, database: str, **body: Any) -> store.MongoConnection:
    return await forwarding.connect(reports_pool, org_id, "user:test", {"uri": uri, "database": database, **body})


async def test_every_collection_is_forwarded_as_its_documents_and_only_its_organisations(
    gateway: Any,
    pool: Any,
    insights_pool: Any,
    reports_pool: Any,
    sources: Any,
    mongo_peer: Peer,  # noqa: F811
    tenant: Any,
    other_tenant: Any,
) -> None:
    mine = await feed(gateway, pool, insights_pool, reports_pool, tenant)
    theirs = await feed(gateway, pool, insights_pool, reports_pool, other_tenant)
    await _device_event(gateway, tenant, mine.tag)
    await _device_event(gateway, other_tenant, theirs.tag)
    db_a, db_b = f"a_{uuid.uuid4().hex[:8]}", f"b_{uuid.uuid4().hex[:8]}"
    a = await _connect(reports_pool, tenant.org_id, mongo_peer.uri(), db_a)
    b = await _connect(reports_pool, other_tenant.org_id, mongo_peer.uri(), db_b, collections=["orders"])
    assert a.collections == tuple(c.name for c in COLLECTIONS)

    done = await forwarding.forward(reports_pool, tenant.org_id, a.id, sources=sources)
    assert done.outcome == "done", done
    assert (await forwarding.forward(reports_pool, other_tenant.org_id, b.id, sources=sources)).outcome == "done"
    # A pass asked for B's connection under A's organisation finds nothing (and the reverse).
    assert (await forwarding.forward(reports_pool, tenant.org_id, b.id, sources=sources)).outcome == "inactive"
    assert (await forwarding.forward(reports_pool, other_tenant.org_id, a.id, sources=sources)).outcome == "inactive"

    for c in COLLECTIONS:
        expected = await _expected(reports_pool, sources, tenant.org_id, c.name)
        assert expected, f"{c.name}: nothing to forward"
        got = _forwarded(mongo_peer, db_a, c.name)
        assert {d["_id"]: d for d in got} == expected, c.name
        assert len(got) == len(expected), c.name
        assert all(d["orgId"] == str(tenant.org_id) for d in got), c.name
        assert theirs.tag not in str(got), c.name
    # B's target holds B's orders only, and A's none of them.
    b_orders = _forwarded(mongo_peer, db_b, "orders")
    assert b_orders and {d["orgId"] for d in b_orders} == {str(other_tenant.org_id)}
    with mongo_peer.client() as client:
        assert set(client[db_b].list_collection_names()) <= {"orders"}
        # The declared indexes, the events' 90-day TTL among them; the Activity Feed is no collection there.
        names = set(client[db_a].list_collection_names())
        assert names == {c.name for c in COLLECTIONS}
        for c in COLLECTIONS:
            info = client[db_a][c.name].index_information()
            for ix in c.indexes:
                assert info[ix.name]["key"] == list(ix.keys), (c.name, ix.name)
        ttl = client[db_a]["events"].index_information()["occurredAt_1"]
        assert EVENTS.retention_days == 90 and ttl["expireAfterSeconds"] == 90 * 86400
        assert isinstance(_one(client[db_a]["events"], {})["occurredAt"], datetime)  # a BSON date: the TTL applies

    # A second pass writes nothing the read model did not change; a change is forwarded and then not pending.
    again = await forwarding.forward(reports_pool, tenant.org_id, a.id, sources=sources)
    assert again.outcome == "done"
    assert {n: again.written[n] for n in again.written if BY_NAME[n].changes_cursor} == {
        c.name: 0 for c in COLLECTIONS if c.changes_cursor
    }
    async with tenant_tx(reports_pool, tenant.org_id) as conn:
        status = await forwarding.status_json(conn, (await store.get(conn, tenant.org_id, a.id)))  # type: ignore[arg-type]
    assert status["lastSuccessAt"] and status["failures"] == [] and not status["failing"]
    assert all(s["backlog"] in (0, None) for s in status["collectionStatus"])
    await create_order(pool, tenant, email=f"late-{mine.tag}@example.com")
    await apply_orders(reports_pool, await outbox_events(pool, tenant.org_id))
    async with tenant_tx(reports_pool, tenant.org_id) as conn:
        status = await forwarding.status_json(conn, (await store.get(conn, tenant.org_id, a.id)))  # type: ignore[arg-type]
    pending = {s["collection"]: s["backlog"] for s in status["collectionStatus"]}
    assert pending["orders"] == 1 and pending["contact_profiles"] >= 1
    assert (await forwarding.forward(reports_pool, tenant.org_id, a.id, sources=sources)).written["orders"] == 1
    assert {d["_id"]: d for d in _forwarded(mongo_peer, db_a, "orders")} == await _expected(
        reports_pool, sources, tenant.org_id, "orders"
    )


async def test_an_erased_contact_is_erased_in_the_target(
    gateway: Any,
    pool: Any,
    reports_pool: Any,
    sources: Any,
    mongo_peer: Peer,  # noqa: F811
    tenant: Any,
) -> None:
    tag = uuid.uuid4().hex[:8]
    email = f"erase-{tag}@example.com"
    order = await create_order(pool, tenant, email=email)
    customer = str(order["customer_id"])
    await _device_event(gateway, tenant, tag, email=email, properties={"plan": "gold"})
    await apply_orders(reports_pool, await outbox_events(pool, tenant.org_id))
    async with tenant_tx(reports_pool, tenant.org_id) as conn:  # personal fields, as the orders service may publish
        await conn.execute(
            "UPDATE contacts SET email = $3, display_name = 'Jo' WHERE org_id = $1 AND id = $2",
            tenant.org_id,
            order["customer_id"],
            email,
        )
    database = f"e_{tag}"
    c = await _connect(reports_pool, tenant.org_id, mongo_peer.uri(), database)
    assert (await forwarding.forward(reports_pool, tenant.org_id, c.id, sources=sources)).outcome == "done"
    with mongo_peer.client() as client:
        assert _one(client[database]["contact_profiles"], {"_id": customer})["email"] == email
        [before] = list(client[database]["events"].find({"customerId": customer}))
        assert before["properties"] == {"plan": "gold"} and before["anonymousId"] == f"anon-a-{tag}"
        assert client[database]["devices"].count_documents({"customerId": customer}) == 1

    async with tenant_tx(pool, tenant.org_id) as conn:
        assert (await orders_erasure.erase(conn, tenant.org_id, order["customer_id"]))["erased"]
    await apply_orders(reports_pool, await outbox_events(pool, tenant.org_id, {contracts.CUSTOMER_ERASED}))
    assert (await forwarding.forward(reports_pool, tenant.org_id, c.id, sources=sources)).outcome == "done"
    with mongo_peer.client() as client:
        contact = _one(client[database]["contact_profiles"], {"_id": customer})
        assert contact["erased"] is True and (contact["email"], contact["displayName"]) == (None, None)
        [after] = list(client[database]["events"].find({"customerId": customer}))
        assert (after["properties"], after["anonymousId"], after["deviceId"]) == ({}, None, None)
        assert client[database]["devices"].count_documents({"customerId": customer}) == 0
        assert email not in str(list(client[database]["contact_profiles"].find({"_id": customer})))


async def test_the_peer_stopped_then_restarted_holds_every_document_once(
    gateway: Any,
    pool: Any,
    insights_pool: Any,
    reports_pool: Any,
    sources: Any,
    mongo_peer: Peer,  # noqa: F811
    tenant: Any,
) -> None:
    await feed(gateway, pool, insights_pool, reports_pool, tenant)
    database = f"r_{uuid.uuid4().hex[:8]}"
    c = await _connect(reports_pool, tenant.org_id, mongo_peer.uri(), database)
    mongo_peer.stop()
    try:
        failed = await forwarding.forward(reports_pool, tenant.org_id, c.id, sources=sources)
        assert failed.outcome == "failed" and failed.reason
        async with tenant_tx(reports_pool, tenant.org_id) as conn:
            status = await forwarding.status_json(conn, (await store.get(conn, tenant.org_id, c.id)))  # type: ignore[arg-type]
            assert await store.positions(conn, tenant.org_id, c.id) == {}  # nothing acknowledged, nothing moved
        assert status["failing"] and status["lastSuccessAt"] is None
        assert status["failures"][0]["reason"] and "127.0.0.1" in status["failures"][0]["reason"]
        # The sweep's pass waits out the back-off; more changes land meanwhile.
        skipped = await forwarding.forward(reports_pool, tenant.org_id, c.id, sources=sources, only_if_due=True)
        assert skipped.outcome == "backing_off"
        await feed(gateway, pool, insights_pool, reports_pool, tenant)
    finally:
        mongo_peer.start()
    assert (await forwarding.forward(reports_pool, tenant.org_id, c.id, sources=sources)).outcome == "done"
    for col in COLLECTIONS:
        expected = await _expected(reports_pool, sources, tenant.org_id, col.name)
        got = _forwarded(mongo_peer, database, col.name)
        assert len(got) == len(expected) and {d["_id"]: d for d in got} == expected, col.name
    async with tenant_tx(reports_pool, tenant.org_id) as conn:
        status = await forwarding.status_json(conn, (await store.get(conn, tenant.org_id, c.id)))  # type: ignore[arg-type]
    assert not status["failing"] and status["lastSuccessAt"] and status["failures"]  # the failure stays listed


async def test_connecting_refuses_unreachable_wrong_credentials_and_read_only_storing_nothing(
    reports_pool: Any,
    mongo_auth_peer: Peer,  # noqa: F811
    tenant: Any,
) -> None:
    peer = mongo_auth_peer
    closed = f"mongodb://127.0.0.1:{_closed_port()}/"
    cases = [
        (closed, "cannot reach"),
        (peer.uri("writer", "Wr0ng-pw-42", AUTH_DATABASE), "authentication failed"),
        (peer.uri("reader", USERS["reader"], AUTH_DATABASE), "may not write"),
        ("postgres://x@y/z", "must start with mongodb://"),
    ]
    for uri, reason in cases:
        with pytest.raises(DomainError) as refused:
            await _connect(reports_pool, tenant.org_id, uri, AUTH_DATABASE)
        assert refused.value.field == "uri" and reason in refused.value.message, (uri, refused.value.message)
        assert "Wr0ng-pw-42" not in refused.value.message and USERS["reader"] not in refused.value.message
    for body, field in (
        ({"collections": ["activity_feed"]}, "collections[0]"),
        ({"collections": []}, "collections"),
        ({"database": "a.b"}, "database"),
    ):
        with pytest.raises(DomainError) as refused:
            await forwarding.connect(
                reports_pool,
                tenant.org_id,
                "user:test",
                {"uri": peer.uri("writer", USERS["writer"], AUTH_DATABASE), "database": AUTH_DATABASE} | body,
            )
        assert refused.value.field == field, refused.value.message
    async with tenant_tx(reports_pool, tenant.org_id) as conn:
        assert await store.listed(conn, tenant.org_id) == []
    # The writer is accepted, and its probe document left nothing behind.
    ok = await _connect(reports_pool, tenant.org_id, peer.uri("writer", USERS["writer"], AUTH_DATABASE), AUTH_DATABASE)
    assert ok.display_uri == f"mongodb://***:***@127.0.0.1:{peer.port}" and USERS["writer"] not in ok.uri_secret
    with peer.client(peer.uri("root", USERS["root"], "admin")) as client:
        assert client[AUTH_DATABASE][domain.PROBE_COLLECTION].count_documents({}) == 0


def _closed_port() -> int:
    from tests.services.reports.mongo_peer import free_port

    return free_port()


async def test_a_pass_replayed_after_a_kill_before_its_positions_moved_leaves_each_document_once(
    gateway: Any,
    pool: Any,
    insights_pool: Any,
    reports_pool: Any,
    sources: Any,
    mongo_peer: Peer,  # noqa: F811
    tenant: Any,
) -> None:
    """A worker killed after the target acknowledged a bulk write but before the position moved: the next pass
    writes the same documents again (a backfill inserts, then replaces the duplicates), each once, as they are."""
    await feed(gateway, pool, insights_pool, reports_pool, tenant)
    database = f"k_{uuid.uuid4().hex[:8]}"
    names = ["contact_profiles", "orders", "financial_journals", "events"]
    c = await _connect(reports_pool, tenant.org_id, mongo_peer.uri(), database, collections=names)
    assert (await forwarding.forward(reports_pool, tenant.org_id, c.id, sources=sources)).outcome == "done"
    with mongo_peer.client() as client:  # the target drifted meanwhile (a reader edited a document)
        some = _one(client[database]["orders"], {})
        client[database]["orders"].update_one({"_id": some["_id"]}, {"$set": {"status": "EDITED"}})
    async with tenant_tx(reports_pool, tenant.org_id) as conn:  # what a kill before the positions moved leaves
        await conn.execute("DELETE FROM mongo_positions WHERE org_id = $1 AND connection_id = $2", tenant.org_id, c.id)
    replay = await forwarding.forward(reports_pool, tenant.org_id, c.id, sources=sources)
    assert replay.outcome == "done" and all(replay.written[n] > 0 for n in names), replay
    for name in names:
        expected = await _expected(reports_pool, sources, tenant.org_id, name)
        got = _forwarded(mongo_peer, database, name)
        assert len(got) == len(expected) and {d["_id"]: d for d in got} == expected, name


async def test_an_applied_event_triggers_a_pass_through_the_reports_worker(
    pool: Any,
    reports_pool: Any,
    mongo_peer: Peer,  # noqa: F811
    tenant: Any,
) -> None:
    """The reports worker's actors on the real broker: the connection's first pass (enqueued when it was saved),
    then an order event applied by the consumer actor brings a debounced pass that forwards the new order."""
    import asyncio
    import time

    import dramatiq

    from shared.messaging.broker import get_broker
    from shared.service.worker import setup_worker
    from tests.workers import running_worker

    setup_worker("reports", configure_logging=False)
    from services.reports import actors  # noqa: F401  (the actors and the after-event middleware declare)

    database = f"w_{uuid.uuid4().hex[:8]}"

    async def until(check: Any, what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not await check():
            assert time.monotonic() < deadline, what
            await asyncio.sleep(0.2)

    async def forwarded_ids() -> set[str]:
        return {d["_id"] for d in _forwarded(mongo_peer, database, "orders")}

    first = await create_order(pool, tenant)
    await apply_orders(reports_pool, await outbox_events(pool, tenant.org_id))
    with running_worker({contracts.REPORTS_EVENTS_QUEUE, forwarding.QUEUE}, threads=2):
        c = await _connect(reports_pool, tenant.org_id, mongo_peer.uri(), database, collections=["orders"])

        async def first_is_there() -> bool:
            return str(first["id"]) in await forwarded_ids()

        await until(first_is_there, "the first pass (enqueued by connect) forwarded the existing order")

        async def first_pass_over() -> bool:
            async with tenant_tx(reports_pool, tenant.org_id) as conn:
                found = await store.get(conn, tenant.org_id, c.id)
            return found is not None and found.last_success_at is not None

        await until(first_pass_over, "the first pass ended")  # so only the event's pass can bring the next order
        later = await create_order(pool, tenant)
        sent = 0
        for e in await outbox_events(pool, tenant.org_id):
            if contracts.REPORTS_FROM_ORDERS.wants(e.type):
                envelope = contracts.envelope(
                    id=e.id, type=e.type, org_id=e.org_id, occurred_at=e.occurred_at, version=e.version,
                    payload=e.payload,
                )  # fmt: skip
                message: dramatiq.Message[Any] = dramatiq.Message(
                    queue_name=contracts.REPORTS_EVENTS_QUEUE,
                    actor_name=contracts.REPORTS_FROM_ORDERS.actor,
                    args=(envelope,),
                    kwargs={},
                    options={},
                )
                get_broker().enqueue(message)
                sent += 1
        assert sent

        async def later_is_there() -> bool:
            return str(later["id"]) in await forwarded_ids()

        await until(later_is_there, "the event's debounced pass forwarded the new order")
    async with tenant_tx(reports_pool, tenant.org_id) as conn:
        status = await forwarding.status_json(conn, (await store.get(conn, tenant.org_id, c.id)))  # type: ignore[arg-type]
    assert status["backlog"] == 0 and status["lastSuccessAt"]


async def test_an_event_reported_late_is_forwarded_by_the_daily_whole_window_pass(
    gateway: Any,
    reports_pool: Any,
    sources: Any,
    mongo_peer: Peer,  # noqa: F811
    tenant: Any,
) -> None:
    tag = uuid.uuid4().hex[:8]
    database = f"l_{tag}"
    await _device_event(gateway, tenant, tag)
    c = await _connect(reports_pool, tenant.org_id, mongo_peer.uri(), database, collections=["events"])
    assert (await forwarding.forward(reports_pool, tenant.org_id, c.id, sources=sources)).outcome == "done"
    before = {d["_id"] for d in _forwarded(mongo_peer, database, "events")}
    # Reported three hours after it happened: beyond the overlap an ordinary pass re-reads.
    await _device_event(gateway, tenant, tag, occurredAt=(datetime.now(UTC) - timedelta(hours=3)).isoformat())
    assert (await forwarding.forward(reports_pool, tenant.org_id, c.id, sources=sources)).outcome == "done"
    assert {d["_id"] for d in _forwarded(mongo_peer, database, "events")} == before
    async with tenant_tx(reports_pool, tenant.org_id) as conn:  # a day later
        await conn.execute(
            """UPDATE mongo_positions SET position = jsonb_set(position::jsonb, '{full}', to_jsonb($3::text))::text
                WHERE org_id = $1 AND connection_id = $2""",
            tenant.org_id,
            c.id,
            (datetime.now(UTC) - timedelta(days=1, minutes=1)).isoformat(),
        )
    assert (await forwarding.forward(reports_pool, tenant.org_id, c.id, sources=sources)).outcome == "done"
    got = {d["_id"]: d for d in _forwarded(mongo_peer, database, "events")}
    assert len(got) == len(before) + 1
    assert got == await _expected(reports_pool, sources, tenant.org_id, "events")


async def test_the_sweep_takes_active_connections_of_every_organisation_and_no_paused_one(
    reports_pool: Any,
    mongo_peer: Peer,  # noqa: F811
    tenant: Any,
    other_tenant: Any,
) -> None:
    from shared.db import connection

    a = await _connect(reports_pool, tenant.org_id, mongo_peer.uri(), f"s_{uuid.uuid4().hex[:8]}")
    b = await _connect(reports_pool, other_tenant.org_id, mongo_peer.uri(), f"s_{uuid.uuid4().hex[:8]}")
    await forwarding.set_status(reports_pool, other_tenant.org_id, b.id, "paused")
    async with connection(reports_pool) as conn:
        active = set(await store.active(conn, 100_000))
    assert (tenant.org_id, a.id) in active and (other_tenant.org_id, b.id) not in active
    assert await forwarding.sweep(reports_pool) >= 1
    # A paused connection's pass does nothing; resumed, it forwards.
    assert (await forwarding.forward(reports_pool, other_tenant.org_id, b.id)).outcome == "inactive"
