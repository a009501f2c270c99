"""The browser tests' shared fixtures: one platform (the real processes) and one headless Chromium for every
dashboard test module of the session, the local SMTP server that platform mails through (a test reads what a page's
action sent), and the screenshot folder (emptied once per session)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from infra.embedded import free_port
from infra.mailbox import Mailbox
from infra.processes import PROCESSES
from tests.e2e.test_platform import Platform
from tests.e2e.web_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, ROOT


@pytest.fixture(scope="session")
def web_mailbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mailbox]:
    """infra/mailbox.py's SMTP server on a free port: every email the session's platform sends (report runs,
    invitations) is kept there for the tests to read (`web_mailbox.messages()`, newest first)."""
    with Mailbox(tmp_path_factory.mktemp("e2e-web-mail"), free_port()) as box:
        yield box


_platforms: list[Platform] = []  # the session's web platform, for the hook below


@pytest.fixture(scope="session")
def _web_platform_session(
    tmp_path_factory: pytest.TempPathFactory, servers: None, web_mailbox: Mailbox
) -> Iterator[Platform]:
    """The real processes, with the dashboard told to sign in at the tests' development issuer (its served URL:
    the issuer's identifier, https://issuer.test/, is not an address a browser can reach), mailing through
    `web_mailbox`. Started by the first browser test (`web_platform`), stopped after the last one."""
    if not (ROOT / "web" / "dist" / "index.html").is_file():
        pytest.fail("web/dist is not built: ./platform test builds it (cd web && npm ci && npm run build)")
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: ./platform test installs Debian's chromium (apt-get install chromium)")
    jwks = urlsplit(os.environ["OIDC_JWKS_URL"])
    p = Platform(tmp_path_factory.mktemp("e2e-web"))
    p.env["WEB_OIDC_AUTHORITY"] = f"{jwks.scheme}://{jwks.netloc}/"
    p.env["SUPPORT_ADDRESS"] = "help@partner.example"
    p.env["GATEWAY_PUBLIC_URL"] = p.url  # export links point at this gateway, as the public URL does in production
    p.env["SMTP_URL"] = web_mailbox.url
    _platforms.append(p)
    try:
        yield p
    finally:
        p.stop_all()
        _platforms.remove(p)


@pytest.fixture
def web_platform(_web_platform_session: Platform) -> Platform:
    """The session's platform, running (started again if the hook below stopped it and a browser test follows)."""
    p = _web_platform_session
    if not p.procs:
        for process in PROCESSES:
            p.start(process.name)
        for url in p.readiness_urls():
            p.wait_ready(url, timeout=90)  # a 2-core machine running other suites: a slow start still starts
    return p


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Stops the web platform after the last browser test of a run: its real workers consume the same queues
    and databases as the tests that follow (which drive their own workers and count what those did)."""
    if nextitem is None or "web_platform" not in getattr(nextitem, "fixturenames", ()):
        for p in _platforms:
            p.stop_all()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
async def browser(artifacts: Path) -> AsyncIterator[Any]:
    import playwright.async_api as playwright_api

    async with playwright_api.async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()
