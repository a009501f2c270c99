"""Figures 3 and 4: CSV and XLSX export of all orders through the gateway, against raw floors, with the
peak memory of the orders API and gateway processes during each export (target < 150 MB).

- CSV: `requestExport(kind: ORDERS, format: CSV)` then GET the link, streamed and counted, against a raw
  asyncpg `copy_from_query` of the identical SQL (services.orders.repository.exports.orders_query). Target >= 50%.
- XLSX: the same with format XLSX, against openpyxl's write-only workbook (lxml) writing the same rows,
  fetched into memory first (only the writing is timed). Target >= 80%.

    PYTHONPATH=. uv run python bench/exports.py [--xlsx-rows N] [--skip-csv] [--skip-xlsx]

`--xlsx-rows N` limits the XLSX case to the most recent whole days holding at least N orders (the same
date-range filter for the export and the floor); the default is every order.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    MachineLoad,
    Processes,
    RssSampler,
    base_args,
    gql,
    save_result,
    say,
    setup,
    use_uvloop,
)

REQUEST = """mutation Export($format: ExportFormat!, $filter: OrderFilterInput) {
  requestExport(kind: ORDERS, format: $format, orderFilter: $filter) { url expiresAt errors { code message } } }"""


async def download(client: Any, url: str) -> tuple[int, int, float, float]:
    """Bytes, newlines, seconds to the first byte, seconds in all."""
    t0 = time.perf_counter()
    first = None
    size = newlines = 0
    async with client.stream("GET", url) as r:
        if r.status_code != 200:
            raise RuntimeError(f"export download: HTTP {r.status_code}: {(await r.aread())[:300]!r}")
        async for chunk in r.aiter_raw():
            if first is None:
                first = time.perf_counter() - t0
            size += len(chunk)
            newlines += chunk.count(b"\n")
    return size, newlines, first or 0.0, time.perf_counter() - t0


async def recent_days_filter(owner_dsn: str, org_id: Any, tz: str, rows: int) -> tuple[dict[str, Any], int]:
    import asyncpg

    conn = await asyncpg.connect(owner_dsn)
    try:
        days = await conn.fetch(
            "SELECT day, sum(orders)::bigint AS n FROM order_rollups_daily WHERE org_id = $1"
            " GROUP BY day ORDER BY day DESC",
            org_id,
        )
    finally:
        await conn.close()
    total, start = 0, None
    for r in days:
        total += r["n"]
        start = r["day"]
        if total >= rows:
            break
    if start is None:
        raise SystemExit("the bench organisation has no order rollups: no recent days to export")
    today = dt.datetime.now(ZoneInfo(tz)).date()
    return {"range": {"from": start.isoformat(), "to": today.isoformat()}}, total


def mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB"


async def main() -> None:
    ap = base_args(__doc__.split("\n\n")[0])
    ap.add_argument("--xlsx-rows", type=int, default=0, help="limit the XLSX case to about this many recent orders")
    ap.add_argument("--skip-csv", action="store_true")
    ap.add_argument("--skip-xlsx", action="store_true")
    args = ap.parse_args()

    env = await setup(redis=True)
    procs = Processes("exports-")
    lines: list[str] = []
    d = env.data
    try:
        procs.start_web()
        token = env.token()
        import asyncpg
        import httpx

        from services.orders.domain.filters import OrderFilter
        from services.orders.exports import _xlsx_value  # the service's own cell conversion, for the floor
        from services.orders.repository import exports as ex
        from shared.db import tenant_tx

        pool = await asyncpg.create_pool(env.app_dsn(), min_size=1, max_size=2, server_settings={"timezone": "UTC"})
        pids = {"orders API": procs.pid("orders-api"), "gateway": procs.pid("gateway")}

        async def through_gateway(
            fmt: str, f: dict[str, Any] | None
        ) -> tuple[tuple[int, int, float, float], RssSampler, MachineLoad]:
            async with httpx.AsyncClient(timeout=httpx.Timeout(600, connect=10)) as client:
                data = await gql(client, procs.gateway, token, REQUEST, {"format": fmt, "filter": f})
                payload = data["requestExport"]
                if payload["errors"]:
                    raise RuntimeError(f"requestExport refused: {payload['errors']}")
                with RssSampler(pids) as rss, MachineLoad() as m:
                    result = await download(client, payload["url"])
            return result, rss, m

        def memory_line(kind: str, rss: RssSampler) -> str:
            peaks = {k: rss.peak_mb(k) for k in pids}
            verdict = "ok" if max(peaks.values()) < 150 else "MISSED"
            return (
                f"{kind} export memory: orders API {rss.report('orders API')}, gateway {rss.report('gateway')}"
                f" (target < 150 MB) [{verdict}]"
            )

        # --- CSV ----------------------------------------------------------------------------
        if not args.skip_csv:
            q = ex.orders_query(d["org_id"], OrderFilter(), d["time_zone"])
            sql, sql_args = q.sql, q.args
            (size, newlines, ttfb, secs), rss, m = await through_gateway("CSV", None)
            rows = newlines - 1
            say(
                f"CSV through the gateway: {rows:,} rows, {mb(size)} in {secs:.1f}s (first byte {ttfb * 1000:.0f} ms);"
                f" {m.brief()}"
            )
            counted = [0, 0]

            async def sink(chunk: bytes) -> None:
                counted[0] += len(chunk)
                counted[1] += chunk.count(b"\n")

            t0 = time.perf_counter()
            async with tenant_tx(pool, d["org_id"]) as conn:
                await conn.copy_from_query(sql, *sql_args, output=sink, format="csv", header=True)
            raw_secs = time.perf_counter() - t0
            raw_rows = counted[1] - 1
            rate, raw_rate = rows / secs, raw_rows / raw_secs
            same = "same bytes" if counted[0] == size else f"BYTES DIFFER: raw {counted[0]:,} vs {size:,}"
            verdict = "ok" if rate / raw_rate >= 0.5 else "MISSED"
            lines.append(
                f"CSV export, {rows:,} orders: {rate:,.0f} rows/s through the gateway ({secs:.1f}s, {mb(size)})"
                f" (raw copy_from_query {raw_rate:,.0f} rows/s, {raw_secs:.1f}s; {rate / raw_rate:.0%})"
                f" [{verdict}]; {same}"
            )
            print(lines[-1], flush=True)
            lines.append(memory_line("CSV", rss))
            print(lines[-1], flush=True)

        # --- XLSX ---------------------------------------------------------------------------
        if not args.skip_xlsx:
            f: dict[str, Any] | None = None
            if args.xlsx_rows:
                f, _n = await recent_days_filter(env.owner_dsn(), d["org_id"], d["time_zone"], args.xlsx_rows)
            of = OrderFilter.model_validate(f or {})
            q = ex.orders_query(d["org_id"], of, d["time_zone"])
            sql, sql_args, header = q.sql, q.args, q.header
            async with tenant_tx(pool, d["org_id"]) as conn:
                expected = await conn.fetchval(f"SELECT count(*) FROM ({sql}) q", *sql_args)
            path = "through the gateway"
            t_try = time.perf_counter()
            try:
                (size, _nl, ttfb, secs), rss, m = await through_gateway("XLSX", f)
            except Exception as exc:
                lines.append(
                    f"XLSX export, {expected:,} orders, through the gateway: FAILED after"
                    f" {time.perf_counter() - t_try:.0f}s ({type(exc).__name__}: {str(exc)[:120]}); the gateway"
                    f" log (bench/out/logs/exports-gateway.log) shows why"
                )
                print(lines[-1], flush=True)
                path = "from the orders API directly (the gateway's path failed)"
                (size, _nl, ttfb, secs), rss, m = await direct_xlsx(env, procs, of, pids)
            say(
                f"XLSX {path}: {expected:,} rows, {mb(size)} in {secs:.1f}s (first byte after {ttfb:.1f}s); {m.brief()}"
            )

            # Floor: the same rows in memory, written by openpyxl write-only (lxml), then saved.
            t0 = time.perf_counter()
            async with tenant_tx(pool, d["org_id"]) as conn:
                records = await conn.fetch(sql, *sql_args)
            floor_rows = [[_xlsx_value(v) for v in r] for r in records]
            del records
            fetch_secs = time.perf_counter() - t0
            floor_secs, floor_size = await asyncio.to_thread(write_xlsx, header, floor_rows)
            n = len(floor_rows)
            del floor_rows
            rate, floor_rate = expected / secs, n / floor_secs
            verdict = "ok" if rate / floor_rate >= 0.8 else "MISSED"
            lines.append(
                f"XLSX export, {expected:,} orders: {rate:,.0f} rows/s {path} ({secs:.1f}s,"
                f" {mb(size)}) (openpyxl write-only floor {floor_rate:,.0f} rows/s, {floor_secs:.1f}s,"
                f" {mb(floor_size)}, rows fetched beforehand in {fetch_secs:.1f}s; {rate / floor_rate:.0%})"
                f" [{verdict}]"
            )
            print(lines[-1], flush=True)
            lines.append(memory_line("XLSX", rss))
            print(lines[-1], flush=True)
        await pool.close()
        save_result("exports", lines)
    finally:
        procs.stop_all()
        env.close()


async def direct_xlsx(env: Any, procs: Processes, of: Any, pids: dict[str, int]) -> tuple[Any, RssSampler, MachineLoad]:
    """The orders API's XLSX endpoint called as the gateway calls it, without the gateway's 30 s read timeout."""
    import httpx

    from shared.auth import service_tokens

    token = service_tokens.mint(
        env.settings.service_token_secret,
        caller="gateway",
        audience="orders",
        org_id=str(env.data["org_id"]),
        subject="bench",
        role="admin",
    )
    body = {"filter": of.model_dump(mode="json", by_alias=True, exclude_defaults=True)}
    async with httpx.AsyncClient(timeout=httpx.Timeout(900, connect=10)) as client:
        with RssSampler(pids) as rss, MachineLoad() as m:
            t0 = time.perf_counter()
            first = None
            size = 0
            async with client.stream(
                "POST",
                f"{procs.api}/internal/exports/orders.xlsx",
                json=body,
                headers={"authorization": f"Bearer {token}"},
            ) as r:
                if r.status_code != 200:
                    raise RuntimeError(f"orders API XLSX: HTTP {r.status_code}: {(await r.aread())[:300]!r}")
                async for chunk in r.aiter_raw():
                    first = first if first is not None else time.perf_counter() - t0
                    size += len(chunk)
            result = (size, 0, first or 0.0, time.perf_counter() - t0)
    return result, rss, m


def write_xlsx(header: list[str], rows: list[list[Any]]) -> tuple[float, int]:
    from openpyxl import Workbook

    fd, path = tempfile.mkstemp(suffix=".xlsx", dir=os.environ.get("TMPDIR"))
    os.close(fd)
    try:
        t0 = time.perf_counter()
        wb = Workbook(write_only=True)
        ws = wb.create_sheet("orders")
        ws.append(header)
        for r in rows:
            ws.append(r)
        wb.save(path)
        return time.perf_counter() - t0, os.path.getsize(path)
    finally:
        os.unlink(path)


if __name__ == "__main__":
    use_uvloop()
    asyncio.run(main())
