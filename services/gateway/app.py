"""The gateway: GraphQL for dashboards, REST for integrations, webhooks for providers.

It owns no business data and holds no database credentials: every read goes to the
owning service's internal API, every asynchronous job to a Dramatiq queue.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import orjson
from cross_web import AsyncHTTPRequestAdapter
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLRequestData
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult

from services.gateway import docs, export_links, graphiql, rest, web_app, webhooks
from services.gateway.admission import (
    Admission,
    InFlightLimit,
    Refusal,
    integration_limited,
    provider_limited,
    source_limited,
)
from services.gateway.auth import NoMembership, NotAuthenticated, Viewer, ViewerCache, authenticate
from services.gateway.clients import InsightsClient, OrdersClient, ReportsClient, Unavailable
from services.gateway.graphql.context import Context
from services.gateway.graphql.schema import build_schema
from services.gateway.live import MAX_SUBSCRIPTIONS_PER_CONNECTION, LiveHub, SubscriptionSlots
from services.gateway.live_connection import LiveConnection, TextWebSocketAdapter
from shared import logging as slog
from shared.api_events import MAX_BATCH_BYTES
from shared.auth.user_tokens import JwksVerifier
from shared.config import Settings, check_production_secrets, get_settings
from shared.errors import ErrorCode
from shared.http import BodyLimit, RequestContext, SecurityHeaders, error, health_routes, tune_gc
from shared.messaging.broker import get_broker
from shared.metrics import HttpMetrics, operation_label, record_graphql
from shared.service.server import serves_websockets

MAX_GRAPHQL_BODY = 64 * 1024
# Body caps by path, enforced while the body is read (shared.http.BodyLimit); other paths get the GraphQL cap.
BODY_LIMITS = (
    ("/v1/events", MAX_BATCH_BYTES),
    ("/v1/", rest.MAX_BODY),
    ("/webhooks/", webhooks.MAX_BODY),
    ("/graphql", MAX_GRAPHQL_BODY),
)


class GraphQLView(GraphQL):
    # Subscriptions (WebSocket, graphql-transport-ws only): services/gateway/live_connection.py.
    graphql_transport_ws_handler_class = LiveConnection  # type: ignore[assignment]
    websocket_adapter_class = TextWebSocketAdapter

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Any,  # our Context; strawberry's GraphQL class types it as None
        root_value: Any,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """Every executed operation counted by name, with its latency and first error code (shared/metrics.py)."""
        started = time.perf_counter()
        result = await super().execute_single(
            request=request,
            request_adapter=request_adapter,
            sub_response=sub_response,
            context=context,
            root_value=root_value,
            request_data=request_data,
        )
        record_graphql(
            operation_label(request_data.operation_name, request_data.query),
            time.perf_counter() - started,
            [(e.extensions or {}).get("code") for e in result.errors or ()],
        )
        return result

    async def get_context(self, request: Request, response: Any) -> Context:  # type: ignore[override]
        state = request.app.state
        # No viewer only on a development GET that is not the page (strawberry refuses it: no queries via GET).
        viewer = cast(Viewer, request.scope.get("viewer"))
        return Context(
            request=request,
            viewer=viewer,
            settings=state.settings,
            orders=state.orders,
            insights=state.insights,
            reports=state.reports,
        )


class _ASGIEndpoint:
    """Lets a plain ASGI callable sit behind a Starlette Route (which calls functions with a Request)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def create_app(settings: Settings | None = None, *, broker: Any = None, web_dist: Path | None = None) -> Starlette:
    """The gateway app; `broker` replaces the Dramatiq broker (tests), services are reached at the
    settings' `<service>_api_url`; `web_dist` is where the built web pages are (default: web/dist)."""
    settings = settings or get_settings()
    check_production_secrets(settings, ("SERVICE_TOKEN_SECRET", "EXPORT_TOKEN_SECRET"))
    schema = build_schema(settings.production)
    # Per process (the integration and provider rates shared through Redis: services/gateway/admission.py
    # says why), made with the app so that the middleware and the routes share it.
    admission = Admission(settings)
    # Strawberry's own GraphiQL loads from a CDN; the development page is ours (services/gateway/graphiql.py).
    graphql_app = GraphQLView(
        schema,
        graphql_ide=None,
        allow_queries_via_get=False,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        connection_init_wait_timeout=timedelta(seconds=10),
        max_subscriptions_per_connection=MAX_SUBSCRIPTIONS_PER_CONNECTION,
    )
    ide = None if settings.production else graphiql.GraphiQLPage(settings, web_dist or graphiql.WEB_DIST)
    dashboard = web_app.Dashboard(settings, web_dist or graphiql.WEB_DIST)  # the partner dashboard, everywhere

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tune_gc()
        app.state.settings = settings
        # One client (one connection pool) per service for the life of the process.
        app.state.orders = OrdersClient.from_settings(settings)
        app.state.insights = InsightsClient.from_settings(settings)
        app.state.reports = ReportsClient.from_settings(settings)
        app.state.verifier = JwksVerifier(
            jwks_url=settings.oidc_jwks_url,
            issuer=settings.oidc_issuer,
            audience=settings.oidc_audience,
            min_refresh_seconds=settings.jwks_min_refresh_seconds,
            leeway_seconds=settings.jwt_leeway_seconds,
        )
        app.state.provider_secrets = webhooks.ProviderSecrets()
        app.state.viewers = ViewerCache(settings.auth_cache_seconds)
        app.state.broker = broker if broker is not None else get_broker()
        app.state.webhook_batcher = webhooks.WebhookBatcher(app.state.broker)
        app.state.live = LiveHub(settings.redis_url)  # connects at the first subscription
        app.state.live_slots = SubscriptionSlots()
        try:
            yield
        finally:
            await app.state.webhook_batcher.aclose()
            await app.state.live.aclose()
            await app.state.orders.aclose()
            await app.state.insights.aclose()
            await app.state.reports.aclose()
            await app.state.verifier.aclose()
            await admission.aclose()

    async def graphql(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if request.method == "GET" and ide is not None:
            if graphiql.wants_page(request):
                await (await ide.page(request))(scope, receive, send)
            else:
                await graphql_app(scope, receive, send)  # refused: queries via GET are off
            return
        if int(request.headers.get("content-length") or 0) > MAX_GRAPHQL_BODY:
            await error(413, ErrorCode.TOO_LARGE, f"GraphQL requests are limited to {MAX_GRAPHQL_BODY // 1024} KiB")(
                scope, receive, send
            )
            return
        authorization, org_hint = request.headers.get("authorization"), request.headers.get("x-organisation-id")
        # A token already running its user's share is refused before it costs a verification.
        early = admission.credentials(authorization, org_hint) if authorization else None
        if isinstance(early, Refusal):
            await early.answer(scope, receive, send)
            return
        try:
            await authenticated(scope, receive, send, request, authorization, org_hint)
        finally:  # every path: answered, failed, or cancelled because the client went away
            if early is not None:
                early.release()

    async def authenticated(
        scope: Scope, receive: Receive, send: Send, request: Request, authorization: str | None, org_hint: str | None
    ) -> None:
        state = request.app.state
        # A cached viewer is taken without a pause, so a burst refused below is refused in one step of the
        # event loop each (a pause per request would let a whole burst pile up in flight first).
        bearer = authorization[7:].strip() if authorization and authorization[:7].lower() == "bearer " else None
        cached = state.viewers.get(bearer, org_hint) if bearer else None
        try:
            scope["viewer"] = cached or await admission.authenticate_once(
                (authorization, org_hint),
                lambda: authenticate(authorization, org_hint, state.verifier, state.orders, state.viewers),
            )
        except NotAuthenticated as exc:
            response: Response = error(401, ErrorCode.UNAUTHENTICATED, f"invalid or missing access token: {exc}")
            response.headers["www-authenticate"] = 'Bearer error="invalid_token"'
            await response(scope, receive, send)
            return
        except NoMembership as exc:
            await error(403, ErrorCode.NO_MEMBERSHIP, str(exc))(scope, receive, send)
            return
        except Unavailable:
            await error(503, ErrorCode.UNAVAILABLE, "a backing service is unavailable; try again")(scope, receive, send)
            return
        viewer: Viewer = scope["viewer"]
        ticket = admission.graphql(viewer.subject, viewer.org_id)
        if isinstance(ticket, Refusal):
            await ticket.answer(scope, receive, send)
            return
        try:
            await graphql_app(scope, receive, send)
        finally:
            ticket.release()

    async def ready() -> None:
        # Only the services the gateway calls today: insights and reports join once they exist.
        await gateway.state.orders.ready()
        client = getattr(gateway.state.broker, "client", None)
        if client is not None:
            await asyncio.to_thread(client.ping)

    gateway = Starlette(
        routes=[
            *health_routes(ready),
            Route("/graphql", _ASGIEndpoint(graphql), methods=["GET", "POST"]),
            WebSocketRoute("/graphql", _ASGIEndpoint(graphql_app)),  # subscriptions: live_connection.py
            Route("/v1/orders", integration_limited(rest.create_order), methods=["POST"]),
            Route("/v1/events", integration_limited(rest.ingest_events), methods=["POST"]),
            Route("/v1/customers/identify", integration_limited(rest.identify_customer), methods=["POST"]),
            Route("/v1/integration/config", integration_limited(rest.integration_config), methods=["GET"]),
            Route(
                "/v1/customers/{customerId}/custom-fields",
                integration_limited(rest.set_customer_fields),
                methods=["PUT"],
            ),
            Route("/v1/orders/{orderId}/custom-fields", integration_limited(rest.set_order_fields), methods=["PUT"]),
            Route(
                "/webhooks/providers/{provider}/commission",
                source_limited(provider_limited(webhooks.commission_webhook)),
                methods=["POST"],
            ),
            Route("/exports/{token}", source_limited(export_links.download), methods=["GET"]),
            *docs.routes(schema, settings),  # /docs, /docs/openapi.json, /docs/schema.graphql
            *dashboard.routes(),  # /, /app-config.json, /assets/{path} (both pages' files)
        ],
        # The in-flight cap comes first: a refusal under overload costs next to nothing and is not logged
        # one line each (Admission sums refusals up in one warning per interval).
        middleware=[
            Middleware(HttpMetrics),  # outermost: refusals of the in-flight cap are counted too
            Middleware(BodyLimit, limits=BODY_LIMITS, default=MAX_GRAPHQL_BODY),
            Middleware(InFlightLimit, admission=admission),
            Middleware(RequestContext),
            Middleware(SecurityHeaders),
        ],
        lifespan=lifespan,
    )
    gateway.router.default = dashboard.fallback(gateway.router.default)  # client routes: index.html
    gateway.state.admission = admission
    return gateway


@serves_websockets
def app() -> Starlette:
    """uvicorn factory: `uvicorn --factory services.gateway.app:app`."""
    slog.configure("gateway", get_settings().log_level)
    return create_app()
