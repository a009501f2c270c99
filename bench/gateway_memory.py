"""The gateway's memory under slow and oversized clients: peak RSS at rest, while 300 MiB webhook bodies stream
in, and while 20,000 idle connections are open, with /healthz probed throughout.

    PYTHONPATH=. uv run python bench/gateway_memory.py [--bodies 3] [--body-mib 300] [--idle 20000]
        [--hold 12] [--plain-uvicorn]

The gateway runs as `./platform up` runs it (infra/processes.py: `python -m shared.service.serve`, so with every
limit of shared/service/server.py at its default), against a throw-away embedded Redis and the development
issuer; no orders API or PostgreSQL: none of these requests reaches them (a webhook's declared 300 MiB body is
refused before its provider is looked up; /healthz answers from the process). `--plain-uvicorn` runs it under
`uvicorn --factory` instead, as before the limits, for comparison.

- bodies: N clients at once each send `POST /webhooks/providers/<made-up id>/commission` with Content-Length
  300 MiB and stream the body in 1 MiB writes until it is sent or the gateway closes the connection.
- idle: the client raises its open-files limit to the hard one and opens up to `--idle` connections (fewer
  if that limit does not allow them: the figure printed is what was opened), sends nothing, and holds them
  `--hold` seconds after the last one opened (past the 10 s header deadline); printed: how many the gateway
  closed, how fast, and its peak of open descriptors.

Peak RSS is the highest VmRSS sampled every 20 ms during the phase (and the process's VmHWM). /healthz is asked
every 200 ms on a fresh connection, 2 s timeout. Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    OUT,
    ROOT,
    Processes,
    _QuietRedis,
    _status_kb,
    cpu_seconds,
    free_port,
    save_result,
    say,
    use_uvloop,
)

HOST = "127.0.0.1"
MIB = 1024 * 1024
CLIENT_RESERVED_FILES = 200  # the probe's connections, the interpreter's own files


# --- what the gateway process does --------------------------------------------------------------


class Sampler:
    """VmRSS and open descriptors of one process every 20 ms, in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_rss_kb = 0
        self.peak_fds = 0
        self.start_rss_kb = _status_kb(pid, "VmRSS")
        self.cpu_before = cpu_seconds(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_rss_kb = max(self.peak_rss_kb, _status_kb(self.pid, "VmRSS"))
            with contextlib.suppress(OSError):
                self.peak_fds = max(self.peak_fds, len(os.listdir(f"/proc/{self.pid}/fd")))
            self._stop.wait(0.02)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.cpu = cpu_seconds(self.pid) - self.cpu_before
        self.hwm_kb = _status_kb(self.pid, "VmHWM")

    def brief(self) -> str:
        return (
            f"peak RSS {self.peak_rss_kb / 1024:.0f} MB (VmHWM so far {self.hwm_kb / 1024:.0f} MB, at start of "
            f"phase {self.start_rss_kb / 1024:.0f} MB), peak open descriptors {self.peak_fds}, "
            f"CPU {self.cpu:.1f} s"
        )


@dataclass
class Probe:
    """/healthz every 200 ms on a fresh connection while a phase runs."""

    port: int
    answers: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            began = time.monotonic()
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, self.port), 2)
                try:
                    writer.write(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                    line = await asyncio.wait_for(reader.readline(), 2)
                finally:
                    writer.close()
                if b" 200 " in line:
                    self.answers.append(time.monotonic() - began)
                else:
                    self.failures.append(line.decode(errors="replace").strip() or "closed")
            except (OSError, TimeoutError) as exc:
                self.failures.append(type(exc).__name__)
            with_rest = max(0.0, 0.2 - (time.monotonic() - began))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), with_rest)

    def brief(self) -> str:
        if not self.answers:
            return f"/healthz never answered ({len(self.failures)} failures: {sorted(set(self.failures))})"
        worst = max(self.answers) * 1000
        text = f"/healthz answered {len(self.answers)}/{len(self.answers) + len(self.failures)}, slowest {worst:.0f} ms"
        if self.failures:
            text += f" (failures: {sorted(set(self.failures))})"
        return text


