"""The development GraphiQL page (services/gateway/graphiql.py), built from web/ by ./platform up and test.

It works offline: the page and everything it loads come from this origin (web/dist, bundled from the
project's installed npm packages), under a strict Content-Security-Policy; in development it offers a fresh
token of the development issuer that the gateway accepts; production serves neither page nor token.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from infra import dev_issuer
from infra.dev_issuer import DevIssuer
from services.gateway import graphiql
from shared.config import Settings

DIST = graphiql.WEB_DIST
BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
# Hosts that serve scripts, styles, fonts and workers to pages; the built files must name none of them.
CDN_HOSTS = (
    "unpkg.com",
    "cdn.jsdelivr.net",
    "esm.sh",
    "cdnjs.cloudflare.com",
    "cdn.skypack.dev",
    "ga.jspm.io",
    "fonts.googleapis.com",
    "fonts.gstatic.com",
    "use.typekit.net",
    "embed.graphql.com",
)
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}


@pytest.fixture(scope="module")
def built() -> Path:
    if not (DIST / graphiql.PAGE).is_file():
        pytest.fail(f"{DIST / graphiql.PAGE} is missing: ./platform test builds web/ before the tests")
    return DIST


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test")


@pytest.fixture(scope="module")
def dev_app() -> Any:
    """The development gateway as made at start-up; the page needs no lifespan, store or service."""
    from services.gateway.app import create_app

    return create_app(Settings())


@pytest.fixture
async def dev(dev_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(dev_app) as client:
        yield client


@pytest.fixture
def no_dev_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A data folder without the development issuer's key."""
    monkeypatch.setenv("PLATFORM_DATA_DIR", str(tmp_path))


@pytest.fixture
def dev_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, issuer: DevIssuer) -> Path:
    """The test issuer's key where ./platform up keeps the development issuer's (the gateway trusts it)."""
    issuer.save(tmp_path / "dev-issuer")
    monkeypatch.setenv("PLATFORM_DATA_DIR", str(tmp_path))
    return tmp_path


