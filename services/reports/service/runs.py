"""Report runs: a report built as a job and mailed to its recipients (`runReport`; schedules reuse both halves).

`create_run(conn, ...)` validates the input and the format (a PDF above REPORT_PDF_MAX_ROWS is refused naming
`format`, before any work), inserts the run `queued` and enqueues its job inside the caller's transaction: a
failed enqueue rolls the run back, and a job whose transaction rolled back finds no run and is dropped once it is
older than `ORPHAN_SECONDS` (before that it may simply have overtaken the commit, so it is retried).

`execute_run(pool, org_id, run_id)` is what the worker's actor calls, and is safe to call any number of times:

- One at a time per run: a session advisory lock on a connection held for the run; a worker killed mid-run drops
  its connection and with it the lock, so the redelivered job takes over (the attempt is counted).
- A run already built is not built again; a run already notified sends nothing. The file is built into a
  temporary file, then stored (report_run_chunks) in the same transaction that marks the run `succeeded` with its
  row count, size, sha256, duration, query hash and data watermarks.
- Mail goes through the kit's idempotent sender (`mail_actors.deliver`, key `report-run:<run>:<recipient>`): a
  retry after an SMTP outage sends each recipient's message once. Up to REPORT_ATTACHMENT_MAX_BYTES (5 MiB) the file
  is attached; above, the message carries a signed download link (the gateway's export links: the same signing,
  the same membership check at download; kind `report_run`) valid REPORT_LINK_TTL_SECONDS (7 days).
- A build that fails is retried (the actor's back-off) up to REPORT_RUN_MAX_ATTEMPTS attempts, then the run is
  `failed` with the reason and its requester told by mail. An input the domain refuses (a missing FX rate, say)
  fails at once: retrying cannot help. A run found `running` with its last attempt used had that attempt's worker
  die under it (killed, out of memory): it is failed, not built again, so a run that kills its worker does so
  REPORT_RUN_MAX_ATTEMPTS times at most.

The row count is the statement's exact count in the snapshot the run reads (as the preview counts), beside the data
watermarks read in the same snapshot; a run is reproducible from its input, query hash and watermarks.

CSV and XLSX runs read the report's one statement once, in one REPEATABLE READ read-only tenant transaction
(`run_snapshot`): CSV as PostgreSQL's COPY of it straight into the spool file (the database formats; times, dates
and booleans written in SQL as the preview's values are), XLSX through one server-side cursor, RUN_BATCH_ROWS at a
time, into the kit's streamed workbook. The statement is planned and sorted once and memory holds one batch;
its row count is the rows written. Runs are worker jobs, not requests: their statements run under
EXPORT_STATEMENT_TIMEOUT_MS (600 s by default), not the API's DB_STATEMENT_TIMEOUT_MS (5 s).
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import logging
import os
import tempfile
import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import IO, Any
from uuid import UUID, uuid4

import asyncpg
import jwt
from dramatiq import Message

from services.reports.domain import catalogue
from services.reports.domain.query import ReportQuery
from services.reports.repository import organisation as organisation_store
from services.reports.repository import reports as store
from services.reports.repository import runs as runs_store
from services.reports.service import pdf, watermarks
from services.reports.service import reports as workflow
from shared import exports
from shared import logging as slog
from shared.config import Settings, get_settings
from shared.db import tenant_tx
from shared.errors import DomainError, ErrorCode
from shared.mail import Mail
from shared.messaging.broker import get_broker

logger = logging.getLogger("reports.runs")

RUNS_QUEUE = "reports.runs"
RUN_REPORT = "reports.run_report"
ORPHAN_SECONDS = 120
LINK_KIND = "report_run"
MEDIA = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


def _int_env(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def attachment_max_bytes() -> int:
    return _int_env("REPORT_ATTACHMENT_MAX_BYTES", 5 * 1024 * 1024)


def max_attempts() -> int:
    return _int_env("REPORT_RUN_MAX_ATTEMPTS", 4)


def link_ttl_seconds() -> int:
    return _int_env("REPORT_LINK_TTL_SECONDS", 7 * 86_400)


class RunBusy(Exception):
    """Another delivery holds this run's lock: retried later."""


