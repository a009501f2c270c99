"""Issue 10's figures: the reports service on 1M orders, 200k contacts and a few hundred thousand business events.

    UV_PROJECT_ENVIRONMENT=/tmp/benchvenv PYTHONPATH=. uv run --frozen --no-sync python -m bench.reports \
        [--reuse] [--repeat 7] [--xlsx-rows 100000] [--pdf-rows 50000] [--schedules 1000] [--skip-schedules]

The read model is loaded directly (bench/reports_data.py: COPY from the orders benchmark's database, INSERT …
SELECT for the rest) into the bench PostgreSQL's reports database; `--reuse` keeps it when its counts match.
Then, each beside a floor measured in the same run:

- `reportPreview` of every catalogue report (the service's `preview`, in-process, in a tenant transaction on the
  application role, as the API handler calls it): its default columns, and grouped by its first groupable column
  where it has one; median and p95 of `--repeat` runs after a warm-up (a case slower than 5 s gets 3 runs);
- a CSV run of every order (Orders with commission, the 91 days that hold them) as a run writes it
  (service/runs.py `run_snapshot` + `write_rows`: one COPY of the statement in one snapshot, into a temporary
  file), in a child process whose peak RSS is its ru_maxrss; floor: COPY (the same statement, ordered) TO STDOUT,
  rows/s; `--link-csv` also the export links' CSV (one cursor) and the keyset batches (`open_export`) for comparison;
- XLSX of about `--xlsx-rows` rows (the most recent days holding them) the same way (one server-side cursor);
  floor: openpyxl write-only
  (lxml) writing the same rows, fetched beforehand, converted by the kit's `xlsx_value`;
- PDF of `--pdf-rows` rows (service/pdf.py `write`, into a temporary file); floor: a bare reportlab canvas drawing
  the same cells as text on as many rows per page, nothing else (pages/s);
- `--schedules` schedules due in the same minute, each a CSV of at most 10,000 rows, fired by two
  `python -m services.reports.scheduler` processes, built by the reports worker and mailed through a local SMTP
  sink (infra/mailbox.py), the orders API resolving recipients: time until every mail arrived, each slot run
  once, each mail once.

Figures are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, MachineLoad, fmt_ms, pct, save_result, say, setup
from reports_data import ORG, load

CSV_REPORT = "orders_with_commission"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- the child: one streamed export, its rows/s and peak RSS ----------------------------------------


async def child(fmt: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Runs one export of `raw` as `fmt` through the service (in this process) and says what it took."""
    from services.reports.service import pdf
    from services.reports.service import reports as workflow
    from shared.config import get_settings
    from shared.db import create_pool, tenant_tx

    settings = get_settings()
    # As the API's export pool (shared/service/app.py): long statements allowed.
    pool = await create_pool(
        settings.service_database_url("reports"),
        max_size=2,
        settings=settings,
        statement_timeout_ms=settings.export_statement_timeout_ms,
    )
    try:
        async with tenant_tx(pool, ORG) as conn:
            q = await workflow.parse(conn, ORG, raw)
        before = _rss_mb()
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        size = rows = 0
        if fmt == "pdf":
            import tempfile

            heading = pdf.Heading("Demo Partner", q.report.name, pdf.describe_filters(q), datetime.now(UTC))
            with tempfile.TemporaryFile() as out:
                rows = await pdf.write(pool, ORG, q, settings, heading, out)
                size = out.tell()
                out.seek(0)
                pages = _count_pages(out.read())
        elif os.environ.get("BENCH_REPORTS_VIA") in ("link", "keyset"):  # the export links' opener, or keyset
            via = os.environ["BENCH_REPORTS_VIA"]
            opener = workflow.WRITERS[fmt] if via == "link" else workflow.open_export
            stream = await opener(pool, ORG, q, fmt, settings)
            async for chunk in stream:
                size += len(chunk)
                if fmt == "csv":
                    rows += chunk.count(b"\n")
            if fmt == "csv":
                rows -= 1  # the header
            pages = 0
        else:  # what a run does (service/runs.py `_build`): one snapshot, COPY (CSV) or one cursor (XLSX)
            import tempfile

            from services.reports.repository import reports as store
            from services.reports.service import runs

            async with tenant_tx(pool, ORG) as conn:
                base, _ = await workflow.settings_of(conn, ORG)
            st = store.statement(q, ORG, base)
            with tempfile.TemporaryFile() as out:
                async with runs.run_snapshot(pool, ORG, settings) as conn:
                    rows = await runs.write_rows(conn, q, st, fmt, out, settings)
                size = out.tell()
            pages = 0
        secs = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime
        return {
            "rows": rows,
            "bytes": size,
            "seconds": secs,
            "cpu": cpu,
            "rss_before": before,
            "rss_peak": _rss_mb(),
            "pages": pages,
        }
    finally:
        await pool.close()


