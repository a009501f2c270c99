"""End to end, a scheduled report: orders posted to the gateway reach the reports store through the real processes
(gateway, orders API, relay, Redis, reports worker), a schedule made through GraphQL is fired by the real
`reports-scheduler`, built by the reports worker and mailed through the real local SMTP server (infra/mailbox.py);
the attached CSV holds exactly the rows `reportPreview` shows.

The test's clock advance: the schedule's `next_slot` is moved to the past in the reports database (a schedule runs
at most every 5 minutes, so waiting for a real slot would take minutes); everything after that is the processes'."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from infra.embedded import free_port
from infra.mailbox import Mailbox, StoredMessage
from infra.processes import PROCESSES
from shared.db import tenant_tx
from tests.e2e.test_platform import Platform, _gql, _until

pytestmark = pytest.mark.e2e

TODAY = datetime.now(UTC).date()
RANGE = {"from": (TODAY - timedelta(days=7)).isoformat(), "to": (TODAY + timedelta(days=1)).isoformat()}
CONFIG = {
    "report": "contact_summary",
    "filters": {"range": RANGE},
    "columns": ["contact_id", "display_name", "orders", "successful_orders"],
    "sort": [{"column": "contact_id"}],
}
PREVIEW = """query($input: ReportInput!) { reportPreview(input: $input) {
  preview { columns { key label } rows totalRows } errors { field message } } }"""
SCHEDULE = """mutation($input: ReportScheduleInput!) { scheduleReport(input: $input) {
  schedule { id status nextSlot memberIds } errors { field message } } }"""
ONE = """query($id: ID!) { reportSchedule(id: $id) { status nextSlot lastSlot
  lastRuns { outcome recipients run { id status rowCount checksum notifiedAt } } } }"""


@pytest.fixture(scope="module")
def mailbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mailbox]:
    with Mailbox(tmp_path_factory.mktemp("mail"), free_port()) as box:
        yield box


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, servers: None, mailbox: Mailbox) -> Iterator[Platform]:
    """test_platform.py's processes (reports-scheduler among them), mailing through the local SMTP server."""
    assert "reports-scheduler" in {p.name for p in PROCESSES}
    p = Platform(tmp_path_factory.mktemp("e2e-reports"))
    p.env["SMTP_URL"] = mailbox.url
    try:
        for process in PROCESSES:
            p.start(process.name)
        for url in p.readiness_urls():
            p.wait_ready(url)
        yield p
    finally:
        p.stop_all()


def _attachment(m: StoredMessage) -> tuple[str, bytes]:
    [part] = list(m.read().iter_attachments())
    return str(part.get_filename()), bytes(part.get_payload(decode=True))


async def test_a_scheduled_report_is_mailed_with_the_preview_rows(
    platform: Platform, mailbox: Mailbox, tenant: Any, reports_pool: Any
) -> None:
    tag = uuid.uuid4().hex[:8]
    emails = sorted(f"{who}-{tag}@example.com" for who in ("ada", "bob", "cy"))
    async with httpx.AsyncClient(base_url=platform.url, timeout=15) as client:
        admin_email = (await _gql(client, tenant.admin_token, "{ me { email } }"))["me"]["email"]
        for i, email in enumerate(emails):
            r = await client.post(
                "/v1/orders",
                headers={"authorization": f"Bearer {tenant.api_key}"},
                json={
                    "externalRef": f"e2e-reports-{tag}-{i}",
                    "productId": str(tenant.products["Credit Cards"]),
                    "customer": {"email": email},
                },
            )
            assert r.status_code == 201, r.text

        async def fed() -> Any:
            # Until the organisation's settings reach the reports service, a preview answers "try again" (503).
            r = await client.post(
                "/graphql",
                json={"query": PREVIEW, "variables": {"input": CONFIG}},
                headers={"authorization": f"Bearer {tenant.admin_token}"},
            )
            body = r.json()
            if r.status_code != 200 or body.get("errors"):
                return None
            preview = body["data"]["reportPreview"]["preview"]
            # The contacts and their orders arrive as separate events: wait for both (a contact may show before
            # its order is applied).
            done = preview and preview["totalRows"] == len(emails)
            return preview if done and all(row[2] == "1" for row in preview["rows"]) else None

        preview = await _until(fed, 60)
        assert preview, "the orders did not reach the reports store within 60 s"
        assert [row[2:] for row in preview["rows"]] == [["1", "0"]] * len(emails)

        made = (
            await _gql(
                client,
                tenant.admin_token,
                SCHEDULE,
                {
                    "input": {
                        "name": f"Contacts {tag}",
                        "format": "CSV",
                        "report": CONFIG,
                        "cadence": "DAILY",
                        "time": "06:00",
                        "timeZone": "Europe/London",
                    }
                },
            )
        )["scheduleReport"]
        assert made["errors"] == [] and made["schedule"]["status"] == "ACTIVE", made
        schedule_id = made["schedule"]["id"]

        # The clock advance: the slot falls due now; the running scheduler (polling every 5 s) fires it.
        async with tenant_tx(reports_pool, tenant.org_id) as conn:
            await conn.execute(
                "UPDATE report_schedules SET next_slot = $3 WHERE org_id = $1 AND id = $2",
                tenant.org_id,
                uuid.UUID(schedule_id),
                datetime.now(UTC) - timedelta(seconds=1),
            )

        def mine() -> list[StoredMessage]:
            return [m for m in mailbox.messages() if m.to == admin_email]

        async def mailed() -> list[StoredMessage]:
            return mine()

        assert await _until(mailed, 40), f"no report mailed to {admin_email} within 40 s"
        [message] = mine()
        name, data = _attachment(message)
        assert name.endswith(".csv"), name
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        assert rows[0] == [c["label"] for c in preview["columns"]]
        assert rows[1:] == [[v or "" for v in row] for row in preview["rows"]]

        seen = (await _gql(client, tenant.admin_token, ONE, {"id": schedule_id}))["reportSchedule"]
        [slot] = seen["lastRuns"]
        assert (slot["outcome"], slot["recipients"]) == ("RUN", 1)
        run = slot["run"]
        assert run["status"] == "SUCCEEDED" and run["rowCount"] == len(emails) and run["notifiedAt"]
        assert run["checksum"] == hashlib.sha256(data).hexdigest()
        assert run["id"] in message.text()
        # The slot moved on (tomorrow 06:00 London), and no second mail follows on later ticks.
        assert seen["status"] == "ACTIVE" and datetime.fromisoformat(seen["nextSlot"]) > datetime.now(UTC)
        await asyncio.sleep(6)  # more than a scheduler tick
        assert len(mine()) == 1