class RunNotVisible(Exception):
    """The run is not there (yet): its transaction may not have committed."""


def run_json(r: dict[str, Any]) -> dict[str, Any]:
    """A run as the API answers it."""

    def iso(v: datetime | None) -> str | None:
        return v.isoformat() if v else None

    return {
        "id": str(r["id"]),
        "requestedBy": r["requested_by"],
        "requesterEmail": r["requester_email"],
        "recipients": r["recipients"],
        "input": r["input"],
        "format": r["format"],
        "status": r["status"],
        "attempts": r["attempts"],
        "rowCount": r["row_count"],
        "fileSize": r["file_size"],
        "checksum": r["checksum"],
        "durationMs": r["duration_ms"],
        "queryHash": r["query_hash"],
        "watermark": r["watermark"],
        "error": r["error"],
        "createdAt": iso(r["created_at"]),
        "startedAt": iso(r["started_at"]),
        "finishedAt": iso(r["finished_at"]),
        "notifiedAt": iso(r["notified_at"]),
    }


def _check_format(fmt: str) -> str:
    if fmt not in workflow.FORMATS:
        raise DomainError(ErrorCode.INVALID_INPUT, f"must be one of {', '.join(workflow.FORMATS)}", "format")
    return fmt


async def create_run(
    conn: asyncpg.Connection,
    org_id: UUID,
    requester: dict[str, str],
    raw: dict[str, Any],
    fmt: str,
    recipients: Sequence[dict[str, str]] | None = None,
    *,
    checked: bool = True,
    send: bool = True,
) -> dict[str, Any]:
    """Queues a run in the caller's tenant transaction and enqueues its job (see the module's docstring).

    `requester`: {"subject", "email", "role"}; `recipients`: [{"memberId"?, "email"}], the requester if None.
    `checked`: a PDF of an itemised, ungrouped report above its cap is refused now, naming `format`, by a count
    that stops at cap + 1 rows (unsorted, its amounts never converted: milliseconds whatever the report holds).
    Nothing else runs the statement at request time: a request answers under the API's 5 s statement timeout,
    and a full count there (as this did) refused runs whose statement takes longer though the worker, under
    EXPORT_STATEMENT_TIMEOUT_MS, would build them. The worker enforces the rest and fails at once, mailing the
    requester why: a missing FX rate, and the cap of an aggregated PDF (its row count needs the whole
    aggregate). The scheduler passes False (a schedule's slot is no request anyone waits on). `send`: False
    leaves the job to the caller (`enqueue_many`, one Redis round trip for a batch of runs), still before its
    transaction commits.
    """
    _check_format(fmt)
    q = await workflow.parse(conn, org_id, raw)
    if checked and fmt == "pdf":
        base, _ = await workflow.settings_of(conn, org_id)
        st = store.statement(q, org_id, base)
        if not st.aggregated:
            cap = pdf.max_rows()
            async with conn.transaction():  # a savepoint: a refusal leaves the request's transaction usable
                n = await store.count_at_most(conn, st, cap + 1)
            if n > cap:
                raise DomainError(
                    ErrorCode.INVALID_INPUT,
                    f"a PDF holds at most {cap:,} rows and this report has more; choose CSV or XLSX for it",
                    "format",
                )
    if not requester.get("email"):
        raise DomainError(ErrorCode.INVALID_INPUT, "the requester has no email address to send the run to", "email")
    to = [dict(r) for r in recipients] if recipients is not None else [{"email": requester["email"]}]
    run = await runs_store.insert(conn, org_id, uuid4(), requester, to, raw, fmt)
    if send:
        await enqueue(org_id, run["id"])
    return run


def _job(org_id: UUID, run_id: UUID) -> Message[None]:
    return Message(
        queue_name=RUNS_QUEUE,
        actor_name=RUN_REPORT,
        args=(str(org_id), str(run_id), int(time.time() * 1000)),
        kwargs={},
        options={},
    )


