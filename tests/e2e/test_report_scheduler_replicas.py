"""Two reports schedulers as separate processes (`python -m services.reports.scheduler`, as infra/processes.py runs
them) against the same database: more schedules due at once than one batch holds fire exactly once each, whichever
process claims them; and a schedule whose owner left is paused and the organisation's admins get one message each,
read at the real local SMTP server (infra/mailbox.py) after the kit's mail actor (a real Dramatiq worker) sent it.

The orders API is the tests' served one (recipients are resolved there); the schedulers' clock is real: schedules
are made due by moving their `next_slot` into the past."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from infra.embedded import free_port
from infra.mailbox import Mailbox
from services.orders.repository import members
from services.reports.service import schedules as workflow
from shared.config import get_settings
from shared.db import tenant_tx
from tests.services.reports.feed import apply_orders, outbox_events
from tests.workers import running_worker, wait_for_log

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
MANY = 2 * workflow.MAX_BATCH + 50
POLL = 5.0  # services/reports/scheduler.py POLL_SECONDS


@pytest.fixture
def schedulers(servers: None, orders_url: str, tmp_path: Path) -> Iterator[list[Path]]:
    """Two scheduler processes; their log files."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ORDERS_API_URL": orders_url, "LOG_LEVEL": "INFO"}
    procs: list[subprocess.Popen[bytes]] = []
    logs = [tmp_path / f"scheduler-{i}.log" for i in (1, 2)]
    try:
        for log in logs:
            with open(log, "ab") as out:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "services.reports.scheduler"],
                        cwd=ROOT,
                        env={**env, "HEALTH_PORT": str(free_port())},
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        for log in logs:
            wait_for_log(log, "reports scheduler started")
        yield logs
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@pytest.fixture
def directory(settings: Any, orders_url: str) -> Iterator[workflow.OrdersDirectory]:
    yield workflow.OrdersDirectory(orders_url, settings.service_token_secret)


async def _until(check: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.25)


async def _member(pool: Any, org_id: uuid.UUID, subject: str) -> dict[str, Any]:
    async with tenant_tx(pool, org_id) as conn:
        found = await members.by_subject(conn, org_id, subject)
    assert found is not None
    return found


async def _schedule(reports_pool: Any, directory: Any, org_id: uuid.UUID, owner: dict[str, Any], name: str) -> Any:
    body = {
        "name": name,
        "format": "csv",
        "input": {"report": "orders_with_commission"},
        "cadence": "daily",
        "time": "07:00",
        "timeZone": "UTC",
    }
    async with tenant_tx(reports_pool, org_id) as conn:
        return await workflow.create(
            conn, directory, org_id, workflow.Actor(owner["subject"], owner["role"], owner["id"]), body
        )


def _fired(log: Path) -> Counter[str]:
    """Schedule id -> slots this process fired (its JSON log lines, shared/logging.py)."""
    out: Counter[str] = Counter()
    for line in log.read_text(errors="replace").splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and doc.get("msg") == "schedule fired":
            out[str(doc["schedule"])] += 1
    return out


