"""ReportRun.downloadUrl (the dashboard's run history): null until the run has SUCCEEDED, then a signed link to the
run's stored file (the same bytes as its checksum says); a member cannot read another's run, so gets no link."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from infra.embedded import free_port
from infra.mailbox import Mailbox
from tests.factories import gql
from tests.services.reports import test_runs as base
from tests.services.reports.report_data import feed, store_rates
from tests.services.reports.test_runs import INPUT, RUN, _of, until

smtp_url = base.smtp_url  # the fixtures of test_runs, shared
worker = base.worker

LINK_Q = "query($id: ID!) { reportRun(id: $id) { status checksum rowCount downloadUrl } }"


async def test_a_succeeded_run_downloads_its_stored_file_and_only_its_reader_gets_the_link(
    gateway, pool, insights_pool, reports_pool, tenant, tmp_path: Path, smtp_url, worker
) -> None:
    await store_rates(reports_pool)
    await feed(gateway, pool, insights_pool, reports_pool, tenant)
    with Mailbox(tmp_path / "mail", free_port()) as box:
        smtp_url(box.url)
        r = await gql(gateway, RUN, {"input": INPUT, "format": "CSV"}, token=tenant.admin_token)
        run_id = r["data"]["runReport"]["run"]["id"]
        queued: dict[str, Any] = (await gql(gateway, LINK_Q, {"id": run_id}, token=tenant.admin_token))["data"]
        if queued["reportRun"]["status"] != "SUCCEEDED":
            assert queued["reportRun"]["downloadUrl"] is None
        await until(lambda: len(_of(box, run_id)) == 1, what="the message")
    run = (await gql(gateway, LINK_Q, {"id": run_id}, token=tenant.admin_token))["data"]["reportRun"]
    assert run["status"] == "SUCCEEDED" and run["downloadUrl"].startswith("http://gateway.test/exports/")
    got = await gateway.get(run["downloadUrl"].removeprefix("http://gateway.test"))
    assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == run["checksum"]
    assert len(got.content.decode().strip().splitlines()) == run["rowCount"] + 1
    # A member reads only their own runs: the admin's run, and so its link, is not theirs.
    assert (await gql(gateway, LINK_Q, {"id": run_id}, token=tenant.member_token))["data"]["reportRun"] is None
