"""Pools wait for PostgreSQL with a clear message and recover when it comes up."""

from __future__ import annotations

import asyncio
import logging

from infra.embedded import EmbeddedPostgres, free_port
from shared.db import create_pool


async def test_pool_waits_for_postgres_and_recovers(tmp_path, caplog):
    port = free_port()
    caplog.set_level(logging.ERROR, logger="shared.db")
    task = asyncio.create_task(create_pool(f"postgresql://postgres@127.0.0.1:{port}/postgres", max_size=1))
    await asyncio.sleep(1.0)
    assert not task.done()
    assert any(f"PostgreSQL unreachable at 127.0.0.1:{port}" in r.getMessage() for r in caplog.records)
    pg = await asyncio.to_thread(EmbeddedPostgres(tmp_path / "late", port).start)
    try:
        pool = await asyncio.wait_for(task, 30)
        assert await pool.fetchval("SELECT 1") == 1
        await pool.close()
    finally:
        await asyncio.to_thread(pg.stop)
