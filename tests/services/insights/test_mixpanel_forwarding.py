# ruff: noqa: F811  (the Mixpanel fixtures are imported by name)
"""Mixpanel forwarding against the local fake peer (its own process, written from Mixpanel's docs): connecting
checks credentials and stores them encrypted, every catalogue type forwarded once with its mapping, the
backfill window, merges reflected in distinct_id, 429 back-off then recovery, the peer down then back, partial
validation failures recorded, resuming where it stopped, profiles, and tenant isolation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.insights.domain import catalogue
from services.insights.repository import merges
from services.insights.repository import mixpanel as store
from services.insights.service import mixpanel as workflow
from shared.db import tenant_tx
from shared.errors import DomainError
from tests.services.insights.mixpanel_support import (  # noqa: F401  (fixtures)
    drain,
    fake_mixpanel,
    mixpanel_settings,
    new_project,
    orders_contacts,
    store_events,
)


async def _connect(insights_pool: Any, settings: Any, tenant: Any, project: Any, **kw: Any) -> store.Connection:
    return await workflow.connect(insights_pool, settings, tenant.org_id, project.input(**kw))


async def _one_batch(pool: Any, settings: Any, orders: Any, org_id: uuid.UUID, cid: uuid.UUID, limit: int) -> None:
    """Calls until one batch was sent (the backfill's scans before it pass over events stored after connecting)."""
    box = workflow.SecretBox.from_settings(settings)
    for _ in range(20):
        r = await workflow.forward_batch(pool, settings, box, orders, org_id, cid, limit=limit, in_flight=1)
        if r.batches or r.stopped:
            return
    raise AssertionError("no batch sent")


async def _forwarded(fake: Any, project: Any) -> list[dict[str, Any]]:
    _, events = await fake.events(project.project_id)
    return events


async def test_credentials_are_checked_stored_encrypted_and_never_shown(
    insights_pool, mixpanel_settings, fake_mixpanel, tenant
) -> None:
    project = await new_project(fake_mixpanel)
    bad: list[tuple[dict[str, Any], str, str]] = [
        ({"secret": "wrong"}, "credentials", "service account"),
        ({"project_token": "not-the-token"}, "credentials", "project token"),
        ({"region": "APAC"}, "region", "unknown region"),
        ({"region": "EU"}, "credentials", "service account"),  # a US project on the EU hosts is not found
        ({"event_types": ["page_view", "nope"]}, "eventTypes[1]", "unknown event type"),
        ({"project_id": "12ab"}, "projectId", "number"),
    ]
    for change, field, reason in bad:
        with pytest.raises(DomainError) as refused:
            await _connect(insights_pool, mixpanel_settings, tenant, project, **change)
        assert refused.value.field == field and reason in refused.value.message, (change, refused.value.message)
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        assert await store.list_all(conn, tenant.org_id) == []  # nothing stored by a refusal

    c = await _connect(insights_pool, mixpanel_settings, tenant, project)
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        raw = await conn.fetchrow("SELECT * FROM mixpanel_connections WHERE org_id = $1", tenant.org_id)
        shown = await workflow.status(conn, tenant.org_id, c.id)
    stored = " ".join(str(v) for v in dict(raw).values())
    for secret in (project.secret, project.token, project.username):
        assert secret not in stored  # encrypted at rest
        assert secret not in repr(shown)  # and never shown
    assert shown["projectId"] == project.project_id and shown["region"] == "US" and shown["backlog"] == 0
    with pytest.raises(DomainError) as twice:
        await _connect(insights_pool, mixpanel_settings, tenant, project)
    assert twice.value.field == "projectId"


async def test_every_event_type_is_forwarded_once_with_its_mapping_and_the_90_day_backfill(
    insights_pool, mixpanel_settings, fake_mixpanel, orders_contacts, tenant
) -> None:
    customer = uuid.uuid4()
    types = sorted(catalogue.CATALOGUE)
    now = datetime.now(UTC)
    # Stored before the connection: the backfill's (the last 90 days only).
    before = await store_events(
        insights_pool,
        tenant.org_id,
        tenant.integration_id,
        [{"type": "page_view", "customer": customer, "at": now - timedelta(days=d)} for d in (1, 89)]
        + [{"type": "page_view", "customer": customer, "at": now - timedelta(days=95)}],
    )
    project = await new_project(fake_mixpanel)
    c = await _connect(insights_pool, mixpanel_settings, tenant, project, event_types=[*types, "custom:signed_up"])
    # Stored after it: the live cursor's, whenever they happened.
    after = await store_events(
        insights_pool,
        tenant.org_id,
        tenant.integration_id,
        [
            {"type": t, "customer": customer, "amount": "12.50", "currency": "GBP", "properties": {"plan": "gold"}}
            for t in [*types, "custom:signed_up"]
        ]
        + [{"type": "page_view", "customer": None, "at": now - timedelta(days=3)}],  # late, no customer
    )
    await drain(insights_pool, mixpanel_settings, orders_contacts, tenant.org_id, c.id)
    received, events = await fake_mixpanel.events(project.project_id)
    by_id = {e["properties"]["$insert_id"]: e for e in events}
    expected = {str(i) for i in [*before[:2], *after]}
    assert set(by_id) == expected and received == len(expected)  # once each; the 95-day-old one not at all
    live = [by_id[str(i)] for i in after[:-1]]
    for t in [*types, "custom:signed_up"]:
        sent = [e for e in live if e["event"] == t]
        assert len(sent) == 1, t
        props = sent[0]["properties"]
        assert props["distinct_id"] == str(customer) and props["amount"] == 12.5 and props["currency"] == "GBP"
        assert props["plan"] == "gold" and props["integration_id"] == str(tenant.integration_id)
        assert abs(props["time"] - now.timestamp() * 1000) < 600_000  # milliseconds
    assert by_id[str(after[-1])]["properties"]["distinct_id"] == ""
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        shown = await workflow.status(conn, tenant.org_id, c.id)
    assert shown["forwarded"] == len(expected) and shown["backlog"] == 0 and shown["backfillDone"]
    assert shown["lastSuccessAt"] is not None and shown["lastError"] is None


async def test_types_not_picked_stay_and_paused_connections_send_nothing(
    insights_pool, mixpanel_settings, fake_mixpanel, orders_contacts, tenant
) -> None:
    project = await new_project(fake_mixpanel)
    c = await _connect(insights_pool, mixpanel_settings, tenant, project, event_types=["page_view"])
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        await workflow.change(conn, tenant.org_id, c.id, paused=True)
    await store_events(insights_pool, tenant.org_id, tenant.integration_id, [{"type": "page_view"}, {"type": "search"}])
    r = await workflow.forward(insights_pool, mixpanel_settings, orders_contacts, tenant.org_id, c.id)
    assert r.stopped == "paused" and await _forwarded(fake_mixpanel, project) == []
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        await workflow.change(conn, tenant.org_id, c.id, paused=False)
    await drain(insights_pool, mixpanel_settings, orders_contacts, tenant.org_id, c.id)
    assert [e["event"] for e in await _forwarded(fake_mixpanel, project)] == ["page_view"]


async def test_a_merge_is_reflected_in_distinct_id(
    insights_pool, mixpanel_settings, fake_mixpanel, orders_contacts, tenant
) -> None:
    anonymous, generic = uuid.uuid4(), uuid.uuid4()
    project = await new_project(fake_mixpanel)
    c = await _connect(insights_pool, mixpanel_settings, tenant, project)
    ids = await store_events(
        insights_pool, tenant.org_id, tenant.integration_id, [{"type": "page_view", "customer": anonymous}] * 2
    )
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        await merges.merge(conn, tenant.org_id, anonymous, generic, datetime.now(UTC))
    await drain(insights_pool, mixpanel_settings, orders_contacts, tenant.org_id, c.id)
    events = await _forwarded(fake_mixpanel, project)
    assert {e["properties"]["$insert_id"] for e in events} == {str(i) for i in ids}
    assert {e["properties"]["distinct_id"] for e in events} == {str(generic)}


async def test_429_backs_off_honouring_retry_after_then_recovers_without_duplicates(
    insights_pool, mixpanel_settings, fake_mixpanel, orders_contacts, tenant
) -> None:
    project = await new_project(fake_mixpanel)
    c = await _connect(insights_pool, mixpanel_settings, tenant, project)
    ids = await store_events(insights_pool, tenant.org_id, tenant.integration_id, [{"type": "page_view"}] * 5)
    await fake_mixpanel.set_faults(status=429, count=2, retry_after=1)
    first = await workflow.forward(insights_pool, mixpanel_settings, orders_contacts, tenant.org_id, c.id)
    assert first.stopped == "waiting" and first.events == 0
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        waiting = await workflow.status(conn, tenant.org_id, c.id)
    assert waiting["lastError"].startswith("429") and waiting["backlog"] == 5
    assert waiting["nextAttemptAt"] is not None
    next_at = datetime.fromisoformat(waiting["nextAttemptAt"])
    assert timedelta(seconds=0.5) < next_at - datetime.now(UTC) < timedelta(seconds=1.5)  # Retry-After: 1
    again = await workflow.forward(insights_pool, mixpanel_settings, orders_contacts, tenant.org_id, c.id)
    assert again.stopped == "waiting" and again.events == 0  # not before its time: no request made
    await drain(insights_pool, mixpanel_settings, orders_contacts, tenant.org_id, c.id)
    received, events = await fake_mixpanel.events(project.project_id)
    assert sorted(e["properties"]["$insert_id"] for e in events) == sorted(str(i) for i in ids) and received == 5
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        done = await workflow.status(conn, tenant.org_id, c.id)
    assert done["lastError"] is None and done["forwarded"] == 5 and done["backlog"] == 0


async def test_the_peer_down_then_back_forwards_every_event_once(
    insights_pool, mixpanel_settings, fake_mixpanel, orders_contacts, tenant
) -> None:
    project = await new_project(fake_mixpanel)
    c = await _connect(insights_pool, mixpanel_settings, tenant, project)
    ids = await store_events(insights_pool, tenant.org_id, tenant.integration_id, [{"type": "page_view"}] * 30)
    # A batch Mixpanel accepted whose answer was lost is sent again: deduplicated by $insert_id there.
    await _one_batch(insights_pool, mixpanel_settings, orders_contacts, tenant.org_id, c.id, limit=10)
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        await conn.execute(  # as if that batch's commit never happened (a worker killed after the POST)
            "UPDATE mixpanel_connections SET live_xid = boundary_xid, live_id = $3 WHERE org_id = $1 AND id = $2",
            tenant.org_id,
            c.id,
            store.NIL,
        )
    await fake_mixpanel.set_faults(down=True)
    try:
        r = await workflow.forward(insights_pool, mixpanel_settings, orders_contacts, tenant.org_id, c.id)
        assert r.stopped == "waiting" and r.events == 0
        async with tenant_tx(insights_pool, tenant.org_id) as conn:
            down = await workflow.status(conn, tenant.org_id, c.id)
        assert "unreachable" in down["lastError"] and down["backlog"] == 30
    finally:
        await fake_mixpanel.set_faults()
    async with tenant_tx(insights_pool, tenant.org_id) as conn:  # the back-off is not what this test waits on
        await conn.execute("UPDATE mixpanel_connections SET next_attempt_at = NULL WHERE id = $1", c.id)
    await drain(insights_pool, mixpanel_settings, orders_contacts, tenant.org_id, c.id)
    received, events = await fake_mixpanel.events(project.project_id)
    assert sorted(e["properties"]["$insert_id"] for e in events) == sorted(str(i) for i in ids)
    assert received == 40  # the first 10 twice, kept once


async def test_events_mixpanel_refuses_are_recorded_with_the_reason_and_the_rest_go(
    insights_pool, mixpanel_settings, fake_mixpanel, orders_contacts, tenant
) -> None:
    project = await new_project(fake_mixpanel)
    c = await _connect(insights_pool, mixpanel_settings, tenant, project)
    now = datetime.now(UTC)
    ids = await store_events(
        insights_pool,
        tenant.org_id,
        tenant.integration_id,
        [{"type": "page_view"}, {"type": "page_view", "at": now + timedelta(hours=3)}, {"type": "page_view"}],
    )
    r = await drain(insights_pool, mixpanel_settings, orders_contacts, tenant.org_id, c.id)
    assert r.failed == 1 and r.events == 2 and r.batches == 1  # not retried
    events = await _forwarded(fake_mixpanel, project)
    assert {e["properties"]["$insert_id"] for e in events} == {str(ids[0]), str(ids[2])}
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        shown = await workflow.status(conn, tenant.org_id, c.id)
    assert shown["failed"] == 1 and shown["backlog"] == 0
    [failure] = shown["failures"]
    assert failure["eventId"] == str(ids[1]) and failure["field"] == "properties.time"
    assert "future" in failure["reason"]


async def test_forwarding_resumes_where_it_stopped(
    insights_pool, mixpanel_settings, fake_mixpanel, orders_contacts, tenant
) -> None:
    project = await new_project(fake_mixpanel)
    c = await _connect(insights_pool, mixpanel_settings, tenant, project)
    ids = await store_events(insights_pool, tenant.org_id, tenant.integration_id, [{"type": "page_view"}] * 7)
    for _ in range(3):  # three "processes", one batch of 3 each, the last one short
        await _one_batch(insights_pool, mixpanel_settings, orders_contacts, tenant.org_id, c.id, limit=3)
    received, events = await fake_mixpanel.events(project.project_id)
    assert received == 7 and sorted(e["properties"]["$insert_id"] for e in events) == sorted(str(i) for i in ids)


async def test_profiles_carry_the_contact_and_first_seen_is_set_once(
    gateway, insights_pool, mixpanel_settings, fake_mixpanel, orders_contacts, tenant
) -> None:
    project = await new_project(fake_mixpanel)
    c = await _connect(insights_pool, mixpanel_settings, tenant, project, forward_contacts=True)
    email = f"ada-{uuid.uuid4().hex[:6]}@example.com"
    event = {
        "id": f"pv-{uuid.uuid4().hex[:8]}",
        "type": "page_view",
        "occurredAt": datetime.now(UTC).isoformat(),
        "email": email,
    }
    r = await gateway.post(
        "/v1/events", json={"events": [event]}, headers={"authorization": f"Bearer {tenant.api_key}"}
    )
    assert r.status_code == 202 and r.json()["stored"] == 1, r.text
    forwarded = await drain(insights_pool, mixpanel_settings, orders_contacts, tenant.org_id, c.id)
    assert forwarded.profiles == 1
    [distinct] = {e["properties"]["distinct_id"] for e in await _forwarded(fake_mixpanel, project)}
    profiles = await fake_mixpanel.profiles(project.project_id)
    profile = profiles[distinct]
    assert profile["$email"] == email and profile["integrations_visited"] == [str(tenant.integration_id)]
    assert profile["first_seen"] and profile["last_seen"]
    first_seen = profile["first_seen"]
    # A later event: $set moves last_seen; $set_once keeps first_seen.
    event2 = {**event, "id": f"pv-{uuid.uuid4().hex[:8]}", "occurredAt": datetime.now(UTC).isoformat()}
    r = await gateway.post(
        "/v1/events", json={"events": [event2]}, headers={"authorization": f"Bearer {tenant.api_key}"}
    )
    assert r.status_code == 202, r.text
    await drain(insights_pool, mixpanel_settings, orders_contacts, tenant.org_id, c.id)
    assert (await fake_mixpanel.profiles(project.project_id))[distinct]["first_seen"] == first_seen


async def test_an_organisation_never_forwards_or_sees_anothers(
    insights_pool, mixpanel_settings, fake_mixpanel, orders_contacts, tenant, other_tenant
) -> None:
    mine, theirs = await new_project(fake_mixpanel), await new_project(fake_mixpanel, region="EU")
    c = await _connect(insights_pool, mixpanel_settings, tenant, mine)
    other = await _connect(insights_pool, mixpanel_settings, other_tenant, theirs)
    my_ids = await store_events(insights_pool, tenant.org_id, tenant.integration_id, [{"type": "page_view"}] * 3)
    their_ids = await store_events(
        insights_pool, other_tenant.org_id, other_tenant.integration_id, [{"type": "page_view"}] * 2
    )
    await drain(insights_pool, mixpanel_settings, orders_contacts, tenant.org_id, c.id)
    await drain(insights_pool, mixpanel_settings, orders_contacts, other_tenant.org_id, other.id)
    assert {e["properties"]["$insert_id"] for e in await _forwarded(fake_mixpanel, mine)} == {str(i) for i in my_ids}
    assert {e["properties"]["$insert_id"] for e in await _forwarded(fake_mixpanel, theirs)} == {
        str(i) for i in their_ids
    }
    # Another organisation's connection is unknown here, whatever is asked of it.
    r = await workflow.forward(insights_pool, mixpanel_settings, orders_contacts, tenant.org_id, other.id)
    assert r.stopped == "gone"
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        with pytest.raises(DomainError):
            await workflow.status(conn, tenant.org_id, other.id)
        with pytest.raises(DomainError):
            await workflow.change(conn, tenant.org_id, other.id, paused=True)
        with pytest.raises(DomainError):
            await workflow.delete(conn, tenant.org_id, other.id)
        assert [x.id for x in await store.list_all(conn, tenant.org_id)] == [c.id]


async def test_mixpanels_reserved_names_are_never_taken_from_an_events_properties(
    insights_pool, mixpanel_settings, fake_mixpanel, orders_contacts, tenant
) -> None:
    project = await new_project(fake_mixpanel)
    c = await _connect(insights_pool, mixpanel_settings, tenant, project)
    customer = uuid.uuid4()
    props = {"time": 1, "distinct_id": "spoof", "token": "x", "$insert_id": "dup", "mp_lib": "y", "$os": "z", "keep": 2}
    [event_id] = await store_events(
        insights_pool,
        tenant.org_id,
        tenant.integration_id,
        [{"type": "page_view", "customer": customer, "properties": props}],
    )
    await drain(insights_pool, mixpanel_settings, orders_contacts, tenant.org_id, c.id)
    [sent] = await _forwarded(fake_mixpanel, project)
    p = sent["properties"]
    assert p["keep"] == 2 and p["distinct_id"] == str(customer) and p["$insert_id"] == str(event_id)
    assert p["time"] > 1_000_000_000_000 and not {"token", "mp_lib", "$os"} & set(p)


async def test_the_ticker_queues_each_due_connection_once_until_its_job_ends(
    insights_pool, mixpanel_settings, fake_mixpanel, orders_contacts, tenant
) -> None:
    active = await _connect(insights_pool, mixpanel_settings, tenant, await new_project(fake_mixpanel))
    paused = await _connect(insights_pool, mixpanel_settings, tenant, await new_project(fake_mixpanel))
    async with tenant_tx(insights_pool, tenant.org_id) as conn:
        await workflow.change(conn, tenant.org_id, paused.id, paused=True)
    queued: list[tuple[uuid.UUID, uuid.UUID]] = []

    async def tick() -> list[uuid.UUID]:
        queued.clear()
        await workflow.tick(insights_pool, lambda org, cid: queued.append((org, cid)))
        return [cid for org, cid in queued if org == tenant.org_id]  # other tests' organisations tick too

    assert await tick() == [active.id]  # the paused one is not due
    assert await tick() == []  # queued within the last minute: not again
    await workflow.forward(insights_pool, mixpanel_settings, orders_contacts, tenant.org_id, active.id)
    assert await tick() == [active.id]  # its job ended: due again
