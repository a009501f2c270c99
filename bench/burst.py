"""Figure: a burst must not starve everyone else. Eight ordinary users (each their own subject, in the demo
organisation) read orders pages at a human pace while 200 greedy clients of another organisation hammer the
same page: first all as one user, then spread over 50 users of that organisation. Each case runs with the
gateway's admission control on (the defaults) and off (every limit 0: the gateway as it was before), in one
run, so the ratio is what to read. A probe asks /readyz every 0.5 s, as a Kubernetes probe would.

Printed per case: the ordinary users' p50/p95 (target p95 < 100 ms) and errors; the greedy clients' answered
requests per second by status (200, 429, 503); /readyz p95 and max. Greedy clients honour Retry-After by
default (a well-behaved client, and what the dashboard does); `--ignore-retry-after` makes them hostile
(they resend at once) and adds those cases.

    PYTHONPATH=. uv run python bench/burst.py [--duration 20] [--greedy 200] [--ignore-retry-after]
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    OUT,
    Env,
    MachineLoad,
    Processes,
    RawClient,
    Request,
    base_args,
    cpu_seconds,
    fmt_ms,
    pct,
    process_tree,
    save_result,
    say,
    setup,
    use_uvloop,
    wait_ready,
)

GREEDY_ORG_ID = uuid.UUID("00000000-0000-4000-8000-0000000000b1")
GREEDY_ORDERS = 20_000
ORDINARY_USERS = 8
SELECTION = """edges { cursor node { id externalRef status commStatus commission { amount currency } createdAt
      customer { id kind email displayName } integration { id name channel } category { id name } } }
    pageInfo { hasNextPage endCursor }"""
PAGE = f"""query OrdersPage($first: Int!) {{ orders(first: $first) {{ {SELECTION} }} }}"""
# Every limit off: the gateway as it was before admission control.
LIMITS_OFF = {
    "GATEWAY_MAX_IN_FLIGHT": "0",
    "GRAPHQL_USER_CONCURRENCY": "0",
    "GRAPHQL_ORG_CONCURRENCY": "0",
    "GRAPHQL_USER_RATE": "0",
    "GRAPHQL_ORG_RATE": "0",
}


async def ensure_members(env: Env, org_id: uuid.UUID, subjects: list[str], role: str = "member") -> None:
    """Members with these subjects in the organisation (added once; the data set is reused across runs)."""
    import asyncpg

    from services.orders.repository import members
    from shared.db import tenant_tx

    owner = await asyncpg.connect(env.owner_dsn())
    try:
        present = {
            r["subject"]
            for r in await owner.fetch(
                "SELECT subject FROM members WHERE org_id = $1 AND subject = ANY($2::text[])", org_id, subjects
            )
        }
    finally:
        await owner.close()
    missing = [s for s in subjects if s not in present]
    if not missing:
        return
    pool = await asyncpg.create_pool(env.app_dsn(), min_size=1, max_size=1)
    try:
        async with tenant_tx(pool, org_id) as conn:
            for s in missing:
                await members.add(conn, org_id, f"{s.replace('|', '-')}@bench.example", role, subject=s)
    finally:
        await pool.close()
    say(f"added {len(missing)} members to organisation {org_id}")


async def ensure_greedy_org(env: Env, users: int) -> list[str]:
    """A second organisation with its own orders (so greedy pages cost what real ones do) and `users` members."""
    import demo.orders as demo

    subjects = [f"bench|greedy-{i:02d}" for i in range(users)]
    if not await demo.demo_loaded(env.owner_dsn(), GREEDY_ORG_ID):
        say(f"loading the greedy organisation ({GREEDY_ORDERS:,} orders, first run only)")
        await demo.load_demo(
            env.owner_dsn(),
            org_id=GREEDY_ORG_ID,
            org_name="Burst Partner",
            customers=2_000,
            orders=GREEDY_ORDERS,
            admin_subject=subjects[0],
            admin_email="greedy-00@bench.example",
            ledger=False,
            bulk=False,
        )
    await ensure_members(env, GREEDY_ORG_ID, subjects[1:])
    return subjects


def ordinary_subjects() -> list[str]:
    return [f"bench|ordinary-{i}" for i in range(ORDINARY_USERS)]


def page_request(gateway: str, token: str, first: int = 50) -> Request:
    body = json.dumps({"query": PAGE, "variables": {"first": first}}).encode()
    return Request(
        "POST",
        f"{gateway}/graphql",
        body,
        {"content-type": "application/json", "authorization": f"Bearer {token}"},
    )


@dataclass
class Tally:
    """What one group of clients saw during the measured window."""

    latencies: list[float] = field(default_factory=list)  # of answers counted as served
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0  # anything but an answer or a refusal (429, 503)
    first_error: str | None = None

    def refused(self) -> int:
        return self.statuses[429] + self.statuses[503]

    def served(self) -> int:
        return len(self.latencies)


def _retry_after(body: bytes, default: float = 1.0) -> float:
    try:
        return float(json.loads(body)["error"].get("retryAfter") or default)
    except (ValueError, KeyError, TypeError):
        return default


@dataclass
class Window:
    measure_from: float
    stop_at: float

    def measuring(self, t0: float, t1: float) -> bool:
        return t0 >= self.measure_from and t1 <= self.stop_at


async def client_loop(
    send: Callable[[Request], Awaitable[tuple[int, bytes]]],
    req: Request,
    window: Window,
    tally: Tally,
    *,
    think: float = 0.0,
    honour_retry_after: bool = True,
) -> None:
    """One client: send, wait `think`, again; on 429/503 wait Retry-After when honouring it."""
    while time.perf_counter() < window.stop_at:
        t0 = time.perf_counter()
        try:
            status, body = await send(req)
        except Exception as exc:
            status, body = 0, f"{type(exc).__name__}: {exc}".encode()
        t1 = time.perf_counter()
        if window.measuring(t0, t1):
            tally.statuses[status] += 1
            if status == 200 and b'"errors"' not in body:
                tally.latencies.append(t1 - t0)
            elif status not in (429, 503):
                tally.errors += 1
                tally.first_error = tally.first_error or f"HTTP {status}: {body[:200]!r}"
        if status in (429, 503) and honour_retry_after:
            await asyncio.sleep(_retry_after(body))
        elif think:
            await asyncio.sleep(think)


async def probe_loop(url: str, window: Window, latencies: list[float], failures: list[int]) -> None:
    """/readyz every 0.5 s, as a Kubernetes readiness probe (its own connection each time, like kubelet)."""
    import httpx

    async with httpx.AsyncClient(timeout=10) as client:
        while time.perf_counter() < window.stop_at:
            t0 = time.perf_counter()
            try:
                ok = (await client.get(url, headers={"connection": "close"})).status_code == 200
            except httpx.HTTPError:
                ok = False
            t1 = time.perf_counter()
            if t0 >= window.measure_from:
                latencies.append(t1 - t0)
                if not ok:
                    failures[0] += 1
            await asyncio.sleep(max(0.0, 0.5 - (t1 - t0)))


class CpuMeter:
    """CPU seconds used by the gateway, the orders API and PostgreSQL over a case (where the time went)."""

    def __init__(self, procs: Processes) -> None:
        self.pids = {name: procs.pid(name) for name in ("gateway", "orders-api") if name in procs.procs}

    def _now(self) -> dict[str, float]:
        out = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        pidfile = OUT / "pg" / "pgdata" / "postmaster.pid"
        try:
            postmaster = int(pidfile.read_text().split()[0])
            out["postgres"] = sum(cpu_seconds(p) for p in process_tree(postmaster))
        except (OSError, ValueError, IndexError):
            pass
        return out

    def __enter__(self) -> CpuMeter:
        self.t0, self.start = time.perf_counter(), self._now()
        return self

    def __exit__(self, *exc: object) -> None:
        end, seconds = self._now(), time.perf_counter() - self.t0
        self.cores = {k: (end[k] - self.start.get(k, end[k])) / seconds for k in end}

    def brief(self) -> str:
        return "CPU " + ", ".join(f"{k} {v:.2f}" for k, v in self.cores.items()) + " cores"


def generator_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CaseResult:
    label: str
    ordinary: Tally
    greedy: Tally
    readyz: list[float]
    readyz_failures: int
    seconds: float
    machine: MachineLoad
    cpu: CpuMeter
    generator: float  # cores the load generator itself used

    def line(self, baseline_p95: float | None) -> str:
        o, g = self.ordinary, self.greedy
        p95 = pct(o.latencies, 0.95)
        verdict = "ok" if o.served() and p95 < 0.1 and not o.errors and not o.refused() else "MISSED"
        vs = f" (alone {fmt_ms(baseline_p95)})" if baseline_p95 else ""
        err = f", {o.errors} errors ({o.first_error})" if o.errors else ""
        if o.refused():
            err += f", {o.statuses[429]} refused 429, {o.statuses[503]} refused 503"
        rate = {s: n / self.seconds for s, n in g.statuses.items()}
        greedy = (
            f"greedy {g.served() / self.seconds:,.0f} req/s served, 429 {rate.get(429, 0):,.0f}/s,"
            f" 503 {rate.get(503, 0):,.0f}/s"
        )
        other = sum(n for s, n in g.statuses.items() if s not in (200, 429, 503))
        if other:
            greedy += f", other {other} ({g.first_error})"
        ready = f"/readyz p95 {fmt_ms(pct(self.readyz, 0.95))} max {fmt_ms(max(self.readyz, default=float('nan')))}" + (
            f" ({self.readyz_failures} failed)" if self.readyz_failures else ""
        )
        return (
            f"{self.label}: ordinary users p50 {fmt_ms(pct(o.latencies, 0.5))} p95 {fmt_ms(p95)}{vs},"
            f" {o.served() / self.seconds:,.1f} req/s{err} [{verdict}]; {greedy}; {ready};"
            f" {self.cpu.brief()} (load generator {self.generator:.2f}); {self.machine.brief()}"
        )


async def run_case(
    label: str,
    procs: Processes,
    ordinary_tokens: list[str],
    greedy_tokens: list[str],
    *,
    greedy: int,
    duration: float,
    warmup: float,
    think: float,
    honour_retry_after: bool,
) -> CaseResult:
    ordinary, greedy_tally = Tally(), Tally()
    gateway = procs.gateway
    readyz: list[float] = []
    failures = [0]
    start = time.perf_counter()
    window = Window(start + warmup, start + warmup + duration)
    raws: list[RawClient] = []

    def client() -> Callable[[Request], Awaitable[tuple[int, bytes]]]:
        raw = RawClient(gateway)
        raws.append(raw)
        return raw.send

    tasks = [client_loop(client(), page_request(gateway, t), window, ordinary, think=think) for t in ordinary_tokens]
    if greedy_tokens:
        tasks += [
            client_loop(
                client(),
                page_request(gateway, greedy_tokens[i % len(greedy_tokens)]),
                window,
                greedy_tally,
                honour_retry_after=honour_retry_after,
            )
            for i in range(greedy)
        ]
    tasks.append(probe_loop(f"{gateway}/readyz", window, readyz, failures))
    machine, cpu = MachineLoad(), CpuMeter(procs)
    gen0, t0 = generator_cpu(), time.perf_counter()
    try:
        with machine, cpu:
            await asyncio.gather(*tasks)
    finally:
        for raw in raws:
            await raw.close()
    generator = (generator_cpu() - gen0) / (time.perf_counter() - t0)
    result = CaseResult(label, ordinary, greedy_tally, readyz, failures[0], duration, machine, cpu, generator)
    return result


async def main() -> None:
    ap = base_args(__doc__.split("\n\n")[0])
    ap.set_defaults(duration=20.0)
    ap.add_argument("--greedy", type=int, default=200, help="greedy clients (default 200)")
    ap.add_argument("--greedy-users", type=int, default=50, help="users the greedy clients spread over (case B)")
    ap.add_argument("--think", type=float, default=1.0, help="an ordinary user's pause between pages (s)")
    ap.add_argument("--ignore-retry-after", action="store_true", help="also run hostile greedy clients")
    ap.add_argument("--no-off", action="store_true", help="skip the cases with admission control off")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting of the gateway with limits on, e.g. --set GRAPHQL_USER_CONCURRENCY=4 (repeatable)",
    )
    ap.add_argument("--cases", default="ab", help="a: one greedy user, b: greedy users of one organisation")
    args = ap.parse_args()

    env = await setup(redis=True)
    greedy_subjects = await ensure_greedy_org(env, args.greedy_users)
    await ensure_members(env, env.data["org_id"], ordinary_subjects())
    ordinary_tokens = [env.issuer.mint(s, ttl=6 * 3600) for s in ordinary_subjects()]
    greedy_tokens = [env.issuer.mint(s, ttl=6 * 3600) for s in greedy_subjects]
    procs = Processes("burst-")
    lines: list[str] = [
        f"burst: {args.greedy} greedy clients (another organisation, {GREEDY_ORDERS:,} orders) vs {ORDINARY_USERS}"
        f" ordinary users of the 1M-order organisation, one orders page (50 rows + relations) every"
        f" {args.think * 1000:.0f} ms each; {args.duration:.0f} s measured per case"
    ]
    print(lines[0], flush=True)
    try:
        procs.start_web(names=("orders-api",))
        chosen = dict(item.split("=", 1) for item in args.set)
        on = "on" + (f" ({', '.join(args.set)})" if args.set else "")
        modes: list[tuple[str, dict[str, str]]] = [(on, chosen)] + ([] if args.no_off else [("off", LIMITS_OFF)])
        behaviours = [True] + ([False] if args.ignore_retry_after else [])
        for mode, gateway_env in modes:
            procs.stop("gateway")
            procs.start("gateway", env=gateway_env)
            wait_ready(f"{procs.gateway}/readyz", procs.procs)
            common: dict[str, Any] = {"duration": args.duration, "warmup": args.warmup, "think": args.think}
            alone = await run_case(
                f"limits {mode}, ordinary users alone",
                procs,
                ordinary_tokens,
                [],
                greedy=0,
                honour_retry_after=True,
                **common,
            )
            baseline = pct(alone.ordinary.latencies, 0.95)
            lines.append(alone.line(None))
            print(lines[-1], flush=True)
            for honour in behaviours:
                who = "honouring Retry-After" if honour else "ignoring Retry-After"
                variants = {
                    "a": ("one greedy user", greedy_tokens[:1]),
                    "b": (f"greedy clients over {len(greedy_tokens)} users of one organisation", greedy_tokens),
                }
                for label, tokens in (variants[c] for c in args.cases):
                    say(f"limits {mode}: {label}, {who}")
                    r = await run_case(
                        f"limits {mode}, {label} ({args.greedy} clients, {who})",
                        procs,
                        ordinary_tokens,
                        tokens,
                        greedy=args.greedy,
                        honour_retry_after=honour,
                        **common,
                    )
                    lines.append(r.line(baseline))
                    print(lines[-1], flush=True)
        save_result("burst", lines, {"greedy": args.greedy, "think": args.think})
    finally:
        procs.stop_all()
        env.close()


if __name__ == "__main__":
    use_uvloop()
    asyncio.run(main())
