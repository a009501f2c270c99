"""What the dashboard's browser tests share: Debian's headless Chromium (through the Python `playwright` package;
no browser download), a page wrapper that keeps every console error, failed request and 4xx/5xx answer, axe-core,
screenshots, the GraphQL API as a test calls it, and signing in through the development issuer's page.

The fixtures that use these (`web_platform`, `browser`, `artifacts`) are in tests/e2e/conftest.py: one platform and
one Chromium for every browser test module of the session.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from infra.dev_issuer import DevIssuer, SignInUser
from tests.e2e.test_platform import Platform

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("WEB_E2E_ARTIFACTS") or ROOT / "tests" / "e2e" / "artifacts" / "web")
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"


async def api(client: httpx.AsyncClient, token: str, query: str, variables: dict[str, Any] | None = None) -> Any:
    """A GraphQL call as the user of `token`: its data (any error fails the test)."""
    r = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers={"authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert "errors" not in body, body
    return body["data"]


class Browser:
    """One page of one Chromium, with every console error, failed request and 4xx/5xx answer kept."""

    def __init__(self, page: Any, base: str) -> None:
        self.page, self.base = page, base
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._answered)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.problems.append(f"console: {message.text} at {message.location.get('url')}")

    def _answered(self, response: Any) -> None:
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status} {response.url}")

    def _failed(self, request: Any) -> None:
        # A navigation away (a download, the sign-in redirect) aborts requests in flight: not a failure.
        if request.failure and "ERR_ABORTED" in request.failure:
            return
        self.problems.append(f"request failed: {request.url} {request.failure}")

    def assert_clean(self) -> None:
        assert not self.problems, "\n".join(self.problems)

    async def shot(self, name: str) -> None:
        await self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    async def axe(self, name: str) -> None:
        """axe-core on the page as it is: no serious or critical violation."""
        if not await self.page.evaluate("typeof window.axe !== 'undefined'"):
            await self.page.evaluate(
                await asyncio.to_thread(AXE.read_text)
            )  # evaluated by the browser's devtools, not a page script
        result = await self.page.evaluate(
            "async () => { const r = await axe.run(document, {resultTypes: ['violations']}); return r.violations"
            ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))})); }"
        )
        await asyncio.to_thread((ARTIFACTS / f"{name}.axe.json").write_text, json.dumps(result, indent=2))
        bad = [v for v in result if v["impact"] in ("serious", "critical")]
        assert not bad, f"{name}: {bad}"

    async def no_horizontal_scroll(self, name: str) -> None:
        width = await self.page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], f"{name} scrolls sideways at {width[1]} px: {width[0]} px wide"


def admin_email(tenant: Any) -> str:
    """The email of a test tenant's admin (tests/factories.py names it after the admin's subject)."""
    return f"admin-{tenant.admin_subject.split('|admin-')[1]}@example.com"


@asynccontextmanager
async def signed_in(
    browser: Any,
    platform: Platform,
    issuer: DevIssuer,
    tenant: Any,
    *,
    subject: str | None = None,
    email: str | None = None,
    landing: str = "/analytics",
    shot: str | None = None,
) -> AsyncIterator[Browser]:
    """A fresh browser context signed in as the tenant's admin (or `subject`/`email`) through the development
    issuer's authorize page (code + PKCE), on `landing`. On the way out: a screenshot named `shot` (where a failure
    left the page) and every problem the page met fails the test."""
    subject, email = subject or tenant.admin_subject, email or admin_email(tenant)
    key = f"web-{email}"
    issuer.users[key] = SignInUser(subject, email, email)
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB", accept_downloads=True)
    context.set_default_timeout(60_000)  # a 2-core machine running other suites: waits generous, failures still fail
    page = await context.new_page()
    b = Browser(page, platform.url)
    try:
        await page.goto(f"{platform.url}{landing}")
        await page.wait_for_url(re.compile(r"/authorize\?"))
        await page.get_by_role("button", name=email, exact=True).click()
        await page.wait_for_url(re.compile(re.escape(landing.split("?")[0])))
        await page.wait_for_selector("#content h1")
        yield b
        b.assert_clean()
    finally:
        if shot:
            await b.shot(shot)
        issuer.users.pop(key, None)
        await context.close()