async def test_two_scheduler_processes_fire_each_slot_once(
    pool: Any, reports_pool: Any, tenant: Any, directory: Any, schedulers: list[Path]
) -> None:
    await apply_orders(reports_pool, await outbox_events(pool, tenant.org_id))
    admin = await _member(pool, tenant.org_id, tenant.admin_subject)
    first = await _schedule(reports_pool, directory, tenant.org_id, admin, "replicas 0")
    async with tenant_tx(reports_pool, tenant.org_id) as conn:  # as many again, the same but for their id and name
        await conn.execute(
            """INSERT INTO report_schedules (org_id, id, name, owner_subject, owner_member_id, input, format, cadence,
                                             local_time, time_zone, member_ids, team_ids, status, next_slot,
                                             created_at, updated_at)
               SELECT org_id, gen_random_uuid(), 'replicas ' || g, owner_subject, owner_member_id, input, format,
                      cadence, local_time, time_zone, member_ids, team_ids, status, next_slot, now(), now()
                 FROM report_schedules, generate_series(1, $3::int) g WHERE org_id = $1 AND id = $2""",
            tenant.org_id,
            first.id,
            MANY - 1,
        )
        now = datetime.now(UTC)
        await conn.execute(
            "UPDATE report_schedules SET next_slot = $2 WHERE org_id = $1", tenant.org_id, now - timedelta(minutes=1)
        )

    async def all_fired() -> bool:
        async with tenant_tx(reports_pool, tenant.org_id) as conn:
            return not await conn.fetchval(
                "SELECT count(*) FROM report_schedules WHERE org_id = $1 AND next_slot <= $2", tenant.org_id, now
            )

    await _until(all_fired, 60, "every schedule fired")
    await asyncio.sleep(POLL + 1)  # both schedulers polled again: a second firing would show now

    async with tenant_tx(reports_pool, tenant.org_id) as conn:
        slots = await conn.fetch(
            "SELECT schedule_id, slot, outcome, run_id FROM report_schedule_slots WHERE org_id = $1", tenant.org_id
        )
        runs = await conn.fetch("SELECT id, recipients FROM report_runs WHERE org_id = $1", tenant.org_id)
    per_schedule = Counter(r["schedule_id"] for r in slots)
    assert len(per_schedule) == MANY and set(per_schedule.values()) == {1}, per_schedule.most_common(2)
    assert {r["outcome"] for r in slots} == {"run"}
    run_ids = [r["run_id"] for r in slots]
    assert len(set(run_ids)) == MANY and set(run_ids) <= {r["id"] for r in runs}
    assert {json.loads(r["recipients"])[0]["email"] for r in runs if r["id"] in set(run_ids)} == {admin["email"]}
    # What the processes say they did: every schedule fired once in all, by one process or the other.
    by_process = [_fired(log) for log in schedulers]
    together = by_process[0] + by_process[1]
    assert set(together) == {str(i) for i in per_schedule} and set(together.values()) == {1}
    print(f"fired by process: {[sum(c.values()) for c in by_process]}")


@pytest.fixture
def mailbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    with Mailbox(tmp_path / "mail", free_port()) as box:
        monkeypatch.setenv("SMTP_URL", box.url)
        get_settings.cache_clear()
        yield box
    monkeypatch.delenv("SMTP_URL", raising=False)
    get_settings.cache_clear()


async def test_an_owner_who_left_pauses_the_schedule_and_each_admin_gets_one_message(
    pool: Any, reports_pool: Any, tenant: Any, directory: Any, schedulers: list[Path], mailbox: Mailbox
) -> None:
    from shared.messaging import mail_actors

    await apply_orders(reports_pool, await outbox_events(pool, tenant.org_id))
    admin = await _member(pool, tenant.org_id, tenant.admin_subject)
    owner = await _member(pool, tenant.org_id, tenant.member_subject)
    async with tenant_tx(pool, tenant.org_id) as conn:
        second = await members.add(conn, tenant.org_id, f"admin2-{uuid.uuid4().hex[:6]}@example.com", "admin")
    s = await _schedule(reports_pool, directory, tenant.org_id, owner, "Left behind")
    async with tenant_tx(pool, tenant.org_id) as conn:
        await members.delete(conn, tenant.org_id, owner["id"])
    async with tenant_tx(reports_pool, tenant.org_id) as conn:
        await conn.execute(
            "UPDATE report_schedules SET next_slot = now() - interval '1 minute' WHERE org_id = $1 AND id = $2",
            tenant.org_id,
            s.id,
        )

    subject = "Report schedule paused: Left behind"
    with running_worker({mail_actors.MAIL_QUEUE}, threads=2):

        async def told() -> bool:
            return len([m for m in mailbox.messages() if m.subject == subject]) >= 2

        await _until(told, 60, "the admins' messages")
        await asyncio.sleep(POLL + 1)  # another tick of both schedulers: nothing more is sent
    got = [m for m in mailbox.messages() if m.subject == subject]
    assert sorted(m.to for m in got) == sorted([admin["email"], second["email"]])
    assert "no longer a member" in got[0].text() and owner["email"] not in {m.to for m in mailbox.messages()}
    async with tenant_tx(reports_pool, tenant.org_id) as conn:
        row = await conn.fetchrow("SELECT status, paused_reason, next_slot FROM report_schedules WHERE id = $1", s.id)
        slots = await conn.fetch("SELECT outcome, run_id FROM report_schedule_slots WHERE schedule_id = $1", s.id)
    assert (row["status"], row["paused_reason"], row["next_slot"]) == ("paused", "owner_left", None)
    assert [(r["outcome"], r["run_id"]) for r in slots] == [("owner_left", None)]