class _Page(HTMLParser):
    """What a browser would load from the page: scripts, stylesheets and other linked files, and the config."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.links: list[dict[str, str | None]] = []
        self.inline_scripts: list[str] = []
        self.styles = 0
        self.style_attributes = 0
        self.config: dict[str, Any] | None = None
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if "style" in a:
            self.style_attributes += 1
        if tag == "script":
            self.scripts.append(a)
            self._in_script = True
        elif tag == "link":
            self.links.append(a)
        elif tag == "style":
            self.styles += 1
        elif tag == "meta" and a.get("name") == "graphiql-config":
            self.config = json.loads(a["content"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts.append(data)


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def _csp(header: str) -> dict[str, list[str]]:
    directives = [d.split() for d in header.split(";") if d.strip()]
    return {d[0]: d[1:] for d in directives}


# --------------------------------------------------------------------------- the page, offline


async def test_the_page_loads_only_its_own_files_each_served_with_its_type(built, dev, no_dev_key) -> None:
    r = await dev.get("/graphql", headers=BROWSER)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-store"  # it may carry a token
    page = _parse(r.text)
    assert not page.inline_scripts and not page.styles and not page.style_attributes
    assert page.config is not None and page.config["endpoint"] == "/graphql"
    sources = [s["src"] for s in page.scripts]
    stylesheets = [link["href"] for link in page.links if link.get("rel") == "stylesheet"]
    assert sources and stylesheets, "the page loads its bundle and its styles"
    for url in [*sources, *(link["href"] for link in page.links)]:
        assert url and url.startswith("/assets/") and not url.startswith("//"), url
    for script in page.scripts:
        assert script.get("type") == "module"
    # Every file the bundle may load (its lazily imported chunks too), with its type and a year's cache.
    files = sorted(p for p in (built / "assets").iterdir() if p.is_file())
    assert {f"/assets/{p.name}" for p in files} >= {*sources, *stylesheets}
    for path in files:
        a = await dev.get(f"/assets/{path.name}")
        assert a.status_code == 200, path.name
        assert a.content == path.read_bytes()
        assert a.headers["content-type"].startswith(CONTENT_TYPES.get(path.suffix, "")), (path.name, a.headers)
        assert a.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert a.headers["x-content-type-options"] == "nosniff"
        assert re.search(r"-[A-Za-z0-9_-]{8}\.", path.name), f"{path.name}: not a hashed name"


async def test_the_page_has_a_strict_content_security_policy(built, dev, no_dev_key) -> None:
    first, second = await dev.get("/graphql", headers=BROWSER), await dev.get("/graphql", headers=BROWSER)
    policy = _csp(first.headers["content-security-policy"])
    nonce = _parse(first.text).config["styleNonce"]  # type: ignore[index]
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]  # no inline script, no eval, no other origin
    assert policy["style-src"] == ["'self'", f"'nonce-{nonce}'"]  # <style> elements only with this answer's nonce
    assert policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    assert policy["img-src"] == policy["font-src"] == ["'self'", "data:"]  # the fonts bundled in the CSS
    sources = [s for values in policy.values() for s in values]
    assert not [s for s in sources if "unsafe" in s or "*" in s or "://" in s or s in ("http:", "https:")]
    assert len(nonce) >= 22 and _parse(second.text).config["styleNonce"] != nonce  # type: ignore[index]
    assert first.headers["x-frame-options"] == "DENY"


async def test_no_built_file_loads_anything_from_another_origin(built) -> None:
    files = [p for p in built.rglob("*") if p.suffix in (".html", ".js", ".css", ".mjs")]
    assert any(p.suffix == ".js" for p in files) and any(p.suffix == ".css" for p in files)
    loads = [
        r"""\bimport\s*\(\s*["'`](?:https?:)?//""",  # dynamic import
        r"""\bfrom\s*["'`](?:https?:)?//""",  # static import
        r"""\bimportScripts\s*\(""",  # classic workers
        r"""\bnew\s+(?:Shared)?Worker\s*\(\s*["'`](?:https?:)?//""",  # workers (graphiql 5's monaco)
        r"""\bfetch\s*\(\s*["'`](?:https?:)?//""",
        r"""\b(?:src|href)\s*=\s*["'](?:https?:)?//""",  # markup
        r"""url\(\s*["']?(?:https?:)?//""",  # CSS: fonts, images
        r"""@import\s""",  # CSS: other stylesheets
    ]
    for path in files:
        text = path.read_text(encoding="utf-8")
        for host in CDN_HOSTS:
            assert host not in text, f"{path.name} names {host}"
        for pattern in loads:
            match = re.search(pattern, text)
            assert match is None, f"{path.name} loads from another origin: {text[match.start() : match.end() + 80]!r}"


async def test_a_gateway_started_without_a_build_says_how_to_build(tmp_path: Path, no_dev_key) -> None:
    from services.gateway.app import create_app

    async with _client(create_app(Settings(), web_dist=tmp_path / "dist")) as client:
        r = await client.get("/graphql", headers=BROWSER)
        assert r.status_code == 503 and r.headers["content-type"].startswith("text/plain")
        assert "./platform up" in r.text and "npm ci && npm run build" in r.text and "not built" in r.text
        assert (await client.get("/assets/graphiql.js")).status_code == 404


async def test_only_browsers_get_the_page_and_only_built_files_are_served(built, dev, no_dev_key) -> None:
    from services.gateway.app import create_app

    app = create_app(Settings(), broker=object())
    async with app.router.lifespan_context(app), _client(app) as client:
        r = await client.get("/graphql", headers={"accept": "application/json"})
        assert r.status_code != 200 and "text/html" not in r.headers.get("content-type", ""), r.text
        r = await client.get("/graphql", params={"query": "{ __typename }"}, headers=BROWSER)  # no queries via GET
        assert r.status_code != 200 and "text/html" not in r.headers.get("content-type", ""), r.text
    for path in ("/assets/../graphiql.html", "/assets/%2e%2e/graphiql.html", "/assets/", "/assets/nope.js"):
        assert (await dev.get(path)).status_code == 404, path


# --------------------------------------------------------------------------- the development token


async def test_the_page_offers_a_fresh_development_token_the_gateway_accepts(
    built, gateway, tenant, issuer: DevIssuer, dev_key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The token is the demo admin's; the test's organisation stands in for the demo one.
    monkeypatch.setattr(graphiql, "DEV_USER", (tenant.admin_subject, "admin@test.example"))
    r = await gateway.get("/graphql", headers=BROWSER)
    assert r.status_code == 200
    config = _parse(r.text).config
    assert config is not None and set(config["headers"]) == {"Authorization"}
    authorization = config["headers"]["Authorization"]
    claims = jwt.decode(authorization.removeprefix("Bearer "), options={"verify_signature": False})
    assert claims["sub"] == tenant.admin_subject and claims["iss"] == issuer.issuer
    assert claims["exp"] - claims["iat"] == graphiql.DEV_TOKEN_TTL_SECONDS
    introspection = await gateway.post(
        "/graphql",
        json={"query": "{ __schema { queryType { name } } }"},
        headers={"authorization": authorization},
    )
    assert introspection.status_code == 200, introspection.text
    assert introspection.json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    # Minted per page load: a reload never offers an older token.
    again = _parse((await gateway.get("/graphql", headers=BROWSER)).text).config
    assert again is not None
    reloaded = jwt.decode(again["headers"]["Authorization"][7:], options={"verify_signature": False})
    assert reloaded["iat"] >= claims["iat"] and reloaded["sub"] == claims["sub"]


def test_the_token_is_the_one_the_development_issuer_mints(issuer: DevIssuer, dev_key: Path) -> None:
    """The gateway signs as infra/dev_issuer.py does (it may not import it): same key files, user and claims."""
    assert dev_issuer.DEMO_USERS["admin"] == graphiql.DEV_USER
    assert graphiql.dev_key_dir() == (dev_key / "dev-issuer").resolve()
    settings = Settings()
    token = graphiql.dev_token(settings)
    assert token is not None
    loaded = DevIssuer.load_or_create(graphiql.dev_key_dir(), settings.oidc_issuer, settings.oidc_audience)
    assert jwt.get_unverified_header(token)["kid"] == loaded.active_kid
    subject, email = graphiql.DEV_USER
    expected = jwt.decode(loaded.mint(subject, email=email), **_unverified())
    claims = jwt.decode(token, **_unverified())
    assert {k: v for k, v in claims.items() if k not in ("iat", "exp")} == {
        k: v for k, v in expected.items() if k not in ("iat", "exp")
    }
    jwk = next(k for k in issuer.jwks()["keys"] if k["kid"] == loaded.active_kid)  # what the gateway trusts
    verified = jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=[jwk["alg"]], audience=settings.oidc_audience)
    assert verified["sub"] == "dev|admin" and verified["iss"] == settings.oidc_issuer


def _unverified() -> dict[str, Any]:
    return {"options": {"verify_signature": False}}


async def test_without_the_development_key_the_page_offers_no_header(built, dev, no_dev_key) -> None:
    config = _parse((await dev.get("/graphql", headers=BROWSER)).text).config
    assert config is not None and config["headers"] == {}


async def test_production_serves_no_page_no_files_and_no_token(built, dev_key: Path) -> None:
    from services.gateway.app import create_app

    production = dataclasses.replace(Settings(), environment="production")
    assert graphiql.dev_token(production) is None
    assert graphiql.dev_token(Settings()) is not None  # the key is there: only production withholds it
    asset = next(p.name for p in (built / "assets").iterdir() if p.suffix == ".js")
    app = create_app(production, broker=object())
    async with app.router.lifespan_context(app), _client(app) as client:
        r = await client.get("/graphql", headers=BROWSER)
        assert r.status_code == 401 and "text/html" not in r.headers["content-type"]
        assert "graphiql" not in r.text.lower() and "bearer ey" not in r.text.lower()
        # The built files are served in production too: the partner dashboard needs them (web_app.py).
        assert (await client.get(f"/assets/{asset}")).status_code == 200
