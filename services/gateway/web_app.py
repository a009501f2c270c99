"""The partner dashboard (web/, built into web/dist by `./platform up`/`./platform test`), served by the gateway.

- `GET /` and every client route (`/orders`, `/orders/<id>`, `/settings/team`, …) answer `index.html`, so a
  reload or a shared link lands on the page the React router then draws. Paths of the API keep their own
  answers: nothing under `/graphql`, `/v1`, `/webhooks`, `/docs`, `/exports`, `/assets`, `/internal`,
  `/health*`, `/ready*`, `/metrics` or `/app-config.json` falls back, nor does a name with a dot (a missing
  file is a 404, not a page), nor anything but GET/HEAD.
- `index.html` is sent `no-cache` (a deploy is seen at the next load); its files under `/assets/` carry
  content-hashed names and are cached for a year (`graphiql.GraphiQLPage.asset`, the same route for both
  pages, in production too).
- `GET /app-config.json` tells the app where to sign in: the OIDC authority (the issuer, or the URL where
  a browser reaches it), client id, audience and scope, and the support address. Auth0 or any other
  OIDC provider works by configuration alone (`WEB_OIDC_*` below); locally the development issuer
  (infra/dev_issuer.py) answers the authorize and token steps.
- The page's Content-Security-Policy is the platform's (`shared.http.page_policy`: scripts, styles and
  everything else from this origin only, no inline script) with one addition: `connect-src` also names the
  OIDC authority's origin, since the app exchanges the authorization code and refreshes tokens there.

The settings read here are the dashboard's alone and read from the environment, next to `shared.config`:
`WEB_OIDC_AUTHORITY` (default `OIDC_ISSUER`), `WEB_OIDC_CLIENT_ID` (default `partner-dashboard`),
`WEB_OIDC_SCOPE` (default `openid profile email offline_access`), `SUPPORT_ADDRESS` (an email address or
URL; default `support@partner-platform.example`).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from services.gateway import graphiql
from shared.config import Settings
from shared.http import page_policy

PAGE = "index.html"
# First path segments that belong to the API or the platform, never to the app's client routes.
RESERVED = frozenset(
    {
        "graphql",
        "v1",
        "webhooks",
        "docs",
        "exports",
        "assets",
        "internal",
        "healthz",
        "readyz",
        "health",
        "ready",
        "livez",
        "metrics",
        "app-config.json",
    }
)
NOT_BUILT = (
    "The partner dashboard is not built: {page} is missing.\n"
    "./platform up builds it; by hand: cd web && npm ci && npm run build (needs Node.js 20+ and npm).\n"
    "The API works without it: POST /graphql, /docs.\n"
)


@dataclass(frozen=True)
class WebConfig:
    """What the browser app needs to sign in and to point people to support (`GET /app-config.json`)."""

    authority: str
    client_id: str
    audience: str
    scope: str
    support: str

    @classmethod
    def from_settings(cls, settings: Settings) -> WebConfig:
        return cls(
            authority=os.environ.get("WEB_OIDC_AUTHORITY") or settings.oidc_issuer,
            client_id=os.environ.get("WEB_OIDC_CLIENT_ID") or "partner-dashboard",
            audience=settings.oidc_audience,
            scope=os.environ.get("WEB_OIDC_SCOPE") or "openid profile email offline_access",
            support=os.environ.get("SUPPORT_ADDRESS") or "support@partner-platform.example",
        )

    def as_json(self) -> dict[str, str]:
        return {
            "authority": self.authority,
            "clientId": self.client_id,
            "audience": self.audience,
            "scope": self.scope,
            "support": self.support,
            "docs": "/docs",
        }

    def authority_origin(self) -> str | None:
        parts = urlsplit(self.authority)
        return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else None


def dashboard_policy(config: WebConfig) -> str:
    """`page_policy()` with the OIDC authority's origin added to connect-src (code exchange, refresh)."""
    policy = page_policy()
    origin = config.authority_origin()
    return policy.replace("connect-src 'self'", f"connect-src 'self' {origin}", 1) if origin else policy


def is_client_route(path: str) -> bool:
    """A path the app's router draws: not the API's, not a file name (a dot in the last segment)."""
    segments = [s for s in path.split("/") if s]
    if not segments:
        return True
    return segments[0] not in RESERVED and "." not in segments[-1]


class Dashboard:
    """index.html for `/` and the client routes, `/app-config.json`; read per request (a rebuild needs no restart)."""

    def __init__(self, settings: Settings, dist: Path = graphiql.WEB_DIST) -> None:
        self.dist = dist
        self.config = WebConfig.from_settings(settings)
        self.policy = dashboard_policy(self.config)
        self.files = graphiql.GraphiQLPage(settings, dist)  # its /assets/{path} handler serves both pages

    async def index(self, request: Request) -> Response:
        try:
            body = await asyncio.to_thread((self.dist / PAGE).read_bytes)
        except FileNotFoundError:
            return PlainTextResponse(
                NOT_BUILT.format(page=self.dist / PAGE), status_code=503, headers={"cache-control": "no-store"}
            )
        return HTMLResponse(body, headers={"cache-control": "no-cache", "content-security-policy": self.policy})

    async def app_config(self, request: Request) -> Response:
        return JSONResponse(self.config.as_json(), headers={"cache-control": "no-cache"})

    def routes(self) -> list[Route]:
        return [
            Route("/", self.index, methods=["GET"]),
            Route("/app-config.json", self.app_config, methods=["GET"]),
            Route("/assets/{path:path}", self.files.asset, methods=["GET"]),
        ]

    def fallback(self, not_found: ASGIApp) -> ASGIApp:
        """The router's default (no route matched): index.html for a client route, else `not_found` as before."""

        async def default(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and is_client_route(scope["path"]):
                await (await self.index(Request(scope, receive)))(scope, receive, send)
                return
            await not_found(scope, receive, send)

        return default
