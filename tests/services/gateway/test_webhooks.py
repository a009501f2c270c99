"""Provider commission webhooks end to end inside one process: gateway → Redis → Dramatiq worker → PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.factories import commission_body, create_order, signed_headers


@pytest.fixture(scope="module")
def broker() -> Any:
    from shared.messaging.broker import get_broker

    return get_broker()


def queued(broker: Any) -> int:
    return int(broker.client.hlen(f"{broker.namespace}:orders.msgs"))


@pytest.fixture(scope="module")
def worker(broker: Any) -> Any:
    import services.orders.worker  # noqa: F401  (sets up the worker's resources and declares its actors)
    from tests.workers import running_worker

    with running_worker({"orders"}) as w:
        yield w


async def _drain(broker: Any, timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if queued(broker) == 0:
            await asyncio.sleep(0.3)
            if queued(broker) == 0:
                return
        await asyncio.sleep(0.1)
    raise AssertionError("queue did not drain")


async def _order_state(pool: Any, tenant: Any, order_id: Any) -> tuple[str, str, str]:
    from shared.db import tenant_tx

    async with tenant_tx(pool, tenant.org_id) as conn:
        r = await conn.fetchrow("SELECT status, comm_status, commission_amount FROM orders WHERE id = $1", order_id)
    return r["status"], r["comm_status"], str(r["commission_amount"])


async def _provider_ledger(pool: Any, tenant: Any, order_id: Any) -> list[Any]:
    from shared.db import tenant_tx

    async with tenant_tx(pool, tenant.org_id) as conn:
        return await conn.fetch(
            "SELECT reference, to_status, to_comm FROM commission_ledger"
            " WHERE order_id = $1 AND source = 'provider' ORDER BY id",
            order_id,
        )


def url(tenant: Any) -> str:
    return f"/webhooks/providers/{tenant.provider['public_id']}/commission"


class TestRefusals:
    """Each refusal answers with a clear error and enqueues nothing."""

    async def _refused(
        self,
        gateway: Any,
        broker: Any,
        tenant: Any,
        body: bytes,
        headers: dict[str, str],
        status: int,
        path: str | None = None,
    ) -> dict[str, Any]:
        before = queued(broker)
        r = await gateway.post(path or url(tenant), content=body, headers=headers)
        assert r.status_code == status, r.text
        assert queued(broker) == before
        return r.json()["error"]

    async def test_missing_headers(self, gateway, broker, tenant, pool):
        order = await create_order(pool, tenant)
        body = commission_body(order["id"], 1, "SUCCESSFUL")
        headers = signed_headers(tenant.provider["webhook_secret"], body, "msg-" + uuid.uuid4().hex)
        del headers["webhook-signature"]
        err = await self._refused(gateway, broker, tenant, body, headers, 400)
        assert err["field"] == "webhook-signature"

    async def test_bad_signature_and_changed_byte(self, gateway, broker, tenant, pool):
        order = await create_order(pool, tenant)
        body = commission_body(order["id"], 1, "SUCCESSFUL")
        headers = signed_headers(tenant.provider["webhook_secret"], body, "msg-" + uuid.uuid4().hex)
        tampered = body.replace(b'"SUCCESSFUL"', b'"SUCCESSFUM"')
        assert len(tampered) == len(body) and tampered != body
        await self._refused(gateway, broker, tenant, tampered, headers, 401)
        bad = dict(headers, **{"webhook-signature": "v1,AAAA" + headers["webhook-signature"][7:]})
        await self._refused(gateway, broker, tenant, body, bad, 401)
        await self._refused(gateway, broker, tenant, body, dict(headers, **{"webhook-signature": "garbage"}), 401)
        assert await _order_state(pool, tenant, order["id"]) == ("PENDING", "N/A", "12.50")

    @pytest.mark.parametrize("offset", [timedelta(minutes=-6), timedelta(minutes=6)])
    async def test_timestamp_outside_tolerance(self, gateway, broker, tenant, pool, offset):
        order = await create_order(pool, tenant)
        body = commission_body(order["id"], 1, "SUCCESSFUL")
        headers = signed_headers(
            tenant.provider["webhook_secret"], body, "msg-" + uuid.uuid4().hex, at=datetime.now(UTC) + offset
        )
        err = await self._refused(gateway, broker, tenant, body, headers, 401)
        assert "timestamp" in err["message"]

    async def test_unknown_provider_and_invalid_payload(self, gateway, broker, tenant, pool):
        order = await create_order(pool, tenant)
        body = commission_body(order["id"], 1, "SUCCESSFUL")
        headers = signed_headers(tenant.provider["webhook_secret"], body, "msg-" + uuid.uuid4().hex)
        await self._refused(gateway, broker, tenant, body, headers, 404, path="/webhooks/providers/prv_nope/commission")
        bad = commission_body(order["id"], 1, "PAID")
        err = await self._refused(
            gateway,
            broker,
            tenant,
            bad,
            signed_headers(tenant.provider["webhook_secret"], bad, "msg-" + uuid.uuid4().hex),
            422,
        )
        assert err["field"] == "data.status"
        notjson = b"{not json"
        await self._refused(
            gateway,
            broker,
            tenant,
            notjson,
            signed_headers(tenant.provider["webhook_secret"], notjson, "msg-" + uuid.uuid4().hex),
            400,
        )


async def test_rotation_header_with_two_signatures_is_accepted(gateway, broker, worker, tenant, pool):
    order = await create_order(pool, tenant)
    body = commission_body(order["id"], 1, "SUCCESSFUL", amount="12.50", currency="GBP")
    headers = signed_headers(
        tenant.provider["webhook_secret"],
        body,
        "msg-" + uuid.uuid4().hex,
        extra_signatures=["v1,b2xkLXNlY3JldC1zaWduYXR1cmUtdGhhdC1kb2VzLW5vdC1tYXRjaA=="],
    )
    r = await gateway.post(url(tenant), content=body, headers=headers)
    assert r.status_code == 202, r.text
    await _drain(broker)
    assert await _order_state(pool, tenant, order["id"]) == ("SUCCESSFUL", "PENDING", "12.50")


async def test_same_webhook_fifty_times_at_once_and_a_day_later_applies_once(gateway, broker, worker, tenant, pool):
    order = await create_order(pool, tenant, status="SUCCESSFUL")
    secret = tenant.provider["webhook_secret"]
    body = commission_body(order["id"], 5, "SUCCESSFUL", "SUCCESSFUL", "12.50", "GBP")
    msg_id = "msg-" + uuid.uuid4().hex
    responses = await asyncio.gather(
        *[gateway.post(url(tenant), content=body, headers=signed_headers(secret, body, msg_id)) for _ in range(50)]
    )
    assert all(r.status_code == 202 for r in responses)
    await _drain(broker)
    assert await _order_state(pool, tenant, order["id"]) == ("SUCCESSFUL", "SUCCESSFUL", "12.50")
    assert [r["reference"] for r in await _provider_ledger(pool, tenant, order["id"])] == [msg_id]
    # A day later the provider retries the same id: accepted, applied nothing.
    from shared.db import tenant_tx

    async with tenant_tx(pool, tenant.org_id) as conn:
        await conn.execute(
            "UPDATE webhook_receipts SET received_at = now() - interval '1 day' WHERE webhook_id = $1", msg_id
        )
    r = await gateway.post(url(tenant), content=body, headers=signed_headers(secret, body, msg_id))
    assert r.status_code == 202
    await _drain(broker)
    assert len(await _provider_ledger(pool, tenant, order["id"])) == 1
    async with tenant_tx(pool, tenant.org_id) as conn:
        assert await conn.fetchval("SELECT outcome FROM webhook_receipts WHERE webhook_id = $1", msg_id) == "applied"


async def test_out_of_order_updates_apply_in_provider_order(gateway, broker, worker, tenant, pool):
    order = await create_order(pool, tenant)
    secret = tenant.provider["webhook_secret"]
    paid = commission_body(order["id"], 2, "SUCCESSFUL", "SUCCESSFUL", "13.00", "GBP")
    confirmed = commission_body(order["id"], 1, "SUCCESSFUL", "PENDING", "12.50", "GBP")
    for body, mid in ((paid, "late-2-" + uuid.uuid4().hex), (confirmed, "late-1-" + uuid.uuid4().hex)):
        r = await gateway.post(url(tenant), content=body, headers=signed_headers(secret, body, mid))
        assert r.status_code == 202
        await _drain(broker)
    assert await _order_state(pool, tenant, order["id"]) == ("SUCCESSFUL", "SUCCESSFUL", "13.00")
    from shared.db import tenant_tx

    async with tenant_tx(pool, tenant.org_id) as conn:
        outcomes = await conn.fetch(
            "SELECT webhook_id, outcome FROM webhook_receipts WHERE order_id = $1 ORDER BY received_at", order["id"]
        )
    assert [o["outcome"] for o in outcomes] == ["applied", "stale"]


async def test_illegal_transition_is_recorded_and_changes_nothing(gateway, broker, worker, tenant, pool):
    order = await create_order(pool, tenant, status="FAILED")
    body = commission_body(order["id"], 1, "SUCCESSFUL", "PENDING")
    mid = "bad-" + uuid.uuid4().hex
    r = await gateway.post(
        url(tenant), content=body, headers=signed_headers(tenant.provider["webhook_secret"], body, mid)
    )
    assert r.status_code == 202
    await _drain(broker)
    assert await _order_state(pool, tenant, order["id"]) == ("FAILED", "N/A", "12.50")
    from shared.db import tenant_tx

    async with tenant_tx(pool, tenant.org_id) as conn:
        outcome = await conn.fetchval("SELECT outcome FROM webhook_receipts WHERE webhook_id = $1", mid)
    assert outcome.startswith("rejected: cannot move an order from FAILED")


async def test_one_batch_spanning_organisations_applies_each_webhook_once(broker, worker, pool, tenant, other_tenant):
    """A batch message (what the gateway sends for webhooks arriving together), redelivered as well."""
    from dramatiq import Message

    from shared.messaging import contracts

    a1, a2 = await create_order(pool, tenant, status="SUCCESSFUL"), await create_order(pool, tenant, status="FAILED")
    b1 = await create_order(pool, other_tenant, status="SUCCESSFUL")

    def item(t: Any, order: Any, webhook_id: str, comm: str, seq: int = 1) -> dict[str, Any]:
        return {
            "org_id": str(t.org_id),
            "provider_id": str(t.provider["id"]),
            "webhook_id": webhook_id,
            "data": {"order_id": str(order["id"]), "sequence": seq, "status": "SUCCESSFUL", "commission_status": comm},
        }

    tag = uuid.uuid4().hex[:8]
    items = [
        item(tenant, a1, f"a1-{tag}", "SUCCESSFUL"),
        item(tenant, a1, f"a1-{tag}", "SUCCESSFUL"),
        item(tenant, a2, f"a2-{tag}", "PENDING"),
        item(other_tenant, b1, f"b1-{tag}", "SUCCESSFUL"),
    ]
    for _ in range(2):  # the second delivery stands for a redelivery after a crash
        broker.enqueue(
            Message(
                queue_name=contracts.ORDERS_QUEUE,
                actor_name=contracts.APPLY_PROVIDER_WEBHOOKS,
                args=(items,),
                kwargs={},
                options={},
            )
        )
        await _drain(broker)
    assert await _order_state(pool, tenant, a1["id"]) == ("SUCCESSFUL", "SUCCESSFUL", "12.50")
    assert await _order_state(pool, tenant, a2["id"]) == ("FAILED", "N/A", "12.50")  # illegal: refused alone
    assert await _order_state(pool, other_tenant, b1["id"]) == ("SUCCESSFUL", "SUCCESSFUL", "12.50")
    assert [r["reference"] for r in await _provider_ledger(pool, tenant, a1["id"])] == [f"a1-{tag}"]
    assert len(await _provider_ledger(pool, other_tenant, b1["id"])) == 1