# --- clients ------------------------------------------------------------------------------------


async def big_body(port: int, size: int, n: int) -> dict[str, Any]:
    """One client sending a webhook whose declared and actual body is `size` bytes."""
    began = time.monotonic()
    reader, writer = await asyncio.open_connection(HOST, port)
    head = (
        f"POST /webhooks/providers/prv_bench_made_up_{n}/commission HTTP/1.1\r\nHost: bench\r\n"
        f"Content-Type: application/json\r\nContent-Length: {size}\r\nwebhook-id: msg_bench_{n}\r\n"
        f"webhook-timestamp: {int(time.time())}\r\nwebhook-signature: v1,bm90IGEgc2lnbmF0dXJl\r\n\r\n"
    ).encode()
    writer.write(head)
    status_line = asyncio.create_task(reader.readline())
    chunk = bytes(MIB)
    sent = 0
    outcome = "sent in full"
    try:
        while sent < size:
            piece = chunk[: min(MIB, size - sent)]
            writer.write(piece)
            await writer.drain()
            sent += len(piece)
    except ConnectionError as exc:
        outcome = f"connection closed by the gateway ({type(exc).__name__})"
    try:
        status = (await asyncio.wait_for(status_line, 5)).decode(errors="replace").strip() or "no answer"
    except (TimeoutError, ConnectionError) as exc:
        status = f"no answer ({type(exc).__name__})"
    writer.close()
    return {"sent_mib": sent / MIB, "outcome": outcome, "status": status, "seconds": time.monotonic() - began}


