"""An export that fails midway ends as a visible failure to the client, never as a silent, truncated 200."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from services.orders.repository import exports as export_queries
from shared.service.app import service_state
from tests.factories import create_order, gql
from tests.services.gateway.test_orders_graphql import EXPORT


async def test_a_failure_after_the_first_batch_is_not_a_complete_download(
    gateway, orders_app, pool, tenant, monkeypatch
) -> None:
    for i in range(6):
        await create_order(pool, tenant, ref=f"fail-{i}")
    state = service_state(orders_app)
    monkeypatch.setattr(state, "settings", dataclasses.replace(state.settings, export_csv_batch_rows=2))
    real = export_queries.copy_csv_batch
    calls = {"n": 0}

    async def failing_after_first(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > 1:
            raise RuntimeError("the database went away mid-export")
        return await real(*args, **kwargs)

    monkeypatch.setattr(export_queries, "copy_csv_batch", failing_after_first)
    body = await gql(gateway, EXPORT, {"k": "ORDERS", "fmt": "CSV", "of": {}}, token=tenant.admin_token)
    url = body["data"]["requestExport"]["url"].removeprefix("http://gateway.test")
    received = b""
    with pytest.raises(Exception):  # noqa: B017  (any transport error: the point is that it is not a clean end)
        async with gateway.stream("GET", url) as response:
            async for chunk in response.aiter_bytes():
                received += chunk
    assert calls["n"] >= 2 and received.count(b"\n") < 7  # cut short, and the client was told so
