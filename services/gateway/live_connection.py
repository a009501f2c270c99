"""One graphql-transport-ws connection at `/graphql`: who it is, how long it may stay, what it may run.

- Authentication happens on `connection_init`, whose payload carries `{"Authorization": "Bearer ..."}`
  (and optionally `X-Organisation-Id`), as browsers cannot set headers on a WebSocket; the same headers on
  the upgrade request are accepted too. The viewer is resolved by the HTTP path's `authenticate` and viewer
  cache. No or an invalid token closes with 4401, no membership with 4403, a backing service down with
  1013 (try again later); a `subscribe` before the acknowledgement closes with 4401 (strawberry's rule).
- Membership is checked again every `AUTH_CACHE_SECONDS` (5 s when the cache is off): a removed member, a
  member moved to another organisation, or an expired token ends the connection (4403 / 4401) within about
  twice that; a changed role applies to the next push.
- Only subscriptions run here: queries and mutations go over POST, where the admission limits apply.
- At most `MAX_CONNECTIONS_PER_PROCESS` connections per process (beyond: closed with 1013), and
  `MAX_SUBSCRIPTIONS_PER_CONNECTION` operations each; per-user and per-process subscription caps are taken
  by each subscription (services/gateway/graphql/subscriptions.py).
- Origins: strawberry's check before the handshake (no `Origin`, or the gateway's own origin); the gateway
  serves no cross-origin pages (no CORS), and no cookie authenticates anything here.
- Frames are text (graphql-transport-ws requires it; the HTTP view's encoder gives bytes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import orjson
from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse
from graphql.error import GraphQLSyntaxError
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage, SubscribeMessage

from services.gateway.auth import NoMembership, NotAuthenticated, Viewer, authenticate
from services.gateway.clients import Unavailable
from services.gateway.graphql.context import Context
from services.gateway.graphql.schema import MAX_TOKENS
from services.gateway.live import MAX_CONNECTIONS_PER_PROCESS

logger = logging.getLogger("gateway.live")

RECHECK_WHEN_UNCACHED = 5.0
CLOSE_UNAUTHORIZED, CLOSE_FORBIDDEN, CLOSE_TRY_LATER = 4401, 4403, 1013


class TextWebSocketAdapter(ASGIWebSocketAdapter):
    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(orjson.dumps(message).decode())
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


def _header(payload: Mapping[str, Any], name: str) -> str | None:
    """A connection_init payload entry, its name in any case (clients send `Authorization` or `authorization`)."""
    for key, value in payload.items():
        if isinstance(key, str) and key.lower() == name and isinstance(value, str):
            return value
    return None


class LiveConnection(BaseGraphQLTransportWSHandler[Context, None]):
    """strawberry's graphql-transport-ws handler with the gateway's authentication, re-checks and caps."""

    credentials: tuple[str | None, str | None] = (None, None)
    recheck: asyncio.Task[None] | None = None
    counted = False

    @property
    def state(self) -> Any:
        return self.context.request.app.state

    async def handle(self) -> None:
        hub = self.state.live
        if hub.connections >= MAX_CONNECTIONS_PER_PROCESS:
            await self.websocket.close(CLOSE_TRY_LATER, "too many live connections on this gateway; try again")
            return
        hub.connections += 1
        self.counted = True
        await super().handle()

    async def shutdown(self) -> None:
        if self.recheck is not None:
            self.recheck.cancel()
        if self.counted:
            self.state.live.connections -= 1
            self.counted = False
        await super().shutdown()

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        payload = message.get("payload") or {}
        if self.connection_init_received or self.connection_timed_out or not isinstance(payload, dict):
            await super().handle_connection_init(message)  # strawberry's refusals (4429, 4400)
            return
        headers = self.context.request.headers
        authorization = _header(payload, "authorization") or headers.get("authorization")
        org_hint = _header(payload, "x-organisation-id") or headers.get("x-organisation-id")
        self.credentials = (authorization, org_hint)
        try:
            viewer = await self._authenticate()
        except NotAuthenticated as exc:
            await self._refuse(CLOSE_UNAUTHORIZED, f"invalid or missing access token: {exc}")
            return
        except NoMembership as exc:
            await self._refuse(CLOSE_FORBIDDEN, str(exc))
            return
        except Unavailable:
            await self._refuse(CLOSE_TRY_LATER, "a backing service is unavailable; try again")
            return
        self.context.viewer = viewer
        await super().handle_connection_init(message)
        if self.connection_acknowledged:
            self.recheck = asyncio.create_task(self._recheck(viewer), name="gateway-live-recheck")

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self.connection_acknowledged and not self._is_subscription(message):
            await self.send_message(
                {
                    "id": message["id"],
                    "type": "error",
                    "payload": [
                        GraphQLError(
                            "only subscriptions run over WebSocket; send queries and mutations with POST /graphql",
                            extensions={"code": "INVALID_INPUT", "field": None},
                        ).formatted
                    ],
                }
            )
            return
        await super().handle_subscribe(message)

    @staticmethod
    def _is_subscription(message: SubscribeMessage) -> bool:
        try:
            document = parse(message["payload"]["query"], max_lexical_tokens=MAX_TOKENS, max_comments=MAX_TOKENS)
        except (GraphQLSyntaxError, KeyError, TypeError):
            return True  # strawberry answers these itself (closes with 4400)
        name = message["payload"].get("operationName")
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if name:
            operations = [o for o in operations if o.name is not None and o.name.value == name]
        elif len(operations) > 1:
            return True  # strawberry refuses an ambiguous document
        return bool(operations) and all(o.operation == OperationType.SUBSCRIPTION for o in operations)

    async def _authenticate(self) -> Viewer:
        state = self.state
        authorization, org_hint = self.credentials
        viewer: Viewer = await state.admission.authenticate_once(
            ("live", authorization, org_hint),
            lambda: authenticate(authorization, org_hint, state.verifier, state.orders, state.viewers),
        )
        return viewer

    async def _refuse(self, code: int, reason: str) -> None:
        self.connection_init_received = True
        if self.connection_init_timeout_task:
            self.connection_init_timeout_task.cancel()
        await self._close(code, reason)

    async def _close(self, code: int, reason: str) -> None:
        """Ends every operation first (none sends after the close), then the connection."""
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)
        with contextlib.suppress(Exception):
            await self.websocket.close(code, reason[:120])  # a close reason is at most 123 bytes

    async def _recheck(self, viewer: Viewer) -> None:
        ttl = self.state.settings.auth_cache_seconds
        interval = float(ttl) if ttl > 0 else RECHECK_WHEN_UNCACHED
        while True:
            await asyncio.sleep(interval)
            try:
                fresh = await self._authenticate()
            except NotAuthenticated:
                await self._close(CLOSE_UNAUTHORIZED, "the access token expired or is no longer valid")
                return
            except NoMembership:
                await self._close(CLOSE_FORBIDDEN, "you are no longer a member of this organisation")
                return
            except Unavailable:
                continue  # the client warned already; the next round decides
            except Exception:
                logger.exception("live connection re-check failed")
                continue
            if (fresh.org_id, fresh.member_id) != (viewer.org_id, viewer.member_id):
                await self._close(CLOSE_FORBIDDEN, "your membership changed; connect again")
                return
            self.context.viewer = fresh