async def idle_connections(port: int, wanted: int, hold: float) -> dict[str, Any]:
    """Opens up to `wanted` connections that never send, holds them `hold` seconds, watches them close."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    allowed = min(wanted, target - CLIENT_RESERVED_FILES)
    if allowed < wanted:
        say(f"the client's open-files limit ({target}) allows {allowed} of the {wanted} connections")

    opened: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    errors: dict[str, int] = {}
    gate = asyncio.Semaphore(256)

    async def connect() -> None:
        async with gate:
            try:
                opened.append(await asyncio.wait_for(asyncio.open_connection(HOST, port), 10))
            except (OSError, TimeoutError) as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1

    began = time.monotonic()
    await asyncio.gather(*(connect() for _ in range(allowed)))
    open_seconds = time.monotonic() - began
    closed_after: list[float] = []

    async def watch(reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(ConnectionError):
            await reader.read()
        closed_after.append(time.monotonic() - began)

    watchers = [asyncio.create_task(watch(reader)) for reader, _ in opened]
    await asyncio.sleep(hold)
    for task in watchers:
        task.cancel()
    for _, writer in opened:
        writer.close()
    closed_after.sort()
    return {
        "wanted": wanted,
        "opened": len(opened),
        "open_seconds": open_seconds,
        "errors": errors,
        "closed": len(closed_after),
        "closed_within_1s": sum(1 for t in closed_after if t <= open_seconds + 1),
        "last_closed_at": closed_after[-1] if closed_after else None,
        "still_open": len(opened) - len(closed_after),
    }


# --- the run ------------------------------------------------------------------------------------


async def phase(name: str, pid: int, port: int, work: Any) -> tuple[Sampler, Probe, Any]:
    say(f"phase: {name}")
    probe = Probe(port)
    stop = asyncio.Event()
    with Sampler(pid) as sampler:
        probing = asyncio.create_task(probe.run(stop))
        result = await work
        stop.set()
        await probing
    return sampler, probe, result


async def run(args: argparse.Namespace) -> list[str]:
    OUT.mkdir(parents=True, exist_ok=True)
    redis = _QuietRedis(OUT / "redis-memory", free_port()).start(persistent=False)
    os.environ["REDIS_URL"] = redis.url
    from infra.dev_issuer import DevIssuer

    issuer_port = free_port()
    issuer_url = f"http://127.0.0.1:{issuer_port}/"
    issuer = DevIssuer.load_or_create(OUT / "dev-issuer", issuer_url, "partner-platform")
    issuer_server = issuer.serve(port=issuer_port)
    os.environ.update({"OIDC_ISSUER": issuer_url, "OIDC_JWKS_URL": f"{issuer_url}.well-known/jwks.json"})
    procs = Processes("memory-")
    lines: list[str] = []
    try:
        cmd = procs.command("gateway")
        how = "python -m shared.service.serve (the platform's limits)"
        if args.plain_uvicorn:
            target = cmd.index("services.gateway.app:app")
            cmd = [sys.executable, "-m", "uvicorn", "--factory", *cmd[target:]]
            how = "uvicorn --factory (no limits: before)"
        gateway = procs.start("gateway", cmd)
        deadline = time.monotonic() + 60
        while True:
            try:
                reader, writer = await asyncio.open_connection(HOST, procs.gateway_port)
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                if b" 200 " in await reader.readline():
                    writer.close()
                    break
                writer.close()
            except OSError:
                pass
            if gateway.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the gateway did not start; see {OUT / 'logs'}")
            await asyncio.sleep(0.2)
        pid = gateway.pid
        lines.append(f"gateway under {how}, pid {pid}")

        rest, rest_probe, _ = await phase("rest", pid, procs.gateway_port, asyncio.sleep(3))
        lines.append(f"at rest (3 s): {rest.brief()}; {rest_probe.brief()}")

        size = args.body_mib * MIB
        bodies, body_probe, sent = await phase(
            "bodies",
            pid,
            procs.gateway_port,
            asyncio.gather(*(big_body(procs.gateway_port, size, n) for n in range(args.bodies))),
        )
        lines.append(
            f"{args.bodies} x {args.body_mib} MiB webhook bodies at once: {bodies.brief()}; {body_probe.brief()}"
        )
        for n, one in enumerate(sent):
            lines.append(
                f"  body {n + 1}: {one['sent_mib']:.0f} MiB sent in {one['seconds']:.1f} s, {one['outcome']}; "
                f"answer: {one['status']}"
            )

        idle, idle_probe, held = await phase(
            "idle", pid, procs.gateway_port, idle_connections(procs.gateway_port, args.idle, args.hold)
        )
        lines.append(
            f"{held['opened']:,} idle connections opened (of {held['wanted']:,} wanted) in "
            f"{held['open_seconds']:.1f} s, held {args.hold:.0f} s more: {idle.brief()}; {idle_probe.brief()}"
        )
        last = held["last_closed_at"]
        lines.append(
            f"  closed by the gateway: {held['closed']:,} ({held['closed_within_1s']:,} within 1 s of the last "
            f"connect; the last at {last if last is None else round(last, 1)} s); still open at the end: "
            f"{held['still_open']:,}; connect errors: {held['errors'] or 'none'}"
        )
        alive = gateway.poll() is None
        lines.append(f"gateway still running at the end: {alive}; VmHWM (lifetime peak) {idle.hwm_kb / 1024:.0f} MB")
    finally:
        procs.stop_all()
        issuer_server.shutdown()
        redis.stop()
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bodies", type=int, default=3, help="webhook bodies sent at once")
    ap.add_argument("--body-mib", type=int, default=300, help="declared and sent size of each body, MiB")
    ap.add_argument("--idle", type=int, default=20_000, help="idle connections to open")
    ap.add_argument("--hold", type=float, default=12.0, help="seconds the idle connections are held once opened")
    ap.add_argument("--plain-uvicorn", action="store_true", help="run the gateway under bare uvicorn (before)")
    args = ap.parse_args()
    use_uvloop()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    lines = asyncio.run(run(args))
    for line in lines:
        print(line)
    save_result("gateway_memory" + ("_plain_uvicorn" if args.plain_uvicorn else ""), lines)


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
