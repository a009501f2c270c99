"""A tiny app served by `python -m shared.service.serve` in tests/shared/service/test_server.py."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from shared import logging as slog


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def echo(request: Request) -> PlainTextResponse:
    body = await request.body()
    return PlainTextResponse(f"{len(body)} bytes")


async def slow(request: Request) -> PlainTextResponse:
    await asyncio.sleep(float(request.query_params.get("s", "1")))
    return PlainTextResponse("slept")


def app() -> Starlette:
    slog.configure("guarded-app", "INFO")
    return Starlette(routes=[Route("/healthz", healthz), Route("/echo", echo, methods=["POST"]), Route("/slow", slow)])
