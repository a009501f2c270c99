"""Shared plumbing of the benchmarks: servers, the 1M-order data set, real processes, load, memory.

Benchmarks print figures; they never assert on timing and always exit 0 when they ran.

- Servers: embedded PostgreSQL (data kept in bench/out/pg, so the data set is loaded once) and a
  throw-away embedded Redis, unless DATABASE_URL / REDIS_URL are set (then the bench databases get
  DB_PREFIX=bench_ so they never touch a development platform's).
- Data: one organisation (demo.orders) with BENCH_ORDERS orders and BENCH_CUSTOMERS customers
  (default 1,000,000 and 200,000), no demo ledger, loaded on the first run and reused afterwards
  (checked by row counts), then VACUUM ANALYZE (the steady state autovacuum would reach).
- Processes: the commands of infra/run.py (gateway, orders API, worker, relay) with the same
  environment, on free ports, logs in bench/out/logs/.
- Load: a small async closed-loop generator (N clients, fixed duration) returning req/s and latency
  percentiles. Two clients: `raw` (default), a minimal HTTP/1.1 keep-alive client costing ~0.05 ms of
  CPU per request, and `httpx` (`--client httpx`), which costs ~1 ms per request here: on this 2-core
  machine that would take ~20% of a core from the server under test at 200 req/s, and more from the
  faster floor than from the gateway (see README).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
LOGS = OUT / "logs"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from infra.embedded import EmbeddedPostgres, EmbeddedRedis  # noqa: E402  (needs the repository root on sys.path)
from infra.embedded import free_port as _free_port  # noqa: E402  (likewise)
from shared.secrets import secret_box  # noqa: E402  (likewise)

_given_ports: set[int] = set()


def free_port() -> int:
    """A free port not handed out before by this process (the OS may offer the same one twice)."""
    for _ in range(100):
        port = _free_port()
        if port not in _given_ports:
            _given_ports.add(port)
            return port
    raise RuntimeError("no free port")


N_ORDERS = int(os.environ.get("BENCH_ORDERS", "1000000"))
N_CUSTOMERS = int(os.environ.get("BENCH_CUSTOMERS", "200000"))
AUDIENCE = "partner-platform"


def say(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def fmt_ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"


def base_args(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--duration",
        type=float,
        default=float(os.environ.get("BENCH_DURATION", "10")),
        help="seconds of load per case (default 10)",
    )
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of unmeasured load before each case")
    p.add_argument(
        "--client",
        choices=("httpx", "raw"),
        default=os.environ.get("BENCH_CLIENT", "raw"),
        help="load generator's HTTP client",
    )
    return p


# --- servers and data -------------------------------------------------------------------------


@dataclass
class Env:
    """Servers, settings and data set; `os.environ` carries the platform's variables afterwards."""

    pg: EmbeddedPostgres | None
    redis: EmbeddedRedis | None
    issuer: Any
    issuer_server: Any
    data: dict[str, Any]
    settings: Any

    def token(self, ttl: int = 6 * 3600) -> str:
        from demo.orders import DEMO_ADMIN_EMAIL, DEMO_ADMIN_SUBJECT

        return self.issuer.mint(DEMO_ADMIN_SUBJECT, email=DEMO_ADMIN_EMAIL, ttl=ttl)

    def owner_dsn(self) -> str:
        return self.settings.service_database_url("orders", "owner")

    def app_dsn(self) -> str:
        return self.settings.service_database_url("orders")

    def close(self) -> None:
        if self.issuer_server is not None:
            self.issuer_server.shutdown()
        if self.redis is not None:
            self.redis.stop()
        if self.pg is not None:
            self.pg.stop()


def _running_pg_port(pgdata: Path) -> int | None:
    """Port of a server still running on this data folder (a previous run that was killed)."""
    pidfile = pgdata / "postmaster.pid"
    try:
        lines = pidfile.read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
        os.kill(pid, 0)
        return port
    except (OSError, ValueError, IndexError):
        return None


class _QuietRedis(EmbeddedRedis):
    """EmbeddedRedis whose server does not inherit our stdout (a pipe would never see EOF)."""

    def start(self, persistent: bool = False) -> EmbeddedRedis:
        from infra.embedded import _redis_server, _wait_port

        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.data_dir / "redis.log"
        args = [
            str(_redis_server()),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--logfile",
            str(log),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "no",
        ]
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        _wait_port(self.port, 30, "Redis", log)
        return self


