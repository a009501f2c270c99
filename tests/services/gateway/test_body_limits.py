"""Body caps hold while the body is read: chunked or declared, oversize bodies are refused unread."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest


def _chunks(total: int, produced: list[int], size: int = 64 * 1024) -> AsyncIterator[bytes]:
    async def gen() -> AsyncIterator[bytes]:
        sent = 0
        while sent < total:
            produced.append(size)
            sent += size
            yield b" " * size

    return gen()


@pytest.mark.parametrize(
    ("path", "cap"),
    [("/graphql", 64 * 1024), ("/v1/orders", 256 * 1024), ("/webhooks/providers/{provider}/commission", 64 * 1024)],
)
async def test_a_chunked_oversize_body_is_refused_after_the_cap_and_read_no_further(gateway, tenant, path, cap) -> None:
    path = path.format(provider=tenant.provider["public_id"])
    produced: list[int] = []
    token = tenant.api_key if path.startswith("/v1/") else tenant.admin_token
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    if path.startswith("/webhooks/"):  # well-formed headers, so the route goes on to read the body
        headers.update({"webhook-id": "msg_1", "webhook-timestamp": str(int(time.time())), "webhook-signature": "v1,x"})
    r = await gateway.post(path, content=_chunks(8 * 1024 * 1024, produced), headers=headers)
    assert r.status_code == 413 and r.json()["error"]["code"] == "TOO_LARGE"
    assert sum(produced) <= cap + 2 * 64 * 1024  # stopped reading right after the cap, not at 8 MB


async def test_a_declared_oversize_body_is_refused_before_reading(gateway) -> None:
    produced: list[int] = []
    r = await gateway.post(
        "/webhooks/providers/prv_made_up/commission",
        content=_chunks(300 * 1024 * 1024, produced),
        headers={"content-length": str(300 * 1024 * 1024), "content-type": "application/json"},
    )
    assert r.status_code == 413
    assert sum(produced) <= 64 * 1024  # nothing (or at most what the client pushed before the answer) was read


async def test_bodies_within_the_cap_are_served(gateway, tenant) -> None:
    r = await gateway.post(
        "/graphql", json={"query": "{ me { role } }"}, headers={"authorization": f"Bearer {tenant.admin_token}"}
    )
    assert r.status_code == 200 and r.json()["data"]["me"]["role"] == "ADMIN"