async def enqueue(org_id: UUID, run_id: UUID) -> None:
    """The run's job on `reports.runs` (sent from a thread: the Redis client blocks)."""
    await enqueue_many(org_id, [run_id])


async def enqueue_many(org_id: UUID, run_ids: Sequence[UUID]) -> None:
    """The runs' jobs, from one thread hop (the broker sends each message with its own Redis call)."""
    if not run_ids:
        return
    broker, messages = get_broker(), [_job(org_id, r) for r in run_ids]

    def send_all() -> None:
        for message in messages:
            broker.enqueue(message)

    await asyncio.to_thread(send_all)


def query_hash(raw: dict[str, Any], st: store.Statement) -> str:
    """sha256 of the normalised input, the statement and its arguments (a preset's dates resolved)."""
    doc = json.dumps(raw, sort_keys=True, separators=(",", ":")) + "\n" + st.sql + "\n"
    doc += json.dumps(st.args, sort_keys=True, default=str)
    return hashlib.sha256(doc.encode()).hexdigest()


def _lock_key(run_id: UUID) -> int:
    return int.from_bytes(hashlib.sha256(f"report_run:{run_id}".encode()).digest()[:8], "big", signed=True)


async def execute_run(pool: asyncpg.Pool, org_id: UUID, run_id: UUID, settings: Settings | None = None) -> str:
    """Builds, stores and mails the run once, whatever the number of calls; what it did ('built', 'notified',
    'nothing', 'failed', 'missing'). Raises to be retried (a failed attempt below the limit, the mail server down,
    another delivery running it)."""
    settings = settings or get_settings()
    async with pool.acquire() as lock_conn:
        if not await lock_conn.fetchval("SELECT pg_try_advisory_lock($1)", _lock_key(run_id)):
            raise RunBusy(f"report run {run_id} is being run by another delivery")
        try:
            return await _execute(pool, org_id, run_id, settings)
        finally:
            await lock_conn.execute("SELECT pg_advisory_unlock($1)", _lock_key(run_id))


async def _execute(pool: asyncpg.Pool, org_id: UUID, run_id: UUID, settings: Settings) -> str:
    async with tenant_tx(pool, org_id) as conn:
        run = await runs_store.get(conn, org_id, run_id)
    if run is None:
        return "missing"
    if run["notified_at"] is not None:
        return "nothing"
    outcome = "notified"
    attached: bytes | None = None  # the file as this attempt built it, when small enough to attach
    if run["status"] == "running" and run["attempts"] >= max_attempts():
        # The last attempt allowed ended with its worker (killed, out of memory) before it could record anything:
        # another would likely end the same way, and take the worker and its other jobs down with it again.
        reason = f"the worker building it stopped during attempt {run['attempts']} of {max_attempts()}"
        async with tenant_tx(pool, org_id) as conn:
            await runs_store.fail(conn, org_id, run_id, reason, final=True)
            run = await runs_store.get(conn, org_id, run_id) or run
        slog.log(logger, logging.WARNING, "report run failed: its worker stopped", run=str(run_id))
        outcome = "failed"
    elif run["status"] in ("queued", "running"):
        async with tenant_tx(pool, org_id) as conn:
            attempt = await runs_store.start(conn, org_id, run_id)
        try:
            attached = await _build(pool, org_id, run, settings)
            outcome = "built"
        except Exception as exc:
            final = isinstance(exc, DomainError) or attempt >= max_attempts()
            # A refusal of the input is the requester's to read; anything else (a database outage naming its
            # host, say) stays in the operators' logs, and the run and its mail say only that it failed.
            reason = (
                exc.message
                if isinstance(exc, DomainError)
                else f"an internal error; the operators' logs have it under run {run_id}"
            )
            async with tenant_tx(pool, org_id) as conn:
                await runs_store.fail(conn, org_id, run_id, reason, final=final)
            slog.log(
                logger,
                logging.WARNING,
                "report run attempt failed",
                run=str(run_id),
                attempt=attempt,
                final=final,
                cause=slog.describe(exc),
            )
            if not final:
                raise
            outcome = "failed"
        async with tenant_tx(pool, org_id) as conn:
            run = await runs_store.get(conn, org_id, run_id) or run
    await _notify(pool, org_id, run, settings, attached)
    async with tenant_tx(pool, org_id) as conn:
        await runs_store.notified(conn, org_id, run_id)
    return outcome


