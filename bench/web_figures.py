"""Web dashboard figures (issue 12): what the browser loads, and how soon Analytics shows its data.

    PYTHONPATH=. uv run python bench/web_figures.py                 # starts the platform on the demo data
    PYTHONPATH=. uv run python bench/web_figures.py --url http://127.0.0.1:8000   # a running `./platform up`

Prints, never asserts:
- initial JavaScript: the scripts web/dist/index.html loads (its module script and modulepreloads) and every
  module they import statically, raw and gzipped (target: under 300 KB gzipped; pages are separate chunks);
- the Analytics page's chunk, alone and with the chunks it adds to the initial ones (the charts);
- Analytics time to data: from navigation start until the totals, the customers-and-orders chart and the funnel
  are all on the page (headless Chromium, signed in), median of N loads with the browser cache cleared before
  each and of N with it warm (target: interactive under 1.5 s);
- Lighthouse's performance and accessibility scores of /analytics (bench/lighthouse/, its own npm project with
  a committed lock: `npm ci` there on first use), run in the signed-in tab of the same Chromium through its
  remote-debugging port; desktop settings, no simulated throttling.

The platform: `python -m infra.run` (what `./platform up` runs) with its data in bench/out/web-platform (demo
data loaded on the first start and kept; delete the folder to start afresh) on free ports, stopped at the end;
its log is bench/out/logs/web-platform.log. Sign-in: the development issuer's page, as a person does (the demo
admin). web/dist is used as built (`--build` runs `./platform web` first; it is built when missing).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import hashlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import LOGS, OUT, free_port, save_result, say  # noqa: E402  (needs the repository root on sys.path)

DIST = ROOT / "web" / "dist"
LIGHTHOUSE = ROOT / "bench" / "lighthouse"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
DEMO_ADMIN_EMAIL = "admin@demo-partner.example"  # infra/dev_issuer.py DEMO_USERS["admin"]
INITIAL_JS_TARGET_KB = 300
INTERACTIVE_TARGET_MS = 1500
# Static imports of a built module (`import{a}from"./x.js"`, `import"./x.js"`, `export*from"./x.js"`); dynamic
# `import("./x.js")` (a page's chunk) is not one.
STATIC_IMPORT = re.compile(r"""(?:\bimport|\bfrom)\s*["'](\./[^"']+\.js)["']""")
# Analytics shows its data: the totals, the chart drawn (ECharts renders to a canvas) and the funnel's steps.
DATA_SHOWN = """() => document.querySelector('.tile-value[data-metric]')
  && document.querySelector('.chart canvas')
  && document.querySelector('ol.funnel-steps [data-step]')
  ? performance.now() : false"""


# --------------------------------------------------------------------------- what the browser loads


def kb(n: int) -> str:
    return f"{n / 1024:.1f} KB"


def gz(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), 9))


def static_closure(assets: Path, names: list[str]) -> list[str]:
    """`names` and every module they import statically, transitively (file names under assets/)."""
    seen: list[str] = []
    todo = list(names)
    while todo:
        name = todo.pop(0)
        if name in seen or not (assets / name).is_file():
            continue
        seen.append(name)
        todo += [ref.rsplit("/", 1)[-1] for ref in STATIC_IMPORT.findall((assets / name).read_text(encoding="utf-8"))]
    return seen


@dataclass
class Bundle:
    initial_js: list[str]
    initial_css: list[str]
    analytics: str | None
    analytics_adds: list[str]

    def size(self, names: list[str], *, gzipped: bool) -> int:
        return sum(gz(DIST / "assets" / n) if gzipped else (DIST / "assets" / n).stat().st_size for n in names)


def read_bundle() -> Bundle:
    index = (DIST / "index.html").read_text(encoding="utf-8")
    scripts = re.findall(r"""<script[^>]*\bsrc=["']/assets/([^"']+\.js)["']""", index)
    preloads = re.findall(r"""<link[^>]*rel=["']modulepreload["'][^>]*href=["']/assets/([^"']+\.js)["']""", index)
    css = re.findall(r"""<link[^>]*rel=["']stylesheet["'][^>]*href=["']/assets/([^"']+\.css)["']""", index)
    initial = static_closure(DIST / "assets", scripts + preloads)
    page = sorted(
        p.name for p in (DIST / "assets").glob("Analytics-*.js") if re.fullmatch(r"Analytics-[\w-]{8}\.js", p.name)
    )
    analytics = page[0] if page else None
    adds = [n for n in static_closure(DIST / "assets", [analytics]) if n not in initial] if analytics else []
    return Bundle(initial, css, analytics, adds)


# --------------------------------------------------------------------------- the platform


def _get(url: str, timeout: float = 5) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return int(r.status)
    except Exception:
        return 0


@contextlib.contextmanager
def local_platform(data_dir: Path, timeout: float) -> Iterator[str]:
    """`python -m infra.run` on free ports with its data in `data_dir`; yields the gateway's URL."""
    from infra.processes import PROCESSES

    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SMTP_URL", "DB_PREFIX")}
    ports = {p.port_env: free_port() for p in PROCESSES if p.kind.serves_http and p.port_env}
    for var in ("DEV_ISSUER_PORT", "EMBEDDED_PG_PORT", "EMBEDDED_REDIS_PORT", "EMBEDDED_SMTP_PORT"):
        ports[var] = free_port()
    env.update({k: str(v) for k, v in ports.items()})
    env.update(PLATFORM_DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    for var in ("OIDC_ISSUER", "OIDC_JWKS_URL", "GATEWAY_PUBLIC_URL", "WEB_OIDC_AUTHORITY"):
        env.pop(var, None)
    gateway = next(p for p in PROCESSES if p.name == "gateway")
    url = f"http://127.0.0.1:{ports[gateway.port_env]}"
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / "web-platform.log"
    first = not (data_dir / "demo.json").exists()
    note = ": first start, loading the demo data" if first else ""
    say(f"starting the platform (python -m infra.run) in {data_dir}{note}")
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "infra.run"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        began = time.monotonic()
        while _get(f"{url}/readyz") != 200:
            if proc.poll() is not None:
                raise SystemExit(f"the platform stopped (exit {proc.returncode}); its log: {log_path}")
            if time.monotonic() - began > timeout:
                raise SystemExit(f"the platform was not ready within {timeout:.0f} s; its log: {log_path}")
            time.sleep(1)
        say(f"platform ready at {url} after {time.monotonic() - began:.0f} s")
        yield url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # infra.run stops every process it started
            try:
                proc.wait(90)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        say("platform stopped")


# --------------------------------------------------------------------------- the browser


@contextlib.contextmanager
def chromium_with_debugging_port(profile: Path) -> Iterator[int]:
    """Headless Chromium with a remote-debugging port (playwright and Lighthouse both attach to it)."""
    shutil.rmtree(profile, ignore_errors=True)
    profile.mkdir(parents=True)
    port = free_port()
    argv = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1350,940",
        f"--user-data-dir={profile}",
        "--remote-debugging-address=127.0.0.1",
        f"--remote-debugging-port={port}",
        "about:blank",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        began = time.monotonic()
        while _get(f"http://127.0.0.1:{port}/json/version") != 200:
            if proc.poll() is not None or time.monotonic() - began > 30:
                raise SystemExit(f"{CHROMIUM} did not open its debugging port")
            time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@dataclass
class Loads:
    settled: tuple[float, float]  # seconds waited for the live updates to settle, re-reads a second at the end
    cold_ms: list[float]
    warm_ms: list[float]
    js_files: int
    js_transferred: int
    js_decoded: int


async def settle(page: Any, window: float, timeout: float) -> tuple[float, float]:
    """Waits until the signed-in Analytics page re-reads nothing for `window` seconds: it re-reads its figures on
    every live update, and while events still land (the demo's first start republishes ~220,000 of them to the
    reports service, which drains only while the platform runs) it never goes idle, which leaves Lighthouse no
    quiet window to find the page interactive in. Answers (seconds waited, re-reads a second in the last window)."""
    reads: list[float] = []

    def count(request: Any) -> None:
        if request.method == "POST" and request.url.endswith("/graphql"):
            reads.append(time.monotonic())

    page.on("request", count)
    began = time.monotonic()
    try:
        while True:
            start = time.monotonic()
            await asyncio.sleep(window)
            recent = [r for r in reads if r >= start]
            if not recent or time.monotonic() - began >= timeout:
                return time.monotonic() - began, len(recent) / window
            say(f"events still landing: Analytics re-read its figures {len(recent)} times in {window:.0f} s; waiting")
    finally:
        page.remove_listener("request", count)


async def sign_in_and_time(port: int, url: str, runs: int, quiet: tuple[float, float]) -> Loads:
    """Signs in through the development issuer's page in the browser's first tab, waits for the live updates to
    settle (`quiet`: window and timeout in seconds), then loads /analytics `runs` times with the cache cleared and
    `runs` times warm, timing each until its data is shown. The tab stays on /analytics, signed in, for Lighthouse."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.connect_over_cdp(f"http://127.0.0.1:{port}")
        context = browser.contexts[0]
        page = context.pages[0] if context.pages else await context.new_page()
        page.set_default_timeout(60_000)
        await page.goto(f"{url}/analytics")
        await page.wait_for_url(re.compile(r"/authorize\?"))
        await page.get_by_role("button", name=DEMO_ADMIN_EMAIL, exact=True).click()
        await page.wait_for_url(re.compile(r"/analytics"))
        await page.wait_for_function(DATA_SHOWN, polling="raf")
        say("signed in as the demo admin; Analytics shows its data")
        waited, rate = await settle(page, *quiet)
        settled = (waited, rate)
        cdp = await context.new_cdp_session(page)
        cold: list[float] = []
        warm: list[float] = []
        for cache in ("cold", "warm"):
            for _ in range(runs):
                if cache == "cold":
                    await cdp.send("Network.clearBrowserCache")
                await page.goto(f"{url}/analytics", wait_until="commit")
                shown = await page.wait_for_function(DATA_SHOWN, polling="raf")
                (cold if cache == "cold" else warm).append(float(await shown.json_value()))
        # What the last cold load fetched: every script the page ran, and the bytes on the wire.
        await cdp.send("Network.clearBrowserCache")
        await page.goto(f"{url}/analytics", wait_until="commit")
        await page.wait_for_function(DATA_SHOWN, polling="raf")
        entries = await page.evaluate(
            """() => performance.getEntriesByType('resource').concat(performance.getEntriesByType('navigation'))
                 .filter(e => e.name.endsWith('.js'))
                 .map(e => [e.transferSize, e.decodedBodySize])"""
        )
        await cdp.detach()
        # Leave the browser running (Lighthouse attaches to it): drop playwright's connection only.
    return Loads(
        settled,
        cold,
        warm,
        len(entries),
        sum(int(e[0]) for e in entries),
        sum(int(e[1]) for e in entries),
    )


# --------------------------------------------------------------------------- Lighthouse


def node_and_npm() -> tuple[str, list[str]]:
    """The Node.js that ./platform builds web/ with (the machine's at 20 or later, else the pinned one)."""
    done = subprocess.run([str(ROOT / "platform"), "which-node"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"./platform which-node failed: {done.stderr.strip()}")
    found = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    npm = [found["NODE"], found["NPM_CLI"]] if found.get("NPM_CLI") else [found["NPM"]]
    return found["NODE"], npm


def ensure_lighthouse(npm: list[str]) -> None:
    """`npm ci` in bench/lighthouse when its packages are missing or its lock changed."""
    stamp = LIGHTHOUSE / "node_modules" / ".bench-lock"
    digest = hashlib.sha256((LIGHTHOUSE / "package-lock.json").read_bytes()).hexdigest()
    if stamp.is_file() and stamp.read_text() == digest:
        return
    say("installing Lighthouse (npm ci in bench/lighthouse)")
    subprocess.run([*npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=LIGHTHOUSE, check=True)
    stamp.write_text(digest)


def lighthouse(node: str, port: int, url: str) -> dict[str, Any]:
    report = OUT / "results" / "web_figures_lighthouse.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    argv = [node, "audit.mjs", "--port", str(port), "--url", f"{url}/analytics", "--out", str(report)]
    done = subprocess.run(argv, cwd=LIGHTHOUSE, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        return {"error": (done.stderr or done.stdout).strip()[-2000:]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["report"] = str(report.relative_to(ROOT))
    return result


# --------------------------------------------------------------------------- main


def commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or "?"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--url", help="a running platform's gateway (e.g. http://127.0.0.1:8000); default: start one")
    ap.add_argument("--runs", type=int, default=5, help="loads of /analytics per cache state (default 5)")
    ap.add_argument("--build", action="store_true", help="run ./platform web first (web/dist is built when missing)")
    ap.add_argument("--no-lighthouse", action="store_true")
    ap.add_argument("--start-timeout", type=float, default=900, help="seconds for the platform to be ready")
    ap.add_argument(
        "--quiet-window", type=float, default=10, help="seconds without a live re-read that count as settled"
    )
    ap.add_argument("--quiet-timeout", type=float, default=1800, help="longest wait for the live updates to settle")
    args = ap.parse_args()

    if args.build or not (DIST / "index.html").is_file():
        say("building web/ (./platform web)")
        subprocess.run([str(ROOT / "platform"), "web"], check=True)
    bundle = read_bundle()
    built = time.strftime("%H:%M", time.localtime((DIST / "index.html").stat().st_mtime))
    lines = [f"Web dashboard figures (commit {commit()}, web/dist built at {built})"]
    print(lines[0], flush=True)

    def out(line: str) -> None:
        lines.append(line)
        print(line, flush=True)

    def sizes(names: list[str]) -> str:
        return f"{kb(bundle.size(names, gzipped=False))} raw, {kb(bundle.size(names, gzipped=True))} gzipped"

    initial_gz = bundle.size(bundle.initial_js, gzipped=True)
    missed = "" if initial_gz < INITIAL_JS_TARGET_KB * 1024 else " [MISSED]"
    out(
        f"  initial JavaScript: {len(bundle.initial_js)} files, {sizes(bundle.initial_js)} "
        f"(target < {INITIAL_JS_TARGET_KB} KB gzipped{missed}): {', '.join(bundle.initial_js)}"
    )
    if bundle.initial_css:
        out(f"  initial CSS: {sizes(bundle.initial_css)}")
    if bundle.analytics:
        adds = [n for n in bundle.analytics_adds if n != bundle.analytics]
        out(
            f"  Analytics chunk: {bundle.analytics} {sizes([bundle.analytics])}; with the chunks it adds to the "
            f"initial ones ({', '.join(adds) or 'none'}): {sizes(bundle.analytics_adds)}"
        )
    else:
        out("  Analytics chunk: none found (assets/Analytics-<hash>.js): is the page still code-split?")

    with contextlib.ExitStack() as stack:
        url = (
            args.url.rstrip("/")
            if args.url
            else stack.enter_context(local_platform(OUT / "web-platform", args.start_timeout))
        )
        port = stack.enter_context(chromium_with_debugging_port(OUT / "web-chromium"))
        load_before = Path("/proc/loadavg").read_text().split()[:3]
        loads = asyncio.run(sign_in_and_time(port, url, args.runs, (args.quiet_window, args.quiet_timeout)))
        waited, rate = loads.settled
        out(
            f"  live updates settled after {waited:.0f} s"
            if rate == 0
            else f"  live updates did not settle within {waited:.0f} s: Analytics re-read its figures {rate:.1f} times "
            "a second (events still landing); measured anyway"
        )
        load_after = Path("/proc/loadavg").read_text().split()[:3]
        cold, warm = statistics.median(loads.cold_ms), statistics.median(loads.warm_ms)
        out(
            f"  Analytics time to data (totals, chart and funnel shown, from navigation start; median of {args.runs}): "
            f"cache cleared {cold:.0f} ms, warm {warm:.0f} ms (target < {INTERACTIVE_TARGET_MS} ms"
            f"{'' if cold < INTERACTIVE_TARGET_MS else ' [MISSED]'}); runs {[round(x) for x in loads.cold_ms]} / "
            f"{[round(x) for x in loads.warm_ms]}"
        )
        out(
            f"  JavaScript one cold load of /analytics ran: {loads.js_files} files, {kb(loads.js_decoded)} decoded, "
            f"{kb(loads.js_transferred)} over the wire"
        )
        out(f"  machine load average {' '.join(load_before)} before, {' '.join(load_after)} after (2 cores, shared)")
        if not args.no_lighthouse:
            node, npm = node_and_npm()
            ensure_lighthouse(npm)
            say("Lighthouse on /analytics")
            lh = lighthouse(node, port, url)
            if "error" in lh:
                out(f"  Lighthouse failed: {lh['error']}")
            else:
                failed = lh["accessibilityFailed"]
                out(
                    f"  Lighthouse {lh['lighthouse']} /analytics ({lh['formFactor']}, throttling {lh['throttling']}): "
                    f"performance {lh['performance']}, accessibility {lh['accessibility']}"
                    + (f" (audits failed: {', '.join(failed)})" if failed else "")
                )
                out(
                    f"    FCP {lh['firstContentfulPaintMs']} ms, LCP {lh['largestContentfulPaintMs']} ms, "
                    f"TBT {lh['totalBlockingTimeMs']} ms, TTI {lh['interactiveMs']} ms, speed index "
                    f"{lh['speedIndexMs']} ms, CLS {lh['cumulativeLayoutShift']:.3f} (report: {lh['report']})"
                )
    save_result("web_figures", lines)


if __name__ == "__main__":
    main()