def _count_pages(doc: bytes) -> int:
    """Page objects of a PDF (reportlab compresses content streams, never the page dictionaries)."""
    import re

    return len(re.findall(rb"/Type /Page[^s]", doc))


def run_child(fmt: str, raw: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.reports", "--child", fmt, json.dumps(raw)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"child {fmt} failed: {out.stderr[-2000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# --- previews ---------------------------------------------------------------------------------------


def preview_cases() -> list[tuple[str, str, dict[str, Any]]]:
    """(report, case, input): every report with its defaults, and grouped by its first groupable column."""
    from services.reports.domain.catalogue import REPORTS

    cases: list[tuple[str, str, dict[str, Any]]] = []
    for r in REPORTS:
        cases.append((r.key, "default", {"report": r.key}))
        groupable = [c.key for c in r.columns if c.groupable and c.key in r.default_columns]
        groupable = groupable or [c.key for c in r.columns if c.groupable]
        if groupable:
            cases.append((r.key, f"by {groupable[0]}", {"report": r.key, "grouping": [groupable[0]]}))
    return cases


async def previews(pool: Any, repeat: int, only: list[str] | None = None) -> list[dict[str, Any]]:
    """`only`: these reports' cases alone (a before/after pair of a few)."""
    from services.reports.service import reports as workflow
    from shared.db import tenant_tx

    out = []
    for key, case, raw in preview_cases():
        if only and key not in only:
            continue

        async def once(raw: dict[str, Any] = raw) -> dict[str, Any]:
            async with tenant_tx(pool, ORG) as conn:
                return await workflow.preview(conn, ORG, raw)

        t0 = time.perf_counter()
        try:
            answer = await once()
        except Exception as exc:
            out.append({"report": key, "case": case, "error": f"{type(exc).__name__}: {exc}"[:300]})
            say(f"  preview {key} {case}: {type(exc).__name__}: {exc}")
            continue
        first = time.perf_counter() - t0
        n = repeat if first < 5 else 3
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            try:
                await once()
            except Exception as exc:  # a repeat cancelled by the statement timeout counts as the timeout
                say(f"  preview {key} {case}: a repeat failed: {type(exc).__name__}")
            times.append(time.perf_counter() - t0)
        times.sort()
        res = {
            "report": key,
            "case": case,
            "rows": answer["totalRows"],
            "runs": n,
            "median": times[len(times) // 2],
            "p95": pct(times, 0.95),
        }
        out.append(res)
        timing = f"median {fmt_ms(res['median'])}, p95 {fmt_ms(res['p95'])}"
        say(f"  preview {key:26} {case:22} {res['rows']:>9,} rows  {timing}")
    return out


async def explain(pool: Any, raw: dict[str, Any]) -> str:
    """EXPLAIN ANALYZE of a preview's count (the slower half of a preview), its top lines."""
    from services.reports.repository import reports as store
    from services.reports.service import reports as workflow
    from shared.db import tenant_tx

    async with tenant_tx(pool, ORG) as conn:
        q = await workflow.parse(conn, ORG, raw)
        base, _ = await workflow.settings_of(conn, ORG)
        st = store.statement(q, ORG, base)
        rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS OFF) SELECT count(*) FROM ({st.sql}) r", *st.args)
        rows += await conn.fetch(
            f"EXPLAIN (ANALYZE, VERBOSE) SELECT * FROM ({st.sql}) r ORDER BY {st.order_by} LIMIT 10", *st.args
        )
    return "\n".join(r[0] for r in rows)


# --- exports ------------------------------------------------------------------------------------------


async def days_holding(pool: Any, n: int) -> tuple[date, date, int]:
    """The most recent whole local days holding at least `n` orders: (first, last, orders)."""
    from shared.db import tenant_tx

    async with tenant_tx(pool, ORG) as conn:
        rows = await conn.fetch(
            """SELECT (created_at AT TIME ZONE 'Europe/London')::date AS d, count(*) AS n FROM orders
                WHERE org_id = $1 GROUP BY 1 ORDER BY 1 DESC""",
            ORG,
        )
    total = 0
    for r in rows:
        total += r["n"]
        if total >= n:
            return r["d"], rows[0]["d"], total
    return rows[-1]["d"], rows[0]["d"], total


def orders_input(first: date, last: date) -> dict[str, Any]:
    return {"report": CSV_REPORT, "filters": {"range": {"from": first.isoformat(), "to": last.isoformat()}}}


async def statement_of(pool: Any, raw: dict[str, Any]) -> Any:
    from services.reports.repository import reports as store
    from services.reports.service import reports as workflow
    from shared.db import tenant_tx

    async with tenant_tx(pool, ORG) as conn:
        q = await workflow.parse(conn, ORG, raw)
        base, _ = await workflow.settings_of(conn, ORG)
        return q, store.statement(q, ORG, base)


async def copy_floor(pool: Any, raw: dict[str, Any]) -> tuple[int, int, float]:
    """COPY (the run's statement, in its order, its answer columns) TO STDOUT as CSV: rows, bytes, seconds."""
    from shared.db import tenant_tx

    q, st = await statement_of(pool, raw)
    cols = ", ".join(f"c{i}" for i in range(len(q.outputs)))
    counted = {"bytes": 0, "rows": 0}

    async def sink(chunk: bytes) -> None:
        counted["bytes"] += len(chunk)
        counted["rows"] += chunk.count(b"\n")

    t0 = time.perf_counter()
    async with tenant_tx(pool, ORG) as conn:
        await conn.copy_from_query(
            f"SELECT {cols} FROM ({st.sql}) r ORDER BY {st.order_by}", *st.args, output=sink, format="csv"
        )
    return counted["rows"], counted["bytes"], time.perf_counter() - t0


async def fetch_rows(pool: Any, raw: dict[str, Any]) -> tuple[list[str], list[Any]]:
    from services.reports.service import reports as workflow
    from shared.db import tenant_tx

    q, st = await statement_of(pool, raw)
    width = len(q.outputs)
    async with tenant_tx(pool, ORG) as conn:
        rows = await conn.fetch(f"SELECT * FROM ({st.sql}) r ORDER BY {st.order_by}", *st.args)
    header = [c["label"] for c in workflow._columns(q)]
    return header, [[r[i] for i in range(width)] for r in rows]


def xlsx_floor(header: list[str], rows: list[list[Any]]) -> tuple[float, int]:
    import tempfile

    from openpyxl import Workbook

    from shared.exports import xlsx_value

    converted = [[xlsx_value(v) for v in r] for r in rows]
    fd, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(fd)
    try:
        t0 = time.perf_counter()
        wb = Workbook(write_only=True)
        ws = wb.create_sheet("orders")
        ws.append(header)
        for r in converted:
            ws.append(r)
        wb.save(path)
        return time.perf_counter() - t0, os.path.getsize(path)
    finally:
        os.unlink(path)


def pdf_floor(header: list[str], rows: list[list[Any]]) -> tuple[float, int, int]:
    """A bare reportlab canvas table: the cells as text at fixed columns, as many rows per page as the service
    fits, page after page; no fitting, shading or footer. Returns (seconds, pages, bytes)."""
    import io

    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    from services.reports.service.pdf import _text

    texts = [[_text(v) for v in r] for r in rows]
    page = landscape(A4)
    margin, row_h = 12 * mm, 11.0
    width = (page[0] - 2 * margin) / len(header)
    xs = [margin + 2 + i * width for i in range(len(header))]
    out = io.BytesIO()
    t0 = time.perf_counter()
    c = Canvas(out, pagesize=page, pageCompression=1)
    pages = 0

    def new_page() -> float:
        nonlocal pages
        pages += 1
        c.setFont("Helvetica-Bold", 7.5)
        y = page[1] - margin - row_h
        for x, h in zip(xs, header, strict=True):
            c.drawString(x, y + 3, h)
        c.setFont("Helvetica", 7.5)
        return y - row_h

    y = new_page()
    for r in texts:
        if y < margin + 14:
            c.showPage()
            y = new_page()
        for x, t in zip(xs, r, strict=True):
            c.drawString(x, y + 3, t)
        y -= row_h
    c.showPage()
    c.save()
    return time.perf_counter() - t0, pages, out.tell()


# --- main ---------------------------------------------------------------------------------------------


def table(lines: list[tuple[str, str, str, str, str]]) -> list[str]:
    head = ("figure", "measured", "floor", "ratio", "target")
    widths = [max(len(x[i]) for x in [head, *lines]) for i in range(5)]
    out = [" | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    out.append("-+-".join("-" * w for w in widths))
    out += [" | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in lines]
    return out


async def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reuse", action="store_true", help="keep a loaded reports data set whose counts match")
    ap.add_argument("--repeat", type=int, default=7, help="preview runs per case after a warm-up")
    ap.add_argument("--xlsx-rows", type=int, default=100_000)
    ap.add_argument("--pdf-rows", type=int, default=50_000)
    ap.add_argument("--schedules", type=int, default=1000)
    ap.add_argument(
        "--csv-batch-rows",
        type=int,
        default=0,
        help="also the export links' CSV with EXPORT_CSV_BATCH_ROWS set to this (the service's default is 50,000)",
    )
    ap.add_argument("--link-csv", action="store_true", help="also the CSV through the export links' keyset batches")
    ap.add_argument("--skip-previews", action="store_true")
    ap.add_argument("--csv-only", action="store_true", help="exports: the CSV cases alone")
    ap.add_argument("--only", nargs="+", metavar="REPORT", help="previews of these reports only")
    ap.add_argument(
        "--fx-functions",
        action="store_true",
        help="itemised amounts by the per-row FX functions of migration 006 (before fx_daily, migration 015)",
    )
    ap.add_argument("--skip-exports", action="store_true")
    ap.add_argument("--skip-schedules", action="store_true")
    ap.add_argument("--child", nargs=2, metavar=("FORMAT", "INPUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        result = await child(args.child[0], json.loads(args.child[1]))
        print(json.dumps(result))
        return

    if args.fx_functions:
        from functools import partial

        from services.reports.repository import reports as store

        store.statement = partial(store.statement, fx_daily=False)
    env = await setup(redis=not args.skip_schedules)
    env.pg = None  # never stop the shared server (bench/out/pg), whoever started it
    from shared.db import create_pool

    settings = env.settings
    counts = await load(
        settings.service_database_url("orders", "owner"),
        settings.service_database_url("reports", "owner"),
        reuse=args.reuse,
    )
    pool = await create_pool(settings.service_database_url("reports"), max_size=4, settings=settings)
    lines: list[tuple[str, str, str, str, str]] = []
    extra: dict[str, Any] = {"counts": counts}
    machine = MachineLoad()
    try:
        with machine:
            if not args.skip_previews:
                say(f"previews: every catalogue report, {args.repeat} runs each after a warm-up")
                results = await previews(pool, args.repeat, args.only)
                extra["previews"] = results
                for r in results:
                    if "error" in r:
                        timeout = "statement timeout" in r["error"]
                        said = "over 5 s: the statement timeout cancels it" if timeout else r["error"][:80]
                        lines.append((f"preview {r['report']} ({r['case']})", said, "", "", "p95 < 200 ms: MISSED"))
                        continue
                    ok = "ok" if r["p95"] < 0.2 else "MISSED"
                    lines.append(
                        (
                            f"preview {r['report']} ({r['case']})",
                            f"median {fmt_ms(r['median'])}, p95 {fmt_ms(r['p95'])}"
                            f" ({r['runs']} runs, {r['rows']:,} rows)",
                            "",
                            "",
                            f"p95 < 200 ms: {ok}",
                        )
                    )
            if not args.skip_exports:
                long = await create_pool(
                    settings.service_database_url("reports"),
                    max_size=2,
                    settings=settings,
                    statement_timeout_ms=settings.export_statement_timeout_ms,
                )
                try:
                    await exports_cases(long, args, lines, extra)
                finally:
                    await long.close()
            if not args.skip_schedules:
                from reports_schedules import schedules_case

                await schedules_case(env, pool, args.schedules, lines, extra)
    finally:
        await pool.close()
        env.close()
    printed = table(lines)
    printed.append(f"(machine {machine.busy:.0%} busy over the run, other jobs {machine.foreign_cores:.2f} cores)")
    print("\n".join(printed))
    save_result("reports", printed, extra)


async def exports_cases(
    pool: Any, args: Any, lines: list[tuple[str, str, str, str, str]], extra: dict[str, Any]
) -> None:
    # CSV: every order.
    first, last, n = await days_holding(pool, 10**9)
    raw = orders_input(first, last)
    say(f"CSV: {CSV_REPORT} {first}..{last} ({n:,} orders): COPY floor, then the service's streamed run")
    f_rows, f_bytes, f_secs = await copy_floor(pool, raw)
    c = await asyncio.to_thread(run_child, "csv", raw)
    rate, floor = c["rows"] / c["seconds"], f_rows / f_secs
    extra["csv"] = {"service": c, "floor": {"rows": f_rows, "bytes": f_bytes, "seconds": f_secs}}
    lines.append(
        (
            f"CSV run, {CSV_REPORT}, {c['rows']:,} rows ({c['bytes'] / 1e6:.0f} MB)",
            f"{rate:,.0f} rows/s ({c['seconds']:.1f} s, {c['cpu']:.0f} s CPU in the process)",
            f"COPY {floor:,.0f} rows/s ({f_rows:,} rows, {f_secs:.1f} s)",
            f"{rate / floor:.0%}",
            f">= 50%: {'ok' if rate / floor >= 0.5 else 'MISSED'}",
        )
    )
    lines.append(
        (
            "CSV run, peak RSS of the process",
            f"{c['rss_peak']:.0f} MB (before the run {c['rss_before']:.0f} MB)",
            "",
            "",
            f"< 150 MB: {'ok' if c['rss_peak'] < 150 else 'MISSED'}",
        )
    )
    say(f"  service {rate:,.0f} rows/s, COPY {floor:,.0f} rows/s, peak RSS {c['rss_peak']:.0f} MB")
    if args.link_csv:
        k = await asyncio.to_thread(run_child, "csv", raw, {"BENCH_REPORTS_VIA": "keyset"})
        extra["csv_keyset"] = {"service": k}
        lines.append(
            (
                "CSV through keyset batches (open_export, the links' former path), same rows",
                f"{k['rows'] / k['seconds']:,.0f} rows/s ({k['seconds']:.1f} s), peak RSS {k['rss_peak']:.0f} MB",
                "same COPY",
                f"{k['rows'] / k['seconds'] / floor:.0%}",
                "(links: not a run)",
            )
        )
        say(f"  keyset: {k['rows'] / k['seconds']:,.0f} rows/s, peak RSS {k['rss_peak']:.0f} MB")
        v = await asyncio.to_thread(run_child, "csv", raw, {"BENCH_REPORTS_VIA": "link"})
        extra["csv_link"] = {"service": v}
        lines.append(
            (
                "CSV through the export links (WRITERS['csv']: one cursor, one bounded snapshot), same rows",
                f"{v['rows'] / v['seconds']:,.0f} rows/s ({v['seconds']:.1f} s), peak RSS {v['rss_peak']:.0f} MB",
                "same COPY",
                f"{v['rows'] / v['seconds'] / floor:.0%}",
                "(links: not a run)",
            )
        )
        say(f"  links: {v['rows'] / v['seconds']:,.0f} rows/s, peak RSS {v['rss_peak']:.0f} MB")
    if args.csv_batch_rows:
        v = await asyncio.to_thread(
            run_child, "csv", raw, {"EXPORT_CSV_BATCH_ROWS": str(args.csv_batch_rows), "BENCH_REPORTS_VIA": "link"}
        )
        extra["csv_variant"] = {"batch_rows": args.csv_batch_rows, "service": v}
        lines.append(
            (
                f"CSV run, the same with EXPORT_CSV_BATCH_ROWS={args.csv_batch_rows:,}",
                f"{v['rows'] / v['seconds']:,.0f} rows/s ({v['seconds']:.1f} s), peak RSS {v['rss_peak']:.0f} MB",
                "same COPY",
                f"{v['rows'] / v['seconds'] / floor:.0%}",
                f">= 50%: {'ok' if v['rows'] / v['seconds'] / floor >= 0.5 else 'MISSED'}; < 150 MB: "
                f"{'ok' if v['rss_peak'] < 150 else 'MISSED'}",
            )
        )
        say(f"  batch {args.csv_batch_rows}: {v['rows'] / v['seconds']:,.0f} rows/s, peak RSS {v['rss_peak']:.0f} MB")

    if args.csv_only:
        return
    # XLSX.
    first, last, n = await days_holding(pool, args.xlsx_rows)
    raw = orders_input(first, last)
    say(f"XLSX: {first}..{last} ({n:,} orders)")
    x = await asyncio.to_thread(run_child, "xlsx", raw)
    header, rows = await fetch_rows(pool, raw)
    fx_secs, fx_size = await asyncio.to_thread(xlsx_floor, header, rows)
    del rows
    rate, floor = n / x["seconds"], n / fx_secs
    extra["xlsx"] = {"service": x, "floor": {"rows": n, "bytes": fx_size, "seconds": fx_secs}}
    lines.append(
        (
            f"XLSX run, {n:,} rows ({x['bytes'] / 1e6:.0f} MB)",
            f"{rate:,.0f} rows/s ({x['seconds']:.1f} s), peak RSS {x['rss_peak']:.0f} MB",
            f"openpyxl write-only {floor:,.0f} rows/s ({fx_secs:.1f} s)",
            f"{rate / floor:.0%}",
            f">= 80%: {'ok' if rate / floor >= 0.8 else 'MISSED'}; < 150 MB: "
            f"{'ok' if x['rss_peak'] < 150 else 'MISSED'}",
        )
    )
    say(f"  service {rate:,.0f} rows/s, openpyxl {floor:,.0f} rows/s, peak RSS {x['rss_peak']:.0f} MB")

    await pdf_case(pool, args.pdf_rows, lines, extra)


async def pdf_case(
    pool: Any, pdf_rows: int, lines: list[tuple[str, str, str, str, str]], extra: dict[str, Any]
) -> None:
    """PDF of the most recent whole days holding `pdf_rows` orders, in a child process, beside the bare canvas."""
    first, last, n = await days_holding(pool, pdf_rows)
    raw = orders_input(first, last)
    say(f"PDF: {first}..{last} ({n:,} orders)")
    p = await asyncio.to_thread(run_child, "pdf", raw)
    header, rows = await fetch_rows(pool, raw)
    pf_secs, pf_pages, pf_size = await asyncio.to_thread(pdf_floor, header, rows)
    del rows
    pages = p["pages"]
    rate, floor = pages / p["seconds"], pf_pages / pf_secs
    extra["pdf"] = {"service": p, "pages": pages, "floor": {"pages": pf_pages, "bytes": pf_size, "seconds": pf_secs}}
    lines.append(
        (
            f"PDF run, {n:,} rows, {pages:,} pages ({p['bytes'] / 1e6:.0f} MB)",
            f"{rate:,.1f} pages/s ({p['seconds']:.1f} s), peak RSS {p['rss_peak']:.0f} MB",
            f"bare reportlab canvas {floor:,.1f} pages/s ({pf_pages:,} pages, {pf_secs:.1f} s)",
            f"{rate / floor:.0%}",
            f">= 50%: {'ok' if rate / floor >= 0.5 else 'MISSED'}; < 150 MB: "
            f"{'ok' if p['rss_peak'] < 150 else 'MISSED'}",
        )
    )
    say(f"  service {rate:,.1f} pages/s, floor {floor:,.1f} pages/s, peak RSS {p['rss_peak']:.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