async def _build(pool: asyncpg.Pool, org_id: UUID, run: dict[str, Any], settings: Settings) -> bytes | None:
    """Builds and stores the run's file; the file itself when it will be attached (at most
    REPORT_ATTACHMENT_MAX_BYTES), so the mail need not read back from the database what was just written."""
    started = time.monotonic()
    raw, fmt = run["input"], run["format"]
    async with tenant_tx(pool, org_id) as conn:
        q = await workflow.parse(conn, org_id, raw)
        base, _ = await workflow.settings_of(conn, org_id)
        st = store.statement(q, org_id, base)
        if fmt == "pdf":
            await _long_statements(conn, settings)
            mark = await watermarks.of_organisation(conn, org_id)
            try:
                async with conn.transaction():
                    _, total = await store.preview(conn, st)
            except asyncpg.PostgresError as exc:
                if exc.sqlstate == store.FX_MISSING:
                    raise workflow._fx_error(exc) from None
                raise
        name, colour = await organisation_store.heading(conn, org_id)
    with tempfile.TemporaryFile() as spool:
        if fmt == "pdf":
            pdf.check_rows(total)
            heading = pdf.Heading(
                name, q.report.name, pdf.describe_filters(q), datetime.now(UTC), colour or pdf.DEFAULT_COLOUR
            )
            await pdf.write(pool, org_id, q, settings, heading, spool)
        else:
            async with run_snapshot(pool, org_id, settings) as conn:
                mark = await watermarks.of_organisation(conn, org_id)
                total = await write_rows(conn, q, st, fmt, spool, settings)
        size, checksum = _digest(spool)
        spool.seek(0)
        attached = spool.read() if size <= attachment_max_bytes() else None
        spool.seek(0)
        async with tenant_tx(pool, org_id) as conn:
            await runs_store.store_file(conn, org_id, run["id"], spool)
            await runs_store.succeed(
                conn,
                org_id,
                run["id"],
                {
                    "row_count": total,
                    "file_size": size,
                    "checksum": checksum,
                    "duration_ms": int((time.monotonic() - started) * 1000),
                    "query_hash": query_hash(raw, st),
                    "watermark": mark,
                },
            )
    return attached


# Rows of an XLSX run fetched from its cursor at a time (memory holds one batch and its XML).
RUN_BATCH_ROWS = 2000


async def _long_statements(conn: asyncpg.Connection, settings: Settings) -> None:
    """This transaction's statements may run EXPORT_STATEMENT_TIMEOUT_MS (a run is a job, not a request)."""
    await conn.execute("SELECT set_config('statement_timeout', $1, true)", str(settings.export_statement_timeout_ms))


def _client_timeout(settings: Settings) -> float:
    """asyncpg's own timeout for a run's statements: past the server's, so the server's error is the one seen."""
    return settings.export_statement_timeout_ms / 1000 + 5


