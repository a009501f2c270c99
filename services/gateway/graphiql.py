"""The development GraphiQL page, built from `web/` and served by the gateway (never in production).

`./platform up` and `./platform test` build `web/` (TypeScript, Vite, the npm lock file) into `web/dist/`:
`graphiql.html` and its files under `assets/` with hashed names. Every script, style and font comes from
the project's own installed packages, so the page works offline, under a Content-Security-Policy that
allows this origin only (`shared.http.page_policy`): no inline script, no other origin.

- `GET /graphql` from a browser (`Accept: text/html` or `*/*`) answers the page, with its configuration as JSON in
  `<meta name="graphiql-config">`: the endpoint, this answer's style nonce and, when the development
  issuer's key is on this machine (`./platform up` keeps it under `.data/dev-issuer`, or
  `$PLATFORM_DATA_DIR/dev-issuer`), a default `Authorization` header holding a fresh token of the demo admin,
  so that the schema loads without pasting one. Without a key the page works without a header. The page is
  sent `no-store`: it may hold a token.
- `GET /assets/{path}` answers the built files, cached for a year (their names change with their content), gzipped
  for clients that accept it (scripts, styles, source maps, SVG: ~1.1 MB of JavaScript on the Analytics page is
  ~0.33 MB gzipped); each file is compressed once per process and kept in memory (`GzipCache`).
- Not built (the gateway started without `./platform up`): the page answers 503 saying how to build it.

Production has neither route: `create_app` asks for them only outside production, and the token is
minted only there too.
"""

from __future__ import annotations

import asyncio
import gzip
import html
import json
import mimetypes
import os
import secrets
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from shared.config import Settings
from shared.http import page_policy

ROOT = Path(__file__).resolve().parents[2]
WEB_DIST = ROOT / "web" / "dist"
PAGE = "graphiql.html"
CONFIG_PLACEHOLDER = '<meta name="graphiql-config" content="{}" />'
ASSET_CACHE = "public, max-age=31536000, immutable"
# The demo user the page's token is minted for (infra.dev_issuer.DEMO_USERS["admin"]: subject, email), and for
# how long: a session in the IDE may last a working day; a reload mints a new one.
DEV_USER = ("dev|admin", "admin@demo-partner.example")
DEV_TOKEN_TTL_SECONDS = 12 * 3600
# Python's table lacks some of these (woff2) or names them differently across versions (js).
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
}
# Text files worth compressing (fonts and images are compressed formats already), above a size where it pays.
COMPRESSIBLE = {".js", ".mjs", ".css", ".json", ".map", ".svg", ".html", ".txt"}
COMPRESS_MIN_BYTES = 1024
NOT_BUILT = (
    "The GraphiQL page is not built: {page} is missing.\n"
    "./platform up builds it, ./platform web builds only it (with the machine's Node.js 20+, else the one "
    "uv.lock pins); by hand: cd web && npm ci && npm run build.\n"
    "GraphQL itself works without it: POST /graphql.\n"
)


def wants_page(request: Request) -> bool:
    """A browser navigating to /graphql, or a client taking anything, without a query (strawberry's rule for
    its own IDE); not a client asking for a GraphQL answer (queries via GET stay refused)."""
    accept = request.headers.get("accept", "")
    return (
        request.method == "GET" and "query" not in request.query_params and ("text/html" in accept or "*/*" in accept)
    )


def dev_key_dir() -> Path:
    """Where `./platform up` keeps the development issuer's signing keys (infra/dev_issuer.py, `<kid>.pem`)."""
    return Path(os.environ.get("PLATFORM_DATA_DIR") or ROOT / ".data").resolve() / "dev-issuer"


