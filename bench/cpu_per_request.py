"""CPU per orders page, by process: the floor and any gateway variants, one after the other.

Throughput on a shared 2-core machine is noisy; CPU seconds per request of the gateway, the orders API and
PostgreSQL are not, so this is how bench/variants.py fixes are compared.

    PYTHONPATH=. uv run python bench/cpu_per_request.py floor services.gateway.app:app bench.variants:fast_client
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    OUT,
    Processes,
    Request,
    base_args,
    cpu_seconds,
    free_port,
    process_tree,
    run_load,
    setup,
    use_uvloop,
    uvicorn_cmd,
    wait_ready,
)
from orders_page import FLOOR_QUERY, QUERY, _wait_graphql


def _pg_cpu() -> float:
    try:
        pid = int((OUT / "pg" / "pgdata" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError):
        return 0.0
    return sum(cpu_seconds(p) for p in process_tree(pid))


async def main() -> None:
    ap = base_args(__doc__.split("\n\n")[0])
    ap.add_argument(
        "variants",
        nargs="*",
        default=["floor", "services.gateway.app:app"],
        help="'floor' or a uvicorn factory of the gateway",
    )
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    env = await setup()
    floor_file = OUT / "floor_rows.json"
    try:
        for v in args.variants:
            procs = Processes("cpu-")
            try:
                procs.start("orders-api")
                if v == "floor":
                    if not floor_file.exists():
                        raise SystemExit("run bench/orders_page.py once first (it writes the floor's rows)")
                    port = free_port()
                    procs.start(
                        "gateway", uvicorn_cmd("bench.floor_app:app", port), env={"BENCH_FLOOR_DATA": str(floor_file)}
                    )
                    await _wait_graphql(f"http://127.0.0.1:{port}")
                    req = Request(
                        "POST",
                        f"http://127.0.0.1:{port}/graphql",
                        json.dumps({"query": FLOOR_QUERY, "variables": {"first": 50}}).encode(),
                        {"content-type": "application/json"},
                    )
                else:
                    cmd = procs.command("gateway")
                    cmd[cmd.index("services.gateway.app:app")] = v
                    procs.start("gateway", cmd)
                    wait_ready(f"{procs.api}/readyz", procs.procs)
                    wait_ready(f"{procs.gateway}/readyz", procs.procs)
                    req = Request(
                        "POST",
                        f"{procs.gateway}/graphql",
                        json.dumps({"query": QUERY, "variables": {"first": 50}}).encode(),
                        {"content-type": "application/json", "authorization": f"Bearer {env.token()}"},
                    )

                def snap(procs: Processes = procs) -> dict[str, float]:
                    return {
                        "gateway": cpu_seconds(procs.pid("gateway")),
                        "orders API": cpu_seconds(procs.pid("orders-api")),
                        "postgres": _pg_cpu(),
                    }

                await run_load(
                    lambda i, req=req: req, concurrency=args.concurrency, duration=args.warmup, client=args.client
                )
                a = snap()
                r = await run_load(
                    lambda i, req=req: req, concurrency=args.concurrency, duration=args.duration, client=args.client
                )
                b = snap()
                n = max(r.requests, 1)
                print(
                    f"{v}: {r.rps:,.0f} req/s, p95 {r.p95 * 1000:.0f} ms; CPU per page: "
                    + ", ".join(f"{k} {(b[k] - a[k]) / n * 1000:.2f} ms" for k in a),
                    flush=True,
                )
            finally:
                procs.stop_all()
            await asyncio.sleep(0.5)
    finally:
        env.close()


if __name__ == "__main__":
    use_uvloop()
    asyncio.run(main())