@asynccontextmanager
async def run_snapshot(pool: asyncpg.Pool, org_id: UUID, settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """One REPEATABLE READ read-only tenant transaction with the runs' statement timeout: the whole run, its
    count and its watermarks read in one snapshot."""
    async with tenant_tx(pool, org_id, snapshot=True) as conn:
        await _long_statements(conn, settings)
        yield conn


async def open_link(
    pool: asyncpg.Pool, org_id: UUID, q: ReportQuery, fmt: str, settings: Settings
) -> AsyncGenerator[bytes, None]:
    """An export link's CSV or XLSX (kind REPORT), streamed from one server-side cursor in one snapshot, as a run
    reads.

    The links used keyset batches, each in its own short transaction so that a slow client held no snapshot; but
    no index serves the report's order, so each batch re-read and re-sorted the remainder (quadratic: 8 % of COPY
    on 1M rows). Here the statement is planned and sorted once, in a REPEATABLE READ read-only tenant transaction
    (`run_snapshot`) bounded twice: EXPORT_STATEMENT_TIMEOUT_MS per fetch, and EXPORT_IDLE_IN_TRANSACTION_MS
    between fetches, so a client that stops reading loses its connection (the download breaks) instead of holding
    the snapshot, and the slow client holds at most one bounded snapshot. Memory holds one batch
    (EXPORT_BATCH_ROWS rows). The cells are the keyset path's: the same statement and the same writers (CSV:
    service/reports.py `_csv`; XLSX: the kit's streamed workbook, as a run writes it)."""
    async with tenant_tx(pool, org_id) as conn:
        base, _ = await workflow.settings_of(conn, org_id)
    st = store.statement(q, org_id, base)
    header = [c["label"] for c in workflow._columns(q)]
    width, timeout = workflow._width(q), _client_timeout(settings)

    async def chunks() -> AsyncGenerator[bytes, None]:
        async with run_snapshot(pool, org_id, settings) as conn:
            idle = int(settings.export_idle_in_transaction_ms)
            await conn.execute(f"SET LOCAL idle_in_transaction_session_timeout = {idle}")
            try:
                batches = store.run_rows(conn, st, width, settings.export_batch_rows, timeout)
                if fmt == "xlsx":
                    chunks = exports.xlsx_of_batches(batches, q.report.name[:31], header)
                else:
                    chunks = workflow._csv(batches, header, width)
                async for chunk in chunks:
                    yield chunk
            except asyncpg.PostgresError as exc:
                if exc.sqlstate == store.FX_MISSING:
                    raise workflow._fx_error(exc) from None
                raise

    return chunks()


async def write_rows(
    conn: asyncpg.Connection, q: ReportQuery, st: store.Statement, fmt: str, out: IO[bytes], settings: Settings
) -> int:
    """The run's answer as `fmt` (csv or xlsx) into `out`, read in the caller's transaction (`run_snapshot`);
    how many rows it holds. A missing FX rate is refused naming the currency, as the preview refuses it."""
    header = [c["label"] for c in workflow._columns(q)]
    width, timeout = workflow._width(q), _client_timeout(settings)
    try:
        if fmt == "csv":
            columns = await store.csv_columns(conn, st, width)
            if columns is not None:
                line = io.StringIO()
                csv.writer(line, lineterminator="\n").writerow(header)  # as service/reports.py's writer
                out.write(line.getvalue().encode())

                async def sink(chunk: bytes) -> None:
                    out.write(chunk)

                return await store.copy_csv(conn, st, columns, sink, timeout)
        written = 0

        async def batches() -> AsyncGenerator[list[asyncpg.Record], None]:
            nonlocal written
            async for rows in store.run_rows(conn, st, width, RUN_BATCH_ROWS, timeout):
                written += len(rows)
                yield rows

        if fmt == "xlsx":
            chunks = exports.xlsx_of_batches(batches(), q.report.name[:31], header)
        else:  # a CSV of a type COPY writes otherwise: the Python writer, from the same cursor
            chunks = workflow._csv(batches(), header, width)
        async for chunk in chunks:
            out.write(chunk)
        return written
    except asyncpg.PostgresError as exc:
        if exc.sqlstate == store.FX_MISSING:
            raise workflow._fx_error(exc) from None
        raise


def _digest(f: IO[bytes]) -> tuple[int, str]:
    f.seek(0)
    h, size = hashlib.sha256(), 0
    while chunk := f.read(runs_store.CHUNK_BYTES):
        h.update(chunk)
        size += len(chunk)
    return size, h.hexdigest()


async def read_file(pool: asyncpg.Pool, org_id: UUID, run_id: UUID) -> bytes:
    """The whole file (for an attachment, which is at most REPORT_ATTACHMENT_MAX_BYTES)."""
    parts: list[bytes] = []
    async with tenant_tx(pool, org_id) as conn:
        seq = 0
        while (data := await runs_store.chunk(conn, org_id, run_id, seq)) is not None:
            parts.append(data)
            seq += 1
    return b"".join(parts)


def download_link(settings: Settings, org_id: UUID, run: dict[str, Any]) -> tuple[str, datetime]:
    """A signed link to the run's file through the gateway's export links (checked against membership when used)."""
    exp = int(time.time()) + link_ttl_seconds()
    token = jwt.encode(
        {
            "aud": "export",
            "org": str(org_id),
            "sub": run["requested_by"],
            "role": run["requester_role"],
            "kind": LINK_KIND,
            "fmt": run["format"],
            "filter": {"runId": str(run["id"])},
            "exp": exp,
        },
        settings.export_token_secret,
        algorithm="HS256",
    )
    return f"{settings.gateway_public_url}/exports/{token}", datetime.fromtimestamp(exp, UTC)


def _title(run: dict[str, Any]) -> str:
    key = str(run["input"].get("report", "")) if isinstance(run["input"], dict) else ""
    found = next((r for r in catalogue.REPORTS if r.key == key), None)
    return found.name if found is not None else key or "Report"


async def _notify(
    pool: asyncpg.Pool, org_id: UUID, run: dict[str, Any], settings: Settings, built: bytes | None = None
) -> None:
    """Mails the run's outcome to its recipients (the requester alone when it failed). `built`: the file as this
    attempt built it; otherwise (a retry after the mail server was down, say) it is read back from the run."""
    from shared.messaging.mail_actors import deliver  # the kit's idempotent sender (loads the mail actors)

    title, fmt = _title(run), run["format"]
    attachments: list[tuple[str, str, bytes]] = []
    if run["status"] == "failed":
        subject = f"Report failed: {title}"
        body = (
            f"Your report run of {title} ({fmt.upper()}) failed after {run['attempts']} attempt(s).\n\n"
            f"Reason: {run['error']}\n\nRun id: {run['id']}\n"
        )
        recipients: list[dict[str, Any]] = [{"email": run["requester_email"]}]
    else:
        subject = f"Report: {title} ({fmt.upper()})"
        body = (
            f"{title}: {run['row_count']} rows, run at {run['started_at']:%Y-%m-%d %H:%M:%S %Z}.\n"
            f"File size {run['file_size']} bytes, sha256 {run['checksum']}.\nRun id: {run['id']}\n\n"
        )
        filename = f"{title}.{fmt}".replace("/", "-")
        if run["file_size"] <= attachment_max_bytes():
            data = built if built is not None and len(built) == run["file_size"] else None
            attachments.append((filename, MEDIA[fmt], data or await read_file(pool, org_id, run["id"])))
            body += "The report is attached.\n"
        else:
            url, expires = download_link(settings, org_id, run)
            body += f"The file is too large to attach. Download it (until {expires:%Y-%m-%d %H:%M} UTC):\n{url}\n"
        recipients = list(run["recipients"])
    for r in recipients:
        key = f"report-run:{run['id']}:{r['email']}"[:200]
        await deliver(key, Mail(to=r["email"], subject=subject, text=body), attachments=attachments)


async def stream_file(pool: asyncpg.Pool, org_id: UUID, run_id: UUID) -> Any:
    """The run's stored file, a chunk per short tenant transaction; None when the run has no file (or is
    another organisation's)."""
    async with tenant_tx(pool, org_id) as conn:
        run = await runs_store.get(conn, org_id, run_id)
    if run is None or run["status"] != "succeeded":
        return None

    async def chunks() -> Any:
        seq = 0
        while True:
            async with tenant_tx(pool, org_id) as conn:
                data = await runs_store.chunk(conn, org_id, run_id, seq)
            if data is None:
                return
            yield data
            seq += 1

    return run, chunks()
