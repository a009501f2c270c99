"""Made-up provider ids are remembered as unknown: a flood of them costs one lookup per id and interval."""

from __future__ import annotations

from typing import Any

from services.gateway.clients import OrdersClient


async def test_an_unknown_provider_is_looked_up_once_per_interval(gateway, gateway_app, tenant, monkeypatch) -> None:
    calls: list[str] = []
    original = OrdersClient.provider_webhook_secret

    async def counting(self: OrdersClient, public_id: str) -> Any:
        calls.append(public_id)
        return await original(self, public_id)

    monkeypatch.setattr(OrdersClient, "provider_webhook_secret", counting)
    for _ in range(20):
        r = await gateway.post(
            "/webhooks/providers/prv_madeup123/commission",
            content=b"{}",
            headers={"webhook-id": "m", "webhook-timestamp": "1", "webhook-signature": "v1,x"},
        )
        assert r.status_code == 404
    assert calls == ["prv_madeup123"]
    # A real provider is still found (and a known one is not affected by the unknown cache).
    known = tenant.provider["public_id"]
    await gateway.post(
        f"/webhooks/providers/{known}/commission",
        content=b"{}",
        headers={"webhook-id": "m", "webhook-timestamp": "1", "webhook-signature": "v1,x"},
    )
    assert calls[-1] == known
