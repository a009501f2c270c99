"""bench/reports.py's schedules case: N report schedules due in the same minute, fired by two real
`python -m services.reports.scheduler` processes, built by the real reports worker (infra/run.py's command: one
process, 8 threads) and mailed through a local SMTP sink (infra/mailbox.py, in a thread of this process); the orders
API resolves the recipients, as in production.

Each schedule is a daily CSV of Orders with commission, FAILED orders of one day (a different day per schedule,
about 1,600 rows each), to the organisation's admin. They are inserted with one INSERT … SELECT, their next slot
the next whole minute (at least 20 s ahead, so both schedulers are polling when it comes). Measured from the
slot: when the last mail arrived (and the spread of arrivals); checked: one slot row per schedule with outcome
`run`, one run per slot, runs `succeeded`, and one mail per run (each mail names its run id).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
from common import OUT, MachineLoad, Processes, free_port, pct, process_tree, say
from reports_data import ORG

SUBJECT = "dev|admin"
RUN_ID = re.compile(r"Run id: ([0-9a-f-]{36})")


async def _admin(orders_owner: str) -> tuple[UUID, str]:
    conn = await asyncpg.connect(orders_owner)
    try:
        row = await conn.fetchrow(
            "SELECT id, email FROM members WHERE org_id = $1 AND subject = $2 AND role = 'admin'", ORG, SUBJECT
        )
    finally:
        await conn.close()
    if row is None:
        raise RuntimeError(f"no admin member {SUBJECT} in the bench organisation")
    return row["id"], row["email"]


async def _make(reports_owner: str, n: int, member: UUID, slot: datetime, days: list[str]) -> None:
    """N schedules due at `slot` (old bench schedules and runs of the organisation removed first)."""
    conn = await asyncpg.connect(reports_owner)
    try:
        await conn.execute("DELETE FROM report_schedules WHERE org_id = $1", ORG)
        await conn.execute("DELETE FROM report_runs WHERE org_id = $1", ORG)
        await conn.execute(
            """INSERT INTO report_schedules (org_id, id, name, owner_subject, owner_member_id, input, format, cadence,
                                             local_time, time_zone, member_ids, status, next_slot, created_at,
                                             updated_at)
               SELECT $1, gen_random_uuid(), 'bench-' || lpad(g::text, 5, '0'), $2, $3,
                      jsonb_build_object('report', 'orders_with_commission',
                                         'filters', jsonb_build_object(
                                             'range', jsonb_build_object('from', d, 'to', d),
                                             'statuses', jsonb_build_array('FAILED'))),
                      'csv', 'daily', ($4::timestamptz AT TIME ZONE 'Europe/London')::time, 'Europe/London',
                      ARRAY[$3]::uuid[], 'active', $4, now(), now()
                 FROM generate_series(1, $5::int) g
                 CROSS JOIN LATERAL (SELECT ($6::text[])[1 + g % cardinality($6::text[])] AS d) x""",
            ORG,
            SUBJECT,
            member,
            slot,
            n,
            days,
        )
    finally:
        await conn.close()


async def _check(reports_owner: str, n: int) -> dict[str, Any]:
    conn = await asyncpg.connect(reports_owner)
    try:
        slots = await conn.fetchrow(
            """SELECT count(*) AS slots, count(DISTINCT schedule_id) AS schedules,
                      count(*) FILTER (WHERE outcome = 'run') AS run, count(DISTINCT run_id) AS runs,
                      max(fired_at) - min(fired_at) AS firing
                 FROM report_schedule_slots WHERE org_id = $1""",
            ORG,
        )
        runs = await conn.fetchrow(
            """SELECT count(*) AS runs, count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
                      count(*) FILTER (WHERE notified_at IS NOT NULL) AS notified, sum(row_count) AS rows,
                      min(row_count) AS min_rows, max(row_count) AS max_rows, max(attempts) AS max_attempts
                 FROM report_runs WHERE org_id = $1""",
            ORG,
        )
    finally:
        await conn.close()
    return {**dict(slots), **{f"runs_{k}": v for k, v in dict(runs).items()}}


def _tree_cpu(pid: int) -> float:
    """CPU seconds of a process, its live descendants and the children it reaped (PostgreSQL's backends and
    parallel workers end up in the postmaster's children times)."""
    import psutil

    total = 0.0
    for p in process_tree(pid):
        with contextlib.suppress(Exception):  # ended meanwhile
            t = psutil.Process(p).cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
    return total


def _cpu_split(procs: Any) -> dict[str, float]:
    """CPU seconds so far of each process the case started (with its descendants), PostgreSQL (its whole tree: the
    bench server is shared with whatever else uses it), this process's other children (Redis) and this process
    alone (the SMTP sink's thread, the polling)."""
    import psutil

    out = {label: _tree_cpu(p.pid) for label, p in procs.procs.items()}
    pid_file = OUT / "pg" / "pgdata" / "postmaster.pid"
    with contextlib.suppress(OSError, ValueError, IndexError):
        out["postgres"] = _tree_cpu(int(pid_file.read_text().split()[0]))
    me = psutil.Process()
    started = {p.pid for p in procs.procs.values()}
    for child in me.children():
        if child.pid not in started:
            with contextlib.suppress(Exception):
                out[child.name()] = out.get(child.name(), 0.0) + _tree_cpu(child.pid)
    t = me.cpu_times()
    out["bench (SMTP sink)"] = t.user + t.system
    return out


def _mail_files(box: Path) -> list[Path]:
    return sorted(box.glob("*.eml")) if box.is_dir() else []


async def schedules_case(
    env: Any, pool: Any, n: int, lines: list[tuple[str, str, str, str, str]], extra: dict[str, Any]
) -> None:
    from infra.mailbox import Mailbox, messages

    settings = env.settings
    orders_owner = settings.service_database_url("orders", "owner")
    reports_owner = settings.service_database_url("reports", "owner")
    member, email = await _admin(orders_owner)
    days = [
        d.isoformat()
        for d in await _days(reports_owner)  # whole local days holding orders (not the first and last)
    ]
    box = OUT / "reports-mail"
    shutil.rmtree(box, ignore_errors=True)
    procs = Processes(tag="reports-")
    with Mailbox(box, free_port()) as mailbox:
        procs.env["SMTP_URL"] = mailbox.url
        procs.env["REPORTS_API_URL"] = f"http://127.0.0.1:{free_port()}"  # unused: no reports API here
        try:
            procs.start_web(("orders-api",))
            procs.start("reports-worker")
            for i in (1, 2):
                procs.start("reports-scheduler", label=f"reports-scheduler-{i}", env={"HEALTH_PORT": str(free_port())})
            await asyncio.sleep(1)
            now = datetime.now(UTC)
            slot = (now + timedelta(seconds=80)).replace(second=0, microsecond=0)
            say(f"schedules: {n} due at {slot:%H:%M:%S} UTC, two schedulers, one reports worker (1 x 8 threads)")
            await _make(reports_owner, n, member, slot, days)
            for label, p in procs.procs.items():
                if p.poll() is not None:
                    raise RuntimeError(f"{label} exited with code {p.returncode}")
            await asyncio.sleep(max(0.0, (slot - datetime.now(UTC)).total_seconds()))
            machine = MachineLoad()
            deadline = time.monotonic() + 900
            with machine:
                cpu0 = _cpu_split(procs)
                for _ in range(10**6):  # until every mail arrived, or the deadline
                    if len(_mail_files(box)) >= n or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.5)
                cpu1 = _cpu_split(procs)
                await asyncio.sleep(10)  # a mail sent twice would arrive now
            files = _mail_files(box)
            arrivals = [int(f.name.split("-")[0]) / 1e9 - slot.timestamp() for f in files]
            found = messages(box)
            run_ids = [m.group(1) for m in (RUN_ID.search(x.text()) for x in found) if m]
            checked = await _check(reports_owner, n)
        finally:
            procs.stop_all()
    last = max(arrivals) if arrivals else float("nan")
    once = (
        checked["slots"] == n
        and checked["schedules"] == n
        and checked["run"] == n
        and checked["runs"] == n
        and len(run_ids) == len(set(run_ids)) == n
    )
    extra["schedules"] = {
        "n": n,
        "slot": slot.isoformat(),
        "mails": len(files),
        "distinct_runs_mailed": len(set(run_ids)),
        "to": sorted({m.to for m in found}),
        "last_arrival_s": last,
        "arrival_p50_s": pct(arrivals, 0.5),
        "machine": machine.brief(),
        "cpu_s": {k: round(cpu1[k] - cpu0.get(k, 0.0), 1) for k in cpu1},
        **{k: str(v) for k, v in checked.items()},
    }
    cpu = extra["schedules"]["cpu_s"]
    rows = int(checked["runs_rows"] or 0)
    lines.append(
        (
            f"{n:,} schedules due in one minute, 2 schedulers, CSV of {checked['runs_min_rows']}-"
            f"{checked['runs_max_rows']} rows each",
            f"last mail {last:.0f} s after the slot (first {min(arrivals, default=float('nan')):.0f} s, median "
            f"{pct(arrivals, 0.5):.0f} s); {rows:,} rows in all",
            "",
            "",
            f"all within 60 s: {'ok' if last <= 60 and len(files) == n else 'MISSED'}",
        )
    )
    lines.append(
        (
            "  ... each slot once, each mail once",
            f"{checked['slots']} slots for {checked['schedules']} schedules, {checked['runs']} runs "
            f"({checked['runs_succeeded']} succeeded, max attempts {checked['runs_max_attempts']}); {len(files)} mails "
            f"for {len(set(run_ids))} distinct runs",
            "",
            "",
            "ok" if once else "MISSED",
        )
    )
    lines.append(
        (
            "  ... the schedulers: every slot fired, from the first to the last",
            f"{checked['firing']}",
            "",
            "",
            "",
        )
    )
    lines.append(
        (
            "  ... CPU from the slot to the last mail, per run",
            ", ".join(f"{k} {v / max(1, n) * 1000:.0f} ms" for k, v in sorted(cpu.items(), key=lambda kv: -kv[1])),
            "",
            "",
            "",
        )
    )
    say(f"  {len(files)} mails to {email}, last {last:.1f} s after the slot; {checked}; {machine.brief()}")


async def _days(reports_owner: str) -> list[Any]:
    conn = await asyncpg.connect(reports_owner)
    try:
        rows = await conn.fetch(
            """SELECT DISTINCT (created_at AT TIME ZONE 'Europe/London')::date AS d FROM orders WHERE org_id = $1
                ORDER BY 1""",
            ORG,
        )
    finally:
        await conn.close()
    return [r["d"] for r in rows][1:-1]