def dev_token(settings: Settings) -> str | None:
    """A fresh token of the demo admin, signed with the development issuer's key on this machine as
    `python -m infra.dev_issuer token` signs it; None in production or without a key (the page then offers
    no header). Written here rather than imported: production processes import no development module
    (tests/infra/test_deploy_files.py); tests/services/gateway/test_graphiql.py keeps the two in step."""
    if settings.production:
        return None
    keys = sorted(dev_key_dir().glob("*.pem"))
    if not keys:
        return None
    path = keys[-1]  # the dev issuer signs with the last key in name order too
    key = serialization.load_pem_private_key(path.read_bytes(), None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        return None
    subject, email = DEV_USER
    now = int(time.time())
    claims = {
        "iss": settings.oidc_issuer,
        "aud": settings.oidc_audience,
        "sub": subject,
        "email": email,
        "email_verified": True,
        "iat": now,
        "exp": now + DEV_TOKEN_TTL_SECONDS,
    }
    algorithm = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": path.stem})


def page_config(style_nonce: str, token: str | None) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return {"endpoint": "/graphql", "headers": headers, "styleNonce": style_nonce}


def accepts_gzip(request: Request) -> bool:
    """Whether `Accept-Encoding` takes gzip (`gzip;q=0` refuses it)."""
    for part in request.headers.get("accept-encoding", "").lower().split(","):
        name, _, params = part.strip().partition(";")
        if name.strip() in ("gzip", "*"):
            q = params.strip().removeprefix("q=")
            return not params.strip().startswith("q=") or _quality(q) > 0
    return False


def _quality(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return 0.0


class GzipCache:
    """Each built file gzipped once: keyed by path, size and modification time, so a rebuild (new files, or the
    same name rewritten) is compressed afresh. Bounded by the files of one build (a few MB); the oldest go first."""

    def __init__(self, max_entries: int = 256) -> None:
        self.max_entries = max_entries
        self.entries: dict[tuple[str, int, int], bytes] = {}

    def get(self, path: Path) -> bytes:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        body = self.entries.get(key)
        if body is None:
            body = gzip.compress(path.read_bytes(), compresslevel=6, mtime=0)
            while len(self.entries) >= self.max_entries:
                del self.entries[next(iter(self.entries))]
            self.entries[key] = body
        return body


class GraphiQLPage:
    """The page and its files from a built `web/dist` (read per request: a rebuild needs no restart)."""

    def __init__(self, settings: Settings, dist: Path = WEB_DIST) -> None:
        self.settings, self.dist = settings, dist
        self.assets = (dist / "assets").resolve()
        self.gzipped = GzipCache()

    async def page(self, request: Request) -> Response:
        try:
            template = await asyncio.to_thread((self.dist / PAGE).read_text, encoding="utf-8")
        except FileNotFoundError:
            return PlainTextResponse(
                NOT_BUILT.format(page=self.dist / PAGE), status_code=503, headers={"cache-control": "no-store"}
            )
        nonce = secrets.token_urlsafe(18)
        token = await asyncio.to_thread(dev_token, self.settings)
        config = json.dumps(page_config(nonce, token), separators=(",", ":"))
        meta = f'<meta name="graphiql-config" content="{html.escape(config, quote=True)}" />'
        return HTMLResponse(
            template.replace(CONFIG_PLACEHOLDER, meta, 1),
            headers={"cache-control": "no-store", "content-security-policy": page_policy(nonce)},
        )

    async def asset(self, request: Request) -> Response:
        name = request.path_params["path"]
        path = (self.assets / name).resolve()
        if not path.is_relative_to(self.assets) or not path.is_file():
            return PlainTextResponse("not found", status_code=404)
        media_type = CONTENT_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if path.suffix not in COMPRESSIBLE or path.stat().st_size < COMPRESS_MIN_BYTES:
            return FileResponse(path, media_type=media_type, headers={"cache-control": ASSET_CACHE})
        headers = {"cache-control": ASSET_CACHE, "vary": "accept-encoding"}
        if not accepts_gzip(request):
            return FileResponse(path, media_type=media_type, headers=headers)
        body = await asyncio.to_thread(self.gzipped.get, path)
        return Response(body, media_type=media_type, headers={**headers, "content-encoding": "gzip"})

    def routes(self) -> list[Route]:
        """The assets' route (the page itself is answered by the /graphql route, for browsers)."""
        return [Route("/assets/{path:path}", self.asset, methods=["GET"])]