async def setup(*, redis: bool = True) -> Env:
    """Start (or reach) the servers, bootstrap the databases, make sure the data set is loaded."""
    OUT.mkdir(parents=True, exist_ok=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    pg = rd = None
    if not os.environ.get("DATABASE_URL"):
        data_dir = OUT / "pg"
        port = _running_pg_port(data_dir / "pgdata")
        if port is None:
            os.environ.setdefault("PG_FSYNC", "off")  # a benchmark's data set, rebuilt if ever lost
            say(f"starting embedded PostgreSQL in {data_dir}")
            pg = EmbeddedPostgres(data_dir, free_port()).start()
        else:
            say(f"reusing the PostgreSQL already running on {data_dir} (port {port})")
            pg = EmbeddedPostgres(data_dir, port)
        os.environ["DATABASE_URL"] = pg.url
    else:
        os.environ.setdefault("DB_PREFIX", "bench_")
    if redis and not os.environ.get("REDIS_URL"):
        rd = _QuietRedis(OUT / "redis", free_port()).start(persistent=False)
        os.environ["REDIS_URL"] = rd.url

    from infra.dev_issuer import DevIssuer

    jwks_port = free_port()
    issuer_url = f"http://127.0.0.1:{jwks_port}/"
    issuer = DevIssuer.load_or_create(OUT / "dev-issuer", issuer_url, AUDIENCE)
    server = issuer.serve(port=jwks_port)
    os.environ.update(
        {"OIDC_ISSUER": issuer_url, "OIDC_AUDIENCE": AUDIENCE, "OIDC_JWKS_URL": f"{issuer_url}.well-known/jwks.json"}
    )
    from shared.bootstrap import bootstrap
    from shared.config import SERVICES, Settings

    settings = Settings()
    await bootstrap(settings, SERVICES)
    data = await ensure_dataset(settings)
    return Env(pg, rd, issuer, server, data, settings)


async def ensure_dataset(settings: Any) -> dict[str, Any]:
    import asyncpg

    import demo.orders as demo

    owner = settings.service_database_url("orders", "owner")
    org_id = demo.DEMO_ORG_ID
    conn = await asyncpg.connect(owner)
    try:
        exists = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM organisations WHERE id = $1)", org_id)
        if exists:
            n_orders = await conn.fetchval("SELECT count(*) FROM orders WHERE org_id = $1", org_id)
            n_customers = await conn.fetchval("SELECT count(*) FROM customers WHERE org_id = $1", org_id)
            if (n_orders, n_customers) != (N_ORDERS, N_CUSTOMERS):
                raise SystemExit(
                    f"the bench organisation holds {n_orders} orders / {n_customers} customers, not "
                    f"{N_ORDERS} / {N_CUSTOMERS}: remove {OUT / 'pg'} (or the bench_ databases) to reload"
                )
            say(f"data set present: {n_orders:,} orders, {n_customers:,} customers")
        else:
            say(f"loading the data set: {N_ORDERS:,} orders, {N_CUSTOMERS:,} customers (first run only)")
            began = time.monotonic()
            wanted: dict[str, Any] = {
                "customers": N_CUSTOMERS,
                "orders": N_ORDERS,
                "ledger": False,
                "progress": lambda m: say(f"  [{time.monotonic() - began:6.1f}s] {m}"),
            }
            params = inspect.signature(demo.load_demo).parameters
            await demo.load_demo(owner, **{k: v for k, v in wanted.items() if k in params})
            say("VACUUM ANALYZE (what autovacuum would do after the bulk load)")
            for table in ("orders", "customers", "customer_visits", "order_rollups_daily"):
                await conn.execute(f"VACUUM ANALYZE {table}")
            say(f"data set loaded in {time.monotonic() - began:.0f}s")
        info: dict[str, Any] = {"org_id": org_id}
        info["providers"] = [
            {**dict(r), "webhook_secret": secret_box().reveal(r["webhook_secret"], "provider secret")}
            for r in await conn.fetch(
                "SELECT id, public_id, name, webhook_secret FROM providers WHERE org_id = $1 ORDER BY name", org_id
            )
        ]
        info["integrations"] = [
            dict(r)
            for r in await conn.fetch("SELECT id, name FROM integrations WHERE org_id = $1 ORDER BY name", org_id)
        ]
        info["categories"] = [
            dict(r) for r in await conn.fetch("SELECT id, name FROM categories WHERE org_id = $1 ORDER BY name", org_id)
        ]
        info["time_zone"] = await conn.fetchval("SELECT time_zone FROM organisations WHERE id = $1", org_id)
        return info
    finally:
        await conn.close()


