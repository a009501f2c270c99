"""Figure: exports do not share the interactive path. Twenty exports of the 1M-order organisation (10 CSV and
10 XLSX, each of the most recent days holding about `--rows` orders) are requested and downloaded at once
through the gateway while four users read a small orders page (10 rows) every 250 ms. Printed per case: the
small query's p50/p95/max and failures, alone and during the exports; the exports' outcome (served, refused
with 429) and combined rows/s; and, sampled every 250 ms from pg_stat_activity, the most connections of the
orders API's role that were `idle in transaction` and in use at once.

Cases, in one run:
- `before`: the gateway and orders API of commit `--before` (default: the last one before exports got their
  own pool), taken with `git archive` into bench/out/; skipped with `--before ''`;
- `after, cap lifted`: this tree with EXPORT_ORG_CONCURRENCY=0, so all twenty run (on the 4-connection
  export pool);
- `after, defaults`: this tree as configured (EXPORT_ORG_CONCURRENCY=2: the rest refused at once).

    PYTHONPATH=. uv run python bench/export_contention.py [--rows 20000] [--exports 20] [--before COMMIT]
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from burst import Tally, Window, client_loop, ensure_members, ordinary_subjects, page_request
from common import (
    LOGS,
    OUT,
    ROOT,
    Env,
    MachineLoad,
    Processes,
    RawClient,
    base_args,
    fmt_ms,
    gql,
    pct,
    save_result,
    say,
    setup,
    use_uvloop,
    wait_ready,
)
from exports import recent_days_filter

BEFORE = "582b5f3"  # the last commit whose exports read on the interactive pool in one transaction
REQUEST = """mutation Export($format: ExportFormat!, $filter: OrderFilterInput) {
  requestExport(kind: ORDERS, format: $format, orderFilter: $filter) { url errors { code message } } }"""
SMALL_CLIENTS = 4
SMALL_THINK = 0.25


def before_tree(commit: str) -> Path:
    """The tree of `commit`, extracted once into bench/out/before-<commit> (no checkout, no worktree)."""
    target = OUT / f"before-{commit}"
    if not (target / "services").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def start_from(procs: Processes, name: str, tree: Path, extra_env: dict[str, str]) -> None:
    """Process `name` run from `tree` (its working directory and path), with the platform's command."""
    cmd = procs.command(name)
    with open(LOGS / f"{procs.tag}{name}.log", "ab") as log:
        procs.procs[name] = subprocess.Popen(
            cmd,
            cwd=tree,
            env={**procs.env, "PYTHONPATH": str(tree), **extra_env},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    if tree != ROOT:
        say(f"{name} from {tree}")


@dataclass
class Activity:
    """Most connections of the orders API's role seen at once: in use, and left idle in a transaction for
    over a second (a transaction held open while something else happens, not one between two statements);
    and the oldest transaction seen."""

    idle_in_transaction: int = 0
    in_use: int = 0
    oldest_transaction: float = 0.0
    samples: int = 0


async def sample_activity(dsn: str, role: str, database: str, stop: asyncio.Event, out: Activity) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        while not stop.is_set():
            row = await conn.fetchrow(
                "SELECT count(*) FILTER (WHERE state = 'idle in transaction'"
                " AND state_change < now() - interval '1 second') AS iit,"
                " count(*) FILTER (WHERE state <> 'idle') AS busy,"
                " coalesce(extract(epoch FROM max(now() - xact_start)), 0)::float8 AS oldest"
                " FROM pg_stat_activity WHERE usename = $1 AND datname = $2",
                role,
                database,
            )
            assert row is not None
            out.idle_in_transaction = max(out.idle_in_transaction, row["iit"])
            out.in_use = max(out.in_use, row["busy"])
            out.oldest_transaction = max(out.oldest_transaction, row["oldest"])
            out.samples += 1
            with contextlib.suppress(TimeoutError):  # the next sample is due
                await asyncio.wait_for(stop.wait(), 0.25)
    finally:
        await conn.close()


@dataclass
class Download:
    fmt: str
    status: int = 0
    size: int = 0
    seconds: float = 0.0
    error: str | None = None


async def export_link(client: Any, gateway: str, token: str, fmt: str, f: dict[str, Any]) -> str:
    data = await gql(client, gateway, token, REQUEST, {"format": fmt, "filter": f})
    url: str = data["requestExport"]["url"]
    return url


async def download(client: Any, url: str, fmt: str) -> Download:
    result = Download(fmt)
    t0 = time.perf_counter()
    try:
        async with client.stream("GET", url) as r:
            result.status = r.status_code
            async for chunk in r.aiter_raw():
                result.size += len(chunk)
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {str(exc)[:150]}"
    result.seconds = time.perf_counter() - t0
    return result


async def small_queries(gateway: str, tokens: list[str], seconds: float | None, stop: asyncio.Event | None) -> Tally:
    """Four users reading a 10-row page every 250 ms, for `seconds` or until `stop`."""
    tally = Tally()
    start = time.perf_counter()
    window = Window(start, start + (seconds if seconds is not None else 3600))
    raws = [RawClient(gateway) for _ in tokens]

    async def stopper() -> None:
        if stop is not None:
            await stop.wait()
            window.stop_at = time.perf_counter()

    try:
        await asyncio.gather(
            stopper(),
            *(
                client_loop(raw.send, page_request(gateway, t, first=10), window, tally, think=SMALL_THINK)
                for raw, t in zip(raws, tokens, strict=True)
            ),
        )
    finally:
        for raw in raws:
            await raw.close()
    return tally


def tally_brief(t: Tally, seconds: float) -> str:
    failed = t.errors + sum(n for s, n in t.statuses.items() if s != 200)
    err = f", {failed} failed of {sum(t.statuses.values())} ({t.first_error})" if failed else ""
    return (
        f"p50 {fmt_ms(pct(t.latencies, 0.5))} p95 {fmt_ms(pct(t.latencies, 0.95))}"
        f" max {fmt_ms(max(t.latencies, default=float('nan')))} ({len(t.latencies)} served{err})"
    )


async def run_case(
    label: str, env: Env, procs: Processes, tokens: list[str], admin: str, f: dict[str, Any], each: int, n: int
) -> list[str]:
    import httpx

    lines: list[str] = []
    alone = await small_queries(procs.gateway, tokens, 5.0, None)
    settings = env.settings
    stop, activity = asyncio.Event(), Activity()
    sampler = asyncio.create_task(
        sample_activity(
            settings.database_url, settings.role_name("orders", "app"), settings.database_name("orders"), stop, activity
        )
    )
    small_stop = asyncio.Event()
    small = asyncio.create_task(small_queries(procs.gateway, tokens, None, small_stop))
    machine = MachineLoad()
    formats = ["CSV" if i % 2 == 0 else "XLSX" for i in range(n)]
    async with httpx.AsyncClient(timeout=httpx.Timeout(900, connect=10)) as client:
        # The links first, one after the other (as many users clicking "export"), then every download at once.
        links = [await export_link(client, procs.gateway, admin, fmt, f) for fmt in formats]
        t0 = time.perf_counter()
        with machine:
            results = await asyncio.gather(
                *(download(client, url, fmt) for url, fmt in zip(links, formats, strict=True))
            )
        seconds = time.perf_counter() - t0
        small_stop.set()
        during = await small
    stop.set()
    await sampler
    ok = [r for r in results if r.status == 200 and r.error is None]
    refused = [r for r in results if r.status == 429]
    failed = [r for r in results if r not in ok and r not in refused]
    rows = len(ok) * each
    lines.append(
        f"exports, {label}: small query alone {tally_brief(alone, 5.0)}; during {n} exports"
        f" {tally_brief(during, seconds)}"
    )
    lines.append(
        f"exports, {label}: {len(ok)} served ({sum(r.fmt == 'CSV' for r in ok)} CSV,"
        f" {sum(r.fmt == 'XLSX' for r in ok)} XLSX), {len(refused)} refused with 429, {len(failed)} failed"
        + (f" ({failed[0].error or failed[0].status})" if failed else "")
        + f"; {rows:,} rows in {seconds:.1f}s = {rows / seconds:,.0f} rows/s combined; slowest"
        f" {max((r.seconds for r in ok), default=0):.1f}s; orders-API connections at once: at most"
        f" {activity.in_use} in use, {activity.idle_in_transaction} idle in a transaction for over 1 s, oldest"
        f" transaction {activity.oldest_transaction:.1f}s ({activity.samples} samples); {machine.brief()}"
    )
    return lines


async def main() -> None:
    ap = base_args(__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=20_000, help="orders in each export (most recent whole days)")
    ap.add_argument("--exports", type=int, default=20)
    ap.add_argument("--before", default=BEFORE, help="commit whose orders API is the 'before' case ('' to skip)")
    args = ap.parse_args()

    env = await setup(redis=True)
    d = env.data
    await ensure_members(env, d["org_id"], ordinary_subjects())
    tokens = [env.issuer.mint(s, ttl=6 * 3600) for s in ordinary_subjects()[:SMALL_CLIENTS]]
    admin = env.token()
    f, rows = await recent_days_filter(env.owner_dsn(), d["org_id"], d["time_zone"], args.rows)
    lines = [
        f"export contention: {args.exports} exports of {rows:,} orders each (half CSV, half XLSX) through the"
        f" gateway, {SMALL_CLIENTS} users reading a 10-row orders page every {SMALL_THINK * 1000:.0f} ms"
    ]
    print(lines[0], flush=True)
    cases: list[tuple[str, dict[str, str], Path | None]] = []
    if args.before:
        cases.append((f"before ({args.before}: interactive pool, one transaction per export)", {}, None))
    cases += [
        ("after, cap lifted (EXPORT_ORG_CONCURRENCY=0)", {"EXPORT_ORG_CONCURRENCY": "0"}, ROOT),
        ("after, defaults (EXPORT_ORG_CONCURRENCY=2)", {}, ROOT),
    ]
    procs = Processes("export_contention-")
    try:
        for label, api_env, tree in cases:
            procs.stop("gateway")
            procs.stop("orders-api")
            if tree is None:
                tree = before_tree(args.before)
            start_from(procs, "orders-api", tree, api_env)
            wait_ready(f"{procs.api}/readyz", procs.procs)
            start_from(procs, "gateway", tree, {})
            wait_ready(f"{procs.gateway}/readyz", procs.procs)
            say(f"case: {label}")
            case_lines = await run_case(label, env, procs, tokens, admin, f, rows, args.exports)
            for line in case_lines:
                lines.append(line)
                print(line, flush=True)
        save_result("export_contention", lines, {"rows": rows, "exports": args.exports})
    finally:
        procs.stop_all()
        env.close()


if __name__ == "__main__":
    use_uvloop()
    asyncio.run(main())
