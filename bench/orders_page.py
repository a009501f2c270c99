"""Figure 1: the orders page (50 rows with customer, integration and category) through the gateway,
at 8 concurrent clients, against the floor of a bare strawberry schema answering the same 50 rows from
memory, served the same way (uvicorn, one worker). Targets: >= 60% of the floor's throughput, p95 <= 2x.

    PYTHONPATH=. uv run python bench/orders_page.py [--duration 10] [--concurrency 8] [--depth 200]
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    OUT,
    LoadResult,
    Processes,
    Request,
    base_args,
    fmt_ms,
    free_port,
    gql,
    run_load,
    save_result,
    say,
    setup,
    use_uvloop,
    uvicorn_cmd,
)

SELECTION = """edges { cursor node { id externalRef status commStatus commission { amount currency } createdAt
      customer { id kind email displayName } integration { id name channel } category { id name } } }
    pageInfo { hasNextPage endCursor }"""
QUERY = f"""query OrdersPage($filter: OrderFilterInput, $first: Int!, $after: String) {{
  orders(filter: $filter, first: $first, after: $after) {{ {SELECTION} }} }}"""
FLOOR_QUERY = f"""query OrdersPage($first: Int!, $after: String) {{
  orders(first: $first, after: $after) {{ {SELECTION} }} }}"""


def line(case: str, r: LoadResult, floor: LoadResult) -> str:
    ratio = r.rps / floor.rps if floor.rps else 0
    p95x = r.p95 / floor.p95 if floor.p95 else 0
    verdict = "ok" if ratio >= 0.6 and 0 < p95x <= 2 else "MISSED"
    err = f", {r.errors} errors: {r.first_error}" if r.errors else ""
    return (
        f"orders page, {case}: {r.rps:,.0f} req/s (floor {floor.rps:,.0f} req/s, {ratio:.0%}),"
        f" p95 {fmt_ms(r.p95)} (floor {fmt_ms(floor.p95)}, {p95x:.1f}x) [{verdict}]{err}"
    )


async def main() -> None:
    ap = base_args(__doc__.split("\n\n")[0])
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--depth", type=int, default=200, help="pages followed before the deep-page case")
    ap.add_argument("--first", type=int, default=50)
    ap.add_argument(
        "--gateway-app",
        default=None,
        help="uvicorn factory of the gateway, e.g. bench.variants:all_fixes (default: the platform's)",
    )
    ap.add_argument("--cases", default="all", help="'all', or comma-separated case numbers 1-7 (1 = page 1)")
    ap.add_argument("--no-floor", action="store_true", help="skip the floor (ratios then read 0%%)")
    args = ap.parse_args()

    env = await setup(redis=True)
    procs = Processes("orders_page-")
    lines: list[str] = []
    try:
        procs.start_web(gateway_app=args.gateway_app)
        if args.gateway_app:
            say(f"gateway variant: {args.gateway_app}")
        token = env.token()
        d = env.data
        integration = next(i for i in d["integrations"] if i["name"] == "Mobile App")
        category = next(c for c in d["categories"] if c["name"] == "Current Accounts")
        filters: list[tuple[str, dict[str, Any] | None]] = [
            ("page 1", None),
            ("filter integration (Mobile App)", {"integrationIds": [str(integration["id"])]}),
            (
                "filter status SUCCESSFUL + commStatus PENDING",
                {"statuses": ["SUCCESSFUL"], "commStatuses": ["PENDING"]},
            ),
            ("filter LAST_7_DAYS", {"range": {"preset": "LAST_7_DAYS"}}),
            ("filter category (Current Accounts)", {"categoryIds": [str(category["id"])]}),
        ]

        import httpx

        async with httpx.AsyncClient(timeout=60) as client:
            first_page = await gql(client, procs.gateway, token, QUERY, {"first": args.first})
            edges = first_page["orders"]["edges"]
            floor_file = OUT / "floor_rows.json"
            floor_file.write_text(json.dumps(edges))

            async def deep_cursor(f: dict[str, Any] | None) -> tuple[str | None, float]:
                after: str | None = None
                started = asyncio.get_running_loop().time()
                for _ in range(args.depth):
                    page = (
                        await gql(
                            client, procs.gateway, token, QUERY, {"filter": f, "first": args.first, "after": after}
                        )
                    )["orders"]
                    after = page["pageInfo"]["endCursor"]
                return after, asyncio.get_running_loop().time() - started

            deep_cases: list[tuple[str, dict[str, Any] | None, str | None]] = []
            wanted = None if args.cases == "all" else {int(c) for c in args.cases.split(",")}
            deep_specs = [
                (label, f)
                for n, (label, f) in enumerate(
                    (("no filter", None), ("status SUCCESSFUL + commStatus PENDING", filters[2][1])), start=6
                )
                if wanted is None or n in wanted
            ]
            for label, f in deep_specs:
                cursor, took = await deep_cursor(f)
                say(f"followed {args.depth} pages ({label}) in {took:.1f}s: {took / args.depth * 1000:.0f} ms a page")
                deep_cases.append((f"page {args.depth + 1} ({label})", f, cursor))

        # The floor: a bare strawberry schema with the same 50 rows, served by uvicorn like the gateway.
        floor_port = free_port()
        procs.start("floor", uvicorn_cmd("bench.floor_app:app", floor_port), env={"BENCH_FLOOR_DATA": str(floor_file)})
        floor_url = f"http://127.0.0.1:{floor_port}"
        await _wait_graphql(floor_url)
        floor_req = Request(
            "POST",
            f"{floor_url}/graphql",
            json.dumps({"query": FLOOR_QUERY, "variables": {"first": args.first}}).encode(),
            {"content-type": "application/json"},
        )
        floor = (
            LoadResult(0, 0, 1, [], 0.0)
            if args.no_floor
            else await run_load(
                lambda i: floor_req,
                concurrency=args.concurrency,
                duration=args.duration,
                warmup=args.warmup,
                client=args.client,
            )
        )
        procs.stop("floor")
        say(f"floor (bare strawberry, same 50 rows from memory): {floor.brief()}")
        lines.append(
            f"orders page, floor (bare strawberry schema, same {args.first} rows from memory, uvicorn 1 worker):"
            f" {floor.rps:,.0f} req/s, p50 {fmt_ms(floor.p50)}, p95 {fmt_ms(floor.p95)}"
        )
        print(lines[-1], flush=True)

        cases = [
            (label, f, None) for n, (label, f) in enumerate(filters, start=1) if wanted is None or n in wanted
        ] + deep_cases
        for label, f, after in cases:
            body = json.dumps(
                {"query": QUERY, "variables": {"filter": f, "first": args.first, "after": after}}
            ).encode()
            req = Request(
                "POST",
                f"{procs.gateway}/graphql",
                body,
                {"content-type": "application/json", "authorization": f"Bearer {token}"},
            )
            r = await run_load(
                lambda i, req=req: req,
                concurrency=args.concurrency,
                duration=args.duration,
                warmup=args.warmup,
                client=args.client,
            )
            say(f"{label}: {r.brief()}")
            lines.append(line(label, r, floor))
            print(lines[-1], flush=True)
        name = "orders_page" + (f"-{args.gateway_app.rsplit(':', 1)[-1]}" if args.gateway_app else "")
        save_result(
            name, lines, {"concurrency": args.concurrency, "client": args.client, "gateway_app": args.gateway_app}
        )
    finally:
        procs.stop_all()
        env.close()


async def _wait_graphql(url: str) -> None:
    import httpx

    for _ in range(150):
        try:
            async with httpx.AsyncClient(timeout=2) as c:
                r = await c.post(f"{url}/graphql", json={"query": "{ __typename }"})
                if r.status_code == 200:
                    return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not start")


if __name__ == "__main__":
    use_uvloop()
    asyncio.run(main())
