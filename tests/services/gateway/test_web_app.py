"""The partner dashboard as the gateway serves it (services/gateway/web_app.py): index.html at `/` and at every
client route, the API's paths untouched, hashed files cached for a year, the page itself never cached, a CSP
of this origin only (plus the sign-in authority for the code exchange), and `/app-config.json`."""

from __future__ import annotations

import dataclasses
import gzip
import os
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from services.gateway import graphiql, web_app
from shared.config import Settings

DIST = graphiql.WEB_DIST
BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture(scope="module")
def built() -> Path:
    if not (DIST / web_app.PAGE).is_file():
        pytest.fail(f"{DIST / web_app.PAGE} is missing: ./platform test builds web/ before the tests")
    return DIST


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test")


@pytest.fixture(scope="module")
def app() -> Any:
    """The gateway as made at start-up; serving the page needs no lifespan, store or service."""
    from services.gateway.app import create_app

    return create_app(Settings())


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(app) as c:
        yield c


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.inline = 0
        self.styles: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script":
            self._in_script = True
            if a.get("src"):
                self.sources.append(a["src"] or "")
        if tag == "link" and a.get("rel") in ("stylesheet", "modulepreload"):
            self.styles.append(a.get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline += 1


def _csp(header: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in header.split(";") if d.strip()}


async def test_the_root_and_every_client_route_answer_the_dashboard_never_cached(built, client) -> None:
    index = (built / web_app.PAGE).read_text()
    for path in (
        "/",
        "/analytics",
        "/orders?preset=LAST_7_DAYS",
        "/orders/8d2f0c1e-0000-4000-8000-000000000001",
        "/auth/callback?code=x&state=y",
        "/settings/team",
    ):
        r = await client.get(path, headers=BROWSER)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("text/html") and r.text == index, path
        assert r.headers["cache-control"] == "no-cache", path


async def test_the_page_loads_only_hashed_files_of_this_origin_cached_a_year(built, client) -> None:
    r = await client.get("/")
    page = _Scripts()
    page.feed(r.text)
    assert page.inline == 0 and page.sources
    for src in [*page.sources, *page.styles]:
        assert src.startswith("/assets/"), src
        asset = await client.get(src)
        assert asset.status_code == 200, src
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert asset.headers["content-type"].startswith(("text/javascript", "text/css"))


async def test_files_are_gzipped_for_clients_that_take_it(built, client) -> None:
    """Scripts and styles go gzipped to a client accepting gzip (the bytes decompress to the built file), and as
    they are to one that does not; either way the answer varies on Accept-Encoding and is cached a year."""
    page = _Scripts()
    page.feed((await client.get("/")).text)
    files = [*page.sources, *page.styles]
    assert any(f.endswith(".js") for f in files) and any(f.endswith(".css") for f in files), files
    on_disk = sum((built / f.removeprefix("/")).stat().st_size for f in files)
    sent = 0
    for src in files:
        built_bytes = (built / src.removeprefix("/")).read_bytes()
        async with client.stream("GET", src, headers={"accept-encoding": "br;q=1, gzip;q=0.8"}) as r:
            raw = b"".join([chunk async for chunk in r.aiter_raw()])
        assert r.status_code == 200 and r.headers["content-encoding"] == "gzip", src
        assert r.headers["vary"].lower() == "accept-encoding" and "immutable" in r.headers["cache-control"]
        assert gzip.decompress(raw) == built_bytes and int(r.headers["content-length"]) == len(raw), src
        sent += len(raw)
        for refused in ("identity", "gzip;q=0", ""):
            async with client.stream("GET", src, headers={"accept-encoding": refused}) as plain:
                body = b"".join([chunk async for chunk in plain.aiter_raw()])
            assert "content-encoding" not in plain.headers and body == built_bytes, (src, refused)
    assert sent < on_disk / 2, f"{sent} bytes gzipped of {on_disk}"


async def test_the_policy_is_this_origin_only_plus_the_sign_in_authority(built, client) -> None:
    csp = _csp((await client.get("/")).headers["content-security-policy"])
    assert csp["script-src"] == ["'self'"] and csp["default-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"] and csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["connect-src"] == ["'self'", "https://issuer.test"]  # the test issuer (tests/conftest.py)


async def test_the_api_paths_keep_their_answers(built, client) -> None:
    """No API path, file name or other method falls back to the page."""
    for method, path in (
        ("GET", "/v1/nope"),
        ("GET", "/graphql/nope"),
        ("GET", "/docs/nope"),
        ("GET", "/exports"),
        ("GET", "/webhooks/x"),
        ("GET", "/internal/organisation"),
        ("GET", "/assets/nope.js"),
        ("GET", "/favicon.ico"),
        ("GET", "/orders/export.csv"),
        ("POST", "/orders"),
        ("DELETE", "/"),
    ):
        r = await client.request(method, path)
        assert r.status_code in (404, 405), (method, path, r.status_code)
        assert not r.headers.get("content-type", "").startswith("text/html"), (method, path)
    assert (await client.get("/docs/openapi.json")).headers["content-type"] == "application/json"
    page = await client.get("/graphql", headers=BROWSER)  # GraphiQL keeps its route outside production
    assert page.status_code in (200, 503) and "graphiql" in page.text.lower()


async def test_app_config_says_where_to_sign_in(client, monkeypatch: pytest.MonkeyPatch) -> None:
    r = await client.get("/app-config.json")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-cache"
    settings = Settings()
    assert r.json() == {
        "authority": settings.oidc_issuer,
        "clientId": "partner-dashboard",
        "audience": settings.oidc_audience,
        "scope": "openid profile email offline_access",
        "support": "support@partner-platform.example",
        "docs": "/docs",
    }


async def test_another_provider_by_configuration_alone(monkeypatch: pytest.MonkeyPatch, built) -> None:
    from services.gateway.app import create_app

    monkeypatch.setenv("WEB_OIDC_AUTHORITY", "https://partner.eu.auth0.com/")
    monkeypatch.setenv("WEB_OIDC_CLIENT_ID", "abc123")
    monkeypatch.setenv("SUPPORT_ADDRESS", "https://help.partner.example/")
    async with _client(create_app(Settings())) as client:
        config = (await client.get("/app-config.json")).json()
        assert (config["authority"], config["clientId"], config["support"]) == (
            "https://partner.eu.auth0.com/",
            "abc123",
            "https://help.partner.example/",
        )
        csp = _csp((await client.get("/")).headers["content-security-policy"])
        assert csp["connect-src"] == ["'self'", "https://partner.eu.auth0.com"]


async def test_production_serves_the_dashboard_and_its_files(built) -> None:
    from services.gateway.app import create_app

    production = dataclasses.replace(Settings(), environment="production")
    async with _client(create_app(production, broker=object())) as client:
        r = await client.get("/orders", headers=BROWSER)
        assert r.status_code == 200 and r.text == (built / web_app.PAGE).read_text()
        page = _Scripts()
        page.feed(r.text)
        assert (await client.get(page.sources[0])).status_code == 200


async def test_not_built_says_how_to_build(tmp_path: Path) -> None:
    from services.gateway.app import create_app

    async with _client(create_app(Settings(), web_dist=tmp_path / "dist")) as client:
        for path in ("/", "/analytics"):
            r = await client.get(path)
            assert r.status_code == 503 and r.headers["content-type"].startswith("text/plain")
            assert "npm ci && npm run build" in r.text


def test_client_routes() -> None:
    assert web_app.is_client_route("/") and web_app.is_client_route("/orders/abc")
    assert not web_app.is_client_route("/v1/orders") and not web_app.is_client_route("/robots.txt")
    assert not web_app.is_client_route("/app-config.json") and not web_app.is_client_route("/readyz")


# ------------------------------------------------------------------ in a browser: nothing from another origin

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
# Reports every Content-Security-Policy violation as a console error (an init script, outside the page's CSP).
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) =>
  console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));