# --- processes --------------------------------------------------------------------------------


class Processes:
    """The platform's processes, started with infra/run.py's commands and environment."""

    def __init__(self, tag: str = "") -> None:
        self.gateway_port, self.api_port = free_port(), free_port()
        self.tag = tag
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "GATEWAY_PORT": str(self.gateway_port),
            "ORDERS_API_PORT": str(self.api_port),
            "ORDERS_API_URL": f"http://127.0.0.1:{self.api_port}",
            "GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{self.gateway_port}",
        }
        self.env.setdefault("dramatiq_worker_timeout", "100")  # what infra/run.py sets
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def command(self, name: str) -> list[str]:
        saved = {k: os.environ.get(k) for k in ("GATEWAY_PORT", "ORDERS_API_PORT")}
        os.environ.update(GATEWAY_PORT=str(self.gateway_port), ORDERS_API_PORT=str(self.api_port))
        try:
            from infra.run import processes

            return processes(sys.executable)[name]
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def start(
        self, name: str, cmd: list[str] | None = None, env: dict[str, str] | None = None, label: str | None = None
    ) -> subprocess.Popen[bytes]:
        label = label or name
        with open(LOGS / f"{self.tag}{label}.log", "ab") as log:  # the child keeps its own copy of the descriptor
            p = subprocess.Popen(
                cmd or self.command(name),
                cwd=ROOT,
                env={**self.env, **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.procs[label] = p
        return p

    def start_web(self, names: Sequence[str] = ("orders-api", "gateway"), gateway_app: str | None = None) -> None:
        for n in names:
            cmd = self.command(n)
            if n == "gateway" and gateway_app:
                cmd[cmd.index("services.gateway.app:app")] = gateway_app  # a bench/variants.py A/B variant
            self.start(n, cmd)
        if "orders-api" in names:
            wait_ready(f"{self.api}/readyz", self.procs)
        if "gateway" in names:
            wait_ready(f"{self.gateway}/readyz", self.procs)

    def pid(self, label: str) -> int:
        return self.procs[label].pid

    def stop(self, label: str, sig: int = signal.SIGTERM) -> None:
        p = self.procs.pop(label, None)
        if p is None:
            return
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            except ProcessLookupError:
                pass

    def stop_all(self) -> None:
        for label in list(self.procs):
            self.stop(label)


def wait_ready(url: str, procs: dict[str, subprocess.Popen[bytes]] | None = None, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, p in (procs or {}).items():
            if p.poll() is not None:
                raise RuntimeError(f"{name} exited with code {p.returncode}; see {LOGS}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout:.0f}s; see {LOGS}")


def uvicorn_cmd(app: str, port: int) -> list[str]:
    """A bench ASGI app served like the platform's (uvicorn, one worker, no access log)."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
    ]


# --- GraphQL helpers --------------------------------------------------------------------------


async def gql(client: Any, url: str, token: str, query: str, variables: dict[str, Any] | None = None) -> Any:
    r = await client.post(
        f"{url}/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"authorization": f"Bearer {token}"},
    )
    if r.status_code != 200:
        raise RuntimeError(f"GraphQL HTTP {r.status_code}: {r.text[:500]}")
    body = r.json()
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {body['errors']}")
    return body["data"]


# --- load generator ---------------------------------------------------------------------------


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies: list[float]
    client_cpu: float  # share of one core the generator itself used
    first_error: str | None = None
    machine: MachineLoad | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        s = sorted(self.latencies)
        return s[min(len(s) - 1, int(q * len(s)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) if self.latencies else float("nan")

    @property
    def p95(self) -> float:
        return self.pct(0.95)

    @property
    def p99(self) -> float:
        return self.pct(0.99)

    def brief(self) -> str:
        err = f", {self.errors} errors ({self.first_error})" if self.errors else ""
        m = f", {self.machine.brief()}" if self.machine else ""
        return (
            f"{self.rps:,.0f} req/s, p50 {fmt_ms(self.p50)}, p95 {fmt_ms(self.p95)}, p99 {fmt_ms(self.p99)}"
            f" [{self.requests} reqs, generator CPU {self.client_cpu:.0%}{m}{err}]"
        )


@dataclass
class Request:
    method: str
    url: str  # absolute
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class RawClient:
    """Minimal HTTP/1.1 keep-alive client (one connection): Content-Length or chunked bodies."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self._encoded: dict[int, bytes] = {}

    def encode(self, req: Request) -> bytes:
        key = id(req)
        raw = self._encoded.get(key)
        if raw is None:
            path = urlsplit(req.url)
            target = path.path + (f"?{path.query}" if path.query else "")
            lines = [
                f"{req.method} {target} HTTP/1.1",
                f"host: {self.host}:{self.port}",
                f"content-length: {len(req.body)}",
            ]
            lines += [f"{k}: {v}" for k, v in req.headers.items()]
            raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + req.body
            self._encoded[key] = raw
        return raw

    async def send(self, req: Request) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(self.encode(req))
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, chunked = None, False
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            k = k.strip().lower()
            if k == b"content-length":
                length = int(v)
            elif k == b"transfer-encoding" and b"chunked" in v.lower():
                chunked = True
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                parts.append(chunk[:-2])
            body = b"".join(parts)
        else:
            body = await self.reader.readexactly(length or 0)
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def run_load(
    requests: Callable[[int], Request],
    *,
    concurrency: int,
    duration: float,
    warmup: float = 0.0,
    client: str = "httpx",
    check: Callable[[int, bytes], str | None] | None = None,
    timeout: float = 60.0,
) -> LoadResult:
    """Closed loop: `concurrency` clients each send the next request as soon as the last answered.

    `requests(i)` gives the i-th request (pre-build them: the generator shares the machine).
    `check(status, body)` returns an error text or None; the default wants HTTP 200 and no GraphQL errors.
    """
    import httpx

    check = check or _default_check
    latencies: list[float] = []
    errors = [0]
    first_error: list[str | None] = [None]
    counter = [0]
    measuring = [False]
    stop_at = [0.0]

    async def one_client(send: Callable[[Request], Awaitable[tuple[int, bytes]]]) -> None:
        while True:
            now = time.perf_counter()
            if now >= stop_at[0]:
                return
            i = counter[0]
            counter[0] += 1
            req = requests(i)
            t0 = time.perf_counter()
            try:
                status, body = await send(req)
                problem = check(status, body)
            except Exception as exc:
                problem = f"{type(exc).__name__}: {exc}"[:200]
            t1 = time.perf_counter()
            if measuring[0] and t0 >= measure_from[0] and t1 <= stop_at[0]:
                latencies.append(t1 - t0)
                if problem:
                    errors[0] += 1
                    first_error[0] = first_error[0] or problem
            elif measuring[0] and t0 >= measure_from[0] and problem:
                errors[0] += 1

    measure_from = [0.0]
    if client == "raw":
        raws = [RawClient(requests(0).url) for _ in range(concurrency)]
        senders = [r.send for r in raws]
        closers = [r.close for r in raws]
    else:
        hc = httpx.AsyncClient(
            timeout=timeout, limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        )

        async def hsend(req: Request) -> tuple[int, bytes]:
            r = await hc.request(req.method, req.url, content=req.body or None, headers=req.headers)
            return r.status_code, r.content

        senders = [hsend] * concurrency
        closers = [hc.aclose]
    try:
        start = time.perf_counter()
        measure_from[0] = start + warmup
        stop_at[0] = measure_from[0] + duration
        measuring[0] = True
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        machine = MachineLoad()
        with machine:
            await asyncio.gather(*(one_client(s) for s in senders))
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        elapsed_total = time.perf_counter() - start
    finally:
        for c in closers:
            await c()
    cpu = (cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime) / max(elapsed_total, 1e-9)
    return LoadResult(len(latencies), errors[0], duration, latencies, cpu, first_error[0], machine)


def _default_check(status: int, body: bytes) -> str | None:
    if status != 200:
        return f"HTTP {status}: {body[:200]!r}"
    if b'"errors"' in body[:20] or b'"errors":' in body:
        return f"GraphQL errors: {body[:300]!r}"
    return None


async def sequential_latencies(
    send: Callable[[], Awaitable[Any]], *, n: int | None = None, duration: float | None = None, warmup: int = 2
) -> list[float]:
    """One client, back to back: latency of each call (for things measured one at a time)."""
    for _ in range(warmup):
        await send()
    out: list[float] = []
    deadline = time.perf_counter() + (duration or 1e9)
    while (n is None or len(out) < n) and time.perf_counter() < deadline:
        t0 = time.perf_counter()
        await send()
        out.append(time.perf_counter() - t0)
    return out


def pct(values: Sequence[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


# --- memory -----------------------------------------------------------------------------------


def _status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def process_tree(pid: int) -> list[int]:
    try:
        import psutil

        p = psutil.Process(pid)
        return [pid, *[c.pid for c in p.children(recursive=True)]]
    except Exception:
        return [pid]


class RssSampler:
    """Samples VmRSS of some processes every `interval` seconds in a thread; reports peaks in MB."""

    def __init__(self, pids: dict[str, int], interval: float = 0.02) -> None:
        self.pids, self.interval = pids, interval
        self.peak = {k: 0 for k in pids}
        self.start_rss = {k: _status_kb(p, "VmRSS") for k, p in pids.items()}
        self.start_hwm = {k: _status_kb(p, "VmHWM") for k, p in pids.items()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for k, p in self.pids.items():
                v = _status_kb(p, "VmRSS")
                if v > self.peak[k]:
                    self.peak[k] = v
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.end_hwm = {k: _status_kb(p, "VmHWM") for k, p in self.pids.items()}

    def report(self, name: str) -> str:
        mb = 1024
        peak = max(self.peak[name], self.end_hwm.get(name, 0))
        return (
            f"peak RSS {peak / mb:.0f} MB (before {self.start_rss[name] / mb:.0f} MB,"
            f" +{(peak - self.start_rss[name]) / mb:.0f} MB)"
        )

    def peak_mb(self, name: str) -> float:
        return max(self.peak[name], self.end_hwm.get(name, 0)) / 1024


def cpu_seconds(pid: int) -> float:
    """User+system CPU seconds of a process (for 'where did the time go' lines)."""
    try:
        import psutil

        t = psutil.Process(pid).cpu_times()
        return t.user + t.system
    except Exception:
        return 0.0


def named_cpu_seconds(name: str) -> float:
    """User+system CPU seconds of every process named `name` (PostgreSQL's backends come and go)."""
    try:
        import psutil
    except ImportError:
        return 0.0
    total = 0.0
    for proc in psutil.process_iter(["name", "cpu_times"]):
        if proc.info["name"] == name and proc.info["cpu_times"] is not None:
            total += proc.info["cpu_times"].user + proc.info["cpu_times"].system
    return total


class MachineLoad:
    """CPU used during a window by the whole machine, and by processes that are not this benchmark's
    (other people's jobs share the 2 cores; a figure measured beside them is printed with that share)."""

    def __init__(self) -> None:
        self.ours: set[int] = set()

    @staticmethod
    def _stat() -> tuple[float, float]:
        with open("/proc/stat") as fh:
            v = [float(x) for x in fh.readline().split()[1:]]
        idle = v[3] + v[4]
        return sum(v) - idle, sum(v)

    def _our_roots(self) -> list[int]:
        roots = [os.getpid()]
        env_pg = os.environ.get("DATABASE_URL", "")
        pid_file = OUT / "pg" / "pgdata" / "postmaster.pid"
        if "127.0.0.1" in env_pg and pid_file.exists():
            with contextlib.suppress(OSError, ValueError, IndexError):  # PostgreSQL stopped or restarting
                roots.append(int(pid_file.read_text().split()[0]))
        return roots

    def _times(self) -> dict[int, float]:
        import psutil

        ours: set[int] = set()
        for r in self._our_roots():
            with contextlib.suppress(Exception):  # the process ended meanwhile: nothing of it to count
                ours.update(process_tree(r))
        self.ours |= ours
        out = {}
        for p in psutil.process_iter(["cpu_times"]):
            t = p.info["cpu_times"]
            if t is not None:
                out[p.pid] = t.user + t.system
        return out

    def __enter__(self) -> MachineLoad:
        self.t0 = time.perf_counter()
        self.stat0 = self._stat()
        self.times0 = self._times()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.times1 = self._times()
        self.stat1 = self._stat()
        self.seconds = time.perf_counter() - self.t0
        busy = self.stat1[0] - self.stat0[0]
        total = self.stat1[1] - self.stat0[1]
        self.busy = busy / total if total else 0.0  # share of all cores
        foreign = sum(t - self.times0.get(pid, t) for pid, t in self.times1.items() if pid not in self.ours)
        self.foreign_cores = foreign / self.seconds if self.seconds else 0.0

    def brief(self) -> str:
        return f"machine {self.busy:.0%} busy, other jobs {self.foreign_cores:.2f} cores"


def use_uvloop() -> None:
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass


def save_result(name: str, lines: list[str], extra: dict[str, Any] | None = None) -> None:
    """Keeps the printed lines of the last run in bench/out/results/<name>.json."""
    d = OUT / "results"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.json").write_text(
        json.dumps({"at": time.strftime("%Y-%m-%d %H:%M:%S"), "lines": lines, **(extra or {})}, indent=2, default=str)
    )
