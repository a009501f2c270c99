"""A minimal /healthz and /readyz listener for processes that are not HTTP apps (workers, relays).

Started only when HEALTH_PORT is set, so several workers can run side by side.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)


async def serve_health(ready: Callable[[], Awaitable[bool]], port: int | None = None) -> asyncio.AbstractServer | None:
    port = port if port is not None else int(os.environ.get("HEALTH_PORT", "0") or 0)
    if not port:
        return None

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = (await reader.readline()).decode(errors="replace")
            path = line.split(" ")[1] if " " in line else "/"
            if path.startswith("/readyz"):
                try:
                    ok = await asyncio.wait_for(ready(), 3)
                except Exception:
                    ok = False
            else:
                ok = path.startswith("/healthz")
            body = b'{"status":"ok"}' if ok else b'{"status":"unavailable"}'
            status = b"200 OK" if ok else b"503 Service Unavailable"
            writer.write(
                b"HTTP/1.1 "
                + status
                + b"\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )
            await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    logger.info("health endpoint on 127.0.0.1:%d", port)
    return server