"""


async def _introspection(body: dict[str, Any]) -> dict[str, Any]:
    from services.gateway.graphql.schema import build_schema

    assert "__schema" in body["query"], f"GraphiQL asked something else than the schema: {body['query'][:200]}"
    result = await build_schema(production=False).execute(
        body["query"], variable_values=body.get("variables"), operation_name=body.get("operationName")
    )
    assert not result.errors, result.errors
    return {"data": result.data}


async def _open_in_chromium(app: Any, path: str, ready: str) -> tuple[list[str], list[str], list[str]]:
    """Opens `path` in headless Chromium, every request answered by `app` in process when it is for the app's
    origin and refused (and recorded) when it is for any other. Waits for the `ready` selector. Answers
    (paths asked of the app, URLs of other origins asked for, console errors)."""
    from playwright.async_api import Route, async_playwright

    origin = "http://gateway.test"
    asked, elsewhere, errors = [], [], []

    async with _client(app) as client, async_playwright() as pw:

        async def answer(route: Route) -> None:
            request = route.request
            url = urlsplit(request.url)
            if f"{url.scheme}://{url.netloc}" != origin:
                elsewhere.append(request.url)
                await route.abort()
                return
            target = url.path + (f"?{url.query}" if url.query else "")
            asked.append(target)
            if request.method == "POST" and url.path == "/graphql":
                # The schema question GraphiQL asks on load, answered by the gateway's own schema (the rest of
                # the gateway's GraphQL path needs its stores and services, which this test does not start).
                body = request.post_data_json
                assert isinstance(body, dict), body
                await route.fulfill(json=await _introspection(body))
                return
            headers = {k: v for k, v in (await request.all_headers()).items() if not k.startswith(":")}
            r = await client.request(request.method, target, headers=headers, content=request.post_data_buffer)
            await route.fulfill(status=r.status_code, headers=dict(r.headers), body=r.content)

        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context()
            await context.add_init_script(REPORT_VIOLATIONS)
            await context.route("**/*", answer)
            page = await context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(f"{origin}{path}", wait_until="load")
            await page.wait_for_selector(ready, timeout=60_000)  # a loaded 2-core machine
            await page.wait_for_load_state("networkidle", timeout=60_000)
        finally:
            await browser.close()
    return asked, elsewhere, errors


@pytest.fixture(scope="module")
def chromium() -> str:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: ./platform test installs Debian's chromium (apt-get install chromium)")
    return CHROMIUM


async def test_graphiql_in_a_browser_loads_everything_from_the_gateway(
    built, chromium, app, tmp_path, monkeypatch
) -> None:
    """The development GraphiQL page, opened in Chromium: its scripts, styles, fonts and the schema all come
    from the gateway, and the strict CSP blocks nothing (so nothing it needs is inline or elsewhere)."""
    monkeypatch.setenv("PLATFORM_DATA_DIR", str(tmp_path))  # no development key: the page offers no token
    asked, elsewhere, errors = await _open_in_chromium(app, "/graphql", ".graphiql-container .CodeMirror")
    assert not elsewhere, f"GraphiQL asked another origin for {elsewhere}"
    assert not errors, f"console errors (CSP violations among them): {errors}"
    assert asked[0] == "/graphql" and asked.count("/graphql") >= 2, asked  # the page, then the schema
    assert asked[0] == "/graphql" and any(p.startswith("/assets/") and p.endswith(".js") for p in asked), asked
    assert any(p.endswith(".css") for p in asked), asked
