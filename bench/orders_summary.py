"""Figure 2: ordersSummary latency through the gateway for several filters (target < 100 ms),
beside a direct SQL aggregate over the orders table with the same WHERE (the "scan" baseline).

    PYTHONPATH=. uv run python bench/orders_summary.py [--requests 40] [--scans 5]

Latency is measured one request at a time (one client), after two unmeasured requests per filter.
Filters the daily rollup can answer are read from it; `search` and `customerId` need rows and fall
back to the orders table (services/orders/repository/orders.py: summary).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    MachineLoad,
    Processes,
    base_args,
    fmt_ms,
    gql,
    pct,
    save_result,
    say,
    sequential_latencies,
    setup,
    use_uvloop,
)

SUMMARY = """query Summary($filter: OrderFilterInput) { ordersSummary(filter: $filter) {
  totalOrders successfulOrders pendingOrders failedOrders
  commissionPending { amount currency } commissionPaid { amount currency } } }"""


async def main() -> None:
    ap = base_args(__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=40, help="measured requests per filter through the gateway")
    ap.add_argument("--scans", type=int, default=5, help="measured direct SQL aggregates per filter")
    args = ap.parse_args()

    env = await setup(redis=True)
    procs = Processes("orders_summary-")
    lines: list[str] = []
    try:
        procs.start_web()
        token = env.token()
        d = env.data
        import asyncpg

        owner = await asyncpg.connect(env.owner_dsn())
        top_customer = await owner.fetchval(
            "SELECT customer_id FROM orders WHERE org_id = $1 GROUP BY 1 ORDER BY count(*) DESC LIMIT 1", d["org_id"]
        )
        await owner.close()
        today = dt.datetime.now(ZoneInfo(d["time_zone"])).date()
        mobile = next(i for i in d["integrations"] if i["name"] == "Mobile App")
        cards = next(c for c in d["categories"] if c["name"] == "Credit Cards")
        filters: list[tuple[str, dict[str, Any] | None]] = [
            ("no filter", None),
            ("LAST_30_DAYS", {"range": {"preset": "LAST_30_DAYS"}}),
            ("category Credit Cards", {"categoryIds": [str(cards["id"])]}),
            ("statuses SUCCESSFUL + commStatus PENDING", {"statuses": ["SUCCESSFUL"], "commStatuses": ["PENDING"]}),
            (
                "integration Mobile App + 14 days",
                {
                    "integrationIds": [str(mobile["id"])],
                    "range": {"from": (today - dt.timedelta(days=13)).isoformat(), "to": today.isoformat()},
                },
            ),
            ("search 'ord-0001' (raw table)", {"search": "ord-0001"}),
            ("customerId, busiest customer (raw table)", {"customerId": str(top_customer)}),
        ]

        import httpx

        from services.orders.domain.filters import OrderFilter
        from services.orders.repository.orders import where_clause
        from shared.db import tenant_tx

        pool = await asyncpg.create_pool(env.app_dsn(), min_size=1, max_size=2, server_settings={"timezone": "UTC"})
        async with httpx.AsyncClient(timeout=120) as client:
            for label, f in filters:
                totals: list[int] = []

                async def via_gateway(f: dict[str, Any] | None = f, totals: list[int] = totals) -> None:
                    data = await gql(client, procs.gateway, token, SUMMARY, {"filter": f})
                    totals.append(data["ordersSummary"]["totalOrders"])

                with MachineLoad() as m:
                    lat = await sequential_latencies(via_gateway, n=args.requests)
                of = OrderFilter.model_validate(f or {})
                sql_args: list[Any] = []
                where = where_clause(d["org_id"], of, d["time_zone"], sql_args)
                sql = (
                    f"SELECT status, comm_status, currency, count(*) AS n, sum(commission_amount) AS commission"
                    f" FROM orders o WHERE {where} GROUP BY 1, 2, 3"
                )

                scan_totals: list[int] = []

                async def scan(
                    sql: str = sql, sql_args: list[Any] = sql_args, scan_totals: list[int] = scan_totals
                ) -> None:
                    async with tenant_tx(pool, d["org_id"]) as conn:
                        rows = await conn.fetch(sql, *sql_args)
                    scan_totals.append(sum(r["n"] for r in rows))

                scan_lat = await sequential_latencies(scan, n=args.scans, warmup=1)
                med, p95 = pct(lat, 0.5), pct(lat, 0.95)
                verdict = "ok" if p95 < 0.1 else "MISSED"
                same = (
                    ""
                    if totals[-1] == scan_totals[-1]
                    else f" (MISMATCH: gateway {totals[-1]} vs scan {scan_totals[-1]})"
                )
                lines.append(
                    f"ordersSummary, {label}: median {fmt_ms(med)}, p95 {fmt_ms(p95)} through the gateway"
                    f" (target < 100 ms) [{verdict}]; scan baseline median {fmt_ms(pct(scan_lat, 0.5))}"
                    f" ({pct(scan_lat, 0.5) / med:.1f}x the gateway); {totals[-1]:,} orders{same}"
                )
                print(lines[-1], flush=True)
                say(f"  {m.brief()}")
        await pool.close()
        save_result("orders_summary", lines)
    finally:
        procs.stop_all()
        env.close()


if __name__ == "__main__":
    use_uvloop()
    asyncio.run(main())
